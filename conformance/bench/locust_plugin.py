"""Locust integration: the bench scenarios and LLM metrics on Locust's engine, across machines.

`locustfile.py` at the top of the repository imports this module. Each Locust user is one
closed-loop slot (``-u 64`` ≈ concurrency 64) sending the scenario's pre-built requests with
the bench client's parser over a gevent socket (kernel receive timestamps where available).
Every request is reported to Locust twice over:

- as Locust request statistics, which Locust aggregates from all workers on the master (its
  console table, ``--csv`` and ``--html``): one ``POST <endpoint>`` entry per request (time =
  E2E, size = output tokens), and ``LLM`` entries ``TTFT``, ``TTFC``, ``TPOT``, ``ITL`` (one
  per token gap) and ``E2E`` in milliseconds — the metrics as the README defines them;
- as raw samples in the bench format: each process that ran users writes its own
  (``reports/bench/locust-<time>-<pid>/samples.jsonl``, with report.json/md/html) at test stop;
  under a master, each worker also streams its records to the master over Locust's messaging
  (``bench_samples`` every half second while it runs, then ``bench_samples_done`` with its run
  header when it stops), and the master merges them (`conformance.bench.merge`, aligned on each
  worker's wall-clock start) into one ``reports/bench/locust-<time>-master/samples.jsonl`` and
  its reports — one result for the whole distributed run. A headless master stops its workers
  only as it quits, so it merges on ``quitting``, after Locust's half-second wait for the
  workers' last reports; with the web UI, when the test stops.
  ``conformance bench report A B ...`` merges files the same way.

Options (after Locust's own): ``--bench-scenario NAME|FILE`` (default chat-stream),
``--bench-key-env VAR`` (the API key's environment variable), ``--bench-report-dir DIR``.
"""
from __future__ import annotations

import json
import os
import socket as _stdsocket
import time
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

from conformance.bench.bodies import Target, build_variants
from conformance.bench.httpclient import _HEAD, _SO_TIMESTAMPNS, Result, _Conn, arrival, kernel_timestamps_available
from conformance.bench.metrics import locust_events
from conformance.bench.samples import FORMAT, Writer, record, write_run_file
from conformance.bench.scenario import find_scenario, load_scenario

_state: dict[str, Any] = {}  # this process's run (any process that runs users)
_master: dict[str, Any] = {}  # on the master: the samples the workers sent, by worker
_BATCH = 2000  # records per message to the master
_STREAM_EVERY_S = 0.5  # a worker sends its new records this often


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--bench-scenario", default="chat-stream", help="bench scenario name or file")
    parser.add_argument("--bench-key-env", default="", help="environment variable holding the API key")
    parser.add_argument("--bench-report-dir", default="reports/bench", help="where each worker writes its samples")


class _NoPool:
    def _release(self, conn: Any) -> None:
        pass


class _GeventConnection:
    """One keep-alive connection driven by blocking (gevent) socket reads into the bench parser."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.sock = _stdsocket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
        self.kernel = kernel_timestamps_available()
        if self.kernel:
            self.sock.setsockopt(_stdsocket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.conn = _Conn(_NoPool())  # type: ignore[arg-type]
        self.conn.transport = self  # type: ignore[assignment]
        self.closed = False

    # the transport calls `_Conn` makes
    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    abort = close

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def request(self, wire: bytes, res: Result, deadline_ns: int) -> None:
        conn = self.conn
        conn.result, conn.state, conn.sep = res, _HEAD, b"\n\n"
        res.start = perf_counter_ns()
        floor = res.start  # the answer cannot arrive before the request left
        try:
            self.sock.sendall(wire)
            while conn.result is res:
                if perf_counter_ns() > deadline_ns:
                    conn._fail("timeout")
                    break
                before = perf_counter_ns()
                if self.kernel:
                    data, anc, _, _ = self.sock.recvmsg(256 * 1024, 64)
                else:
                    data, anc = self.sock.recv(256 * 1024), []
                if not data:
                    conn.connection_lost(None)
                    break
                now = arrival(anc, perf_counter_ns(), floor)
                floor = before
                conn.data_received(data, now)
        except _stdsocket.timeout:
            conn._fail("timeout")
        except OSError:
            conn._fail("disconnected")
        if conn.closed or not conn.keep_alive:
            self.closed = True


class LLMUser(User):
    """One closed-loop slot of the bench scenario (the scenario's load section is Locust's: -u, -r, -t)."""

    wait_time = constant(0)
    abstract = False

    def on_start(self) -> None:
        shared = _setup(self.environment, self.host)
        self.variants = shared["variants"]
        self.target: Target = shared["target"]
        self.timeout_s = shared["timeout_s"]
        self.connection: _GeventConnection | None = None
        self.n = 0
        shared["users"] += 1

    @task
    def send(self) -> None:
        shared = _state
        k = shared["counter"]
        shared["counter"] += 1
        variant = self.variants[k % len(self.variants)]
        res = Result(perf_counter_ns())
        try:
            if self.connection is None or self.connection.closed:
                self.connection = _GeventConnection(self.target.host, self.target.port, self.timeout_s)
                res.connected = perf_counter_ns()
            self.connection.request(variant.wire, res, res.sched + int(self.timeout_s * 1e9))
        except OSError:
            res.error, res.end = "connect-error", perf_counter_ns()
        rec = record(res, i=k, step=0, worker=shared["worker"], variant=variant.index, endpoint=variant.endpoint,
                     t0=shared["t0"], warm=False)
        shared["writer"].add(rec)
        if shared["outbox"] is not None:
            shared["outbox"].append(rec)
        _fire(self.environment, rec, variant.endpoint)


def _fire(environment: Any, rec: dict[str, Any], endpoint: str) -> None:
    fire = environment.events.request.fire
    for event in locust_events(rec, endpoint):
        fire(**event)


def _setup(environment: Any, host: str | None) -> dict[str, Any]:
    """Once per worker process: scenario, variants, the raw-sample shard."""
    if _state:
        return _state
    from conformance import secrets
    from conformance.suite.loader import load_contract

    options = environment.parsed_options
    scenario = load_scenario(find_scenario(getattr(options, "bench_scenario", "chat-stream")))
    contract = load_contract(scenario.contract_path)
    base_url = host or environment.host
    if not base_url:
        raise RuntimeError("give the server with --host, e.g. --host http://127.0.0.1:8000/v1")
    target = Target.parse(base_url)
    key_env = getattr(options, "bench_key_env", "")
    key = secrets.from_env(key_env, required=True) if key_env else None
    variants = build_variants(scenario, contract, target, key.reveal() if key else "locust-bench-key")
    worker = os.getpid()
    out = Path(getattr(options, "bench_report_dir", "reports/bench")) / (
        f"locust-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{worker}")
    out.mkdir(parents=True, exist_ok=True)
    _state.update(scenario=scenario, target=target, variants=variants, worker=worker, out=out, counter=0,
                  t0=perf_counter_ns(), t0_wall_ns=time.time_ns(), timeout_s=scenario.load.timeout_s,
                  writer=Writer(out / ".samples.w0.jsonl"), users=0, outbox=None)
    if isinstance(environment.runner, WorkerRunner):
        import gevent

        _state["outbox"] = []
        gevent.spawn(_stream_to_master, environment.runner)
    return _state


@events.test_stop.add_listener
def _on_stop(environment: Any, **_: Any) -> None:
    """Each process that ran users writes its samples file and its reports."""
    if isinstance(environment.runner, MasterRunner) or not _state:
        return
    import platform

    from conformance.bench.runner import analyse, write_reports

    st = _state
    st["writer"].close()
    end = (perf_counter_ns() - st["t0"]) // 1000
    # users are stopped by now: count the ones this process started
    users = st["users"] or getattr(environment.runner, "user_count", 0) or 1
    step = {"index": 0, "pattern": "concurrency", "value": float(users), "label": f"concurrency {users}",
            "duration_s": end / 1e6, "warmup_s": 0.0, "warmup_requests": 0, "max_requests": st["counter"],
            "start": 0, "stop": end, "drained": end, "capped": 0, "sent": st["counter"]}
    scenario = st["scenario"].as_dict()
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "scenario": scenario,
           "target": {"kind": "external", "base_url": st["target"].base_url, "latency": "", "model": None},
           "client": {"engine": "locust", "workers": 1, "uvloop": False, "stamps": False,
                      "kernel_timestamps": kernel_timestamps_available(), "python": platform.python_version(),
                      "platform": platform.platform(terse=True), "cpus": os.cpu_count(),
                      "loadavg_at_start": None, "loadavg_at_end": list(os.getloadavg())},
           "variants": [v.describe() for v in st["variants"]], "interrupted": False, "t0_wall_ns": st["t0_wall_ns"]}
    samples = st["out"] / "samples.jsonl"
    write_run_file(samples, run, [step], [st["out"] / ".samples.w0.jsonl"])
    if isinstance(environment.runner, WorkerRunner):
        # before the local reports: a quitting master only waits half a second for these
        _flush_outbox(environment.runner)
        environment.runner.send_message("bench_samples_done", {"worker": environment.runner.client_id,
                                                               "run": run, "step": step})
        st["outbox"] = None
    write_reports(analyse(samples), st["out"])
    print(f"conformance bench (locust worker {st['worker']}): {samples}")
    _state.clear()


# ----------------------------------------------------------------------------- one result on the master


def _flush_outbox(runner: Any) -> None:
    outbox = _state.get("outbox")
    if outbox:
        _state["outbox"] = []
        for at in range(0, len(outbox), _BATCH):
            runner.send_message("bench_samples", {"worker": runner.client_id, "records": outbox[at:at + _BATCH]})


def _stream_to_master(runner: Any) -> None:
    """A worker's greenlet: its finished requests go to the master while the test runs."""
    import gevent

    while _state.get("outbox") is not None:
        gevent.sleep(_STREAM_EVERY_S)
        _flush_outbox(runner)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        return
    _master.clear()
    _master.update(records={}, headers={}, expected=0, merged=False)

    def on_samples(msg: Any, **__: Any) -> None:
        _master["records"].setdefault(msg.data["worker"], []).extend(msg.data["records"])

    def on_done(msg: Any, **__: Any) -> None:
        _master["headers"][msg.data["worker"]] = (msg.data["run"], msg.data["step"])

    environment.runner.register_message("bench_samples", on_samples)
    environment.runner.register_message("bench_samples_done", on_done)


@events.test_start.add_listener
def _on_master_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        _master["expected"] = max(_master.get("expected", 0), environment.runner.worker_count)


@events.test_stop.add_listener
def _on_master_stop(environment: Any, **_: Any) -> None:
    """With the web UI the workers have stopped (and reported) before this: merge now."""
    if isinstance(environment.runner, MasterRunner) and _master and _master["expected"] \
            and len(_master["headers"]) >= _master["expected"]:
        _merge_on_master(environment)


@events.quitting.add_listener
def _on_master_quitting(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner) and _master:
        _merge_on_master(environment)


def _merge_on_master(environment: Any) -> None:
    """The workers' records, one part file per worker, merged into the master's one samples file."""
    if _master["merged"] or not _master["headers"]:
        return
    _master["merged"] = True
    from conformance.bench.merge import merge_sample_files
    from conformance.bench.runner import analyse, write_reports

    options = environment.parsed_options
    out = Path(getattr(options, "bench_report_dir", "reports/bench")) / (
        f"locust-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-master")
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for n, (worker, (run, step)) in enumerate(sorted(_master["headers"].items())):
        part = out / f".worker-{n}.samples.jsonl"
        with open(part, "w", encoding="utf-8") as f:
            f.write(json.dumps({"type": "run", "format": FORMAT, **run}, separators=(",", ":")) + "\n")
            f.write(json.dumps({"type": "step", **step}, separators=(",", ":")) + "\n")
            for rec in _master["records"].get(worker, ()):
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        parts.append(part)
    samples = merge_sample_files(parts, out / "samples.jsonl")
    for part in parts:
        part.unlink()
    write_reports(analyse(samples), out)
    silent = max(0, _master["expected"] - len(parts))
    note = f"; {silent} worker(s) sent no samples in time, left out" if silent else ""
    print(f"conformance bench (locust master, {len(parts)} worker(s) merged{note}): {samples}")
