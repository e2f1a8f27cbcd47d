"""summary.md: header, counts, the check × endpoint table and the three lists below it."""
from __future__ import annotations

import re

from conformance.report.markdown import render_markdown
from conformance.verdicts import Status

from .conftest import make_info, make_result


def section(text, title):
    """The body of `## title`, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


def table_rows(text):
    return [line for line in section(text, "Results").splitlines() if line.startswith("|")]


def cells(row):
    # Split on pipes that are not escaped, as GFM does.
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_heading_run_info_and_counts(info, results):
    text = render_markdown(info, results)
    assert text.startswith("# Conformance report: openai-chat on local-stub\n")
    assert "- **Model:** `gpt-test`" in text
    assert "- **Base URL:** `http://127.0.0.1:8000/v1`" in text
    assert "- **Duration:** 3.21s" in text
    assert "**Result:** 12 passed, 1 failed, 1 skipped, 1 xfailed, 1 xpassed, 1 error (17 total)" in text


def test_table_is_check_by_endpoint(info, results):
    rows = table_rows(render_markdown(info, results))
    assert cells(rows[0]) == ["Check", "`chat`", "`responses`"]
    assert re.fullmatch(r"\|(---\|)+", rows[1])
    body = {cells(r)[0]: cells(r)[1:] for r in rows[2:]}
    assert list(body) == ["`usage_present`", "`stream_order`", "`tool_calls`"]
    assert body["`usage_present`"][0].endswith("12 passed, 1 failed")
    assert body["`usage_present`"][0].startswith("❌")  # a mixed cell must not look green
    assert body["`usage_present`"][1] == "—"  # no result for that pair
    assert body["`stream_order`"] == ["🔸 xfailed", "⏭️ skipped"]
    assert body["`tool_calls`"] == ["❗ xpassed", "💥 error"]


def test_all_passing_cell_is_green(info):
    rows = table_rows(render_markdown(info, [make_result(case=str(i)) for i in range(3)]))
    assert cells(rows[2])[1] == "✅ 3 passed"


def test_pipes_are_escaped_in_cells(info):
    text = render_markdown(info, [make_result(check="a|b", endpoint="x|y")])
    rows = table_rows(text)
    assert cells(rows[0]) == ["Check", r"`x\|y`"]
    assert cells(rows[2]) == [r"`a\|b`", "✅ passed"]


def test_failures_section(info, results):
    failures = section(render_markdown(info, results), "Failures")
    assert "`usage_present[chat-c12]`: usage.total\\_tokens missing" in failures
    assert "rule: Every response reports usage" in failures
    assert "`tool_calls[chat]`" in failures and "expected divergence did not occur" in failures
    assert "`tool_calls[responses]`: connect timeout" in failures
    assert "usage_present[chat-c3]" not in failures
    assert "stream_order" not in failures


def test_multiline_message_is_fenced(info):
    message = "diff:\n```\n- a\n+ b\n```"
    text = render_markdown(info, [make_result(status=Status.FAILED, message=message)])
    failures = section(text, "Failures")
    # The fence is longer than any backtick run inside, so the message cannot close it.
    assert "  ````text\n  diff:\n  ```\n  - a\n  + b\n  ```\n  ````" in failures


def test_skipped_section_with_reasons(info, results):
    skipped = section(render_markdown(info, results), "Skipped")
    assert "`stream_order[responses]` (skipped): endpoint not offered" in skipped
    assert "`stream_order[chat]` (xfailed, expected divergence): known: no final chunk" in skipped
    assert "tool_calls" not in skipped


def test_assumptions_section(results):
    info = make_info(assumptions=[
        {"where": "suites/openai.yaml:12", "text": "usage counts cached tokens | or not"},
        {"where": "target.yaml:3", "text": "rate limit is per key"},
    ])
    assumptions = section(render_markdown(info, results), "Assumptions to confirm on a live run")
    assert "- `suites/openai.yaml:12`: usage counts cached tokens \\| or not" in assumptions
    assert "- `target.yaml:3`: rate limit is per key" in assumptions


def test_sections_in_order_and_empty_ones_say_so(info):
    text = render_markdown(info, [make_result()])
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == ["Results", "Failures", "Skipped", "Assumptions to confirm on a live run"]
    assert section(text, "Failures").strip() == "None."
    assert section(text, "Skipped").strip() == "None."


def test_interrupted_and_aborted_are_called_out(results):
    text = render_markdown(make_info(interrupted=True, aborted="terminated (SIGTERM)"), results)
    assert "> **Interrupted:** terminated (SIGTERM); results below are partial." in text
    text = render_markdown(make_info(aborted="endpoint went away"), results)
    assert "> **Aborted:** endpoint went away" in text


def test_markdown_metacharacters_and_controls_are_neutralised(info):
    result = make_result(status=Status.ERROR, message="<img src=x> *bold* [link](y) \x1b[31mred")
    failures = section(render_markdown(info, [result]), "Failures")
    assert r"\<img src=x\> \*bold\* \[link\](y) \\x1b\[31mred" in failures
    assert "\x1b" not in failures


def test_backticks_in_identifiers(info):
    text = render_markdown(info, [make_result(check="a`b", status=Status.FAILED, message="m")])
    assert "``a`b[chat]``" in section(text, "Failures")


def test_empty_run(info):
    text = render_markdown(info, [])
    assert "**Result:** no checks ran" in text
    assert "## Results" not in text
