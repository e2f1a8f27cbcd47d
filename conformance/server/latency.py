"""Simulated serving latency: a time to first token, a per-token pace, and jitter on both.

A real hosted model answers after a queueing/prefill delay and then streams at a roughly steady
pace. Timing checks (time to first byte, stream pacing, client timeouts) need a reference server
that can behave that way on demand, and that costs nothing when asked not to: the default
`LatencyModel()` never calls `asyncio.sleep` at all, so tests and ordinary runs stay as fast as
before.

Delays in milliseconds: ``ttft_ms`` before the first token, ``per_token_ms`` before each later
token. With ``jitter_ms`` > 0 each delay moves by a uniform draw in ``[-jitter_ms, +jitter_ms]``
(never below zero) from the `random.Random` the caller passes; with no jitter the rng is not
touched, so sharing one rng with generation cannot shift the generated text. A delay that
comes out as zero is skipped rather than slept. A non-stream answer arrives when the same
answer streamed would have ended (`answer_delay`).

`LatencyModel.parse` reads the command-line spelling ``"ttft=100,token=20,jitter=5"`` (any
subset of the three keys; an empty string is the zero model); ``str()`` writes it back.
"""
from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

__all__ = ["LatencyModel"]

_KEYS = {"ttft": "ttft_ms", "token": "per_token_ms", "jitter": "jitter_ms"}


@dataclass(frozen=True)
class LatencyModel:
    ttft_ms: float = 0
    per_token_ms: float = 0
    jitter_ms: float = 0

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "per_token_ms", "jitter_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def parse(cls, spec: str) -> LatencyModel:
        values: dict[str, float] = {}
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or key not in _KEYS:
                raise ValueError(f"latency: expected key=milliseconds with key one of {', '.join(_KEYS)}, "
                                 f"got {item!r}")
            if _KEYS[key] in values:
                raise ValueError(f"latency: {key} is given twice")
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"latency: {key}={text.strip()!r} is not a number of milliseconds") from None
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"latency: {key} must be a finite number >= 0, got {text.strip()!r}")
            values[_KEYS[key]] = number
        return cls(**values)

    def __str__(self) -> str:
        return ",".join(f"{key}={_number(getattr(self, field))}" for key, field in _KEYS.items())

    @property
    def is_zero(self) -> bool:
        return self.ttft_ms == 0 and self.per_token_ms == 0 and self.jitter_ms == 0

    def first_delay(self, rng: random.Random) -> float:
        """Seconds to wait before the first token."""
        return self._delay(self.ttft_ms, rng)

    def token_delay(self, rng: random.Random) -> float:
        """Seconds to wait before each token after the first."""
        return self._delay(self.per_token_ms, rng)

    def answer_delay(self, tokens: int, rng: random.Random) -> float:
        """Seconds a whole answer of `tokens` tokens takes: the first token, then the pace for the rest."""
        return self.first_delay(rng) + sum(self.token_delay(rng) for _ in range(tokens - 1))

    async def wait_first(self, rng: random.Random) -> None:
        await _sleep(self.first_delay(rng))

    async def wait_token(self, rng: random.Random) -> None:
        await _sleep(self.token_delay(rng))

    async def wait_answer(self, tokens: int, rng: random.Random) -> None:
        await _sleep(self.answer_delay(tokens, rng))

    def _delay(self, base_ms: float, rng: random.Random) -> float:
        if self.jitter_ms:
            base_ms += rng.uniform(-self.jitter_ms, self.jitter_ms)
        return max(0.0, base_ms) / 1000.0


async def _sleep(seconds: float) -> None:
    # Even asyncio.sleep(0) yields to the event loop; the zero model must not change scheduling.
    if seconds > 0:
        await asyncio.sleep(seconds)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
