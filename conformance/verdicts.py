"""What a run concludes: one `Result` per check × endpoint × case, and the run around them."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    XFAILED = "xfailed"  # an expected divergence that occurred
    XPASSED = "xpassed"  # an expected divergence that did not occur: strict, so it fails the run
    ERROR = "error"  # the check could not reach a verdict (transport failure, harness bug)
    # A sampled check whose confidence interval straddles the required rate or limit: not
    # enough evidence either way. It fails the run only under --strict.
    INCONCLUSIVE = "inconclusive"

    @property
    def is_bad(self) -> bool:
        return self in (Status.FAILED, Status.XPASSED, Status.ERROR)


def fails_run(status: Status, *, strict: bool = False) -> bool:
    """Whether a result makes the run exit 1: a bad status, or an inconclusive one under --strict."""
    return status.is_bad or (strict and status is Status.INCONCLUSIVE)


@dataclass
class Result:
    check: str
    endpoint: str
    case: str
    status: Status
    message: str = ""
    category: str = ""
    rule: str = ""  # the contract rule the check enforces (first line of its docstring)
    request: Any = None  # redacted excerpt
    response: Any = None  # redacted excerpt
    timings: dict[str, float | None] = field(default_factory=dict)
    duration_ms: float = 0.0
    # A sampled check: the samples drawn, the observed rate (or percentile), and its interval.
    samples: int | None = None
    rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    @property
    def id(self) -> str:
        return f"{self.check}[{self.endpoint}{'-' + self.case if self.case else ''}]"


@dataclass
class RunInfo:
    started_at: str  # ISO 8601 UTC
    contract: str
    model: str
    target: str
    base_url: str
    suite_file: str
    selection: str | None = None
    finished_at: str | None = None
    interrupted: bool = False
    aborted: str | None = None  # one line: why the run stopped early
    assumptions: list[dict[str, str]] = field(default_factory=list)
    # Billed messages and their price: preview before the run, spent after.
    cost: dict[str, Any] = field(default_factory=dict)
    # How the run was set up: tier, concurrency, hypothesis profile, strict.
    settings: dict[str, Any] = field(default_factory=dict)
    # Each 429 the target sent and what the run did about it (waited, cut its concurrency).
    throttling: list[dict[str, Any]] = field(default_factory=list)
