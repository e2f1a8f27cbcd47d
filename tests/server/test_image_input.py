"""Images wired into the three endpoints: decoded, priced, looked at, and refused when malformed."""
from __future__ import annotations

import base64

import pytest

from conformance.server import create_app
from conformance.server.images import IMAGE_TOKENS

from .bodies import (
    CHAT,
    CONTRACT,
    ENDPOINTS,
    MESSAGES,
    RESPONSES,
    WIRES,
    body,
    image_base64,
    image_part,
    input_tokens,
    problems,
    send,
    text_of,
    user,
)

PROMPT = "What is in this image?"


@pytest.fixture(scope="module")
def app():
    return create_app(CONTRACT)


def ask(app, endpoint: str, *images: str, stream: bool = False, **fields):
    fields = {"seed": 3, **fields}
    if stream:
        fields["stream"] = True
    return send(app, endpoint, body(endpoint, user(endpoint, PROMPT, *images), **fields), stream=stream)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_format_is_decoded_priced_and_looked_at(app, endpoint):
    text_only = ask(app, endpoint)
    answers = {name: ask(app, endpoint, name) for name in ("shapes.png", "shapes.jpg", "shapes.webp", "shapes.gif")}
    for ex in answers.values():
        assert problems(endpoint, ex) == []
        assert input_tokens(endpoint, ex) == input_tokens(endpoint, text_only) + IMAGE_TOKENS
    # Each image's bytes join the prompt digest: four encodings, four answers, none the text-only one.
    texts = {text_of(endpoint, ex) for ex in answers.values()}
    assert len(texts) == 4 and text_of(endpoint, text_only) not in texts
    assert input_tokens(endpoint, ask(app, endpoint, "shapes.png", "shapes.gif")) == \
        input_tokens(endpoint, text_only) + 2 * IMAGE_TOKENS
    streamed = ask(app, endpoint, "shapes.png", stream=True)
    assert problems(endpoint, streamed) == []
    assert text_of(endpoint, streamed) == text_of(endpoint, answers["shapes.png"])


def test_the_same_image_is_the_same_prompt_everywhere(app):
    answers = {e: ask(app, e, "shapes.webp") for e in ENDPOINTS}
    assert len({(text_of(e, ex), input_tokens(e, ex)) for e, ex in answers.items()}) == 1


def test_urls_are_accepted_but_never_fetched(app):
    # An unroutable host: a fetch would fail the request (or hang); the URL itself is the image's identity.
    urls = ("https://images.invalid/cat.png", "https://images.invalid/dog.png")
    for endpoint in ENDPOINTS:
        a, b = (ask(app, endpoint, url) for url in urls)
        assert problems(endpoint, a) == [] and text_of(endpoint, a) != text_of(endpoint, b)
        assert input_tokens(endpoint, a) == input_tokens(endpoint, ask(app, endpoint)) + IMAGE_TOKENS


BROKEN = {
    "truncated": "truncated.png",
    "bad-base64": "data:image/png;base64,this is not base64!!",
    "not-an-image": "data:image/png;base64," + base64.b64encode(b"plain text, no pixels").decode(),
    "wrong-media-type": "data:image/gif;base64," + image_base64("shapes.png"),
    "not-a-url": "ftp://example.com/x.png",
}
PATHS = {CHAT: "messages[0].content[1].image_url.url", RESPONSES: "input[0].content[1].image_url",
         MESSAGES: "messages[0].content[1].source"}


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_malformed_images_are_400s_naming_the_part(app, endpoint, case):
    ex = ask(app, endpoint, BROKEN[case])
    assert WIRES[endpoint].error_problems(ex, status=400, param=PATHS[endpoint]) == []
    if endpoint != MESSAGES:
        assert ex.json()["error"]["param"].startswith(PATHS[endpoint])


def test_tool_results_may_show_images(app):
    call = {"id": "call_" + "x" * 24, "name": "get_weather", "input": {"city": "Paris"}}
    replayed = {"type": "function_call", "call_id": call["id"], "name": call["name"], "arguments": '{"city":"Paris"}'}
    kinds = {}
    for image in (None, "shapes.png"):
        picture = [image_part(RESPONSES, image)] if image else []
        resp = body(RESPONSES, user(RESPONSES, PROMPT), replayed,
                    {"type": "function_call_output", "call_id": call["id"],
                     "output": [{"type": "input_text", "text": "a map"}, *picture]}, seed=3)
        picture = [image_part(MESSAGES, image)] if image else []
        msg = body(MESSAGES, user(MESSAGES, PROMPT), {"role": "assistant", "content": [{"type": "tool_use", **call}]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                                                 "content": [{"type": "text", "text": "a map"}, *picture]}]}, seed=3)
        answers = {e: send(app, e, b) for e, b in ((RESPONSES, resp), (MESSAGES, msg))}
        kinds[image] = {(text_of(e, ex), input_tokens(e, ex)) for e, ex in answers.items()}
    (plain,), (pictured,) = kinds.values()
    assert pictured[0] != plain[0] and pictured[1] == plain[1] + IMAGE_TOKENS


@pytest.mark.parametrize("endpoint, turn, param", [
    (CHAT, {"role": "system", "content": [image_part(CHAT, "shapes.png")]}, "messages[0].content[0].type"),
    (CHAT, {"role": "assistant", "content": [image_part(CHAT, "shapes.png")]}, "messages[0].content[0].type"),
    (RESPONSES, {"role": "developer", "content": [image_part(RESPONSES, "shapes.png")]}, "input[0].content[0].type"),
    (MESSAGES, {"role": "assistant", "content": [image_part(MESSAGES, "shapes.png")]}, "messages[0].content[0].type"),
    (RESPONSES, {"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]},
     "input[0].content[0].file_id"),
])
def test_images_only_on_user_turns(app, endpoint, turn, param):
    ex = send(app, endpoint, body(endpoint, turn))
    assert WIRES[endpoint].error_problems(ex, status=400, param=param) == []
