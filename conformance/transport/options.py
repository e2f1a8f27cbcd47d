"""The request options every command that talks to a server shares: timeouts, retries, TLS, key file.

Precedence, for each value: the command line, then the target profile's `timeouts:`, then
the defaults of `Timeouts`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Mapping

from conformance.transport.client import ClientSettings, Timeouts
from conformance.transport.retry import RetryPolicy

MAX_RETRIES = 10


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, a number > 0; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds, a number > 0; got {text!r}")
    return value


def _retries(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number 0..{MAX_RETRIES}; got {text!r}") from None
    if not 0 <= value <= MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"expected a whole number 0..{MAX_RETRIES}; got {text!r}")
    return value


def add_request_options(parser: argparse.ArgumentParser, *, key_file: bool = True) -> None:
    group = parser.add_argument_group("requests (each overrides the target profile's `timeouts:`)")
    group.add_argument("--connect-timeout", type=_positive, metavar="S", help="seconds to open a connection")
    group.add_argument("--first-byte-timeout", type=_positive, metavar="S",
                       help="seconds from sending to the response's first byte")
    group.add_argument("--idle-timeout", type=_positive, metavar="S",
                       help="longest silence in the middle of an answer (between two stream events)")
    group.add_argument("--total-timeout", type=_positive, metavar="S",
                       help="hard deadline for a whole answer, however it trickles")
    group.add_argument("--retries", type=_retries, default=0, metavar="N",
                       help="send a request again up to N times after a 429, 502-504 or refused connection, "
                            "waiting as Retry-After says (capped) or backing off; each retry is reported "
                            "(default: 0, never)")
    group.add_argument("--insecure", action="store_true",
                       help="do not verify the server's TLS certificate (off by default; reported when on)")
    if key_file:
        group.add_argument("--api-key-file", type=Path, metavar="PATH",
                           help="read the API key from this file (first line); never pass a key as a flag")


def timeouts_from(args: argparse.Namespace, profile: Mapping[str, float] | None = None,
                  base: Timeouts = Timeouts()) -> Timeouts:
    """CLI beats profile beats default."""
    return base.replace(**dict(profile or {})).replace(
        connect=getattr(args, "connect_timeout", None), first_byte=getattr(args, "first_byte_timeout", None),
        idle=getattr(args, "idle_timeout", None), total=getattr(args, "total_timeout", None))


def settings_from(args: argparse.Namespace, profile: Mapping[str, float] | None = None) -> ClientSettings:
    return ClientSettings(timeouts=timeouts_from(args, profile),
                          retry=RetryPolicy(retries=getattr(args, "retries", 0) or 0),
                          verify_tls=not getattr(args, "insecure", False))
