"""The raw-sample file: every request of a run in JSON Lines, enough to recompute any figure.

Line 1 is the run (``{"type": "run", ...}``: scenario, target, client, the wall-clock start),
then one ``{"type": "step", ...}`` line per load step (its start, when sending stopped, when
the last answer came in), then one line per request. Times are integer microseconds:
``sched`` from the run's zero instant, everything else of a request from its own ``sched``:

=========  ======================================================================================
``i``      request number (unique in the run); ``s`` step; ``w`` worker process; ``v`` variant
``ep``     endpoint; ``warm``: 1 when the request belongs to the warm-up (left out of figures)
``sched``  when it was scheduled to be sent (open loop: the arrival process; closed loop: the
           instant its slot came free)
``send``   when it was handed to the socket (``send`` − 0 is the schedule lag); ``conn`` when a
           new connection had to be opened first, the instant it was up (else absent)
``hdr``    response headers in; ``end`` the last byte (or the failure)
``st``     HTTP status (0: none); ``err`` error kind or absent
``et``     each SSE event's arrival; ``ek`` the kinds, one letter per event (see `events`)
``srv`` ``sv``  calibration only (stub server with ``--stamp``): when the server received the
           request, and when it wrote each event, on the same clock
``rt``     retries (``--retries``): one ``[status, error kind, seconds waited, Retry-After]`` per
           attempt that was sent again; the request's other fields describe its last attempt
``in`` ``out`` ``rsn``  input, output and reasoning tokens; ``src`` where they came from:
           ``usage`` (the server's usage object) or ``events`` (generated-token events counted,
           when the server sent no usage)
=========  ======================================================================================
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Iterator

from conformance.bench.events import GENERATED, body_usage, classify, stream_usage
from conformance.bench.httpclient import Result

FORMAT = "conformance-bench-samples/1"


def record(res: Result, *, i: int, step: int, worker: int, variant: int, endpoint: str, t0: int,
           warm: bool, stamps: bool = False) -> dict[str, Any]:
    """The JSONL record of one finished request (times in µs, see the module docstring)."""
    sched = res.sched
    rec: dict[str, Any] = {"i": i, "s": step, "w": worker, "v": variant, "ep": endpoint,
                           "sched": (sched - t0) // 1000, "send": (res.start - sched) // 1000}
    if warm:
        rec["warm"] = 1
    if res.connected:
        rec["conn"] = (res.connected - sched) // 1000
    if res.hdr:
        rec["hdr"] = (res.hdr - sched) // 1000
    rec["end"] = (res.end - sched) // 1000
    rec["st"] = res.status
    error = res.error
    usage = None
    if res.sse:
        frames = [f for _, f in res.events]
        kinds = classify(endpoint, frames)
        rec["et"] = [(t - sched) // 1000 for t, _ in res.events]
        rec["ek"] = kinds
        usage = stream_usage(endpoint, frames, kinds)
        if stamps:
            rec["sv"] = [(_stamp(f) - sched) // 1000 if f.startswith(b"id:") else None for f in frames]
        if error is None and res.status == 200:
            if "e" in kinds:
                error = "stream-error"
            elif "d" not in kinds:
                error = "incomplete"
            else:
                error = broken_in_transit(frames)
        generated = sum(1 for k in kinds if k in GENERATED)
    else:
        generated = 0
        if res.body and error is None:
            usage = body_usage(endpoint, bytes(res.body))
    if stamps and res.server_recv:
        rec["srv"] = (res.server_recv - sched) // 1000
    if error is None and res.status != 200:
        error = f"http-{res.status}" if res.status else "no-response"
    if error is not None:
        rec["err"] = error
    if res.retries:
        rec["rt"] = [list(r) for r in res.retries]
    if usage is not None and usage.get("output") is not None:
        rec["in"], rec["out"], rec["rsn"], rec["src"] = usage["input"], usage["output"], usage["reasoning"], "usage"
    elif res.sse and generated:
        rec["in"], rec["out"], rec["rsn"], rec["src"] = None, generated, None, "events"
        if usage is not None:
            rec["in"] = usage.get("input")
    return rec


def broken_in_transit(frames: list[bytes]) -> str | None:
    """``bad-utf8`` or ``bad-json`` for a complete stream whose bytes are not what they claim.

    Checked after the request ends, once per request: a UTF-8 decode of the whole stream, then
    each event's data parsed (the terminator aside)."""
    try:
        b"".join(frames).decode("utf-8")
    except UnicodeDecodeError:
        return "bad-utf8"
    for frame in frames:
        at = frame.find(b"data:")
        if at < 0 or b"[DONE]" in frame[at:at + 16]:
            continue
        try:
            json.loads(b"\n".join(line[5:] for line in frame[at:].splitlines() if line.startswith(b"data:")))
        except ValueError:
            return "bad-json"
    return None


def _stamp(frame: bytes) -> int:
    """The stub server's write instant, from the event's `id:` line."""
    try:
        return int(frame[3:frame.index(b"\n")])
    except ValueError:
        return 0


def retry_summary(requests: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Every retry of a run, counted by what failed (``http-429``, ``connect-refused``, ...)."""
    by_kind: dict[str, int] = {}
    retried = attempts = 0
    for rec in requests:
        tries = rec.get("rt") or ()
        attempts += 1 + len(tries)
        retried += bool(tries)
        for status, kind, _, _ in tries:
            name = kind or f"http-{status}"
            by_kind[name] = by_kind.get(name, 0) + 1
    return {"attempts": attempts, "requests_retried": retried, "retries": sum(by_kind.values()),
            "retries_by_kind": dict(sorted(by_kind.items()))}


class Writer:
    """Buffered JSONL writer of request records (one per worker, merged after the run)."""

    def __init__(self, path: Path, batch: int = 256) -> None:
        self.path = path
        self._file: IO[str] = open(path, "w", encoding="utf-8")
        self._lines: list[str] = []
        self._batch = batch
        self.count = 0

    def add(self, rec: dict[str, Any]) -> None:
        self._lines.append(json.dumps(rec, separators=(",", ":")))
        self.count += 1
        if len(self._lines) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._file.write("\n".join(self._lines) + "\n")
            self._lines.clear()
        self._file.flush()

    def close(self) -> None:
        self.flush()
        self._file.close()


def write_run_file(path: Path, run: dict[str, Any], steps: list[dict[str, Any]], shards: list[Path]) -> None:
    """Header, step lines, then every shard's records; the shards are removed."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(json.dumps({"type": "run", "format": FORMAT, **run}, separators=(",", ":")) + "\n")
        for step in steps:
            out.write(json.dumps({"type": "step", **step}, separators=(",", ":")) + "\n")
        for shard in shards:
            if shard.exists():
                with open(shard, encoding="utf-8") as src:
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
    tmp.replace(path)
    for shard in shards:
        shard.unlink(missing_ok=True)


class SampleFile:
    """A raw-sample file opened for reading: the run, the steps, and an iterator over requests."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.run: dict[str, Any] = {}
        self.steps: list[dict[str, Any]] = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                obj = json.loads(line)
                if obj.get("type") == "run":
                    self.run = obj
                elif obj.get("type") == "step":
                    self.steps.append(obj)
                else:
                    break
        if self.run.get("format") != FORMAT:
            raise ValueError(f"{path}: not a raw-sample file of conformance bench (format {FORMAT})")

    def requests(self) -> Iterator[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.startswith('{"type":'):
                    continue
                if line.strip():
                    yield json.loads(line)
