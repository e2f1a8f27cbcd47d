"""Benchmark reports: report.json, report.md and a self-contained report.html with SVG plots.

All three are rendered from the one report dict `runner.analyse` computes from the raw
samples; nothing here measures or recomputes a figure.
"""
from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from conformance.bench import svg
from conformance.report.atomic import write_atomic
from conformance.secrets import redact

LATENCY_ROWS = (("ttft_ms", "TTFT (ms)"), ("ttfc_ms", "TTFC (ms)"), ("itl_ms", "ITL (ms)"),
                ("chunk_gap_ms", "chunk gap (ms)"), ("tpot_ms", "TPOT (ms)"), ("e2e_ms", "E2E (ms)"),
                ("tokens_per_s", "output tokens/s per request"), ("schedule_lag_ms", "schedule lag (ms)"),
                ("output_tokens", "output tokens"), ("input_tokens", "input tokens"))
STAT_COLS = ("count", "mean", "stdev", "min", "p50", "p90", "p95", "p99", "max")


def _n(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "–"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.1f}"
        return f"{v:.{digits}g}" if a < 1 else f"{v:.2f}"
    return str(v)


def _load(values: Any) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def _m(step: dict[str, Any], metric: str, stat: str) -> Any:
    return (step["metrics"].get(metric) or {}).get(stat)


def _header(report: dict[str, Any]) -> tuple[str, list[str]]:
    run = report["run"]
    sc, tgt, cl = run["scenario"], run["target"], run["client"]
    title = f"Benchmark {sc['name']}"
    facts = [
        f"target: {tgt['kind']} {tgt['base_url']}" + (f" (latency model {tgt['latency']})" if tgt.get("latency") else ""),
        f"model: {tgt.get('model')}",
        f"started: {run['started']}",
        f"scenario: {sc.get('source') or sc['name']} — {sc.get('description', '')}",
        f"requests: endpoints {', '.join(sc['endpoints'])}; {'stream' if sc['stream'] else 'no stream'}; "
        f"prompt tokens {sc['request']['prompt_tokens']}; output tokens {sc['request']['output_tokens']}; "
        f"thinking {sc['request']['thinking']}; tools {sc['request']['tools']}; images {sc['request']['images']}",
        f"load: {sc['load']['pattern']} {', '.join(f'{v:g}' for v in sc['load']['values'])}; "
        f"{sc['load']['duration_s']:g} s per step; warm-up {sc['load']['warmup_s']:g} s / "
        f"{sc['load']['warmup_requests']} requests; cap {sc['load']['max_requests']} requests",
        f"SLOs for goodput: {', '.join(f'{k} ≤ {v:g}' for k, v in sc['slo'].items()) or 'none'} "
        f"(from {sc['slo_source']})",
        f"client: {cl['engine']}, {cl['workers']} worker process(es), uvloop {cl['uvloop']}, kernel receive "
        f"timestamps {cl.get('kernel_timestamps')}, Python {cl['python']}, {cl['cpus']} CPUs, load average "
        f"{_load(cl.get('loadavg_at_start'))} at start, {_load(cl.get('loadavg_at_end'))} at end",
        f"raw samples: {report['samples']}",
    ]
    memory = _memory_fact(run.get("memory") or {})
    if memory:
        facts.append(memory)
    return title, facts


def _memory_fact(memory: dict[str, Any]) -> str:
    parts = [f"{label} {_n(p['start_mib'])} → peak {_n(p['peak_mib'])} → end {_n(p['end_mib'])}"
             for label, p in memory.get("processes", {}).items() if p.get("start_mib") is not None]
    return f"client RSS (MiB, start → peak → end): {'; '.join(parts)}" if parts else ""


def summary_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["step", "valid", "ok/failed", "req/s", "out tok/s", "goodput req/s (fraction)", "TTFT p50/p99",
            "TTFC p50", "ITL p50/p99", "TPOT p50", "E2E p50/p99", "lag p99", "errors"]
    rows = []
    for s in report["steps"]:
        rq, th, gp = s["requests"], s["throughput"], s["goodput"]
        rows.append([
            s["label"], "yes" if s["valid"] else "**NO**", f"{rq['ok']}/{rq['failed']}",
            _n(th["request_per_s"]), _n(th["output_tokens_per_s"]),
            f"{_n(gp['request_per_s'])} ({_n(gp['fraction'])})",
            f"{_n(_m(s, 'ttft_ms', 'p50'))} / {_n(_m(s, 'ttft_ms', 'p99'))}", _n(_m(s, "ttfc_ms", "p50")),
            f"{_n(_m(s, 'itl_ms', 'p50'))} / {_n(_m(s, 'itl_ms', 'p99'))}", _n(_m(s, "tpot_ms", "p50")),
            f"{_n(_m(s, 'e2e_ms', 'p50'))} / {_n(_m(s, 'e2e_ms', 'p99'))}", _n(_m(s, "schedule_lag_ms", "p99")),
            ", ".join(f"{k} {v}" for k, v in s["errors"]["by_kind"].items()) or "none",
        ])
    return head, rows


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _stat_rows(step: dict[str, Any]) -> list[list[str]]:
    return [[label] + [_n(step["metrics"][key].get(c)) for c in STAT_COLS] for key, label in LATENCY_ROWS]


def _baseline_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    cmp = report.get("baseline") or {}
    head = ["step", "metric", "baseline", "current", "change", "limit", "verdict"]
    rows = []
    for row in cmp.get("rows", []):
        rows.append([row["step"], row["metric"], _n(row["baseline"]), _n(row["current"]),
                     f"{row['change']:+.1%}" if row.get("change") is not None else "–", _n(row["limit"]),
                     row["verdict"]])
    return head, rows


def render_markdown(report: dict[str, Any]) -> str:
    title, facts = _header(report)
    out = [f"# {title}", ""]
    out.append("**VALID**" if report["valid"] else "**INVALID — the figures below cannot be trusted as they stand:**")
    for s in report["steps"]:
        for reason in s["invalid_reasons"]:
            out.append(f"- step {s['index'] + 1} ({s['label']}): {reason}")
    out.append("")
    out += [f"- {f}" for f in facts]
    out += ["", "## Summary", "", _md_table(*summary_rows(report)), ""]
    if report.get("baseline"):
        b = report["baseline"]
        out += [f"## Baseline: {b['file']}", "",
                f"{len(b['regressions'])} regression(s)" + (": exit code 1" if b["regressions"] else ""), "",
                _md_table(*_baseline_rows(report)), ""]
    for s in report["steps"]:
        w = s["window"]
        out += [f"## Step {s['index'] + 1}: {s['label']}", "",
                f"Steady-state window {w['start_s']:.2f}–{w['end_s']:.2f} s ({w['seconds']:.2f} s); "
                f"{s['requests']['measured']} measured requests, {s['requests']['warmup']} warm-up; "
                f"send rate {_n(s['throughput']['send_rate_per_s'])}/s"
                + (f" (target {s['throughput']['target_rate_per_s']:g}/s)" if s['throughput']['target_rate_per_s'] else "")
                + f"; tokens {s['tokens']['output']} out, {s['tokens']['input']} in, {s['tokens']['reasoning']} "
                f"reasoning (source: {', '.join(f'{k} {v}' for k, v in s['tokens']['source'].items()) or '–'}); "
                f"error rate {s['errors']['rate']:.2%}.", "",
                _md_table(["metric"] + list(STAT_COLS), _stat_rows(s)), ""]
    out += ["Definitions of every figure: README.md, section Benchmarks.", ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- HTML


def charts(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(caption, svg) for every plot of the report."""
    steps = report["steps"]
    out: list[tuple[str, str]] = []
    for key, label in (("ttft_ms", "TTFT"), ("ttfc_ms", "TTFC"), ("itl_ms", "ITL"), ("tpot_ms", "TPOT"),
                       ("e2e_ms", "E2E latency")):
        series = [svg.Series(s["label"], [(v, q) for v, q in s["cdf"].get(key, [])]) for s in steps]
        if any(se.points for se in series):
            values = [v for se in series for v, _ in se.points]
            # a log axis only where the values span more than a decade (tails); else linear, with ticks
            positive = all(v > 0 for v in values) and max(values) > 10 * min(values)
            out.append((f"{label} CDF", svg.render(svg.Chart(f"{label}: cumulative distribution", f"{label} (ms)"
                                                             + (", log scale" if positive else ""),
                                                             "percent of requests" if key != "itl_ms" else "percent of tokens",
                                                             series, x_log=positive))))
    pattern = steps[0]["pattern"] if steps else "concurrency"
    x_label = "concurrency" if pattern == "concurrency" else "target rate (requests/s)"
    xs = [s["value"] for s in steps]
    ttft = [svg.Series(f"TTFT {p}", [(x, _m(s, "ttft_ms", p)) for x, s in zip(xs, steps)], markers=True)
            for p in ("p50", "p90", "p99")]
    ttft.append(svg.Series("E2E p50", [(x, _m(s, "e2e_ms", "p50")) for x, s in zip(xs, steps)], dashed=True,
                           markers=True))
    out.append(("TTFT against load", svg.render(svg.Chart(f"Latency against {x_label}", x_label, "ms", ttft))))
    tput = [svg.Series("requests/s", [(x, s["throughput"]["request_per_s"]) for x, s in zip(xs, steps)], markers=True),
            svg.Series("goodput requests/s", [(x, s["goodput"]["request_per_s"]) for x, s in zip(xs, steps)],
                       dashed=True, markers=True)]
    if pattern != "concurrency":
        tput.append(svg.Series("sent/s", [(x, s["throughput"]["send_rate_per_s"]) for x, s in zip(xs, steps)],
                               dashed=True, markers=True))
    out.append(("Throughput against load", svg.render(svg.Chart(f"Request throughput against {x_label}", x_label,
                                                                "requests/s", tput))))
    toks = [svg.Series("output tokens/s", [(x, s["throughput"]["output_tokens_per_s"]) for x, s in zip(xs, steps)],
                       markers=True)]
    out.append(("Token throughput against load", svg.render(svg.Chart(f"Output token throughput against {x_label}",
                                                                      x_label, "tokens/s", toks))))
    tl = report.get("timeline")
    if tl:
        w = tl["bin_s"]
        t = [i * w + w / 2 for i in range(len(tl["done_per_s"]))]
        spans = [(s["window"][0], s["window"][1], s["label"]) for s in tl["steps"]]
        series = [svg.Series("completed/s", list(zip(t, tl["done_per_s"]))),
                  svg.Series("errors/s", list(zip(t, tl["errors_per_s"]))),
                  svg.Series("sent/s", list(zip(t, tl["sent_per_s"])), dashed=True)]
        out.append(("Timeline", svg.render(svg.Chart("Timeline: requests (shaded: steady-state windows)",
                                                     "time since start (s)", "requests/s", series, spans))))
        lat = [svg.Series("mean TTFT of requests whose first token came in this bin",
                          [(x, y) for x, y in zip(t, tl["ttft_mean_ms"]) if y is not None])]
        out.append(("Timeline TTFT", svg.render(svg.Chart("Timeline: TTFT", "time since start (s)", "ms", lat, spans))))
        tok = [svg.Series("output tokens/s", list(zip(t, tl["tokens_per_s"])))]
        out.append(("Timeline tokens", svg.render(svg.Chart("Timeline: output tokens", "time since start (s)",
                                                            "tokens/s", tok, spans))))
    rss = [svg.Series(label, [tuple(p) for p in proc["samples"]])
           for label, proc in ((report["run"].get("memory") or {}).get("processes") or {}).items() if proc["samples"]]
    if rss:
        out.append(("Client memory", svg.render(svg.Chart("Client resident memory (RSS)", "time since start (s)",
                                                          "MiB", rss))))
    return out


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c).replace('**', '')}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    title, facts = _header(report)
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title><style>",
             "body{font:14px/1.4 sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:8px 0}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f4f4f4}"
             "td:first-child,th:first-child{text-align:left}.bad{background:#fdd;padding:8px;border:1px solid #c00}"
             ".ok{background:#dfd;padding:8px;border:1px solid #080}figure{display:inline-block;margin:0}",
             svg.STYLE, "</style></head><body>", f"<h1>{escape(title)}</h1>"]
    if report["valid"]:
        parts.append('<p class="ok">VALID: the client kept to its schedule in every step.</p>')
    else:
        reasons = "".join(f"<li>step {s['index'] + 1} ({escape(s['label'])}): {escape(r)}</li>"
                          for s in report["steps"] for r in s["invalid_reasons"])
        parts.append(f'<div class="bad"><b>INVALID</b>: the figures below cannot be trusted as they stand.'
                     f'<ul>{reasons}</ul></div>')
    parts.append("<ul>" + "".join(f"<li>{escape(f)}</li>" for f in facts) + "</ul>")
    parts += ["<h2>Summary</h2>", _html_table(*summary_rows(report))]
    if report.get("baseline"):
        b = report["baseline"]
        parts += [f"<h2>Baseline: {escape(b['file'])}</h2>",
                  f"<p>{len(b['regressions'])} regression(s)</p>", _html_table(*_baseline_rows(report))]
    parts.append("<h2>Plots</h2>")
    for caption, chart in charts(report):
        parts.append(f"<figure>{chart}</figure>")
    for s in report["steps"]:
        parts += [f"<h2>Step {s['index'] + 1}: {escape(s['label'])}</h2>",
                  f"<p>window {s['window']['start_s']:.2f}–{s['window']['end_s']:.2f} s; errors: "
                  f"{escape(json.dumps(s['errors']['by_kind']))}; token sources: "
                  f"{escape(json.dumps(s['tokens']['source']))}</p>",
                  _html_table(["metric"] + list(STAT_COLS), _stat_rows(s))]
    parts.append("<p>Definitions of every figure: README.md, section Benchmarks.</p></body></html>")
    return "".join(parts)


def terminal_summary(report: dict[str, Any]) -> str:
    lines = [f"{report['run']['scenario']['name']}: {'valid' if report['valid'] else 'INVALID'}"]
    for s in report["steps"]:
        th = s["throughput"]
        lines.append(
            f"  {s['label']:>18}: {_n(th['request_per_s'])} req/s, {_n(th['output_tokens_per_s'])} tok/s, "
            f"TTFT p50 {_n(_m(s, 'ttft_ms', 'p50'))} p99 {_n(_m(s, 'ttft_ms', 'p99'))} ms, "
            f"ITL p50 {_n(_m(s, 'itl_ms', 'p50'))} ms, E2E p50 {_n(_m(s, 'e2e_ms', 'p50'))} ms, "
            f"errors {s['errors']['rate']:.1%}, goodput {_n(s['goodput']['fraction'])}"
            + ("" if s["valid"] else "  [INVALID]"))
    return "\n".join(lines) + "\n"


def write_all(report: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "report.json", out_dir / "report.md", out_dir / "report.html"]
    write_atomic(paths[0], redact(json.dumps(report, indent=1, allow_nan=False, default=_nan_safe)))
    write_atomic(paths[1], redact(render_markdown(report)))
    write_atomic(paths[2], redact(render_html(report)))
    return paths


def _nan_safe(obj: Any) -> Any:
    return None
