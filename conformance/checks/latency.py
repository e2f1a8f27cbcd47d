"""Latency SLOs from the suite, over every request the run made to an endpoint."""
from __future__ import annotations

import math

from conformance.checks.failures import CheckSkipped, fail_if
from conformance.checks.probe import Probe
from conformance.checks.registry import check


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was actually observed, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _min_samples(contract) -> int:
    return int(contract.expectations.get("latency", {}).get("min_samples", 5))


def _expected_top_ups(contract, case) -> int:
    """Billed messages expected: none. The run's own streams on the endpoint leave nothing to top
    up: every tier streams at least `min_samples` answers there but smoke, which streams one
    fewer, and its one top-up (`request(stream=True)`) takes stream_framing's shared answer."""
    return 0


@check(category="latency", requests=_min_samples, isolated=True, billed=_expected_top_ups)
async def latency_slo(probe: Probe) -> None:
    """Time to first answer token (streams) and end-to-end time (all requests) stay within the suite's percentile SLOs (`expectations.latency`, an assumption: the seed promises none).

    Runs last, over the samples of the whole run on this endpoint; tops them up with small
    stream requests when the run made fewer than `min_samples`.
    """
    slo = probe.contract.expectations.get("latency")
    if not slo or not ({"ttft_ms", "e2e_ms"} & set(slo)):
        raise CheckSkipped("the suite sets no latency SLO")

    def ok_samples(stream_only: bool):
        return [s for s in probe.client.samples if s.endpoint == probe.endpoint and s.status == 200
                and not s.failed and (s.stream or not stream_only)]

    for _ in range(_min_samples(probe.contract) - len(ok_samples(True))):
        await probe.answer(probe.request(stream=True))
    series = {
        "ttft_ms": [s.timings.ms(s.timings.first_content_ns) for s in ok_samples(True)],
        "e2e_ms": [s.timings.ms(s.timings.last_byte_ns) for s in ok_samples(False)],
    }
    problems = []
    for metric, limits in slo.items():
        if metric not in series:
            continue
        values = [v for v in series[metric] if v is not None]
        if not values:
            problems.append(f"{metric}: no request produced this timing (no answer content seen)")
            continue
        for name, limit in limits.items():
            observed = percentile(values, float(name[1:]))
            if observed > limit:
                problems.append(f"{metric} {name} = {observed:.0f} ms over {len(values)} requests, "
                                f"SLO {limit:g} ms")
    fail_if(problems)
