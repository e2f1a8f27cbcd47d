"""`conformance bench --calibrate`: how far the client's own figures are off, and how fast it goes.

Three runs, each against a server started in its own process on loopback:

1. **reference** — the reference server with its latency model set to known delays
   (default ``ttft=100,token=20``), 16-token streams at 64 concurrent. Bias = measured −
   configured, per request for TTFT and per token for ITL. This is what a user of the harness
   sees end to end; it includes the reference server's own lateness and HTTP stack.
2. **stub, stamped** — the stub server with the same delays, reporting when it received each
   request (its kernel receive stamp) and when it actually wrote each event, on the same
   monotonic clock as the client (CLOCK_MONOTONIC, shared by every process on Linux); it runs at
   the lowest real-time priority where permitted (recorded as ``stub_scheduling``). Measured −
   configured then splits exactly into two parts, request by request:
   (a) the **server's lateness** = actual − configured (TTFT: first-token write − arrival −
   ttft; ITL: written gap − token delay), which says how well the stub kept its schedule, and
   (b) the **client's bias** = measured − actual (TTFT: measured TTFT − (first-token write −
   arrival), which includes the client's send lag and the loopback transit; ITL: measured gap −
   written gap). The target (`TARGET`) applies to (b): it is the error of the figures this
   client reports for any server.
3. **ceiling** — the zero-delay stub, 16-token streams at 64 concurrent, for as long as the
   duration: the client's maximum request rate on this machine, with 1 and 2 worker processes.

Writes calibration.json and calibration.md (and every run's own samples and reports beside
them, under reference/, stub/, ceiling-w1/, ...).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Iterable

from conformance.bench.events import GENERATED
from conformance.bench.metrics import stats
from conformance.bench.samples import SampleFile
from conformance.bench.scenario import Distribution, Load, RequestSpec, Scenario
from conformance.report.atomic import write_atomic
from conformance.server.latency import LatencyModel

DEFAULT_LATENCY = "ttft=100,token=20"
TARGET = {"mean_ms": 0.5, "p99_ms": 2.0}  # for the client's bias, TTFT and ITL, at 64 concurrent streams


def calibration_scenario(name: str, concurrency: int, duration_s: float, *, tokens: int = 16, workers: int = 1,
                         warmup_s: float = 1.0) -> Scenario:
    return Scenario(
        name=name, endpoints=("chat_completions",), stream=True,
        request=RequestSpec(Distribution("fixed", (16,)), Distribution("fixed", (tokens,)), thinking=False,
                            variants=64),
        load=Load("concurrency", (float(concurrency),), duration_s, warmup_s=min(warmup_s, duration_s / 4),
                  workers=workers),
        slo={}, slo_source="calibration", max_lag_p99_ms=50.0, description=f"calibration: {name}")


def bias(records: Iterable[dict[str, Any]], ttft_ms: float, token_ms: float) -> dict[str, Any]:
    """Measured − configured (and, where the server stamped its writes, measured − actual) per figure.

    TTFT: per request, the first generated-token event. ITL: per consecutive pair of
    generated-token events. Warm-up and failed requests are left out.
    """
    ttft_cfg, itl_cfg, ttft_client, itl_client, ttft_server, itl_server = [], [], [], [], [], []
    requests = 0
    for rec in records:
        if rec.get("warm") or "err" in rec:
            continue
        et, ek = rec.get("et") or [], rec.get("ek") or ""
        idx = [j for j, k in enumerate(ek) if k in GENERATED]
        if not idx:
            continue
        requests += 1
        first = et[idx[0]] / 1000.0
        ttft_cfg.append(first - ttft_ms)
        gaps = [(et[b] - et[a]) / 1000.0 for a, b in zip(idx, idx[1:])]
        itl_cfg += [g - token_ms for g in gaps]
        sv, srv = rec.get("sv"), rec.get("srv")
        if sv and srv is not None and all(sv[j] is not None for j in idx):
            server_ttft = (sv[idx[0]] - srv) / 1000.0
            ttft_server.append(server_ttft - ttft_ms)
            ttft_client.append(first - server_ttft)
            for (a, b), g in zip(zip(idx, idx[1:]), gaps):
                written = (sv[b] - sv[a]) / 1000.0
                itl_server.append(written - token_ms)
                itl_client.append(g - written)
    out: dict[str, Any] = {"requests": requests, "ttft_bias_ms": stats(ttft_cfg), "itl_bias_ms": stats(itl_cfg)}
    if ttft_client:
        out["client_ttft_bias_ms"] = stats(ttft_client)
        out["client_itl_bias_ms"] = stats(itl_client)
        out["server_ttft_lateness_ms"] = stats(ttft_server)
        out["server_itl_lateness_ms"] = stats(itl_server)
        out["client_bias_target_met"] = all(
            abs(out[k]["mean"]) <= TARGET["mean_ms"] and abs(out[k]["p99"]) <= TARGET["p99_ms"]
            for k in ("client_ttft_bias_ms", "client_itl_bias_ms"))
    return out


def _run(scenario: Scenario, endpoint: Any, out_dir: Path, *, stamps: bool = False, uvloop: bool = True,
         progress: bool = True, kernel_timestamps: bool = True) -> tuple[SampleFile, dict[str, Any]]:
    from conformance.bench.runner import analyse, run_scenario, write_reports

    samples = run_scenario(scenario, endpoint, out_dir, stamps=stamps, uvloop=uvloop, progress=progress,
                           kernel_timestamps=kernel_timestamps)
    report = analyse(samples)
    write_reports(report, out_dir)
    return SampleFile(samples), report


def calibrate(out_dir: Path, *, latency: str = DEFAULT_LATENCY, concurrency: int = 64, duration_s: float = 10.0,
              ceiling_workers: tuple[int, ...] = (1, 2), uvloop: bool = True, progress: bool = True,
              phases: tuple[str, ...] = ("reference", "stub", "ceiling")) -> dict[str, Any]:
    from conformance.bench.runner import Endpoint
    from conformance.bench.servers import reference_server, stub_server
    from conformance.suite.loader import DEFAULT_CONTRACT

    model = LatencyModel.parse(latency)
    if model.jitter_ms:
        raise ValueError("calibration needs fixed delays: no jitter")
    result: dict[str, Any] = {"latency": str(model), "concurrency": concurrency, "duration_s": duration_s,
                              "tokens": 16, "uvloop": uvloop, "runs": {},
                              "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    say = (lambda text: print(text, file=sys.stderr)) if progress else (lambda text: None)
    if "reference" in phases:
        say(f"calibration 1/3: reference server, latency {model}, {concurrency} concurrent streams")
        with reference_server(DEFAULT_CONTRACT, str(model)) as url:
            sf, report = _run(calibration_scenario("calibrate-reference", concurrency, duration_s),
                              Endpoint("reference", url, "calibration", None, str(model)), out_dir / "reference",
                              uvloop=uvloop, progress=progress)
        result["runs"]["reference"] = {**bias(sf.requests(), model.ttft_ms, model.per_token_ms),
                                       "valid": report["valid"], "dir": str(out_dir / "reference")}
    if "stub" in phases:
        say(f"calibration 2/3: stub server with stamps, latency {model}, {concurrency} concurrent streams")
        pids: list[int] = []
        # Real-time priority keeps a busy machine from making the stub late; it sleeps between events.
        with stub_server(str(model), stamp=True, realtime=True, on_start=pids.append) as url:
            scheduling = _scheduling(pids[0])
            sf, report = _run(calibration_scenario("calibrate-stub", concurrency, duration_s),
                              Endpoint("stub", url, "calibration", None, str(model)), out_dir / "stub",
                              stamps=True, uvloop=uvloop, progress=progress)
        result["runs"]["stub"] = {**bias(sf.requests(), model.ttft_ms, model.per_token_ms),
                                  "valid": report["valid"], "dir": str(out_dir / "stub"),
                                  "stub_scheduling": scheduling}
    if "ceiling" in phases:
        ceilings = {}
        for workers in ceiling_workers:
            say(f"calibration 3/3: client ceiling, zero-delay stub server, {concurrency} concurrent, "
                f"{workers} worker(s)")
            with stub_server("") as url:
                _, report = _run(calibration_scenario("calibrate-ceiling", concurrency, duration_s, workers=workers),
                                 Endpoint("stub", url, "calibration", None, ""), out_dir / f"ceiling-w{workers}",
                                 uvloop=uvloop, progress=progress)
            step = report["steps"][0]
            ceilings[str(workers)] = {"request_per_s": step["throughput"]["request_per_s"],
                                      "output_tokens_per_s": step["throughput"]["output_tokens_per_s"],
                                      "errors": step["errors"]["rate"], "valid": step["valid"],
                                      "dir": str(out_dir / f"ceiling-w{workers}")}
        result["ceiling"] = ceilings
        best = max(ceilings.items(), key=lambda kv: kv[1]["request_per_s"] or 0)
        result["max_request_per_s"] = {"workers": int(best[0]), "request_per_s": best[1]["request_per_s"]}
    result["loadavg_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return result


def _scheduling(pid: int) -> str:
    try:
        policy = os.sched_getscheduler(pid)
    except (AttributeError, OSError):
        return "unknown"
    return {getattr(os, "SCHED_RR", -1): "real-time (SCHED_RR)", getattr(os, "SCHED_FIFO", -1): "real-time (SCHED_FIFO)"
            }.get(policy, "normal")


def _load(values: Any) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _row(name: str, s: dict[str, Any] | None) -> str:
    if not s or not s.get("count"):
        return f"| {name} | – | – | – | – | – |"
    return (f"| {name} | {s['count']} | {s['mean']:+.3f} | {s['p50']:+.3f} | {s['p99']:+.3f} | "
            f"{s['stdev']:.3f} |")


def render_markdown(result: dict[str, Any], command: str) -> str:
    out = ["# Benchmark client calibration", "",
           f"Command: `{command}`", "",
           f"Known delays: {result['latency']}; {result['tokens']}-token streams; {result['concurrency']} concurrent "
           f"streams; {result['duration_s']:g} s per run; uvloop {result['uvloop']}; load average "
           f"{_load(result.get('loadavg_at_start'))} before, {_load(result.get('loadavg_at_end'))} after "
           f"(1/5/15 min: other work on this machine skews every figure).", ""]
    ref, stub = result["runs"].get("reference"), result["runs"].get("stub")
    if ref or stub:
        out += ["## Bias (ms)", "", "| figure | n | mean | p50 | p99 | stdev |", "|---|---|---|---|---|---|"]
        if ref:
            out += [_row("reference server: TTFT measured − configured (its own lateness included)",
                         ref["ttft_bias_ms"]),
                    _row("reference server: ITL measured − configured (its own lateness included)",
                         ref["itl_bias_ms"])]
        if stub:
            out += [_row("stub server: TTFT measured − configured = (a) + (b)", stub["ttft_bias_ms"]),
                    _row("stub server: ITL measured − configured = (a) + (b)", stub["itl_bias_ms"]),
                    _row("(a) stub server's TTFT lateness (actual write − configured)",
                         stub.get("server_ttft_lateness_ms")),
                    _row("(a) stub server's ITL lateness (actual write − configured)",
                         stub.get("server_itl_lateness_ms")),
                    _row("(b) client's TTFT bias (client receive − actual write)", stub.get("client_ttft_bias_ms")),
                    _row("(b) client's ITL bias (client receive − actual write)", stub.get("client_itl_bias_ms"))]
        out.append("")
        if stub and stub.get("stub_scheduling"):
            out += [f"Stub server scheduling: {stub['stub_scheduling']}.", ""]
        if stub and "client_bias_target_met" in stub:
            out += [f"Target for the client's bias (b): |mean| ≤ {TARGET['mean_ms']:g} ms and |p99| ≤ "
                    f"{TARGET['p99_ms']:g} ms for TTFT and ITL — **{'met' if stub['client_bias_target_met'] else 'NOT met'}**.",
                    ""]
        for name, run in result["runs"].items():
            if not run["valid"]:
                out.append(f"- **{name} run INVALID** (see {run['dir']}/report.md)")
    if "ceiling" in result:
        out += ["## Client ceiling (zero-delay stub server)", "", "| workers | requests/s | output tokens/s | errors |",
                "|---|---|---|---|"]
        for workers, c in result["ceiling"].items():
            out.append(f"| {workers} | {c['request_per_s']:,.0f} | {c['output_tokens_per_s']:,.0f} | "
                       f"{c['errors']:.2%} |")
        best = result["max_request_per_s"]
        out += ["", f"Maximum: **{best['request_per_s']:,.0f} requests/s** with {best['workers']} worker process(es).", ""]
    return "\n".join(out) + "\n"


def calibrate_command(args: argparse.Namespace) -> int:
    from conformance.report import default_run_dir, update_latest
    from conformance.bench.runner import REPORTS_ROOT

    out_dir = args.report_dir or default_run_dir(REPORTS_ROOT)
    out_dir.mkdir(parents=True, exist_ok=True)
    concurrency = int(args.concurrency[0]) if args.concurrency else 64
    workers = (args.workers,) if args.workers else (1, 2)
    result = calibrate(out_dir, latency=args.latency or DEFAULT_LATENCY, concurrency=concurrency,
                       duration_s=args.duration or 10.0, ceiling_workers=workers, uvloop=not args.no_uvloop,
                       progress=not args.quiet)
    command = "conformance " + shlex.join(sys.argv[1:])
    write_atomic(out_dir / "calibration.json", json.dumps(result, indent=1))
    text = render_markdown(result, command.strip())
    write_atomic(out_dir / "calibration.md", text)
    if out_dir.parent.resolve() == REPORTS_ROOT.resolve():
        update_latest(REPORTS_ROOT, out_dir)
    sys.stdout.write(text)
    print(f"  {out_dir / 'calibration.md'}\n  {out_dir / 'calibration.json'}")
    return 0
