"""Cost: counted per successful message, previewed, and never past --max-cost."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from conformance.billing import BudgetExceeded, Meter, preview
from conformance.cli import main
from conformance.runner import plan, run_plan
from conformance.secrets import Secret
from conformance.selection import compile_selection
from conformance.server.app import create_app
from conformance.suite.model import Contract
from conformance.transport.client import Client
from conformance.verdicts import Result

KEY = "billing-test-key-123"


def test_meter_refuses_the_request_that_could_cross_the_budget(contract: Contract) -> None:
    meter = Meter(contract.pricing, max_cost=0.07)  # two messages at $0.03, not three
    for _ in range(2):
        meter.reserve()
        meter.settle(billed=True)
    with pytest.raises(BudgetExceeded, match="max-cost 0.07"):
        meter.reserve()
    assert meter.messages == 2 and meter.spent == pytest.approx(0.06)


def test_rejected_requests_are_not_billed(contract: Contract) -> None:
    meter = Meter(contract.pricing, max_cost=0.03)
    for _ in range(5):
        meter.reserve()
        meter.settle(billed=False)
    meter.reserve()  # still room for one billed message


def test_run_stops_before_crossing_the_budget_and_agrees_with_the_ledger(contract: Contract) -> None:
    app = create_app(contract, api_key=KEY)
    meter = Meter(contract.pricing, max_cost=0.10)
    results: list[Result] = []

    async def go() -> None:
        async with Client("http://ref/v1", Secret(KEY, "test"), transport=httpx.ASGITransport(app=app),
                          meter=meter) as client:
            await run_plan(plan(contract, client, compile_selection("chat_completions")), results.append)

    with pytest.raises(BudgetExceeded):
        asyncio.run(go())
    ledger = app.state.server.ledger
    assert meter.messages == len(ledger.charges) == 3
    assert ledger.total == pytest.approx(meter.spent) and ledger.total <= 0.10
    assert results, "the verdicts reached before the budget ran out are kept"


def test_preview_is_an_upper_bound(contract: Contract) -> None:
    assert preview(10, 4, contract.pricing).usd == pytest.approx(0.30)


def test_preview_gives_the_expected_cost_beside_the_worst(contract: Contract) -> None:
    cost = preview(10, 4, contract.pricing)
    assert (cost.expected_messages, cost.max_messages) == (4, 10)
    assert cost.expected_usd == pytest.approx(0.12)
    assert cost.line("USD") == "expected 4 billed messages (0.12 USD), at most 10 (0.30 USD)"
    assert preview(3, 5, contract.pricing).expected_messages == 3  # never above the worst case


def test_rejected_requests_are_not_expected_to_be_billed(contract: Contract) -> None:
    from conformance.runner import expected_estimate, request_estimate

    async def estimates() -> tuple[int, int]:
        async with Client("http://ref/v1", Secret(KEY, "test")) as client:
            plans = plan(contract, client, compile_selection("parameter_ranges and chat_completions"))
            return expected_estimate(plans, contract), request_estimate(plans, contract)

    expected, worst = asyncio.run(estimates())
    # One request per boundary value; only the accepted ones are billed.
    assert 0 < expected < worst


def test_cli_refuses_a_run_over_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--report-dir", str(tmp_path), "--max-cost", "0.5", "--no-color"]) == 2
    captured = capsys.readouterr()
    assert "exceeds --max-cost 0.50" in captured.err
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["cost"]["preview_max_usd"] > 0.5 and report["summary"]["total"] == 0


def test_cli_reports_the_cost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--report-dir", str(tmp_path), "-k", "response_shape and chat", "--no-color"]) == 0
    cost = json.loads((tmp_path / "report.json").read_text())["run"]["cost"]
    # The preflight and the one shape request: two successful messages.
    assert cost["billed_messages"] == 2 and cost["spent_usd"] == pytest.approx(0.06)
    assert "cost: 2 billed messages = 0.06 USD" in capsys.readouterr().out


def test_a_budget_above_the_expected_cost_but_below_the_worst_case_runs(tmp_path: Path) -> None:
    select = "parameter_ranges and chat_completions"
    assert main(["run", "--report-dir", str(tmp_path), "-k", select, "--max-cost", "100", "--no-color"]) == 0
    cost = json.loads((tmp_path / "report.json").read_text())["run"]["cost"]
    expected, worst = cost["expected_usd"], cost["preview_max_usd"]
    assert expected < worst
    budget = round((expected + worst) / 2, 2)  # refused on the worst case, started on the expected one
    again = tmp_path / "again"
    assert main(["run", "--report-dir", str(again), "-k", select, "--max-cost", str(budget), "--no-color"]) == 0
    assert json.loads((again / "report.json").read_text())["run"]["cost"]["spent_usd"] <= budget


def test_a_concurrent_run_stops_in_flight_before_crossing_the_budget(contract: Contract) -> None:
    """The preview may admit a run (its expected cost is a forecast); the meter is the hard cap,
    with eight cases in flight."""
    from conformance.runner import RunPolicy

    app = create_app(contract, api_key=KEY)
    meter = Meter(contract.pricing, max_cost=0.30)  # ten messages
    results: list[Result] = []

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with Client("http://ref/v1", Secret(KEY, "test"), transport=transport, meter=meter) as client:
            plans = plan(contract, client, compile_selection("response_shape or usage_consistent or stream_framing"))
            await run_plan(plans, results.append, RunPolicy(concurrency=8))

    with pytest.raises(BudgetExceeded):
        asyncio.run(go())
    assert meter.messages <= 10 and meter.spent <= 0.30
    assert results, "the verdicts reached before the stop are delivered"
