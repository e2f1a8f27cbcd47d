"""Soak: many concurrent exchanges of every kind against one server, then the ledger must be exact.

The mix (`SCENARIOS`, dealt round-robin over the three endpoints, stream and non-stream):

* ``ok``: a valid request, read to the end: a successful message.
* ``bent``: a valid request with per-request faults that bend the answer but still complete it
  (wrong usage total, a dropped token, a stream without its terminator): still a successful
  message. Billing is about delivery, not about correctness.
* ``crash``: a valid request with ``crash_on_combination:temperature+seed``: a deliberate 500,
  never billed.
* ``invalid``: ``temperature`` 5, a 400, never billed.
* ``disconnect``: a stream the client abandons once it has read the response id.

What counts (the rule `conformance.server.billing` implements): a message is billed when the
server has made a non-stream answer, or has handed a stream's last frame to the connection.
A client that hangs up mid-stream, before the last frame went out, is not billed. So a client
observes a successful message exactly when it gets a 2xx whose body it read to the end, and the
ledger must hold exactly those response ids, once each, at the contract's price each. A stream
abandoned after its last frame was already written would be billed although the client did
not read it all; so the soak server waits a time to first token (`--latency ttft=MS`) after
the frame that carries the response id, and a client that hangs up on reading the id does so
long before the last frame could have gone out.

`python -m conformance.server.soak --requests 10000 --concurrency 256 --out reports/soak` runs
it against `conformance serve` in its own process and writes ``soak.json`` / ``soak.md``.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from conformance.server.fuzz.hostile import ENDPOINT_PATHS, valid_body

__all__ = ["DEFAULT_TTFT_MS", "SCENARIOS", "Job", "Outcome", "Reconciliation", "expected_status", "jobs", "reconcile",
           "run_jobs"]

SCENARIOS = ("ok", "ok", "bent", "crash", "invalid", "disconnect")
FAULTS_HEADER = "x-conformance-faults"
_BENT = "bad_usage_total,stream_drops_last_token,stream_no_done,responses_no_terminal,messages_no_message_stop"
_CRASH = "crash_on_combination:temperature+seed"
_TIMEOUT_S = 120.0
# Wide enough for a loaded machine: at 1.5 s, 256 streams on two busy cores let a few servers
# notice the hang-up only after the last frame had gone out (billed, correctly by the rule).
DEFAULT_TTFT_MS = 5000.0


@dataclass(frozen=True)
class Job:
    scenario: str
    endpoint: str
    stream: bool


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: int | None
    complete: bool  # the body was read to its end
    response_id: str | None
    error: str | None = None

    @property
    def successful(self) -> bool:
        """A successful message as the client sees it: a 2xx read to the end."""
        return self.status is not None and 200 <= self.status < 300 and self.complete


def jobs(count: int) -> list[Job]:
    """`count` jobs: every scenario on every endpoint, stream and not (disconnects stream by nature)."""
    endpoints = list(ENDPOINT_PATHS)
    out = []
    for i in range(count):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        endpoint = endpoints[(i // len(SCENARIOS)) % len(endpoints)]
        stream = scenario == "disconnect" or (i // (len(SCENARIOS) * len(endpoints))) % 2 == 1
        out.append(Job(scenario, endpoint, stream))
    return out


def _request(job: Job, model: str, n: int) -> tuple[dict[str, Any], dict[str, str]]:
    # Distinct prompts, so the answers (and their lengths) vary across jobs.
    body = valid_body(job.endpoint, model, stream=job.stream, text=f"Tell me about the number {n}.")
    headers: dict[str, str] = {}
    if job.scenario == "bent":
        headers[FAULTS_HEADER] = _BENT
    elif job.scenario == "crash":
        body.update(temperature=0.5, seed=n)
        headers[FAULTS_HEADER] = _CRASH
    elif job.scenario == "invalid":
        body["temperature"] = 5
    return body, headers


def _stream_id(endpoint: str, payload: dict[str, Any]) -> str | None:
    found = {"chat_completions": lambda p: p.get("id"),
             "responses": lambda p: (p.get("response") or {}).get("id"),
             "messages": lambda p: (p.get("message") or {}).get("id")}[endpoint](payload)
    return found if isinstance(found, str) else None


def _first_id(endpoint: str, text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("data: ") and line[6:].startswith("{"):
            try:
                return _stream_id(endpoint, json.loads(line[6:]))
            except ValueError:
                return None
    return None


async def _one(client: httpx.AsyncClient, job: Job, model: str, n: int) -> Outcome:
    body, headers = _request(job, model, n)
    path = ENDPOINT_PATHS[job.endpoint]
    try:
        if not job.stream:
            response = await client.post(path, json=body, headers=headers)
            parsed = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            return Outcome(job, response.status_code, True, parsed.get("id") if response.is_success else None)
        async with client.stream("POST", path, json=body, headers=headers) as response:
            text, response_id = "", None
            async for chunk in response.aiter_text():
                text += chunk
                response_id = response_id or _first_id(job.endpoint, text)
                if job.scenario == "disconnect" and response_id is not None:
                    # Leaving the block unread closes the connection: the client hangs up mid-stream.
                    return Outcome(job, response.status_code, False, response_id)
            return Outcome(job, response.status_code, True, response_id if response.is_success else None)
    except httpx.HTTPError as exc:
        return Outcome(job, None, False, None, f"{type(exc).__name__}: {exc}")


async def run_jobs(origin: str, work: list[Job], model: str, *, concurrency: int, first: int = 0) -> list[Outcome]:
    """Every job against the server at `origin`, at most `concurrency` in flight at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=origin, timeout=_TIMEOUT_S, limits=limits) as client:
        async def gated(job: Job, n: int) -> Outcome:
            async with gate:
                return await _one(client, job, model, n)

        return list(await asyncio.gather(*(gated(job, first + i) for i, job in enumerate(work))))


@dataclass(frozen=True)
class Reconciliation:
    """The client's successful messages against what the ledger billed over the same span."""

    successes: int
    billed: int
    total: Decimal
    expected_total: Decimal
    unbilled: tuple[str, ...]  # ids the client completed that the ledger lacks
    unexpected: tuple[str, ...]  # ids billed that no client completed
    double: tuple[str, ...]  # ids billed more than once

    @property
    def exact(self) -> bool:
        return (self.billed == self.successes and self.total == self.expected_total
                and not (self.unbilled or self.unexpected or self.double))


def reconcile(outcomes: list[Outcome], before: dict[str, Any], after: dict[str, Any], price: str) -> Reconciliation:
    """`before`/`after`: ``GET /v1/conformance/ledger`` bodies; the ledger only ever appends."""
    charges = after["charges"][len(before["charges"]):]
    billed_ids = collections.Counter(c["response_id"] for c in charges)
    completed = {o.response_id for o in outcomes if o.successful and o.response_id}
    successes = sum(o.successful for o in outcomes)
    total = Decimal(str(after["total"])) - Decimal(str(before["total"]))
    return Reconciliation(
        successes=successes, billed=len(charges), total=total, expected_total=Decimal(price) * successes,
        unbilled=tuple(sorted(completed - set(billed_ids))), unexpected=tuple(sorted(set(billed_ids) - completed)),
        double=tuple(sorted(i for i, n in billed_ids.items() if n > 1)))


def expected_status(job: Job) -> int:
    return {"crash": 500, "invalid": 400}.get(job.scenario, 200)


# ----------------------------------------------------------------------------- the long run


def _ledger(base_url: str) -> dict[str, Any]:
    return httpx.get(f"{base_url}/conformance/ledger", timeout=60).json()


def main(argv: list[str] | None = None) -> int:
    from conformance.server.child import spawn_server
    from conformance.server.figures import write_figures
    from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

    parser = argparse.ArgumentParser(prog="python -m conformance.server.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--ttft-ms", type=float, default=DEFAULT_TTFT_MS,
                        help="the server's time to first token, the window a disconnecting client hangs up in")
    parser.add_argument("--token-ms", type=float, default=1.0, help="the server's per-token pace (default: 1)")
    parser.add_argument("--out", type=Path, default=Path("reports/soak"))
    args = parser.parse_args(argv)

    contract = load_contract(DEFAULT_CONTRACT)
    price = str(contract.pricing.per_successful_message)
    started = time.monotonic()
    outcomes: list[Outcome] = []
    rss: list[float] = []
    latency = f"ttft={args.ttft_ms:g},token={args.token_ms:g}"
    with spawn_server(args.out / "server.log", "--latency", latency) as server:
        before = _ledger(server.base_url)
        work = jobs(args.requests)
        batch = args.concurrency * 8
        for first in range(0, len(work), batch):
            outcomes += asyncio.run(run_jobs(server.origin, work[first:first + batch], contract.model,
                                             concurrency=args.concurrency, first=first))
            rss.append(round((server.rss_bytes() or 0) / 2 ** 20, 1))
            print(f"soak: {len(outcomes)}/{len(work)}", file=sys.stderr, flush=True)
        after = _ledger(server.base_url)
        peak = server.peak_rss_bytes() or 0
        tracebacks = server.tracebacks()
    wall = time.monotonic() - started
    result = reconcile(outcomes, before, after, price)
    statuses = collections.Counter(str(o.status) for o in outcomes)
    off_plan = [o for o in outcomes if o.status != expected_status(o.job)]
    injected = sum(o.status == 500 and o.job.scenario == "crash" for o in outcomes)
    unexpected_5xx = sum(o.status is not None and o.status >= 500 and o.job.scenario != "crash" for o in outcomes)
    figures = {
        "command": f"python -m conformance.server.soak --requests {args.requests} --concurrency {args.concurrency} "
                   f"--ttft-ms {args.ttft_ms:g} --token-ms {args.token_ms:g}",
        "requests": len(outcomes), "concurrency": args.concurrency,
        "scenarios": dict(collections.Counter(o.job.scenario for o in outcomes)),
        "status_histogram": dict(sorted(statuses.items())),
        "5xx_unexpected": unexpected_5xx, "5xx_injected_by_crash_fault": injected,
        "off_plan_answers": len(off_plan),
        "client_successes": result.successes, "ledger_messages_delta": result.billed,
        "ledger_total_delta": str(result.total), "expected_total": str(result.expected_total),
        "ledger_exact": result.exact, "unbilled_ids": len(result.unbilled),
        "billed_without_success": len(result.unexpected), "billed_twice": len(result.double),
        "server_tracebacks_besides_injected": tracebacks - injected,
        "server_peak_rss_mib": round(peak / 2 ** 20, 1), "server_rss_mib_per_batch": rss,
        "wall_time_s": round(wall, 1),
        "off_plan_examples": [f"{o.job} -> {o.status} {o.error or ''}" for o in off_plan[:20]],
    }
    _, as_md = write_figures(args.out, "soak", "Soak of the reference server", figures)
    print(f"soak: {len(outcomes)} requests, {unexpected_5xx} unexpected 5xx, ledger exact: {result.exact}, "
          f"peak RSS {figures['server_peak_rss_mib']} MiB, {wall:.0f} s; figures in {as_md}", file=sys.stderr)
    return 0 if result.exact and unexpected_5xx == 0 and not off_plan else 1


if __name__ == "__main__":
    sys.exit(main())
