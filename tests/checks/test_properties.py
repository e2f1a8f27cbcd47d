"""The property checks: pass on the clean reference server, fail (with a minimal, saved request)
on a broken one, stay within their request budget, and stop at once when the target is gone."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.checks import properties
from conformance.checks.failures import CheckFailed
from conformance.checks.probe import Probe, Unreachable
from conformance.checks.registry import Case
from conformance.cli import main
from conformance.generation import strategies
from conformance.protocols import wire_protocols
from conformance.replay import FAILURES_DIR_ENV, load_failure
from conformance.runner import plan, run_plan
from conformance.secrets import Secret
from conformance.selection import compile_selection
from conformance.server.app import create_app
from conformance.server.faults import Faults
from conformance.suite.model import Contract
from conformance.transport.client import Client
from conformance.verdicts import Result, Status
from tests.conftest import TEST_KEY, run_checks

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


@pytest.fixture(autouse=True)
def failures_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "failures"
    monkeypatch.setenv(FAILURES_DIR_ENV, str(directory))
    return directory


def _failing_when(app: ASGIApp, broken: Callable[[dict], bool]) -> ASGIApp:
    """`app`, except that a chat body for which `broken(body)` holds gets a 500.

    Stands in for a fault the reference server does not have: a crash on one combination of
    valid parameters, which no one-parameter-at-a-time boundary check can reach.
    """
    async def wrapped(scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict) and broken(body):
            payload = json.dumps({"error": {"message": "internal error", "type": "server_error",
                                            "param": None, "code": None}}).encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": payload})
            return
        delivered = False

        async def replay_body() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await app(scope, replay_body, send)
    return wrapped


def _run_on(app: ASGIApp, contract: Contract, select: str) -> list[Result]:
    results: list[Result] = []

    async def go() -> None:
        async with Client("http://reference/v1", Secret(TEST_KEY, "test"), transport=httpx.ASGITransport(app=app)) as client:
            await run_plan(plan(contract, client, compile_selection(select)), results.append)

    asyncio.run(go())
    return results


def _with_probe(contract: Contract, faults: list[str], body: Callable[[Probe], Awaitable[Any]],
                base_url: str = "http://reference/v1") -> Probe:
    app = create_app(contract, api_key=TEST_KEY, faults=Faults.parse(faults))
    holder: list[Probe] = []

    async def go() -> None:
        transport = httpx.ASGITransport(app=app) if base_url.startswith("http://reference") else None
        async with Client(base_url, Secret(TEST_KEY, "test"), transport=transport) as client:
            probe = Probe(contract, wire_protocols(contract)["chat_completions"], client)
            holder.append(probe)
            await body(probe)

    asyncio.run(go())
    return holder[0]


def test_both_pass_on_the_clean_reference_server_on_every_endpoint(contract: Contract, failures_dir: Path) -> None:
    results = run_checks(contract, "random_")
    assert {r.check for r in results} == {"random_valid_requests_accepted", "random_invalid_requests_rejected"}
    assert {r.endpoint for r in results} == set(contract.endpoints)
    assert [(r.id, r.message) for r in results if r.status is not Status.PASSED] == []
    assert not failures_dir.exists()  # nothing failed, nothing saved


def test_out_of_range_temperature_is_found_shrunk_and_saved(contract: Contract, failures_dir: Path) -> None:
    results = run_checks(contract, "random_ and chat_completions", faults=["accept_out_of_range:temperature"])
    failed = [r for r in results if r.status is Status.FAILED]
    assert [r.id for r in failed] == ["random_invalid_requests_rejected[chat_completions-temperature]"]
    message = failed[0].message
    assert message.startswith("temperature=") and "must be rejected" in message and "minimal request" in message
    saved = list(failures_dir.glob("*.json"))
    assert len(saved) == 1 and str(saved[0]) in message
    case = load_failure(saved[0])
    assert (case.check, case.endpoint, case.case) == ("random_invalid_requests_rejected", "chat_completions",
                                                      "temperature")
    assert (case.expect.outcome, case.expect.status, case.expect.param) == ("rejected", 400, "temperature")
    assert case.observed["status"] == 200 and case.profile == "ci"
    # Shrunk: nothing but the bad value and what every probe sends.
    assert set(case.body) == {"model", "messages", "max_tokens", "temperature"}
    value = case.body["temperature"]
    assert isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value <= 2
    assert json.loads(failed[0].request) == case.body  # the report shows the failing request, not the last sent


def test_a_crash_on_a_combination_of_valid_parameters_is_found(contract: Contract, failures_dir: Path) -> None:
    app = _failing_when(create_app(contract, api_key=TEST_KEY),
                        lambda body: body.get("stop") is not None and body.get("logprobs") is True)
    results = _run_on(app, contract, "chat_completions and (random_valid or parameter_ranges)")
    verdicts = {r.check: r for r in results if r.status is not Status.PASSED}
    # The boundary check varies one parameter at a time: it cannot see this.
    assert list(verdicts) == ["random_valid_requests_accepted"], {k: v.message for k, v in verdicts.items()}
    assert "a valid request was refused: expected status 200, found 500" in verdicts["random_valid_requests_accepted"].message
    case = load_failure(next(failures_dir.glob("*.json")))
    assert case.expect.outcome == "accepted" and case.observed["status"] == 500
    assert set(case.body) == {"model", "messages", "max_tokens", "stop", "logprobs"}  # shrunk to the cause


def test_requests_stay_within_the_profile_budget(contract: Contract) -> None:
    temperature = Case("temperature", "temperature")

    async def invalid(probe: Probe) -> None:
        with pytest.raises(CheckFailed):
            await properties.random_invalid_requests_rejected(probe, temperature)

    with strategies.use_profile("live"):
        assert len(_with_probe(contract, ["accept_out_of_range:temperature"], invalid).exchanges) <= 5
        assert len(_with_probe(contract, [], properties.random_valid_requests_accepted).exchanges) <= 5
    probe = _with_probe(contract, ["accept_out_of_range:temperature"], invalid)
    assert len(probe.exchanges) <= strategies.request_budget("ci")
    bodies = [json.dumps(e.request_body, sort_keys=True) for e in probe.exchanges]
    assert len(bodies) == len(set(bodies))  # shrinking and the final replay never resend a request


def test_an_unreachable_target_stops_the_search_at_once(contract: Contract) -> None:
    async def valid(probe: Probe) -> None:
        with pytest.raises(Unreachable):
            await properties.random_valid_requests_accepted(probe)

    probe = _with_probe(contract, [], valid, base_url="http://127.0.0.1:9/v1")
    assert len(probe.exchanges) == 1


def test_run_rejects_an_unknown_profile_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--report-dir", str(tmp_path), "--hypothesis-profile", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "conformance: error: unknown hypothesis profile 'nope'; known: ci, live, smoke, thorough"


@pytest.mark.parametrize("argv,expected", [
    (["--base-url", "http://127.0.0.1:9/v1"], "ci"),
    (["--target", "live"], "live"),
    (["--target", "live", "--hypothesis-profile", "thorough"], "thorough"),
])
def test_run_picks_the_live_profile_for_the_live_target(argv: list[str], expected: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[str] = []
    real = strategies.use_profile

    def spy(name: str) -> strategies.ProfileChoice:
        chosen.append(name)
        return real(name)

    monkeypatch.setattr("conformance.session.use_profile", spy)
    monkeypatch.delenv("EMPIRIOLABS_API_KEY", raising=False)
    before = strategies.active_profile()
    # Both runs stop at once (unreachable server, no live key), after the profile is chosen.
    assert main(["run", "--report-dir", str(tmp_path), *argv]) == 2
    assert chosen == [expected]
    assert strategies.active_profile() == before  # a run leaves the process as it found it
