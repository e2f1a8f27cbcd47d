"""Usage accounting: counts that add up and agree between stream and non-stream."""
from __future__ import annotations

from conformance.checks.failures import CheckFailed, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import check


@check(category="usage", requests=2, shares=("seeded", "seeded-stream"))
async def usage_consistent(probe: Probe) -> None:
    """Usage is reported and adds up, the stream reports the same counts as the non-stream answer, and every streamed content event carries at least one counted token (billing per message relies on it)."""
    whole = await probe.answer(probe.request(seed=SEED))
    streamed = await probe.answer(probe.request(seed=SEED, stream=True, include_usage=True))
    content_events = sum(1 for e in probe.exchanges[-1].events if probe.wire.is_content(e.event))
    problems = []
    for what, reply in (("non-stream", whole), ("stream", streamed)):
        u = reply.usage
        if u is None or u.input_tokens is None or u.output_tokens is None:
            raise CheckFailed(f"{what}: no usage with input and output token counts")
        if u.total_tokens is not None and u.total_tokens != u.input_tokens + u.output_tokens:
            problems.append(f"{what}: total {u.total_tokens} != input {u.input_tokens} + output {u.output_tokens}")
        if u.reasoning_tokens is not None and u.reasoning_tokens > u.output_tokens:
            problems.append(f"{what}: {u.reasoning_tokens} reasoning tokens exceed {u.output_tokens} output tokens")
    a, b = whole.usage, streamed.usage
    if (a.input_tokens, a.output_tokens) != (b.input_tokens, b.output_tokens):
        problems.append(f"stream usage (input {b.input_tokens}, output {b.output_tokens}) differs from non-stream "
                        f"(input {a.input_tokens}, output {a.output_tokens}) under one seed")
    if content_events > b.output_tokens:
        problems.append(f"{content_events} streamed content events but only {b.output_tokens} output tokens counted")
    fail_if(problems)
