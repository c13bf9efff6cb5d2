"""Build the static site: every page of every language, the matrix data, charts and copied logs.

The site is written into a temporary folder next to `--out` and swapped in when complete, so a
reader (or `xch report serve`) never sees half a site, and a failed build leaves the old one. An
existing `--out` is replaced only if it is empty or an earlier xch site (it holds `.xch-report`).

Everything HTML goes through the Jinja2 templates with autoescape on; the matrix data is JSON in a
.js file with `<`, `>`, `&` and line separators escaped, read by a small script that only ever sets
`textContent` and attributes. Layout (relative links only, so `file://` and any web server work):

    index.html                     -> zh/index.html (the default language)
    assets/style.css matrix.js matrix-data.js
    zh/ and en/: index.html matrix.html products.html platforms.html runs.html certificates.html
                 migration.html digest.html product/*.html platform/*.html run/*.html cert/*.html
    logs/run-<id>/<target>.log.txt
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import InputError
from harness.report import charts, i18n
from harness.report.data import EXPIRING_DAYS, SiteData, counts_by, failed_checks, shift_days
from harness.report.render import Renderer

MARKER = ".xch-report"
STATUS_ORDER = ("compatible", "conditional", "incompatible", "pending")
KIND_ORDER = ("tested", "covered", "declared", "external")
LOG_LIMIT = 2 * 1024 * 1024  # bytes of one commands.log copied into the site (head and tail beyond that)
LATEST_RUNS = 20
PARALLEL_MIN_ROWS = 200  # below this many product versions one process is faster than forking workers
_ACTIVE: SiteBuilder | None = None  # the builder forked workers render from (inherited, never pickled)


def _render_part(task: tuple[str, int, int]) -> tuple[int, int, int, dict[str, str]]:
    """In a forked worker: render one share of one language; return what it added to the counters."""
    assert _ACTIVE is not None
    before = (_ACTIVE.result.pages, _ACTIVE.result.bytes, _ACTIVE.result.charts)
    _ACTIVE._language(*task)
    r = _ACTIVE.result
    return r.pages - before[0], r.bytes - before[1], r.charts - before[2], dict(r.chart_lang)


@dataclass
class BuildResult:
    out: Path
    langs: list[str]
    pages: int = 0
    bytes: int = 0
    matrix_bytes: int = 0
    seconds: float = 0.0
    charts: int = 0
    chart_lang: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "langs": self.langs, "pages": self.pages, "bytes": self.bytes,
                "matrix_bytes": self.matrix_bytes, "seconds": round(self.seconds, 3), "charts": self.charts,
                "chart_lang": self.chart_lang, "counts": self.counts}


def js_json(data: Any) -> str:
    """JSON safe inside a script file or element: no `</script>`, no HTML-significant characters."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def matrix_payload(data: SiteData) -> dict[str, Any]:
    """Compact matrix: platform columns, interned reasons, and per row one cell per column (0 = no entry)."""
    plats = list(data.platforms.values())
    col = {p["id"]: i for i, p in enumerate(plats)}
    reasons: dict[str, int] = {}
    rows = []
    for row in data.rows:
        cells: list[Any] = [0] * len(plats)
        for pid, e in row["cells"].items():
            text = "; ".join(e["reasons"])
            if len(text) > 300:
                text = text[:299] + "…"
            r = reasons.setdefault(text, len(reasons)) if text else -1
            cells[col[pid]] = [STATUS_ORDER.index(e["status"]) if e["status"] in STATUS_ORDER else 3,
                               KIND_ORDER.index(e["kind"]) if e["kind"] in KIND_ORDER else 0, r]
        rows.append([row["slug"], row["name"], row["version"], row["vendor"], row["category"], cells])
    return {"statuses": list(STATUS_ORDER), "kinds": list(KIND_ORDER), "reasons": list(reasons),
            "platforms": [{"id": p["id"], "slug": p["slug"], "label": p["label"], "arch": p["arch"],
                           "cpu": p["cpu_label"], "os": p["os_label"], "emulated": p["emulated"],
                           "declared": bool(p["declared_only"])} for p in plats],
            "rows": rows}


def _prepare_out(out: Path) -> Path:
    """A fresh temporary folder beside `out` (same file system: the final rename is atomic)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise InputError(f"--out {out}: the folder is not empty and is not an xch report site "
                         f"(no {MARKER} file); choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))


def _swap_in(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}-{int(time.time())}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _copy_log(src: Path, dst: Path) -> bool:
    """commands.log -> .log.txt (served and opened as plain text, never as HTML); big logs keep head and tail."""
    try:
        size = src.stat().st_size
        dst.parent.mkdir(parents=True, exist_ok=True)
        if size <= LOG_LIMIT:
            shutil.copyfile(src, dst)
            return True
        half = LOG_LIMIT // 2
        with open(src, "rb") as fh:
            head = fh.read(half)
            fh.seek(size - half)
            tail = fh.read()
        dst.write_bytes(head + f"\n\n[... {size - 2 * half} bytes cut / 日志已截断 ...]\n\n".encode() + tail)
        return True
    except OSError:
        return False


class SiteBuilder:
    """Renders one SiteData into a folder."""

    def __init__(self, data: SiteData, migration: dict[str, Any], digest: dict[str, Any], root: Path,
                 langs: list[str], workers: int | None = None) -> None:
        self.data, self.migration, self.digest, self.root, self.langs = data, migration, digest, root, langs
        self.workers = workers if workers is not None else min(8, os.cpu_count() or 1)
        self.renderer = Renderer()
        self.result = BuildResult(out=root, langs=langs)
        self.logs: dict[tuple[int, str], str] = {}  # (run id, target) -> site-relative path of the copied log
        self.certs = {c["cert_no"]: c for c in data.certificates}
        self.emulated = any(p["emulated"] for p in data.platforms.values()) or any(
            t["emulation"] for r in data.runs.values() for t in r["targets"].values())

    # -- output -----------------------------------------------------------------------------------

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = text.encode("utf-8")
        path.write_bytes(payload)
        self.result.pages += rel.endswith(".html")
        self.result.bytes += len(payload)

    def page(self, lang: str, rel: str, template: str, **ctx: Any) -> None:
        depth = rel.count("/") + 1  # pages live under <lang>/
        ctx.update(lang=lang, page=rel, site="../" * depth, up="../" * (depth - 1), emulated_site=self.emulated,
                   generated_at=self.data.generated_at, db=self.data.db, langs=self.langs)
        self.write(f"{lang}/{rel}", self.renderer.render(template, lang, ctx))

    # -- build ------------------------------------------------------------------------------------

    def build(self) -> BuildResult:
        started = time.perf_counter()
        self.write(MARKER, "xch report site; `xch report build` replaces this folder\n")
        self._assets()
        self._logs()
        self._pages()
        first = self.langs[0]
        self.write("index.html", self.renderer.render("redirect.html", first, {"target": f"{first}/index.html",
                                                                                "lang": first}))
        d = self.data
        self.result.counts = {"products": len(d.products), "product_versions": len(d.rows),
                              "platforms": len(d.platforms), "entries": sum(len(r["cells"]) for r in d.rows),
                              "runs": len(d.runs), "certificates": len(d.certificates)}
        self.result.seconds = time.perf_counter() - started
        return self.result

    def _assets(self) -> None:
        static = Path(__file__).parent / "static"
        for name in ("style.css", "matrix.js"):
            self.write(f"assets/{name}", (static / name).read_text(encoding="utf-8"))
        payload = "window.XCH_MATRIX = " + js_json(matrix_payload(self.data)) + ";\n"
        self.write("assets/matrix-data.js", payload)
        self.result.matrix_bytes = len(payload.encode("utf-8"))

    def _logs(self) -> None:
        for run in self.data.runs.values():
            folder = Path(run["source_path"])
            for target, info in run["targets"].items():
                rel = f"logs/{run['slug']}/{info['log_slug']}.log.txt"
                if _copy_log(folder / "logs" / target / "commands.log", self.root / rel):
                    self.logs[(run["id"], target)] = rel

    def _pages(self) -> None:
        """Every language's pages; big sites are split over forked worker processes (pages are independent)."""
        parts = self.workers if len(self.data.rows) >= PARALLEL_MIN_ROWS and self.workers > 1 else 1
        tasks = [(lang, part, parts) for lang in self.langs for part in range(parts)]
        if parts == 1 or "fork" not in multiprocessing.get_all_start_methods():
            for task in tasks:
                self._language(*task)
            return
        global _ACTIVE
        from concurrent.futures import ProcessPoolExecutor

        _ACTIVE = self
        try:
            with ProcessPoolExecutor(max_workers=parts, mp_context=multiprocessing.get_context("fork")) as pool:
                for pages, size, n_charts, chart_lang in pool.map(_render_part, tasks):
                    self.result.pages += pages
                    self.result.bytes += size
                    self.result.charts += n_charts
                    self.result.chart_lang.update(chart_lang)
        finally:
            _ACTIVE = None

    def _language(self, lang: str, part: int = 0, parts: int = 1) -> None:
        """The pages of one language; with parts > 1 only this part's share (every parts-th item)."""
        d = self.data
        mine = lambda items: list(items)[part::parts]  # noqa: E731
        if part == 0:
            self._indexes(lang)
        for product in mine(d.products.values()):
            self.page(lang, f"product/{product['slug']}.html", "product.html", **self._product(product, lang))
        platforms = mine(d.platforms.items())
        by_platform: dict[int, list[dict[str, Any]]] = {pid: [] for pid, _ in platforms}
        for row in d.rows:
            for pid, e in row["cells"].items():
                if pid in by_platform:
                    by_platform[pid].append({"row": row, "e": e})
        for pid, platform in platforms:
            self.page(lang, f"platform/{platform['slug']}.html", "platform.html", platform=platform,
                      items=by_platform[pid], certs=self.certs)
        for run in mine(d.runs.values()):
            self.page(lang, f"run/{run['slug']}.html", "run.html", run=run, checks=d.checks_by_run.get(run["id"], []),
                      logs=self.logs)
        for cert in mine(d.certificates):
            self.page(lang, f"cert/{cert['slug']}.html", "certificate.html", cert=cert)

    def _indexes(self, lang: str) -> None:
        d = self.data
        entries = d.entries
        self.page(lang, "index.html", "overview.html", **self._overview(entries))
        self.page(lang, "matrix.html", "matrix.html", script_strings=i18n.script_strings(lang),
                  total_rows=len(d.rows))
        self.page(lang, "products.html", "products.html", rows=d.rows)
        self.page(lang, "platforms.html", "platforms.html", platforms=list(d.platforms.values()),
                  counts={pid: counts for pid, counts in self._platform_counts().items()})
        self.page(lang, "runs.html", "runs.html", runs=sorted(d.runs.values(), key=lambda r: r["ended_at"],
                                                             reverse=True))
        self.page(lang, "certificates.html", "certificates.html", certificates=d.certificates)
        self.page(lang, "migration.html", "migration.html", migration=self.migration)
        self.page(lang, "digest.html", "digest.html", digest=self.digest, standalone=False)

    def _platform_counts(self) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {pid: {s: 0 for s in STATUS_ORDER} for pid in self.data.platforms}
        for row in self.data.rows:
            for pid, e in row["cells"].items():
                out[pid][e["status"]] = out[pid].get(e["status"], 0) + 1
        return out

    def _overview(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        d = self.data
        soon = shift_days(d.generated_at, EXPIRING_DAYS)
        platform_of = d.platforms
        enriched = [{"status": e["status"], "category": e["category"],
                     "cpu": platform_of[e["platform_id"]]["cpu_label"],
                     "os": platform_of[e["platform_id"]]["os_label"]} for e in entries]
        by_status = {s: 0 for s in STATUS_ORDER}
        for e in entries:
            by_status[e["status"]] = by_status.get(e["status"], 0) + 1
        return {
            "by_status": by_status, "by_category": counts_by(enriched, "category"),
            "by_cpu": counts_by(enriched, "cpu"), "by_os": counts_by(enriched, "os"),
            "expiring": sorted((c for c in d.certificates if c["valid"] and c["expires_at"] <= soon),
                               key=lambda c: (c["expires_at"], c["cert_no"])),
            "expiring_days": EXPIRING_DAYS,
            "latest_runs": sorted(d.runs.values(), key=lambda r: r["ended_at"], reverse=True)[:LATEST_RUNS],
            "totals": {"products": len(d.rows), "platforms": len(d.platforms), "entries": len(entries),
                       "certificates": sum(c["valid"] for c in d.certificates)},
            "statuses": STATUS_ORDER,
        }

    def _product(self, product: dict[str, Any], lang: str) -> dict[str, Any]:
        t = i18n.translator(charts.chart_lang(lang))
        versions = []
        for row in product["versions"]:
            cells = []
            for pid, e in row["cells"].items():
                run_id = self.data.run_by_digest.get(e["digest"] or "")
                source_run = self.data.run_by_digest.get((e["covered_by"] or {}).get("digest") or "")
                run = self.data.runs.get(run_id) if run_id else None
                targets = [name for name, info in run["targets"].items() if info["platform_id"] == pid] if run else []
                cells.append({"e": e, "platform": self.data.platforms[pid], "run": run,
                              "source_run": self.data.runs.get(source_run) if source_run else None,
                              "failed": failed_checks(self.data, e),
                              "logs": [(name, self.logs[(run_id, name)]) for name in targets
                                       if (run_id, name) in self.logs],
                              "cert": self.certs.get(e["certificate"] or "")})
            metrics = self.data.metrics_by_pv.get(row["pv_id"], [])
            svg = None
            if metrics:
                items = [{"label": f"{m['name']} · {m['platform']['arch']} {m['platform']['os_label']}",
                          "ratio": m["ratio"], "ci_low": m["ci_low"], "ci_high": m["ci_high"],
                          "significant": m["significant"], "emulated": m["emulated"]} for m in metrics]
                svg = charts.ratio_chart(items, t("perf_axis"), t("emulated"), charts.chart_lang(lang))
                self.result.charts += 1
                self.result.chart_lang[lang] = charts.chart_lang(lang)
            versions.append({"row": row, "cells": cells, "metrics": metrics, "chart": svg})
        return {"product": product, "versions": versions}


def build_site(data: SiteData, out: Path, langs: list[str], migration: dict[str, Any] | None = None,
               digest: dict[str, Any] | None = None) -> BuildResult:
    """Render everything into a temporary folder, then swap it in for `out`."""
    out = out.resolve()
    tmp = _prepare_out(out)
    try:
        result = SiteBuilder(data, migration or {"scans": [], "assessments": [], "parity": []},
                             digest or {}, tmp, langs).build()
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = out
    return result
