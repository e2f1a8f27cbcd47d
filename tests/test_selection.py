"""-k expressions pick results by id, as pytest's -k does."""
from __future__ import annotations

import pytest

from conformance.errors import SetupError
from conformance.selection import compile_selection

IDS = [
    "response_shape[chat_completions]",
    "stream_framing[chat_completions-usage]",
    "parameter_ranges[chat_completions-temperature=2-accept]",
    "parameter_ranges[chat_completions-top_p=1.01-reject]",
    "parameter_ranges[messages-temperature=2-accept]",
]


@pytest.mark.parametrize("expr,expected", [
    (None, IDS),
    ("", IDS),
    ("shape", IDS[:1]),
    ("temperature and chat", IDS[2:3]),
    ("ranges and not temperature", IDS[3:4]),
    ("shape or framing", IDS[:2]),
    ("(shape or framing) and usage", IDS[1:2]),
    ("TEMPERATURE and not (messages)", IDS[2:3]),
])
def test_selection(expr: str | None, expected: list[str]) -> None:
    matches = compile_selection(expr)
    assert [i for i in IDS if matches(i)] == expected


@pytest.mark.parametrize("expr", ["shape and", "(shape", "shape)", "and shape", "not"])
def test_bad_expression_is_a_setup_error(expr: str) -> None:
    with pytest.raises(SetupError, match="-k"):
        compile_selection(expr)("x")
