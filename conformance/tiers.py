"""Tiers: how much of the catalogue a run spends money and time on.

- ``smoke``: every category on every endpoint at least once, one sample each, the fewest
  property examples: a cheap "is it up and speaking the contract" run.
- ``standard``: every case, the contract's samples but at most 20 for one check (the latency
  SLO's 60 isolated requests an endpoint become 20: its p50 can conclude, its p95 only fail),
  few property examples (hypothesis ``live``). The default against the billed provider.
- ``full``: every case, the contract's samples, the ``ci`` property search. The default elsewhere.

The smoke selection (`@check(smoke=...)`; measured on the reference server: 43 billed messages,
15 on chat_completions with the preflight, 14 on each other endpoint). One case per check does
not fit 15 messages an endpoint (about 21), so smoke covers categories, not checks, and shares
answers:

- Answers are shared (`runner.SharedAnswers`): a request identical to one another check already
  had answered is not sent again (a check's own repeats still are). The plain request serves
  response_shape and error_answers; the seeded one omitted_equals_default, stream_matches_nonstream,
  thinking_on_by_default, no_channel_markers, logprobs_absent_by_default and usage_consistent;
  the plain stream stream_framing and the latency SLO's one sample (`sample_cap` 1).
- Free covers: ranges and properties by a rejected value, images by a malformed image, errors
  by a missing key (its follow-up request shared).
- Left out, their category covered by another check: same_answer_across_endpoints, stop_honoured,
  context_window, thinking_switch, logprobs_consistent, tool_round_trip,
  structured_output_generated, image_accepted, image_changes_answer, random_valid_requests_accepted.
- Streamed cases where a check has both (tools, structured).
- logprobs is skipped on responses and messages: the contract offers no logprobs switch there.
"""
from __future__ import annotations

from dataclasses import dataclass

from conformance.errors import SetupError


@dataclass(frozen=True)
class Tier:
    name: str
    hypothesis_profile: str  # what the property checks draw under unless a profile is named
    every_case: bool  # False: each check runs its smoke cases only
    sample_cap: int | None  # at most this many samples for a sampled check (None: as declared)
    description: str
    share_answers: bool = False  # True: a request another check already had answered is not sent again


TIERS: dict[str, Tier] = {
    "smoke": Tier("smoke", "smoke", False, 1, "every category on every endpoint once, one sample each",
                  share_answers=True),
    "standard": Tier("standard", "live", True, 20, "every case, at most 20 samples a check, few property examples"),
    "full": Tier("full", "ci", True, None, "every case, the full property search"),
}
DEFAULT_TIER = "full"
LIVE_TIER = "standard"


def get_tier(name: str) -> Tier:
    try:
        return TIERS[name]
    except KeyError:
        raise SetupError(f"unknown tier {name!r}; known: {', '.join(TIERS)}") from None
