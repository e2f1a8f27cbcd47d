"""Thinking: on by default, switchable, counted, and never leaking Gemma's channel markers."""
from __future__ import annotations

from typing import Any

from conformance.checks.failures import CheckFailed, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check

# Gemma 4's template tokens (WIRE.md E.2): a parsing server never lets them into the text.
CHANNEL_MARKERS = ("<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|turn>", "<turn|>", "<|think|>",
                   "<|tool_response>", '<|"|>')


@check(category="thinking", shares=("seeded",))
async def thinking_on_by_default(probe: Probe) -> None:
    """With no thinking parameter the answer carries reasoning, and usage counts it where the protocol reports it (seed: "thinking mode by default"; enable_thinking default true)."""
    reply = await probe.answer(probe.request(seed=SEED))
    problems = []
    if not reply.reasoning.strip():
        problems.append("no reasoning in the answer although thinking is on by default")
    if reply.usage and reply.usage.reasoning_tokens is not None and reply.usage.reasoning_tokens <= 0 \
            and reply.reasoning.strip():
        problems.append(f"reasoning present but usage reports {reply.usage.reasoning_tokens} reasoning tokens")
    fail_if(problems)


def _switch_cases(probe: Probe) -> list[Case]:
    thinking = probe.contract.features.get("thinking", {})
    enabling = set(thinking.get("enabled_by_reasoning_effort", []))
    cases = []
    if probe.supports("enable_thinking"):
        cases += [Case("enable_thinking=false", ({"enable_thinking": False}, False)),
                  Case("enable_thinking=true", ({"enable_thinking": True}, True))]
    if probe.supports("reasoning_effort"):
        for effort in probe.contract.parameters["reasoning_effort"].values:
            cases.append(Case(f"reasoning_effort={effort}", ({"reasoning_effort": effort}, effort in enabling)))
    return cases


@check(category="thinking", cases=_switch_cases, smoke=0)
async def thinking_switch(probe: Probe, case: Case) -> None:
    """enable_thinking and reasoning_effort turn reasoning on and off as documented ("Medium and high enable thinking mode"; low off is an assumption)."""
    params: dict[str, Any]
    params, expect_reasoning = case.data
    reply = await probe.answer(probe.request(seed=SEED, **params))
    has = bool(reply.reasoning.strip())
    if has != expect_reasoning:
        raise CheckFailed(f"{params}: expected {'reasoning' if expect_reasoning else 'no reasoning'}, found "
                          f"{'reasoning ' + repr(reply.reasoning[:60]) if has else 'none'}")
    if not has and reply.usage and reply.usage.reasoning_tokens:
        raise CheckFailed(f"{params}: no reasoning, yet usage reports {reply.usage.reasoning_tokens} reasoning tokens")


def _stream_cases(probe: Probe) -> list[Case]:
    return [Case("non-stream", False), Case("stream", True)]


@check(category="thinking", cases=_stream_cases, smoke=("non-stream",), shares=("seeded",))
async def no_channel_markers(probe: Probe, case: Case) -> None:
    """No Gemma template marker (`<|channel>`, `<|tool_call>`, `<turn|>`, ...) leaks into the answer or its reasoning (WIRE.md E.2)."""
    reply = await probe.answer(probe.request(seed=SEED, stream=case.data))
    leaks = [f"{m!r} in {where}" for where, text in (("text", reply.text), ("reasoning", reply.reasoning))
             for m in CHANNEL_MARKERS if m in text]
    fail_if([f"template marker {leak}" for leak in leaks])
