"""pytest plugin: a contract file is a test file, each check × endpoint × case one test.

Registered through the ``pytest11`` entry point, so after ``pip install -e .``::

    pytest suites/                                  # every contract in suites/, reference server
    pytest suites/gemma-4-e4b.yaml -k "ranges and temperature"
    pytest suites/ -m "thinking and chat_completions" --target live
    pytest suites/ --reference-fault accept_out_of_range:temperature

Only YAML files whose top-level ``kind`` is ``contract`` are collected; protocol and target
files are layers of a contract, not tests, and are passed over silently. Test ids are the
runner's result ids (``check[endpoint-case]``), so ``-k`` selects what ``conformance run -k``
selects; each test carries its check's category and its endpoint as markers. (pytest's ``-k``
also matches marker names and the file and directory names, as it does for every test: ``-k
limits`` picks the limits category here, and no id in ``conformance run``.)

The target is opened once per session and contract (``--target``, ``--base-url``,
``--api-key-env``, ``--model``, ``--reference-fault`` as in ``conformance run``), after
collection and deselection and never under ``--collect-only``, so listing tests costs no
request. Its preflight runs once: a dead target, a bad suite or a missing key is one usage
error (exit code 4), not one traceback per test. Each test runs its check case through the
runner's own `_run_one` and `apply_divergences` (a target's expected divergences are strict
xfails), on one event loop for the session.
"""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from conformance.errors import ConformanceError
from conformance.secrets import redact

if TYPE_CHECKING:  # the harness itself is imported when a contract is collected, not before
    from conformance.billing import Meter
    from conformance.checks.registry import Case
    from conformance.protocols.base import WireProtocol
    from conformance.runner import Plan, RunPolicy
    from conformance.session import SessionSettings
    from conformance.suite.model import Contract
    from conformance.transport.client import Client
    from conformance.verdicts import Result

# A top-level `kind: contract` line; reading the line instead of parsing the YAML keeps
# collection cheap for every other YAML file pytest walks past.
_CONTRACT_KIND = re.compile(r"""^kind:[ \t]*(["']?)contract\1[ \t]*(?:#.*)?$""", re.MULTILINE)
_STATUS_PROPERTY = "conformance_status"


class CheckError(Exception):
    """The check reached no verdict (transport failure, harness bug): pytest reports an error."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "conformance: contract files (kind: contract) as tests")
    group.addoption("--target", default="reference", metavar="NAME",
                    help="reference (built-in server, default), live (the provider), or a target name/file")
    group.addoption("--base-url", metavar="URL", help="any compatible server, e.g. http://127.0.0.1:8080/v1")
    group.addoption("--api-key-env", metavar="VAR", help="environment variable holding the API key")
    group.addoption("--model", help="model id to request (default: the contract's)")
    group.addoption("--reference-fault", action="append", default=[], metavar="NAME",
                    help="break the built-in reference server on purpose (repeatable; see "
                         "`conformance serve --list-faults`)")
    group.addoption("--max-cost", type=float, metavar="USD",
                    help="refuse to start when the selected tests' expected cost exceeds USD, and stop "
                         "before a request that could cross it (as `conformance run --max-cost`)")
    group.addoption("--api-key-file", metavar="PATH", help="read the API key from this file (first line)")
    group.addoption("--tier", choices=("smoke", "standard", "full"),
                    help="as `conformance run --tier` (default: the target profile's, else standard for live, "
                         "else full)")
    group.addoption("--concurrency", type=int, metavar="N",
                    help="check cases in flight at once, as `conformance run --concurrency` (default: the "
                         "target profile's); above 1 the selected cases of a contract run together when its "
                         "first test runs, and each test reports its own verdict")
    group.addoption("--conformance-strict", action="store_true",
                    help="an inconclusive sampled verdict fails its test (`conformance run --strict`)")
    for flag, help_text in (("--connect-timeout", "seconds to open a connection"),
                            ("--first-byte-timeout", "seconds from sending to the response's first byte"),
                            ("--idle-timeout", "longest silence in the middle of an answer"),
                            ("--total-timeout", "hard deadline for a whole answer")):
        group.addoption(flag, type=float, metavar="S", help=f"{help_text} (overrides the target profile)")
    group.addoption("--retries", type=int, default=0, metavar="N",
                    help="send again after a 429, 502-504 or refused connection, up to N times")


_TARGETS = pytest.StashKey["_Targets"]()


# tryfirst: importing the checks registers conformance's hypothesis profiles (ci, live,
# thorough), which must exist before hypothesis's own plugin loads the one that
# --hypothesis-profile names.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from conformance.checks import REGISTRY
    from conformance.protocols import IMPLEMENTATIONS

    for category in sorted({spec.category for spec in REGISTRY.values()}):
        _register_marker(config, category, f"conformance checks of the {category} category")
    for endpoint in IMPLEMENTATIONS:
        _register_marker(config, endpoint, f"conformance checks on the {endpoint} endpoint")
    config.stash[_TARGETS] = _Targets(config)


def _register_marker(config: pytest.Config, name: str, doc: str) -> None:
    known = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    if name not in known:
        config.addinivalue_line("markers", f"{name}: {doc}")


def _is_contract(path: Path) -> bool:
    try:
        return _CONTRACT_KIND.search(path.read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ContractFile | None:
    if file_path.suffix in (".yaml", ".yml") and _is_contract(file_path):
        return cast(ContractFile, ContractFile.from_parent(parent, path=file_path))
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    selected: dict[ContractFile, list[ContractItem]] = {}
    for item in session.items:
        if isinstance(item, ContractItem):
            selected.setdefault(cast(ContractFile, item.parent), []).append(item)
    targets = session.config.stash[_TARGETS]
    for file, items in selected.items():
        targets.open(file, items)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    # A check that reached no verdict is an error, as in the runner's counts, not a failure.
    if report.when == "call" and report.failed and (_STATUS_PROPERTY, "error") in report.user_properties:
        return "error", "E", "ERROR"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # A skip is located at the contract file, not at the plugin line that raised it, so that
    # `-rs` groups skips by contract and reason.
    if (isinstance(item, ContractItem) and report.skipped and not hasattr(report, "wasxfail")
            and isinstance(report.longrepr, tuple)):
        report.longrepr = (str(item.path), None, report.longrepr[2])
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash[_TARGETS].cost_lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    session.config.stash[_TARGETS].close()


def pytest_unconfigure(config: pytest.Config) -> None:
    # A second close is a no-op; this one covers a session that ended before sessionfinish.
    if _TARGETS in config.stash:
        config.stash[_TARGETS].close()


class ContractFile(pytest.File):
    """One contract file: its items are the runner's plan, with every case selected."""

    contract: Contract | None = None

    def collect(self) -> Iterator[pytest.Item]:
        from conformance.runner import plan
        from conformance.selection import compile_selection
        from conformance.suite.loader import load_contract
        from conformance.transport.client import Client
        from conformance.verdicts import Result, Status

        try:
            self.contract = load_contract(self.path)
        except ConformanceError as exc:
            raise self.CollectError(redact(str(exc))) from None
        for endpoint in self.contract.endpoints:
            _register_marker(self.config, endpoint, f"conformance checks on the {endpoint} endpoint")
        # Case factories read only the contract and the wire protocol, so the plan is drawn up
        # without a client: the session's client is bound when an item runs.
        no_client = cast(Client, None)
        for p, cases in plan(self.contract, no_client, compile_selection(None)):
            for case in cases:
                name = Result(check=p.spec.name, endpoint=p.endpoint, case=getattr(case, "id", "") or "",
                              status=Status.PASSED).id
                yield ContractItem.from_parent(self, name=name, plan=p, case=case)


class ContractItem(pytest.Item):
    """One check case on one endpoint; its verdict is the runner's, mapped to pytest's."""

    def __init__(self, *, plan: Plan, case: Case | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.case = case  # None where the harness does not speak the endpoint: a skip
        self.result: Result | None = None  # the runner's verdict, once run
        self.add_marker(plan.spec.category)
        self.add_marker(plan.endpoint)

    @property
    def rule(self) -> str:
        return str(self.plan.spec.rule)

    def runtest(self) -> None:
        from conformance.verdicts import Status

        try:
            result = self.config.stash[_TARGETS].run(self)
        except ConformanceError as exc:
            # The runner stops the whole run here (unreachable target, budget spent): so do we.
            message = redact(str(exc))
            self.session.shouldstop = f"conformance: {message}"
            self.user_properties.append((_STATUS_PROPERTY, "error"))
            raise CheckError(message) from None
        self.result = result
        self.user_properties.append((_STATUS_PROPERTY, result.status.value))
        if result.request is not None or result.response is not None:
            self.add_report_section("call", "exchange", _exchange_text(result))
        if result.status is Status.PASSED:
            return
        if result.status is Status.INCONCLUSIVE:
            # Not enough evidence either way: a pass with a warning that names the interval, as
            # the run counts it, unless --conformance-strict makes it a failure.
            if self.config.getoption("conformance_strict", False):
                pytest.fail(f"inconclusive (--conformance-strict): {result.message}", pytrace=False)
            import warnings
            warnings.warn(f"inconclusive {result.id}: {result.message}", UserWarning, stacklevel=1)
            return
        if result.status is Status.SKIPPED:
            pytest.skip(result.message)
        if result.status is Status.XFAILED:
            pytest.xfail(result.message)
        if result.status is Status.ERROR:
            raise CheckError(result.message)
        pytest.fail(result.message, pytrace=False)  # failed, or xpassed: strict, as in the runner

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        if isinstance(excinfo.value, (pytest.fail.Exception, CheckError)):
            message = excinfo.value.msg if isinstance(excinfo.value, pytest.fail.Exception) else str(excinfo.value)
            # The finding first: pytest's one-line summary (-rf, CI logs) shows the first line.
            return f"{message}\nrule: {self.rule}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


def _exchange_text(result: Result) -> str:
    parts = []
    for label, value in (("request", result.request), ("response", result.response)):
        if value is not None:
            shown = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
            parts.append(f"{label}: {shown}")
    return "\n".join(parts)


@dataclass
class _Opened:
    contract: Contract  # with the model the target answers as
    wires: dict[str, WireProtocol]
    client: Client
    policy: RunPolicy  # the target's divergences and rates, the tier's samples, the concurrency
    meter: Meter
    # With --concurrency above 1: each selected case's verdict, reached together up front.
    results: dict[str, Result] = field(default_factory=dict)
    stopped: str | None = None  # why the up-front run stopped early (budget spent, target gone)


class _Targets:
    """The session's targets, one per contract file, all on one event loop.

    The loop is a single `asyncio.Runner` because pytest-asyncio is not a dependency and the
    shared `Client` (an httpx pool) must stay on the loop it was first used on.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self._stack = ExitStack()
        self._runner: asyncio.Runner | None = None
        self._opened: dict[Path, _Opened] = {}
        self._spent: list[tuple[str, Meter]] = []  # kept after close, for the terminal summary

    def _loop(self) -> asyncio.Runner:
        if self._runner is None:
            self._runner = asyncio.Runner()
            self._stack.callback(self._runner.close)
        return self._runner

    def open(self, file: ContractFile, items: list[ContractItem] | None = None) -> _Opened:
        """Start (or resolve) the target for this contract and preflight it; once per session.

        With `items` (the selected tests of the file) the cost preview is shown first, and an
        expected cost over ``--max-cost`` refuses the session before any request.
        """
        if file.path in self._opened:
            return self._opened[file.path]
        try:
            opened = self._open(file, items or [])
        except ConformanceError as exc:
            raise pytest.UsageError(f"conformance: {file.path.name}: {redact(str(exc))}") from None
        self._opened[file.path] = opened
        return opened

    def settings(self) -> SessionSettings:
        """The session's settings from pytest's options, resolved as every entry point resolves them."""
        from conformance.generation.strategies import PROFILES
        from conformance.session import SessionOptions, resolve

        option = self.config.option
        # hypothesis's own pytest plugin owns --hypothesis-profile; a conformance profile named
        # there is honoured, any other is hypothesis's business.
        named = getattr(option, "hypothesis_profile", None)
        return resolve(SessionOptions.from_namespace(
            option, hypothesis_profile=named if named in PROFILES else None,
            api_key_file=Path(option.api_key_file) if getattr(option, "api_key_file", None) else None,
            strict=bool(getattr(option, "conformance_strict", False))))

    def _open(self, file: ContractFile, items: list[ContractItem]) -> _Opened:
        from conformance.billing import preview
        from conformance.errors import SetupError
        from conformance.protocols import wire_protocols
        from conformance.runner import expected_estimate, request_estimate, run_plan
        from conformance.session import open_session

        assert file.contract is not None  # collected before it is opened
        runner = self._loop()
        settings = self.settings()
        session = self._stack.enter_context(open_session(settings, file.contract))
        contract, policy = session.contract, settings.policy()
        pricing, max_cost = contract.pricing, settings.max_cost
        # As `conformance run`: the selected tests' expected and worst cost, plus the preflight.
        selected = [(i.plan, [i.case]) for i in items if i.case is not None]
        cost = preview(request_estimate(selected, contract, policy) + 1,
                       expected_estimate(selected, contract, policy) + 1, pricing)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"conformance: {file.path.name} tier {settings.tier.name}, concurrency "
                                f"{settings.concurrency}; cost preview: {cost.line(pricing.currency)}")
        if max_cost is not None and cost.expected_usd > max_cost:
            raise SetupError(f"expected cost {cost.expected_usd:.2f} {pricing.currency} exceeds --max-cost "
                             f"{max_cost:.2f}: take a smaller --tier, narrow the run with -k or raise the budget")
        client = session.client()
        self._stack.callback(lambda: runner.run(client.aclose()))
        runner.run(session.preflight(client))
        if reporter is not None:
            reporter.write_line(f"conformance: {file.path.name} against {session.endpoint.name} "
                                f"{session.endpoint.base_url} (model {session.endpoint.model})")
        self._spent.append((file.path.name, session.meter))
        opened = _Opened(contract, wire_protocols(contract), client, policy, session.meter)
        if settings.concurrency > 1 and items:
            # The cases run together now, in plan order, as `conformance run` runs them; each test
            # then reports its own verdict. (-x cannot save requests here: they are already sent.)
            plans = [(self._bound(opened, i.plan), [i.case]) for i in items]
            try:
                runner.run(run_plan(plans, lambda r: opened.results.__setitem__(r.id, r), policy))
            except ConformanceError as exc:
                opened.stopped = redact(str(exc))
        return opened

    @staticmethod
    def _bound(opened: _Opened, p: Plan) -> Plan:
        """The collected plan with the session's client (collection draws plans without one)."""
        from conformance.checks.probe import Probe
        from conformance.runner import Plan

        if p.probe is None:
            return p
        return Plan(p.spec, p.endpoint, Probe(opened.contract, opened.wires[p.endpoint], opened.client))

    def cost_lines(self) -> list[str]:
        """What each contract's tests cost, for the end of the session."""
        return [f"conformance: {name} cost: {m.messages} billed messages = {m.spent:.2f} {m.pricing.currency}"
                for name, m in self._spent]

    def run(self, item: ContractItem) -> Result:
        """Run one item's check case exactly as `conformance run` does, returning its `Result`."""
        from conformance.errors import SetupError
        from conformance.runner import _run_one, apply_divergences

        file = cast(ContractFile, item.parent)
        if file.path not in self._opened:  # only when collection_finish did not run first
            try:
                self._opened[file.path] = self._open(file, [])
            except ConformanceError as exc:
                pytest.exit(f"conformance: {file.path.name}: {redact(str(exc))}",
                            returncode=pytest.ExitCode.USAGE_ERROR)
        opened = self._opened[file.path]
        if item.name in opened.results:
            return opened.results[item.name]
        if opened.stopped is not None:
            raise SetupError(opened.stopped)
        p = self._bound(opened, item.plan)
        return apply_divergences(self._loop().run(_run_one(p, item.case, opened.policy)), opened.policy.divergences)

    def close(self) -> None:
        stack, self._stack = self._stack, ExitStack()
        self._runner = None
        self._opened.clear()
        stack.close()
