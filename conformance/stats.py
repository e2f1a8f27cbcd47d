"""Confidence intervals, and the verdicts a sampled check draws from them.

A check that samples model behaviour (a tool choice honoured, a schema kept, a seed
reproduced, a latency percentile) sees a few draws of a random outcome. It concludes
**passed**, **failed** or **inconclusive** from an interval around what it saw:

Rates (`rate_verdict`): `x` of `n` samples passed; the contract (or target) requires a pass
rate of at least `rate`. The interval is the exact (Clopper–Pearson) two-sided interval
`[lo, hi]` at `confidence`.

- FAILED iff `hi < rate`: the rate is shown to be below the requirement. When the true rate
  equals the requirement this happens with probability at most `(1 - confidence) / 2`
  (2.5 % at 95 %): the false-alarm rate of the verdict.
- PASSED iff `x / n >= rate`: the observed rate meets the requirement (so it is not shown to
  be below). For `rate: 1.0` this is exactly "no failing sample" (pass^n), and one failing
  sample fails the check (its `hi` is below 1).
- INCONCLUSIVE otherwise: observed below the rate, but not significantly.

The exact interval decides, not Wilson's: Wilson's upper bound is anti-conservative at small
n (with one sample its one-sided false-alarm rate reaches 20 % at 95 %), and sampled checks
take few samples. `wilson` is here for reports and comparison.

Latency percentiles (`latency_verdict`): the `q`-quantile of the timing distribution has
exact distribution-free bounds from order statistics (`quantile_bounds`), each one-sided at
`confidence`. FAILED iff `lo > limit` (the percentile is shown to be over the SLO), PASSED iff
`hi <= limit` (shown to be within it), INCONCLUSIVE otherwise — which includes too few samples
for an upper bound at all (`hi` is infinite below 59 samples for p95 at 95 %).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any, Sequence

from conformance.suite.model import SamplingRule
from conformance.verdicts import Status

DEFAULT_CONFIDENCE = 0.95


def _check_counts(successes: int, n: int, confidence: float) -> None:
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def wilson(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion, two-sided at `confidence`."""
    _check_counts(successes, n, confidence)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (no overflow at large n)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                          + i * log_p + (n - i) * log_q)
    return min(1.0, total)


def _bisect(f, target: float) -> float:
    """The p in [0, 1] where the decreasing function f(p) crosses `target`."""
    lo, hi = 0.0, 1.0
    for _ in range(64):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@lru_cache(maxsize=4096)
def clopper_pearson(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval, two-sided at `confidence`: each side errs at most
    `(1 - confidence) / 2` whatever the true rate."""
    _check_counts(successes, n, confidence)
    tail = (1 - confidence) / 2
    # lo: where P(X >= x) = tail, i.e. where the falling P(X <= x - 1) reaches 1 - tail.
    lo = 0.0 if successes == 0 else _bisect(lambda p: binomial_cdf(successes - 1, n, p), 1 - tail)
    hi = 1.0 if successes == n else _bisect(lambda p: binomial_cdf(successes, n, p), tail)
    return lo, hi


def quantile_bounds(values: Sequence[float], q: float,
                    confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Distribution-free bounds of the `q`-quantile (0 < q < 1) from the order statistics of
    `values`, each one-sided at `confidence`: P(lo <= quantile) >= confidence and
    P(quantile <= hi) >= confidence for any continuous distribution.

    hi is the k-th smallest value for the smallest k with P(Binomial(n, q) <= k - 1) >=
    confidence, and math.inf where no k <= n qualifies; lo is the k-th smallest for the largest
    k with P(Binomial(n, q) >= k) >= confidence, and -math.inf where none does.
    """
    if not 0 < q < 1:
        raise ValueError(f"q must lie in (0, 1), got {q}")
    ordered = sorted(values)
    lo_rank, hi_rank = _quantile_ranks(len(ordered), q, confidence)
    return (ordered[lo_rank - 1] if lo_rank else -math.inf), (ordered[hi_rank - 1] if hi_rank else math.inf)


@lru_cache(maxsize=1024)
def _quantile_ranks(n: int, q: float, confidence: float) -> tuple[int | None, int | None]:
    """The 1-based ranks of `quantile_bounds`' order statistics (None: no such bound)."""
    hi = next((k for k in range(1, n + 1) if binomial_cdf(k - 1, n, q) >= confidence), None)
    lo = next((k for k in range(n, 0, -1) if 1 - binomial_cdf(k - 1, n, q) >= confidence), None)
    return lo, hi


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-quantile: a value that was actually observed, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def percent(confidence: float) -> str:
    return f"{confidence * 100:g} %"


@dataclass(frozen=True)
class RateVerdict:
    status: Status
    successes: int
    samples: int
    required: float
    confidence: float
    ci_low: float
    ci_high: float

    @property
    def rate(self) -> float:
        return self.successes / self.samples

    def describe(self) -> str:
        """'2/3 passed (rate 0.67, 95 % CI 0.09–0.99; required ≥ 0.80)'."""
        return (f"{self.successes}/{self.samples} passed (rate {self.rate:.2f}, {percent(self.confidence)} CI "
                f"{self.ci_low:.2f}–{self.ci_high:.2f}; required ≥ {self.required:.2f})")


def rate_verdict(successes: int, n: int, rate: float,
                 confidence: float = DEFAULT_CONFIDENCE) -> RateVerdict:
    """FAILED iff the exact interval's upper end is below `rate`; PASSED iff the observed rate
    meets `rate`; INCONCLUSIVE otherwise (see the module docstring)."""
    lo, hi = clopper_pearson(successes, n, confidence)
    if hi < rate:
        status = Status.FAILED
    elif successes >= rate * n - 1e-9:
        status = Status.PASSED
    else:
        status = Status.INCONCLUSIVE
    return RateVerdict(status, successes, n, rate, confidence, lo, hi)


def decided(successes: int, drawn: int, planned: int, rate: float,
            confidence: float = DEFAULT_CONFIDENCE) -> bool:
    """Whether the samples still to draw can no longer change a PASSED or FAILED verdict.

    The verdict grows with the successes, so it is decided when the worst case (every sample
    left fails) and the best (every one passes) agree. The verdict over the samples drawn so far
    then agrees too: a pass rate met over all `planned` is met over fewer, and the same failures
    among fewer samples leave the interval lower still.
    """
    if drawn >= planned:
        return True
    worst = rate_verdict(successes, planned, rate, confidence).status
    best = rate_verdict(successes + planned - drawn, planned, rate, confidence).status
    return worst is best and worst in (Status.PASSED, Status.FAILED)


@dataclass(frozen=True)
class QuantileVerdict:
    status: Status
    metric: str  # e.g. "ttft_ms p95"
    samples: int
    value: float  # the nearest-rank percentile observed
    limit: float
    confidence: float
    ci_low: float
    ci_high: float

    def describe(self) -> str:
        def ms(v: float) -> str:
            return "∞" if v == math.inf else ("-∞" if v == -math.inf else f"{v:.0f}")
        return (f"{self.metric} = {self.value:.0f} ms over {self.samples} requests "
                f"({percent(self.confidence)} bounds {ms(self.ci_low)}–{ms(self.ci_high)} ms; SLO {self.limit:g} ms)")


def latency_verdict(values: Sequence[float], q: float, limit: float, metric: str,
                    confidence: float = DEFAULT_CONFIDENCE) -> QuantileVerdict:
    """FAILED iff the quantile's lower bound exceeds `limit`; PASSED iff its upper bound is
    within it; INCONCLUSIVE otherwise."""
    lo, hi = quantile_bounds(values, q, confidence)
    status = Status.FAILED if lo > limit else Status.PASSED if hi <= limit else Status.INCONCLUSIVE
    return QuantileVerdict(status, metric, len(values), nearest_rank(values, q), limit, confidence, lo, hi)


def sampling_confidence(expectations: dict[str, Any]) -> float:
    return float((expectations.get("sampling") or {}).get("confidence", DEFAULT_CONFIDENCE))


def sampling_rule(expectations: dict[str, Any], check: str) -> SamplingRule | None:
    """The contract's rule for a sampled check (`expectations.sampling.<check>`), if it has one."""
    raw = (expectations.get("sampling") or {}).get(check)
    if not isinstance(raw, dict):
        return None
    return SamplingRule(int(raw.get("samples", 1)), float(raw.get("rate", 1.0)), sampling_confidence(expectations))


def planned_samples(expectations: dict[str, Any], check: str) -> int:
    """How many samples the contract asks of a check (1 where it sets no rule): for the cost preview."""
    rule = sampling_rule(expectations, check)
    return rule.samples if rule else 1


@dataclass
class Outcome:
    """What a check may return instead of just returning (a pass): its own verdict, with the
    figures behind it (the latency SLO concludes from intervals, and may be inconclusive)."""

    status: Status
    message: str
    samples: int | None = None
    rate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
