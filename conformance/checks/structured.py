"""Structured JSON output: the answer is JSON that validates against the requested schema.

Two checks: the fixture schemas (`fixtures/schemas/`, named cases in every report), and
schemas drawn by hypothesis inside the subset the contract declares.
"""
from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import strategies as st

from conformance import fixtures
from conformance.checks.failures import CheckFailed, CheckSkipped
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check
from conformance.checks.search import explore, report_found
from conformance.generation import strategies
from conformance.generation.schemas import root_schemas, schema_subset
from conformance.protocols.base import ChatRequest
from conformance.replay import Expectation
from conformance.suite.model import Contract

PROMPT = "Describe a typical customer as JSON."
# Room for the fixture and drawn schemas' JSON with thinking on: the reference server's `order`
# answer runs from 122 to 313 tokens over 60 seeds, so 256 would cut some seeds' JSON.
STRUCTURED_MAX_TOKENS = 512


def _cases(probe: Probe) -> list[Case]:
    return [Case(f"{name}-{'stream' if stream else 'non-stream'}", (name, stream))
            for name in fixtures.schema_names() for stream in (False, True)]


@check(category="structured", cases=_cases, sampled=True, smoke=lambda case: case.data[1])  # smoke: streamed
async def structured_output_valid(probe: Probe, case: Case) -> None:
    """Asked for structured output with a JSON Schema, the answer text is JSON that validates against it (seed: "structured JSON output"; WIRE A.5, B.5, F)."""
    if not probe.contract.features.get("structured_output"):
        raise CheckSkipped("the contract promises no structured output")
    name, stream = case.data
    schema = fixtures.schema(name)
    request = probe.request(prompt=PROMPT, stream=stream, seed=probe.seed, max_tokens=STRUCTURED_MAX_TOKENS)
    request.json_schema = schema
    reply = await probe.answer(request)
    try:
        value = json.loads(reply.text)
    except ValueError as exc:
        raise CheckFailed(f"schema {name}: the answer is not JSON ({exc}): {reply.text[:100]!r}") from None
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "(root)"
        raise CheckFailed(f"schema {name}: the answer breaks the schema at {where}: {exc.message}") from None


def _budget(contract: Contract) -> int:
    return strategies.request_budget()


def _examples(contract: Contract, case: Case) -> int:
    """Expected billed messages of one search: its examples, accepted; no shrinking."""
    return strategies.active_settings().max_examples


@check(category="structured", requests=_budget, billed=_examples, smoke=0)
async def structured_output_generated(probe: Probe) -> None:
    """For JSON Schemas drawn at random inside the contract's declared subset (`expectations.structured_output`: keywords, depth, object root), streamed or not, the answer is JSON that validates against the schema (seed: "structured JSON output"; hypothesis, active profile)."""
    if not probe.contract.features.get("structured_output"):
        raise CheckSkipped("the contract promises no structured output")
    examples = st.tuples(root_schemas(schema_subset(probe.contract)), st.booleans())

    def make(example: tuple[dict[str, Any], bool]) -> tuple[ChatRequest, Expectation]:
        schema, stream = example
        request = probe.request(prompt=PROMPT, stream=stream, seed=SEED, max_tokens=STRUCTURED_MAX_TOKENS)
        request.json_schema = schema
        return request, Expectation.conforming(schema)

    found, search = await explore(probe, f"structured/{probe.contract.name}/{probe.endpoint}", examples, make)
    if found is not None:
        raise report_found(probe, "structured_output_generated", "", found, search,
                           "a generated schema was not honoured")
