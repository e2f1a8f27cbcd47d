"""Image input: each format accepted and looked at; malformed images rejected."""
from __future__ import annotations

import base64

from conformance import fixtures
from conformance.checks.failures import CheckFailed, CheckSkipped, fail_if
from conformance.checks.probe import SEED, Probe
from conformance.checks.registry import Case, check
from conformance.protocols.base import ImagePart, Turn

PROMPT = "What is in this image?"
FORMATS = ("shapes.png", "shapes.jpg", "shapes.webp", "shapes.gif")
# An http(s) image is part of every protocol's image input; the server fetches it (the reference
# server accepts it without fetching).
IMAGE_URL = "https://upload.wikimedia.org/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png"


def _require_images(probe: Probe) -> None:
    if "image" not in probe.contract.features.get("input_modalities", []):
        raise CheckSkipped("the contract takes no image input")


def _with_image(probe: Probe, image: ImagePart, **params):
    request = probe.request(prompt=PROMPT, seed=SEED, **params)
    request.turns = [Turn("user", PROMPT, images=(image,))]
    return request


def _format_cases(probe: Probe) -> list[Case]:
    return [Case(name.split(".")[1], name) for name in FORMATS] + [Case("url", IMAGE_URL)]


@check(category="images", cases=_format_cases, requests=2, smoke=0)
async def image_accepted(probe: Probe, case: Case) -> None:
    """An image in each common format (PNG, JPEG, WebP, GIF, and by http(s) URL) is accepted and counted as input (seed: "text and image input")."""
    _require_images(probe)
    image = ImagePart("image/png", url=case.data) if case.data == IMAGE_URL else fixtures.image(case.data)
    with_image = await probe.answer(_with_image(probe, image))
    text_only = await probe.answer(probe.request(prompt=PROMPT, seed=SEED))
    if with_image.usage and text_only.usage and with_image.usage.input_tokens is not None \
            and text_only.usage.input_tokens is not None and with_image.usage.input_tokens <= text_only.usage.input_tokens:
        raise CheckFailed(f"{case.data}: the image added no input tokens "
                          f"({with_image.usage.input_tokens} with it, {text_only.usage.input_tokens} without)")


@check(category="images", requests=2, smoke=0)
async def image_changes_answer(probe: Probe) -> None:
    """The model looks at the image: two different images under one seed give different answers (seed: image input)."""
    _require_images(probe)
    a = await probe.answer(_with_image(probe, fixtures.image("shapes.png")))
    b = await probe.answer(_with_image(probe, fixtures.image("shapes.gif")))
    if (a.text, a.reasoning) == (b.text, b.reasoning):
        raise CheckFailed(f"a PNG and a GIF of different pictures gave the same answer {a.text[:60]!r}: "
                          f"the image looks ignored")


BROKEN = {
    "truncated-png": lambda: fixtures.image("truncated.png"),
    "bad-base64": lambda: ImagePart("image/png", "this is not base64!!"),
    "not-an-image": lambda: ImagePart("image/png", base64.b64encode(b"plain text, no pixels").decode()),
}


def _broken_cases(probe: Probe) -> list[Case]:
    return [Case(name, name) for name in BROKEN]


@check(category="images", cases=_broken_cases, billed=0)  # rejected
async def image_malformed_rejected(probe: Probe, case: Case) -> None:
    """A malformed image (truncated, bad base64, not an image) is rejected with the invalid-request status, never a 5xx (assumption: protocol error codes)."""
    _require_images(probe)
    exchange = await probe.send(_with_image(probe, BROKEN[case.data]()))
    if exchange.error:
        raise CheckFailed(f"request failed: {exchange.error}")
    if exchange.status == 200:
        raise CheckFailed(f"a {case.data} image was accepted")
    fail_if(probe.wire.error_problems(exchange, status=probe.wire.protocol.error_status["invalid_parameter"],
                                      param=None))
