"""Builders for hand-made results and run info shared by the report tests."""
from __future__ import annotations

import pytest

from conformance.verdicts import Result, RunInfo, Status

CANARY = "sk-canary-1234567890"


def make_info(**overrides) -> RunInfo:
    fields = dict(
        started_at="2026-11-25T00:45:12Z",
        finished_at="2026-11-25T00:45:15.21Z",
        contract="openai-chat",
        model="gpt-test",
        target="local-stub",
        base_url="http://127.0.0.1:8000/v1",
        suite_file="suites/openai.yaml",
    )
    fields.update(overrides)
    return RunInfo(**fields)


def make_result(
    check: str = "usage_present",
    endpoint: str = "chat",
    case: str = "",
    status: Status = Status.PASSED,
    message: str = "",
    **extra,
) -> Result:
    return Result(check=check, endpoint=endpoint, case=case, status=status, message=message, **extra)


def mixed_results() -> list[Result]:
    """One of every status, plus a check with many cases on one endpoint."""
    results = [make_result(case=f"c{i}", duration_ms=10.0) for i in range(12)]
    results.append(
        make_result(
            case="c12",
            status=Status.FAILED,
            message="usage.total_tokens missing",
            rule="Every response reports usage",
            category="usage",
            request={"model": "gpt-test"},
            response={"usage": None},
            duration_ms=25.0,
        )
    )
    results += [
        make_result("stream_order", "responses", status=Status.SKIPPED, message="endpoint not offered"),
        make_result("stream_order", "chat", status=Status.XFAILED, message="known: no final chunk"),
        make_result("tool_calls", "chat", status=Status.XPASSED),
        make_result("tool_calls", "responses", status=Status.ERROR, message="connect timeout"),
    ]
    return results


@pytest.fixture
def info() -> RunInfo:
    return make_info()


@pytest.fixture
def results() -> list[Result]:
    return mixed_results()


@pytest.fixture
def canary() -> str:
    from conformance.secrets import register

    register(CANARY)
    return CANARY
