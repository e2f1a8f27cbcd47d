"""Small, dependency-free SVG charts for the HTML report: lines, points, shaded spans.

Each chart is one self-contained ``<svg>`` element (no scripts, no external fonts), so the
report opens anywhere, offline. Axes get "nice" ticks; a log x axis is used for CDF tails.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
W, H = 640, 320
ML, MR, MT, MB = 64, 16, 30, 44


@dataclass
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False
    markers: bool = False


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # shaded x ranges with a label
    y_min: float | None = 0.0
    x_log: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9 and len(ticks) < 50:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10000 or a < 0.01:
        return f"{v:.2g}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return f"{v:.2f}".rstrip("0").rstrip(".")


def render(chart: Chart) -> str:
    pts = [(x, y) for s in chart.series for x, y in s.points
           if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    title = f'<text x="{W / 2}" y="18" text-anchor="middle" class="t">{escape(chart.title)}</text>'
    if not pts:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
                f'role="img">{title}<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data</text></svg>')
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    if chart.x_log:
        xs = [x for x in xs if x > 0] or [1.0]
    x0, x1 = min(xs), max(xs)
    for a, b, _ in chart.spans:
        x0, x1 = min(x0, a), max(x1, b)
    y0 = min(ys) if chart.y_min is None else min(chart.y_min, min(ys))
    y1 = max(ys)
    if y1 <= y0:
        y1 = y0 + (abs(y0) or 1.0)
    y1 += (y1 - y0) * 0.05
    pw, ph = W - ML - MR, H - MT - MB

    if chart.x_log:
        lx0, lx1 = math.log10(x0), math.log10(x1) if x1 > x0 else math.log10(x0) + 1

        def sx(x: float) -> float:
            return ML + (math.log10(max(x, x0)) - lx0) / (lx1 - lx0) * pw
        xticks = [10 ** e for e in range(math.floor(lx0), math.ceil(lx1) + 1) if lx0 - 1e-9 <= e <= lx1 + 1e-9]
    else:
        if x1 <= x0:  # one x value (a single step): centre it
            pad = abs(x0) * 0.5 or 1.0
            x0, x1 = x0 - pad, x1 + pad

        def sx(x: float) -> float:
            return ML + (x - x0) / (x1 - x0) * pw
        xticks = nice_ticks(x0, x1)

    def sy(y: float) -> float:
        return MT + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{escape(chart.title)}">', title]
    for i, (a, b, label) in enumerate(chart.spans):
        xa, xb = sx(a), sx(b)
        out.append(f'<rect x="{xa:.1f}" y="{MT}" width="{max(0.5, xb - xa):.1f}" height="{ph}" '
                   f'fill="{"#e8eef7" if i % 2 == 0 else "#f3f3f3"}"><title>{escape(label)}</title></rect>')
        out.append(f'<text x="{xa + 3:.1f}" y="{MT + ph - 4}" class="s">{escape(label)}</text>')
    for t in nice_ticks(y0, y1):
        y = sy(t)
        if MT - 0.5 <= y <= MT + ph + 0.5:
            out.append(f'<line x1="{ML}" x2="{ML + pw}" y1="{y:.1f}" y2="{y:.1f}" class="g"/>')
            out.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end" class="s">{_fmt(t)}</text>')
    for t in xticks:
        x = sx(t)
        if ML - 0.5 <= x <= ML + pw + 0.5:
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{MT + ph}" y2="{MT + ph + 4}" class="a"/>')
            out.append(f'<text x="{x:.1f}" y="{MT + ph + 16}" text-anchor="middle" class="s">{_fmt(t)}</text>')
    out.append(f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" class="a"/>')
    out.append(f'<text x="{ML + pw / 2}" y="{H - 6}" text-anchor="middle" class="s">{escape(chart.x_label)}</text>')
    out.append(f'<text transform="translate(14,{MT + ph / 2}) rotate(-90)" text-anchor="middle" class="s">'
               f'{escape(chart.y_label)}</text>')
    for i, s in enumerate(chart.series):
        color = PALETTE[i % len(PALETTE)]
        good = [(x, y) for x, y in s.points if x is not None and y is not None and math.isfinite(x)
                and math.isfinite(y) and (not chart.x_log or x > 0)]
        if not good:
            continue
        path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(good))
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.6"{dash}>'
                   f'<title>{escape(s.name)}</title></path>')
        if s.markers or len(good) == 1:
            for x, y in good:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}">'
                           f'<title>{escape(s.name)}: {_fmt(x)}, {_fmt(y)}</title></circle>')
    # legend
    lx, ly = ML + 8, MT + 8
    for i, s in enumerate(chart.series):
        color = PALETTE[i % len(PALETTE)]
        y = ly + 14 * i
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        out.append(f'<line x1="{lx}" x2="{lx + 16}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 20}" y="{y + 4}" class="s">{escape(s.name)}</text>')
    out.append("</svg>")
    return "".join(out)


STYLE = """svg{background:#fff;margin:4px;border:1px solid #ddd}svg .t{font:600 13px sans-serif}
svg .s{font:11px sans-serif;fill:#333}svg .g{stroke:#eee}svg .a{stroke:#888}"""
