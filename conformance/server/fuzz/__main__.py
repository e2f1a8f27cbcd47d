"""The long fuzz run: hostile requests against `conformance serve` in its own process, over real HTTP.

    python -m conformance.server.fuzz --requests 10000 --out reports/fuzz

First every named case (`hostile.named_cases`), then hypothesis-drawn ones until `--requests`
were sent, one at a time (throughput is not the point; every answer is judged). Writes
``fuzz.json`` and ``fuzz.md`` to `--out`: requests sent, status histogram, 5xx seen, answers in
the wrong shape, requests that got no answer (a timeout is a hang), server tracebacks, the
server's resident memory over the run and its peak, wall time. Exit status 0 only when every
answer was a 2xx/3xx or a 4xx in the protocol's error shape and the server is still up.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings

from conformance.server.child import ServerProcess, spawn_server
from conformance.server.figures import write_figures
from conformance.server.fuzz.hostile import (
    HostileRequest,
    hostile_requests,
    named_cases,
)
from conformance.server.fuzz.judge import Judge
from conformance.server.fuzz.send import send
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

_MIB = 1024 * 1024
_KEPT_FAILURES = 50
_RSS_EVERY = 500


@dataclass
class Tally:
    sent: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: int = 0
    no_answer: int = 0
    examples: list[str] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    slowest_s: float = 0.0


def _run(server: ServerProcess, judge: Judge, requests: int, seed_value: int, timeout_s: float) -> Tally:
    tally = Tally()
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(base_url=server.origin, timeout=timeout_s)

    def one(request: HostileRequest) -> None:
        started = time.monotonic()
        answer = loop.run_until_complete(send(client, request))
        tally.slowest_s = max(tally.slowest_s, time.monotonic() - started)
        tally.sent += 1
        shown = str(answer.status) if answer.status is not None else "no answer"
        tally.statuses[shown] += 1
        tally.kinds[request.kind.split("/")[0]] += 1
        problems = judge.problems(request.method, request.path, answer)
        if problems:
            tally.failures += 1
            tally.no_answer += answer.status is None
            if len(tally.examples) < _KEPT_FAILURES:
                tally.examples.append(f"{request.describe()[:300]} -> {shown} {answer.body[:200]!r}: {problems}")
        if tally.sent % _RSS_EVERY == 0:
            tally.rss_mib.append(round((server.rss_bytes() or 0) / _MIB, 1))
            print(f"fuzz: {tally.sent}/{requests} sent, {tally.failures} failures", file=sys.stderr, flush=True)

    try:
        for request in named_cases(judge.contract.model)[:requests]:
            one(request)
        while tally.sent < requests:
            @seed(seed_value + tally.sent)
            @settings(max_examples=requests - tally.sent, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(hostile_requests(judge.contract.model))
            def draw(request: HostileRequest) -> None:
                if tally.sent < requests:
                    one(request)

            draw()
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.server.fuzz", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("reports/fuzz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one answer may take (a hang otherwise)")
    args = parser.parse_args(argv)

    contract = load_contract(DEFAULT_CONTRACT)
    started = time.monotonic()
    with spawn_server(args.out / "server.log") as server:
        tally = _run(server, Judge(contract), args.requests, args.seed, args.timeout)
        alive = server.alive() and httpx.get(f"{server.base_url}/models", timeout=5).status_code == 200
        peak = server.peak_rss_bytes()
        tracebacks = server.tracebacks()
    wall = time.monotonic() - started
    five_xx = sum(n for status, n in tally.statuses.items() if status.isdigit() and int(status) >= 500)
    figures = {
        "command": f"python -m conformance.server.fuzz --requests {args.requests} --seed {args.seed}",
        "requests_sent": tally.sent,
        "status_histogram": dict(sorted(tally.statuses.items())),
        "families": dict(sorted(tally.kinds.items())),
        "5xx_seen": five_xx,
        "wrong_shape_or_no_answer": tally.failures,
        "no_answer": tally.no_answer,
        "server_tracebacks": tracebacks,
        "server_alive_after": alive,
        "server_peak_rss_mib": round((peak or 0) / _MIB, 1),
        "server_rss_mib_every_500": tally.rss_mib,
        "slowest_answer_s": round(tally.slowest_s, 3),
        "wall_time_s": round(wall, 1),
        "failures": tally.examples,
    }
    _, as_md = write_figures(args.out, "fuzz", "Fuzzing the reference server", figures)
    print(f"fuzz: {tally.sent} requests, {five_xx} 5xx, {tally.failures} failures, peak RSS "
          f"{figures['server_peak_rss_mib']} MiB, {wall:.0f} s; figures in {as_md}", file=sys.stderr)
    return 0 if tally.failures == 0 and alive and tracebacks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
