"""The reference server's token counter: deterministic, documented, and cheap.

A *token* is one match of the regular expression ``\\w+|[^\\w\\s]``: a run of word
characters, or a single character that is neither a word character nor white space.
White space is never a token. So ``"Hello, world"`` is 3 tokens (``Hello``, ``,``,
``world``) and ``"don't"`` is 3 (``don``, ``'``, ``t``).

The prompt of a chat costs::

    prompt_tokens = sum(count_tokens(message.prompt_text) + PER_MESSAGE_TOKENS for message in messages)
                    + REPLY_PRIMER_TOKENS + IMAGE_TOKENS * number_of_images

with ``PER_MESSAGE_TOKENS = 4`` (the role and turn delimiters a chat template adds around
every message), ``REPLY_PRIMER_TOKENS = 3`` (the opening of the assistant's reply) and
``IMAGE_TOKENS = 256`` per image (`conformance.server.images.image_tokens`). The text of a
message is what `conformance.server.validation.Message.prompt_text` holds: its text, then
the name and JSON arguments of each tool call it makes; a tool result is a message of its own.
Every protocol reports exactly this number as its prompt/input token count, so a client can
predict usage and the context limit from the request alone.

Output text the server streams is cut with `split_pieces`: one piece per token, each carrying
the white space before it, so the pieces join back into the text and there are exactly
`count_tokens` of them.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
_PIECE_PATTERN = re.compile(r"\s*(?:\w+|[^\w\s])")
PER_MESSAGE_TOKENS = 4
REPLY_PRIMER_TOKENS = 3


def split_tokens(text: str) -> list[str]:
    """The tokens of `text`, in order (white space dropped)."""
    return TOKEN_PATTERN.findall(text)


def split_pieces(text: str) -> list[str]:
    """`text` cut into one piece per token, white space kept: ``"".join(split_pieces(t)) == t``."""
    pieces = _PIECE_PATTERN.findall(text)
    if not pieces:
        return [text] if text else []
    tail = len(text) - sum(map(len, pieces))
    if tail:
        pieces[-1] += text[-tail:]  # trailing white space rides on the last token
    return pieces


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN_PATTERN.finditer(text))


def count_prompt_tokens(message_texts: Iterable[str], image_tokens: int = 0) -> int:
    """Prompt tokens of a chat whose messages carry these texts, plus its images' tokens (see above)."""
    return (sum(count_tokens(text) + PER_MESSAGE_TOKENS for text in message_texts) + REPLY_PRIMER_TOKENS
            + image_tokens)
