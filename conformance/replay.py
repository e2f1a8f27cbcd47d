"""Saved failing cases, and `conformance replay FILE`: send one again and see if it still fails.

A property check that finds a failing request writes it as one JSON file (format below) into
the failures directory: ``reports/failures/`` under the working directory, or the directory
named by the environment variable ``CONFORMANCE_FAILURES_DIR``. The file name is derived from
the check, endpoint, case and request, so finding the same failure again overwrites its file.
Everything written passes through `conformance.secrets.redact`; no request header (so no key)
is stored at all.

File format (``"format": 1``)::

    {"format": 1, "check": "...", "endpoint": "chat_completions", "case": "temperature",
     "contract": "gemma-4-e4b", "profile": "ci", "saved_at": "2026-...",
     "request": {"stream": false, "body": {...wire body...}},
     "expect": {"outcome": "rejected", "status": 400, "param": "temperature"},
     "observed": {"status": 200, "body": "...excerpt...", "error": null},
     "problems": ["..."]}

`replay` re-sends ``request.body`` (with the target's model id) to a target — by default
the reference server, started as `conformance run` starts it — and prints the status, a body
excerpt and whether the expectation holds now. Exit codes: 0 it holds, 1 it still fails,
2 the file or the setup is bad.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import jsonschema

from conformance.errors import SetupError
from conformance.protocols.base import WireProtocol
from conformance.report.atomic import write_atomic
from conformance.secrets import redact
from conformance.transport.client import Exchange

__all__ = [
    "DEFAULT_FAILURES_DIR", "FAILURES_DIR_ENV", "FORMAT", "Expectation", "FailureCase",
    "failures_dir", "load_failure", "replay", "save_failure",
]

FAILURES_DIR_ENV = "CONFORMANCE_FAILURES_DIR"
DEFAULT_FAILURES_DIR = Path("reports") / "failures"
FORMAT = 1
BODY_EXCERPT_CHARS = 600

EXIT_HOLDS, EXIT_STILL_FAILS = 0, 1


def failures_dir() -> Path:
    """Where failing cases go: $CONFORMANCE_FAILURES_DIR, else reports/failures/ (read on each call)."""
    configured = os.environ.get(FAILURES_DIR_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_FAILURES_DIR


Outcome = Literal["accepted", "rejected", "conforms"]
OUTCOMES: tuple[str, ...] = ("accepted", "rejected", "conforms")


@dataclass(frozen=True)
class Expectation:
    """What the answer to a request must be: accepted (200), rejected naming a parameter, or
    accepted with an answer text that is JSON valid against `schema` (structured output)."""

    outcome: Outcome
    status: int
    param: str | None = None  # wire name the error must name (rejections only)
    schema: dict[str, Any] | None = None  # the JSON Schema the answer must satisfy ("conforms" only)

    @classmethod
    def accepted(cls) -> Expectation:
        return cls("accepted", 200)

    @classmethod
    def rejected(cls, status: int, param: str) -> Expectation:
        return cls("rejected", status, param)

    @classmethod
    def conforming(cls, schema: dict[str, Any]) -> Expectation:
        return cls("conforms", 200, schema=schema)

    def describe(self) -> str:
        if self.outcome == "accepted":
            return "accepted with status 200"
        if self.outcome == "conforms":
            return "accepted with status 200, the answer JSON valid against the requested schema"
        return f"rejected with status {self.status}, the error naming {self.param!r}"

    def problems(self, exchange: Exchange, wire: WireProtocol) -> list[str]:
        """Every way `exchange` misses the expectation; empty when it holds."""
        if exchange.error:
            return [f"request failed: {exchange.error}"]
        status = exchange.status
        if self.outcome in ("accepted", "conforms"):
            if status != 200:
                return [f"expected status 200, found {status}: {exchange.body[:200]!r}"]
            return [] if self.outcome == "accepted" else self._schema_problems(exchange, wire)
        if status == 200:
            return [f"accepted (status 200); expected a {self.status} error naming {self.param!r}"]
        if status is not None and status >= 500:
            return [f"server error {status} for a bad parameter (expected {self.status}): {exchange.body[:200]!r}"]
        return wire.error_problems(exchange, status=self.status, param=self.param)

    def _schema_problems(self, exchange: Exchange, wire: WireProtocol) -> list[str]:
        assert self.schema is not None
        try:
            reply = wire.stream_reply(exchange) if exchange.stream else wire.reply(json.loads(exchange.body))
        except Exception as exc:  # noqa: BLE001  (a body no parser makes sense of is itself the finding)
            return [f"the answer cannot be read: {exc}"]
        try:
            value = json.loads(reply.text)
        except ValueError as exc:
            return [f"the answer is not JSON ({exc}): {reply.text[:100]!r}"]
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(self.schema).iter_errors(value))
        if error is None:
            return []
        where = "/".join(map(str, error.absolute_path)) or "(root)"
        return [f"the answer breaks the schema at {where}: {error.message}"]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"outcome": self.outcome, "status": self.status, "param": self.param}
        if self.schema is not None:
            data["schema"] = self.schema
        return data


@dataclass
class FailureCase:
    """One failing request as a property check found it, enough to send it again."""

    check: str
    endpoint: str
    case: str
    body: dict[str, Any]
    stream: bool
    expect: Expectation
    observed: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    contract: str = ""
    profile: str | None = None
    saved_at: str = ""

    @property
    def id(self) -> str:
        return f"{self.check}[{self.endpoint}{'-' + self.case if self.case else ''}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "check": self.check, "endpoint": self.endpoint, "case": self.case,
            "contract": self.contract, "profile": self.profile, "saved_at": self.saved_at,
            "request": {"stream": self.stream, "body": self.body},
            "expect": self.expect.to_json(), "observed": self.observed, "problems": self.problems,
        }

    @classmethod
    def from_json(cls, data: Any) -> FailureCase:
        """Parse a saved case; ValueError says which field is wrong."""
        def need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
            if not isinstance(obj, dict) or key not in obj:
                raise ValueError(f"missing {where}{key}")
            if not isinstance(obj[key], kind):
                raise ValueError(f"{where}{key} has the wrong type")
            return obj[key]

        if need(data, "format", int, "") != FORMAT:
            raise ValueError(f"format {data['format']} is not {FORMAT}")
        check, endpoint = need(data, "check", str, ""), need(data, "endpoint", str, "")
        request = need(data, "request", dict, "")
        expect = need(data, "expect", dict, "")
        outcome = need(expect, "outcome", str, "expect.")
        if outcome not in OUTCOMES:
            raise ValueError(f"expect.outcome {outcome!r} is none of {', '.join(map(repr, OUTCOMES))}")
        param = expect.get("param")
        if outcome == "rejected" and not isinstance(param, str):
            raise ValueError("expect.param must name the parameter of a rejection")
        schema = need(expect, "schema", dict, "expect.") if outcome == "conforms" else None
        return cls(
            check=check, endpoint=endpoint,
            case=data.get("case") or "", body=need(request, "body", dict, "request."),
            stream=bool(request.get("stream", False)),
            expect=Expectation(outcome, need(expect, "status", int, "expect."), param, schema),  # type: ignore[arg-type]
            observed=data.get("observed") or {}, problems=list(data.get("problems") or []),
            contract=data.get("contract") or "", profile=data.get("profile"), saved_at=data.get("saved_at") or "",
        )


def _excerpt(exchange: Exchange) -> str:
    if exchange.events:
        # As the stream spelled it, so a named-event protocol shows its event names too.
        text = "\n".join((f"event: {e.event.event}\n" if e.event.event != "message" else "") + f"data: {e.event.data}"
                         for e in exchange.events)
    else:
        text = exchange.body.decode("utf-8", "replace")
    text = redact(text)
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + f"... ({len(text)} chars)"


def observed(exchange: Exchange) -> dict[str, Any]:
    return {"status": exchange.status, "body": _excerpt(exchange),
            "error": redact(str(exchange.error)) if exchange.error else None}


def _file_name(case: FailureCase) -> str:
    digest = hashlib.sha256(json.dumps([case.body, case.stream, case.expect.to_json()], sort_keys=True,
                                       default=str).encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{case.check}-{case.endpoint}{'-' + case.case if case.case else ''}")
    return f"{stem}-{digest}.json"


def save_failure(case: FailureCase, directory: Path | None = None) -> Path:
    """Write `case` (redacted) into `directory` (default `failures_dir()`); returns the file."""
    directory = directory or failures_dir()
    if not case.saved_at:
        case.saved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = directory / _file_name(case)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(path, redact(json.dumps(case.to_json(), indent=2, ensure_ascii=False, default=str)) + "\n")
    return path


def load_failure(path: Path) -> FailureCase:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SetupError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SetupError(f"{path}: not JSON: {exc}") from None
    try:
        return FailureCase.from_json(data)
    except ValueError as exc:
        raise SetupError(f"{path}: not a saved failing case: {exc}") from None


# ----------------------------------------------------------------------------- replay

def replay(path: Path, *, suite: Path, settings: Any) -> int:
    """Send the case saved at `path` to a target, print what came back; the exit code says if it holds.

    `settings` is a `conformance.session.SessionSettings`; not imported here, because the checks
    import this module's failure cases and the session sits above the checks.
    """
    from conformance.protocols import wire_protocols
    from conformance.session import open_session
    from conformance.suite.loader import load_contract

    case = load_failure(path)
    contract = load_contract(suite)
    if case.contract and case.contract != contract.name:
        raise SetupError(f"{path} was found against contract {case.contract!r}, not {contract.name!r}: "
                         "pass its file with --suite")

    async def send() -> tuple[Exchange, WireProtocol]:
        with open_session(settings, contract) as session:
            wire = wire_protocols(session.contract).get(case.endpoint)
            if wire is None:
                raise SetupError(f"{path}: the harness does not speak endpoint {case.endpoint!r} "
                                 f"(the contract's: {', '.join(contract.endpoints)})")
            body = dict(case.body)
            if "model" in body:
                body["model"] = session.contract.model  # the target decides the model id, as in `run`
            async with session.client() as client:
                exchange = await client.send(wire.protocol, body, stream=case.stream, is_content=wire.is_content)
            return exchange, wire

    exchange, wire = asyncio.run(send())
    if exchange.error and exchange.error.kind in ("connect-error", "connect-timeout"):
        raise SetupError(f"cannot reach the target: {exchange.url}: {exchange.error}")
    if exchange.status in (401, 403):
        raise SetupError(f"the target rejected the API key ({exchange.status} from {exchange.url})")
    problems = case.expect.problems(exchange, wire)
    print(f"replay {case.id} -> {wire.protocol.method} {exchange.url}")
    print(f"expected: {case.expect.describe()}")
    print(f"status: {exchange.status if exchange.status is not None else '-'}"
          f"{f' ({redact(str(exchange.error))})' if exchange.error else ''}")
    print(f"body: {_excerpt(exchange)}")
    if problems:
        print(f"verdict: still fails: {redact('; '.join(problems))}")
        return EXIT_STILL_FAILS
    print("verdict: holds now")
    return EXIT_HOLDS
