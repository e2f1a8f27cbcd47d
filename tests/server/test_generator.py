import os
import subprocess
import sys
from dataclasses import replace

import pytest

from conformance.server.generator import (
    UNLIKELY_LOGPROB,
    Generation,
    Sampling,
    digest_prompt,
    generate,
)

DIGEST = digest_prompt([("user", "Write a haiku about the ocean.")])
SEEDS = range(12)


@pytest.fixture
def sampling(contract) -> Sampling:
    return Sampling.from_parameters({}, contract)


def run(sampling: Sampling, **changes) -> Generation:
    return generate(DIGEST, replace(sampling, **changes))


def test_defaults_come_from_the_contract(contract, sampling):
    p = contract.parameters
    assert sampling.temperature == p["temperature"].default
    assert sampling.top_p == p["top_p"].default
    assert sampling.max_tokens == p["max_tokens"].default
    assert sampling.thinking is p["enable_thinking"].default
    assert sampling.seed is None and sampling.stop == () and sampling.top_logprobs == 0


def test_omitting_a_parameter_equals_sending_its_default(contract):
    defaults = {name: p.default for name, p in contract.parameters.items() if p.has_default}
    assert defaults  # the contract does give defaults
    for seed in SEEDS:
        omitted = Sampling.from_parameters({"seed": seed}, contract)
        explicit = Sampling.from_parameters({"seed": seed, **defaults}, contract)
        assert omitted == explicit
        assert generate(DIGEST, omitted) == generate(DIGEST, explicit)


def test_same_seed_same_output_different_seed_different_output(sampling):
    first = run(sampling, seed=7)
    assert run(sampling, seed=7) == first
    assert run(sampling, seed=8) != first
    assert len({run(sampling, seed=s).text for s in SEEDS}) == len(SEEDS)


def test_without_seed_runs_differ(sampling):
    texts = {run(sampling).text for _ in range(3)}
    assert len(texts) == 3


def test_prompt_changes_output(sampling):
    other = digest_prompt([("user", "Write a haiku about the desert.")])
    assert generate(other, replace(sampling, seed=1)).text != run(sampling, seed=1).text


def test_output_is_stable_across_processes(sampling):
    """The logits come from BLAKE2b, not the per-process salted hash(): another interpreter agrees."""
    code = (
        "from conformance.server.generator import *\n"
        "from conformance.suite.loader import load_contract, DEFAULT_CONTRACT\n"
        "s = Sampling.from_parameters({'seed': 3}, load_contract(DEFAULT_CONTRACT))\n"
        "g = generate(digest_prompt([('user', 'Write a haiku about the ocean.')]), s)\n"
        "print(g.reasoning_text + '|' + g.text)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    here = run(sampling, seed=3)
    assert out.strip() == here.reasoning_text + "|" + here.text


def test_temperature_zero_is_greedy(sampling):
    a, b = run(sampling, temperature=0), run(sampling, temperature=0, seed=99)
    assert a == b  # no randomness left, seed or not
    greedy = run(sampling, temperature=0, top_logprobs=5)
    for token in greedy.answer:
        assert token.top_logprobs[0].token == token.text
        assert token.logprob == max(t.logprob for t in token.top_logprobs)


@pytest.mark.parametrize("change", [
    {"temperature": 0}, {"temperature": 1.8}, {"top_p": 0.3}, {"min_p": 0.3},
    {"presence_penalty": 2}, {"presence_penalty": -2}, {"frequency_penalty": 2}, {"frequency_penalty": -2},
    {"repetition_penalty": 2}, {"repetition_penalty": 0.5},
])
def test_each_sampling_parameter_changes_the_output_for_some_seed(sampling, change):
    assert any(run(sampling, seed=s) != run(sampling, seed=s, **change) for s in SEEDS)


def test_natural_lengths(sampling):
    answers = sorted(len(run(sampling, seed=s).answer) for s in range(40))
    reasoning = [len(run(sampling, seed=s).reasoning) for s in range(40)]
    assert 15 <= answers[len(answers) // 2] <= 40
    assert all(10 <= n <= 25 for n in reasoning)
    assert all(run(sampling, seed=s).finish_reason == "stop" for s in range(5))


def test_adversarial_penalties_still_terminate(sampling):
    g = run(sampling, seed=1, frequency_penalty=-2, top_p=0)
    assert g.finish_reason == "stop" and len(g.answer) < sampling.max_tokens


def test_max_tokens_caps_the_answer_with_length(sampling):
    for n in (1, 5):
        g = run(sampling, seed=4, max_tokens=n)
        assert len(g.answer) == n and g.finish_reason == "length"
        assert g.text == "".join(t.text for t in run(sampling, seed=4).answer[:n])


def test_stop_cuts_before_the_stop_string(sampling):
    full = run(sampling, seed=5).text
    words = full.split()
    stop = " " + words[len(words) // 2]
    g = run(sampling, seed=5, stop=(stop,))
    assert g.finish_reason == "stop_sequence" and g.stop_sequence == stop
    assert g.text == full[: full.index(stop)]
    assert stop not in g.text


def test_stop_inside_a_token_keeps_its_head_and_earliest_stop_wins(sampling):
    full = run(sampling, seed=6).text
    cut = len(full) // 2
    inner = full[cut:cut + 2]  # likely mid-word
    late = full[-3:]
    g = run(sampling, seed=6, stop=(late, inner))
    assert g.text == full[: min(full.index(inner), full.index(late))]
    assert g.finish_reason == "stop_sequence"


def test_stop_that_never_occurs_changes_nothing(sampling):
    assert run(sampling, seed=2, stop=("zzz",)) == run(sampling, seed=2)


def test_logprobs_are_log_probabilities_with_sorted_alternatives(sampling):
    for k in (0, 1, 5, 20):
        g = run(sampling, seed=3, top_logprobs=k)
        for token in g.answer:
            assert token.logprob <= 0
            assert len(token.top_logprobs) == k
            values = [t.logprob for t in token.top_logprobs]
            assert values == sorted(values, reverse=True)
            assert all(v <= 0 for v in values)
    filtered = run(sampling, seed=3, top_p=0.2, top_logprobs=20)
    assert any(t.logprob == UNLIKELY_LOGPROB for tok in filtered.answer for t in tok.top_logprobs)


def test_thinking_switches(contract):
    def thinking(**values):
        return Sampling.from_parameters(values, contract).thinking

    assert thinking() is True
    assert thinking(enable_thinking=False) is False
    assert thinking(reasoning_effort="low") is False
    assert thinking(reasoning_effort="medium") is True
    assert thinking(reasoning_effort="high", enable_thinking=False) is True
    assert thinking(reasoning_effort="low", enable_thinking=True) is False  # explicit default == omitted


def test_reasoning_is_separate_and_off_when_thinking_is_off(sampling):
    on, off = run(sampling, seed=1), run(sampling, seed=1, thinking=False)
    assert on.reasoning and not off.reasoning
    assert on.completion_tokens == len(on.answer) + len(on.reasoning)
    assert on.reasoning_text != on.text


def test_no_channel_markers_ever(sampling):
    for s in SEEDS:
        g = run(sampling, seed=s)
        for text in (g.text, g.reasoning_text):
            assert "<|" not in text and "|>" not in text and "<channel" not in text
