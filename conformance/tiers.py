"""Tiers: how much of the catalogue a run spends money and time on.

- ``smoke``: every category on every endpoint at least once, one sample each, the fewest
  property examples: a cheap "is it up and speaking the contract" run.
- ``standard``: every case, the contract's samples, few property examples (hypothesis ``live``).
  The default against the billed provider.
- ``full``: every case, the contract's samples, the ``ci`` property search. The default elsewhere.
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
    "standard": Tier("standard", "live", True, None, "every case, few property examples"),
    "full": Tier("full", "ci", True, None, "every case, the full property search"),
}
DEFAULT_TIER = "full"
LIVE_TIER = "standard"


def get_tier(name: str) -> Tier:
    try:
        return TIERS[name]
    except KeyError:
        raise SetupError(f"unknown tier {name!r}; known: {', '.join(TIERS)}") from None
