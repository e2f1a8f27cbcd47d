"""Confidence intervals and the verdicts of sampled checks: known values, coverage, brute force."""
from __future__ import annotations

import math
import random
from math import comb

import pytest

from conformance.stats import (binomial_cdf, clopper_pearson, decided, latency_verdict, quantile_bounds,
                               rate_verdict, sampling_rule, wilson)
from conformance.verdicts import Status


def test_wilson_known_values() -> None:
    # z = 1.96: the upper end of 0/n is z²/(n + z²).
    lo, hi = wilson(0, 3)
    assert lo == 0 and hi == pytest.approx(0.5615, abs=1e-4)
    lo, hi = wilson(3, 3)
    assert lo == pytest.approx(0.4385, abs=1e-4) and hi == 1
    lo, hi = wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))


def test_clopper_pearson_known_values() -> None:
    assert clopper_pearson(0, 3) == (0.0, pytest.approx(1 - 0.025 ** (1 / 3), abs=1e-9))
    assert clopper_pearson(3, 3) == (pytest.approx(0.025 ** (1 / 3), abs=1e-9), 1.0)
    lo, hi = clopper_pearson(2, 3)
    assert (lo, hi) == (pytest.approx(0.0943, abs=1e-4), pytest.approx(0.9916, abs=1e-4))
    lo, hi = clopper_pearson(5, 10)
    assert (lo, hi) == (pytest.approx(0.1871, abs=1e-4), pytest.approx(0.8129, abs=1e-4))


def test_binomial_cdf_matches_the_plain_sum() -> None:
    for n in (1, 5, 20):
        for p in (0.1, 0.5, 0.95):
            for k in range(-1, n + 1):
                plain = sum(comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(0, k + 1))
                assert binomial_cdf(k, n, p) == pytest.approx(plain, abs=1e-12)


def test_rate_verdict_rules() -> None:
    # rate 1.0: one failing sample fails, none passes (pass^n).
    assert rate_verdict(3, 3, 1.0).status is Status.PASSED
    assert rate_verdict(2, 3, 1.0).status is Status.FAILED
    assert rate_verdict(0, 1, 1.0).status is Status.FAILED
    # rate 0.3 on 3 samples: one success passes; none cannot fail (0/3's upper end is 0.71).
    assert rate_verdict(1, 3, 0.3).status is Status.PASSED
    assert rate_verdict(0, 3, 0.3).status is Status.INCONCLUSIVE
    # ... it takes 11 samples for 0/n to show a rate below 0.3 (0.7^11 < 0.025).
    assert rate_verdict(0, 10, 0.3).status is Status.INCONCLUSIVE
    assert rate_verdict(0, 11, 0.3).status is Status.FAILED
    v = rate_verdict(2, 3, 0.8)
    assert v.status is Status.INCONCLUSIVE and v.describe() == "2/3 passed (rate 0.67, 95 % CI 0.09–0.99; required ≥ 0.80)"


def _false_alarm(n: int, p: float, confidence: float) -> float:
    """P(FAILED) when the true rate equals the required one, summed exactly."""
    return sum(comb(n, x) * p ** x * (1 - p) ** (n - x) for x in range(n + 1)
               if rate_verdict(x, n, p, confidence).status is Status.FAILED)


@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_rate_verdict_false_alarm_stays_within_nominal(confidence: float) -> None:
    nominal = (1 - confidence) / 2
    worst = max(_false_alarm(n, i / 40, confidence) for n in range(1, 31) for i in range(1, 41))
    assert worst <= nominal + 1e-9


def test_rate_verdict_false_alarm_by_simulation() -> None:
    rng = random.Random(20261204)
    for n, rate in ((3, 0.3), (5, 0.8), (20, 0.9), (40, 0.5)):
        trials = 4000
        fails = sum(rate_verdict(sum(rng.random() < rate for _ in range(n)), n, rate).status is Status.FAILED
                    for _ in range(trials))
        assert fails / trials <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / trials), (n, rate)


def test_wilson_alone_would_not_keep_the_false_alarm_rate_at_small_n() -> None:
    # Why the verdict uses the exact interval: 0/1 has a Wilson upper end of 0.79.
    assert wilson(0, 1)[1] < 0.795 and clopper_pearson(0, 1)[1] > 0.95


def test_decided_stops_only_when_no_sample_left_can_change_the_verdict() -> None:
    assert decided(0, 1, 2, 1.0)  # one failure: rate 1.0 has failed whatever follows
    assert not decided(1, 1, 2, 1.0)
    assert decided(1, 1, 3, 0.3)  # 1/3 already meets 0.3
    assert not decided(0, 1, 3, 0.3)
    assert decided(2, 2, 2, 1.0)


def _brute_hi_rank(n: int, q: float, confidence: float) -> int | None:
    for k in range(1, n + 1):
        if sum(comb(n, i) * q ** i * (1 - q) ** (n - i) for i in range(k)) >= confidence:
            return k
    return None


def _brute_lo_rank(n: int, q: float, confidence: float) -> int | None:
    for k in range(n, 0, -1):
        if sum(comb(n, i) * q ** i * (1 - q) ** (n - i) for i in range(k, n + 1)) >= confidence:
            return k
    return None


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95])
def test_quantile_bounds_pick_the_brute_force_order_statistics(q: float) -> None:
    for n in range(1, 80):
        values = [float(i) for i in range(1, n + 1)]  # the k-th smallest is k
        lo, hi = quantile_bounds(list(reversed(values)), q, 0.95)
        hi_rank, lo_rank = _brute_hi_rank(n, q, 0.95), _brute_lo_rank(n, q, 0.95)
        assert hi == (math.inf if hi_rank is None else hi_rank), n
        assert lo == (-math.inf if lo_rank is None else lo_rank), n


def test_p95_needs_59_samples_for_an_upper_bound() -> None:
    assert quantile_bounds(list(range(58)), 0.95)[1] == math.inf
    assert quantile_bounds(list(range(59)), 0.95)[1] == 58


def test_quantile_bounds_cover_by_simulation() -> None:
    rng = random.Random(7)
    trials, q, n = 2000, 0.9, 60
    above = below = 0
    for _ in range(trials):
        lo, hi = quantile_bounds([rng.random() for _ in range(n)], q)  # the true 0.9-quantile is 0.9
        above += hi < q
        below += lo > q
    limit = 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)
    assert above / trials <= limit and below / trials <= limit


def test_latency_verdict_rules() -> None:
    fast = [100.0] * 60
    assert latency_verdict(fast, 0.95, 200, "ttft_ms p95").status is Status.PASSED
    slow = [300.0] * 60
    assert latency_verdict(slow, 0.95, 200, "ttft_ms p95").status is Status.FAILED
    # Too few samples for a p95 upper bound: fast, but not shown to be.
    v = latency_verdict(fast[:10], 0.95, 200, "ttft_ms p95")
    assert v.status is Status.INCONCLUSIVE and "∞" in v.describe()
    # Fails only when the interval lies above the limit.
    mixed = [100.0] * 57 + [300.0] * 3  # the p95 is on the edge
    assert latency_verdict(mixed, 0.95, 200, "e2e_ms p95").status is Status.INCONCLUSIVE


def test_sampling_rule_from_expectations() -> None:
    expectations = {"sampling": {"confidence": 0.9, "seed_reproducible": {"samples": 2, "rate": 1.0}}}
    rule = sampling_rule(expectations, "seed_reproducible")
    assert (rule.samples, rule.rate, rule.confidence) == (2, 1.0, 0.9)
    assert sampling_rule(expectations, "tool_choice_honoured") is None
    assert sampling_rule({}, "seed_reproducible") is None
