"""Golden outputs of the toy language model: speeding the generator up must not change a byte.

Each case is a seeded request; its whole output (tokens, logprobs with every float's exact
repr, top alternatives, finish reason, stop sequence) is hashed, and the hashes below were
recorded with the straightforward generator before it was optimised. The cases cover every
sampling parameter in and out of range (out-of-range values reach the model under the
accept_out_of_range fault), stop strings, logprobs, thinking on and off, and, end to end
through the reference app, tool calls and structured output.

Regenerate (only when the model is meant to change): python tests/server/test_generator_golden.py
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
from dataclasses import replace
from typing import Any

import httpx
import pytest

from conformance.server import create_app
from conformance.server.generator import Sampling, digest_prompt, forced_tokens, generate
from conformance.suite.loader import DEFAULT_CONTRACT, load_contract
from conformance.suite.model import Contract

PROMPTS = (
    [("user", "Write a haiku about the ocean.")],
    [("system", "Be terse."), ("user", "Name a colour.")],
    [("user", "Tell me a long story about a river and a stone.")],
    [("user", "")],
)
STOPS = ((), (".",), (" the",), ("sea", "wave"), ("Light",), ("o",), (" and of",))


def _varied_sampling(rng: random.Random, base: Sampling) -> Sampling:
    """One request's settings: each parameter left at its default or drawn, sometimes out of range."""
    def pick(default: Any, *choices: Any) -> Any:
        return default if rng.random() < 0.35 else rng.choice(choices)

    return replace(
        base,
        temperature=pick(base.temperature, 0.0, 0.2, 0.7, 1.0, 1.5, 2.0, 1e-6, 50.0, 1e308),
        top_p=pick(base.top_p, 0.05, 0.3, 0.9, 1.0, 0.0),
        min_p=pick(base.min_p, 0.0, 0.05, 0.3, 0.9, 1.0, 1.5),
        presence_penalty=pick(base.presence_penalty, -2.0, -0.5, 0.5, 2.0, 1e12, float("-inf")),
        frequency_penalty=pick(base.frequency_penalty, -2.0, -0.3, 0.4, 2.0, -1e12),
        repetition_penalty=pick(base.repetition_penalty, 0.5, 1.0, 1.3, 2.0, 0.0, 1e300),
        max_tokens=rng.choice((1, 2, 5, 17, 64, 400, 1000)),
        stop=rng.choice(STOPS),
        seed=rng.randrange(-(2**63), 2**63) if rng.random() < 0.2 else rng.randrange(1000),
        thinking=rng.random() < 0.4,
        top_logprobs=rng.choice((0, 0, 1, 3, 5, 20)),
    )


def generator_cases(contract: Contract, count: int = 320) -> list[tuple[bytes, Sampling]]:
    rng = random.Random(20261126)
    base = Sampling.from_parameters({}, contract)
    digests = [digest_prompt(p) for p in PROMPTS]
    cases = [(digests[i % len(digests)], _varied_sampling(rng, base)) for i in range(count)]
    # Past max_tokens, only the hard cap ends a generation whose penalties outweigh END.
    runaway = replace(base, max_tokens=10**6, presence_penalty=-1e12, repetition_penalty=0.0, seed=1)
    return cases + [(digests[0], runaway), (digests[1], replace(runaway, temperature=0.0, top_logprobs=2))]


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def generator_hashes(contract: Contract) -> list[str]:
    return [_digest(generate(digest, sampling)) for digest, sampling in generator_cases(contract)]


def forced_hashes() -> list[str]:
    texts = ('{"name":"Ada","age":36}', "[1, 2.5, true, null]", '{"a": {"b": ["sea wave"]}}', "")
    return [_digest(forced_tokens(t, k)) for t in texts for k in (0, 1, 4)]


def _app_bodies(contract: Contract) -> list[dict[str, Any]]:
    """Chat requests through the reference app: tools, structured output, logprobs, thinking, streams."""
    from tests.server.bodies import CHAT, SCHEMAS, json_format, tool_choice, tools

    bodies: list[dict[str, Any]] = []
    for seed in range(6):
        for thinking in (False, True):
            common = {"model": contract.model, "seed": seed, "enable_thinking": thinking,
                      "messages": [{"role": "user", "content": f"What is the weather in city {seed}?"}]}
            bodies.append({**common, "tools": tools(CHAT, "get_weather", "search_catalog"),
                           "tool_choice": tool_choice(CHAT, ("auto", "required")[seed % 2])})
            bodies.append({**common, **json_format(CHAT, SCHEMAS["person" if seed % 2 else "order"]),
                           "logprobs": True, "top_logprobs": seed % 4})
            bodies.append({**common, "temperature": 0.8, "top_p": 0.9, "logprobs": True, "top_logprobs": 2,
                           "stop": [" the"], "stream": bool(seed % 2),
                           "stream_options": {"include_usage": True} if seed % 2 else None})
    return [{k: v for k, v in b.items() if v is not None} for b in bodies]


def _normalised(response: httpx.Response) -> Any:
    """The response without what legitimately differs per call (ids, timestamps)."""
    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in ("id", "created", "system_fingerprint")}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    if response.headers.get("content-type", "").startswith("text/event-stream"):
        lines = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
        return [scrub(json.loads(p)) if p != "[DONE]" else p for p in lines]
    return scrub(response.json())


def app_hashes(contract: Contract) -> list[str]:
    app = create_app(contract)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ref") as client:
            return [await client.post("/v1/chat/completions", json=b) for b in _app_bodies(contract)]

    responses = asyncio.run(go())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    return [_digest(_normalised(r)) for r in responses]


def all_hashes(contract: Contract) -> dict[str, list[str]]:
    return {"generate": generator_hashes(contract), "forced": forced_hashes(), "app": app_hashes(contract)}


@pytest.mark.parametrize("group", ["generate", "forced", "app"])
def test_outputs_match_the_recorded_golden_hashes(contract, group):
    got = {"generate": generator_hashes, "forced": lambda _: forced_hashes(), "app": app_hashes}[group](contract)
    want = GOLDEN[group]
    assert len(got) == len(want)
    changed = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not changed, f"{len(changed)} {group} cases changed, first: {changed[:10]}"


def test_cases_are_varied(contract):
    cases = generator_cases(contract)
    outcomes = {generate(d, s).finish_reason for d, s in cases}
    assert outcomes == {"stop", "length", "stop_sequence"}
    assert any(s.thinking for _, s in cases) and any(s.top_logprobs for _, s in cases)
    assert any(s.temperature == 0 for _, s in cases)


GOLDEN: dict[str, list[str]] = {'app': ['0d65d4188f0e962e', '064b16c525ec1bb0', 'c4cbdd2fb5ee1ce1', '6f279ddde87415ee', '1ab27d20a4aa655d',
         'ae9f7519752c6de3', 'a5f4ee5919fdc61d', '65d9cb24dc79c162', 'df5798f1309e9ccf', '940c8ab12a7fb87d',
         '029130fd4c5ee29d', '073ce9b4f73957e5', 'be08715a227f196f', '35fc8e5f4d5f4d54', '37acc96dc0935217',
         '6703bfa0c884513f', '47933addd917ec04', '63dc20c2c09f9fc3', 'a5ca253bd7efe389', 'd46f2effe9f08b16',
         '6cc3be35d90f81c5', '809284bca449e60a', '673545e320248783', 'a048f5ea9c9db8b7', '343cfc91aa6a72bd',
         '2b52b14bdd337550', 'dc4cc8400b08d1f6', 'b8e094ebcb30c57d', '4bb4f4d4fcdae4e2', '6a3e0c98115ca18b',
         '3caacaa25c1bd209', '8a085169eeda4707', '834c945c8fc21b02', 'efaa3e5acf2371cb', 'cdb755efd6e1663c',
         'edc6cec10e502dbb'],
 'forced': ['917a04ae7be20d5e', 'fe56a5a9d99cb266', 'a58392e671115b7d', '0d88ef682abc5142',
            'a8d588e2c51e9ab0', '332abe0fb3d7480b', '25b64017fdef2687', '1528bc7105f86f06',
            'dd7864ea1528fa30', '2e38e77b22c314a4', '2e38e77b22c314a4', '2e38e77b22c314a4'],
 'generate': ['dae444a41a99fdb5', 'b142bd09f63e2f30', '78f52f0d15b3290f', 'e7d03e48fadcb634',
              '39ca4b23330fe47f', '96c3ef55cc2f5590', '1cb3741db32d5b4a', 'b721cd6211d8f4e1',
              '626d53972aec70b8', '0e72caacb81a222b', '12fb8b76a6ea0455', '85031e830a73221f',
              'a6fbfe7470ea54da', '83ce693342f77302', 'e17ba7189f26d705', '7869358f1baadce3',
              'b1c6c841644863b1', '5289ccdfba892ac2', '1e5d51b61469af9c', '6dcc74f83abad934',
              '48572861b35e5c9d', '01eca5206ef29e62', '7fc4269f06c4ba06', 'fd6dfaa4f1063602',
              '918dbf3b77853f9b', 'b5a47df9732e1559', 'ad61f24508d1f4ba', '082c70f709d645eb',
              '0bbbdc57d9e80293', 'ed560195e93782d5', 'b8c433ba8071948e', 'db6760f03df064bf',
              '323f70da9ddf22b9', 'b78c74bbceb95ac6', '8e7febe5e7a63bce', '4b5e6ccc590f8261',
              'b89e1bccd10f9478', 'a77d888e1edb9b84', '2b449754f55aa0bc', '20da7909e8580cb4',
              '88c6907e6024db36', 'c7743cca076a2344', '33c7f3c5515404c4', '2dc43d925b5f7876',
              'b37c340e910dceaa', '470f2627d73de274', 'c643fe84e835e894', '9c9a972904035328',
              '270d288b1ab22026', 'c10a5456cafb5a69', '3ca832dd41cd2d06', '0bf1db27dce22914',
              '6e86a9e0f69d67e1', '3de2ff70aefbb358', '3190bd54c93e6340', '4e703bda05fa9f26',
              '64e725a4608282f2', 'afbbec40a87e0f2b', 'a701819c99e7fdd6', 'a7957faab2ff3754',
              'c1f00da423693ebc', '470f2627d73de274', 'ccb1f991df4f5dc1', 'f2e1ed84b9f7261a',
              '1bffcf7ad4bf98ce', '0399eadb94f50336', '79f21ab03c0a6fc2', '635b8269c9cdc995',
              'ff8c493db54960e2', 'a97d614c53510301', 'dbda4c40230b3f78', 'be434ac8a6f9c3cf',
              'ede98084e9624608', '0a3646deb113638a', '40edd1ecc81f4f05', '68970d43d72779fa',
              '65a2564ebbbfaf19', 'd9e14abcdcd7638c', '540aa17a1f87ce9e', '0e420418e25e0987',
              '1dbe0904e8bac32b', '165af923915ce815', '18aa99645ce7c069', '55302fed2a69bdbb',
              '9e4014fa46a2a175', '2b6da875e521ff26', '6f5cfdbd73d0b14f', 'bfb6021451ccef40',
              'fb8093799fe450f6', '93d1fc3ae3621b0a', 'dccb80668f7a55d8', '0d672e8ff3bcb35d',
              'eb167e88013d2f66', 'bf24c5a419290968', 'b364712ed3c33982', 'ff54d28251b50079',
              'd1c125c88dbc8579', 'fe03824d48e0f3f0', 'cd25e574ed7b02b2', 'aae7dc92520a33c2',
              '1e30efd23bf82437', '331cdc090a30c5bc', '97ced5465f30e9e6', '3d70e379a96abe33',
              'd0e230e283e59119', 'de001dedcaa4b417', '52824b3819aade6a', 'd3a8bb0659c5f03b',
              'b00345f6ab46996a', '298306d4ed230465', '47213c5f25d7c089', '0702ab859ec581d5',
              '16ca80a8de716424', '0a4378b159729491', 'e241f7667f7643d0', '6fe2f01d10f72f7f',
              'acfc414019b1238f', 'b1fe4ca7a990062f', '3b41b8b2e77f4dfe', '6e06169ecad800f5',
              '7c15f4f1ab2217f8', '0d6061d658f34444', '21fe24e37693536e', 'e6d0484a73202c1c',
              '85091a639a1e6835', '815481a52cb2cea3', 'a1932300336b3c62', 'cb656fb2d972cb01',
              '4b335526718e3338', 'c1bd9ac87d1619b8', '43d53d4f726f26f9', '98798939ad98a2cb',
              '5e44e3d8ecca82e8', 'a8899460f8e12ed3', '55d814afc9462bba', '82fea375d1cd450a',
              'bc915cdcc18c6930', '9d8030963b2dc93e', 'd7798cef9dbce36f', 'd1e792c034387ef9',
              'd78e36cb0c3a2350', '5a634c431ab96497', '424619ba45d83794', '8b84990f3bf058cf',
              '0eb666d960adf238', '5471fc03a3cc2c99', '8e3750c6852c94de', '1b5dbd0cefeca847',
              '5a046e4ad9862a59', '0cd96b35e9d7485e', '987225fd45c79927', '6deb1af76d1875f4',
              '4cc075d68598a248', 'dbfa6843b2d50342', '231dbaf45b851c29', '1a11bbb9314f97df',
              'e5ac88f08e19599b', '90e75d49e672d0c3', 'd3a7c24104fb93a7', 'f40914c74c15f397',
              '6b88e8a5f1ee3e82', '94c753250fd0a5b2', '4dbd280ed12e8021', '7869358f1baadce3',
              '9c0722c0c32a3259', 'acc560507da4f990', 'b48821c0477476a2', '678eac8629c8470a',
              '98038b8773f773aa', '35b96d82803f44c6', '490f44399c600ef6', '32afb8ad1fb47d3a',
              'fffa6b2910eff36a', '1d0558bc49761e0c', '311b0b2272b3599d', 'b26152a23a02d110',
              '83d3f6859ac9d0fa', 'a9d0b182141f1c97', 'dfcc15e369ed7dd7', '0808f0b3cb42ce51',
              'd589418edd8e35f0', '9990f45497a334c2', '41157b75819a10df', '5f99912f7aece493',
              'f64309d9f6c18ab0', '304a7b74876e3aff', '815a4daaed233eff', '8095ac480ff56052',
              '794f3f62f087007d', '49ac85e2abce6ace', '04442b8f9b219f67', '708559c075d6de69',
              '47277653ff5da486', 'b708171d11d0fc7b', '022933fb25750551', '2410f815ff38918d',
              'd38f4c72cf3ceef0', '4bd6792b325d3399', 'f91f0f23df376567', 'ab966c866c24bb77',
              '4943461652dbc943', '69981d592f96297a', 'e70a8018dc2a05c9', 'f6294ea55fa6fabe',
              '527ba35f097f7986', '70b0624a43406abe', 'e154defbfbabef59', 'e9947bd3b13f78ce',
              'a77474c1184dd492', '2d8d5d23c8edde0b', 'a4fbe6c366c0eab2', '4b5e6ccc590f8261',
              'd6e282475b8fdd84', 'fa186b27b7c070c8', '7167b8067229237f', '54decb55c8cb7405',
              'eb167e88013d2f66', '021158de59ff7530', 'd3a564af1fc35842', '825442ae9675434e',
              '2eb948aea1acb5e8', '720cefa75d020643', '64559c9fb78f75f1', '39018a0a2e785211',
              '302454c2619050d7', 'e7cc69b534dfe4bc', '89cd03d2b2b92d5e', 'da0c49a1f81077c8',
              '3ebd8bf8419ed6ab', '31796b916ebef2d8', '671b15634694825b', '1b75be0407dcc29e',
              'c306a62a2de8287c', '021158de59ff7530', '5670b20f9c9ea4c3', 'd1c4f439821073c7',
              'c351d8ba13e53181', 'f9b47d7ff38904a8', 'a331fd68cff0c230', '9cf2ae0b268f217c',
              'eeb2a49e92d2cd74', '3d5f6665dfc1d292', 'f334c19677841b1d', '88d4b8df8648fe02',
              '9115d38dd4a9324c', 'e5c609f9d3dd2951', '87f7a4112b954fdd', 'b64db0c35e3348c8',
              'eca860a2a53468c5', 'cea937f994cf28a1', '10f21b95c70df4c5', '558de84ddc0cc345',
              'a158e3767a03ddd2', '443a6e518f8fee5d', '508ce056b85a23f5', '852c98155642e598',
              'c7a493db6c9f01b9', 'd91cc438053a4789', '6ee8c3abd74ac046', '5599ed7680e6d6e1',
              '8f98418ebf5f1577', 'f7a505613277e011', '44e3929e282c1cec', '4c2a2c73b3fa12ca',
              'fdf6265953ec3d4b', 'fdf6ec354c59595e', '6d00c77772eb70d9', 'b9e3422165835146',
              'a315a03d6501cd04', '9ef236547b820fa0', 'b200fb3e1b78c4b9', '9acd4991803f42b7',
              'fc833100ed94c6d8', '685293f05e77a9b4', 'afecb8a701b28ea7', 'b8812d8c5a0dbb81',
              '6370f83a390c8920', '1ae2afc3fe2102ba', 'e17ba7189f26d705', '4aaf3bb740e9db7d',
              'ed53184a10b9dd19', '476e589df60b823e', 'abec4576c555a4ac', 'b2a189204cab3b1c',
              'e835f6bc73a1535d', 'f02859cfb215ee39', 'c2084b430005aaaa', '9cf2ae0b268f217c',
              'a43feb4b2e3aec56', '43e74ae997ddcef8', '99f2286026419ee5', '696ff9288ed09e54',
              '7287f3728cb02fc2', 'baa9c23970f84ffc', '14f9204d56813124', '7f8173fb8ed93a09',
              '2810b78f56ca25ef', '44d7d9bde5e6d74c', '44e3929e282c1cec', 'aae7dc92520a33c2',
              'd0f4a61b528be087', 'b142bd09f63e2f30', '2af200300d012e51', '1fcc115ba4367bec',
              'cb2c01e1ebec5dfe', '7eacdc5ae6e66f97', '65b1d5e2227dea02', '4fd4ceb5b9815c28',
              '30e5c1820bea2445', '61528435a0f5d5e2', 'c97173aa4002589c', 'a03574ec87fd30df',
              'e1d6e836fb226b8f', 'daea4cde9f75684f', '32316218a76efb18', '8c394ef6e5a36f5e',
              'd805933414c3a5c1', '67a185a41ecfafdc', '12c5091cc65c5f4a', 'e978060f328a394b',
              'abf56e025462b521', 'caa4a2b3ecb2710b']}


if __name__ == "__main__":
    import pprint
    pprint.pprint(all_hashes(load_contract(DEFAULT_CONTRACT)), width=110, compact=True)
