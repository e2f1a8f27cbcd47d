"""Function tools: definitions accepted, every tool_choice honoured, calls well-formed, results answered."""
from __future__ import annotations

from dataclasses import dataclass

import jsonschema

from conformance import fixtures
from conformance.checks.failures import CheckFailed, fail_if
from conformance.checks.probe import Probe
from conformance.checks.registry import Case, check
from conformance.protocols.base import FINISH_TOOL, Reply, ToolChoice, Turn

TOOLS = ("get_weather", "search_catalog")
# Mentions get_weather by name, so `auto` has every reason to call it.
TOOL_PROMPT = "Use get_weather: what is the weather in Paris right now?"


@dataclass(frozen=True)
class ChoiceCase:
    choice: ToolChoice
    expect_call: bool
    stream: bool


def _choice_cases(probe: Probe) -> list[Case]:
    choices = [(ToolChoice("auto"), True), (ToolChoice("required"), True),
               (ToolChoice("named", "search_catalog"), True), (ToolChoice("none"), False)]
    return [Case(f"{c.mode if c.mode != 'named' else 'named'}-{'stream' if s else 'non-stream'}",
                 ChoiceCase(c, expect, s)) for c, expect in choices for s in (False, True)]


def call_problems(probe: Probe, reply: Reply, choice: ToolChoice) -> list[str]:
    """Ids with the protocol's prefix, a defined name (the forced one if named), JSON arguments
    that validate against that tool's schema, and the tool finish reason where the protocol has one."""
    defined = {name: fixtures.tool(name) for name in TOOLS}
    prefix = probe.wire.protocol.id_prefixes.get("tool_call", "")
    problems = []
    for i, call in enumerate(reply.tool_calls):
        where = f"tool call {i} ({call.name!r})"
        if not call.id.startswith(prefix):
            problems.append(f"{where}: id {call.id!r} lacks the prefix {prefix!r}")
        if call.name not in defined:
            problems.append(f"{where}: not one of the defined tools {sorted(defined)}")
            continue
        if choice.mode == "named" and call.name != choice.name:
            problems.append(f"{where}: tool_choice forced {choice.name!r}")
        try:
            arguments = call.parsed()
        except ValueError:
            problems.append(f"{where}: arguments are not JSON: {call.arguments[:80]!r}")
            continue
        try:
            jsonschema.validate(arguments, defined[call.name].parameters)
        except jsonschema.ValidationError as exc:
            problems.append(f"{where}: arguments {call.arguments[:80]} break the tool's schema: {exc.message}")
    tool_finishes = {r for r, kind in probe.wire.finish_kinds.items() if kind == FINISH_TOOL}
    if reply.tool_calls and tool_finishes & set(probe.wire.protocol.finish_reasons) \
            and probe.wire.finish_kind(reply) != FINISH_TOOL:
        problems.append(f"a tool was called but the finish reason is {reply.finish_reason!r}")
    return problems


@check(category="tools", cases=_choice_cases, sampled=True, smoke=("auto-stream",))
async def tool_choice_honoured(probe: Probe, case: Case) -> None:
    """With function tools defined, each tool_choice form is honoured and every call is well-formed: a defined name, the protocol's id prefix, JSON arguments valid against the tool's schema, the tool finish reason (seed: "function tools"; WIRE A.4, B, C)."""
    probe.require("tools")
    c: ChoiceCase = case.data
    request = probe.request(prompt=TOOL_PROMPT, stream=c.stream, seed=probe.seed, max_tokens=64,
                            tools=[fixtures.tool(n) for n in TOOLS])
    request.tool_choice = c.choice
    reply = await probe.answer(request)
    if c.expect_call and not reply.tool_calls:
        raise CheckFailed(f"tool_choice {c.choice.mode} {c.choice.name or ''}: expected a tool call, got text "
                          f"{reply.text[:80]!r}")
    if not c.expect_call and reply.tool_calls:
        raise CheckFailed(f"tool_choice none: expected no tool call, got {[t.name for t in reply.tool_calls]}")
    fail_if(call_problems(probe, reply, c.choice))


@check(category="tools", requests=2, smoke=0)  # smoke: tool_choice_honoured
async def tool_round_trip(probe: Probe) -> None:
    """A tool result sent back answers the call: the server accepts it and replies with text instead of calling again (seed: "function tools"; WIRE F "Tool result in")."""
    probe.require("tools")
    tools = [fixtures.tool("get_weather")]
    first = probe.request(prompt=TOOL_PROMPT, seed=probe.seed, max_tokens=64, tools=tools)
    first.tool_choice = ToolChoice("required")
    reply = await probe.answer(first)
    if not reply.tool_calls:
        raise CheckFailed("tool_choice required produced no tool call to answer")
    call = reply.tool_calls[0]
    follow = probe.request(seed=probe.seed, tools=tools)
    follow.turns = [Turn("user", TOOL_PROMPT), Turn("assistant", "", tool_calls=(call,)),
                    Turn("tool", '{"temperature_c": 18, "sky": "clear"}', tool_call_id=call.id, tool_name=call.name)]
    follow.tool_choice = ToolChoice("auto")
    answer = await probe.answer(follow)
    if answer.tool_calls:
        raise CheckFailed(f"after the tool result the model called {[t.name for t in answer.tool_calls]} again")
    if not answer.text.strip():
        raise CheckFailed("the answer to the tool result is empty")
