"""`conformance` command line: run, serve, checks, validate.

Exit codes (as pytest's): 0 all passed, 1 a check failed, 2 usage or setup error,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM). Errors are one line on stderr.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

from conformance.errors import ConformanceError, SetupError
from conformance.secrets import redact
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract, load_document, validate
from conformance.report.requests import request_lines
from conformance.transport.options import add_request_options
from conformance.verdicts import Result, RunInfo, fails_run

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, so the same cleanup as Ctrl-C writes the partial report.

    A KeyboardInterrupt because asyncio re-raises only those (and SystemExit) from callbacks:
    any other BaseException raised inside the event loop is logged and swallowed.
    """


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}")
    return value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformance", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the check catalogue against a target and write reports")
    run.add_argument("--suite", type=Path, default=DEFAULT_CONTRACT, help="contract file (default: %(default)s)")
    run.add_argument("--target", default="reference",
                     help="reference (built-in server, default), live (the provider), or a target name/file")
    run.add_argument("--base-url", help="any compatible server, e.g. http://127.0.0.1:8080/v1")
    run.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    run.add_argument("--model", help="model id to request (default: the contract's)")
    run.add_argument("--report-dir", type=Path, help="where to write reports (default: reports/<timestamp>/)")
    run.add_argument("-k", dest="select", metavar="EXPR", help="only results whose id matches, as pytest -k")
    run.add_argument("--reference-fault", action="append", default=[], metavar="NAME",
                     help="break the built-in reference server on purpose (repeatable; see `conformance serve --list-faults`)")
    run.add_argument("--max-cost", type=float, metavar="USD",
                     help="refuse to start a run whose cost preview exceeds USD, and stop before crossing it")
    run.add_argument("--tier", choices=("smoke", "standard", "full"),
                     help="how much to run: smoke (every category on every endpoint once, at most 45 billed "
                          "messages), standard (default with --target live), full (default elsewhere)")
    run.add_argument("--concurrency", type=_at_least_one, metavar="N",
                     help="check cases in flight at once (default: the target profile's; reference 8, live 4, "
                          "llama.cpp 1; else 1); results stay in plan order")
    run.add_argument("--strict", action="store_true",
                     help="an inconclusive sampled verdict (too few samples to tell) fails the run")
    run.add_argument("--hypothesis-profile", metavar="NAME",
                     help="how the property checks draw requests (default: the tier's): smoke, live (standard), "
                          "ci (full), thorough")
    run.add_argument("--no-color", action="store_true", help="plain terminal output")
    add_request_options(run)

    serve = sub.add_parser("serve", help="serve the reference server (a local stand-in for the contract's model)")
    serve.add_argument("--suite", type=Path, default=DEFAULT_CONTRACT)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key-env", metavar="VAR", help="accept only the key in this environment variable")
    serve.add_argument("--fault", action="append", default=[], metavar="NAME", help="switch on a fault (repeatable)")
    serve.add_argument("--list-faults", action="store_true", help="print the fault catalogue and exit")
    serve.add_argument("--latency", default="", metavar="SPEC",
                       help='simulated latency in ms, e.g. "ttft=100,token=20,jitter=5" (default: none)')
    serve.add_argument("--max-body-bytes", type=int, default=None, metavar="N",
                       help="answer larger request bodies with 413 (default: 32 MiB, room for one maximal image)")

    matrix = sub.add_parser("matrix", help="checks × endpoints × targets from several runs' report.json")
    matrix.add_argument("reports", nargs="+", type=Path, help="report.json files (or run folders)")
    matrix.add_argument("--out", type=Path, default=Path("reports/matrix"),
                        help="output path without suffix: writes .md and .html (default: %(default)s)")

    rep = sub.add_parser("replay", help="send a failing case saved by a property check again; cases are saved in "
                                        "$CONFORMANCE_FAILURES_DIR (default reports/failures/)")
    rep.add_argument("file", type=Path)
    rep.add_argument("--suite", type=Path, default=DEFAULT_CONTRACT, help="contract file (default: %(default)s)")
    rep.add_argument("--target", default="reference", help="reference (default), live, or a target name/file")
    rep.add_argument("--base-url", help="any compatible server, e.g. http://127.0.0.1:8080/v1")
    rep.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    rep.add_argument("--model", help="model id to request (default: the target's or contract's)")
    rep.add_argument("--reference-fault", action="append", default=[], metavar="NAME",
                     help="break the built-in reference server on purpose (repeatable)")
    add_request_options(rep)

    sub.add_parser("checks", help="list the registered checks and the rule each enforces")

    val = sub.add_parser("validate", help="validate suite files (protocol, contract or target)")
    val.add_argument("files", nargs="+", type=Path)

    from conformance.llamacpp import add_target_parser
    add_target_parser(sub)  # `conformance target llamacpp up|down|status`

    from conformance.bench.cli import add_parser as add_bench_parser
    add_bench_parser(sub)  # `conformance bench ...`: options in conformance/bench/cli.py
    for command in sub.choices.values():
        # No abbreviations: `--api-key sk-...` must be an error, not --api-key-env set to the key.
        command.allow_abbrev = False
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "checks":
            return _checks()
        if args.command == "matrix":
            return _matrix(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "target":
            from conformance.llamacpp import run_target_command
            return run_target_command(args.name, args.action)
        if args.command == "replay":
            from conformance.replay import replay
            from conformance.session import SessionOptions, resolve
            return replay(args.file, suite=args.suite, settings=resolve(SessionOptions.from_namespace(args)))
        return _validate(args)
    except ConformanceError as exc:
        print(f"conformance: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_SETUP
    except Exception as exc:  # a harness bug: one line for the user, the traceback on request
        if os.environ.get("CONFORMANCE_DEBUG"):
            raise
        print(f"conformance: internal error: {type(exc).__name__}: {redact(str(exc))} "
              "(CONFORMANCE_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_SETUP


def _bench(args: argparse.Namespace) -> int:
    """`conformance bench`: Ctrl-C and SIGTERM both stop the load, keep the samples so far and
    write the partial report (`conformance.bench.runner.bench`); the exit code tells them apart."""
    from conformance.bench.cli import run as run_bench

    signals: list[int] = []

    def on_sigterm(signum: int, frame: object) -> None:
        signals.append(signum)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    quiet = _CancelledAfterInterrupt()
    logging.getLogger("asyncio").addFilter(quiet)
    try:
        return run_bench(args)
    except KeyboardInterrupt:
        # The load generator re-raises a plain KeyboardInterrupt, so SIGTERM is told by the record.
        return EXIT_TERMINATED if signals else EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        logging.getLogger("asyncio").removeFilter(quiet)


class _CancelledAfterInterrupt(logging.Filter):
    """Drops asyncio's "exception was never retrieved" for a CancelledError: after Ctrl-C or SIGTERM
    the load's in-flight requests are cancelled on purpose, and the traceback asyncio would print
    for each leftover future says nothing but that."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, asyncio.CancelledError) and "never retrieved" in str(record.msg))


def _validate(args: argparse.Namespace) -> int:
    for path in args.files:
        kind = validate(load_document(path))
        if kind == "contract":
            load_contract(path)  # semantic rules and layering too
        print(f"{path}: valid {kind}")
    return EXIT_OK


def _matrix(args: argparse.Namespace) -> int:
    from conformance.report.atomic import write_atomic
    from conformance.report.matrix import load, render_html, render_markdown

    paths = [p / "report.json" if p.is_dir() else p for p in args.reports]
    m = load(paths)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out.with_suffix(".md"), render_markdown(m))
    write_atomic(args.out.with_suffix(".html"), render_html(m))
    print(f"matrix: {args.out.with_suffix('.md')} and {args.out.with_suffix('.html')}")
    return EXIT_OK


def _checks() -> int:
    from conformance.checks import REGISTRY

    for spec in REGISTRY.values():
        print(f"{spec.name:24} [{spec.category}] {spec.rule}")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from conformance import secrets
    from conformance.server.app import create_app
    from conformance.server.faults import CATALOGUE, Faults
    from conformance.server.latency import LatencyModel
    from conformance.server.running import KEEP_ALIVE_TIMEOUT_S

    if args.list_faults:
        for name, line in CATALOGUE.items():
            print(f"{name:32} {line}")
        return EXIT_OK
    contract = load_contract(args.suite)
    key = secrets.from_env(args.api_key_env, required=True) if args.api_key_env else None
    try:
        faults = Faults.parse(args.fault)
        latency = LatencyModel.parse(args.latency)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    if key is None:
        print("conformance serve: no key configured (--api-key-env); accepting any Bearer key", file=sys.stderr)
    if args.max_body_bytes is not None and args.max_body_bytes < 1:
        raise SetupError(f"--max-body-bytes must be at least 1, got {args.max_body_bytes}")
    limit = {} if args.max_body_bytes is None else {"max_body_bytes": args.max_body_bytes}
    app = create_app(contract, api_key=key.reveal() if key else None, faults=faults, latency=latency, **limit)
    print(f"conformance serve: {contract.model} on http://{args.host}:{args.port}/v1", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from conformance.billing import preview
    from conformance.report import default_run_dir, update_latest, write_reports
    from conformance.report.terminal import render_terminal
    from conformance.runner import expected_estimate, plan, request_estimate, run_plan
    from conformance.selection import compile_selection
    from conformance.session import SessionOptions, open_session, resolve
    from conformance.transport.client import Client
    from conformance.transport.tally import tally

    contract = load_contract(args.suite)
    settings = resolve(SessionOptions.from_namespace(args))
    clients: list[Client] = []
    selected = compile_selection(args.select)
    reports_root = Path("reports")
    run_dir = args.report_dir or default_run_dir(reports_root)
    color = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    results: list[Result] = []
    info = RunInfo(started_at=_now(), contract=contract.name, model=args.model or contract.model,
                   target=settings.target_label, base_url="", suite_file=str(args.suite), selection=args.select,
                   assumptions=[{"where": a.where, "text": a.text} for a in contract.assumptions],
                   settings=settings.describe())
    policy = settings.policy()

    def mark(result: Result) -> None:  # as each verdict is reached, in the order they finish
        print({"passed": ".", "failed": "F", "error": "E", "skipped": "s", "inconclusive": "?"}.get(
            result.status.value, "x"), end="", flush=True)

    async def go() -> None:
        with open_session(settings, contract) as session:
            info.base_url = session.endpoint.base_url
            meter = session.meter
            async with session.client() as client:
                clients.append(client)
                plans = plan(session.contract, client, selected, tier=settings.tier)
                # The preflight is one more billed message.
                cost = preview(request_estimate(plans, session.contract, policy) + 1,
                               expected_estimate(plans, session.contract, policy) + 1, contract.pricing)
                info.cost = {"currency": contract.pricing.currency, "preview_max_messages": cost.max_messages,
                             "preview_max_usd": cost.usd, "expected_messages": cost.expected_messages,
                             "expected_usd": cost.expected_usd, "max_cost": args.max_cost}
                free = settings.target.server == "reference" and not settings.external
                print(f"tier {settings.tier.name}, concurrency {settings.concurrency}; cost preview: "
                      f"{cost.line(contract.pricing.currency)}"
                      f"{' (the reference server charges nothing real)' if free else ''}")
                if args.max_cost is not None and cost.expected_usd > args.max_cost:
                    raise SetupError(f"expected cost {cost.expected_usd:.2f} {contract.pricing.currency} exceeds "
                                     f"--max-cost {args.max_cost:.2f}: take a smaller --tier, narrow the run "
                                     "with -k or raise the budget")
                try:
                    await session.preflight(client)
                    await run_plan(plans, results.append, policy, throttled=info.throttling.append, progress=mark)
                finally:
                    info.cost.update(billed_messages=meter.messages, spent_usd=meter.spent)

    def on_sigterm(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    code = EXIT_OK
    try:
        asyncio.run(go())
    except Terminated:
        info.interrupted, info.aborted, code = True, "terminated (SIGTERM)", EXIT_TERMINATED
    except KeyboardInterrupt:
        info.interrupted, info.aborted, code = True, "interrupted (Ctrl-C)", EXIT_INTERRUPTED
    except ConformanceError as exc:
        info.aborted, code = redact(str(exc)), EXIT_SETUP
    finally:
        signal.signal(signal.SIGTERM, previous)
        info.finished_at = _now()
        if results:
            print()
        requests = tally((s for c in clients for s in c.samples), settings.client)
        write_reports(run_dir, info, results, requests=requests)
        if args.report_dir is None:
            update_latest(reports_root, run_dir)
    print(render_terminal(info, results, color=color))
    for line in request_lines(requests):
        print(line)
    if "spent_usd" in info.cost:
        print(f"cost: {info.cost['billed_messages']} billed messages = {info.cost['spent_usd']:.2f} "
              f"{info.cost['currency']} (expected {info.cost['expected_messages']})")
    if info.aborted:
        print(f"conformance: error: {info.aborted}", file=sys.stderr)
    print(f"report: {run_dir / 'summary.md'} (also report.json, junit.xml)")
    if code == EXIT_OK and any(fails_run(r.status, strict=settings.strict) for r in results):
        code = EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
