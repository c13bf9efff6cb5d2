"""The one place that renders HTML: a Jinja2 environment with autoescape always on.

Every value from a vendor, a product manifest or a target (names, versions, reasons, evidence,
check ids, log text) reaches a page only through `{{ ... }}` and is escaped. The only markup marked
safe is the chart SVG this package draws itself (`harness.report.charts`), whose labels are stored
as glyph paths and whose comments matplotlib escapes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from harness.report import i18n

TEMPLATES = Path(__file__).parent / "templates"


def _date(value: Any) -> str:
    return str(value or "")[:10]


def _stamp(value: Any) -> str:
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def _num(value: Any, digits: int = 2) -> str:
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _suite(value: Any) -> str:
    """A suite given as a path shows as its file name; a suite name stays as it is."""
    text = str(value or "")
    return text.rstrip("/").rsplit("/", 1)[-1] if "/" in text else text


def _evidence(value: Any, limit: int = 4000) -> str:
    """Evidence JSON, pretty and cut to `limit` characters (escaped by the template like anything else)."""
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return str(value)[:limit]
    if not data:
        return ""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "\n…"


def _svg(value: str | None) -> Markup:
    """Chart SVG made by harness.report.charts; anything else is refused."""
    if not value:
        return Markup("")
    if not value.startswith("<svg") or "<script" in value.lower() or "<foreignobject" in value.lower():
        raise ValueError("refusing to inline an SVG that harness.report.charts did not make")
    return Markup(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(date=_date, stamp=_stamp, num=_num, evidence=_evidence, svg=_svg, suite=_suite)
    return env


class Renderer:
    """Renders a template in one language (t / tv helpers bound to it)."""

    def __init__(self) -> None:
        self.env = environment()
        self._helpers = {lang: {"t": i18n.translator(lang), "tv": i18n.value_translator(lang),
                                "other_lang": "en" if lang == "zh" else "zh"} for lang in i18n.LANGS}

    def render(self, template: str, lang: str, ctx: dict[str, Any]) -> str:
        return self.env.get_template(template).render(**self._helpers[lang], **ctx)
