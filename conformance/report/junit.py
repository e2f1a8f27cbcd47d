"""junit.xml: the run as JUnit XML, the format GitLab, Jenkins and GitHub test reporters read.

Mapping: failed and xpassed → <failure> (an unexpected pass of a strict expected divergence
fails the run), error → <error>, skipped and xfailed → <skipped> (an expected divergence is
known and accepted, so CI should neither hide it nor count it as broken). Inconclusive (a
sampled check whose interval straddles the required rate or limit) → <skipped type="inconclusive">
with the interval in its message, or <failure type="inconclusive"> when the run was --strict
(`run.settings.strict`), as the exit code counts it. A sampled result's figures (samples, rate,
ci_low, ci_high) are testcase <properties> whatever its status.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from conformance.report._common import (
    count,
    default_message,
    one_line,
    scrub,
    status_of,
    wall_seconds,
)
from conformance.secrets import redact
from conformance.verdicts import Result, RunInfo, Status

# Everything outside the XML 1.0 Char production; a parser rejects the whole file on one of these.
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MESSAGE_ATTR_LIMIT = 500  # CI UIs show the attribute as a one-line title; the body has it all


def xml_safe(text: str) -> str:
    return _ILLEGAL_XML.sub("", redact(text))


def render_junit(info: RunInfo, results: list[Result]) -> str:
    counts = count(results)
    strict = _strict(info)
    failures = counts[Status.FAILED] + counts[Status.XPASSED] + (counts[Status.INCONCLUSIVE] if strict else 0)
    errors = counts[Status.ERROR]
    skipped = counts[Status.SKIPPED] + counts[Status.XFAILED] + (0 if strict else counts[Status.INCONCLUSIVE])
    # Checks may overlap in time, so the suite's time is wall-clock when known.
    elapsed = wall_seconds(info)
    if elapsed is None:
        elapsed = sum(r.duration_ms for r in results) / 1000
    totals = {
        "tests": str(len(results)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": f"{elapsed:.3f}",
    }

    root = ET.Element("testsuites", {"name": "conformance", **totals})
    suite = ET.SubElement(root, "testsuite", {"name": "conformance", **totals})
    if info.started_at:
        suite.set("timestamp", xml_safe(info.started_at))

    props = ET.SubElement(suite, "properties")
    for name, value in _properties(info):
        ET.SubElement(props, "property", {"name": name, "value": xml_safe(value)})

    for r in results:
        suite.append(_testcase(r, strict))

    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return redact('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n")


def _properties(info: RunInfo) -> list[tuple[str, str]]:
    props = [
        ("contract", info.contract),
        ("model", info.model),
        ("target", info.target),
        ("base_url", info.base_url),
    ]
    optional = [
        ("suite_file", info.suite_file),
        ("selection", info.selection),
        ("started_at", info.started_at),
        ("finished_at", info.finished_at),
        ("aborted", info.aborted),
    ]
    props += [(k, v) for k, v in optional if v]
    if info.interrupted:
        props.append(("interrupted", "true"))  # the counts cover only what ran before Ctrl-C
    return [(k, "" if v is None else str(v)) for k, v in props]


def _strict(info: RunInfo) -> bool:
    return bool((info.settings or {}).get("strict"))


def _testcase(r: Result, strict: bool = False) -> ET.Element:
    status = status_of(r)
    name = f"{r.check}[{r.case}]" if r.case else r.check
    case = ET.Element(
        "testcase",
        {
            "classname": xml_safe(r.endpoint),
            "name": xml_safe(name),
            "time": f"{(r.duration_ms or 0) / 1000:.3f}",
        },
    )
    message = default_message(r)
    if r.samples is not None:
        props = ET.SubElement(case, "properties")
        for key in ("samples", "rate", "ci_low", "ci_high"):
            value = getattr(r, key)
            ET.SubElement(props, "property", {"name": key, "value": "" if value is None else f"{value:g}"})
    if status is Status.INCONCLUSIVE:
        title = f"inconclusive: {message}" if message else "inconclusive"
        if strict:
            _outcome(case, "failure", "inconclusive", title + " (--strict)", r)
        else:
            ET.SubElement(case, "skipped", {"message": xml_safe(one_line(title, _MESSAGE_ATTR_LIMIT)),
                                            "type": "inconclusive"})
    elif status is Status.FAILED:
        _outcome(case, "failure", "failed", message, r)
    elif status is Status.XPASSED:
        title = "expected divergence did not occur (strict xfail)"
        if r.message:
            title += f": {r.message}"
        _outcome(case, "failure", "xpassed", title, r)
    elif status is Status.ERROR:
        _outcome(case, "error", "error", message, r)
    elif status is Status.SKIPPED:
        ET.SubElement(case, "skipped", {"message": xml_safe(one_line(message))})
    elif status is Status.XFAILED:
        title = "expected divergence (xfail)"
        if r.message:
            title += f": {r.message}"
        ET.SubElement(case, "skipped", {"message": xml_safe(one_line(title))})
    return case


def _outcome(case: ET.Element, tag: str, kind: str, message: str, r: Result) -> None:
    element = ET.SubElement(
        case,
        tag,
        {"message": xml_safe(one_line(message, _MESSAGE_ATTR_LIMIT)), "type": kind},
    )
    # The body is what a developer reads in the CI test view: full message plus the evidence.
    parts = [message]
    if r.rule:
        parts.append(f"rule: {r.rule}")
    if r.category:
        parts.append(f"category: {r.category}")
    for label, data in (("request", r.request), ("response", r.response)):
        if data is not None:
            parts.append(f"{label}:\n{_dump(data)}")
    element.text = xml_safe("\n\n".join(p for p in parts if p))


def _dump(data: object) -> str:
    if isinstance(data, str):
        return redact(data)
    return json.dumps(scrub(data), indent=2, ensure_ascii=False, default=str)
