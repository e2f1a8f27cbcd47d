"""One hypothesis search run from inside an async check, its failures shrunk, saved and reported.

How a hypothesis search runs inside an async check: hypothesis's engine is synchronous, so it
runs in a worker thread, and each request it wants is sent on the check's own event loop
through a synchronous bridge (`run_coroutine_threadsafe(...).result()`). The search can then
shrink a failure to a minimal request with ordinary hypothesis semantics. Each search is
bounded by `strategies.request_budget()`; an answer is remembered by request, so shrinking
and hypothesis's final replay never send the same request twice (and a server that answers
differently the second time cannot make the search flaky).

Every failure is saved (minimal request, expectation, what came back) by
`conformance.replay.save_failure` and can be sent again with `conformance replay FILE`.
"""
from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase

from conformance.checks.failures import CheckFailed
from conformance.checks.probe import Probe
from conformance.generation import strategies
from conformance.protocols.base import ChatRequest
from conformance.replay import Expectation, FailureCase, observed, save_failure
from conformance.transport.client import Exchange

__all__ = ["Found", "Search", "explore", "report_found"]

REQUEST_SHOWN_CHARS = 400


class Found(Exception):
    """Raised inside the hypothesis test: this request missed its expectation."""

    def __init__(self, request: ChatRequest, body: dict[str, Any], exchange: Exchange, expect: Expectation,
                 problems: list[str]):
        super().__init__("; ".join(problems))
        self.request, self.body, self.exchange, self.expect, self.problems = request, body, exchange, expect, problems


class _Scoped(ExampleDatabase):
    """One search's corner of a shared example database.

    Hypothesis keys saved examples by the test function, and here one inner function serves
    every check, endpoint and case: without a scope a failure found for one parameter would
    be replayed as the first example of all the others.
    """

    def __init__(self, inner: ExampleDatabase, scope: str):
        super().__init__()
        self.inner, self.scope = inner, scope.encode() + b"\0"

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self.scope + key, value)

    def fetch(self, key: bytes) -> Any:
        return self.inner.fetch(self.scope + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self.scope + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self.scope + src, self.scope + dest, value)


@dataclass
class Search:
    """State shared between the check (event loop) and hypothesis (worker thread)."""

    probe: Probe
    loop: asyncio.AbstractEventLoop
    budget: int
    # Extra options for the client per request (e.g. `events_wanted` to hang up early).
    send_options: Callable[[ChatRequest], dict[str, Any]] | None = None
    sent: int = 0
    over_budget: bool = False
    aborted: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    answers: dict[str, tuple[Exchange, list[str]]] = field(default_factory=dict)

    def attempt(self, request: ChatRequest, expect: Expectation) -> None:
        """Send `request` (once), and raise `Found` when the answer misses `expect`."""
        body = self.probe.wire.body(request)
        key = json.dumps([request.stream, request.include_usage, body], sort_keys=True, default=repr)
        answer = self.answers.get(key)
        if answer is None:
            # Once stopped, every new example passes without a request: hypothesis then
            # finishes quickly, keeping the smallest failure it already has.
            if self.stop.is_set():
                return
            if self.sent >= self.budget:
                self.over_budget = True
                return
            self.sent += 1
            options = self.send_options(request) if self.send_options else {}
            try:
                exchange = asyncio.run_coroutine_threadsafe(self.probe.send(request, **options), self.loop).result()
            except Exception as exc:  # unreachable target, spent budget, harness bug: not a finding
                self.aborted = exc
                self.stop.set()
                return
            answer = (exchange, expect.problems(exchange, self.probe.wire))
            self.answers[key] = answer
        exchange, problems = answer
        if problems:
            raise Found(request, body, exchange, expect, problems)


def _find(exc: BaseException) -> Found | None:
    if isinstance(exc, Found):
        return exc
    if isinstance(exc, BaseExceptionGroup):  # FlakyFailure and friends wrap what was raised
        for inner in exc.exceptions:
            found = _find(inner)
            if found is not None:
                return found
    return None


def _search_settings(scope: str) -> settings:
    base = strategies.active_settings()
    overlay: dict[str, Any] = {"deadline": None, "verbosity": Verbosity.quiet, "report_multiple_bugs": False,
                               "print_blob": False}
    if base.database is not None:
        overlay["database"] = _Scoped(base.database, scope)
    return settings(base, **overlay)


async def explore(probe: Probe, scope: str, examples: st.SearchStrategy[Any],
                  make: Callable[[Any], tuple[ChatRequest, Expectation]],
                  send_options: Callable[[ChatRequest], dict[str, Any]] | None = None) -> tuple[Found | None, Search]:
    """Run one hypothesis search; returns the minimal failure (or None) and the search's record."""
    search = Search(probe, asyncio.get_running_loop(), strategies.request_budget(), send_options)

    @_search_settings(scope)
    @given(examples)
    def property_holds(example: Any) -> None:
        search.attempt(*make(example))

    found: Found | None = None
    try:
        await _on_own_thread(property_holds)
    except asyncio.CancelledError:
        search.stop.set()  # the worker thread cannot be cancelled; make it finish without sending
        raise
    except Exception as exc:
        found = _find(exc)
        if found is None and search.aborted is None:
            raise
    if search.aborted is not None:
        raise search.aborted
    if found is not None:
        # The report shows the last exchange of a case: make it the failing one (a remembered
        # answer is not sent again, so the last one sent may be a passing shrink attempt).
        log = probe.exchanges
        log.append(log.pop(next(i for i, e in enumerate(log) if e is found.exchange)))
    return found, search


# The searches' own threads: not the loop's shared executor, which the requests' host lookups
# (`getaddrinfo`) need, and which searches blocked on their requests could fill with several
# checks in flight. Kept warm: hypothesis sets itself up anew on every new thread (~50 ms).
_SEARCH_THREADS = ThreadPoolExecutor(max_workers=64, thread_name_prefix="hypothesis-search")


async def _on_own_thread(func: Callable[[], None]) -> None:
    """`func()` on a search thread, in this context (the request label goes with it)."""
    context = contextvars.copy_context()
    await asyncio.get_running_loop().run_in_executor(_SEARCH_THREADS, context.run, func)


def _show(found: Found) -> str:
    text = json.dumps(found.body, ensure_ascii=False, default=repr)
    if found.request.stream:
        text += " (streamed)"
    return text if len(text) <= REQUEST_SHOWN_CHARS else text[:REQUEST_SHOWN_CHARS] + "..."


def report_found(probe: Probe, check_name: str, case_id: str, found: Found, search: Search, what: str) -> CheckFailed:
    """Save the failing case and build the failure that names it."""
    record = FailureCase(check=check_name, endpoint=probe.endpoint, case=case_id, body=found.body,
                         stream=found.request.stream, expect=found.expect, observed=observed(found.exchange),
                         problems=found.problems, contract=probe.contract.name,
                         profile=strategies.active_profile())
    try:
        saved = f"saved as {save_failure(record)} (send it again: conformance replay FILE)"
    except OSError as exc:
        saved = f"could not save the case: {exc}"
    shrunk = "minimal request" if not search.over_budget else "smallest request within the request budget"
    return CheckFailed(f"{what}: {'; '.join(found.problems)}; {shrunk}: {_show(found)}; {saved}")
