"""What every endpoint of one running reference server shares."""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field

from conformance.server.billing import Ledger
from conformance.server.faults import Faults
from conformance.server.latency import LatencyModel
from conformance.suite.model import Contract

# Bump when the toy model's output for a given seed changes, so system_fingerprint changes too
# (the fingerprint tells clients when seeded outputs may legitimately differ).
GENERATOR_REVISION = "toy-2"


@dataclass(frozen=True)
class ServerState:
    contract: Contract
    faults: Faults
    ledger: Ledger
    api_key: str | None = None
    latency: LatencyModel = field(default_factory=LatencyModel)
    started: int = field(default_factory=lambda: int(time.time()))

    @property
    def system_fingerprint(self) -> str:
        digest = hashlib.blake2b(f"{self.contract.model}|{GENERATOR_REVISION}".encode(), digest_size=5)
        return "fp_" + digest.hexdigest()


def new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex
