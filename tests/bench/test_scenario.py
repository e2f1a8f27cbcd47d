"""Scenario files: every shipped one loads; a broken one is a SuiteError naming file, line and path."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from conformance.bench.scenario import BENCH_DIR, Distribution, find_scenario, load_scenario
from conformance.errors import SuiteError

BASE = """\
kind: bench
name: t
endpoints: [chat_completions]
stream: true
request:
  prompt_tokens: 64
  output_tokens: 16
load:
  pattern: concurrency
  concurrency: 4
  duration_s: 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", sorted(BENCH_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path, contract) -> None:
    scenario = load_scenario(path, contract)
    assert scenario.name == path.stem
    assert scenario.load.duration_s > 0 and scenario.load.steps()


def test_defaults_and_contract_slo(tmp_path: Path, contract) -> None:
    s = load_scenario(write(tmp_path, BASE), contract)
    assert s.load.values == (4.0,) and s.load.pattern == "concurrency" and not s.load.swept
    assert s.load.warmup_s == 0 and s.load.workers == 1
    # No slo: in the file → the contract's latency p95 bounds, with the source named.
    assert s.slo == {"ttft_ms": 2000.0, "e2e_ms": 15000.0}
    assert "expectations.latency" in s.slo_source


def test_sweep_gives_one_step_per_value(tmp_path: Path, contract) -> None:
    text = BASE.replace("  concurrency: 4\n", "  sweep: [1, 8, 64]\n")
    s = load_scenario(write(tmp_path, text), contract)
    assert [(st.pattern, st.value) for st in s.load.steps()] == [("concurrency", 1), ("concurrency", 8),
                                                                 ("concurrency", 64)]
    assert s.load.swept


@pytest.mark.parametrize("change, line, where, expected", [
    (("  concurrency: 4\n", "  concurrency: 4\n  bogus: 1\n"), 11, "load.bogus", "unknown key 'bogus'"),
    (("pattern: concurrency", "pattern: burst"), 9, "load.pattern", "one of concurrency, rate, poisson"),
    (("  concurrency: 4\n", "  concurrency: 4\n  sweep: [1, 2]\n"), 10, "load.concurrency", "either sweep or"),
    (("pattern: concurrency\n  concurrency: 4", "pattern: rate\n  concurrency: 4"), 8, "load", "a rate key"),
    (("  concurrency: 4\n", "  concurrency: 2.5\n"), 10, "load.concurrency", "type integer"),
    (("[chat_completions]", "[completions]"), 3, "endpoints[0]", "one of chat_completions"),
    (("  output_tokens: 16\n", "  output_tokens: {uniform: [9, 3]}\n"), 7, "request.output_tokens.uniform",
     "min <= max"),
    (("  output_tokens: 16\n", "  output_tokens: 99999\n"), 7, "request.output_tokens", "max_output_tokens"),
    (("  output_tokens: 16\n", "  output_tokens: {gauss: 3}\n"), 7, "request.output_tokens", ""),
    (("  duration_s: 5\n", "  duration_s: 5\n  warmup: {seconds: 5}\n"), 12, "load.warmup.seconds", "shorter"),
    (("  output_tokens: 16\n", "  output_tokens: 16\n  params: {nope: 1}\n"), 8, "request.params.nope",
     "a parameter of the contract"),
    (("kind: bench", "kind: contract"), 1, "kind", "kind: bench"),
])
def test_errors_name_file_line_and_path(tmp_path: Path, contract, change, line, where, expected) -> None:
    old, new = change
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    with pytest.raises(SuiteError) as info:
        load_scenario(path, contract)
    err = info.value
    assert err.file == str(path)
    assert err.where == where
    assert err.line == line
    assert expected in err.expected
    assert str(err).startswith(f"{path}:{line}: at {where}: expected")


def test_yaml_syntax_error_has_a_line(tmp_path: Path, contract) -> None:
    with pytest.raises(SuiteError) as info:
        load_scenario(write(tmp_path, BASE + "  : : :\n  - [\n"), contract)
    assert info.value.line is not None


def test_find_scenario_by_name_and_unknown_name() -> None:
    assert find_scenario("smoke") == BENCH_DIR / "smoke.yaml"
    with pytest.raises(SuiteError) as info:
        find_scenario("no-such-scenario")
    assert "smoke" in info.value.expected


@pytest.mark.parametrize("spec, lo, hi", [
    (16, 16, 16),
    ({"uniform": [3, 9]}, 3, 9),
    ({"choice": [2, 4, 8]}, 2, 8),
    ({"normal": {"mean": 50, "stdev": 40, "min": 10, "max": 90}}, 10, 90),
    ({"lognormal": {"median": 20, "sigma": 1.5, "min": 2, "max": 200}}, 2, 200),
])
def test_distributions_stay_in_bounds_and_follow_the_seed(spec, lo, hi) -> None:
    d = Distribution.parse(spec)
    draws = [d.draw(random.Random(1)) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same draw
    rng = random.Random(7)
    values = [d.draw(rng) for _ in range(2000)]
    assert min(values) >= lo and max(values) <= hi
    assert all(isinstance(v, int) for v in values)
    if spec == {"choice": [2, 4, 8]}:
        assert set(values) == {2, 4, 8}
