"""Output and context limits: max_tokens and stop honoured, the context window enforced."""
from __future__ import annotations

import math
import re

from conformance.checks.acceptance import expect_outcome
from conformance.checks.failures import CheckFailed, CheckSkipped, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check
from conformance.protocols.base import FINISH_LENGTH, FINISH_STOP, FINISH_STOP_SEQUENCE

CUT_AT = 4
# One short word that any tokenizer keeps whole; repeated to size prompts.
FILLER = " ocean"
CALIBRATION_WORDS = 200
# Far enough past the limit that a slightly different count cannot let it through.
OVER_MARGIN_TOKENS = 64


def _no_thinking(probe: Probe) -> dict[str, object]:
    # Reasoning may or may not count against max_tokens; with thinking off the count is unambiguous.
    return {"enable_thinking": False} if probe.supports("enable_thinking") else {}


@check(category="limits")
async def max_tokens_honoured(probe: Probe) -> None:
    """`max_tokens` caps the answer and the finish reason says so (seed table: max_tokens "Maximum output tokens")."""
    reply = await probe.answer(probe.request(max_tokens=CUT_AT, seed=SEED, **_no_thinking(probe)))
    problems = []
    produced = reply.usage.output_tokens if reply.usage else None
    if produced is not None and reply.usage.reasoning_tokens:
        produced -= reply.usage.reasoning_tokens
    if produced is not None and produced > CUT_AT:
        problems.append(f"max_tokens={CUT_AT} but usage reports {produced} answer tokens")
    kind = probe.wire.finish_kind(reply)
    if kind != FINISH_LENGTH and not (produced is not None and produced < CUT_AT):
        problems.append(f"cut at max_tokens={CUT_AT}: expected the length finish reason, found {reply.finish_reason!r}")
    fail_if(problems)


def _stop_word(text: str) -> tuple[str, int] | None:
    """A word from the middle of an answer, and where it first starts."""
    words = [m for m in re.finditer(r"[A-Za-z]{3,}", text) if m.start() > 0]
    for m in words[len(words) // 3:]:
        if text.find(m.group()) == m.start():
            return m.group(), m.start()
    return None


@check(category="limits", requests=2, smoke=0)  # smoke: max_tokens_honoured covers limits
async def stop_honoured(probe: Probe) -> None:
    """A stop string ends the answer just before it, and the finish reason says so (seed table: stop "One or more stop strings").

    First an answer under a seed, then the same request with a word from its middle as stop
    string: the second answer must be the first one's text up to that word.
    """
    probe.require("stop", "seed")
    base = {"seed": SEED, "max_tokens": 32, **_no_thinking(probe)}
    full = await probe.answer(probe.request(**base))
    found = _stop_word(full.text)
    if found is None:
        raise CheckSkipped(f"the answer has no word to stop at: {full.text[:80]!r}")
    word, at = found
    cut = await probe.answer(probe.request(stop=[word], **base))
    problems = []
    if cut.text != full.text[:at]:
        problems.append(f"stop={[word]!r}: expected the text before it {full.text[:at][-60:]!r}, "
                        f"found {cut.text[-60:]!r}")
    if probe.wire.finish_kind(cut) not in (FINISH_STOP, FINISH_STOP_SEQUENCE):
        problems.append(f"stopped by a stop string: expected a stop finish reason, found {cut.finish_reason!r}")
    fail_if(problems)


async def _prompt_tokens(probe: Probe, words: int) -> int:
    reply = await probe.answer(probe.request(prompt="Repeat:" + FILLER * words, max_tokens=1, **_no_thinking(probe)))
    if not reply.usage or reply.usage.input_tokens is None:
        raise CheckSkipped("usage reports no prompt tokens to calibrate against")
    return reply.usage.input_tokens


def _context_cases(probe: Probe) -> list[Case]:
    return [Case("under", False), Case("over", True)]


# Two calibration answers, then the prompt: accepted under the window, rejected over it.
@check(category="limits", cases=_context_cases, requests=3, billed=lambda contract, case: 2 if case.data else 3,
       smoke=0)
async def context_window(probe: Probe, case: Case) -> None:
    """A prompt that fits the context window is answered; one past it is rejected with the invalid-request status (seed: "8K-token context window").

    Prompts are sized by calibrating against the server's own `usage` prompt tokens, not by
    guessing characters per token.
    """
    context = probe.contract.limits.context_tokens
    base = await _prompt_tokens(probe, 0)
    per_word = (await _prompt_tokens(probe, CALIBRATION_WORDS) - base) / CALIBRATION_WORDS
    if per_word <= 0:
        raise CheckFailed(f"prompt tokens did not grow with the prompt ({base} for 0 and {CALIBRATION_WORDS} words)")
    if case.data:
        words = math.ceil((context + OVER_MARGIN_TOKENS - base) / per_word)
    else:
        # Room for the 1-token answer and any per-request overhead the count may not show.
        words = math.floor((context - OVER_MARGIN_TOKENS - base) / per_word)
    exchange = await probe.send(probe.request(prompt="Repeat:" + FILLER * words, max_tokens=1, **_no_thinking(probe)))
    expected_tokens = round(base + words * per_word)
    fits = "fits" if not case.data else "exceeds"
    expect_outcome(probe, exchange, accept=not case.data,
                   what=f"a prompt of about {expected_tokens} tokens ({fits} the {context}-token context)", param=None)
