"""How a check says what it found: raise `CheckFailed` or `CheckSkipped`; returning is a pass."""
from __future__ import annotations


class CheckFailed(AssertionError):
    """The target broke the rule the check enforces."""


class CheckSkipped(Exception):
    """The check does not apply here; the message says why."""


def fail_if(problems: list[str]) -> None:
    """Fail with every problem found, not just the first: one run shows all of them."""
    if problems:
        shown = problems[:8]
        more = f" (+{len(problems) - 8} more)" if len(problems) > 8 else ""
        raise CheckFailed("; ".join(shown) + more)
