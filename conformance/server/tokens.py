"""The reference server's token counter: deterministic, documented, and cheap.

A *token* is one match of the regular expression ``\\w+|[^\\w\\s]``: a run of word
characters, or a single character that is neither a word character nor white space.
White space is never a token. So ``"Hello, world"`` is 3 tokens (``Hello``, ``,``,
``world``) and ``"don't"`` is 3 (``don``, ``'``, ``t``).

The prompt of a chat costs::

    prompt_tokens = sum(count_tokens(message.text) + PER_MESSAGE_TOKENS for message in messages)
                    + REPLY_PRIMER_TOKENS

with ``PER_MESSAGE_TOKENS = 4`` (the role and turn delimiters a chat template adds around
every message) and ``REPLY_PRIMER_TOKENS = 3`` (the opening of the assistant's reply).
The text of a message is what `conformance.server.validation.Message.text` holds. Every
protocol reports exactly this number as its prompt/input token count, so a client can
predict usage and the context limit from the request alone.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
PER_MESSAGE_TOKENS = 4
REPLY_PRIMER_TOKENS = 3


def split_tokens(text: str) -> list[str]:
    """The tokens of `text`, in order (white space dropped)."""
    return TOKEN_PATTERN.findall(text)


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN_PATTERN.finditer(text))


def count_prompt_tokens(message_texts: Iterable[str]) -> int:
    """Prompt tokens of a chat whose messages carry these texts (see the module docstring)."""
    return sum(count_tokens(text) + PER_MESSAGE_TOKENS for text in message_texts) + REPLY_PRIMER_TOKENS
