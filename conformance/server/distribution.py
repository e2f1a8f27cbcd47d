"""The toy model's per-step sampling distribution, computed fast and reused where nothing changes it.

`conformance.server.generator` defines the model; this module is its arithmetic, written for
speed without changing a single result: every float comes from the same operations in the same
order as the plain definition (sums in index or rank order, the same divisions), so a seeded
request draws the same tokens with the same logprobs bit for bit
(tests/server/test_generator_golden.py holds outputs recorded before this module existed).

Where the time went, and what replaced it: the keyed-hash logits are decoded through a table
of all 65,536 16-bit values; softmax and scaling map C-level float methods over lists; ranks
come from a stable sort on the probability (descending, so ties keep index order, as the
plain ``(-p, index)`` key had it); the top-p cut is a bisection of the running shares; a draw is
a bisection of the running mass. And when no penalty can change a logit (presence and frequency
penalties 0, repetition penalty 1: the penalty arithmetic is then exactly the identity), a
step's distribution depends only on (domain, prompt, previous token, step, temperature, min_p,
top_p), so it is cached, compactly, in a bounded LRU: benchmarks send the same few prompts over
and over, and their steps then cost a dictionary look-up, one random draw and a bisection.
"""
from __future__ import annotations

import hashlib
import math
import struct
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Callable, Sequence

# A cached distribution takes about 1 KiB (three arrays of at most 62 entries and the key), so at
# most ~32 MiB per sequence kind. A benchmark cycling 64 prompts through 16-token answers reaches
# ~80 % hits (the key space is prompt × previous token × step).
_CACHE_ENTRIES = 32768
LOGIT_LIMIT = 1e9  # |logit| bound that keeps softmax free of inf/NaN
_TINY = 1e-9  # stands in for a repetition_penalty of 0


@dataclass(frozen=True)
class Vocabulary:
    """What the arithmetic needs to know about the vocabulary: words 0..period-1, '.', END."""

    period: int
    spread: float  # raw logits lie in [-spread, spread]

    @property
    def end(self) -> int:
        return self.period + 1


@dataclass(frozen=True)
class EndSchedule:
    """When end-of-sequence becomes likely: logit = base + ramp * step**2 (+ a bonus after '.')."""

    base: float
    ramp: float
    sentence_bonus: float
    min_steps: int
    max_steps: int | None


@dataclass(frozen=True)
class Settings:
    """The sampling settings a step's distribution depends on."""

    temperature: float
    min_p: float
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float

    @property
    def penalties_neutral(self) -> bool:
        # x - (0 + 0 * n) == x and x / 1 == x * 1 == x exactly, so these leave every logit alone.
        return self.presence_penalty == 0 and self.frequency_penalty == 0 and self.repetition_penalty == 1


def bounded(logit: float) -> float:
    """Out-of-range settings (served under the accept_out_of_range fault) must not yield inf/NaN."""
    if logit != logit:
        return 0.0
    return -LOGIT_LIMIT if logit < -LOGIT_LIMIT else LOGIT_LIMIT if logit > LOGIT_LIMIT else logit


class Distribution:
    """One step's final distribution: the tokens with any mass, most probable first."""

    __slots__ = ("admissible", "ranked", "probs", "cumulative", "greedy", "_tops")

    def __init__(self, admissible: tuple[int, ...], ranked: array, probs: array, greedy: bool):
        self.admissible = admissible  # every token that could be chosen this step, ascending
        self.ranked = ranked  # tokens with probability > 0, most probable first ('H' array)
        self.probs = probs  # their final probabilities ('d' array)
        self.cumulative = array("d", accumulate(probs))  # running mass, summed in rank order
        self.greedy = greedy  # temperature 0: always the first
        self._tops: dict[int, tuple[tuple[int, float], ...]] | None = None

    def choose(self, draw: Callable[[], float]) -> tuple[int, float]:
        """(token, its logprob): the argmax under greedy decoding, else one draw."""
        k = 0 if self.greedy else bisect_right(self.cumulative, draw())  # first mass past the draw
        if k >= len(self.ranked):
            k = len(self.ranked) - 1  # the draw landed in the rounding gap at the top end
        return self.ranked[k], min(0.0, math.log(self.probs[k]))

    def top(self, count: int, exclude: int, unlikely: float) -> tuple[tuple[int, float], ...]:
        """The `count` most probable admissible tokens but `exclude`, with their logprobs
        (`unlikely` for those without mass)."""
        if self._tops is None:
            self._tops = {}
        found = self._tops.get(count)
        if found is None:
            mass = dict(zip(self.ranked, self.probs))
            probs = [mass.get(t, 0.0) for t in self.admissible]
            order = [self.admissible[k] for k in _ranked(probs, range(len(probs)))]
            found = tuple((t, min(0.0, math.log(mass[t])) if t in mass else unlikely)
                          for t in order if t != exclude)[:count]
            self._tops[count] = found
        return found


def _softmax(values: list[float]) -> list[float]:
    top = max(values)
    # float methods mapped over the list: the same `v - top` and `e / total`, without bytecode
    exps = list(map(math.exp, map(top.__rsub__, values)))
    total = sum(exps)
    return list(map(total.__rtruediv__, exps))


def _ranked(probs: Sequence[float], positions: Sequence[int]) -> list[int]:
    """`positions` (ascending) by probability, descending; a tie keeps position order."""
    return sorted(positions, key=probs.__getitem__, reverse=True)


def _nucleus(probs: list[float], min_p: float, top_p: float) -> tuple[list[int], list[float]]:
    """min_p then top_p, renormalised: the surviving positions, most probable first, and their
    probabilities. The most probable token always survives."""
    at = probs.__getitem__
    ordered = _ranked(probs, range(len(probs)))
    floor = min_p * probs[ordered[0]]
    if floor <= 0:  # no probability is below it
        kept = ordered
    else:
        kept = [k for k in ordered if probs[k] >= floor] or ordered[:1]  # min_p > 1 keeps the top token
    mass = sum(map(at, kept))
    shares = list(accumulate(map(mass.__rtruediv__, map(at, kept))))  # running sum of p / mass
    # The nucleus ends at the first running share >= top_p (all kept if none is, or top_p is NaN).
    size = len(kept) if top_p != top_p else min(len(kept), bisect_left(shares, top_p) + 1)
    nucleus = kept[:size]
    total = sum(map(at, nucleus))
    final = list(map(total.__rtruediv__, map(at, nucleus)))  # p / total
    if any(map(float.__eq__, final, final[1:])):
        # Renormalising can make unequal probabilities equal; then the lower index ranks first.
        renormalised = dict(zip(nucleus, final))
        nucleus = sorted(sorted(nucleus), key=renormalised.__getitem__, reverse=True)
        final = [renormalised[k] for k in nucleus]
    return nucleus, final


def distribution(admissible: tuple[int, ...], logits: list[float], temperature: float, min_p: float,
                 top_p: float) -> Distribution:
    """The final distribution over the `admissible` tokens (ascending) given their penalised logits."""
    if temperature == 0:
        softmax = _softmax(logits)
        order = _ranked(softmax, range(len(softmax)))  # its head is the argmax, the lowest index on a tie
        probs = array("d", map(softmax.__getitem__, order))
    else:
        scaled = list(map(float(temperature).__rtruediv__, logits))  # v / temperature
        if not (-LOGIT_LIMIT <= min(scaled) and max(scaled) <= LOGIT_LIMIT):  # also catches NaN
            scaled = [bounded(v) for v in scaled]
        order, final = _nucleus(_softmax(scaled), min_p, top_p)
        probs = array("d", final)
    # Ranked by probability, so any that underflowed to 0 (not drawable) are at the end.
    while probs[-1] <= 0:
        probs.pop()
    return Distribution(admissible, array("H", map(admissible.__getitem__, order[:len(probs)])), probs,
                        temperature == 0)


class Logits:
    """Raw logits from a keyed hash: 16 bits per word and '.', then two bytes of END noise."""

    def __init__(self, vocabulary: Vocabulary):
        count = vocabulary.period + 2
        self.blocks = -(-2 * count // 64)  # 64-byte BLAKE2b digests needed
        self.unpack = struct.Struct(f">{count}H").unpack_from
        spread = vocabulary.spread
        # v / 65535.0 then (2v - 1) * spread, as the plain definition computes it, for every v.
        self.table = tuple((2 * (n / 65535.0) - 1) * spread for n in range(65536))

    def raw(self, domain: bytes, prompt_digest: bytes, previous: int | None, step: int) -> list[float]:
        key = b"|".join((domain, prompt_digest, str(previous).encode(), str(step).encode())) + b"|"
        stream = b"".join(hashlib.blake2b(key + str(block).encode(), digest_size=64, person=b"conf-logit").digest()
                          for block in range(self.blocks))
        return list(map(self.table.__getitem__, self.unpack(stream)))


class StepModel:
    """The distribution of each step of one kind of sequence (answer or reasoning)."""

    def __init__(self, vocabulary: Vocabulary, schedule: EndSchedule):
        self.vocabulary = vocabulary
        self.schedule = schedule
        self.logits = Logits(vocabulary)
        period = vocabulary.period
        # Admissible tokens: '.' is masked first and after '.', END until the schedule allows it.
        self.admissible = {(period_ok, end_ok): tuple(range(period)) + ((period,) if period_ok else ())
                           + ((vocabulary.end,) if end_ok else ()) for period_ok in (False, True)
                           for end_ok in (False, True)}
        self.unpenalised = lru_cache(maxsize=_CACHE_ENTRIES)(self._unpenalised)

    def step(self, domain: bytes, prompt_digest: bytes, previous: int | None, step: int, settings: Settings,
             counts: dict[int, int]) -> Distribution:
        if not counts or settings.penalties_neutral:
            return self.unpenalised(domain, prompt_digest, previous, step,
                                    settings.temperature, settings.min_p, settings.top_p)
        admissible, logits = self._logits(domain, prompt_digest, previous, step)
        s = settings
        # A zero penalty only arrives past a disabled range check (fault); keep it finite.
        penalty = s.repetition_penalty or _TINY
        period = self.vocabulary.period
        for token, count in counts.items():
            if token == period and period not in admissible:
                continue
            value = logits[token]  # words then '.', so a token's position is its index
            value -= s.presence_penalty + s.frequency_penalty * count
            value = value / penalty if value > 0 else value * penalty
            logits[token] = bounded(value)
        return distribution(admissible, logits, s.temperature, s.min_p, s.top_p)

    def _unpenalised(self, domain: bytes, prompt_digest: bytes, previous: int | None, step: int,
                     temperature: float, min_p: float, top_p: float) -> Distribution:
        return distribution(*self._logits(domain, prompt_digest, previous, step), temperature, min_p, top_p)

    def _logits(self, domain: bytes, prompt_digest: bytes, previous: int | None,
                step: int) -> tuple[tuple[int, ...], list[float]]:
        """The admissible tokens and their logits before penalties."""
        period, sched = self.vocabulary.period, self.schedule
        logits = self.logits.raw(domain, prompt_digest, previous, step)
        end_noise = logits.pop()
        end_ok = step >= sched.min_steps
        if end_ok:
            end_logit = sched.base + sched.ramp * step * step + end_noise / self.vocabulary.spread
            if previous == period:
                end_logit += sched.sentence_bonus
            logits.append(end_logit)
        period_ok = previous is not None and previous != period  # no text starts with '.', no '..'
        if not period_ok:
            del logits[period]
        return self.admissible[period_ok, end_ok], logits


__all__ = ["Distribution", "EndSchedule", "Settings", "StepModel", "Vocabulary", "bounded", "distribution"]
