"""Boundary values of each contract parameter: the edges that must be accepted, the values
just outside (or of the wrong type) that must be rejected."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.protocols.base import ToolDef
from conformance.suite.model import Parameter

# "Just outside" a real-valued range: small enough to be a boundary probe, large enough to
# survive float formatting on any server.
NUMBER_STEP = 0.01

# The seed's "OpenAI-compatible function tool definitions": each protocol spells it its own way.
EXAMPLE_TOOL = ToolDef("get_weather", "Current weather for a city.",
                       {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@dataclass(frozen=True)
class BoundaryValue:
    parameter: str
    value: Any
    accept: bool
    why: str

    @property
    def id(self) -> str:
        shown = repr(self.value) if not isinstance(self.value, (list, dict)) else type(self.value).__name__
        if isinstance(self.value, list) and all(isinstance(v, str) for v in self.value):
            shown = f"list{len(self.value)}"
        return f"{self.parameter}={shown}-{'accept' if self.accept else 'reject'}"


def _round(x: float) -> float | int:
    # Keep 0.09 as 0.09, not 0.09000000000000001, and integral values as ints.
    r = round(x, 6)
    return int(r) if float(r).is_integer() else r


def boundary_values(p: Parameter) -> list[BoundaryValue]:
    out: list[BoundaryValue] = []

    def ok(v: Any, why: str) -> None:
        out.append(BoundaryValue(p.name, v, True, why))

    def bad(v: Any, why: str) -> None:
        out.append(BoundaryValue(p.name, v, False, why))

    if p.type in ("number", "integer"):
        step = 1 if p.type == "integer" else NUMBER_STEP
        if p.minimum is not None:
            ok(_round(p.minimum), "the minimum is inclusive")
            bad(_round(p.minimum - step), "just below the minimum")
        if p.maximum is not None:
            ok(_round(p.maximum), "the maximum is inclusive")
            bad(_round(p.maximum + step), "just above the maximum")
        if p.has_default and p.default not in (p.minimum, p.maximum):
            ok(p.default, "the documented default")
        if p.type == "integer":
            low = p.minimum if p.minimum is not None else 0
            bad(low + 0.5, "an integer parameter given a fraction")
        bad("1", "a string where a number is expected")
    elif p.type == "boolean":
        ok(True, "true")
        ok(False, "false")
        bad("yes", "a string where a boolean is expected")
    elif p.type == "enum":
        for v in p.values:
            ok(v, "a documented value")
        bad("extreme", "a value outside the enum")
        bad(1, "a number where an enum string is expected")
    elif p.type == "string_or_list":
        ok("END", "one stop string")
        if p.max_items:
            ok([f"S{i}" for i in range(p.max_items)], f"{p.max_items} strings, the most allowed")
            bad([f"S{i}" for i in range(p.max_items + 1)], f"{p.max_items + 1} strings, one too many")
        bad(5, "a number where a string is expected")
    elif p.type == "string":
        ok("text", "a string")
        bad(5, "a number where a string is expected")
    elif p.type == "array":
        if p.name == "tools":
            ok([EXAMPLE_TOOL], "one function tool")
        bad("not-a-list", "a string where an array is expected")
    return out
