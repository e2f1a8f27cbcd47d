"""The kill matrix: every check fails against a reference server that breaks its rule.

Each row switches on one fault and runs the whole catalogue on chat completions; the set of
checks that fail must be exactly the expected one (the rule the fault breaks, plus the named
knock-on failures a broken seed or marker leak causes). A check that no fault kills cannot
fail, and is a defect.
"""
from __future__ import annotations

import dataclasses

import pytest

from conformance.checks import REGISTRY
from conformance.suite.model import Contract
from conformance.verdicts import Status
from tests.conftest import run_checks

SEED_DEPENDENT = {"omitted_equals_default", "parameter_changes_output", "seed_reproducible", "stop_honoured", "stream_matches_nonstream"}
# Without a working seed, two answers differ at random: these fail only when the draw says so.
MAY_ALSO_FAIL: dict[str, set[str]] = {"ignore_parameter:seed": {"usage_consistent"}}

KILLS: dict[str, set[str]] = {
    "wrong_object": {"response_shape"},
    "missing_finish_reason": {"response_shape", "max_tokens_honoured", "stop_honoured", "stream_matches_nonstream",
                              "tool_choice_honoured"},
    "bad_usage_total": {"response_shape", "usage_consistent"},
    # A client that trusts the content type cannot read the stream at all.
    "stream_wrong_content_type": {"stream_framing", "stream_matches_nonstream", "usage_consistent",
                                  "logprobs_consistent", "latency_slo", "structured_output_valid", "structured_output_generated",
                                  "tool_choice_honoured"},
    "stream_no_role": {"stream_framing"},
    "stream_finish_every_chunk": {"stream_framing"},
    "stream_no_done": {"stream_framing"},
    "stream_ignore_include_usage": {"stream_framing", "usage_consistent"},
    "stream_usage_with_choices": {"stream_framing"},
    "stream_unstable_id": {"stream_framing"},
    "stream_bad_json": {"stream_framing", "stream_matches_nonstream"},
    "accept_out_of_range:temperature": {"parameter_ranges", "random_invalid_requests_rejected"},
    "error_without_param": {"parameter_ranges", "random_invalid_requests_rejected"},
    "invalid_param_status_422": {"parameter_ranges", "context_window", "error_answers",
                                 "random_invalid_requests_rejected", "image_malformed_rejected"},
    "wrong_default:temperature": {"omitted_equals_default"},
    "wrong_default:enable_thinking": {"omitted_equals_default", "thinking_on_by_default"},
    "wrong_default:max_tokens": {"omitted_equals_default"},
    "ignore_parameter:temperature": {"parameter_changes_output"},
    "ignore_parameter:top_p": {"parameter_changes_output"},
    "ignore_parameter:min_p": {"parameter_changes_output"},
    "ignore_parameter:presence_penalty": {"parameter_changes_output"},
    "ignore_parameter:frequency_penalty": {"parameter_changes_output"},
    "ignore_parameter:repetition_penalty": {"parameter_changes_output"},
    "ignore_parameter:seed": SEED_DEPENDENT,
    "ignore_parameter:max_tokens": {"max_tokens_honoured"},
    "ignore_parameter:stop": {"stop_honoured"},
    "ignore_parameter:enable_thinking": {"thinking_switch"},
    "ignore_parameter:reasoning_effort": {"thinking_switch"},
    "ignore_parameter:logprobs": {"logprobs_consistent"},
    "length_as_stop": {"max_tokens_honoured"},
    "stop_included": {"stop_honoured"},
    "context_unenforced": {"context_window"},
    "thinking_off_by_default": {"omitted_equals_default", "thinking_on_by_default"},
    "reasoning_tokens_uncounted": {"thinking_on_by_default"},
    "leak_channel_markers": {"no_channel_markers", "logprobs_consistent", "max_tokens_honoured",
                             "structured_output_valid", "structured_output_generated"},
    "logprobs_positive": {"logprobs_consistent"},
    "top_logprobs_unsorted": {"logprobs_consistent"},
    "top_logprobs_extra": {"logprobs_consistent"},
    "logprobs_unasked": {"logprobs_absent_by_default"},
    "stream_usage_mismatch": {"stream_matches_nonstream", "usage_consistent"},
    "stream_drops_last_token": {"stream_matches_nonstream", "structured_output_valid", "structured_output_generated"},
    "tool_args_invalid": {"tool_choice_honoured"},
    "tool_args_not_json": {"tool_choice_honoured"},
    "tool_unknown_name": {"tool_choice_honoured"},
    "tool_call_id_prefix": {"tool_choice_honoured"},
    "tool_stream_repeat_id": {"tool_choice_honoured"},
    "tool_choice_ignored": {"tool_choice_honoured", "tool_round_trip"},
    "tool_finish_reason": {"tool_choice_honoured"},
    "structured_invalid": {"structured_output_valid", "structured_output_generated"},
    "structured_not_json": {"structured_output_valid", "structured_output_generated"},
    "image_unchecked": {"image_malformed_rejected"},
    "image_ignored": {"image_changes_answer"},
    "image_tokens_uncounted": {"image_accepted"},
    "crash_on_combination:stop+logprobs": {"random_valid_requests_accepted"},
    "auth_disabled": {"error_answers"},
    "unknown_model_accepted": {"error_answers"},
    "malformed_json_500": {"error_answers"},
}


# The same idea on the other endpoints: their own grammar faults, and generic ones that reach them.
KILLS_ELSEWHERE: dict[tuple[str, str], set[str]] = {
    ("responses", "responses_bad_sequence"): {"stream_framing"},
    ("responses", "responses_no_terminal"): {"stream_framing", "stream_matches_nonstream", "usage_consistent",
                                             "tool_choice_honoured"},
    ("responses", "responses_delta_before_added"): {"stream_framing"},
    ("responses", "responses_usage_total"): {"response_shape", "stream_framing", "usage_consistent"},
    ("responses", "leak_channel_markers"): {"no_channel_markers", "max_tokens_honoured", "structured_output_valid", "structured_output_generated"},
    ("responses", "tool_args_invalid"): {"tool_choice_honoured"},
    ("responses", "structured_invalid"): {"structured_output_valid", "structured_output_generated"},
    ("responses", "ignore_parameter:temperature"): {"parameter_changes_output"},
    ("responses", "accept_out_of_range:max_tokens"): {"parameter_ranges", "random_invalid_requests_rejected"},
    ("messages", "messages_no_event_lines"): {"stream_framing"},
    ("messages", "messages_no_message_stop"): {"stream_framing"},
    ("messages", "messages_delta_unstarted_block"): {"stream_framing", "stream_matches_nonstream",
                                                     "structured_output_valid", "structured_output_generated"},
    ("messages", "tool_unknown_name"): {"tool_choice_honoured"},
    ("messages", "image_ignored"): {"image_changes_answer"},
    ("messages", "messages_null_stop_reason"): {"response_shape", "stream_framing", "max_tokens_honoured",
                                                "stop_honoured", "tool_choice_honoured"},
    ("messages", "messages_done_sentinel"): {"stream_framing"},
    ("messages", "messages_openai_errors"): {"error_answers", "parameter_ranges", "context_window",
                                             "image_malformed_rejected",
                                             "random_invalid_requests_rejected"},
    ("messages", "ignore_parameter:stop"): {"stop_honoured"},
    ("messages", "endpoint_drift:messages"): {"same_answer_across_endpoints"},
    ("responses", "endpoint_drift:responses"): {"same_answer_across_endpoints"},
    # Only the official SDK's model catches this one: the protocol's JSON Schema lets it through.
    ("responses", "responses_sdk_usage"): {"response_shape"},
    ("messages", "ignore_parameter:enable_thinking"): {"thinking_switch"},
    ("messages", "auth_disabled"): {"error_answers"},
}


def _profile(fault: str) -> str:
    # Few random requests keep the matrix fast; the row that needs the search gets the full one.
    return "ci" if fault.startswith("crash_on_combination") else "live"


def test_clean_reference_server_passes_every_check(contract: Contract) -> None:
    results = run_checks(contract)
    assert {r.check for r in results} == set(REGISTRY)
    assert [(r.id, r.message) for r in results if r.status.is_bad] == []
    # The sampled checks conclude too: every sample passes, and the latency SLO has its bounds.
    assert [(r.id, r.message) for r in results if r.status is Status.INCONCLUSIVE] == []
    # Skips happen only where the contract or protocol says the rule cannot apply, with the reason.
    assert all(r.message for r in results if r.status is Status.SKIPPED)


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(KILLS))
def test_fault_kills_exactly_its_checks(contract: Contract, fault: str) -> None:
    results = run_checks(contract, "chat_completions", faults=[fault], profile=_profile(fault))
    failed = {r.check for r in results if r.status is Status.FAILED}
    errors = [(r.id, r.message) for r in results if r.status is Status.ERROR]
    assert errors == []
    details = {r.id: r.message for r in results if r.status is Status.FAILED}
    assert KILLS[fault] <= failed <= KILLS[fault] | MAY_ALSO_FAIL.get(fault, set()), details


# Killed in their own tests below, with a contract tuned so the fault stays cheap.
SEPARATE_KILLS = {"latency_slo": ["slow_first_token:250"]}


@pytest.mark.slow
@pytest.mark.parametrize("endpoint,fault", list(KILLS_ELSEWHERE), ids=[f"{e}-{f}" for e, f in KILLS_ELSEWHERE])
def test_fault_kills_exactly_its_checks_elsewhere(contract: Contract, endpoint: str, fault: str) -> None:
    results = run_checks(contract, endpoint, faults=[fault], profile=_profile(fault))
    failed = {r.check for r in results if r.status is Status.FAILED}
    assert [(r.id, r.message) for r in results if r.status is Status.ERROR] == []
    assert failed == KILLS_ELSEWHERE[(endpoint, fault)], {r.id: r.message for r in results if r.status is Status.FAILED}


def test_every_check_is_killed_by_some_fault(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {**KILLS, **{f"{fault}@{endpoint}": checks for (endpoint, fault), checks in KILLS_ELSEWHERE.items()}}
    killers = {name: sorted(f for f, checks in rows.items() if name in checks) + SEPARATE_KILLS.get(name, [])
               for name in REGISTRY}
    with capsys.disabled():
        print("\nkill matrix (check: faults that make it fail)")
        for name, faults in killers.items():
            print(f"  {name:28} {len(faults):2}  {', '.join(faults)}")
    assert [name for name, faults in killers.items() if not faults] == []


def test_latency_slo_is_killed_by_a_slow_server(contract: Contract) -> None:
    # A tight SLO and a modest stall keep this fast; the full-catalogue rows above would
    # multiply the stall by every request of the run. Six samples are the fewest with bounds on
    # both sides of a median at 95 % (the 1st and 6th order statistics).
    tight = dataclasses.replace(contract, expectations={
        **contract.expectations, "latency": {"samples": 6, "ttft_ms": {"p50": 150}, "e2e_ms": {"p50": 150}}})
    clean = run_checks(tight, "latency and chat_completions")
    assert [r.status for r in clean] == [Status.PASSED], [r.message for r in clean]
    results = run_checks(tight, "latency and chat_completions", faults=["slow_first_token:250"])
    assert [r.status for r in results] == [Status.FAILED]
    assert "ttft_ms p50" in results[0].message and "SLO 150 ms" in results[0].message
    assert results[0].samples == 6 and results[0].ci_low > 150


def test_latency_slo_is_inconclusive_on_too_few_samples(contract: Contract) -> None:
    # Five samples bound no p95 from above: not shown to be within the SLO, nor over it.
    few = dataclasses.replace(contract, expectations={
        **contract.expectations, "latency": {"samples": 5, "ttft_ms": {"p95": 2000}}})
    [result] = run_checks(few, "latency and chat_completions")
    assert result.status is Status.INCONCLUSIVE and "ttft_ms p95" in result.message and "∞" in result.message
