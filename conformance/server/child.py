"""The reference server in its own process (`conformance serve`), for long runs that measure it.

In its own process the server's memory is its own: the long fuzz and soak runs read its peak
resident set (``VmHWM``) from ``/proc`` while the client load lives elsewhere. Its stderr goes
to a file, so a traceback logged by the server is evidence a run can count.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "spawn_server"]

_READY_TIMEOUT_S = 30.0


def _free_port() -> int:
    # The port may be taken between here and the server's bind; the readiness wait then fails loudly.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _proc_status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    origin: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def rss_bytes(self) -> int | None:
        kib = _proc_status_kib(self.process.pid, "VmRSS")
        return None if kib is None else kib * 1024

    def peak_rss_bytes(self) -> int | None:
        """The high-water mark of the server's resident memory since it started (Linux only)."""
        kib = _proc_status_kib(self.process.pid, "VmHWM")
        return None if kib is None else kib * 1024

    def alive(self) -> bool:
        return self.process.poll() is None

    def tracebacks(self) -> int:
        return self.log.read_text(errors="replace").count("Traceback (most recent call last)")

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def spawn_server(log: Path, *args: str) -> ServerProcess:
    """`conformance serve` on a free loopback port with `args`; returns once it answers."""
    port = _free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "conformance", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline and server.alive():
        try:
            if httpx.get(f"{server.origin}/v1/models", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"`conformance serve` did not come up on port {port}: see {log}")
