"""Typed contract: what the YAML suite files say, once validated and layered.

Three layers, each its own file kind: a protocol (rules of one wire protocol), a contract
(one model as one provider publishes it) and a target (where to send requests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ParamType = Literal["number", "integer", "boolean", "string", "string_or_list", "enum", "array"]


@dataclass(frozen=True)
class Protocol:
    name: str  # chat_completions | responses | messages
    family: str  # openai | anthropic
    method: str
    path: str
    auth_schemes: tuple[str, ...]
    stream_media_type: str
    stream_terminator: str
    named_events: bool
    error_status: dict[str, int]
    error_body: str
    fields: dict[str, str]
    finish_reasons: tuple[str, ...]
    id_prefixes: dict[str, str]
    required_parameters: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class FieldBinding:
    """How one canonical parameter appears on one endpoint."""

    wire_name: str | None  # dotted path into the request body; None when unsupported
    assumption: str | None = None
    unsupported: str | None = None

    @property
    def supported(self) -> bool:
        return self.wire_name is not None


@dataclass(frozen=True)
class Parameter:
    name: str
    type: ParamType
    description: str = ""
    default: Any = None
    has_default: bool = False
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] = ()
    max_items: int | None = None
    requires: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, FieldBinding] = field(default_factory=dict)

    def binding(self, endpoint: str) -> FieldBinding:
        return self.bindings[endpoint]


@dataclass(frozen=True)
class Assumption:
    where: str  # YAML path inside the contract
    text: str


@dataclass(frozen=True)
class Provider:
    name: str
    base_url: str
    api_key_env: str


@dataclass(frozen=True)
class Limits:
    context_tokens: int
    max_output_tokens: int


@dataclass(frozen=True)
class Pricing:
    currency: str
    per_successful_message: float
    per_web_search_call: float


@dataclass(frozen=True)
class Contract:
    name: str
    model: str
    provider: Provider
    endpoints: dict[str, Protocol]  # in the order the contract lists them
    limits: Limits
    features: dict[str, Any]
    pricing: Pricing
    parameters: dict[str, Parameter]
    expectations: dict[str, Any]
    assumptions: tuple[Assumption, ...]
    source: str = ""

    @property
    def probe_max_tokens(self) -> int:
        return int(self.expectations.get("probe_max_tokens", 16))

    def supported_parameters(self, endpoint: str) -> list[Parameter]:
        return [p for p in self.parameters.values() if p.binding(endpoint).supported]


@dataclass(frozen=True)
class SamplingRule:
    """How a check that samples model behaviour concludes: `samples` draws, of which a share of at
    least `rate` must pass, judged from a confidence interval at `confidence` (two-sided).

    `rate: 1.0` is an absolute rule: one failing sample fails the check.
    """

    samples: int
    rate: float
    confidence: float = 0.95


@dataclass(frozen=True)
class TargetNote:
    """A target's word on some results (a check, an endpoint or all, a case substring), with why."""

    check: str
    endpoint: str  # an endpoint name, or "*"
    case: str | None  # a substring of the case id; None matches every case
    reason: str

    def matches(self, check: str, endpoint: str, case: str) -> bool:
        return (self.check == check and self.endpoint in ("*", endpoint)
                and (self.case is None or self.case in case))


@dataclass(frozen=True)
class RateOverride(TargetNote):
    """A target's own rate for a check (a small model that passes only sometimes)."""

    rate: float | None = None
    samples: int | None = None


@dataclass(frozen=True)
class Divergence(TargetNote):
    """A known way a target differs from the contract: run as a strict expected failure."""


@dataclass(frozen=True)
class Target:
    name: str
    server: Literal["reference", "provider", "external", "llamacpp"]
    base_url: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    divergences: tuple[Divergence, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # server-specific start-up settings
    # Seconds, by name (connect, first_byte, idle, total): the profile's request timeouts.
    timeouts: dict[str, float] = field(default_factory=dict)
    # The tier a run against it takes unless the command line names one (smoke|standard|full):
    # a slow target (a CPU-bound local model) wants few examples, as a billed one does.
    tier: str | None = None
    # Requests in flight at once (`--concurrency` overrides): a local CPU-bound server its slots.
    concurrency: int | None = None
    per_endpoint: int | None = None  # at most this many in flight on one endpoint (default: concurrency)
    # Rates the target is held to instead of the contract's, each with its reason.
    rates: tuple[RateOverride, ...] = ()
    # False where timings say nothing about the contract (a CPU-bound local model): latency
    # checks report their figures and do not gate.
    gate_latency: bool = True
    source: str = ""
