"""Suite files: the shipped suites load; each kind of mistake is named with file, line, path, expectation."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conformance.errors import SuiteError
from conformance.suite.loader import DEFAULT_CONTRACT, SUITES_DIR, find_target, load_contract, load_protocols

SEED_PARAMETERS = {
    "temperature", "top_p", "min_p", "max_tokens", "stop", "seed", "enable_thinking", "reasoning_effort",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "logprobs", "top_logprobs", "tools",
}


def test_shipped_contract_holds_every_seed_fact() -> None:
    c = load_contract(DEFAULT_CONTRACT)
    assert c.model == "gemma-4-e4b"
    assert list(c.endpoints) == ["chat_completions", "responses", "messages"]
    assert set(c.parameters) == SEED_PARAMETERS
    t = c.parameters["temperature"]
    assert (t.default, t.minimum, t.maximum) == (0.7, 0, 2)
    assert c.parameters["max_tokens"].binding("responses").wire_name == "max_output_tokens"
    assert c.parameters["stop"].binding("messages").wire_name == "stop_sequences"
    assert not c.parameters["stop"].binding("responses").supported
    assert c.parameters["reasoning_effort"].values == ("low", "medium", "high")
    assert (c.limits.context_tokens, c.limits.max_output_tokens) == (8192, 4096)
    assert (c.pricing.per_successful_message, c.pricing.per_web_search_call) == (0.03, 0.013)
    assert c.provider.api_key_env == "EMPIRIOLABS_API_KEY"
    assert c.provider.base_url == "https://api.empiriolabs.ai/v1"
    assert c.features["thinking"]["default"] is True
    assert c.features["input_modalities"] == ["text", "image"]
    # The seed is silent on /v1/messages extras: those bindings must be visible assumptions.
    assert any(a.where == "parameters.seed.fields.messages" for a in c.assumptions)


def test_protocol_layers_and_targets_load() -> None:
    protocols = load_protocols(SUITES_DIR / "protocols")
    assert set(protocols) == {"chat_completions", "responses", "messages"}
    assert protocols["messages"].named_events and not protocols["chat_completions"].named_events
    assert find_target("reference").server == "reference"
    assert find_target("live").server == "provider"


@pytest.fixture
def suite_copy(tmp_path: Path) -> Path:
    shutil.copytree(SUITES_DIR, tmp_path / "suites")
    return tmp_path / "suites" / "gemma-4-e4b.yaml"


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    """Line of `needle`; with `a >> b`, the first line holding b after the line holding a."""
    first, _, then = needle.partition(" >> ")
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines, 1) if first in line)
    if not then:
        return start
    return next(i for i, line in enumerate(lines[start - 1:], start) if then in line)


MISTAKES = [
    # (what is broken, old text, new text, YAML path named, words of the expectation, line marker)
    ("unknown key", "  top_p:\n    type: number\n", "  top_p:\n    type: number\n    defualt: 0.9\n",
     "parameters.top_p.defualt", "unknown key 'defualt'", "defualt: 0.9"),
    ("wrong type", "    default: 4096\n", "    default: 4096\n    max_items: many\n",
     "parameters.max_tokens.max_items", "type integer", "max_items: many"),
    ("min > max", "    minimum: -2\n    maximum: 2\n    description: Penalize tokens that already",
     "    minimum: 3\n    maximum: 2\n    description: Penalize tokens that already",
     "parameters.presence_penalty.minimum", "minimum <= maximum", "minimum: 3"),
    ("default outside range", "    default: 0.7\n", "    default: 2.5\n",
     "parameters.temperature.default", "within the range 0..2", "default: 2.5"),
    ("unknown endpoint", "endpoints: [chat_completions, responses, messages]",
     "endpoints: [chat_completions, completions, messages]",
     "endpoints[1]", "found 'completions'", "endpoints: ["),
    ("unknown parameter type", "    type: boolean\n    default: true\n", "    type: bool\n    default: true\n",
     "parameters.enable_thinking.type", "one of number, integer", "type: bool"),
    ("duplicate key", "  context_tokens: 8192\n", "  context_tokens: 8192\n  context_tokens: 4096\n",
     "limits.context_tokens", "duplicate key", "context_tokens: 4096"),
    ("binding for an endpoint not served", "      chat_completions: min_p\n", "      completions: min_p\n",
     "parameters.min_p.fields.completions", "an endpoint this contract lists", "completions: min_p"),
    ("missing binding", "      messages: {unsupported: \"the Messages protocol has no logprobs\"}\n  top_logprobs",
     "  top_logprobs", "parameters.logprobs.fields", "field binding for endpoint 'messages'",
     "Return token log probabilities >> fields:"),
]


@pytest.mark.parametrize("what,old,new,where,expected,marker", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistakes_are_named(suite_copy: Path, what: str, old: str, new: str, where: str, expected: str,
                            marker: str) -> None:
    _break(suite_copy, old, new)
    with pytest.raises(SuiteError) as info:
        load_contract(suite_copy)
    err = info.value
    assert err.file == str(suite_copy)
    assert err.where == where
    assert expected in err.expected
    assert err.line == _line_of(suite_copy, marker)
    assert str(err).startswith(f"{suite_copy}:{err.line}: at {where}: expected ")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: contract\nname: [unclosed\n")
    with pytest.raises(SuiteError) as info:
        load_contract(bad)
    assert info.value.line is not None and "valid YAML" in info.value.expected


def test_wrong_kind_in_protocol_layer(suite_copy: Path) -> None:
    proto = suite_copy.parent / "protocols" / "openai-responses.yaml"
    _break(proto, "  named_events: true", "  named_events: yes-please")
    with pytest.raises(SuiteError) as info:
        load_contract(suite_copy)
    assert info.value.file == str(proto) and info.value.where == "stream.named_events"


def test_target_timeouts_load_and_a_bad_one_is_named(tmp_path: Path) -> None:
    from conformance.suite.loader import load_target

    assert find_target("reference").timeouts["total"] > 0
    good = tmp_path / "good.yaml"
    good.write_text("kind: target\nname: t\nserver: external\nbase_url: http://h/v1\n"
                    "timeouts: {connect: 1, first_byte: 2.5, idle: 3, total: 9}\n")
    assert load_target(good).timeouts == {"connect": 1.0, "first_byte": 2.5, "idle": 3.0, "total": 9.0}
    for bad_line, where, expected in [("  idle: soon\n", "timeouts.idle", "type number"),
                                      ("  total: 0\n", "timeouts.total", "greater than 0"),
                                      ("  conect: 1\n", "timeouts.conect", "unknown key 'conect'")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text("kind: target\nname: t\nserver: external\nbase_url: http://h/v1\ntimeouts:\n" + bad_line)
        with pytest.raises(SuiteError) as info:
            load_target(bad)
        assert str(info.value).startswith(f"{bad}:6: at {where}: expected ") and expected in str(info.value)
