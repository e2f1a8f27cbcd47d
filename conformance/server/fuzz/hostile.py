"""Hostile requests for the reference server, as hypothesis strategies.

Each `HostileRequest` is one HTTP request a careless or malicious client could send: a valid
body with one field replaced by something absurd (wrong types, huge or deeply nested JSON,
NaN/Infinity/1e400 literals, lone surrogates, 10,000-element arrays), a missing field, unknown
fields, broken images and data URLs, bodies that are not JSON or not UTF-8, wrong content types,
wrong methods and paths. The server must answer every one with a 4xx in the protocol's error
shape, or a 2xx when the request happens to be valid (`conformance.server.fuzz.judge`).

Large and deep values are not drawn element by element (hypothesis would spend its whole budget
building them): a strategy draws their size and the JSON text is spliced into the body as
written (`RawJson`), which also lets literals that Python's json cannot produce (``1e400``,
``-0``, a 5,000-digit integer) reach the server.
"""
from __future__ import annotations

import base64
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["ENDPOINT_PATHS", "HostileRequest", "RawJson", "hostile_requests", "named_cases", "valid_body"]

ENDPOINT_PATHS = {"chat_completions": "/v1/chat/completions", "responses": "/v1/responses",
                  "messages": "/v1/messages"}


@dataclass(frozen=True)
class RawJson:
    """JSON text spliced into a body verbatim, in place of a value."""

    text: str


@dataclass(frozen=True)
class HostileRequest:
    kind: str  # which family of hostility, for reports
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    chunked: bool = False  # sent without Content-Length, in pieces

    def describe(self) -> str:
        body = b"" if self.body is None else self.body
        shown = body[:160] + (b"..." if len(body) > 160 else b"")
        return f"{self.kind}: {self.method} {self.path} {dict(self.headers)} ({len(body)} bytes) {shown!r}"


def encode(value: Any, *, ascii_only: bool = True) -> bytes:
    """`value` as JSON bytes, `RawJson` leaves spliced in; lone surrogates survive as \\ud800 or raw bytes."""
    raws: dict[str, str] = {}

    def mark(obj: Any) -> Any:
        if isinstance(obj, RawJson):
            token = f"RAW{uuid.uuid4().hex}"
            raws[token] = obj.text
            return token
        if isinstance(obj, dict):
            return {k: mark(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [mark(v) for v in obj]
        return obj

    text = json.dumps(mark(value), ensure_ascii=ascii_only)
    for token, raw in raws.items():
        text = text.replace(f'"{token}"', raw, 1)
    # Without ensure_ascii a lone surrogate has no UTF-8 form: send its CESU bytes, i.e. invalid UTF-8.
    return text.encode("utf-8", "surrogatepass")


# ----------------------------------------------------------------------------- values

ODD_CHARACTERS = ["\ud800", "\udfff", "\x00", "\u202e", "\u200f", "\ufeff", "\uffff", "\U0001f600", "\U0010ffff",
                  "\u0301" * 50, "\r\n", "\\", '"', "</script>", "{{", "%s%n"]
NUMBER_LITERALS = ["1e400", "-1e400", "-0", "-0.0", "0e-400", "NaN", "Infinity", "-Infinity", "1" * 5000,
                   "9" * 30, "1.7976931348623157e308", "5e-324", "1E+2", "0.1e1"]
ODD_STRINGS = ["", " ", "null", "true", "0", "[]", "{}", "gemma-4-e4b\x00", "GEMMA-4-E4B", "user ", "../../etc/passwd",
               "data:", "\ud800\udc00", "\udc00\ud800"]

absurd_text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.lists(st.sampled_from(ODD_CHARACTERS + ODD_STRINGS), max_size=6).map("".join),
    st.sampled_from(ODD_STRINGS),
)
scalars = st.one_of(
    st.none(), st.booleans(), absurd_text,
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([0, -1, 1, 2 ** 31, 2 ** 63, -(2 ** 63), 10 ** 30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(NUMBER_LITERALS).map(RawJson),
)
small_json = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(absurd_text, inner, max_size=4)), max_leaves=12)


@st.composite
def deep(draw: st.DrawFn) -> RawJson:
    """Nesting far past any sane schema, up to where Python's own parser gives up."""
    depth = draw(st.sampled_from([50, 100, 200, 500, 900, 990, 1000, 1100, 3000, 20_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"content":[', "]}"),
                                           ('{"type":"object","properties":{"p":', "}}}")]))
    core = draw(st.sampled_from(["0", "null", '"x"', "{}", "[]"]))
    return RawJson(opener * depth + core + closer * depth)


@st.composite
def big(draw: st.DrawFn) -> RawJson:
    """Wide rather than deep: long arrays, long strings, many keys."""
    n = draw(st.sampled_from([1000, 10_000, 100_000]))
    element = draw(st.sampled_from(['0', '"x"', 'null', '{"role":"user","content":"hi"}',
                                    '{"type":"text","text":"hi"}', '[]']))
    shape = draw(st.sampled_from(["array", "string", "object"]))
    if shape == "array":
        return RawJson("[" + ",".join([element] * n) + "]")
    if shape == "string":
        return RawJson(json.dumps(draw(st.sampled_from(["x", "\U0001f600", "\u202e", " "])) * n))
    return RawJson("{" + ",".join(f'"k{i}":{element}' for i in range(n)) + "}")


hostile_values = st.one_of(scalars, small_json, deep(), big())


# ----------------------------------------------------------------------------- images

def _tiny_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


_PNG = _tiny_png()


@st.composite
def broken_base64(draw: st.DrawFn) -> str:
    good = base64.b64encode(_PNG).decode()
    how = draw(st.sampled_from(["truncate", "flip", "pad", "alphabet", "space", "empty", "garbage", "fake_header",
                                "huge_dims", "valid"]))
    if how == "truncate":
        return good[: draw(st.integers(0, len(good) - 1))]
    if how == "flip":
        raw = bytearray(_PNG)
        at = draw(st.integers(0, len(raw) - 1))
        raw[at] ^= 0xFF
        return base64.b64encode(bytes(raw)).decode()
    if how == "pad":
        return good + "=" * draw(st.integers(1, 5))
    if how == "alphabet":
        return good.replace("A", "-").replace("/", "_") + "!"
    if how == "space":
        return good[:10] + " \n" + good[10:]
    if how == "empty":
        return ""
    if how == "garbage":
        return draw(absurd_text)
    if how == "fake_header":  # a PNG signature and nothing after it
        return base64.b64encode(_PNG[:16] + draw(st.binary(max_size=64))).decode()
    if how == "huge_dims":  # IHDR claims 100000 x 100000 pixels
        raw = bytearray(_PNG)
        raw[16:24] = (100_000).to_bytes(4, "big") * 2
        return base64.b64encode(bytes(raw)).decode()
    return good


@st.composite
def bad_data_url(draw: st.DrawFn) -> str:
    data = draw(broken_base64())
    media = draw(st.sampled_from(["image/png", "image/jpeg", "image/svg+xml", "text/html", "", "IMAGE/PNG",
                                  "image/png;charset=utf-8"]))
    return draw(st.sampled_from([
        f"data:{media};base64,{data}", f"data:{media},{data}", f"data:;base64,{data}", f"data:{media};base64",
        "data:", "data:image/png;base64,", f"DATA:{media};BASE64,{data}", "http://[::1", "http://", "file:///etc/passwd",
        "javascript:alert(1)", "https://example.com/a b.png", "ftp://example.com/x.png", data,
    ]))


def _image_part(endpoint: str, url: str, data: str, media: Any) -> dict[str, Any]:
    if endpoint == "chat_completions":
        return {"type": "image_url", "image_url": {"url": url}}
    if endpoint == "responses":
        return {"type": "input_image", "image_url": url}
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


# ----------------------------------------------------------------------------- bodies


def valid_body(endpoint: str, model: str, *, stream: bool = False, text: str = "Write a haiku.") -> dict[str, Any]:
    """A small valid request (few output tokens, so a valid answer costs little to make)."""
    if endpoint == "responses":
        body: dict[str, Any] = {"model": model, "input": text, "max_output_tokens": 16}
    else:
        body = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


FIELDS = {
    "chat_completions": ["model", "messages", "max_tokens", "temperature", "top_p", "seed", "stop", "stream", "n",
                         "tools", "tool_choice", "response_format", "logprobs", "top_logprobs", "stream_options",
                         "enable_thinking", "reasoning_effort", "parallel_tool_calls", "min_p", "frequency_penalty"],
    "responses": ["model", "input", "instructions", "max_output_tokens", "temperature", "stream", "tools",
                  "tool_choice", "text", "reasoning", "top_logprobs", "seed", "parallel_tool_calls", "include"],
    "messages": ["model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "tools",
                 "tool_choice", "thinking", "output_config", "metadata", "top_k", "enable_thinking"],
}
HOSTILE_SCHEMAS = [
    {"type": "array", "minItems": 100_000_000}, {"type": "string", "minLength": 1_000_000_000},
    {"type": "string", "pattern": "(a+)+$"}, {"$ref": "#"}, {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}},
    {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    {"type": "integer", "minimum": 1e308, "maximum": 1e308}, {"type": "number", "exclusiveMinimum": 5, "maximum": 5},
    {"anyOf": []}, {"type": ["object", "array"], "items": {"$ref": "#"}, "minItems": 3},
    {"enum": [{"a": 1}, [1, 2]], "type": "string"}, {"type": "array", "items": {"type": "array", "minItems": 10_000},
                                                     "minItems": 10_000},
]


hostile_schemas = st.one_of(st.sampled_from(HOSTILE_SCHEMAS), hostile_values)


def _with_schema(endpoint: str, body: dict[str, Any], schema: Any, as_tool: bool) -> dict[str, Any]:
    if as_tool:
        tool: dict[str, Any]
        if endpoint == "chat_completions":
            tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
        elif endpoint == "responses":
            tool = {"type": "function", "name": "f", "parameters": schema}
        else:
            tool = {"name": "f", "input_schema": schema}
        choice = {"type": "any"} if endpoint == "messages" else "required"
        return {**body, "tools": [tool], "tool_choice": choice}
    if endpoint == "chat_completions":
        return {**body, "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}
    if endpoint == "responses":
        return {**body, "text": {"format": {"type": "json_schema", "name": "s", "schema": schema}}}
    return {**body, "output_config": {"format": {"type": "json_schema", "schema": schema}}}


@st.composite
def hostile_body(draw: st.DrawFn, endpoint: str, model: str) -> tuple[str, bytes]:
    body = valid_body(endpoint, model, stream=draw(st.booleans()))
    how = draw(st.sampled_from(["replace", "replace", "delete", "unknown", "message", "image", "schema", "many"]))
    if how == "replace":
        body[draw(st.sampled_from(FIELDS[endpoint]))] = draw(hostile_values)
    elif how == "delete":
        for name in draw(st.lists(st.sampled_from(list(body)), min_size=1, unique=True)):
            del body[name]
    elif how == "unknown":
        body.update(draw(st.dictionaries(absurd_text, hostile_values, min_size=1, max_size=3)))
    elif how == "message":
        key = "input" if endpoint == "responses" else "messages"
        message = {"role": draw(st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "developer"]),
                                          hostile_values)),
                   "content": draw(hostile_values)}
        if draw(st.booleans()):
            message[draw(absurd_text)] = draw(hostile_values)
        body[key] = draw(st.sampled_from([[message], [message] * 3, message]))
    elif how == "image":
        url, data = draw(bad_data_url()), draw(broken_base64())
        media = draw(st.sampled_from(["image/png", "image/gif", "text/plain", None, 7]))
        part = _image_part(endpoint, url, data, media)
        content = [{"type": "input_text" if endpoint == "responses" else "text", "text": "What is this?"}, part]
        key = "input" if endpoint == "responses" else "messages"
        body[key] = [{"role": "user", "content": content}]
    elif how == "schema":
        body = _with_schema(endpoint, body, draw(hostile_schemas), as_tool=draw(st.booleans()))
    else:
        for name in draw(st.lists(st.sampled_from(FIELDS[endpoint]), min_size=2, max_size=6, unique=True)):
            body[name] = draw(hostile_values)
    return how, encode(body, ascii_only=draw(st.booleans()))


RAW_BODIES = [
    b"", b" ", b"null", b"[]", b"{}", b"0", b'"x"', b"{", b"}", b"[", b"{'model': 'x'}", b"NaN", b"-0", b"1e400",
    b'{"model": NaN}', b'{"model": Infinity}', b'{"max_tokens": -Infinity}', b'{"max_tokens": 1e400}',
    b"\xff\xfe\x00\x00", b"\xef\xbb\xbf{}", b'{"model": "\xed\xa0\x80"}', b'{"a": "\\ud800"}', b'{"a":1,"a":2}',
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, b"[" * 100_000,
    b"[" + b"{}," * 300_000 + b"{}]", b'{"a": [' + b"[]," * 300_000 + b"[]]}",
    b"model=gemma&messages=hi", b"--x\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--x--", b"\x00" * 1000,
    b'{"model": "gemma-4-e4b", "messages": [' + b'{"role":"user","content":"hi"},' * 9999
    + b'{"role":"user","content":"hi"}]}',
]
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "", "application/json; charset=latin-1", "application/xml",
                 "image/png", "application/json, text/html", "*/*"]
PATHS = [*ENDPOINT_PATHS.values(), "/v1/models", "/v1/models/gemma-4-e4b", "/v1/models/%00", "/v1/chat/completions/",
         "/v1/messages/", "/v1", "/", "/v1/conformance/ledger", "/v1/responses/x", "/v2/chat/completions",
         "/v1/chat//completions", "/v1/models/" + "a" * 5000]
METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "POST"]


@st.composite
def hostile_requests(draw: st.DrawFn, model: str) -> HostileRequest:
    """Any of the hostile request families, weighted toward bodies the handlers must parse."""
    family = draw(st.sampled_from(["body"] * 6 + ["raw", "headers", "method", "path"]))
    endpoint = draw(st.sampled_from(list(ENDPOINT_PATHS)))
    path = ENDPOINT_PATHS[endpoint]
    chunked = draw(st.booleans())
    if family == "body":
        how, body = draw(hostile_body(endpoint, model))
        return HostileRequest(f"body/{how}", "POST", path, body, chunked=chunked)
    if family == "raw":
        raw = draw(st.one_of(st.sampled_from(RAW_BODIES), st.binary(max_size=200)))
        return HostileRequest("raw", "POST", path, raw, chunked=chunked)
    if family == "headers":
        body = encode(valid_body(endpoint, model, stream=draw(st.booleans())))
        headers = [("content-type", draw(st.sampled_from(CONTENT_TYPES)))]
        if draw(st.booleans()):
            # Printable ASCII without edge blanks: a header the client library refuses to send tests nothing.
            junk = draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)).strip()
            headers.append((draw(st.sampled_from(["authorization", "x-api-key", "x-conformance-faults",
                                                  "anthropic-version", "accept", "content-encoding"])), junk))
        return HostileRequest("headers", "POST", path, body, tuple(headers), chunked=chunked)
    if family == "method":
        method = draw(st.sampled_from(METHODS[:-1]))
        body = None if method in ("GET", "HEAD", "OPTIONS") else encode(valid_body(endpoint, model))
        return HostileRequest("method", method, draw(st.sampled_from(PATHS)), body)
    method = draw(st.sampled_from(METHODS))
    body = encode(valid_body(endpoint, model)) if method == "POST" else None
    return HostileRequest("path", method, draw(st.sampled_from(PATHS)), body)


def named_cases(model: str) -> list[HostileRequest]:
    """The named horrors, on every endpoint: sent before anything random."""
    chat, messages = ENDPOINT_PATHS["chat_completions"], ENDPOINT_PATHS["messages"]
    base = valid_body("chat_completions", model)
    cases = [HostileRequest("named/raw", "POST", path, raw) for raw in RAW_BODIES for path in ENDPOINT_PATHS.values()]
    for schema in HOSTILE_SCHEMAS:
        for endpoint, path in ENDPOINT_PATHS.items():
            for as_tool in (False, True):
                body = _with_schema(endpoint, valid_body(endpoint, model), schema, as_tool)
                cases.append(HostileRequest("named/schema", "POST", path, encode(body)))
    for depth in (900, 990, 1000, 5000, 100_000):
        for at in ("messages", "metadata", "stop", "tools", "response_format"):
            nested = {**base, at: RawJson("[" * depth + "]" * depth)}
            cases.append(HostileRequest("named/deep", "POST", chat, encode(nested)))
    for endpoint, path in ENDPOINT_PATHS.items():
        for text in ("\ud800", "a\udfffb", "\udbff\udfff\ud800", "\x00\u202e\U0001f600"):
            body = valid_body(endpoint, model, text=text)
            system = {"responses": "instructions", "messages": "system"}.get(endpoint)
            for extra in ({}, {system: text} if system else {}, {"stop" if endpoint != "messages" else
                                                                "stop_sequences": [text]}, {text: text}):
                for stream in (False, True):
                    cases.append(HostileRequest("named/unicode", "POST", path,
                                                encode({**body, **extra, "stream": stream})))
    cases.append(HostileRequest("named/wide", "POST", messages, encode(
        {**valid_body("messages", model), "messages": RawJson("[" + ",".join(['{"role":"user","content":"hi"}']
                                                                             * 10_000) + "]")})))
    return cases
