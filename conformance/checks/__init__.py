"""The check catalogue. Importing this package registers every check in `REGISTRY`."""
# Registration order is report order: shape and streams, then parameters, then behaviour.
from conformance.checks import shape  # noqa: F401,I001
from conformance.checks import streaming  # noqa: F401
from conformance.checks import ranges  # noqa: F401
from conformance.checks import defaults  # noqa: F401
from conformance.checks import effects  # noqa: F401
from conformance.checks import seed  # noqa: F401
from conformance.checks import equivalence  # noqa: F401
from conformance.checks import limits  # noqa: F401
from conformance.checks import thinking  # noqa: F401
from conformance.checks import logprobs  # noqa: F401
from conformance.checks import usage  # noqa: F401
from conformance.checks import tools  # noqa: F401
from conformance.checks import structured  # noqa: F401
from conformance.checks import images  # noqa: F401
from conformance.checks import errors  # noqa: F401
from conformance.checks import properties  # noqa: F401
from conformance.checks import latency  # noqa: F401  (last: it reads the whole run's samples)
from conformance.checks.failures import CheckFailed, CheckSkipped
from conformance.checks.registry import REGISTRY, Case, CheckSpec, check

__all__ = ["REGISTRY", "Case", "CheckFailed", "CheckSkipped", "CheckSpec", "check"]
