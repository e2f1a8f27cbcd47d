"""Named faults: deliberate, single-rule breakages of the reference server.

Each fault breaks exactly one rule of the contract or the wire protocol, so a checker run
against a faulty server must report that rule and nothing else. Faults are chosen when the
server starts (`create_app(..., faults=...)`) and, as a reference-server-only extension,
per request with the header ``x-conformance-faults: name,name:arg`` (added to the start-up
set). A fault that needs an argument takes it after a colon: ``accept_out_of_range:temperature``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

FAULTS_HEADER = "x-conformance-faults"

CATALOGUE: dict[str, str] = {
    "accept_out_of_range": "no range check for the parameter given as argument (canonical or wire name)",
    "error_without_param": "parameter errors carry param null and a message that does not name the parameter",
    "invalid_param_status_422": "parameter errors are answered with 422 instead of 400",
    "wrong_object": "non-stream chat completion has object 'chat.completions'",
    "missing_finish_reason": "non-stream choice has finish_reason null",
    "bad_usage_total": "usage.total_tokens is not prompt_tokens + completion_tokens",
    "stream_wrong_content_type": "stream is served as application/json (the bytes are still SSE)",
    "stream_no_role": "the first stream delta has no role",
    "stream_finish_every_chunk": "finish_reason is non-null on every stream chunk",
    "stream_no_done": "the stream does not end with data: [DONE]",
    "stream_ignore_include_usage": "no usage chunk even when stream_options.include_usage is true",
    "stream_usage_with_choices": "the usage chunk carries the last choice instead of choices: []",
    "stream_unstable_id": "every stream chunk has a different id",
    "stream_bad_json": "one stream frame carries invalid JSON",
    # Behaviour: the request is accepted, and then not honoured.
    "ignore_parameter": "the parameter given as argument is validated, then dropped (its default is used)",
    "wrong_default": "the parameter given as argument defaults to another value than the contract's",
    "context_unenforced": "prompts longer than the context window are answered",
    "unknown_model_accepted": "any model id is answered as if it were the contract's",
    "thinking_off_by_default": "without a thinking parameter, thinking is off",
    "auth_disabled": "requests without a key or with a wrong key are answered",
    "malformed_json_500": "a body that is not JSON gets a 500",
    # Generation, the same on every endpoint (server/distortions.py).
    "length_as_stop": "an answer cut by max_tokens reports a natural stop",
    "stop_included": "the stop string is left at the end of the answer",
    "leak_channel_markers": "Gemma's <|channel> thought markers leak into the answer text",
    "logprobs_positive": "token logprobs are positive",
    "top_logprobs_unsorted": "top_logprobs alternatives come in ascending order",
    "top_logprobs_extra": "one more alternative than top_logprobs asked for",
    # Chat-completions accounting.
    "logprobs_unasked": "chat answers carry logprobs even when logprobs is false",
    "reasoning_tokens_uncounted": "usage reports 0 reasoning tokens although the answer has reasoning",
    "stream_usage_mismatch": "the stream's usage counts one output token more than the non-stream answer",
    "stream_drops_last_token": "the stream leaves out the answer's last token",
    "slow_first_token": "the answer starts only after the argument's milliseconds (a latency SLO breach)",
    # Responses (server/responses.py).
    "responses_bad_sequence": "one sequence_number is skipped in a Responses stream",
    "responses_no_terminal": "a Responses stream ends without response.completed",
    "responses_delta_before_added": "the first response.output_text.delta comes before its content_part.added",
    "responses_usage_total": "Responses usage.total_tokens is not input_tokens + output_tokens",
    # Messages (server/messages.py).
    "messages_no_event_lines": "Messages stream frames have no event: line",
    "messages_no_message_stop": "a Messages stream ends without message_stop",
    "messages_delta_unstarted_block": "the text block's deltas and stop come without its content_block_start",
    "messages_null_stop_reason": "Messages stop_reason is null (message_delta and non-stream body)",
    "messages_done_sentinel": "a data: [DONE] frame follows message_stop",
    "messages_openai_errors": "errors on /v1/messages come in the OpenAI shape",
    # Function tools, every endpoint (server/distortions.py, server/completion.py).
    "tool_args_invalid": "tool call arguments are JSON that does not validate against the tool's schema",
    "tool_args_not_json": "tool call arguments are not JSON (Messages: the input is a string, not an object)",
    "tool_unknown_name": "the tool call names a tool that is not among those defined",
    "tool_call_id_prefix": "tool call ids lack the protocol's prefix (call_, fc_, toolu_)",
    "tool_stream_repeat_id": "a Chat stream repeats the tool call's id and name on every fragment",
    "tool_choice_ignored": "a required or named tool_choice is not honoured: the answer is text",
    "tool_finish_reason": "a tool call ends with finish_reason stop / stop_reason end_turn",
    # Structured output and images, every endpoint.
    "structured_invalid": "the structured answer is JSON that violates the requested schema",
    "structured_not_json": "the answer is plain text although a JSON format was requested",
    "image_unchecked": "malformed images are accepted",
    "image_ignored": "images do not influence the answer (the prompt digest leaves them out)",
    "image_tokens_uncounted": "images add no prompt tokens to usage",
    "responses_sdk_usage": "responses usage lacks input_tokens_details.cache_write_tokens (the JSON Schema allows it, the SDK refuses)",
    "endpoint_drift": "the endpoint given as argument answers the same request differently from the others",
    "crash_on_combination": "a valid request giving both parameters A+B (the argument) gets a 500",
}

# Faults that are meaningless without an argument, and only those, take one.
TAKES_ARGUMENT: frozenset[str] = frozenset({"accept_out_of_range", "ignore_parameter", "wrong_default",
                                                "slow_first_token", "crash_on_combination",
                                                "endpoint_drift"})


@dataclass(frozen=True)
class Faults:
    """A set of active faults; `arguments[name]` holds the arguments given to `name`."""

    names: frozenset[str] = frozenset()
    arguments: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Faults:
        """Parse ``name`` / ``name:arg`` strings; ValueError names the bad one and the known ones."""
        names: set[str] = set()
        arguments: dict[str, set[str]] = {}
        for raw in specs:
            spec = raw.strip()
            if not spec:
                continue
            name, colon, arg = spec.partition(":")
            name, arg = name.strip(), arg.strip()
            if name not in CATALOGUE:
                raise ValueError(f"unknown fault {name!r}; known faults: {', '.join(sorted(CATALOGUE))}")
            if name in TAKES_ARGUMENT and not arg:
                raise ValueError(f"fault {name!r} needs an argument: {name}:ARG")
            if name not in TAKES_ARGUMENT and colon:
                raise ValueError(f"fault {name!r} takes no argument, found {spec!r}")
            names.add(name)
            if arg:
                arguments.setdefault(name, set()).add(arg)
        return cls(frozenset(names), {k: frozenset(v) for k, v in arguments.items()})

    @classmethod
    def from_header(cls, value: str | None) -> Faults:
        return cls.parse(value.split(",")) if value else cls()

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def args(self, name: str) -> frozenset[str]:
        return self.arguments.get(name, frozenset())

    def __or__(self, other: Faults) -> Faults:
        merged = {name: self.args(name) | other.args(name) for name in set(self.arguments) | set(other.arguments)}
        return Faults(self.names | other.names, merged)

    def __bool__(self) -> bool:
        return bool(self.names)

    def specs(self) -> list[str]:
        """Back to ``name`` / ``name:arg`` strings (sorted), e.g. for a header."""
        out: list[str] = []
        for name in sorted(self.names):
            args = sorted(self.args(name))
            out.extend(f"{name}:{a}" for a in args) if args else out.append(name)
        return out
