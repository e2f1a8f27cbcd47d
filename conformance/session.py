"""The run setup, once: (target or --base-url, key, model, timeouts, retries, tier, hypothesis
profile, concurrency, budget, divergences) → resolved `SessionSettings` → an open `Session`.

`conformance run`, the pytest plugin, `conformance replay` and `conformance bench` all build a
`SessionOptions` from their flags and call `resolve`; nothing else decides these values, so the
four cannot drift apart. Precedence, for every value: the command line, then the target
profile (`suites/targets/*.yaml`), then the defaults below. With `--base-url` the target file no
longer describes the server, so none of its settings (timeouts, tier, concurrency, divergences,
rates) is followed.
"""
from __future__ import annotations

import dataclasses
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from conformance.billing import Meter
from conformance.errors import SetupError
from conformance.generation.strategies import use_profile
from conformance.runner import RunPolicy, preflight
from conformance.suite.loader import find_target
from conformance.suite.model import Contract, Divergence, RateOverride, Target
from conformance.targets import Endpoint, open_target
from conformance.tiers import DEFAULT_TIER, LIVE_TIER, Tier, get_tier
from conformance.transport.client import Client, ClientSettings, Timeouts, using
from conformance.transport.retry import RetryPolicy

# Requests in flight when neither the command line nor the target profile says: one, since an
# unknown server may be a single-slot one.
DEFAULT_CONCURRENCY = 1


@dataclass(frozen=True)
class SessionOptions:
    """What the user asked for, flag by flag (None: not given). Every entry point fills one."""

    target: str = "reference"
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    model: str | None = None
    faults: tuple[str, ...] = ()
    timeouts: dict[str, float] = field(default_factory=dict)  # connect, first_byte, idle, total
    retries: int = 0
    insecure: bool = False
    hypothesis_profile: str | None = None
    tier: str | None = None
    concurrency: int | None = None
    max_cost: float | None = None
    strict: bool = False

    @classmethod
    def from_namespace(cls, ns: Any, **overrides: Any) -> SessionOptions:
        """From an argparse namespace or pytest's `config.option`: the flag names are shared
        (`conformance.transport.options` and the run options); a missing flag is not given."""
        def get(name: str, default: Any = None) -> Any:
            value = getattr(ns, name, default)
            return default if value is None else value

        timeouts = {key: get(f"{key}_timeout") for key in ("connect", "first_byte", "idle", "total")}
        values = dict(
            target=get("target", "reference"), base_url=get("base_url"), api_key_env=get("api_key_env"),
            api_key_file=get("api_key_file"), model=get("model"), faults=tuple(get("reference_fault", ())),
            timeouts={k: float(v) for k, v in timeouts.items() if v is not None},
            retries=int(get("retries", 0)), insecure=bool(get("insecure", False)),
            hypothesis_profile=get("hypothesis_profile"), tier=get("tier"),
            concurrency=get("concurrency"), max_cost=get("max_cost"), strict=bool(get("strict", False)))
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class SessionSettings:
    """Every value a run depends on, resolved."""

    options: SessionOptions
    target: Target
    client: ClientSettings
    tier: Tier
    hypothesis_profile: str
    concurrency: int
    per_endpoint: int | None
    divergences: tuple[Divergence, ...]
    rates: tuple[RateOverride, ...]
    gate_latency: bool

    @property
    def external(self) -> bool:
        return self.options.base_url is not None

    @property
    def target_label(self) -> str:
        return "external" if self.external else self.options.target

    @property
    def max_cost(self) -> float | None:
        return self.options.max_cost

    @property
    def strict(self) -> bool:
        return self.options.strict

    def policy(self) -> RunPolicy:
        return RunPolicy(divergences=self.divergences, rates=self.rates, sample_cap=self.tier.sample_cap,
                         gate_latency=self.gate_latency, concurrency=self.concurrency,
                         per_endpoint=self.per_endpoint)

    def describe(self) -> dict[str, Any]:
        """What the report's `run.settings` shows (no key: only where it comes from)."""
        o = self.options
        return {"target": self.target_label, "target_file": None if self.external else self.target.source,
                "base_url": o.base_url, "model": o.model, "api_key_env": o.api_key_env,
                "api_key_file": str(o.api_key_file) if o.api_key_file else None,
                "faults": list(o.faults), "requests": self.client.describe(), "tier": self.tier.name,
                "hypothesis_profile": self.hypothesis_profile, "concurrency": self.concurrency,
                "per_endpoint": self.per_endpoint,
                "max_cost": o.max_cost, "strict": o.strict, "gate_latency": self.gate_latency,
                "divergences": len(self.divergences), "rates": len(self.rates)}


def resolve(options: SessionOptions) -> SessionSettings:
    """Options → settings: the command line, else the target profile, else the defaults."""
    target = find_target(options.target)
    external = options.base_url is not None
    profile_timeouts = {} if external else target.timeouts
    timeouts = Timeouts().replace(**profile_timeouts).replace(**options.timeouts)
    client = ClientSettings(timeouts=timeouts, retry=RetryPolicy(retries=options.retries),
                            verify_tls=not options.insecure)
    if options.tier:
        tier = get_tier(options.tier)
    elif not external and target.tier:
        tier = get_tier(target.tier)
    else:
        # Live calls cost money: the provider gets the standard tier unless asked otherwise.
        tier = get_tier(LIVE_TIER if target.server == "provider" and not external else DEFAULT_TIER)
    concurrency = options.concurrency
    if concurrency is None:
        concurrency = (None if external else target.concurrency) or DEFAULT_CONCURRENCY
    if concurrency < 1:
        raise SetupError(f"--concurrency must be at least 1, got {concurrency}")
    if options.max_cost is not None and options.max_cost < 0:
        raise SetupError(f"--max-cost must not be negative, got {options.max_cost}")
    return SessionSettings(
        options=options, target=target, client=client, tier=tier,
        hypothesis_profile=options.hypothesis_profile or tier.hypothesis_profile, concurrency=int(concurrency),
        per_endpoint=None if external else target.per_endpoint,
        divergences=() if external else target.divergences, rates=() if external else target.rates,
        gate_latency=True if external else target.gate_latency)


@dataclass
class Session:
    """An open target: where requests go, the contract as the target answers it, and the meter."""

    settings: SessionSettings
    endpoint: Endpoint
    contract: Contract  # with the model id the target answers to
    meter: Meter

    def client(self) -> Client:
        """A client for this session; create it inside the event loop that will use it."""
        return Client(self.endpoint.base_url, self.endpoint.api_key, meter=self.meter)

    async def preflight(self, client: Client) -> None:
        await preflight(self.contract, client)


@contextmanager
def open_session(settings: SessionSettings, contract: Contract) -> Iterator[Session]:
    """Start (or reach) the target; the hypothesis profile and the client settings hold inside,
    and are undone afterwards (a command may run inside a longer process, such as pytest)."""
    o = settings.options
    with ExitStack() as stack:
        stack.enter_context(use_profile(settings.hypothesis_profile))
        stack.enter_context(using(settings.client))
        endpoint = stack.enter_context(open_target(
            settings.target, contract, base_url=o.base_url, api_key_env=o.api_key_env, model=o.model,
            faults=list(o.faults), api_key_file=o.api_key_file))
        yield Session(settings, endpoint, dataclasses.replace(contract, model=endpoint.model),
                      Meter(contract.pricing, o.max_cost))
