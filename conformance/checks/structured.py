"""Structured JSON output: the answer is JSON that validates against the requested schema."""
from __future__ import annotations

import json

import jsonschema

from conformance import fixtures
from conformance.checks.failures import CheckFailed, CheckSkipped
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check

PROMPT = "Describe a typical customer as JSON."


def _cases(probe: Probe) -> list[Case]:
    return [Case(f"{name}-{'stream' if stream else 'non-stream'}", (name, stream))
            for name in fixtures.schema_names() for stream in (False, True)]


@check(category="structured", cases=_cases)
async def structured_output_valid(probe: Probe, case: Case) -> None:
    """Asked for structured output with a JSON Schema, the answer text is JSON that validates against it (seed: "structured JSON output"; WIRE A.5, B.5, F)."""
    if not probe.contract.features.get("structured_output"):
        raise CheckSkipped("the contract promises no structured output")
    name, stream = case.data
    schema = fixtures.schema(name)
    request = probe.request(prompt=PROMPT, stream=stream, seed=SEED, max_tokens=512)
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
