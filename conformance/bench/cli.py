"""The `conformance bench` subcommand: its options, and dispatch to run / report / calibrate.

    conformance bench SCENARIO [options]      run a scenario (suites/bench/NAME.yaml or a path)
    conformance bench report FILE [--baseline F] [--out DIR]   recompute from a raw-sample file
    conformance bench --calibrate [options]   measure the client's own bias and ceiling

Exit codes: 0 done and valid, 1 a regression against --baseline, 2 usage or setup error,
3 the run is invalid (the client fell behind its schedule), 130 on Ctrl-C, 143 on SIGTERM.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="latency and throughput benchmarks (scenarios in suites/bench/)",
                       description="Run a benchmark scenario, recompute a report (`bench report FILE`), "
                                   "or calibrate the client (`bench --calibrate`).")
    p.add_argument("scenario", nargs="?", help="scenario name in suites/bench/ or a file; or `report`")
    p.add_argument("file", nargs="*", type=Path,
                   help="with `report`: the raw-sample file (samples.jsonl); several are merged into one first "
                        "(e.g. Locust workers' files), written under --out (default: beside the first, merged/)")
    p.add_argument("--target", default="reference",
                   help="reference (default: the reference server in its own process), live, or a target name")
    p.add_argument("--base-url", help="any compatible server, e.g. http://127.0.0.1:8080/v1")
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    p.add_argument("--model", help="model id to request (default: the contract's)")
    p.add_argument("--stub-server", action="store_true",
                   help="benchmark against the lean stub server instead (measures the client, not a server)")
    p.add_argument("--latency", default="", metavar="SPEC",
                   help='known delays for the server this run starts, e.g. "ttft=100,token=20" (ms)')
    p.add_argument("--workers", type=int, help="client worker processes (default: the scenario's)")
    p.add_argument("--duration", type=float, metavar="S", help="seconds per step (overrides the scenario)")
    p.add_argument("--max-requests", type=int, metavar="N", help="request cap per step (overrides the scenario)")
    p.add_argument("--concurrency", type=float, nargs="+", metavar="N", help="override the concurrency (several: a sweep)")
    p.add_argument("--rate", type=float, nargs="+", metavar="R", help="override the rate (several: a sweep)")
    p.add_argument("--report-dir", type=Path, help="where to write (default: reports/bench/<timestamp>)")
    p.add_argument("--out", type=Path, help="with `report`: where to write the reports (default: beside FILE)")
    p.add_argument("--baseline", type=Path, metavar="FILE",
                   help="compare with a saved report.json or samples.jsonl; exit 1 on a regression")
    p.add_argument("--calibrate", action="store_true",
                   help="measure TTFT/ITL bias against known delays and the client's maximum rate")
    p.add_argument("--no-uvloop", action="store_true", help="use the standard asyncio event loop")
    p.add_argument("--no-kernel-timestamps", action="store_true",
                   help="time each read when the event loop delivers it, not by the kernel's arrival stamp")
    p.add_argument("--quiet", action="store_true", help="no live progress on stderr")
    from conformance.transport.options import add_request_options
    add_request_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    from conformance.errors import SetupError

    if args.calibrate:
        from conformance.bench.calibrate import calibrate_command
        return calibrate_command(args)
    if args.scenario == "report":
        if not args.file:
            raise SetupError("bench report: give the raw-sample file (reports/bench/<run>/samples.jsonl)")
        from conformance.bench.runner import report_command
        if len(args.file) > 1:
            from conformance.bench.merge import merge_into_dir
            return report_command(merge_into_dir(args.file, args.out), args.out, args.baseline)
        return report_command(args.file[0], args.out, args.baseline)
    if not args.scenario:
        raise SetupError("bench: give a scenario (see suites/bench/), `report FILE`, or --calibrate")
    from conformance.bench.runner import BenchOptions, bench

    values: list[float] = []
    if args.concurrency and args.rate:
        raise SetupError("bench: --concurrency or --rate, not both")
    opts = BenchOptions(
        scenario=args.scenario, target=args.target, base_url=args.base_url, api_key_env=args.api_key_env,
        model=args.model, stub_server=args.stub_server, latency=args.latency, workers=args.workers,
        duration_s=args.duration, max_requests=args.max_requests, report_dir=args.report_dir,
        baseline=args.baseline, uvloop=not args.no_uvloop, kernel_timestamps=not args.no_kernel_timestamps,
        quiet=args.quiet, api_key_file=args.api_key_file,
        request={"connect": args.connect_timeout, "first_byte": args.first_byte_timeout, "idle": args.idle_timeout,
                 "total": args.total_timeout, "retries": args.retries, "insecure": args.insecure})
    if args.concurrency or args.rate:
        values = list(args.concurrency or args.rate)
        opts.values = values
        opts.pattern = "concurrency" if args.concurrency else "rate"
    return bench(opts)
