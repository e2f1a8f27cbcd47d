"""junit.xml: counts, outcome elements, properties and escaping as CI parsers expect."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from conformance.report.junit import render_junit
from conformance.verdicts import Status

from .conftest import make_info, make_result


def parse(text):
    return ET.fromstring(text.encode("utf-8"))


def suite_of(root):
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def case_named(suite, name, classname):
    matches = [c for c in suite.findall("testcase") if c.get("name") == name and c.get("classname") == classname]
    assert len(matches) == 1, f"{classname}::{name}"
    return matches[0]


def test_declaration_and_counts(info, results):
    text = render_junit(info, results)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = parse(text)
    suite = suite_of(root)
    for element in (root, suite):
        assert element.get("tests") == "17"
        assert element.get("failures") == "2"  # failed + xpassed
        assert element.get("errors") == "1"
        assert element.get("skipped") == "2"  # skipped + xfailed
    assert suite.get("name") == "conformance"
    assert len(suite.findall("testcase")) == 17


def test_suite_time_is_wall_clock_when_known(info, results):
    assert suite_of(parse(render_junit(info, results))).get("time") == "3.210"


def test_suite_time_falls_back_to_sum_of_durations(results):
    info = make_info(finished_at=None)
    # 12 × 10 ms + 25 ms
    assert suite_of(parse(render_junit(info, results))).get("time") == "0.145"


def test_properties(info, results):
    suite = suite_of(parse(render_junit(info, results)))
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["contract"] == "openai-chat"
    assert props["model"] == "gpt-test"
    assert props["target"] == "local-stub"
    assert props["base_url"] == "http://127.0.0.1:8000/v1"


def test_interrupted_and_aborted_are_properties(results):
    info = make_info(interrupted=True, aborted="endpoint unreachable")
    props = {p.get("name"): p.get("value") for p in suite_of(parse(render_junit(info, results))).find("properties")}
    assert props["interrupted"] == "true"
    assert props["aborted"] == "endpoint unreachable"


def test_testcase_naming_and_time(info, results):
    suite = suite_of(parse(render_junit(info, results)))
    passed = case_named(suite, "usage_present[c3]", "chat")
    assert passed.get("time") == "0.010"
    assert list(passed) == []
    # No case: the name is the bare check.
    case_named(suite, "stream_order", "responses")


def test_failed_is_failure_with_evidence(info, results):
    suite = suite_of(parse(render_junit(info, results)))
    failure = case_named(suite, "usage_present[c12]", "chat").find("failure")
    assert failure is not None
    assert failure.get("message") == "usage.total_tokens missing"
    assert failure.get("type") == "failed"
    assert "rule: Every response reports usage" in failure.text
    assert '"model": "gpt-test"' in failure.text


def test_xpassed_is_failure(info, results):
    case = case_named(suite_of(parse(render_junit(info, results))), "tool_calls", "chat")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("type") == "xpassed"
    assert "expected divergence did not occur" in failure.get("message")


def test_error_is_error(info, results):
    case = case_named(suite_of(parse(render_junit(info, results))), "tool_calls", "responses")
    assert case.find("failure") is None
    assert case.find("error").get("message") == "connect timeout"


def test_skipped_and_xfailed_are_skipped(info, results):
    suite = suite_of(parse(render_junit(info, results)))
    skipped = case_named(suite, "stream_order", "responses").find("skipped")
    assert skipped.get("message") == "endpoint not offered"
    xfailed = case_named(suite, "stream_order", "chat").find("skipped")
    assert xfailed.get("message") == "expected divergence (xfail): known: no final chunk"


def test_markup_characters_round_trip(info):
    nasty = 'expected <tool_call> & "quoted" \'single\' ]]> end'
    result = make_result(check="a<b>&\"c", endpoint="e&\"p", case="<x>", status=Status.FAILED, message=nasty)
    text = render_junit(info, [result])
    assert nasty not in text  # escaped on the wire
    case = suite_of(parse(text)).find("testcase")
    assert case.get("name") == 'a<b>&"c[<x>]'
    assert case.get("classname") == 'e&"p'
    assert case.find("failure").get("message") == nasty
    assert case.find("failure").text.startswith(nasty)


def test_control_characters_are_stripped(info):
    message = "bad\x00byte\x1b[31m here\x0bthere\x7f\udcff\ufffe ok"
    result = make_result(status=Status.ERROR, message=message, response={"content": "nul\x00"})
    text = render_junit(info, [result])
    case = suite_of(parse(text)).find("testcase")  # would raise on an illegal character
    error = case.find("error")
    # \x0b counts as whitespace, so the one-line title turns it into a space.
    assert error.get("message") == "badbyte[31m here there\x7f ok"
    assert error.text.startswith("badbyte[31m herethere\x7f ok")
    # Excerpts are JSON-encoded, which already makes the NUL a visible escape.
    assert '"content": "nul\\u0000"' in error.text
    assert "\x00" not in text and "\x1b" not in text and "\x0b" not in text


def test_newlines_and_tabs_survive_in_body(info):
    result = make_result(status=Status.FAILED, message="line 1\n\tline 2")
    failure = suite_of(parse(render_junit(info, [result]))).find("testcase").find("failure")
    assert failure.get("message") == "line 1 line 2"  # attribute is a one-line title
    assert failure.text.startswith("line 1\n\tline 2")


def test_empty_run_is_valid(info):
    root = parse(render_junit(info, []))
    assert suite_of(root).get("tests") == "0"
