"""The reference server: the contract served by a deterministic toy model, with switchable faults.

`create_app(contract, api_key=..., faults=...)` builds the Starlette app;
`start_server(app)` serves it over HTTP on a free loopback port.
"""
from conformance.server.app import create_app
from conformance.server.faults import CATALOGUE, Faults
from conformance.server.running import RunningServer, start_server

__all__ = ["CATALOGUE", "Faults", "RunningServer", "create_app", "start_server"]
