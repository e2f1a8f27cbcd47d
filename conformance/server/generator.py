"""A deterministic toy language model, so every sampling parameter has an observable effect.

The "model" has a vocabulary of plain English words, a full stop and an end-of-sequence
marker. At each step its logits are a pure function of (prompt digest, previous token,
step), derived from BLAKE2b, so they are identical across processes and Python versions
(unlike `hash()`, which is salted per process). The sampler then applies, in this order:

1. presence and frequency penalties (OpenAI semantics: subtract ``presence_penalty`` once
   and ``frequency_penalty`` per occurrence from the logit of every token already generated),
2. ``repetition_penalty`` (vLLM/HF semantics: for tokens already generated, divide a
   positive logit by the penalty, multiply a negative one by it),
3. ``temperature`` (0 means greedy argmax; otherwise logits are divided by it), softmax,
4. ``min_p`` (drop tokens whose probability is below ``min_p`` times the top probability),
5. ``top_p`` (keep the smallest most-probable set whose mass reaches ``top_p``),
6. one draw from `random.Random` seeded from the request seed and the prompt digest, or
   from the operating system's entropy when the request has no seed.

The end-of-sequence logit grows with the square of the step, so natural answers are
roughly 15-40 tokens and even the most adversarial in-range penalties end a generation
within a few thousand tokens; settings outside the ranges (served only under the
``accept_out_of_range`` fault) are kept finite and capped at 8192 tokens.
With thinking on, a separate, differently seeded 10-25 token reasoning text is generated
before the answer. ``max_tokens`` and ``stop`` apply to the answer only.

Reported logprobs are the log of the chosen token's probability in the final sampling
distribution (after every filter, renormalised); under greedy decoding, where that
distribution would be a point mass, they come from the softmax of the penalised logits.
Filtered-out alternatives are reported as -9999.0, OpenAI's marker for "very unlikely".

The arithmetic of a step lives in `conformance.server.distribution`, which computes exactly
these values but caches what repeats (see there).
"""
from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from conformance.server.distribution import EndSchedule, Settings, StepModel, Vocabulary
from conformance.server.tokens import split_pieces
from conformance.suite.model import Contract

# "tool_calls" never comes from `generate`: the endpoint sets it when the answer is a tool call.
FinishReason = Literal["stop", "length", "stop_sequence", "tool_calls"]

WORDS: tuple[str, ...] = (
    "the", "a", "sea", "wave", "light", "quiet", "morning", "river", "stone", "wind",
    "blue", "deep", "slow", "bright", "cloud", "shore", "tide", "salt", "moon", "sun",
    "rain", "leaf", "green", "old", "new", "path", "hill", "song", "voice", "time",
    "dream", "night", "day", "star", "fire", "water", "sky", "field", "bird", "tree",
    "small", "soft", "cold", "warm", "far", "near", "home", "road", "and", "of",
    "in", "under", "over", "with", "is", "was", "we", "they", "still", "again",
)
PERIOD = len(WORDS)
END = PERIOD + 1  # end of sequence: chosen like any token, never rendered
VOCABULARY_SIZE = END + 1

UNLIKELY_LOGPROB = -9999.0  # OpenAI's stand-in for log(0), which JSON cannot carry
_HARD_CAP = 8192  # tokens: no generation is longer, whatever max_tokens says
_LOGIT_SPREAD = 3.0  # token logits lie in [-3, 3]: both signs, so repetition_penalty bites both ways

# Which thinking state each reasoning_effort value selects comes from the contract; these are
# only the neutral values of each operation, used when a contract gives a parameter no default.
_NEUTRAL: dict[str, Any] = {
    "temperature": 1.0, "top_p": 1.0, "min_p": 0.0,
    "presence_penalty": 0.0, "frequency_penalty": 0.0, "repetition_penalty": 1.0,
}

_ANSWER_END = EndSchedule(base=-7.0, ramp=0.011, sentence_bonus=2.0, min_steps=1, max_steps=None)
_REASONING_END = EndSchedule(base=-4.0, ramp=0.03, sentence_bonus=1.5, min_steps=10, max_steps=25)
_VOCABULARY = Vocabulary(period=PERIOD, spread=_LOGIT_SPREAD)
_MODELS = {schedule: StepModel(_VOCABULARY, schedule) for schedule in (_ANSWER_END, _REASONING_END)}


@dataclass(frozen=True)
class Sampling:
    """Canonical sampling settings of one request, every default already applied."""

    temperature: float
    top_p: float
    min_p: float
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float
    max_tokens: int
    stop: tuple[str, ...] = ()
    seed: int | None = None
    thinking: bool = True
    top_logprobs: int = 0

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any], contract: Contract) -> Sampling:
        """Build from canonical parameter values a client sent (omitted ones absent or None).

        Omitted parameters take the contract's default, so omitting one and sending its
        default give the same `Sampling`, hence the same generation.
        """

        def value(name: str, fallback: Any = None) -> Any:
            given = values.get(name)
            if given is not None:
                return given
            param = contract.parameters.get(name)
            if param is not None and param.has_default:
                return param.default
            return _NEUTRAL.get(name, fallback)

        stop = value("stop")
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        effort = value("reasoning_effort")
        thinking_feature = contract.features.get("thinking", {})
        if effort is not None:
            # An explicit effort decides; enable_thinking's default must not outvote it.
            thinking = effort in thinking_feature.get("enabled_by_reasoning_effort", ())
        else:
            thinking = bool(value("enable_thinking", thinking_feature.get("default", False)))
        top_logprobs = value("top_logprobs") if value("logprobs", False) else None
        seed = value("seed")
        return cls(
            temperature=_as_float(value("temperature")),
            top_p=_as_float(value("top_p")),
            min_p=_as_float(value("min_p")),
            presence_penalty=_as_float(value("presence_penalty")),
            frequency_penalty=_as_float(value("frequency_penalty")),
            repetition_penalty=_as_float(value("repetition_penalty")),
            max_tokens=int(value("max_tokens", contract.limits.max_output_tokens)),
            # Empty stop strings would end every answer before it starts; they are ignored.
            stop=tuple(s for s in stops if s),
            seed=None if seed is None else int(seed),
            thinking=thinking,
            top_logprobs=int(top_logprobs or 0),
        )


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float


@dataclass(frozen=True)
class Token:
    """One generated token as it appears in the text, with its log probability."""

    text: str
    logprob: float
    top_logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Generation:
    answer: tuple[Token, ...]
    reasoning: tuple[Token, ...]
    finish_reason: FinishReason
    stop_sequence: str | None = None  # the stop string that ended the answer, if any

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.answer)

    @property
    def reasoning_text(self) -> str:
        return "".join(t.text for t in self.reasoning)

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning)

    @property
    def completion_tokens(self) -> int:
        return len(self.answer) + len(self.reasoning)


def digest_prompt(messages: Iterable[tuple[str, str]]) -> bytes:
    """A stable digest of (role, text) pairs: the only thing about the prompt the model sees."""
    h = hashlib.blake2b(digest_size=32, person=b"conf-prompt")
    for role, text in messages:
        for part in (role, text):
            data = part.encode("utf-8")
            # Length-prefixed so ("ab", "c") and ("a", "bc") differ.
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
    return h.digest()


def generate(prompt_digest: bytes, sampling: Sampling) -> Generation:
    reasoning: tuple[Token, ...] = ()
    if sampling.thinking:
        reasoning, _, _ = _Run(b"reasoning", prompt_digest, sampling, _REASONING_END,
                               limit=None, stops=(), alternatives=0).run()
    answer, finish, stop = _Run(b"answer", prompt_digest, sampling, _ANSWER_END,
                                limit=sampling.max_tokens, stops=sampling.stop,
                                alternatives=sampling.top_logprobs).run()
    return Generation(answer=answer, reasoning=reasoning, finish_reason=finish, stop_sequence=stop)


def forced_tokens(text: str, alternatives: int = 0) -> tuple[Token, ...]:
    """`text` as tokens the decoder was constrained to emit (structured output).

    Under constrained decoding every step has exactly one admissible token: its logprob is 0
    and each of the `alternatives` reported beside it (always led by the chosen token itself)
    is impossible, hence `UNLIKELY_LOGPROB`.
    """
    out: list[Token] = []
    for piece in split_pieces(text):
        others = [w for w in WORDS if w != piece.strip()][: max(0, alternatives - 1)]
        top = (TokenLogprob(piece, 0.0),) + tuple(TokenLogprob(" " + w, UNLIKELY_LOGPROB) for w in others)
        out.append(Token(piece, 0.0, top[:alternatives]))
    return tuple(out)


def _render(index: int, previous: int | None) -> str:
    if index == PERIOD:
        return "."
    word = WORDS[index]
    if previous is None:
        return word.capitalize()
    return " " + (word.capitalize() if previous == PERIOD else word)


# How each token reads after each previous token (None: the first), rendered once.
_RENDERED: dict[int | None, tuple[str, ...]] = {
    previous: tuple(_render(i, previous) for i in range(PERIOD + 1)) for previous in (None, *range(PERIOD + 1))}


def request_rng(seed: int | None, domain: bytes, prompt_digest: bytes) -> random.Random:
    """The random source of one request's `domain` (answer, reasoning, tool call...): seeded from the
    request seed and the prompt digest, so a seeded request repeats itself; unseeded, truly random."""
    if seed is None:
        # No seed: every request must be free to differ, as on a real service.
        return random.Random(int.from_bytes(os.urandom(16), "big"))
    material = hashlib.blake2b(str(seed).encode() + b"|" + domain + b"|" + prompt_digest,
                               digest_size=32, person=b"conf-seed").digest()
    return random.Random(int.from_bytes(material, "big"))


class _Run:
    """One sequence (reasoning or answer) generated token by token."""

    def __init__(self, domain: bytes, prompt_digest: bytes, sampling: Sampling, schedule: EndSchedule,
                 *, limit: int | None, stops: tuple[str, ...], alternatives: int):
        self.domain = domain
        self.prompt_digest = prompt_digest
        self.sampling = sampling
        self.schedule = schedule
        self.limit = limit
        self.stops = stops
        self.alternatives = alternatives
        self.rng = request_rng(sampling.seed, domain, prompt_digest)
        self.settings = Settings(sampling.temperature, sampling.min_p, sampling.top_p, sampling.presence_penalty,
                                 sampling.frequency_penalty, sampling.repetition_penalty)

    def run(self) -> tuple[tuple[Token, ...], FinishReason, str | None]:
        tokens: list[Token] = []
        starts: list[int] = []  # offset of each token in `text`
        counts: dict[int, int] = {}
        text = ""
        previous: int | None = None
        step = 0
        # The hard cap only matters when range checks are off (faults) and penalties win over END.
        cap = min(self.limit if self.limit is not None else _HARD_CAP, _HARD_CAP)
        max_steps = self.schedule.max_steps
        model = _MODELS[self.schedule]
        while True:
            if len(tokens) >= cap:
                return tuple(tokens), "length", None
            if max_steps is not None and step >= max_steps:
                return tuple(tokens), "stop", None
            dist = model.step(self.domain, self.prompt_digest, previous, step, self.settings, counts)
            index, logprob = dist.choose(self.rng.random)
            if index == END:
                return tuple(tokens), "stop", None
            rendered = _RENDERED[previous]
            piece = rendered[index]
            top = ()
            if self.alternatives > 0:
                top = tuple(TokenLogprob(rendered[i], lp) for i, lp in dist.top(self.alternatives, END, UNLIKELY_LOGPROB))
            starts.append(len(text))
            tokens.append(Token(piece, logprob, top))
            text += piece
            if self.stops:
                hit = self._find_stop(text, len(text) - len(piece))
                if hit is not None:
                    cut, stop = hit
                    return _cut(tokens, starts, cut), "stop_sequence", stop
            counts[index] = counts.get(index, 0) + 1
            previous = index
            step += 1

    def _find_stop(self, text: str, new_from: int) -> tuple[int, str] | None:
        """The earliest stop string completed by the newest token, as (offset, string)."""
        best: tuple[int, str] | None = None
        for stop in self.stops:
            # Only occurrences ending inside the newest piece are new; older ones were checked.
            at = text.find(stop, max(0, new_from - len(stop) + 1))
            if at >= 0 and (best is None or at < best[0]):
                best = (at, stop)
        return best


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:  # a huge integer, only possible with a range check switched off
        return math.inf if value > 0 else -math.inf


def _cut(tokens: list[Token], starts: list[int], cut: int) -> tuple[Token, ...]:
    """Tokens of the text before offset `cut`; a token straddling it keeps only its head."""
    kept: list[Token] = []
    for token, start in zip(tokens, starts):
        if start >= cut:
            break
        if start + len(token.text) > cut:
            token = Token(token.text[: cut - start], token.logprob, token.top_logprobs)
        kept.append(token)
    return tuple(kept)
