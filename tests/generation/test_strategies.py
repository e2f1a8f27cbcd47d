"""Contract-derived hypothesis strategies: valid draws pass the reference server's validation,
invalid ones are all refused naming their parameter; and the profiles are what they promise."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from conformance.errors import SetupError
from conformance.generation import strategies
from conformance.protocols import wire_protocols
from conformance.protocols.base import ChatRequest, Turn
from conformance.server.errors import RequestRejected
from conformance.server.validation import validate_parameters
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

CONTRACT = load_contract(DEFAULT_CONTRACT)
ENDPOINTS = list(CONTRACT.endpoints)
WIRES = wire_protocols(CONTRACT)
# Plain property tests of this harness: independent of the profile the checks use.
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Built once: hypothesis validates a strategy on first use, and rebuilding it per draw is slow.
VALID = {e: strategies.valid_params(CONTRACT, e) for e in ENDPOINTS}
INVALID = {e: strategies.invalid_param(CONTRACT, e) for e in ENDPOINTS}


def _body(endpoint: str, params: dict) -> dict:
    """The wire body the checks would send, spelled by the endpoint's own protocol adapter."""
    return WIRES[endpoint].body(ChatRequest([Turn("user", "hi")], params=params))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@QUICK
@given(data=st.data())
def test_valid_params_pass_the_reference_validation(endpoint: str, data: st.DataObject) -> None:
    params = data.draw(VALID[endpoint])
    given_back = validate_parameters(_body(endpoint, params), CONTRACT, endpoint)
    assert set(params) <= set(given_back)  # Messages adds its required max_tokens itself
    assert params.get("max_tokens", 1) <= CONTRACT.probe_max_tokens
    stop = params.get("stop")
    if isinstance(stop, list):
        assert 1 <= len(stop) <= CONTRACT.parameters["stop"].max_items
    if "top_logprobs" in params and CONTRACT.parameters["logprobs"].binding(endpoint).supported:
        assert params["logprobs"] is True


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@QUICK
@given(data=st.data())
def test_invalid_params_are_all_rejected_naming_the_parameter(endpoint: str, data: st.DataObject) -> None:
    name, value = data.draw(INVALID[endpoint])
    assert value is not None  # null reads as "omitted": valid, so never drawn as invalid
    param = CONTRACT.parameters[name]
    params = {k: v for k, v in param.requires.items() if CONTRACT.parameters[k].binding(endpoint).supported}
    params[name] = value
    with pytest.raises(RequestRejected) as rejected:
        validate_parameters(_body(endpoint, params), CONTRACT, endpoint)
    assert rejected.value.status == 400
    assert rejected.value.param == param.binding(endpoint).wire_name


@pytest.mark.parametrize("name", [p.name for p in CONTRACT.parameters.values() if p.type in ("number", "integer")])
def test_invalid_numbers_reach_both_sides_of_the_range(name: str) -> None:
    param = CONTRACT.parameters[name]
    strategy = strategies.invalid_value(param)
    search = settings(max_examples=2000, database=None, phases=[Phase.generate, Phase.shrink])

    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    above_float = find(strategy, lambda v: isinstance(v, float) and v > param.maximum, settings=search)
    assert math.isfinite(above_float)
    assert find(strategy, lambda v: number(v) and v >= 10 ** 12, settings=search) > param.maximum  # huge
    assert find(strategy, lambda v: number(v) and v < param.minimum, settings=search) < param.minimum
    if param.type == "integer":
        fraction = find(strategy, lambda v: isinstance(v, float) and param.minimum < v < param.maximum,
                        settings=search)
        assert not fraction.is_integer()


def test_lists_too_long_and_enum_outsiders_are_drawn() -> None:
    search = settings(max_examples=2000, database=None)
    stop = CONTRACT.parameters["stop"]
    too_long = find(strategies.invalid_value(stop), lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
                    settings=search)
    assert len(too_long) == stop.max_items + 1
    effort = CONTRACT.parameters["reasoning_effort"]
    outsider = find(strategies.invalid_value(effort), lambda v: isinstance(v, str), settings=search)
    assert outsider not in effort.values


@QUICK
@given(strategies.chat_prompts())
def test_prompts_are_short_and_printable(prompt: str) -> None:
    assert prompt.strip() and prompt.isprintable() and len(prompt) <= 6 * 8 + 5


def test_profiles() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.database is None and ci.deadline is None and ci.max_examples == 25
    assert Phase.explain not in ci.phases  # every extra run would be one more request
    live = settings.get_profile("live")
    assert live.derandomize and live.max_examples <= 5 and Phase.shrink not in live.phases
    thorough = settings.get_profile("thorough")
    assert thorough.max_examples == 200 and not thorough.derandomize
    assert isinstance(thorough.database, DirectoryBasedExampleDatabase)
    assert strategies.request_budget("live") == 5
    assert strategies.request_budget("ci") == 25 + strategies.SHRINK_REQUESTS["ci"]


def test_use_profile_switches_and_restores() -> None:
    before = strategies.active_profile()
    with strategies.use_profile("live") as choice:
        assert strategies.active_profile() == "live" and choice.settings.max_examples == 5
        assert strategies.active_settings().max_examples == 5
        assert strategies.request_budget() == 5
    assert strategies.active_profile() == before
    with pytest.raises(SetupError, match="unknown hypothesis profile 'nope'; known: ci, live, smoke, thorough"):
        strategies.use_profile("nope")
    assert strategies.active_profile() == before
