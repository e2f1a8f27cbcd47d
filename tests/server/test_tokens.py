from conformance.server.tokens import (
    PER_MESSAGE_TOKENS,
    REPLY_PRIMER_TOKENS,
    count_prompt_tokens,
    count_tokens,
    split_tokens,
)


def test_words_and_punctuation_are_tokens_whitespace_is_not():
    assert split_tokens("Hello, world") == ["Hello", ",", "world"]
    assert count_tokens("Hello, world") == 3
    assert count_tokens("don't") == 3
    assert count_tokens("  \n\t ") == 0
    assert count_tokens("") == 0
    assert count_tokens("a+b=c!") == 6


def test_unicode_word_characters_group():
    assert split_tokens("naïve café 東京") == ["naïve", "café", "東京"]


def test_prompt_tokens_add_per_message_overhead_and_reply_primer():
    assert (PER_MESSAGE_TOKENS, REPLY_PRIMER_TOKENS) == (4, 3)
    assert count_prompt_tokens([]) == 3
    assert count_prompt_tokens(["Hello, world"]) == 3 + 4 + 3
    assert count_prompt_tokens(["You are terse.", "Hi"]) == (4 + 4) + (1 + 4) + 3
