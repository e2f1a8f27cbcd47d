"""Hypothesis strategies derived from the typed contract, and the profiles they run under.

Where `conformance.generation.ranges` picks a few deterministic edges per parameter, these
strategies explore the whole space the contract describes:

- `valid_params(contract, endpoint)`: dicts (canonical names) of values inside every range,
  enum and type the endpoint offers, with each parameter's `requires` satisfied. `max_tokens`
  never exceeds the contract's `probe_max_tokens` (answers are billed and take time); `stop`
  is a short string or up to `max_items` of them; `tools` is the one fixed example tool
  (`conformance.generation.ranges.EXAMPLE_TOOL`, spelled per endpoint by the protocol adapter).
- `invalid_value(param)` / `invalid_param(contract, endpoint)`: values the contract forbids —
  out of range on either side (floats and huge integers), the wrong JSON type, outside the
  enum, a list too long. Never JSON null: servers (the reference one included) read null as
  "omitted", which is valid.
- `chat_prompts()`: short printable prompts.

Profiles, registered with hypothesis under these names (`--hypothesis-profile` on `conformance run`):

- ``ci``: derandomized (the same requests on every run), 25 examples per case, then at most
  100 more requests to shrink a failure.
- ``live``: derandomized, 5 examples per case and no shrinking, since each request to the
  provider may be billed (`conformance run --target live` picks it unless told otherwise).
- ``thorough``: 200 random examples per case; failures are remembered in the example database
  under ``.hypothesis/conformance`` and tried first on the next run.

A derandomized profile cannot have an example database (hypothesis forbids it: the same
examples come back anyway); the saved failure files of `conformance.replay` are the record
that survives a run on every profile.
"""
from __future__ import annotations

import math
import string
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import InvalidArgument

from conformance.errors import SetupError
from conformance.generation.ranges import EXAMPLE_TOOL
from conformance.suite.model import Contract, Parameter

__all__ = [
    "DEFAULT_PROFILE", "EXAMPLE_DATABASE_DIR", "PROFILES", "ProfileChoice", "active_profile", "active_settings",
    "chat_prompts", "invalid_param", "invalid_value", "request_budget",
    "use_profile", "valid_params", "valid_value",
]

EXAMPLE_DATABASE_DIR = ".hypothesis/conformance"
DEFAULT_PROFILE = "ci"

# The explain phase re-runs a failing example with parts varied, to annotate the report: each
# run is one more request, and the report here is the saved failing request itself.
_SEARCH_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

PROFILES: dict[str, dict[str, Any]] = {
    "ci": {"derandomize": True, "max_examples": 25, "deadline": None, "database": None, "phases": _SEARCH_PHASES},
    "live": {"derandomize": True, "max_examples": 5, "deadline": None, "database": None,
             "phases": (Phase.explicit, Phase.generate)},
    # The smoke tier: one example per search, only to show the property check runs at all.
    "smoke": {"derandomize": True, "max_examples": 1, "deadline": None, "database": None,
              "phases": (Phase.explicit, Phase.generate)},
    # Explicit: under CI=true hypothesis's own defaults are derandomized, and this profile must not be.
    "thorough": {"derandomize": False, "max_examples": 200, "deadline": None, "phases": _SEARCH_PHASES,
                 "database": DirectoryBasedExampleDatabase(EXAMPLE_DATABASE_DIR)},
}
for _name, _options in PROFILES.items():
    settings.register_profile(_name, suppress_health_check=list(HealthCheck), print_blob=False, **_options)

# Requests one search may spend on shrinking, on top of `max_examples`: shrinking a float can
# take hundreds of steps, and every step against a real server is a request.
SHRINK_REQUESTS: dict[str, int] = {"ci": 100, "live": 0, "smoke": 0, "thorough": 300}
_DEFAULT_SHRINK_REQUESTS = 100

_active = DEFAULT_PROFILE


class ProfileChoice:
    """What `use_profile` returns: the chosen settings, and (as a context manager) the way back."""

    def __init__(self, name: str, previous: str):
        self.name, self.previous = name, previous

    @property
    def settings(self) -> settings:
        return settings.get_profile(self.name)

    def __enter__(self) -> ProfileChoice:
        return self

    def __exit__(self, *exc: object) -> None:
        global _active
        _active = self.previous


def use_profile(name: str) -> ProfileChoice:
    """Make `name` the profile the property checks draw under, now; SetupError if unknown.

    Used in a `with` block, the previous profile comes back at its end. Only the checks
    follow this choice: hypothesis's global default (which ordinary @given tests use, such
    as this harness's own) is left alone.
    """
    global _active
    try:
        settings.get_profile(name)
    except InvalidArgument:
        raise SetupError(f"unknown hypothesis profile {name!r}; known: {', '.join(PROFILES)}") from None
    choice = ProfileChoice(name, _active)
    _active = name
    return choice


def active_profile() -> str:
    return _active


def active_settings() -> settings:
    return settings.get_profile(_active)


def request_budget(profile: str | None = None) -> int:
    """The most requests one property search sends under `profile` (default: the active one)."""
    name = profile or _active
    conf = settings.get_profile(name)
    shrink = SHRINK_REQUESTS.get(name, _DEFAULT_SHRINK_REQUESTS) if Phase.shrink in conf.phases else 0
    return conf.max_examples + shrink


# ----------------------------------------------------------------------------- building blocks

_WORD_CHARS = string.ascii_letters + string.digits
_PRINTABLE = _WORD_CHARS + " .,;:!?-'"
# Keeps huge integers huge without hypothesis drifting into thousand-digit numbers no JSON
# parser in front of a model is worth testing with.
_HUGE = 2**100


def _words(max_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(alphabet=_WORD_CHARS, min_size=1, max_size=max_size)


def _short_text(max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet=_PRINTABLE, max_size=max_size)


def chat_prompts() -> st.SearchStrategy[str]:
    """Short printable prompts of one to six words."""
    return st.lists(_words(), min_size=1, max_size=6).map(" ".join)


def _finite_floats(**bounds: Any) -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False, allow_infinity=False, **bounds)


# ----------------------------------------------------------------------------- valid values

def valid_value(param: Parameter, contract: Contract, endpoint: str) -> st.SearchStrategy[Any]:
    """Values of one parameter that the contract accepts."""
    lo, hi = param.minimum, param.maximum
    if param.type == "number":
        floats = _finite_floats(min_value=lo, max_value=hi)
        # JSON has one number type: an integral value written as 1 is as valid as 1.0.
        ints = st.integers(min_value=None if lo is None else math.ceil(lo),
                           max_value=None if hi is None else math.floor(hi))
        return st.one_of(floats, ints)
    if param.type == "integer":
        if param.name == "max_tokens":
            hi = contract.probe_max_tokens if hi is None else min(hi, contract.probe_max_tokens)
        return st.integers(min_value=None if lo is None else math.ceil(lo),
                           max_value=None if hi is None else math.floor(hi))
    if param.type == "boolean":
        return st.booleans()
    if param.type == "enum":
        return st.sampled_from(param.values)
    if param.type == "string_or_list":
        return st.one_of(_words(), st.lists(_words(), min_size=1, max_size=param.max_items or 4))
    if param.type == "string":
        return _words(16)
    if param.type == "array":
        # The protocol adapter spells the neutral tool its own way on each endpoint.
        return st.just([EXAMPLE_TOOL] if param.name == "tools" else [])
    raise ValueError(f"parameter {param.name}: no strategy for type {param.type!r}")


def _conditions(param: Parameter, contract: Contract, endpoint: str) -> dict[str, Any]:
    # A condition on a parameter the endpoint does not offer cannot be stated there
    # (top_logprobs on /v1/responses has no logprobs switch): servers do not ask for it.
    return {other: expected for other, expected in param.requires.items()
            if contract.parameters[other].binding(endpoint).supported}


def _met(conditions: dict[str, Any], params: dict[str, Any], contract: Contract) -> bool:
    for other, expected in conditions.items():
        other_param = contract.parameters[other]
        if params.get(other, other_param.default if other_param.has_default else None) != expected:
            return False
    return True


# Whether to include an optional parameter. Three in four: with few examples (the ci and live
# profiles draw 25 and 5) each request should combine many parameters, yet 0, the value
# hypothesis shrinks towards, still means "left out", so a minimal failure keeps only what it needs.
_INCLUDED = st.integers(min_value=0, max_value=3).map(bool)


def valid_params(contract: Contract, endpoint: str) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the endpoint's parameters, each with a valid value, `requires` satisfied.

    A parameter with a condition (top_logprobs needs logprobs true) is drawn only once the
    parameters drawn before it satisfy the condition, rather than forcing them afterwards:
    shrinking can then drop it on its own.
    """
    supported = contract.supported_parameters(endpoint)
    values = {p.name: valid_value(p, contract, endpoint) for p in supported}
    conditions = {p.name: _conditions(p, contract, endpoint) for p in supported}

    @st.composite
    def params(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        waiting = list(values)
        while True:
            ready = [n for n in waiting if _met(conditions[n], out, contract)]
            if not ready:
                return out
            for name in ready:
                if draw(_INCLUDED):
                    out[name] = draw(values[name])
            waiting = [n for n in waiting if n not in ready]

    return params()


# ----------------------------------------------------------------------------- invalid values

def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(st.booleans(), st.integers(-1000, 1000), _short_text(6))


def _objects() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_words(6), _scalars(), max_size=2)


def _out_of_range(param: Parameter) -> list[st.SearchStrategy[Any]]:
    lo, hi = param.minimum, param.maximum
    floats: list[st.SearchStrategy[Any]] = []
    ints: list[st.SearchStrategy[Any]] = []
    # The filters drop -0.0 below a minimum of 0: hypothesis orders it below 0.0, JSON and
    # every server compare it equal to 0.
    if hi is not None:
        floats.append(_finite_floats(min_value=hi, exclude_min=True).filter(lambda x: x > hi))
        ints.append(st.integers(min_value=math.floor(hi) + 1, max_value=max(math.floor(hi) + 1, _HUGE)))
    if lo is not None:
        floats.append(_finite_floats(max_value=lo, exclude_max=True).filter(lambda x: x < lo))
        ints.append(st.integers(min_value=min(math.ceil(lo) - 1, -_HUGE), max_value=math.ceil(lo) - 1))
    # hypothesis shrinks one_of towards its first branch: a failure then reads in the
    # parameter's own kind (max_tokens=4097, temperature=3.0).
    return ints + floats if param.type == "integer" else floats + ints


def _wrong_types(param: Parameter) -> list[st.SearchStrategy[Any]]:
    kind = param.type
    out: list[st.SearchStrategy[Any]] = []
    if kind not in ("string", "string_or_list", "enum"):
        out.append(_short_text())
    elif kind == "enum":
        out.append(_short_text().filter(lambda s: s not in param.values))
    if kind not in ("number", "integer"):
        out.append(st.one_of(st.integers(-_HUGE, _HUGE), _finite_floats()))
    if kind != "boolean":
        out.append(st.booleans())
    if kind not in ("array", "string_or_list"):
        out.append(st.lists(_scalars(), max_size=3))
    if kind == "string_or_list":
        # A list is allowed, but only of strings.
        out.append(st.lists(st.one_of(st.integers(), st.booleans()), min_size=1, max_size=param.max_items or 4))
    if kind == "integer":
        lo = param.minimum if param.minimum is not None else -1e6
        hi = param.maximum if param.maximum is not None else 1e6
        # Only fractions: some servers read 3.0 as the integer 3, and that is no finding.
        out.append(_finite_floats(min_value=lo, max_value=hi).filter(lambda x: not x.is_integer()))
    out.append(_objects())
    return out


def invalid_value(param: Parameter) -> st.SearchStrategy[Any]:
    """Values the contract forbids for `param`; out-of-range ones first, so failures shrink to them."""
    branches: list[st.SearchStrategy[Any]] = []
    if param.type in ("number", "integer"):
        branches += _out_of_range(param)
    if param.type == "string_or_list" and param.max_items is not None:
        branches.append(st.lists(_words(), min_size=param.max_items + 1, max_size=param.max_items + 3))
    branches += _wrong_types(param)
    return st.one_of(branches)


def invalid_param(contract: Contract, endpoint: str) -> st.SearchStrategy[tuple[str, Any]]:
    """(canonical parameter name, forbidden value) pairs over every parameter the endpoint offers."""
    return st.one_of([st.tuples(st.just(p.name), invalid_value(p)) for p in contract.supported_parameters(endpoint)])
