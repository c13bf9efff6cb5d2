"""The compatibility report: a static, self-contained site for managers, in Chinese and English.

Modules, one job each:
- `data`       reads the whitelist database (entries, platforms, runs, checks, metrics, certificates) once;
- `migration`  reads scan / assessment JSON files and parity run folders;
- `digest`     what was certified, failed, expired or changed in a period;
- `charts`     matplotlib (Agg) charts as inline SVG, drawn at build time;
- `i18n`       every user-facing string in zh and en;
- `render`     the Jinja2 environment (autoescape on): the only place that produces HTML;
- `site`       writes every page, the matrix data and copied logs, and swaps the new site in;
- `serve`      `xch report serve`: the folder over HTTP on a loopback port.

    from harness.report import build
    result = build(None, Path("reports/site"), ["zh", "en"])   # $XCH_DB_URL or whitelist/whitelist.db
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.report.site import BuildResult


def build(db_url: str | None, out: Path, langs: list[str], scans: list[Path] = (),  # type: ignore[assignment]
          assessments: list[Path] = (), parity_runs: list[Path] = (),  # type: ignore[assignment]
          now: str | None = None) -> BuildResult:
    """Read the database and the migration inputs, then write the site into `out`."""
    from harness.report import data as datalib
    from harness.report import digest as digestlib
    from harness.report.migration import load_all
    from harness.report.site import build_site
    from harness.whitelist import db

    migration = load_all(list(scans), list(assessments), list(parity_runs))  # bad input fails before any work
    database = db.connect(db_url)
    try:
        with database.read() as conn:
            site_data = datalib.load(conn, database.safe_url(), now)
            since = digestlib.quarter_start(site_data.generated_at)
            period = digestlib.compute(conn, since, digestlib.next_day(site_data.generated_at))
    finally:
        database.dispose()
    return build_site(site_data, out, langs, migration, period)


def period_digest(db_url: str | None, since: str, until: str) -> dict[str, Any]:
    """The digest of [since, until) (ISO timestamps) from the database."""
    from harness.report import digest as digestlib
    from harness.whitelist import db

    database = db.connect(db_url)
    try:
        with database.read() as conn:
            result = digestlib.compute(conn, since, until)
    finally:
        database.dispose()
    result["db"] = database.safe_url()
    return result
