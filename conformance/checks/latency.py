"""Latency SLOs from the suite, judged from distribution-free bounds of each percentile."""
from __future__ import annotations

from conformance.checks.failures import CheckFailed, CheckSkipped
from conformance.checks.probe import Probe
from conformance.checks.registry import check
from conformance.stats import Outcome, QuantileVerdict, latency_verdict, sampling_confidence
from conformance.verdicts import Status

# Enough for a p95 at 95 % to have an upper bound at all (59 samples; see `stats.quantile_bounds`).
DEFAULT_SAMPLES = 60


def _samples(contract) -> int:
    return int(contract.expectations.get("latency", {}).get("samples", DEFAULT_SAMPLES))


# Smoke: its one sample is the same request as stream_framing[no-usage], whose answer it takes.
@check(category="latency", requests=_samples, isolated=True, draws_samples=True, shares=("stream",))
async def latency_slo(probe: Probe) -> None | Outcome:
    """Time to first answer token and end-to-end time of small stream requests stay within the suite's percentile SLOs (`expectations.latency`, an assumption: the seed promises none).

    Runs alone, after everything else: `samples` sequential small stream requests (the tier's
    sample cap may lower it). Each percentile is judged from its order-statistic bounds
    (`stats.latency_verdict`): failed only when the lower bound lies above the SLO, passed when
    the upper bound is within it, inconclusive otherwise (too few samples for a p95 included).
    The message gives every percentile with its bounds; against a target whose timings do not
    gate (`gate_latency: false`) the runner reports them as a pass that says "not gated".
    """
    slo = probe.contract.expectations.get("latency")
    if not slo or not ({"ttft_ms", "e2e_ms"} & set(slo)):
        raise CheckSkipped("the suite sets no latency SLO")
    n = _samples(probe.contract)
    if probe.sample_cap is not None:
        n = min(n, probe.sample_cap)
    series: dict[str, list[float]] = {"ttft_ms": [], "e2e_ms": []}
    for _ in range(max(1, n)):
        await probe.answer(probe.request(stream=True))
        timings = probe.exchanges[-1].timings
        for metric, instant in (("ttft_ms", timings.first_content_ns), ("e2e_ms", timings.last_byte_ns)):
            value = timings.ms(instant)
            if value is not None:
                series[metric].append(value)
    confidence = sampling_confidence(probe.contract.expectations)
    verdicts: list[QuantileVerdict] = []
    for metric, limits in slo.items():
        if metric not in series:
            continue
        if not series[metric]:
            raise CheckFailed(f"{metric}: no request produced this timing (no answer content seen)")
        for name, limit in limits.items():
            verdicts.append(latency_verdict(series[metric], float(name[1:]) / 100, float(limit),
                                            f"{metric} {name}", confidence))
    order = (Status.FAILED, Status.INCONCLUSIVE, Status.PASSED)
    # The verdict that decides, and whose interval the report carries: the first failure, else
    # the first inconclusive percentile, else the one closest to its SLO.
    worst = min(verdicts, key=lambda v: (order.index(v.status), -min(v.ci_high, 10 * v.limit) / v.limit))
    message = "; ".join(v.describe() for v in sorted(verdicts, key=lambda v: order.index(v.status)))
    return Outcome(worst.status, message, samples=worst.samples, rate=worst.value,
                   ci_low=worst.ci_low, ci_high=worst.ci_high)
