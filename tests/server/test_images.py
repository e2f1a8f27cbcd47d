"""Image inputs: real decoding of the fixture images, and a 400 for everything broken."""
import base64
import importlib.util
import io
from pathlib import Path

import pytest
from PIL import Image

from conformance.server import images
from conformance.server.errors import RequestRejected
from conformance.server.images import (
    IMAGE_TOKENS,
    ImageInfo,
    decode_image,
    image_tokens,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "fixtures" / "images"
SAMPLES = [("shapes.png", "png"), ("shapes.jpg", "jpeg"), ("shapes.webp", "webp"), ("shapes.gif", "gif")]
PARAM = "messages[0].content[1].image_url.url"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_uri(data: bytes, media: str) -> str:
    return f"data:{media};base64,{b64(data)}"


def sample(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


def rejected(value, param=PARAM) -> RequestRejected:
    with pytest.raises(RequestRejected) as info:
        decode_image(value, param)
    error = info.value
    assert error.status == 400 and error.message.startswith(error.param)
    return error


@pytest.mark.parametrize(("name", "fmt"), SAMPLES)
def test_fixture_images_decode_with_their_size(name, fmt):
    data = sample(name)
    info = decode_image(data_uri(data, f"image/{fmt}"), PARAM)
    assert (info.format, info.width, info.height, info.source) == (fmt, 64, 48, "data")
    assert info.byte_size == len(data) and len(info.digest) == 32
    anthropic = decode_image({"type": "base64", "media_type": f"image/{fmt}", "data": b64(data)}, "source")
    assert anthropic == info


def test_media_type_and_base64_marker_are_case_insensitive():
    info = decode_image("DATA:Image/PNG;BASE64," + b64(sample("shapes.png")), PARAM)
    assert info.format == "png"


def test_different_images_have_different_digests():
    digests = {decode_image(data_uri(sample(n), f"image/{f}"), PARAM).digest for n, f in SAMPLES}
    assert len(digests) == len(SAMPLES)


def test_truncated_fixture_is_rejected():
    error = rejected(data_uri(sample("truncated.png"), "image/png"))
    assert (error.param, error.code) == (PARAM, "invalid_image")


@pytest.mark.parametrize(("name", "fmt"), SAMPLES)
def test_every_format_truncated_is_rejected(name, fmt):
    # verify() alone lets truncated JPEG/WebP through; the full decode must not.
    data = sample(name)
    for cut in (len(data) // 2, len(data) - 8):
        assert rejected(data_uri(data[:cut], f"image/{fmt}")).code == "invalid_image"


@pytest.mark.parametrize(("name", "declared"), [
    ("shapes.png", "image/jpeg"), ("shapes.jpg", "image/png"),
    ("shapes.webp", "image/gif"), ("shapes.gif", "image/webp"),
])
def test_declared_media_type_must_match_the_bytes(name, declared):
    error = rejected(data_uri(sample(name), declared))
    assert error.code == "invalid_image" and declared in error.message
    error = rejected({"type": "base64", "media_type": declared, "data": b64(sample(name))}, "source")
    assert (error.param, error.code) == ("source.data", "invalid_image")


def other_format(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format=fmt)
    return buffer.getvalue()


BAD_DATA = [
    ("data:image/png;base64,%%%notbase64", "invalid_image"),
    ("data:image/png;base64,iVBORw0KGgo", "invalid_image"),  # bad padding
    ("data:image/png;base64,iVBO\nRw0KGgo=", "invalid_image"),  # white space
    ("data:image/png;base64,", "invalid_image"),
    ("data:image/png;base64," + b64(b"this is plain text, not a picture"), "invalid_image"),
    ("data:image/png," + "abc", "invalid_image"),  # not base64-encoded
    ("data:image/bmp;base64," + b64(other_format("BMP")), "invalid_image"),
    ("data:image/png;base64," + b64(other_format("BMP")), "invalid_image"),  # a real image, unsupported format
    ("data:image/tiff;base64," + b64(other_format("TIFF")), "invalid_image"),
    ("data:;base64," + b64(b"\x89PNG"), "invalid_image"),
    ("data:image/png;base64" + b64(b"x"), "invalid_image"),  # no comma
    ("ftp://example.com/cat.png", "invalid_image"),
    ("/images/cat.png", "invalid_image"),
    ("https://", "invalid_image"),
    ("https://example.com/a cat.png", "invalid_image"),
    ("http://[::1/cat.png", "invalid_image"),
]


@pytest.mark.parametrize(("url", "code"), BAD_DATA, ids=[str(i) for i in range(len(BAD_DATA))])
def test_bad_urls_and_data_are_rejected(url, code):
    error = rejected(url)
    assert (error.param, error.code) == (PARAM, code)


def test_urls_are_accepted_without_fetching():
    for url in ("https://example.com/cat.png", "http://127.0.0.1:8080/x?y=1", "HTTPS://EXAMPLE.COM/a.webp"):
        info = decode_image(url, PARAM)
        assert info == ImageInfo(None, None, None, "url", digest=info.digest)
    anthropic = decode_image({"type": "url", "url": "https://example.com/cat.png"}, "source")
    assert anthropic.source == "url" and anthropic.format is None


ANTHROPIC_BAD = [
    ({"type": "base64", "data": "x"}, "source.media_type", "missing_required_parameter"),
    ({"type": "base64", "media_type": 3, "data": "x"}, "source.media_type", "invalid_type"),
    ({"type": "base64", "media_type": "image/jpg", "data": b64(sample("shapes.jpg"))}, "source.media_type",
     "invalid_image"),
    ({"type": "base64", "media_type": "image/png"}, "source.data", "missing_required_parameter"),
    ({"type": "base64", "media_type": "image/png", "data": 12}, "source.data", "invalid_type"),
    # Anthropic takes raw base64; a data URI in `data` is a mix-up of the two protocols.
    ({"type": "base64", "media_type": "image/png", "data": data_uri(sample("shapes.png"), "image/png")},
     "source.data", "invalid_image"),
    ({"type": "base64", "media_type": "image/png", "data": b64(sample("truncated.png"))}, "source.data",
     "invalid_image"),
    ({"type": "url", "url": None}, "source.url", "invalid_type"),
    ({"type": "url", "url": "data:image/png;base64,AAAA"}, "source.url", "invalid_image"),
    ({"type": "file", "file_id": "file_123"}, "source.type", "invalid_image"),
    ({"media_type": "image/png", "data": "AAAA"}, "source.type", "invalid_image"),
]


@pytest.mark.parametrize(("source", "param", "code"), ANTHROPIC_BAD, ids=[str(i) for i in range(len(ANTHROPIC_BAD))])
def test_bad_anthropic_sources_are_rejected(source, param, code):
    error = rejected(source, "source")
    assert (error.param, error.code) == (param, code)


def test_wrong_value_type_is_rejected():
    error = rejected(["https://example.com/cat.png"])
    assert (error.param, error.code) == (PARAM, "invalid_type")


def test_size_caps(monkeypatch):
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 300)
    error = rejected(data_uri(sample("shapes.png"), "image/png"))
    assert error.code == "image_too_large" and "at most 300 bytes" in error.message
    assert decode_image(data_uri(sample("shapes.webp"), "image/webp"), PARAM).byte_size == 202
    # Far too large is refused from the encoded length alone, before decoding.
    assert rejected("data:image/png;base64," + "A" * 4000).code == "image_too_large"
    monkeypatch.undo()
    monkeypatch.setattr(images, "MAX_IMAGE_SIDE", 63)
    error = rejected(data_uri(sample("shapes.gif"), "image/gif"))
    assert error.code == "image_too_large" and "64x48" in error.message


def test_image_tokens_are_flat():
    small = decode_image(data_uri(sample("shapes.png"), "image/png"), PARAM)
    url = decode_image("https://example.com/huge.png", PARAM)
    assert image_tokens(small) == image_tokens(url) == IMAGE_TOKENS == 256


def test_fixture_script_regenerates_the_same_images(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixture_images", ROOT / "scripts" / "make_fixture_images.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in IMAGES.iterdir()
                                                                 if p.suffix != ".md")
    for name, fmt in SAMPLES:
        fresh, kept = Image.open(tmp_path / name), Image.open(IMAGES / name)
        assert (fresh.format, fresh.size) == (kept.format, kept.size)
        if fmt != "jpeg":  # lossless formats: the very same pixels (JPEG may vary with libjpeg)
            assert fresh.convert("RGB").tobytes() == kept.convert("RGB").tobytes()
    assert (tmp_path / "truncated.png").read_bytes() == (tmp_path / "shapes.png").read_bytes()[:207]
