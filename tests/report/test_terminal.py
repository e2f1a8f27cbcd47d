"""Terminal summary: the grid, the failure lines, and the pytest-style final line."""
from __future__ import annotations

import re

import pytest

from conformance.report.terminal import render_terminal
from conformance.verdicts import Status

from .conftest import make_info, make_result

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_final_line_like_pytest(info):
    results = (
        [make_result(case=str(i)) for i in range(40)]
        + [make_result("other", status=Status.FAILED, message="boom")]
        + [make_result("skippy", case=str(i), status=Status.SKIPPED) for i in range(2)]
    )
    text = render_terminal(info, results, color=False)
    assert text.splitlines()[-1] == "== 40 passed, 1 failed, 2 skipped in 3.21s =="


def test_final_line_all_statuses_and_plural_errors(info, results):
    results.append(make_result("tool_calls", "responses", "again", Status.ERROR, "timeout"))
    last = render_terminal(info, results, color=False).splitlines()[-1]
    assert last == "== 12 passed, 1 failed, 1 skipped, 1 xfailed, 1 xpassed, 2 errors in 3.21s =="


def test_final_line_without_time_when_unfinished(results):
    text = render_terminal(make_info(finished_at=None), results, color=False)
    assert text.splitlines()[-1].endswith("1 error ==")
    assert " in " not in text.splitlines()[-1]


def test_final_line_for_long_runs(results):
    info = make_info(finished_at="2026-11-25T00:47:17.5Z")
    assert render_terminal(info, results, color=False).splitlines()[-1].endswith("in 125.50s (0:02:05) ==")


def test_grid_cells(info, results):
    lines = render_terminal(info, results, color=False).splitlines()
    assert lines[0].split() == ["check", "chat", "responses"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert re.fullmatch(r"usage_present\s+FAIL 1/13\s+-", rows["usage_present"])
    assert re.fullmatch(r"stream_order\s+xfail\s+skip", rows["stream_order"])
    assert re.fullmatch(r"tool_calls\s+FAIL 1/1\s+ERROR 1/1", rows["tool_calls"])


def test_passing_cell_counts_cases(info):
    results = [make_result(case=str(i)) for i in range(12)] + [make_result(case="x", status=Status.XFAILED)]
    row = render_terminal(info, results, color=False).splitlines()[1]
    assert re.fullmatch(r"usage_present\s+PASS 12 \+1 xfail", row)


def test_columns_line_up(info, results):
    lines = render_terminal(info, results, color=False).splitlines()[:4]
    column = lines[0].index("responses")
    assert [line[column:column + 1] != " " for line in lines] == [True] * 4
    assert all(line[column - 1] == " " for line in lines)


def test_failure_lines(info, results):
    lines = render_terminal(info, results, color=False).splitlines()
    assert "FAILED usage_present[chat-c12]: usage.total_tokens missing" in lines
    assert any(line.startswith("FAILED tool_calls[chat]: expected divergence did not occur") for line in lines)
    assert "ERROR tool_calls[responses]: connect timeout" in lines
    assert not any("stream_order" in line and ("FAILED" in line or "ERROR" in line) for line in lines)


def test_at_most_twenty_failure_lines(info):
    results = [make_result(case=str(i), status=Status.FAILED, message=f"bad {i}") for i in range(25)]
    lines = render_terminal(info, results, color=False).splitlines()
    assert sum(line.startswith("FAILED ") for line in lines) == 20
    assert "... and 5 more (see summary.md)" in lines


def test_message_cut_to_one_line(info):
    message = "first line\nsecond line " + "x" * 300
    lines = render_terminal(info, [make_result(status=Status.FAILED, message=message)], color=False).splitlines()
    line = next(line for line in lines if line.startswith("FAILED"))
    message_part = line.split(": ", 1)[1]
    assert message_part.startswith("first line second line x")
    assert len(message_part) <= 160
    assert message_part.endswith("…")


def test_control_characters_in_messages_are_shown_not_sent(info):
    result = make_result(status=Status.FAILED, message="evil \x1b[2J\rcleared")
    text = render_terminal(info, [result], color=False)
    assert "\x1b" not in text and "\r" not in text
    assert "evil \\x1b[2J cleared" in text


def test_no_ansi_without_color(info, results):
    assert "\x1b" not in render_terminal(info, results, color=False)


def test_color_only_adds_escape_codes(info, results):
    plain = render_terminal(info, results, color=False)
    colored = render_terminal(info, results, color=True)
    assert colored != plain
    assert ANSI.sub("", colored) == plain
    assert colored.splitlines()[-1].startswith("\x1b[1;31m")  # failures make the last line red


@pytest.mark.parametrize(
    ("statuses", "style"),
    [([Status.PASSED], "\x1b[1;32m"), ([Status.SKIPPED], "\x1b[1;33m"), ([Status.PASSED, Status.ERROR], "\x1b[1;31m")],
)
def test_final_line_color(info, statuses, style):
    results = [make_result(case=str(i), status=s) for i, s in enumerate(statuses)]
    assert render_terminal(info, results, color=True).splitlines()[-1].startswith(style)


def test_interrupted_run_says_so(results):
    text = render_terminal(make_info(interrupted=True, aborted="interrupted (Ctrl-C)"), results, color=False)
    assert "!! interrupted (Ctrl-C): results are partial !!" in text
    assert "aborted" not in text
    text = render_terminal(make_info(interrupted=True), results, color=False)
    assert "!! interrupted: results are partial !!" in text


def test_aborted_run_says_why(info):
    text = render_terminal(make_info(aborted="endpoint unreachable"), [], color=False)
    assert text.splitlines() == ["!! aborted: endpoint unreachable !!", "== no checks ran in 3.21s =="]
    assert render_terminal(make_info(aborted="x"), [], color=True).splitlines()[-1].startswith("\x1b[1;31m")


def test_no_trailing_newline_for_print(info, results):
    assert not render_terminal(info, results, color=False).endswith("\n")


def test_empty_run(info):
    assert render_terminal(info, [], color=False).splitlines() == ["== no checks ran in 3.21s =="]


def test_secret_cut_at_the_edge_leaves_no_prefix(info, canary):
    # Cutting first and redacting second would leave "sk-canary-12…", which redact() misses.
    message = "y" * 150 + canary + " tail"
    text = render_terminal(info, [make_result(status=Status.FAILED, message=message)], color=False)
    assert "sk-canary" not in text
