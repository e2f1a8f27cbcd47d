"""Each fault breaks exactly the rule it names: compared with a faultless run of the same seed."""
import json

import pytest

from conformance.server.faults import CATALOGUE, FAULTS_HEADER, TAKES_ARGUMENT, Faults

from .conftest import sse_payloads

REQUIRED = {
    "accept_out_of_range", "error_without_param", "invalid_param_status_422", "wrong_object",
    "missing_finish_reason", "bad_usage_total", "stream_wrong_content_type", "stream_no_role",
    "stream_finish_every_chunk", "stream_no_done", "stream_ignore_include_usage", "stream_usage_with_choices",
    "stream_unstable_id", "stream_bad_json",
}


def with_faults(*names: str) -> dict[str, str]:
    return {FAULTS_HEADER: ",".join(names)}


def stable(body: dict) -> dict:
    """A response body without the fields that differ on every request."""
    return {k: v for k, v in body.items() if k not in ("id", "created")}


# --------------------------------------------------------------------------- the catalogue


def test_catalogue_has_every_fault_with_a_description():
    assert REQUIRED <= set(CATALOGUE)
    assert all(isinstance(text, str) and text for text in CATALOGUE.values())


def test_parse():
    faults = Faults.parse(["wrong_object", " accept_out_of_range:temperature ", "accept_out_of_range:top_p", ""])
    assert "wrong_object" in faults and "accept_out_of_range" in faults and "stream_no_done" not in faults
    assert faults.args("accept_out_of_range") == {"temperature", "top_p"}
    assert faults.specs() == ["accept_out_of_range:temperature", "accept_out_of_range:top_p", "wrong_object"]
    assert not Faults() and Faults.from_header(None) == Faults() and Faults.from_header("") == Faults()


def test_parse_errors_name_the_known_faults():
    with pytest.raises(ValueError) as info:
        Faults.parse(["no_such_fault"])
    assert "no_such_fault" in str(info.value) and all(name in str(info.value) for name in CATALOGUE)
    for name in TAKES_ARGUMENT:
        with pytest.raises(ValueError, match="needs an argument"):
            Faults.parse([name])
    with pytest.raises(ValueError, match="takes no argument"):
        Faults.parse(["wrong_object:x"])


def test_union_merges_names_and_arguments():
    a = Faults.parse(["accept_out_of_range:temperature"])
    b = Faults.parse(["accept_out_of_range:seed", "stream_no_done"])
    merged = a | b
    assert merged.names == {"accept_out_of_range", "stream_no_done"}
    assert merged.args("accept_out_of_range") == {"temperature", "seed"}


def test_unknown_fault_in_header_is_a_400(ref):
    r = ref.chat(headers=with_faults("nope"))
    assert r.status_code == 400 and "wrong_object" in r.json()["error"]["message"]


def test_start_up_faults_and_header_faults_add_up(make_ref):
    ref = make_ref(faults=["wrong_object"])
    body = ref.chat(seed=1, headers=with_faults("missing_finish_reason")).json()
    assert body["object"] == "chat.completions" and body["choices"][0]["finish_reason"] is None
    assert ref.chat(seed=1).json()["choices"][0]["finish_reason"] == "stop"  # header faults are per request


# --------------------------------------------------------------------------- validation faults


def test_accept_out_of_range(ref, contract):
    headers = with_faults("accept_out_of_range:temperature")
    r = ref.chat(headers=headers, temperature=2.5, seed=1)
    assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] in ("stop", "length")
    assert ref.chat(headers=headers, top_p=1.5).status_code == 400  # other ranges still checked
    assert ref.chat(headers=headers, temperature="hot").status_code == 400  # types still checked
    # The argument may also be the wire name.
    wire = contract.parameters["max_tokens"].binding("chat_completions").wire_name
    r = ref.chat(headers=with_faults(f"accept_out_of_range:{wire}"), max_tokens=0)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == ""


def test_error_without_param(ref):
    normal = ref.chat(temperature=2.5).json()["error"]
    faulty = ref.chat(temperature=2.5, headers=with_faults("error_without_param"))
    assert faulty.status_code == 400
    error = faulty.json()["error"]
    assert error["param"] is None and "temperature" not in error["message"]
    assert normal["param"] == "temperature"
    assert error["code"] == normal["code"] and error["type"] == normal["type"]


def test_invalid_param_status_422(ref):
    faulty = ref.chat(temperature=2.5, headers=with_faults("invalid_param_status_422"))
    assert faulty.status_code == 422
    assert faulty.json() == ref.chat(temperature=2.5).json()
    assert ref.chat(model="other", headers=with_faults("invalid_param_status_422")).status_code == 404


# --------------------------------------------------------------------------- non-stream faults


@pytest.mark.parametrize("fault, path, value", [
    ("wrong_object", ("object",), "chat.completions"),
    ("missing_finish_reason", ("choices", 0, "finish_reason"), None),
])
def test_non_stream_field_faults(ref, fault, path, value):
    normal = stable(ref.chat(seed=4).json())
    faulty = stable(ref.chat(seed=4, headers=with_faults(fault)).json())
    node = normal
    for key in path[:-1]:
        node = node[key]
    assert node[path[-1]] != value
    node[path[-1]] = value
    assert faulty == normal


def test_bad_usage_total(ref):
    normal = stable(ref.chat(seed=4).json())
    faulty = stable(ref.chat(seed=4, headers=with_faults("bad_usage_total")).json())
    usage = faulty["usage"]
    assert usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]
    faulty["usage"]["total_tokens"] = normal["usage"]["total_tokens"]
    assert faulty == normal
    chunks = stream_chunks_of(ref, "bad_usage_total", stream_options={"include_usage": True})
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]


def test_non_stream_faults_leave_streams_alone(ref):
    normal = stream_chunks_of(ref)
    assert stream_chunks_of(ref, "wrong_object", "missing_finish_reason") == normal


# --------------------------------------------------------------------------- stream faults


def raw_stream(ref, *faults, **fields):
    return ref.chat(seed=6, stream=True, headers=with_faults(*faults) if faults else None, **fields)


def stream_chunks_of(ref, *faults, **fields):
    """Chunks without id/created (they differ per request); asserts the [DONE] terminator."""
    payloads = sse_payloads(raw_stream(ref, *faults, **fields).text)
    assert payloads[-1] == "[DONE]"
    return [stable(json.loads(p)) for p in payloads[:-1]]


def test_stream_wrong_content_type(ref):
    normal, faulty = raw_stream(ref), raw_stream(ref, "stream_wrong_content_type")
    assert normal.headers["content-type"] == "text/event-stream"
    assert faulty.headers["content-type"] == "application/json"
    assert stream_chunks_of(ref, "stream_wrong_content_type") == stream_chunks_of(ref)


def test_stream_no_role(ref):
    normal, faulty = stream_chunks_of(ref), stream_chunks_of(ref, "stream_no_role")
    assert faulty[0]["choices"][0]["delta"] == {"content": ""}
    assert all("role" not in c["choices"][0]["delta"] for c in faulty)
    normal[0]["choices"][0]["delta"].pop("role")
    assert faulty == normal


def test_stream_finish_every_chunk(ref):
    normal, faulty = stream_chunks_of(ref), stream_chunks_of(ref, "stream_finish_every_chunk")
    assert all(c["choices"][0]["finish_reason"] == "stop" for c in faulty)
    for c in normal:
        c["choices"][0]["finish_reason"] = "stop"
    assert faulty == normal


def test_stream_no_done(ref):
    normal = sse_payloads(raw_stream(ref).text)
    faulty = sse_payloads(raw_stream(ref, "stream_no_done").text)
    assert normal[-1] == "[DONE]" and "[DONE]" not in faulty
    assert [stable(json.loads(p)) for p in faulty] == [stable(json.loads(p)) for p in normal[:-1]]


def test_stream_ignore_include_usage(ref):
    options = {"include_usage": True}
    normal = stream_chunks_of(ref, stream_options=options)
    faulty = stream_chunks_of(ref, "stream_ignore_include_usage", stream_options=options)
    assert normal[-1]["choices"] == [] and normal[-1]["usage"]
    assert all(c["choices"] and c["usage"] is None for c in faulty)
    assert faulty == normal[:-1]


def test_stream_usage_with_choices(ref):
    options = {"include_usage": True}
    normal = stream_chunks_of(ref, stream_options=options)
    faulty = stream_chunks_of(ref, "stream_usage_with_choices", stream_options=options)
    assert faulty[-1]["usage"] == normal[-1]["usage"]
    assert faulty[-1]["choices"] == normal[-2]["choices"] and faulty[-1]["choices"][0]["finish_reason"] == "stop"
    faulty[-1]["choices"] = []
    assert faulty == normal


def test_stream_unstable_id(ref):
    normal = [json.loads(p) for p in sse_payloads(raw_stream(ref).text)[:-1]]
    faulty = [json.loads(p) for p in sse_payloads(raw_stream(ref, "stream_unstable_id").text)[:-1]]
    assert len({c["id"] for c in normal}) == 1
    assert len({c["id"] for c in faulty}) == len(faulty)
    assert all(c["id"].startswith("chatcmpl-") for c in faulty)
    assert [stable(c) for c in faulty] == [stable(c) for c in normal]


def test_stream_bad_json(ref):
    normal = sse_payloads(raw_stream(ref).text)
    faulty = sse_payloads(raw_stream(ref, "stream_bad_json").text)
    assert len(faulty) == len(normal) and faulty[-1] == "[DONE]"
    broken = []
    for i, payload in enumerate(faulty[:-1]):
        try:
            assert stable(json.loads(payload)) == stable(json.loads(normal[i]))
        except json.JSONDecodeError:
            broken.append(i)
    assert broken == [1]


def test_accept_out_of_range_answers_extreme_values_normally(ref, contract):
    """With its range check off a parameter may take any value: the answer is a normal 200."""
    extremes = {"number": [-1e308, -5, 0, 5, 1e308, 10**400], "integer": [-(10**30), -1, 0, 10**30]}
    cases = []
    for p in contract.supported_parameters("chat_completions"):
        if p.type not in extremes or (p.minimum is None and p.maximum is None):
            continue
        wire = p.binding("chat_completions").wire_name
        fields = {"max_tokens": 3} if p.name != "max_tokens" else {}
        fields.update({contract.parameters[k].binding("chat_completions").wire_name: v for k, v in p.requires.items()})
        cases += [(wire, {**fields, wire: value}) for value in extremes[p.type]]
    for wire, fields in cases:
        r = ref.chat(headers=with_faults(f"accept_out_of_range:{wire}"), **fields)
        assert r.status_code == 200, (fields, r.text)
        assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")


def test_all_ranges_off_with_runaway_penalties_still_ends(ref):
    headers = with_faults("accept_out_of_range:frequency_penalty", "accept_out_of_range:max_tokens")
    r = ref.chat(headers=headers, seed=1, frequency_penalty=-1e300, max_tokens=10**12, enable_thinking=False)
    assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] == "length"
