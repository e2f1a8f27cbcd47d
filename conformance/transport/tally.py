"""The run's request log in figures: requests, attempts, failures by kind, every retry."""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from conformance.transport.client import ClientSettings, Sample


def tally(samples: Iterable[Sample], settings: ClientSettings) -> dict[str, Any]:
    """The `requests` section of report.json.

    `failures_by_kind` counts each request once, by how its last attempt failed (a transport
    error, a 429 or 5xx, or a 2xx answer broken in transit); `retries` lists every attempt that
    was sent again, so a retried success is never mistaken for a clean one.
    """
    samples = list(samples)
    by_kind: Counter[str] = Counter(str(s.kind) for s in samples if s.kind)
    retries = [{"for": s.label, "endpoint": s.endpoint, **r.as_dict()} for s in samples for r in s.retries]
    retried_kinds: Counter[str] = Counter(str(r["kind"]) for r in retries)
    return {
        "settings": settings.describe(),
        "requests": len(samples),
        "attempts": len(samples) + len(retries),
        "failures_by_kind": dict(sorted(by_kind.items())),
        "retried_by_kind": dict(sorted(retried_kinds.items())),
        "retries": retries,
    }
