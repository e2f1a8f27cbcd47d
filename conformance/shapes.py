"""Response *shapes*: what a provider's answers look like with every varying value taken out.

A shape keeps what a client program depends on — which keys exist, what type each value
has, the enum values that steer control flow (``object``, ``type``, ``role``,
``finish_reason``, ``status``, ``stop_reason``, event names), the order of stream events —
and drops what changes on every call: text, numbers, ids, timestamps, list lengths. Two
answers to the same request therefore have the same shape, and a shape snapshot that
changes means the provider changed its wire format.

- `shape_of(obj)`: a decoded JSON value → its shape.
- `stream_shape(exchange, protocol_name)`: a streamed answer → its event sequence (repeats
  collapsed to ``name*``) and the distinct shapes of the events of each kind.
- `exchange_shape(exchange)`: either of the above for one `Exchange`, with its status.
- `ShapeSnapshotExtension`: a syrupy extension that stores shapes as JSON, one file per
  snapshot: ``assert exchange == snapshot(extension_class=ShapeSnapshotExtension)``.
"""
from __future__ import annotations

import json
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension
from syrupy.types import (
    PropertyFilter,
    PropertyMatcher,
    SerializableData,
    SerializedData,
)

from conformance.transport.client import Exchange

# Keys whose string value is an identifier: unique per call, so only its presence is kept.
ID_KEYS = frozenset({"id", "call_id", "system_fingerprint"})
TIMESTAMP_KEYS = frozenset({"created", "created_at"})
# Keys whose value is one of a few documented constants a client branches on: a change of
# value is a change of contract, so the value is the shape.
ENUM_KEYS = frozenset({"object", "type", "role", "finish_reason", "status", "stop_reason", "event"})

STR, INT, FLOAT, BOOL = "<str>", "<int>", "<float>", "<bool>"
ID, TIMESTAMP, NOT_JSON = "<id>", "<timestamp>", "<not json>"
# Strings that already are shapes, so that shaping a shape changes nothing.
PLACEHOLDERS = frozenset({STR, INT, FLOAT, BOOL, ID, TIMESTAMP, NOT_JSON})

DONE = "[DONE]"
# Protocols whose stream is unnamed `data:` chunks, told apart by what their deltas carry.
CHUNK_PROTOCOLS = frozenset({"chat_completions"})


class Shaped(dict):  # type: ignore[type-arg]
    """A mapping that already is a shape: `shape_of` and the snapshot extension keep it as is."""


def _is_id_key(key: str | None) -> bool:
    return key is not None and (key in ID_KEYS or key.endswith("_id"))


def shape_of(obj: Any, key: str | None = None) -> Any:
    """The shape of a decoded JSON value; `key` is the name it was found under, if any.

    Scalars become their type (``"<str>"``, ``"<int>"``, ``"<float>"``, ``"<bool>"``;
    ``null`` stays null, since null-versus-value is part of a schema). Ids and timestamps
    become ``"<id>"`` and ``"<timestamp>"`` — but only when they have the expected type, so an
    id turning into a number still shows. Enum keys keep their string value. A list becomes
    the list of the distinct shapes of its elements, first seen first, without its length.
    """
    if isinstance(obj, Shaped):
        return obj
    if isinstance(obj, dict):
        return Shaped({k: shape_of(v, str(k)) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return _distinct(shape_of(item) for item in obj)
    if obj is None:
        return None
    if isinstance(obj, bool):  # before int: bool is an int subclass
        return BOOL
    if isinstance(obj, (int, float)) and key in TIMESTAMP_KEYS:
        return TIMESTAMP
    if isinstance(obj, int):
        return INT
    if isinstance(obj, float):
        return FLOAT
    if isinstance(obj, str):
        if _is_id_key(key):
            return ID
        if key in ENUM_KEYS or obj in PLACEHOLDERS:
            return obj
        return STR
    return f"<{type(obj).__name__}>"


def _canonical(shape: Any) -> str:
    return json.dumps(shape, sort_keys=True)


def _distinct(shapes: Any) -> list[Any]:
    seen: set[str] = set()
    out: list[Any] = []
    for shape in shapes:
        text = _canonical(shape)
        if text not in seen:
            seen.add(text)
            out.append(shape)
    return out


def collapse(labels: list[str]) -> list[str]:
    """Consecutive repeats of a label become one ``label*``; a label seen once stays bare."""
    out: list[str] = []
    run = 0
    for i, label in enumerate(labels):
        run += 1
        if i + 1 < len(labels) and labels[i + 1] == label:
            continue
        out.append(label + "*" if run > 1 else label)
        run = 0
    return out


def _chunk_label(chunk: Any) -> str:
    """What one chat chunk carries, as ``role``, ``content``, ``finish:<reason>``, ``usage``...

    Parts join with ``+`` when one chunk carries several (a usage chunk that also repeats the
    last choice reads ``finish:stop+usage``), so merging two kinds of chunk is a shape change.
    """
    if not isinstance(chunk, dict):
        return "<not an object>"
    parts: list[str] = []
    finishes: list[str] = []
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") or {}
        if isinstance(delta, dict):
            if "role" in delta:
                parts.append("role")
            if delta.get("reasoning_content") or delta.get("reasoning"):
                parts.append("reasoning_content")
            if delta.get("content"):
                parts.append("content")
            if delta.get("tool_calls"):
                parts.append("tool_calls")
        if choice.get("finish_reason") is not None:
            finishes.append(f"finish:{choice['finish_reason']}")
    if chunk.get("usage") is not None:
        finishes.append("usage")
    labels = list(dict.fromkeys(parts + finishes))
    return "+".join(labels) if labels else "empty"


def stream_shape(exchange: Exchange, protocol_name: str | None = None) -> Shaped:
    """The shape of a streamed answer: status, content type, event sequence, event shapes.

    Chat Completions chunks are labelled by what they carry (see `_chunk_label`); protocols
    with named events (Responses, Messages) by their ``event:`` name. ``[DONE]`` is its own
    label. ``shapes`` holds, per label, the distinct shapes of its events' JSON — usually one,
    several where one event name carries different payloads (a thinking, a signature and a
    text delta are all ``content_block_delta``).
    """
    protocol = protocol_name or exchange.endpoint
    labels: list[str] = []
    shapes: dict[str, list[Any]] = {}
    for timed in exchange.events:
        event = timed.event
        if event.data.strip() == DONE:
            labels.append(DONE)
            continue
        try:
            payload, parsed = json.loads(event.data), True
        except ValueError:
            payload, parsed = None, False
        if protocol not in CHUNK_PROTOCOLS:
            label = event.event  # an unparseable named event is still that event
        else:
            label = _chunk_label(payload) if parsed else NOT_JSON
        labels.append(label)
        if parsed:
            shapes[label] = _distinct([*shapes.get(label, []), shape_of(payload)])
    out = Shaped(status=exchange.status, content_type=exchange.content_type,
                 sequence=collapse(labels), shapes=Shaped(shapes))
    if exchange.error is not None:
        out["error"] = exchange.error.kind
    return out


def exchange_shape(exchange: Exchange) -> Shaped:
    """The shape of one answer, streamed or not, with its HTTP status and content type."""
    if exchange.events:
        return stream_shape(exchange)
    out = Shaped(status=exchange.status, content_type=exchange.content_type)
    if exchange.error is not None:
        out["error"] = exchange.error.kind
    try:
        out["body"] = shape_of(exchange.json())
    except (ValueError, UnicodeDecodeError):
        out["body"] = NOT_JSON if exchange.body else None
    return out


def to_shape(data: Any) -> Any:
    """Whatever a test hands the snapshot, reduced to a shape (an `Exchange` with its status)."""
    if isinstance(data, Exchange):
        return exchange_shape(data)
    return shape_of(data)


class ShapeSnapshotExtension(JSONSnapshotExtension):
    """Syrupy extension: snapshots the shape of the value asserted, as sorted, indented JSON.

    One ``.json`` file per snapshot keeps a shape change a small, readable diff in review.
    """

    def serialize(self, data: SerializableData, *, exclude: PropertyFilter | None = None,
                  include: PropertyFilter | None = None, matcher: PropertyMatcher | None = None) -> SerializedData:
        return super().serialize(to_shape(data), exclude=exclude, include=include, matcher=matcher)
