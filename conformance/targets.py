"""Where a run sends its requests: the built-in reference server, the provider, or any URL."""
from __future__ import annotations

import secrets as _random
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from conformance import secrets
from conformance.errors import SetupError
from conformance.secrets import Secret
from conformance.suite.model import Contract, Target


@dataclass(frozen=True)
class Endpoint:
    """A reachable base URL, the key to present there, and the model id to ask for."""

    name: str
    base_url: str
    api_key: Secret | None
    model: str


@contextmanager
def open_target(target: Target, contract: Contract, *, base_url: str | None = None,
                api_key_env: str | None = None, model: str | None = None,
                faults: list[str] | None = None, api_key_file: Path | None = None) -> Iterator[Endpoint]:
    """Resolve a target to an `Endpoint`, starting (and finally stopping) the reference server.

    The key comes from `api_key_file` if given, else from the environment (never a flag's value).
    """
    requested_model = model
    model = model or target.model or contract.model
    if base_url:  # --base-url: any compatible server; keyless unless --api-key-env/-file names one
        key = secrets.resolve(env=api_key_env, file=api_key_file, required=bool(api_key_env))
        yield Endpoint("external", base_url, key, model)
        return
    if target.server == "provider":
        key_env = api_key_env or contract.provider.api_key_env
        yield Endpoint(target.name, contract.provider.base_url,
                       secrets.resolve(env=key_env, file=api_key_file, required=True), model)
        return
    if target.server == "external":
        if not target.base_url:
            raise SetupError(f"target {target.name} ({target.source}) has no base_url; pass --base-url")
        key_env = api_key_env or target.api_key_env
        key = secrets.resolve(env=key_env, file=api_key_file, required=bool(key_env))
        yield Endpoint(target.name, target.base_url, key, model)
        return
    if target.server == "llamacpp":
        from conformance import llamacpp

        settings = llamacpp.Settings.from_mapping(target.settings, f"{target.source}: settings")
        with llamacpp.running_server(settings, key_env=target.api_key_env) as (server, served_model):
            # llama.cpp answers to the name it serves under, not the contract's model id.
            yield Endpoint(target.name, server.base_url, server.key,
                           requested_model or target.model or served_model)
        return
    # The reference server: a key from the environment if set, else a throwaway one, so the
    # run still exercises authentication.
    from conformance.server.app import create_app
    from conformance.server.faults import Faults
    from conformance.server.running import start_server

    key = secrets.resolve(env=target.api_key_env, file=api_key_file, required=False)
    if key is None:
        key = Secret("ref-" + _random.token_hex(16), "generated for this run")
    try:
        fault_set = Faults.parse(faults or [])
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    app = create_app(contract, api_key=key.reveal(), faults=fault_set)
    server = start_server(app)
    try:
        yield Endpoint(target.name, server.base_url, key, model)
    finally:
        server.stop()
