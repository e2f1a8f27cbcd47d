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
# Requests of one case, for the cost preview: a number, or one from the contract.
PerCase = int | Callable[[Contract], int]
# Billed messages expected of one case: a number, or one from the contract and the case.
BilledPerCase = int | Callable[[Contract, Case], int]
# The cases a tier that does not run every case runs: the first N (0: none), those with these
# ids, or the first case the predicate accepts.
SmokeCases = int | tuple[str, ...] | Callable[[Case], bool]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    category: str
    func: CheckFunc
    cases: CaseFactory | None
    doc: str
    requests: PerCase = 1
    # Runs in the run's isolated phase, after everything else and with no other request in
    # flight: its figures (latency) or its premise (one seed, one server state) need quiet.
    isolated: bool = False
    # Samples model behaviour: the runner repeats each case as the contract's (or target's)
    # sampling rule says and concludes from the pass rate's confidence interval.
    sampled: bool = False
    # Billed messages one case is expected to cost: its requests the check expects to succeed
    # (2xx), without shrinking. None: every request (`requests`).
    billed: BilledPerCase | None = None
    # The cases the smoke tier runs (default: the first).
    smoke: SmokeCases = 1
    # Answers its smoke case asks for that other checks' smoke cases ask for too, by name: where
    # a tier shares answers (`Tier.share_answers`) one endpoint pays for each name once.
    shares: tuple[str, ...] = ()
    # Its requests are samples it draws itself (the latency SLO): the tier's sample cap caps them.
    draws_samples: bool = False

    def requests_per_case(self, contract: Contract) -> int:
        return self.requests(contract) if callable(self.requests) else self.requests

    def billed_per_case(self, contract: Contract, case: Case | None) -> int:
        """Expected billed messages of one case (never more than its requests)."""
        if self.billed is None:
            return self.requests_per_case(contract)
        value = self.billed(contract, case or Case("")) if callable(self.billed) else self.billed
        return min(value, self.requests_per_case(contract))

    def smoke_cases(self, cases: list[Case]) -> list[Case]:
        """The cases the smoke tier keeps of `cases`."""
        if isinstance(self.smoke, bool) or isinstance(self.smoke, int):
            return cases[:int(self.smoke)]
        if isinstance(self.smoke, tuple):
            return [c for c in cases if c.id in self.smoke]
        return next(([c] for c in cases if self.smoke(c)), [])

    @property
    def rule(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    def cases_for(self, probe: Probe) -> list[Case]:
        return self.cases(probe) if self.cases else [Case("")]


REGISTRY: dict[str, CheckSpec] = {}


def check(*, category: str, cases: CaseFactory | None = None, requests: PerCase = 1, isolated: bool = False,
          sampled: bool = False, billed: BilledPerCase | None = None, smoke: SmokeCases = 1,
          shares: tuple[str, ...] = (), draws_samples: bool = False) -> Callable[[CheckFunc], CheckFunc]:
    """Register a check. For the cost preview, `requests` bounds the requests one case sends
    (shrinking included) and `billed` is the messages one case is expected to be billed for
    (requests expected to succeed; default: all of them). `smoke` picks the smoke tier's cases,
    `shares` names the answers its smoke case has in common with other checks'; `draws_samples`
    says its requests are samples, which the tier's sample cap caps."""
    def register(func: CheckFunc) -> CheckFunc:
        if not inspect.getdoc(func):
            raise TypeError(f"check {func.__name__} needs a docstring naming the rule it enforces")
        if func.__name__ in REGISTRY:
            raise ValueError(f"check {func.__name__} registered twice")
        REGISTRY[func.__name__] = CheckSpec(func.__name__, category, func, cases, inspect.getdoc(func) or "",
                                         requests, isolated, sampled, billed, smoke, shares,
                                         draws_samples)
        return func
    return register
