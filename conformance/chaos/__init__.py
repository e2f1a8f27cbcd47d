"""A fault-injecting loopback server, to prove the harness survives the worst servers.

`ChaosServer` answers the three chat endpoints as plausibly as the reference server does (it
asks an in-process reference app for each answer), then breaks exactly one thing on the way
out: a reset, a cut stream, a bad byte, a silence, a huge body, a 429, a redirect...
`closed_port_url`, `UNRESOLVABLE_URL` and `ChaosServer(tls=True)` cover the failures that
happen before any HTTP: a refused connection, an unknown host, a certificate nobody trusts.
"""
from conformance.chaos.faults import MODES, Fault
from conformance.chaos.server import UNRESOLVABLE_URL, ChaosServer, Seen, closed_port_url

__all__ = ["MODES", "UNRESOLVABLE_URL", "ChaosServer", "Fault", "Seen", "closed_port_url"]
