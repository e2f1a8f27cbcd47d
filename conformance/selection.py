"""`-k EXPR`: pick results by keyword expression, as pytest's -k does.

Words match case-insensitively as substrings of a result id (`check[endpoint-case]`);
they combine with `and`, `or`, `not` and parentheses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from conformance.errors import SetupError

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
Matcher = Callable[[str], bool]


@dataclass
class _Parser:
    tokens: list[str]
    pos: int = 0
    source: str = ""

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise SetupError(f"-k {self.source!r}: expected a word or '(' at the end")
        self.pos += 1
        return token

    def expr(self) -> Matcher:
        left = self.term()
        while self.peek() == "or":
            self.take()
            right, prev = self.term(), left
            left = lambda s, a=prev, b=right: a(s) or b(s)  # noqa: E731
        return left

    def term(self) -> Matcher:
        left = self.factor()
        while self.peek() == "and":
            self.take()
            right, prev = self.factor(), left
            left = lambda s, a=prev, b=right: a(s) and b(s)  # noqa: E731
        return left

    def factor(self) -> Matcher:
        token = self.take()
        if token == "not":
            inner = self.factor()
            return lambda s: not inner(s)
        if token == "(":
            inner = self.expr()
            if self.take() != ")":
                raise SetupError(f"-k {self.source!r}: expected ')'")
            return inner
        if token in (")", "and", "or"):
            raise SetupError(f"-k {self.source!r}: unexpected {token!r}")
        word = token.lower()
        return lambda s: word in s.lower()


def compile_selection(expression: str | None) -> Matcher:
    if not expression or not expression.strip():
        return lambda s: True
    parser = _Parser(_TOKEN.findall(expression), source=expression)
    matcher = parser.expr()
    if parser.peek() is not None:
        raise SetupError(f"-k {expression!r}: unexpected {parser.peek()!r}")
    return matcher
