"""Servers a benchmark starts for itself, each in its own process so it never shares the
client's interpreter lock: the reference server (optionally with a latency model) and the stub
server (`conformance.bench.stubserver`). Loopback only; each is stopped when the run ends."""
from __future__ import annotations

import inspect
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from conformance.errors import SetupError

_START_TIMEOUT_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _wait_listening(proc: subprocess.Popen, host: str, port: int, what: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise SetupError(f"{what} exited at start (code {proc.returncode}): {err.strip()[-400:]}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SetupError(f"{what} did not listen on {host}:{port} within {_START_TIMEOUT_S:g} s")


@contextmanager
def _process(args: list[str], host: str, port: int, what: str,
             on_start: Callable[[int], None] | None = None) -> Iterator[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    try:
        _wait_listening(proc, host, port, what)
        if on_start is not None:
            on_start(proc.pid)
        yield f"http://{host}:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


def reference_supports_latency() -> bool:
    from conformance.server.app import create_app

    return "latency" in inspect.signature(create_app).parameters


_REFERENCE = """
import sys, uvicorn
from pathlib import Path
from conformance.server.app import create_app
from conformance.suite.loader import load_contract
contract = load_contract(Path(sys.argv[1]))
kwargs = {}
if sys.argv[4]:
    from conformance.server.latency import LatencyModel
    kwargs["latency"] = LatencyModel.parse(sys.argv[4])
uvicorn.run(create_app(contract, **kwargs), host=sys.argv[2], port=int(sys.argv[3]), log_level="warning",
            access_log=False)
"""


@contextmanager
def reference_server(contract_path: Path, latency: str = "", host: str = "127.0.0.1",
                     port: int | None = None) -> Iterator[str]:
    """The reference server in a child process (keyless: any Bearer key is accepted)."""
    if latency and not reference_supports_latency():
        raise SetupError("this reference server has no latency model yet (create_app(latency=...)); "
                         "use --stub-server for known delays")
    port = port or free_port(host)
    args = [sys.executable, "-c", _REFERENCE, str(contract_path), host, str(port), latency]
    with _process(args, host, port, "the reference server") as base_url:
        yield base_url


@contextmanager
def stub_server(latency: str = "", *, stamp: bool = False, yield_per_token: bool = False, realtime: bool = False,
                host: str = "127.0.0.1", port: int | None = None,
                on_start: Callable[[int], None] | None = None) -> Iterator[str]:
    """The stub server in a child process; `on_start(pid)` once it listens (`realtime`: see its --realtime)."""
    port = port or free_port(host)
    args = [sys.executable, "-m", "conformance.bench.stubserver", "--host", host, "--port", str(port),
            "--latency", latency]
    if stamp:
        args.append("--stamp")
    if yield_per_token:
        args.append("--yield-per-token")
    if realtime:
        args.append("--realtime")
    with _process(args, host, port, "the stub server", on_start) as base_url:
        yield base_url
