"""The check catalogue. Importing this package registers every check in `REGISTRY`."""
# Registration order is report order: shape first, then streams, then parameters.
from conformance.checks import shape  # noqa: F401,I001
from conformance.checks import streaming  # noqa: F401
from conformance.checks import ranges  # noqa: F401
from conformance.checks.registry import REGISTRY, Case, CheckFailed, CheckSkipped, CheckSpec, check

__all__ = ["REGISTRY", "Case", "CheckFailed", "CheckSkipped", "CheckSpec", "check"]
