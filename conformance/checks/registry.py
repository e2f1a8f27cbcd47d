"""Checks are plain async functions registered by name, each enforcing one contract rule.

A check receives a `Probe` (one endpoint of one target) and, when it is parametrised, one
`Case`. It raises `CheckFailed` with what was wrong, or `CheckSkipped` with why it cannot
apply; returning normally is a pass.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from conformance.checks.failures import CheckFailed, CheckSkipped, fail_if  # noqa: F401  (re-exported)
from conformance.checks.probe import Probe
from conformance.suite.model import Contract


@dataclass(frozen=True)
class Case:
    id: str
    data: Any = None


CaseFactory = Callable[[Probe], list[Case]]
CheckFunc = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    category: str
    func: CheckFunc
    cases: CaseFactory | None
    doc: str
    requests: int | Callable[[Contract], int] = 1
    # Runs in the run's isolated phase, after everything else and with no other request in
    # flight: its figures (latency) or its premise (one seed, one server state) need quiet.
    isolated: bool = False
    # Samples model behaviour: the runner repeats each case as the contract's (or target's)
    # sampling rule says and concludes from the pass rate's confidence interval.
    sampled: bool = False

    def requests_per_case(self, contract: Contract) -> int:
        return self.requests(contract) if callable(self.requests) else self.requests

    @property
    def rule(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def cases_for(self, probe: Probe) -> list[Case]:
        return self.cases(probe) if self.cases else [Case("")]


REGISTRY: dict[str, CheckSpec] = {}


def check(*, category: str, cases: CaseFactory | None = None,
          requests: int | Callable[[Contract], int] = 1, isolated: bool = False,
          sampled: bool = False) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check. `requests` bounds the requests one case sends, for the cost preview."""
    def register(func: CheckFunc) -> CheckFunc:
        if not inspect.getdoc(func):
            raise TypeError(f"check {func.__name__} needs a docstring naming the rule it enforces")
        if func.__name__ in REGISTRY:
            raise ValueError(f"check {func.__name__} registered twice")
        REGISTRY[func.__name__] = CheckSpec(func.__name__, category, func, cases, inspect.getdoc(func) or "",
                                         requests, isolated, sampled)
        return func
    return register
