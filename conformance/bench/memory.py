"""The client's resident memory over a run, so a leak shows as a rising line rather than a crash.

The orchestrating process samples the resident set size (RSS) of every client process —
itself when the load runs in-process, each worker otherwise — about once a second, from
/proc (Linux) or, elsewhere, its own peak from `resource` (other processes unmeasured).
Samples are kept per process as (seconds since the run's start, RSS in MiB); the report
gives start, peak and end per process and plots them.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import Any

SAMPLE_EVERY_NS = 1_000_000_000
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pid: int) -> int | None:
    """Current RSS of `pid`, or None when it cannot be read (process gone, no /proc)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    if pid != os.getpid():
        return None
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


@dataclass
class RssSampler:
    """Samples named processes' RSS at most once per `every_ns`; call `poll()` often."""

    processes: dict[str, int]  # label → pid
    t0: int  # perf_counter_ns of the run's start
    every_ns: int = SAMPLE_EVERY_NS
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    _last: int = -(1 << 62)

    def poll(self, force: bool = False) -> None:
        now = perf_counter_ns()
        if not force and now - self._last < self.every_ns:
            return
        self._last = now
        for label, pid in self.processes.items():
            size = rss_bytes(pid)
            if size is not None:
                self.series.setdefault(label, []).append((round((now - self.t0) / 1e9, 3),
                                                          round(size / 2**20, 2)))

    def as_dict(self) -> dict[str, Any]:
        """The run file's `memory` entry: per process its samples and start / peak / end MiB."""
        return {"unit": "MiB", "processes": {label: summarise(points) | {"samples": points}
                                             for label, points in self.series.items()}}


def summarise(points: list[tuple[float, float]]) -> dict[str, float | None]:
    if not points:
        return {"start_mib": None, "peak_mib": None, "end_mib": None}
    return {"start_mib": points[0][1], "peak_mib": max(v for _, v in points), "end_mib": points[-1][1]}


__all__ = ["RssSampler", "rss_bytes", "summarise"]
