"""Log probabilities: present when asked, absent otherwise, and consistent with the text."""
from __future__ import annotations

from conformance.checks.failures import CheckFailed, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check

TOP = 3


def _cases(probe: Probe) -> list[Case]:
    return [Case("non-stream", False), Case("stream", True)]


@check(category="logprobs", cases=_cases, smoke=0)  # smoke: logprobs_absent_by_default
async def logprobs_consistent(probe: Probe, case: Case) -> None:
    """With logprobs and top_logprobs=N, every answer token has a logprob ≤ 0 and at most N alternatives sorted by logprob, and the tokens spell the text (seed table: logprobs, top_logprobs 0..20; WIRE A.8)."""
    probe.require("logprobs", "top_logprobs")
    params = {"seed": SEED, "logprobs": True, "top_logprobs": TOP}
    if probe.supports("enable_thinking"):
        params["enable_thinking"] = False
    reply = await probe.answer(probe.request(stream=case.data, **params))
    if reply.logprobs is None:
        raise CheckFailed("logprobs=true but the answer carries no logprobs")
    problems = []
    spelled = "".join(t.token for t in reply.logprobs)
    if spelled != reply.text:
        problems.append(f"the logprob tokens spell {spelled[:60]!r}, the text is {reply.text[:60]!r}")
    for i, t in enumerate(reply.logprobs):
        if t.logprob > 0:
            problems.append(f"token {i} {t.token!r}: logprob {t.logprob} > 0")
        if len(t.top) > TOP or not t.top:
            problems.append(f"token {i} {t.token!r}: {len(t.top)} alternatives for top_logprobs={TOP}")
        values = [v for _, v in t.top]
        if values != sorted(values, reverse=True):
            problems.append(f"token {i} {t.token!r}: alternatives not sorted by logprob: {values}")
        if any(v > 0 for v in values):
            problems.append(f"token {i} {t.token!r}: an alternative has a logprob > 0")
    fail_if(problems)


@check(category="logprobs", shares=("seeded",))
async def logprobs_absent_by_default(probe: Probe) -> None:
    """Without logprobs (default false) the answer carries no log probabilities (seed table: logprobs default false)."""
    probe.require("logprobs")
    reply = await probe.answer(probe.request(seed=SEED))
    if reply.logprobs:
        raise CheckFailed(f"logprobs were not asked for but {len(reply.logprobs)} came back")
