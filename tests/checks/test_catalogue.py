"""Every check passes on the faithful reference server and fails on one that breaks its rule."""
from __future__ import annotations

import pytest

from conformance.checks import REGISTRY
from conformance.suite.model import Contract
from conformance.verdicts import Status
from tests.conftest import run_checks


def test_every_check_has_a_rule() -> None:
    for spec in REGISTRY.values():
        assert spec.rule and spec.category, spec.name


def test_faithful_server_passes_everything_on_chat(contract: Contract) -> None:
    results = run_checks(contract, "chat_completions")
    assert results
    bad = [(r.id, r.message) for r in results if r.status is not Status.PASSED]
    assert bad == []
    assert {r.check for r in results} == set(REGISTRY)


# (fault switched on in the server, the check it must break, selection, words in the failure)
BREAKS = [
    ("wrong_object", "response_shape", "response_shape", "body.object"),
    ("missing_finish_reason", "response_shape", "response_shape", "finish_reason"),
    ("bad_usage_total", "response_shape", "response_shape", "total_tokens"),
    ("stream_wrong_content_type", "stream_framing", "stream_framing", "content-type"),
    ("stream_no_role", "stream_framing", "stream_framing", "role"),
    ("stream_finish_every_chunk", "stream_framing", "stream_framing", "finish_reason"),
    ("stream_no_done", "stream_framing", "stream_framing", "[DONE]"),
    ("stream_ignore_include_usage", "stream_framing", "stream_framing and -usage", "include_usage"),
    ("stream_usage_with_choices", "stream_framing", "stream_framing and -usage", "choices: []"),
    ("stream_unstable_id", "stream_framing", "stream_framing", "id changed"),
    ("stream_bad_json", "stream_framing", "stream_framing", "not JSON"),
    ("accept_out_of_range:temperature", "parameter_ranges", "ranges and temperature", "temperature=2.01"),
    ("accept_out_of_range:max_tokens", "parameter_ranges", "ranges and max_tokens", "max_tokens=4097"),
    ("error_without_param", "parameter_ranges", "ranges and top_p", "names neither"),
    ("invalid_param_status_422", "parameter_ranges", "ranges and seed", "expected 400, found 422"),
]


@pytest.mark.parametrize("fault,check,select,words", BREAKS, ids=[b[0] for b in BREAKS])
def test_check_fails_when_its_rule_is_broken(contract: Contract, fault: str, check: str, select: str,
                                             words: str) -> None:
    results = run_checks(contract, f"chat_completions and {select}", faults=[fault])
    failed = [r for r in results if r.status is Status.FAILED and r.check == check]
    assert failed, [(r.id, r.status, r.message) for r in results]
    assert any(words in r.message for r in failed), [r.message for r in failed]
    # Nothing but the broken rule fails: the fault breaks exactly one thing.
    assert all(r.check == check for r in results if r.status is not Status.PASSED)
