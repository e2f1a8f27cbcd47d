"""The repository's fixtures (tools, JSON schemas, images) as the typed values checks send."""
from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

from conformance.protocols.base import ImagePart, ToolDef

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
               ".gif": "image/gif"}


@cache
def tool(name: str) -> ToolDef:
    """A tool from fixtures/tools/NAME.json (chat shape, the seed's "OpenAI-compatible" definition)."""
    raw = json.loads((FIXTURES_DIR / "tools" / f"{name}.json").read_text())
    function = raw["function"]
    return ToolDef(function["name"], function.get("description", ""), function.get("parameters", {}))


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES_DIR / "schemas" / f"{name}.json").read_text())


def schema_names() -> list[str]:
    return sorted(p.stem for p in (FIXTURES_DIR / "schemas").glob("*.json"))


@cache
def image(filename: str) -> ImagePart:
    path = FIXTURES_DIR / "images" / filename
    return ImagePart(MEDIA_TYPES[path.suffix.lower()], base64.b64encode(path.read_bytes()).decode("ascii"))
