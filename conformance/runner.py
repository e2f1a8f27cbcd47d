"""Runs the check catalogue against one target: check × endpoint × case → `Result`."""
from __future__ import annotations

import asyncio
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from conformance.billing import BudgetExceeded
from conformance.checks import REGISTRY, CheckFailed, CheckSkipped, CheckSpec
from conformance.checks.probe import Probe, Unreachable
from conformance.errors import SetupError, TransportError
from conformance.protocols import wire_protocols
from conformance.secrets import redact
from conformance.stats import Outcome, decided, rate_verdict, sampling_confidence, sampling_rule
from conformance.selection import Matcher
from conformance.suite.model import Contract, Divergence, RateOverride, SamplingRule
from conformance.tiers import Tier
from conformance.transport.client import Client, Exchange, request_label
from conformance.transport.limiter import Limiter
from conformance.verdicts import Result, Status

EXCERPT_CHARS = 1200


@dataclass
class Plan:
    """One check on one endpoint, with the cases it expands to (or why it cannot run)."""

    spec: CheckSpec
    endpoint: str
    probe: Probe | None
    skip_reason: str | None = None


@dataclass(frozen=True)
class RunPolicy:
    """How the session says the plan runs: known divergences, rates, samples and concurrency."""

    divergences: tuple[Divergence, ...] = ()
    rates: tuple[RateOverride, ...] = ()  # the target's own rates for sampled checks
    sample_cap: int | None = None  # the tier's cap on samples per sampled case
    gate_latency: bool = True  # False: latency checks report their figures and do not gate
    concurrency: int = 1  # requests in flight at once, at most
    per_endpoint: int | None = None  # in flight on one endpoint at most (None: `concurrency`)


def _excerpt(value: Any) -> Any:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else (
        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))
    text = redact(text)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + f"... ({len(text)} chars)"


def _response_excerpt(exchange: Exchange) -> dict[str, Any]:
    out: dict[str, Any] = {"status": exchange.status, "content_type": exchange.content_type}
    if exchange.error:
        out["error"] = redact(str(exchange.error))
    if exchange.events:
        datas = [e.event.data for e in exchange.events]
        shown = datas if len(datas) <= 8 else datas[:5] + [f"... {len(datas) - 8} events ..."] + datas[-3:]
        out["events"] = [_excerpt(d) for d in shown]
    elif exchange.body:
        out["body"] = _excerpt(exchange.body)
    return out


def plan(contract: Contract, client: Client, selected: Matcher,
         tier: Tier | None = None) -> list[tuple[Plan, list]]:
    """Every check on every endpoint with its selected cases. A tier that does not run every case
    keeps each check's smoke cases among the selected ones; one that shares answers
    (`Tier.share_answers`) sends the checks' requests through `SharedAnswers`."""
    if tier is not None and tier.share_answers:
        client = SharedAnswers(client)  # type: ignore[assignment]  (it answers as a Client does)
    wires = wire_protocols(contract)
    plans: list[tuple[Plan, list]] = []
    for spec in REGISTRY.values():
        for endpoint in contract.endpoints:
            wire = wires.get(endpoint)
            if wire is None:
                p = Plan(spec, endpoint, None, f"the harness does not speak {endpoint} yet")
                cases = [None] if selected(f"{spec.name}[{endpoint}]") else []
            else:
                p = Plan(spec, endpoint, Probe(contract, wire, client))
                cases = [c for c in spec.cases_for(p.probe)
                         if selected(f"{spec.name}[{endpoint}{'-' + c.id if c.id else ''}]")]
                if tier is not None and not tier.every_case:
                    cases = spec.smoke_cases(cases)
            if cases:
                plans.append((p, cases))
    return plans


def case_samples(spec: CheckSpec, endpoint: str, case: Any, contract: Contract, policy: RunPolicy = RunPolicy()) -> int:
    """How many times the runner runs one case: once, or its sampling rule's samples (`case_rule`,
    capped by the tier). A sampled case stopping early at a failure costs less, never more."""
    rule = case_rule(spec, endpoint, getattr(case, "id", "") or "", contract, policy)
    return rule.samples if rule is not None else 1


def _capped(spec: CheckSpec, per_case: int, policy: RunPolicy) -> int:
    """A check that draws its own samples (`CheckSpec.draws_samples`) takes at most the tier's cap."""
    if spec.draws_samples and policy.sample_cap is not None:
        return min(per_case, max(1, policy.sample_cap))
    return per_case


def request_estimate(plans: list[tuple[Plan, list]], contract: Contract, policy: RunPolicy = RunPolicy()) -> int:
    """An upper bound of the requests the plan sends (skipped endpoints send none): every
    request of every case and sample, property searches shrinking to their budget."""
    return sum(_capped(p.spec, p.spec.requests_per_case(contract), policy)
               * case_samples(p.spec, p.endpoint, case, contract, policy)
               for p, cases in plans if p.probe is not None for case in cases)


def expected_estimate(plans: list[tuple[Plan, list]], contract: Contract, policy: RunPolicy = RunPolicy()) -> int:
    """The billed messages the plan is expected to cost: per case, the requests its check expects
    to succeed (`CheckSpec.billed`: rejected requests are not billed, property searches do not
    shrink), times its samples. Where the plan shares answers, each answer a check `shares` is
    billed once per endpoint."""
    total = 0
    shared: dict[tuple[str, str], int] = {}
    for p, cases in plans:
        if p.probe is None:
            continue
        sharing = isinstance(p.probe.client, SharedAnswers)
        for case in cases:
            samples = case_samples(p.spec, p.endpoint, case, contract, policy)
            total += _capped(p.spec, p.spec.billed_per_case(contract, case), policy) * samples
            for name in p.spec.shares if sharing else ():
                shared[(p.endpoint, name)] = shared.get((p.endpoint, name), 0) + 1
    return max(0, total - sum(n - 1 for n in shared.values()))


class SharedAnswers:
    """A client through which checks share answers: a request identical to one another check has
    already had answered (same endpoint, body and streaming) takes that answer instead of being
    sent and billed again. A check's own repeats (seed_reproducible's k requests, a control sent
    twice) are still sent: each check takes a shared answer once. Only complete 2xx answers are
    shared, and only plain sends (no other key, no early hang-up, no raw bytes). Everything else
    (`samples`, `api_key`, the meter) is the wrapped client's."""

    def __init__(self, client: Client):
        self.client = client
        self._answers: dict[str, Exchange] = {}
        self._takers: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    async def send(self, protocol: Any, body: Any, *, stream: bool = False, **options: Any) -> Exchange:
        if isinstance(body, (bytes, bytearray)) or any(k != "is_content" for k in options):
            return await self.client.send(protocol, body, stream=stream, **options)
        key = json.dumps([protocol.name, stream, body], sort_keys=True, default=repr)
        taker = request_label.get()
        async with self._locks.setdefault(key, asyncio.Lock()):  # one identical request at a time
            takers = self._takers.setdefault(key, set())
            answer = self._answers.get(key)
            if answer is not None and taker not in takers:
                takers.add(taker)
                return answer
            exchange = await self.client.send(protocol, body, stream=stream, **options)
            if answer is None and exchange.billed and not exchange.cut_short:
                self._answers[key] = exchange
                takers.add(taker)
            return exchange


async def run_plan(plans: list[tuple[Plan, list]], on_result: Callable[[Result], None],
                   policy: RunPolicy = RunPolicy(), *,
                   throttled: Callable[[dict[str, Any]], None] | None = None,
                   progress: Callable[[Result], None] | None = None) -> None:
    """Run everything, calling `on_result` with each verdict in plan order (reports stay current).

    With `policy.concurrency` above one, the cases run concurrently in two phases: first every
    case whose check is not `isolated`, at most `concurrency` at once and `per_endpoint` on one
    endpoint, started in plan order (an endpoint at its limit lets the next one's cases go
    first); then, once all of those have finished, the isolated ones one at a time. Results are
    held back until all before them are in, so the report is that of a sequential run but for
    timings. The client's `Limiter` takes the requests' concurrency down on a 429 and back up;
    each of its events goes to `throttled` (the report's `run.throttling`). If a case raises
    (spent budget, unreachable target, Ctrl-C) the others are cancelled, every result reached
    is delivered, in plan order, and the exception goes on. `progress` sees each verdict as soon
    as it is reached, in the order they finish (a live progress line does not stall behind a
    result held for the isolated phase).
    """
    if policy.concurrency <= 1:
        for p, cases in plans:
            for case in cases:
                result = apply_divergences(await _run_one(p, case, policy), policy.divergences)
                if progress is not None:
                    progress(result)
                on_result(result)
        return
    work = [(p, case) for p, cases in plans for case in cases]
    ordered = _InOrder(on_result, policy.divergences, progress)
    with _limiting([p.probe.client for p, _ in plans if p.probe is not None], policy.concurrency, throttled):
        try:
            common = [i for i, (p, _) in enumerate(work) if not p.spec.isolated]
            await _run_phase(work, common, ordered, policy, policy.concurrency,
                             policy.per_endpoint or policy.concurrency)
            await _run_phase(work, [i for i, (p, _) in enumerate(work) if p.spec.isolated], ordered, policy, 1, 1)
        finally:
            ordered.flush()


class _InOrder:
    """Delivers results in plan order however they finish: each waits for all before it."""

    def __init__(self, on_result: Callable[[Result], None], divergences: tuple[Divergence, ...],
                 progress: Callable[[Result], None] | None = None):
        self.on_result = on_result
        self.divergences = divergences
        self.progress = progress
        self.held: dict[int, Result] = {}
        self.next = 0

    def put(self, index: int, result: Result) -> None:
        self.held[index] = apply_divergences(result, self.divergences)
        if self.progress is not None:
            self.progress(self.held[index])
        while self.next in self.held:
            self.on_result(self.held.pop(self.next))
            self.next += 1

    def flush(self) -> None:
        """The run stopped: what was reached goes out too, still in plan order, gaps and all."""
        for index in sorted(self.held):
            self.on_result(self.held.pop(index))


async def _run_phase(work: list[tuple[Plan, Any]], indexes: list[int], ordered: _InOrder, policy: RunPolicy,
                     limit: int, per_endpoint: int) -> None:
    """Run `work[i]` for each of `indexes`: at most `limit` at once, `per_endpoint` on one
    endpoint, each started as early in plan order as those limits allow."""
    queues: dict[str, list[int]] = {}  # endpoint → its indexes not yet started, in plan order
    for i in reversed(indexes):
        queues.setdefault(work[i][0].endpoint, []).append(i)  # reversed: pop() takes the earliest
    running: dict[asyncio.Task[Result], int] = {}
    busy: dict[str, int] = {}
    failure: BaseException | None = None
    try:
        while queues or running:
            while len(running) < limit:
                ready = [e for e, q in queues.items() if busy.get(e, 0) < per_endpoint]
                if not ready:
                    break
                endpoint = min(ready, key=lambda e: queues[e][-1])
                i = queues[endpoint].pop()
                if not queues[endpoint]:
                    del queues[endpoint]
                running[asyncio.create_task(_run_one(*work[i], policy))] = i
                busy[endpoint] = busy.get(endpoint, 0) + 1
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=running.__getitem__):
                i = running.pop(task)
                busy[work[i][0].endpoint] -= 1
                if task.cancelled() or task.exception() is not None:
                    failure = failure or (asyncio.CancelledError() if task.cancelled() else task.exception())
                else:
                    ordered.put(i, task.result())
            if failure is not None:
                raise failure
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for task, i in sorted(running.items(), key=lambda item: item[1]):
            if not task.cancelled() and task.exception() is None:  # finished while being cancelled
                ordered.put(i, task.result())


@contextmanager
def _limiting(clients: list[Client], concurrency: int,
              on_event: Callable[[dict[str, Any]], None] | None) -> Iterator[None]:
    """Each client of the plan gets an adaptive limiter for the run (`Client.limiter`)."""
    def real(client: Any) -> Client:  # a wrapper (such as `SharedAnswers`) sends through `.client`
        while not isinstance(client, Client) and hasattr(client, "client"):
            client = client.client
        return client

    distinct = list({id(real(c)): real(c) for c in clients}.values())
    previous = [c.limiter for c in distinct]
    for client in distinct:
        client.limiter = Limiter(concurrency, on_event=on_event)
    try:
        yield
    finally:
        for client, limiter in zip(distinct, previous):
            client.limiter = limiter


def apply_divergences(result: Result, divergences: tuple[Divergence, ...]) -> Result:
    """Strict expected failures: a known divergence that occurs is xfailed, one that no longer
    occurs is xpassed (and fails the run), so both a new and a fixed divergence are reported.
    A behaviour that diverges only by chance is not a divergence but a rate (`RunPolicy.rates`)."""
    known = next((d for d in divergences if d.matches(result.check, result.endpoint, result.case)), None)
    if known is None or result.status is Status.SKIPPED:
        return result
    if result.status is Status.PASSED:
        result.status, result.message = Status.XPASSED, f"expected divergence did not occur: {known.reason}"
    else:
        result.status, result.message = Status.XFAILED, f"expected divergence ({known.reason}): {result.message}"
    return result


def case_rule(spec: CheckSpec, endpoint: str, case_id: str, contract: Contract,
              policy: RunPolicy = RunPolicy()) -> SamplingRule | None:
    """The sampling rule of one case, or None where it runs once and concludes as it always did.

    The target's rate override that matches (check, endpoint, case), its rate and samples in
    place of the contract's; else, for a `sampled` check, the contract's
    `expectations.sampling.<check>`. An override samples any check (a small model's chance
    failure of a stream or a round trip gets a rate). The tier caps the samples
    (`policy.sample_cap`); the confidence is the contract's (`expectations.sampling.confidence`).
    """
    override = next((r for r in policy.rates if r.matches(spec.name, endpoint, case_id)), None)
    base = sampling_rule(contract.expectations, spec.name) if spec.sampled else None
    if override is None and base is None:
        return None
    samples = (override.samples if override and override.samples else None) or (base.samples if base else 1)
    rate = override.rate if override and override.rate is not None else (base.rate if base else 1.0)
    if policy.sample_cap is not None:
        samples = min(samples, policy.sample_cap)
    return SamplingRule(max(1, samples), rate, sampling_confidence(contract.expectations))


async def _run_one(p: Plan, case: Any, policy: RunPolicy = RunPolicy()) -> Result:
    """One case's verdict: the check run once, or, under a sampling rule (`case_rule`), once per
    sample with the pass rate judged by `stats.rate_verdict` (passed, failed or inconclusive)."""
    spec = p.spec
    result = Result(check=spec.name, endpoint=p.endpoint, case=getattr(case, "id", "") or "",
                    status=Status.PASSED, category=spec.category, rule=spec.rule)
    if p.probe is None:
        result.status, result.message = Status.SKIPPED, p.skip_reason or ""
        return result
    rule = case_rule(spec, p.endpoint, result.case, p.probe.contract, policy)
    started = time.perf_counter()
    label = request_label.set(result.id)  # the request log says which check each request was for
    try:
        if rule is None:
            result.status, result.message, probe, outcome = await _attempt(p, case, policy, 0)
            if outcome is not None:
                result.samples, result.rate = outcome.samples, outcome.rate
                result.ci_low, result.ci_high = outcome.ci_low, outcome.ci_high
        else:
            probe = await _sampled(p, case, policy, rule, result)
    finally:
        request_label.reset(label)
    result.duration_ms = (time.perf_counter() - started) * 1000
    if spec.category == "latency" and not policy.gate_latency and result.status in (
            Status.PASSED, Status.FAILED, Status.INCONCLUSIVE):
        verdict, result.status = result.status, Status.PASSED
        result.message = (f"not gated: the target's timings say nothing about the contract (gate_latency: "
                          f"false; the verdict would be {verdict.value}): {result.message}")
    if probe.exchanges:
        last = probe.exchanges[-1]
        result.request = _excerpt(last.request_body)
        result.response = _response_excerpt(last)
        result.timings = last.timings.as_dict()
    return result


async def _attempt(p: Plan, case: Any, policy: RunPolicy, sample: int) -> tuple[Status, str, Probe, Outcome | None]:
    """Run the check once, as sample `sample`, on a fresh probe (its own exchange log and seed).

    Returning is a pass, unless the check returns its own `Outcome`; `CheckFailed` a failure,
    `CheckSkipped` a skip, a transport error or a harness bug an error. An unreachable target or
    a spent budget ends the run."""
    spec = p.spec
    probe = Probe(p.probe.contract, p.probe.wire, p.probe.client, sample=sample, sample_cap=policy.sample_cap)
    try:
        value = await (spec.func(probe, case) if spec.cases else spec.func(probe))
    except CheckFailed as exc:
        return Status.FAILED, redact(str(exc)), probe, None
    except CheckSkipped as exc:
        return Status.SKIPPED, redact(str(exc)), probe, None
    except (Unreachable, BudgetExceeded):
        raise
    except (TransportError, SetupError) as exc:
        return Status.ERROR, redact(str(exc)), probe, None
    except Exception as exc:  # a harness bug must not end the run: record it and go on
        return Status.ERROR, redact(f"{type(exc).__name__} in check: {exc}"), probe, None
    if isinstance(value, Outcome):
        return value.status, redact(value.message), probe, value
    return Status.PASSED, "", probe, None


async def _sampled(p: Plan, case: Any, policy: RunPolicy, rule: SamplingRule, result: Result) -> Probe:
    """Draw up to `rule.samples` samples and conclude from the pass rate (`stats.rate_verdict`).

    Stops early once the samples left can no longer change a pass or a failure (`stats.decided`:
    with rate 1.0, at the first failing sample). A skipped sample skips the result, an erring
    one makes it an error. Returns the probe whose exchange the report shows: the first failing
    sample's, else the last."""
    successes = drawn = 0
    failure: tuple[str, Probe] | None = None
    for sample in range(rule.samples):
        status, message, probe, _ = await _attempt(p, case, policy, sample)
        drawn += 1
        if status in (Status.SKIPPED, Status.ERROR):
            prefix = f"sample {sample + 1} of {rule.samples}: " if status is Status.ERROR and rule.samples > 1 else ""
            result.status, result.message = status, prefix + message
            return probe
        if status is Status.PASSED:
            successes += 1
        elif failure is None:
            failure = (message or status.value, probe)
        if decided(successes, drawn, rule.samples, rule.rate, rule.confidence):
            break
    verdict = rate_verdict(successes, drawn, rule.rate, rule.confidence)
    result.status = verdict.status
    result.samples, result.rate = drawn, round(verdict.rate, 6)
    result.ci_low, result.ci_high = round(verdict.ci_low, 6), round(verdict.ci_high, 6)
    result.message = verdict.describe() + (f": {failure[0]}" if failure else "")
    return failure[1] if failure else probe


async def preflight(contract: Contract, client: Client) -> None:
    """One small request before the catalogue, so a dead target or a bad key is one clear line."""
    wires = wire_protocols(contract)
    if not wires:
        raise SetupError("the contract lists no endpoint this harness speaks")
    wire = next(iter(wires.values()))
    probe = Probe(contract, wire, client)
    try:
        exchange = await probe.send(probe.request())
    except Unreachable as exc:
        raise SetupError(f"cannot reach the target: {exc}") from None
    if exchange.error:
        raise SetupError(f"the target did not answer: {exchange.url}: {exchange.error}")
    if exchange.status in (401, 403):
        raise SetupError(f"the target rejected the API key ({exchange.status} from {exchange.url})")
