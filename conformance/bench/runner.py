"""`conformance bench`: scenario → target → load → raw samples → figures → reports → baseline.

The figures are always computed from the raw-sample file written by the run, by the same code
`conformance bench report FILE` runs, so a report and its recomputation cannot disagree.
"""
from __future__ import annotations

import os
import platform
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from time import perf_counter_ns
from pathlib import Path
from typing import Any

from conformance.bench.bodies import Target, build_variants
from conformance.bench.httpclient import RequestPolicy, kernel_timestamps_available
from conformance.bench.loadgen import ProgressLine, StepOutcome, WorkerSpec, plans_for, run_load
from conformance.bench.samples import SampleFile, retry_summary, write_run_file
from conformance.bench.scenario import Scenario, find_scenario, load_scenario
from conformance.errors import SetupError
from conformance.session import SessionOptions, SessionSettings, resolve

EXIT_OK, EXIT_REGRESSION, EXIT_INVALID = 0, 1, 3
REPORTS_ROOT = Path("reports") / "bench"


@dataclass
class BenchOptions:
    scenario: str
    target: str = "reference"
    base_url: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    stub_server: bool = False
    latency: str = ""  # for the reference or stub server this run starts
    workers: int | None = None
    duration_s: float | None = None
    max_requests: int | None = None
    values: list[float] = field(default_factory=list)  # override the concurrency/rate (a sweep if several)
    pattern: str | None = None  # with values: "concurrency", or "rate" (kept as poisson if the scenario is)
    report_dir: Path | None = None
    baseline: Path | None = None
    uvloop: bool = True
    kernel_timestamps: bool = True
    stamps: bool = False
    quiet: bool = False
    api_key_file: Path | None = None  # the key from a file instead of api_key_env
    # Request timeouts/retries/TLS from the command line (`conformance.transport.options`), by name.
    request: dict[str, Any] = field(default_factory=dict)

    def session_options(self) -> SessionOptions:
        """The target, key and request settings as every other entry point resolves them."""
        r = self.request
        return SessionOptions(
            target=self.target, base_url=self.base_url, api_key_env=self.api_key_env, api_key_file=self.api_key_file,
            model=self.model,
            timeouts={k: float(r[k]) for k in ("connect", "first_byte", "idle", "total") if r.get(k) is not None},
            retries=int(r.get("retries") or 0), insecure=bool(r.get("insecure")))


@dataclass
class Endpoint:
    kind: str
    base_url: str
    api_key: str | None
    model: str | None
    latency: str = ""


def apply_overrides(scenario: Scenario, opts: BenchOptions) -> Scenario:
    changes: dict[str, Any] = {}
    if opts.workers:
        changes["workers"] = opts.workers
    if opts.duration_s:
        changes["duration_s"] = opts.duration_s
        if scenario.load.warmup_s >= opts.duration_s:
            changes["warmup_s"] = 0.0
    if opts.max_requests:
        changes["max_requests"] = opts.max_requests
    if opts.values:
        pattern = opts.pattern or scenario.load.pattern
        if pattern == "rate" and scenario.load.pattern == "poisson":
            pattern = "poisson"
        if pattern == "concurrency" and any(not float(v).is_integer() or v < 1 for v in opts.values):
            raise SetupError("--concurrency: whole numbers >= 1")
        if any(v <= 0 for v in opts.values):
            raise SetupError("--rate: numbers > 0")
        changes["pattern"] = pattern
        changes["values"] = tuple(float(v) for v in opts.values)
        changes["swept"] = len(opts.values) > 1
    return scenario.with_load(**changes) if changes else scenario


def _open_endpoint(stack: ExitStack, scenario: Scenario, opts: BenchOptions, settings: SessionSettings) -> Endpoint:
    from conformance.bench.servers import reference_server, stub_server

    if opts.stub_server:
        url = stack.enter_context(stub_server(opts.latency, stamp=opts.stamps))
        return Endpoint("stub", url, "bench-stub-key", opts.model, opts.latency)
    if opts.target == "reference" and not settings.external:
        # In its own process, so the server does not share the load generator's CPU time.
        url = stack.enter_context(reference_server(scenario.contract_path, opts.latency))
        return Endpoint("reference", url, "bench-reference-key", opts.model, opts.latency)
    from conformance.session import open_session
    from conformance.suite.loader import load_contract

    session = stack.enter_context(open_session(settings, load_contract(scenario.contract_path)))
    ep = session.endpoint
    return Endpoint(settings.target_label if settings.external else settings.target.name, ep.base_url,
                    ep.api_key.reveal() if ep.api_key else None, opts.model if settings.external else ep.model)


def _step_line(o: StepOutcome, t0: int) -> dict[str, Any]:
    p = o.plan
    label = f"concurrency {int(p.value)}" if p.pattern == "concurrency" else f"{p.pattern} {p.value:g}/s"
    return {"index": p.index, "pattern": p.pattern, "value": p.value, "label": label, "duration_s": p.duration_s,
            "warmup_s": p.warmup_s, "warmup_requests": p.warmup_requests, "max_requests": p.max_requests,
            "start": (o.start - t0) // 1000, "stop": (o.stop - t0) // 1000, "drained": (o.drained - t0) // 1000,
            "capped": o.capped, "sent": o.sent}


def run_scenario(scenario: Scenario, endpoint: Endpoint, out_dir: Path, *, uvloop: bool = True,
                 stamps: bool = False, progress: bool = True, in_process: bool | None = None,
                 kernel_timestamps: bool = True, policy: RequestPolicy | None = None) -> Path:
    """Run the load and write `out_dir/samples.jsonl`; returns its path.

    `policy`: the request timeouts, retries and TLS setting (default: the scenario's timeout_s only).
    """
    from conformance.suite.loader import load_contract

    contract = load_contract(scenario.contract_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = Target.parse(endpoint.base_url)
    variants = build_variants(scenario, contract, target, endpoint.api_key, endpoint.model)
    workers = scenario.load.workers
    wires = tuple((v.endpoint, v.wire) for v in variants)
    specs = [WorkerSpec(i, workers, target.host, target.port, target.scheme == "https", wires,
                        out_dir / f".samples.w{i}.jsonl", seed=scenario.load.seed, timeout_s=policy or scenario.load.timeout_s,
                        max_in_flight=scenario.load.max_in_flight, use_uvloop=uvloop, stamps=stamps,
                        kernel_timestamps=kernel_timestamps)
             for i in range(workers)]
    plans = plans_for(scenario)
    line = ProgressLine(len(plans)) if progress else None
    started = datetime.now(timezone.utc)
    # The machine may be shared: a busy one skews every figure, so the report says how busy it was.
    load_at_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    try:
        outcome = run_load(specs, plans, in_process=in_process, progress=line)
    finally:
        if line is not None:
            line.finish()
    if outcome.interrupted and len(outcome.steps) < len(plans):
        # The step under way when Ctrl-C/SIGTERM came: its samples are kept, so it gets a step
        # line too, ending at the interruption, and the partial report has its figures.
        begun = outcome.steps[-1].drained if outcome.steps else outcome.t0
        now = perf_counter_ns()
        outcome.steps.append(StepOutcome(plans[len(outcome.steps)], begun, now, now, 0, 0))
    run = {
        "started": started.isoformat(timespec="seconds"), "scenario": scenario.as_dict(),
        "target": {"kind": endpoint.kind, "base_url": endpoint.base_url, "latency": endpoint.latency,
                   "model": endpoint.model or contract.model},
        "client": {"engine": "conformance", "workers": workers, "uvloop": outcome.uvloop, "stamps": stamps,
                   "kernel_timestamps": kernel_timestamps and target.scheme == "http" and kernel_timestamps_available(),
                   "python": platform.python_version(), "platform": platform.platform(terse=True),
                   "cpus": os.cpu_count(), "loadavg_at_start": load_at_start,
                   "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "requests": (policy or RequestPolicy(scenario.load.timeout_s)).describe(),
        "variants": [v.describe() for v in variants], "interrupted": outcome.interrupted,
        "memory": outcome.memory,
    }
    path = out_dir / "samples.jsonl"
    write_run_file(path, run, [_step_line(o, outcome.t0) for o in outcome.steps], outcome.shards)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return path


def analyse(samples: Path) -> dict[str, Any]:
    """The report (a dict) of a raw-sample file: what `bench report FILE` recomputes."""
    from conformance.bench.metrics import compute

    sf = SampleFile(samples)
    figures = compute(sf.run, sf.steps, sf.requests)
    return {"format": "conformance-bench-report/1", "samples": str(samples), "run": sf.run, **figures,
            "retries": retry_summary(sf.requests())}


def write_reports(report: dict[str, Any], out_dir: Path) -> list[Path]:
    from conformance.bench.report import write_all

    return write_all(report, out_dir)


def _print_summary(report: dict[str, Any], paths: list[Path], stream: Any = None) -> None:
    from conformance.bench.report import terminal_summary

    stream = stream or sys.stdout
    stream.write(terminal_summary(report))
    for p in paths:
        stream.write(f"  {p}\n")
    stream.flush()


def bench(opts: BenchOptions) -> int:
    scenario = apply_overrides(load_scenario(find_scenario(opts.scenario)), opts)
    out_dir = opts.report_dir
    if out_dir is None:
        from conformance.report import default_run_dir

        out_dir = default_run_dir(REPORTS_ROOT)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = resolve(opts.session_options())
    with ExitStack() as stack:
        endpoint = _open_endpoint(stack, scenario, opts, settings)
        if not opts.quiet:
            print(f"conformance bench: {scenario.name} → {endpoint.base_url} ({endpoint.kind}"
                  f"{', latency ' + endpoint.latency if endpoint.latency else ''}), "
                  f"{len(scenario.load.values)} step(s) of {scenario.load.duration_s:g} s, "
                  f"{scenario.load.workers} worker(s)", file=sys.stderr)
        policy = request_policy(settings, scenario.load.timeout_s)
        try:
            samples = run_scenario(scenario, endpoint, out_dir, uvloop=opts.uvloop, stamps=opts.stamps,
                                   progress=not opts.quiet, kernel_timestamps=opts.kernel_timestamps,
                                   policy=policy)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: the samples so far are on disk; the partial report is made of them.
            samples = out_dir / "samples.jsonl"
            if samples.exists():
                finish(samples, out_dir, tolerances=scenario.tolerances)
            raise
    return finish(samples, out_dir, baseline=opts.baseline, tolerances=scenario.tolerances)


def request_policy(settings: SessionSettings, scenario_timeout_s: float) -> RequestPolicy:
    """The session's timeouts, retries and TLS setting; the total deadline is the command line's
    if given, else the scenario's `timeout_s` (a benchmark's requests have its own bound)."""
    t = settings.client.timeouts
    return RequestPolicy(settings.options.timeouts.get("total") or scenario_timeout_s, connect_s=t.connect,
                         first_byte_s=t.first_byte, idle_s=t.idle, retries=settings.client.retry.retries,
                         verify_tls=settings.client.verify_tls)


def finish(samples: Path, out_dir: Path, *, baseline: Path | None = None,
           tolerances: dict[str, Any] | None = None, stream: Any = None) -> int:
    """Figures, reports and the baseline verdict of a raw-sample file; returns the exit code."""
    report = analyse(samples)
    code = EXIT_OK
    if baseline is not None:
        from conformance.bench.baseline import compare, load_baseline

        comparison = compare(load_baseline(baseline), report,
                             tolerances if tolerances is not None else report["run"]["scenario"].get("tolerances"))
        report["baseline"] = comparison
        if comparison["regressions"]:
            code = EXIT_REGRESSION
    paths = write_reports(report, out_dir)
    if out_dir.parent.resolve() == REPORTS_ROOT.resolve():
        from conformance.report import update_latest

        update_latest(REPORTS_ROOT, out_dir)
    _print_summary(report, paths, stream)
    err = sys.stderr
    for step in report["steps"]:
        for reason in step["invalid_reasons"]:
            err.write(f"conformance bench: INVALID step {step['index'] + 1} ({step['label']}): {reason}\n")
    if baseline is not None:
        for line in report["baseline"]["regressions"]:
            err.write(f"conformance bench: REGRESSION {line['step']} {line['metric']}: {line['baseline']:.4g} → "
                      f"{line['current']:.4g} (allowed {line['limit']:.4g})\n")
    if code == EXIT_OK and not report["valid"]:
        code = EXIT_INVALID
    return code


def report_command(samples: Path, out_dir: Path | None = None, baseline: Path | None = None) -> int:
    """`conformance bench report FILE`: recompute every figure and report from the raw samples."""
    if not samples.exists():
        raise SetupError(f"{samples}: no such raw-sample file")
    try:
        SampleFile(samples)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    return finish(samples, out_dir or samples.parent, baseline=baseline)


__all__ = ["BenchOptions", "analyse", "bench", "finish", "report_command", "run_scenario"]
