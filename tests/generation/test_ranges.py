"""Boundary values come from the contract: edges accepted, just outside rejected."""
from __future__ import annotations

from conformance.generation.ranges import boundary_values
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract

CONTRACT = load_contract(DEFAULT_CONTRACT)


def values(name: str) -> dict[object, bool]:
    return {repr(b.value): b.accept for b in boundary_values(CONTRACT.parameters[name])}


def test_number_edges() -> None:
    assert values("temperature") == {"0": True, "-0.01": False, "2": True, "2.01": False, "0.7": True, "'1'": False}
    assert values("repetition_penalty")["0.09"] is False and values("repetition_penalty")["0.1"] is True


def test_integer_edges() -> None:
    v = values("max_tokens")
    assert v["1"] and v["4096"] and not v["0"] and not v["4097"] and not v["1.5"]
    assert values("seed")["2147483648"] is False


def test_enum_boolean_list() -> None:
    assert values("reasoning_effort") == {"'low'": True, "'medium'": True, "'high'": True, "'extreme'": False,
                                          "1": False}
    assert values("enable_thinking") == {"True": True, "False": True, "'yes'": False}
    stop = boundary_values(CONTRACT.parameters["stop"])
    assert [len(b.value) for b in stop if isinstance(b.value, list)] == [4, 5]


def test_case_ids_are_unique() -> None:
    ids = [b.id for p in CONTRACT.parameters.values() for b in boundary_values(p)]
    assert len(ids) == len(set(ids))
