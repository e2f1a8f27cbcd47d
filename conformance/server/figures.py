"""Figures of a long run (fuzz, soak), written as JSON for tools and Markdown for people."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_figures"]


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
    return str(value)


def write_figures(out_dir: Path, name: str, title: str, figures: dict[str, Any]) -> tuple[Path, Path]:
    """`<name>.json` and `<name>.md` in `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    as_json = out_dir / f"{name}.json"
    as_json.write_text(json.dumps(figures, indent=2, sort_keys=False) + "\n")
    lines = [f"# {title}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in figures.items() if not isinstance(value, list)]
    for key, value in figures.items():
        if isinstance(value, list) and value:
            lines += ["", f"## {key}", ""] + [f"- `{item}`" for item in value]
    as_md = out_dir / f"{name}.md"
    as_md.write_text("\n".join(lines) + "\n")
    return as_json, as_md
