"""Expected divergences of a target run as strict expected failures."""
from __future__ import annotations

from pathlib import Path

import pytest

from conformance.errors import SuiteError
from conformance.runner import apply_divergences
from conformance.suite.loader import load_target
from conformance.suite.model import Divergence
from conformance.verdicts import Result, Status

KNOWN = (Divergence("parameter_ranges", "chat_completions", "temperature=2.01", "no upper bound enforced"),)


def result(status: Status, case: str = "temperature=2.01-reject") -> Result:
    return Result("parameter_ranges", "chat_completions", case, status, "boom")


def test_known_divergence_that_occurs_is_xfailed() -> None:
    r = apply_divergences(result(Status.FAILED), KNOWN)
    assert r.status is Status.XFAILED and "no upper bound enforced" in r.message and "boom" in r.message
    assert not r.status.is_bad


def test_known_divergence_that_no_longer_occurs_is_xpassed_and_bad() -> None:
    r = apply_divergences(result(Status.PASSED), KNOWN)
    assert r.status is Status.XPASSED and r.status.is_bad


def test_other_results_untouched() -> None:
    assert apply_divergences(result(Status.FAILED, "top_p=1.01-reject"), KNOWN).status is Status.FAILED
    assert apply_divergences(result(Status.SKIPPED), KNOWN).status is Status.SKIPPED


def test_target_file_divergences_name_registered_checks(tmp_path: Path) -> None:
    good = tmp_path / "t.yaml"
    good.write_text("kind: target\nname: t\nserver: external\nbase_url: http://127.0.0.1:1/v1\n"
                    "expected_divergences:\n  - {check: stream_framing, endpoint: '*', reason: r}\n")
    assert load_target(good).divergences[0].matches("stream_framing", "messages", "usage")
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("stream_framing", "stream_framin"))
    with pytest.raises(SuiteError) as info:
        load_target(bad)
    assert info.value.where == "expected_divergences[0].check" and info.value.line == 6


def test_a_chance_divergence_is_a_rate_not_an_expected_failure(tmp_path: Path) -> None:
    # What diverges only by chance is sampled against a lower rate; the divergences list does
    # not hold it, so a pass of it is a plain pass and a failure a plain failure there.
    target = tmp_path / "t.yaml"
    target.write_text("kind: target\nname: t\nserver: external\nbase_url: http://127.0.0.1:1/v1\n"
                      "rates:\n  - {check: stream_framing, endpoint: chat_completions, rate: 0.3, samples: 3, "
                      "reason: a clock tick}\n")
    loaded = load_target(target)
    assert loaded.divergences == ()
    [rate] = loaded.rates
    assert (rate.rate, rate.samples, rate.reason) == (0.3, 3, "a clock tick")
    assert rate.matches("stream_framing", "chat_completions", "") and not rate.matches("stream_framing", "messages", "")
    assert apply_divergences(result(Status.INCONCLUSIVE), loaded.divergences).status is Status.INCONCLUSIVE


def test_the_llamacpp_rates_never_fail_by_chance() -> None:
    # Each rate and its samples: no outcome of the samples is FAILED (0/n stays above the rate).
    from conformance.stats import rate_verdict
    for rate in load_target(Path(__file__).parent.parent / "suites/targets/llamacpp.yaml").rates:
        assert rate.rate is not None and rate.samples
        assert all(rate_verdict(x, rate.samples, rate.rate).status is not Status.FAILED
                   for x in range(rate.samples + 1)), rate
