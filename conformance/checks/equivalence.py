"""Equivalences under a seed: one answer, whichever way it is delivered."""
from __future__ import annotations

from conformance.checks.failures import CheckFailed, CheckSkipped, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import check
from conformance.protocols import wire_protocols
from conformance.protocols.base import Reply


def differences(a: Reply, b: Reply, probe: Probe, what_a: str, what_b: str) -> list[str]:
    """How two replies that should be the same answer differ (text, reasoning, finish)."""
    out = []
    if a.text != b.text:
        out.append(f"text differs: {what_a} {a.text[:80]!r} vs {what_b} {b.text[:80]!r}")
    if a.reasoning != b.reasoning:
        out.append(f"reasoning differs: {what_a} {a.reasoning[:60]!r} vs {what_b} {b.reasoning[:60]!r}")
    if probe.wire.finish_kind(a) != probe.wire.finish_kind(b):
        out.append(f"finish differs: {what_a} {a.finish_reason!r} vs {what_b} {b.finish_reason!r}")
    return out


@check(category="equivalence", requests=2, shares=("seeded", "seeded-stream"))
async def stream_matches_nonstream(probe: Probe) -> None:
    """Under one seed, the stream spells out the same answer as the non-stream response (seed control; WIRE F.1 "reconstructed message equals non-stream semantics").

    Text, reasoning, finish reason and output token counts must agree.
    """
    probe.require("seed")
    whole = await probe.answer(probe.request(seed=SEED))
    streamed = await probe.answer(probe.request(seed=SEED, stream=True, include_usage=True))
    problems = differences(whole, streamed, probe, "non-stream", "stream")
    if whole.usage and streamed.usage and whole.usage.output_tokens != streamed.usage.output_tokens:
        problems.append(f"output tokens differ: non-stream {whole.usage.output_tokens} vs stream "
                        f"{streamed.usage.output_tokens}")
    fail_if(problems)


@check(category="equivalence", requests=2, sampled=True, smoke=0)  # smoke: stream_matches_nonstream covers equivalence
async def same_answer_across_endpoints(probe: Probe) -> None:
    """Under one seed, an endpoint gives the same answer as the contract's first endpoint to the same request (where the suite promises it: `expectations.same_answer_across_endpoints`)."""
    if "same_answer_across_endpoints" not in probe.contract.expectations:
        raise CheckSkipped("the suite does not promise the same answer on every endpoint")
    probe.require("seed")
    first = next(iter(probe.contract.endpoints))
    if probe.endpoint == first:
        raise CheckSkipped(f"{first} is the endpoint the others are compared with")
    reference = Probe(probe.contract, wire_protocols(probe.contract)[first], probe.client, sample=probe.sample)
    params = {"seed": probe.seed}
    if probe.supports("enable_thinking") and reference.supports("enable_thinking"):
        params["enable_thinking"] = False  # reasoning channels differ in shape between protocols
    theirs = await reference.answer(reference.request(**params))
    probe.exchanges.extend(reference.exchanges)
    ours = await probe.answer(probe.request(**params))
    if ours.text != theirs.text:
        raise CheckFailed(f"{probe.endpoint} answered {ours.text[:80]!r}, {first} answered {theirs.text[:80]!r}")
