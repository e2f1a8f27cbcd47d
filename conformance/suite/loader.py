"""Suite files → typed contract: JSON-Schema validation, semantic checks, layering.

Every error is a `SuiteError` naming the file, the line, the YAML path and what was expected.
"""
from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from conformance.errors import SuiteError
from conformance.suite.model import (
    Assumption,
    Contract,
    Divergence,
    FieldBinding,
    Limits,
    Parameter,
    Pricing,
    Protocol,
    Provider,
    RateOverride,
    Target,
)
from conformance.suite.yamlsource import SourcedDocument, YamlPath, load_document

KINDS = ("protocol", "contract", "target")
SUITES_DIR = Path(__file__).resolve().parents[2] / "suites"
DEFAULT_CONTRACT = SUITES_DIR / "gemma-4-e4b.yaml"


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    text = resources.files("conformance.suite").joinpath(f"schemas/{kind}.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(error: jsonschema.ValidationError) -> tuple[YamlPath, str]:
    """Turn a jsonschema error into (where, what was expected), in words a suite author reads."""
    where: YamlPath = tuple(error.absolute_path)
    v, schema, inst = error.validator, error.schema, error.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        known = sorted(schema.get("properties", {}))
        unknown = [k for k in inst if k not in known]
        if unknown and known:
            return where + (unknown[0],), f"one of the keys {', '.join(known)}; found unknown key {unknown[0]!r}"
    if v == "required":
        return where, f"a {error.message.split(' is a required')[0]} key"
    if v == "type":
        return where, f"a value of type {schema['type']}, found {_describe(inst)}"
    if v in ("enum", "const"):
        allowed = schema.get("enum", [schema.get("const")])
        return where, f"one of {', '.join(map(str, allowed))}; found {_describe(inst)}"
    if v == "exclusiveMinimum":
        return where, f"a number greater than {schema['exclusiveMinimum']}, found {_describe(inst)}"
    if v == "oneOf" and error.context:
        # The branch whose error is deepest says most about what the author meant.
        best = max(error.context, key=lambda e: len(e.absolute_path))
        return _expected(best)
    return where, f"{error.message} (schema rule {v!r})"


def validate(doc: SourcedDocument, kind: str | None = None) -> str:
    """Validate a document against the schema of its kind; returns the kind."""
    if not isinstance(doc.data, dict):
        raise doc.error((), f"a mapping with a 'kind' key, found {_describe(doc.data)}")
    found = doc.data.get("kind")
    if found not in KINDS:
        raise doc.error(("kind",), f"kind to be one of {', '.join(KINDS)}; found {_describe(found)}")
    if kind and found != kind:
        raise doc.error(("kind",), f"a {kind} file here, found kind {found!r}")
    errors = sorted(_validator(found).iter_errors(doc.data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        where, expected = _expected(errors[0])
        raise doc.error(where, expected)
    return found


def load_protocol(path: Path) -> Protocol:
    doc = load_document(path)
    validate(doc, "protocol")
    d = doc.data
    return Protocol(
        name=d["name"], family=d["family"], method=d["method"], path=d["path"],
        auth_schemes=tuple(d["auth"]["schemes"]),
        stream_media_type=d["stream"]["media_type"], stream_terminator=d["stream"]["terminator"],
        named_events=d["stream"]["named_events"],
        error_status={k: v for k, v in d["errors"].items() if k != "body"}, error_body=d["errors"]["body"],
        fields=dict(d["fields"]), finish_reasons=tuple(d["finish_reasons"]),
        id_prefixes=dict(d.get("id_prefixes", {})), required_parameters=tuple(d.get("required_parameters", ())),
        source=str(path),
    )


def load_protocols(directory: Path) -> dict[str, Protocol]:
    protocols: dict[str, Protocol] = {}
    for path in sorted(directory.glob("*.yaml")):
        protocol = load_protocol(path)
        protocols[protocol.name] = protocol
    return protocols


def _check_number_in_range(doc: SourcedDocument, where: YamlPath, spec: dict, value: Any, what: str) -> None:
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise doc.error(where, f"{what} to be a {spec['type']}, found {_describe(value)}")
    if spec["type"] == "integer" and not float(value).is_integer():
        raise doc.error(where, f"{what} to be an integer, found {_describe(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise doc.error(where, f"{what} within the range {lo}..{hi}, found {_describe(value)}")


def _parameter(doc: SourcedDocument, name: str, spec: dict, protocols: dict[str, Protocol],
               endpoints: list[str]) -> tuple[Parameter, list[Assumption]]:
    here: YamlPath = ("parameters", name)
    kind = spec["type"]
    assumptions: list[Assumption] = []
    lo, hi = spec.get("minimum"), spec.get("maximum")
    if (lo is not None or hi is not None) and kind not in ("number", "integer"):
        raise doc.error(here + ("minimum" if lo is not None else "maximum",),
                        f"minimum/maximum only on number or integer parameters, not on type {kind}")
    if lo is not None and hi is not None and lo > hi:
        raise doc.error(here + ("minimum",), f"minimum <= maximum, found minimum {lo} > maximum {hi}")
    if kind == "enum" and "values" not in spec:
        raise doc.error(here, "a 'values' list on an enum parameter")
    if "default" in spec:
        default = spec["default"]
        if kind in ("number", "integer"):
            _check_number_in_range(doc, here + ("default",), spec, default, "the default")
        elif kind == "boolean" and not isinstance(default, bool):
            raise doc.error(here + ("default",), f"the default to be a boolean, found {_describe(default)}")
        elif kind == "enum" and default not in spec["values"]:
            raise doc.error(here + ("default",), f"the default to be one of {spec['values']}, found {_describe(default)}")
    for other in spec.get("requires", {}):
        if other not in doc.data["parameters"]:
            raise doc.error(here + ("requires", other), "a parameter defined in this contract")
    fields = spec.get("fields", {})
    for endpoint in fields:
        if endpoint not in endpoints:
            raise doc.error(here + ("fields", endpoint),
                            f"an endpoint this contract lists ({', '.join(endpoints)}); found {endpoint!r}")
    bindings: dict[str, FieldBinding] = {}
    for endpoint in endpoints:
        raw = fields.get(endpoint)
        if raw is None:
            native = protocols[endpoint].fields.get(name)
            if native is None:
                raise doc.error(here + ("fields",),
                                f"a field binding for endpoint {endpoint!r}: its protocol layer has no "
                                f"{name!r} (give a name with an assumption, or mark it unsupported)")
            bindings[endpoint] = FieldBinding(native)
        elif isinstance(raw, str):
            bindings[endpoint] = FieldBinding(raw)
        elif "unsupported" in raw:
            bindings[endpoint] = FieldBinding(None, unsupported=raw["unsupported"])
        else:
            bindings[endpoint] = FieldBinding(raw["name"], assumption=raw.get("assumption"))
            if raw.get("assumption"):
                assumptions.append(Assumption(f"parameters.{name}.fields.{endpoint}", raw["assumption"]))
    if spec.get("assumption"):
        assumptions.append(Assumption(f"parameters.{name}", spec["assumption"]))
    param = Parameter(
        name=name, type=kind, description=spec.get("description", ""),
        default=spec.get("default"), has_default="default" in spec,
        minimum=lo, maximum=hi, values=tuple(spec.get("values", ())), max_items=spec.get("max_items"),
        requires=dict(spec.get("requires", {})), bindings=bindings,
    )
    return param, assumptions


def _collect_assumptions(node: Any, where: str, out: list[Assumption]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "assumption" and isinstance(value, str):
                out.append(Assumption(where, value))
            else:
                _collect_assumptions(value, f"{where}.{key}" if where else key, out)


def load_contract(path: Path, protocols_dir: Path | None = None) -> Contract:
    doc = load_document(path)
    validate(doc, "contract")
    protocols = load_protocols(protocols_dir or path.resolve().parent / "protocols")
    d = doc.data
    endpoints = list(d["endpoints"])
    for i, name in enumerate(endpoints):
        if name not in protocols:
            known = ", ".join(sorted(protocols)) or "(none found)"
            raise doc.error(("endpoints", i), f"an endpoint defined by a protocol file ({known}); found {name!r}")
    assumptions: list[Assumption] = []
    for section in ("features", "pricing", "expectations"):
        _collect_assumptions(d.get(section, {}), section, assumptions)
    parameters: dict[str, Parameter] = {}
    for name, spec in d["parameters"].items():
        param, found = _parameter(doc, name, spec, protocols, endpoints)
        parameters[name] = param
        assumptions.extend(found)
    limits = Limits(**d["limits"])
    max_tokens = parameters.get("max_tokens")
    if max_tokens and max_tokens.maximum is not None and max_tokens.maximum > limits.max_output_tokens:
        raise doc.error(("parameters", "max_tokens", "maximum"),
                        f"at most limits.max_output_tokens ({limits.max_output_tokens}), found {max_tokens.maximum}")
    pricing = d["pricing"]
    return Contract(
        name=d["name"], model=d["model"],
        provider=Provider(**d["provider"]),
        endpoints={name: protocols[name] for name in endpoints},
        limits=limits, features=d["features"],
        pricing=Pricing(pricing["currency"], pricing["per_successful_message"], pricing.get("per_web_search_call", 0.0)),
        parameters=parameters, expectations=d.get("expectations", {}),
        assumptions=tuple(assumptions), source=str(path),
    )


def load_target(path: Path) -> Target:
    doc = load_document(path)
    validate(doc, "target")
    d = doc.data
    from conformance.checks import REGISTRY  # the catalogue names what a divergence may refer to

    divergences = []
    for i, raw in enumerate(d.get("expected_divergences", [])):
        if raw["check"] not in REGISTRY:
            raise doc.error(("expected_divergences", i, "check"),
                            f"a registered check ({', '.join(REGISTRY)}); found {raw['check']!r}")
        divergences.append(Divergence(raw["check"], raw["endpoint"], raw.get("case"), raw["reason"]))
    rates = []
    for i, raw in enumerate(d.get("rates", [])):
        if raw["check"] not in REGISTRY:
            raise doc.error(("rates", i, "check"),
                            f"a registered check ({', '.join(REGISTRY)}); found {raw['check']!r}")
        if "rate" not in raw and "samples" not in raw:
            raise doc.error(("rates", i), "a rate or a samples key (or both)")
        rates.append(RateOverride(raw["check"], raw["endpoint"], raw.get("case"), raw["reason"],
                                  raw.get("rate"), raw.get("samples")))
    return Target(name=d["name"], server=d["server"], base_url=d.get("base_url"),
                  api_key_env=d.get("api_key_env"), model=d.get("model"), divergences=tuple(divergences),
                  settings=dict(d.get("settings", {})),
                  timeouts={k: float(v) for k, v in d.get("timeouts", {}).items()},
                  tier=d.get("tier"), concurrency=d.get("concurrency"), per_endpoint=d.get("per_endpoint"), rates=tuple(rates),
                  gate_latency=d.get("gate_latency", True), source=str(path))


def find_target(name_or_path: str, suites_dir: Path = SUITES_DIR) -> Target:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return load_target(path)
    candidate = suites_dir / "targets" / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in (suites_dir / "targets").glob("*.yaml")))
        raise SuiteError(str(candidate), "(document)", None, f"a target named one of: {known}")
    return load_target(candidate)
