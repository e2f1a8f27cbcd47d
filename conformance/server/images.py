"""Image inputs: decode what a client sends for real, or refuse it with a 400.

Accepted spellings (WIRE.md §A.3, §B.3, §C.3, §F):

* OpenAI (Chat ``image_url.url``, Responses ``input_image.image_url``): a string, either a
  ``data:image/<png|jpeg|webp|gif>;base64,<data>`` URI or an ``http(s)://`` URL;
* Anthropic ``image.source``: ``{"type": "base64", "media_type", "data"}`` (raw base64, no
  ``data:`` prefix) or ``{"type": "url", "url"}``.

Inline images are decoded with Pillow, restricted to PNG, JPEG, WebP and GIF: ``verify()``
first (it checks PNG chunk CRCs), then a fresh open that reads the size and decodes the pixels,
because ``verify()`` alone passes a truncated JPEG or WebP. The declared media type must name
the format the bytes really are. Base64 must be strict (standard alphabet, correct padding, no
white space). Limits: 20 MiB of decoded bytes and 8000 pixels a side (Anthropic's documented
maximum), past which the answer is 400 ``image_too_large``; every other problem is 400
``invalid_image``. URLs are checked for shape only and never fetched, so their format and size
stay unknown.

`image_tokens` prices every image at a flat `IMAGE_TOKENS` = 256 prompt tokens, whatever its
size or source. That mirrors Gemma's vision encoder, which turns each image into a fixed budget
of 256 soft tokens (Gemma 3 / 3n; Gemma 4 documents configurable budgets, and 256 is the
assumption here), and it keeps usage predictable from the request alone, even for URLs.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from PIL import Image

from conformance.server.errors import RequestRejected

__all__ = [
    "IMAGE_TOKENS", "MAX_IMAGE_BYTES", "MAX_IMAGE_SIDE", "MEDIA_TYPES", "ImageInfo", "decode_image",
    "image_tokens",
]

ImageFormat = Literal["png", "jpeg", "webp", "gif"]
MEDIA_TYPES: dict[ImageFormat, str] = {
    "png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
}
_BY_MEDIA_TYPE = {media: fmt for fmt, media in MEDIA_TYPES.items()}
_PIL_FORMATS: dict[str, ImageFormat] = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 8000
IMAGE_TOKENS = 256
_DATA_URI = re.compile(r"data:(?P<media>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ImageInfo:
    format: ImageFormat | None  # None for a URL: it is never fetched
    width: int | None
    height: int | None
    source: Literal["data", "url"]
    byte_size: int | None = None  # decoded bytes of an inline image
    digest: str = ""  # BLAKE2b of the bytes (or of the URL): lets a caller tell images apart


def image_tokens(info: ImageInfo) -> int:
    """Prompt tokens one image costs: a flat 256 (see the module docstring)."""
    return IMAGE_TOKENS


def decode_image(url_or_source: str | Mapping[str, Any], param: str = "image") -> ImageInfo:
    """Check and measure one image.

    A string is an OpenAI ``url`` (data URI or http(s) URL); a mapping is an Anthropic ``source``.
    `param` is the wire path that errors name, e.g. ``messages[0].content[1].image_url.url``.
    """
    if isinstance(url_or_source, str):
        if url_or_source[:5].lower() == "data:":
            return _decode_data_uri(url_or_source, param)
        return _url(url_or_source, param)
    if isinstance(url_or_source, Mapping):
        return _decode_source(url_or_source, param)
    raise RequestRejected(400, f"{param}: expected a URL string or an image source object, got "
                               f"{_describe(url_or_source)}", param, "invalid_type")


def _decode_data_uri(uri: str, param: str) -> ImageInfo:
    match = _DATA_URI.fullmatch(uri)
    if match is None:
        raise _invalid(param, "not a valid data URI (expected data:image/<type>;base64,<data>)")
    media = match["media"].lower()
    if "base64" not in (p.strip().lower() for p in match["params"].split(";")):
        raise _invalid(param, "the data URI must be base64-encoded (data:image/<type>;base64,...)")
    if media not in _BY_MEDIA_TYPE:
        raise _invalid(param, f"unsupported image media type {media or '(none)'!r}; supported: "
                              f"{', '.join(MEDIA_TYPES.values())}")
    return _decode_bytes(match["data"], media, param)


def _decode_source(source: Mapping[str, Any], param: str) -> ImageInfo:
    kind = source.get("type")
    if kind == "base64":
        media = source.get("media_type")
        if media is None:
            raise RequestRejected(400, f"{param}.media_type: required", f"{param}.media_type",
                                  "missing_required_parameter")
        if not isinstance(media, str):
            raise RequestRejected(400, f"{param}.media_type: expected one of {', '.join(MEDIA_TYPES.values())}, "
                                       f"got {_describe(media)}", f"{param}.media_type", "invalid_type")
        if media not in _BY_MEDIA_TYPE:
            raise _invalid(f"{param}.media_type", f"unsupported image media type {media!r}; supported: "
                                                  f"{', '.join(MEDIA_TYPES.values())}")
        data = source.get("data")
        if data is None:
            raise RequestRejected(400, f"{param}.data: required", f"{param}.data", "missing_required_parameter")
        if not isinstance(data, str):
            raise RequestRejected(400, f"{param}.data: expected a base64 string, got {_describe(data)}",
                                  f"{param}.data", "invalid_type")
        if data[:5].lower() == "data:":
            # Anthropic takes the media type from media_type; a data: URI here is a client mix-up.
            raise _invalid(f"{param}.data", "expected raw base64 without a 'data:' prefix")
        return _decode_bytes(data, media, f"{param}.data")
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str):
            raise RequestRejected(400, f"{param}.url: expected a string, got {_describe(url)}", f"{param}.url",
                                  "invalid_type")
        return _url(url, f"{param}.url")
    raise _invalid(f"{param}.type", f"{_describe(kind)} is not a supported image source; use 'base64' or 'url'")


def _url(url: str, param: str) -> ImageInfo:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced '[' in an IPv6 host
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host or any(c.isspace() for c in url):
        raise _invalid(param, f"expected an http(s) URL or a base64 data URI, got {_describe(url)}")
    return ImageInfo(None, None, None, "url", digest=hashlib.blake2b(url.encode(), digest_size=16).hexdigest())


def _decode_bytes(data: str, media: str, param: str) -> ImageInfo:
    # Refuse from the encoded length first: no point decoding 200 MB to say it is too large.
    if len(data) // 4 * 3 > MAX_IMAGE_BYTES + 2:
        raise _too_large(param, f"the image is about {len(data) // 4 * 3} bytes; {_byte_cap()}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(param, "the image data is not valid base64") from None
    if not raw:
        raise _invalid(param, "the image data is empty")
    if len(raw) > MAX_IMAGE_BYTES:
        raise _too_large(param, f"the image is {len(raw)} bytes; {_byte_cap()}")
    fmt, width, height = _measure(raw, param)
    if MEDIA_TYPES[fmt] != media:
        raise _invalid(param, f"the image is a {fmt.upper()} but the declared media type is {media}")
    return ImageInfo(fmt, width, height, "data", byte_size=len(raw),
                     digest=hashlib.blake2b(raw, digest_size=16).hexdigest())


def _measure(raw: bytes, param: str) -> tuple[ImageFormat, int, int]:
    formats = tuple(_PIL_FORMATS)
    with warnings.catch_warnings():
        # Pillow only warns about decompression bombs below twice its pixel limit; refuse them all.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=formats) as image:
                fmt = _PIL_FORMATS[image.format or ""]
                image.verify()
            with Image.open(io.BytesIO(raw), formats=formats) as image:
                width, height = image.size
                if max(width, height) > MAX_IMAGE_SIDE:
                    raise _too_large(param, f"the image is {width}x{height}; at most {MAX_IMAGE_SIDE} pixels "
                                            f"a side are accepted")
                image.load()  # decodes every byte: the only check that catches truncated JPEG/WebP/GIF
        except RequestRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(param, "the image has too many pixels") from None
        except Exception as exc:  # noqa: BLE001 - Pillow signals bad input with many exception types
            raise _invalid(param, f"the image data could not be decoded as PNG, JPEG, WebP or GIF "
                                  f"({type(exc).__name__})") from None
    return fmt, width, height


def _byte_cap() -> str:
    return f"at most {MAX_IMAGE_BYTES} bytes are accepted"


def _invalid(param: str, why: str) -> RequestRejected:
    return RequestRejected(400, f"{param}: {why}", param, "invalid_image")


def _too_large(param: str, why: str) -> RequestRejected:
    return RequestRejected(400, f"{param}: {why}", param, "image_too_large")


def _describe(value: Any) -> str:
    # Same rendering as validation.describe, kept local: validation will import this module.
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
