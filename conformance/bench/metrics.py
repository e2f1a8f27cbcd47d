"""Every figure of a benchmark, computed from the raw-sample records alone.

The definitions (README "Benchmarks" states them once; this is the code that follows them):

- **TTFT**: scheduled send → first generated token of any kind (reasoning, content or tool
  call); role-only and other metadata events never count.
- **TTFC**: scheduled send → first answer-content token.
- **ITL**: per-token inter-token latency: each gap between consecutive generated-token events,
  divided by the tokens that event carried. Events and tokens are matched one to one when the
  server's output-token count equals the number of token events; otherwise tokens are taken
  as spread evenly over the events (gap × events / tokens).
- **chunk gap**: the raw gaps between consecutive generated-token events, undivided.
- **TPOT**: (E2E − TTFT) / (N − 1), N the output tokens (reasoning included); requests with
  N ≤ 1 have none.
- **E2E**: scheduled send → last byte.
- **output tokens/s per request**: N / E2E.
- **schedule lag**: actual send − scheduled send.
- **send rate**: requests actually sent inside the window / window length (open loop: checked
  against the target rate).
- **steady-state window** of a step: from the end of the warm-up to the instant sending stopped
  (the ramp-up and the drain after the last send are left out).
- **request throughput**: successful requests that ended inside the window / window length.
- **output token throughput**: generated tokens that arrived inside the window / window length
  (stream: token events in the window, each worth N / events tokens; non-stream: N at the end).
- **error rate**: failed requests / requests, by kind (``http-429``, ``timeout``, ...).
- **goodput**: successful requests meeting every SLO of the scenario, ending inside the window,
  per second; and as a fraction of all measured requests (a failed request is an SLO miss).

Latency figures cover successful, non-warm-up requests; the schedule lag covers every request.
Percentiles interpolate linearly between closest ranks (numpy's default); ``stdev`` is the
sample standard deviation.
"""
from __future__ import annotations

import math
from array import array
from collections import Counter
from typing import Any, Callable, Iterable

from conformance.bench.events import GENERATED

STAT_KEYS = ("count", "mean", "stdev", "min", "p50", "p90", "p95", "p99", "max")
DISTRIBUTIONS = ("ttft_ms", "ttfc_ms", "itl_ms", "chunk_gap_ms", "tpot_ms", "e2e_ms", "tokens_per_s",
                 "schedule_lag_ms", "output_tokens", "input_tokens")


def percentile(sorted_values: Any, q: float) -> float:
    """Linear interpolation between closest ranks of an ascending sequence (q in 0..100)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


CDF_POINTS = tuple(range(0, 100)) + (99.5, 99.9, 100)
CDF_METRICS = ("ttft_ms", "ttfc_ms", "itl_ms", "tpot_ms", "e2e_ms", "schedule_lag_ms")


def cdf(sorted_values: Any) -> list[list[float]]:
    """[value, percent] pairs at fixed percents: enough to draw a CDF without every sample."""
    if len(sorted_values) == 0:
        return []
    return [[percentile(sorted_values, q), q] for q in CDF_POINTS]


def stats(values: Iterable[float]) -> dict[str, float | int | None]:
    data = sorted(values)
    n = len(data)
    if n == 0:
        return {k: (0 if k == "count" else None) for k in STAT_KEYS}
    mean = math.fsum(data) / n
    stdev = math.sqrt(math.fsum((x - mean) ** 2 for x in data) / (n - 1)) if n > 1 else 0.0
    return {"count": n, "mean": mean, "stdev": stdev, "min": data[0], "p50": percentile(data, 50),
            "p90": percentile(data, 90), "p95": percentile(data, 95), "p99": percentile(data, 99), "max": data[-1]}


def request_metrics(rec: dict[str, Any]) -> dict[str, Any]:
    """Per-request figures (ms) from one record; None where a figure does not exist."""
    et: list[int] = rec.get("et") or []
    ek: str = rec.get("ek") or ""
    gen = [t for t, k in zip(et, ek) if k in GENERATED]
    first_content = next((t for t, k in zip(et, ek) if k == "c"), None)
    n_out = rec.get("out")
    e2e = rec["end"] / 1000.0
    ttft = gen[0] / 1000.0 if gen else None
    gaps = [(b - a) / 1000.0 for a, b in zip(gen, gen[1:])]
    if gaps and n_out and n_out != len(gen):
        scale = len(gen) / n_out
        itl = [g * scale for g in gaps]
    else:
        itl = gaps
    tpot = (e2e - ttft) / (n_out - 1) if ttft is not None and n_out and n_out > 1 else None
    return {
        "ttft_ms": ttft, "ttfc_ms": first_content / 1000.0 if first_content is not None else None,
        "e2e_ms": e2e, "tpot_ms": tpot, "itl_ms": itl, "chunk_gap_ms": gaps,
        "tokens_per_s": n_out / (e2e / 1000.0) if n_out and e2e > 0 else None,
        "schedule_lag_ms": rec.get("send", 0) / 1000.0, "output_tokens": n_out, "input_tokens": rec.get("in"),
        "token_events": gen,
    }


def meets_slo(rec: dict[str, Any], m: dict[str, Any], slo: dict[str, float]) -> bool:
    """Whether a request met every SLO; a failed request never does. `itl_ms` bounds the largest ITL."""
    if "err" in rec:
        return False
    for key, bound in slo.items():
        if key == "itl_ms":
            value = max(m["itl_ms"]) if m["itl_ms"] else None
        else:
            value = m.get(key)
        if value is not None and value > bound:
            return False
    return True


class StepAccumulator:
    """Streams the records of one step into its figures (memory: one float per value)."""

    def __init__(self, step: dict[str, Any], slo: dict[str, float]) -> None:
        self.step = step
        self.slo = slo
        self.window = (step["window_start"], step["window_end"])  # µs from the run's zero
        self.values = {k: array("d") for k in DISTRIBUTIONS}
        self.requests = 0
        self.warmup = 0
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.good = 0
        self.ok_in_window = 0
        self.good_in_window = 0
        self.sent_in_window = 0
        self.tokens_in_window = 0.0
        self.token_sources: Counter[str] = Counter()
        self.endpoints: Counter[str] = Counter()
        self.out_tokens = 0
        self.in_tokens = 0
        self.reasoning_tokens = 0

    def add(self, rec: dict[str, Any]) -> None:
        if rec.get("warm"):
            self.warmup += 1
            return
        self.requests += 1
        self.endpoints[rec.get("ep", "?")] += 1
        m = request_metrics(rec)
        v = self.values
        v["schedule_lag_ms"].append(m["schedule_lag_ms"])
        w0, w1 = self.window
        sched = rec["sched"]
        if w0 <= sched + rec.get("send", 0) <= w1:  # actually sent (not merely scheduled) in the window
            self.sent_in_window += 1
        end = sched + rec["end"]
        in_window = w0 <= end <= w1
        if "err" in rec:
            self.errors[rec["err"]] += 1
            return
        self.ok += 1
        good = meets_slo(rec, m, self.slo)
        self.good += good
        if in_window:
            self.ok_in_window += 1
            self.good_in_window += good
        for key in ("ttft_ms", "ttfc_ms", "tpot_ms", "e2e_ms", "tokens_per_s", "output_tokens", "input_tokens"):
            if m[key] is not None:
                v[key].append(m[key])
        v["itl_ms"].extend(m["itl_ms"])
        v["chunk_gap_ms"].extend(m["chunk_gap_ms"])
        n_out = m["output_tokens"] or 0
        self.token_sources[rec.get("src") or "none"] += 1
        self.out_tokens += n_out
        self.in_tokens += rec.get("in") or 0
        self.reasoning_tokens += rec.get("rsn") or 0
        gen = m["token_events"]
        if gen:
            per_event = n_out / len(gen) if n_out else 1.0
            self.tokens_in_window += per_event * sum(1 for t in gen if w0 <= sched + t <= w1)
        elif in_window:
            self.tokens_in_window += n_out

    def result(self, validity: dict[str, float]) -> dict[str, Any]:
        step = self.step
        w0, w1 = self.window
        seconds = max(0.0, (w1 - w0) / 1e6)
        per_s = (lambda n: n / seconds if seconds > 0 else None)
        dist = {}
        cdfs = {}
        for k in DISTRIBUTIONS:
            data = sorted(self.values[k])
            self.values[k] = array("d")  # the figures are out: let the samples go
            dist[k] = stats(data)
            if k in CDF_METRICS:
                cdfs[k] = cdf(data)
        reasons = []
        lag_p99 = dist["schedule_lag_ms"]["p99"]
        if lag_p99 is not None and lag_p99 > validity["max_schedule_lag_p99_ms"]:
            reasons.append(f"the client fell behind: schedule lag p99 {lag_p99:.2f} ms > "
                           f"{validity['max_schedule_lag_p99_ms']:g} ms")
        if step["pattern"] != "concurrency" and seconds > 0:
            achieved = self.sent_in_window / seconds
            if achieved < validity["min_rate_ratio"] * step["value"]:
                reasons.append(f"the client fell behind: sent {achieved:.1f}/s in the window, target "
                               f"{step['value']:g}/s (< {validity['min_rate_ratio']:.0%})")
        if step.get("capped"):
            reasons.append(f"the in-flight cap held back {step['capped']} sends")
        if seconds <= 0:
            reasons.append("no steady-state window (the warm-up took the whole step)")
        if self.requests == 0:
            reasons.append("no measured requests")
        return {
            "index": step["index"], "label": step["label"], "pattern": step["pattern"], "value": step["value"],
            "valid": not reasons, "invalid_reasons": reasons,
            "window": {"start_s": w0 / 1e6, "end_s": w1 / 1e6, "seconds": seconds},
            "requests": {"measured": self.requests, "warmup": self.warmup, "ok": self.ok,
                         "failed": self.requests - self.ok, "in_window_ok": self.ok_in_window,
                         "by_endpoint": dict(self.endpoints)},
            "errors": {"rate": (self.requests - self.ok) / self.requests if self.requests else 0.0,
                       "by_kind": dict(self.errors),
                       "rate_by_kind": {k: n / self.requests for k, n in self.errors.items()}},
            "throughput": {"request_per_s": per_s(self.ok_in_window),
                           "output_tokens_per_s": per_s(self.tokens_in_window),
                           "send_rate_per_s": per_s(self.sent_in_window),
                           "target_rate_per_s": None if step["pattern"] == "concurrency" else step["value"]},
            "goodput": {"slo": self.slo, "request_per_s": per_s(self.good_in_window),
                        "fraction": self.good / self.requests if self.requests else None},
            "tokens": {"output": self.out_tokens, "input": self.in_tokens, "reasoning": self.reasoning_tokens,
                       "source": dict(self.token_sources)},
            "metrics": dist,
            "cdf": cdfs,
        }


def compute(run: dict[str, Any], steps: list[dict[str, Any]],
            records: Callable[[], Iterable[dict[str, Any]]]) -> dict[str, Any]:
    """The figures of every step from a run header, its step lines and its request records.

    `records` returns a fresh iterator each call: a warm-up given in requests needs one pass
    to find where the warm-up ended before the figures' pass.
    """
    scenario = run.get("scenario", {})
    slo = scenario.get("slo", {})
    validity = scenario.get("validity", {"max_schedule_lag_p99_ms": 10.0, "min_rate_ratio": 0.95})
    warm_end: dict[int, int] = {}
    if any(s.get("warmup_requests") for s in steps):
        for rec in records():
            if rec.get("warm"):
                warm_end[rec.get("s", 0)] = max(warm_end.get(rec.get("s", 0), 0), rec["sched"])
    windowed = []
    for s in steps:
        w0, w1 = step_window(s, warm_end.get(s["index"]))
        windowed.append({**s, "window_start": w0, "window_end": w1})
    accs = {s["index"]: StepAccumulator(s, slo) for s in windowed}
    span_us = max([s.get("drained", s["stop"]) for s in steps] or [0])
    timeline = Timeline(span_us)
    for rec in records():
        acc = accs.get(rec.get("s", 0))
        if acc is not None:
            acc.add(rec)
        timeline.add(rec)
    results = [accs[s["index"]].result(validity) for s in windowed]
    return {"steps": results, "timeline": timeline.result(windowed),
            "valid": all(r["valid"] for r in results) and not run.get("interrupted")}


class Timeline:
    """The run in time bins: sends, completions, errors, tokens and mean TTFT per bin."""

    def __init__(self, span_us: int, bins: int = 200) -> None:
        self.width_us = max(100_000, -(-max(span_us, 1) // bins))  # at least 0.1 s
        n = max(1, -(-max(span_us, 1) // self.width_us) + 1)
        self.sent = [0] * n
        self.done = [0] * n
        self.errors = [0] * n
        self.tokens = [0.0] * n
        self.ttft_sum = [0.0] * n
        self.ttft_n = [0] * n

    def _bin(self, t_us: int) -> int:
        return min(len(self.sent) - 1, max(0, t_us // self.width_us))

    def add(self, rec: dict[str, Any]) -> None:
        sched = rec["sched"]
        self.sent[self._bin(sched + rec.get("send", 0))] += 1
        end = self._bin(sched + rec["end"])
        if "err" in rec:
            self.errors[end] += 1
            return
        self.done[end] += 1
        et, ek = rec.get("et") or [], rec.get("ek") or ""
        gen = [t for t, k in zip(et, ek) if k in GENERATED]
        if gen:
            per = (rec.get("out") or len(gen)) / len(gen)
            for t in gen:
                self.tokens[self._bin(sched + t)] += per
            b = self._bin(sched + gen[0])
            self.ttft_sum[b] += gen[0] / 1000.0
            self.ttft_n[b] += 1
        else:
            self.tokens[end] += rec.get("out") or 0

    def result(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        w = self.width_us / 1e6
        return {
            "bin_s": w,
            "sent_per_s": [n / w for n in self.sent], "done_per_s": [n / w for n in self.done],
            "errors_per_s": [n / w for n in self.errors], "tokens_per_s": [n / w for n in self.tokens],
            "ttft_mean_ms": [s / n if n else None for s, n in zip(self.ttft_sum, self.ttft_n)],
            "steps": [{"index": s["index"], "label": s["label"], "start_s": s["start"] / 1e6,
                       "stop_s": s["stop"] / 1e6, "drained_s": s.get("drained", s["stop"]) / 1e6,
                       "window": [s["window_start"] / 1e6, s["window_end"] / 1e6]} for s in steps],
        }


def step_window(step: dict[str, Any], last_warm_sched: int | None = None) -> tuple[int, int]:
    """The steady-state window (µs from the run's zero): warm-up end → sending stopped."""
    start = step["start"] + int(step.get("warmup_s", 0) * 1e6)
    if last_warm_sched is not None:
        start = max(start, last_warm_sched)
    return start, max(start, step["stop"])


def locust_events(rec: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    """Locust request events for one record: the request (time = E2E, size = output tokens), then
    the LLM figures as ``LLM`` entries in ms: TTFT, TTFC, TPOT, E2E, and one ITL per token gap."""
    m = request_metrics(rec)
    error = rec.get("err")
    out = [{"request_type": "POST", "name": endpoint, "response_time": m["e2e_ms"],
            "response_length": m["output_tokens"] or 0, "exception": RuntimeError(error) if error else None,
            "context": {}}]
    if error:
        return out
    for name, key in (("TTFT", "ttft_ms"), ("TTFC", "ttfc_ms"), ("TPOT", "tpot_ms"), ("E2E", "e2e_ms")):
        if m[key] is not None:
            out.append({"request_type": "LLM", "name": name, "response_time": m[key], "response_length": 0,
                        "exception": None, "context": {}})
    out += [{"request_type": "LLM", "name": "ITL", "response_time": gap, "response_length": 0, "exception": None,
             "context": {}} for gap in m["itl_ms"]]
    return out
