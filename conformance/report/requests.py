"""The run's request figures in words: failures by kind, retries, and how requests were sent."""
from __future__ import annotations

from typing import Any


def request_lines(requests: dict[str, Any] | None) -> list[str]:
    """A few plain lines for the terminal and summary.md; none for a clean run with the defaults."""
    if not requests:
        return []
    lines: list[str] = []
    settings = requests.get("settings", {})
    if settings and not settings.get("tls_verify", True):
        lines.append("TLS verification: OFF (--insecure): the server's certificate was not checked")
    failures = requests.get("failures_by_kind") or {}
    if failures:
        lines.append(f"request failures by kind ({requests.get('requests', 0)} requests): "
                     + ", ".join(f"{kind} ×{n}" for kind, n in failures.items()))
    retries = requests.get("retries") or []
    if retries:
        kinds = requests.get("retried_by_kind") or {}
        lines.append(f"retries: {len(retries)} ({', '.join(f'{k} ×{n}' for k, n in kinds.items())}); "
                     f"{requests.get('attempts', 0)} attempts for {requests.get('requests', 0)} requests")
    return lines


def settings_line(requests: dict[str, Any] | None) -> str:
    settings = (requests or {}).get("settings") or {}
    t = settings.get("timeouts_s") or {}
    if not t:
        return ""
    return (f"timeouts (s): connect {t['connect']:g}, first byte {t['first_byte']:g}, idle {t['idle']:g}, "
            f"total {t['total']:g}; retries {settings.get('retries', 0)}; "
            f"TLS verification {'on' if settings.get('tls_verify', True) else 'OFF'}")
