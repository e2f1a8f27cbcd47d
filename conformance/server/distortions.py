"""Faults that bend what the model produced, the same way on every endpoint.

The generator, the tool-call maker and the JSON maker stay faithful; a fault that breaks what
the model says (rather than how a protocol spells it) is applied here, between generation and
the endpoint's wire format: `distort` bends a `Generation`, `distort_tool_call` a `ToolCall`,
`distort_json` a structured answer.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jsonschema.validators import validator_for

from conformance.server.faults import Faults
from conformance.server.generator import Generation, Token, TokenLogprob
from conformance.server.tools import FunctionTool, ToolCall, encode_arguments

# Gemma 4's thought channel as the raw template spells it (WIRE.md E.2).
_LEAK = Token("<|channel>thought\n<channel|>", -0.01)
# Values of every JSON type: one of them is the wrong type for any typed property.
_WRONG_VALUES: tuple[Any, ...] = (None, [], {}, "?", 0.5, True)
_EXTRA_PROPERTY = "unexpected_field"


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
    if "tool_finish_reason" in faults and g.finish_reason == "tool_calls":
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


def distort_tool_call(call: ToolCall, tool: FunctionTool, tools: Sequence[FunctionTool], faults: Faults) -> ToolCall:
    """Apply the tool-call faults that are switched on; identity when none is."""
    if "tool_args_invalid" in faults:
        broken = violate(tool.parameters, json.loads(call.arguments))
        call = dataclasses.replace(call, arguments=encode_arguments(broken))
    if "tool_args_not_json" in faults:
        # Cut off before the closing brace, the way a model stopped mid-call leaves it.
        call = dataclasses.replace(call, arguments=call.arguments[:-1])
    if "tool_unknown_name" in faults:
        names = {t.name for t in tools}
        name = call.name + "_v2"
        while name in names:
            name += "_v2"
        call = dataclasses.replace(call, name=name)
    if "tool_call_id_prefix" in faults:
        # Every prefix (call_, fc_, toolu_) ends at its first underscore; the random part has none.
        call = dataclasses.replace(call, id=call.id.partition("_")[2], item_id=call.item_id.partition("_")[2])
    return call


def distort_json(text: str, schema: Mapping[str, Any] | None, faults: Faults) -> str:
    """`structured_invalid`: valid JSON that the requested schema (or json_object's "an object") rejects."""
    if "structured_invalid" not in faults:
        return text
    return json.dumps(violate(schema or {"type": "object"}, json.loads(text)), separators=(",", ":"),
                      ensure_ascii=False)


def violate(schema: Mapping[str, Any], value: Any) -> Any:
    """A value as close to `value` as possible that `schema` rejects; `value` itself if every value passes.

    An object is bent first (a property dropped, one added, one given the wrong type), so tool
    arguments stay a JSON object and break only the schema.
    """
    validator = validator_for(schema)(schema)
    return next((c for c in _near(value) if not validator.is_valid(c)), value)


def _near(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
        yield {**value, _EXTRA_PROPERTY: True}
        for key in value:
            for wrong in _WRONG_VALUES:
                yield {**value, key: wrong}
    yield from _WRONG_VALUES


async def stall(faults: Faults) -> None:
    """`slow_first_token:MS`: hold the first byte of the answer back (the longest if given twice)."""
    delays = [int(ms) for ms in faults.args("slow_first_token") if ms.isdigit()]
    if delays:
        await asyncio.sleep(max(delays) / 1000)
