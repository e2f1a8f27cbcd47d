"""Several raw-sample files of one load — Locust workers, or client machines — merged into one.

Each file's times count from its own zero instant (its process's monotonic clock), which
means nothing on another machine. A file that carries ``t0_wall_ns`` (the wall-clock instant of
its zero, written by the Locust workers) is shifted onto the earliest of them, so the merged
timeline, steady-state window and throughput are right to within the machines' clock sync;
without it every file is taken to have started together (``alignment: none`` in the header).

Steps are matched by index: a merged step starts at the earliest start, stops at the latest
stop, and its load is the sum of the files' (users or rates add up across workers). Requests
are renumbered so ``i`` stays unique; ``w`` becomes the file's position.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from conformance.bench.samples import FORMAT, SampleFile

_STEP_SUMS = ("value", "sent", "capped", "max_requests", "warmup_requests")


def _offsets_us(files: Sequence[SampleFile]) -> tuple[list[int], str]:
    walls = [f.run.get("t0_wall_ns") for f in files]
    if all(isinstance(w, int) for w in walls):
        first = min(walls)  # type: ignore[type-var]
        return [(w - first) // 1000 for w in walls], "wall-clock"  # type: ignore[operator]
    return [0] * len(files), "none"


def _label(pattern: str, value: float) -> str:
    return f"concurrency {int(value)}" if pattern == "concurrency" else f"{pattern} {value:g}/s"


def merged_steps(files: Sequence[SampleFile], offsets: Sequence[int]) -> list[dict[str, Any]]:
    by_index: dict[int, dict[str, Any]] = {}
    for f, off in zip(files, offsets):
        for step in f.steps:
            shifted = {**step, **{k: step[k] + off for k in ("start", "stop", "drained") if k in step}}
            have = by_index.get(step["index"])
            if have is None:
                by_index[step["index"]] = shifted
                continue
            have["start"] = min(have["start"], shifted["start"])
            for k in ("stop", "drained", "duration_s", "warmup_s"):
                if k in shifted:
                    have[k] = max(have[k], shifted[k])
            for k in _STEP_SUMS:
                if k in shifted:
                    have[k] = have.get(k, 0) + shifted[k]
    steps = [by_index[i] for i in sorted(by_index)]
    for step in steps:
        step["label"] = _label(step["pattern"], step["value"])
    return steps


def merged_run(files: Sequence[SampleFile], alignment: str) -> dict[str, Any]:
    run = {k: v for k, v in files[0].run.items() if k != "type"}
    run["client"] = {**run.get("client", {}),
                     "workers": sum(f.run.get("client", {}).get("workers", 1) for f in files)}
    run["interrupted"] = any(f.run.get("interrupted") for f in files)
    run["merged_from"] = [str(f.path) for f in files]
    run["alignment"] = alignment
    walls = [f.run["t0_wall_ns"] for f in files if isinstance(f.run.get("t0_wall_ns"), int)]
    if walls:
        run["t0_wall_ns"] = min(walls)
    memory = {f"file {n} {label}": proc for n, f in enumerate(files)
              for label, proc in ((f.run.get("memory") or {}).get("processes") or {}).items()}
    run["memory"] = {"unit": "MiB", "processes": memory} if memory else {}
    return run


def merge_sample_files(paths: Sequence[Path], out: Path) -> Path:
    """Write the merge of `paths` to `out` (a samples.jsonl path); returns `out`."""
    if not paths:
        raise ValueError("nothing to merge")
    files = [SampleFile(Path(p)) for p in paths]
    offsets, alignment = _offsets_us(files)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    i = 0
    with open(tmp, "w", encoding="utf-8") as dst:
        dst.write(json.dumps({"type": "run", "format": FORMAT, **merged_run(files, alignment)},
                             separators=(",", ":")) + "\n")
        for step in merged_steps(files, offsets):
            dst.write(json.dumps({"type": "step", **step}, separators=(",", ":")) + "\n")
        for n, (f, off) in enumerate(zip(files, offsets)):
            for rec in f.requests():
                rec["i"], rec["w"], rec["sched"] = i, n, rec["sched"] + off
                i += 1
                dst.write(json.dumps(rec, separators=(",", ":")) + "\n")
    tmp.replace(out)
    return out


def merge_into_dir(paths: Sequence[Path], out_dir: Path | None = None) -> Path:
    """`bench report A B ...`: the merge written to OUT_DIR/samples.jsonl (default: beside the first, merged/)."""
    from conformance.errors import SetupError

    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise SetupError(f"no such raw-sample file: {', '.join(missing)}")
    target = (out_dir or Path(paths[0]).parent / "merged") / "samples.jsonl"
    try:
        return merge_sample_files(paths, target)
    except ValueError as exc:
        raise SetupError(str(exc)) from None


__all__ = ["merge_into_dir", "merge_sample_files", "merged_run", "merged_steps"]
