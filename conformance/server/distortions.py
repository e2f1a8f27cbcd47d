"""Faults that bend a finished `Generation`, the same way on every endpoint.

The generator stays faithful; a fault that breaks what the model says (rather than how a
protocol spells it) is applied here, between generation and the endpoint's wire format.
"""
from __future__ import annotations

import asyncio
import dataclasses

from conformance.server.faults import Faults
from conformance.server.generator import Generation, Token, TokenLogprob

# Gemma 4's thought channel as the raw template spells it (WIRE.md E.2).
_LEAK = Token("<|channel>thought\n<channel|>", -0.01)


def _positive(token: Token) -> Token:
    return dataclasses.replace(token, logprob=abs(token.logprob) + 0.5)


def _ascending(token: Token) -> Token:
    return dataclasses.replace(token, top_logprobs=tuple(sorted(token.top_logprobs, key=lambda a: a.logprob)))


def _one_more(token: Token) -> Token:
    extra = TokenLogprob(" extra", min((a.logprob for a in token.top_logprobs), default=0.0) - 1.0)
    return dataclasses.replace(token, top_logprobs=token.top_logprobs + (extra,))


def distort(generation: Generation, faults: Faults) -> Generation:
    """Apply the generation-level faults that are switched on; identity when none is."""
    g = generation
    if "length_as_stop" in faults and g.finish_reason == "length":
        g = dataclasses.replace(g, finish_reason="stop")
    if "stop_included" in faults and g.stop_sequence:
        g = dataclasses.replace(g, answer=g.answer + (Token(g.stop_sequence, -0.1),))
    if "leak_channel_markers" in faults:
        g = dataclasses.replace(g, answer=(_LEAK,) + g.answer)
    for name, bend in (("logprobs_positive", _positive), ("top_logprobs_unsorted", _ascending),
                       ("top_logprobs_extra", _one_more)):
        if name in faults:
            g = dataclasses.replace(g, answer=tuple(bend(t) for t in g.answer))
    return g


async def stall(faults: Faults) -> None:
    """`slow_first_token:MS`: hold the first byte of the answer back (the longest if given twice)."""
    delays = [int(ms) for ms in faults.args("slow_first_token") if ms.isdigit()]
    if delays:
        await asyncio.sleep(max(delays) / 1000)
