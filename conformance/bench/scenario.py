"""Benchmark scenarios: `suites/bench/*.yaml` → a typed `Scenario`, with file:line errors.

A scenario says what to send (endpoints, streaming, prompt and output length distributions,
thinking, tools, images) and how hard (a load pattern with a duration, a request cap and a
warm-up, optionally swept over several values). The file is validated against
`scenario.schema.json` first, then against its contract (an endpoint the contract does not
serve, thinking or tools on a model without them); every error is a `SuiteError` naming the
file, the line, the YAML path and what was expected, as for contract files.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from conformance.errors import SuiteError
from conformance.suite.loader import DEFAULT_CONTRACT, SUITES_DIR, _expected
from conformance.suite.yamlsource import SourcedDocument, load_document

BENCH_DIR = SUITES_DIR / "bench"
PATTERNS = ("concurrency", "rate", "poisson")
SLO_KEYS = ("ttft_ms", "ttfc_ms", "tpot_ms", "itl_ms", "e2e_ms")
# Every run is bounded in time: no scenario may ask for more, whatever it says.
MAX_DURATION_S = 86400.0
DEFAULT_MAX_REQUESTS = 10_000_000
DEFAULT_MAX_LAG_P99_MS = 10.0
DEFAULT_MIN_RATE_RATIO = 0.95


@dataclass(frozen=True)
class Distribution:
    """A token-count distribution; `draw` always returns an integer >= 1."""

    kind: str  # fixed | uniform | normal | lognormal | choice
    params: tuple[float, ...] = ()
    lo: int = 1
    hi: int | None = None

    @classmethod
    def parse(cls, spec: Any) -> Distribution:
        if isinstance(spec, int):
            return cls("fixed", (spec,))
        (kind, value), = spec.items()
        if kind == "uniform":
            return cls("uniform", (value[0], value[1]), value[0], value[1])
        if kind == "choice":
            return cls("choice", tuple(value))
        if kind == "normal":
            return cls("normal", (value["mean"], value["stdev"]), value.get("min", 1), value.get("max"))
        return cls("lognormal", (value["median"], value["sigma"]), value.get("min", 1), value.get("max"))

    def draw(self, rng: random.Random) -> int:
        p = self.params
        if self.kind == "fixed":
            return int(p[0])
        if self.kind == "uniform":
            return rng.randint(int(p[0]), int(p[1]))
        if self.kind == "choice":
            return int(rng.choice(p))
        x = rng.gauss(p[0], p[1]) if self.kind == "normal" else p[0] * math.exp(rng.gauss(0.0, p[1]))
        n = max(self.lo, int(round(x)))
        return min(n, self.hi) if self.hi is not None else n

    def describe(self) -> str:
        p = self.params
        if self.kind == "fixed":
            return str(int(p[0]))
        if self.kind == "uniform":
            return f"uniform {int(p[0])}..{int(p[1])}"
        if self.kind == "choice":
            return "one of " + ", ".join(str(int(x)) for x in p)
        bounds = f" in {self.lo}..{self.hi if self.hi is not None else '∞'}"
        if self.kind == "normal":
            return f"normal mean {p[0]:g} sd {p[1]:g}{bounds}"
        return f"lognormal median {p[0]:g} sigma {p[1]:g}{bounds}"


@dataclass(frozen=True)
class RequestSpec:
    prompt_tokens: Distribution = Distribution("fixed", (64,))
    output_tokens: Distribution = Distribution("fixed", (16,))
    thinking: bool | None = None  # None: leave the model's default
    tools: bool = False
    images: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    variants: int = 64  # distinct request bodies drawn from the distributions


@dataclass(frozen=True)
class Step:
    """One load level of a scenario: a sweep has several, anything else one."""

    index: int
    pattern: str  # concurrency | rate | poisson
    value: float  # the concurrency, or the rate in requests/s

    @property
    def label(self) -> str:
        if self.pattern == "concurrency":
            return f"concurrency {int(self.value)}"
        return f"{'poisson' if self.pattern == 'poisson' else 'rate'} {self.value:g}/s"


@dataclass(frozen=True)
class Load:
    pattern: str
    values: tuple[float, ...]  # one per step
    duration_s: float
    max_requests: int = DEFAULT_MAX_REQUESTS
    warmup_s: float = 0.0
    warmup_requests: int = 0
    max_in_flight: int = 4096
    workers: int = 1
    seed: int = 0
    timeout_s: float = 60.0
    swept: bool = False

    def steps(self) -> list[Step]:
        return [Step(i, self.pattern, v) for i, v in enumerate(self.values)]


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoints: tuple[str, ...]
    stream: bool
    request: RequestSpec
    load: Load
    slo: dict[str, float]
    slo_source: str
    max_lag_p99_ms: float = DEFAULT_MAX_LAG_P99_MS
    min_rate_ratio: float = DEFAULT_MIN_RATE_RATIO
    tolerances: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    contract_path: Path = DEFAULT_CONTRACT
    source: str = ""

    def with_load(self, **changes: Any) -> Scenario:
        return replace(self, load=replace(self.load, **changes))

    def as_dict(self) -> dict[str, Any]:
        """What the raw-sample file and the reports record about the scenario."""
        r, ld = self.request, self.load
        return {
            "name": self.name, "description": self.description, "source": self.source,
            "contract": str(self.contract_path), "endpoints": list(self.endpoints), "stream": self.stream,
            "request": {"prompt_tokens": r.prompt_tokens.describe(), "output_tokens": r.output_tokens.describe(),
                        "thinking": r.thinking, "tools": r.tools, "images": r.images, "params": r.params,
                        "variants": r.variants},
            "load": {"pattern": ld.pattern, "values": list(ld.values), "swept": ld.swept,
                     "duration_s": ld.duration_s, "max_requests": ld.max_requests, "warmup_s": ld.warmup_s,
                     "warmup_requests": ld.warmup_requests, "max_in_flight": ld.max_in_flight,
                     "workers": ld.workers, "seed": ld.seed, "timeout_s": ld.timeout_s},
            "slo": self.slo, "slo_source": self.slo_source,
            "validity": {"max_schedule_lag_p99_ms": self.max_lag_p99_ms, "min_rate_ratio": self.min_rate_ratio},
            "tolerances": self.tolerances,
        }


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(resources.files("conformance.bench").joinpath("scenario.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(doc: SourcedDocument) -> None:
    if not isinstance(doc.data, dict):
        raise doc.error((), "a mapping with 'kind: bench'")
    if doc.data.get("kind") != "bench":
        raise doc.error(("kind",), f"kind: bench in a benchmark scenario; found {json.dumps(doc.data.get('kind'))}")
    errors = sorted(_validator().iter_errors(doc.data),
                    key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        where, expected = _expected(errors[0])
        raise doc.error(where, expected)


def find_scenario(name_or_path: str | Path) -> Path:
    """A scenario file by path, or by name in suites/bench/."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    candidate = BENCH_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(p.stem for p in BENCH_DIR.glob("*.yaml")))
    raise SuiteError(str(name_or_path), "(document)", None, f"a scenario file or one of: {known}")


def load_scenario(path: Path, contract: Any | None = None) -> Scenario:
    """Load and check a scenario; `contract` (a loaded Contract) skips loading the one it names."""
    doc = load_document(Path(path))
    validate(doc)
    d = doc.data
    contract_path = (Path(path).parent / d["contract"]).resolve() if "contract" in d else DEFAULT_CONTRACT
    if contract is None:
        from conformance.suite.loader import load_contract
        contract = load_contract(contract_path)

    for i, endpoint in enumerate(d["endpoints"]):
        if endpoint not in contract.endpoints:
            raise doc.error(("endpoints", i), f"an endpoint the contract {contract.name} serves "
                                              f"({', '.join(contract.endpoints)}); found {endpoint!r}")
    stream = bool(d.get("stream", True))
    if stream and not contract.features.get("streaming", True):
        raise doc.error(("stream",), f"stream: false: the contract {contract.name} has no streaming")

    req = d.get("request", {})
    for key in ("prompt_tokens", "output_tokens"):
        spec = req.get(key)
        if isinstance(spec, dict) and "uniform" in spec and spec["uniform"][0] > spec["uniform"][1]:
            raise doc.error(("request", key, "uniform"), "[min, max] with min <= max")
        if isinstance(spec, dict) and ("normal" in spec or "lognormal" in spec):
            inner = spec.get("normal") or spec.get("lognormal")
            if "min" in inner and "max" in inner and inner["min"] > inner["max"]:
                raise doc.error(("request", key), "min <= max")
    out_spec = Distribution.parse(req.get("output_tokens", 16))
    out_hi = _upper(out_spec)
    if out_hi is not None and out_hi > contract.limits.max_output_tokens:
        raise doc.error(("request", "output_tokens"), f"at most the contract's max_output_tokens "
                                                      f"{contract.limits.max_output_tokens}; found up to {out_hi}")
    thinking = req.get("thinking")
    if thinking and not contract.features.get("thinking"):
        raise doc.error(("request", "thinking"), f"thinking: the contract {contract.name} has no thinking mode")
    if req.get("tools") and not contract.features.get("function_tools"):
        raise doc.error(("request", "tools"), f"tools: the contract {contract.name} has no function tools")
    if req.get("images") and "image" not in contract.features.get("input_modalities", []):
        raise doc.error(("request", "images"), f"images: the contract {contract.name} takes no image input")
    for name in req.get("params", {}):
        if name not in contract.parameters:
            raise doc.error(("request", "params", name), f"a parameter of the contract {contract.name}")
    request = RequestSpec(
        prompt_tokens=Distribution.parse(req.get("prompt_tokens", 64)), output_tokens=out_spec,
        thinking=thinking, tools=bool(req.get("tools", False)), images=int(req.get("images", 0)),
        params=dict(req.get("params", {})), variants=int(req.get("variants", 64)))

    ld = d["load"]
    pattern = ld["pattern"]
    if "sweep" in ld:
        values = tuple(float(v) for v in ld["sweep"])
        for key in ("concurrency", "rate"):
            if key in ld:
                raise doc.error(("load", key), f"either sweep or {key}, not both")
    else:
        key = "concurrency" if pattern == "concurrency" else "rate"
        if key not in ld:
            raise doc.error(("load",), f"a {key} key (pattern {pattern}), or a sweep")
        values = (float(ld[key]),)
        other = "rate" if key == "concurrency" else "concurrency"
        if other in ld:
            raise doc.error(("load", other), f"no {other} key with pattern {pattern}")
    if pattern == "concurrency":
        for i, v in enumerate(values):
            if not float(v).is_integer():
                raise doc.error(("load", "sweep", i) if "sweep" in ld else ("load", "concurrency"),
                                f"a whole number of concurrent requests; found {v:g}")
    warm = ld.get("warmup", {})
    if warm.get("seconds", 0) >= ld["duration_s"]:
        raise doc.error(("load", "warmup", "seconds"), f"a warm-up shorter than duration_s {ld['duration_s']:g}")
    max_requests = int(ld.get("max_requests", DEFAULT_MAX_REQUESTS))
    if warm.get("requests", 0) >= max_requests:
        raise doc.error(("load", "warmup", "requests"), f"fewer warm-up requests than max_requests {max_requests}")
    load = Load(pattern=pattern, values=values, duration_s=float(ld["duration_s"]), max_requests=max_requests,
                warmup_s=float(warm.get("seconds", 0)), warmup_requests=int(warm.get("requests", 0)),
                max_in_flight=int(ld.get("max_in_flight", 4096)), workers=int(ld.get("workers", 1)),
                seed=int(ld.get("seed", 0)), timeout_s=float(ld.get("timeout_s", 60)), swept="sweep" in ld)

    if "slo" in d:
        slo, slo_source = {k: float(v) for k, v in d["slo"].items()}, f"{path}: slo"
    else:
        slo, slo_source = contract_slo(contract)
    validity = d.get("validity", {})
    tolerances = dict(d.get("baseline", {}))
    return Scenario(
        name=d["name"], endpoints=tuple(d["endpoints"]), stream=stream, request=request, load=load,
        slo=slo, slo_source=slo_source,
        max_lag_p99_ms=float(validity.get("max_schedule_lag_p99_ms", DEFAULT_MAX_LAG_P99_MS)),
        min_rate_ratio=float(validity.get("min_rate_ratio", DEFAULT_MIN_RATE_RATIO)),
        tolerances=tolerances, description=d.get("description", ""), contract_path=contract_path,
        source=str(path))


def contract_slo(contract: Any) -> tuple[dict[str, float], str]:
    """Per-request SLOs from the contract's latency expectations (their p95 bounds)."""
    latency = contract.expectations.get("latency") or {}
    slo = {}
    for key in ("ttft_ms", "e2e_ms"):
        bound = latency.get(key)
        if isinstance(bound, dict) and "p95" in bound:
            slo[key] = float(bound["p95"])
    return slo, f"{contract.source or contract.name}: expectations.latency p95"


def _upper(dist: Distribution) -> int | None:
    if dist.kind == "fixed":
        return int(dist.params[0])
    if dist.kind in ("uniform",):
        return int(dist.params[1])
    if dist.kind == "choice":
        return int(max(dist.params))
    return dist.hi
