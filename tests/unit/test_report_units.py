"""Report units: escaping, the matrix data, charts, i18n completeness, migration inputs, digest, build, serve.

The site tests here run on a small database written by the report benchmark's generator (real
SQLite through the whitelist schema); the lab-built site is tested in tests/integration/test_report_lab.py.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.report import charts, i18n
from harness.report.render import Renderer, _svg
from harness.report.site import js_json

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "benchmarks"))
sys.path.insert(0, str(PROJECT / "tests" / "fixtures"))

XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> str:
    from report_build import make_db

    url = f"sqlite:///{tmp_path_factory.mktemp('rdb') / 'small.db'}"
    make_db(url, 240, 5)  # 240 rows: above the parallel threshold, so the forked path runs
    return url


def test_templates_escape_everything_from_vendors_and_targets():
    page = Renderer().render("run.html", "zh", {
        "lang": "zh", "page": "run/x.html", "site": "../../", "up": "../", "emulated_site": False,
        "generated_at": "2026-01-01T00:00:00Z", "db": XSS, "langs": ["zh", "en"], "logs": {},
        "run": {"id": 1, "run_uid": XSS, "product_slug": "p", "product": XSS, "version": '1"><b>', "vendor": XSS,
                "suite": "/x/<img src=x onerror=alert(2)>", "started_at": "", "ended_at": "", "lab": XSS,
                "organisation": "", "source_path": XSS, "digest": "d", "targets": {}},
        "checks": [{"outcome": "failed", "check_id": XSS, "test_id": XSS, "level": "mandatory", "target": XSS,
                    "reason": XSS, "evidence": json.dumps({"x": XSS}), "duration_s": 1.0}]})
    assert "<script>alert" not in page and "<img src=x" not in page and '1"><b>' not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5


def test_js_json_cannot_close_a_script_or_break_a_js_file():
    text = js_json({"name": "</script><script>alert(1)</script>", "amp": "a&b", "ls": "x\u2028y"})
    assert "</script" not in text and "<" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_slugs_are_safe_file_names_and_unique():
    from harness.report.data import slug

    names = [XSS, "中文产品", "../../etc/passwd", "a b", "a-b", "a/b"]
    slugs = [slug(n, "prod-") for n in names]
    assert len(set(slugs)) == len(names)
    assert all(re.fullmatch(r"prod-[A-Za-z0-9._-]+", s) and ".." not in s for s in slugs)


def test_chart_is_svg_with_hostile_labels_as_text():
    svg = charts.ratio_chart([{"label": XSS + " --> <b>$x$", "ratio": 0.5, "ci_low": 0.4, "ci_high": 0.6,
                               "significant": True, "emulated": True},
                              {"label": "mem", "ratio": 1.2, "ci_low": None, "ci_high": None, "significant": False}],
                             "相对基线比值", "仿真", "zh")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<script" not in svg.lower() and "<b>" not in svg
    assert "&lt;script&gt;" in svg  # the label is there, as escaped text
    assert str(_svg(svg)) == svg
    with pytest.raises(ValueError):
        _svg("<svg><script>alert(1)</script></svg>")


def test_chart_labels_fall_back_to_english_without_a_cjk_font(monkeypatch):
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    assert charts.chart_lang("zh") == "en" and charts.chart_lang("en") == "en"


def test_every_string_is_translated_and_every_template_key_exists():
    assert all(len(pair) == 2 and all(pair) for pair in i18n.STRINGS.values())
    used = set()
    for path in (PROJECT / "harness" / "report" / "templates").glob("*.html"):
        used |= set(re.findall(r'\bt\("([a-z_]+)"', path.read_text()))
    assert used and used <= set(i18n.STRINGS), used - set(i18n.STRINGS)
    zh, en = i18n.translator("zh"), i18n.translator("en")
    assert zh("rows_shown") != en("rows_shown") and i18n.value_translator("zh")("status", "compatible") == "兼容"
    assert i18n.value_translator("en")("status", "unknown-value") == "unknown-value"


@pytest.mark.parametrize("content, expected", [
    ("not json", "not a JSON file"),
    ('{"summary": {}}', "field 'findings' missing"),
    ('{"findings": {}, "summary": {}}', "field 'findings' must be a list"),
    ('{"findings": [{"rule": "r"}], "summary": {}}', "findings[1]: expected an object with rule, severity and file"),
])
def test_bad_scan_file_names_file_and_field(tmp_path, content, expected):
    from harness.report.migration import load_scan

    path = tmp_path / "scan.json"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        load_scan(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_bad_assessment_file_names_the_field(tmp_path):
    from harness.report.migration import load_assessment

    path = tmp_path / "a.json"
    path.write_text(json.dumps({"source": {}, "target": {}, "blockers": [], "warnings": [], "score": True,
                                "ready": False}))
    with pytest.raises(InputError, match="field 'score' must be a number"):
        load_assessment(path)


def test_digest_dates_are_checked():
    from harness.report.digest import next_day, parse_date, quarter_start

    assert parse_date("2026-07-01", "--since") == "2026-07-01T00:00:00Z"
    assert next_day("2026-12-31T00:00:00Z") == "2027-01-01T00:00:00Z"
    assert quarter_start("2026-11-21T07:00:00Z") == "2026-10-01T00:00:00Z"
    for bad in ("2026-13-01", "01.07.2026", "", "2026-02-30"):
        with pytest.raises(InputError, match="--since"):
            parse_date(bad, "--since")


def test_build_small_site_parallel_equals_sequential(small_db, tmp_path):
    from harness.report import data as datalib
    from harness.report.site import SiteBuilder, matrix_payload
    from harness.whitelist import db

    database = db.connect(small_db)
    with database.read() as conn:
        data = datalib.load(conn, "test", "2026-11-21T00:00:00Z")
    database.dispose()
    payload = matrix_payload(data)
    assert len(payload["rows"]) == 240 and len(payload["platforms"]) == 5
    assert all(len(r[5]) == 5 for r in payload["rows"])
    statuses = {payload["statuses"][c[0]] for r in payload["rows"] for c in r[5] if c}
    assert statuses == {"compatible", "conditional", "incompatible", "pending"}

    results = {}
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        root.mkdir()
        results[workers] = SiteBuilder(data, {"scans": [], "assessments": [], "parity": []},
                                       {"since": "2026-10-01T00:00:00Z", "until": "2026-11-22T00:00:00Z",
                                        "counts": dict.fromkeys(("certified", "failed", "expired", "revoked",
                                                                 "changed"), 0),
                                        **{k: [] for k in ("certified", "failed", "expired", "revoked", "changed")}},
                                       root, ["zh", "en"], workers=workers).build()
    one, two = results[1], results[2]
    assert one.pages == two.pages == len(list((tmp_path / "w2").rglob("*.html")))
    assert one.bytes == two.bytes and one.charts == two.charts > 0
    files = sorted(p.relative_to(tmp_path / "w1") for p in (tmp_path / "w1").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "w2") for p in (tmp_path / "w2").rglob("*") if p.is_file())
    product = (tmp_path / "w2" / "zh" / "product" / f"{data.products['prod-00000']['slug']}.html").read_text()
    assert "兼容" in product and "<svg" in product  # the first product has perf metrics (every 20th)


def _report(*args: str):
    import subprocess

    from report_lib import report_cmd

    return subprocess.run(report_cmd("report", *args), cwd=PROJECT, capture_output=True, text=True, timeout=600)


def test_cli_build_digest_and_bad_input(small_db, tmp_path):
    out = tmp_path / "site"
    done = _report("build", "--db", small_db, "--out", str(out), "--lang", "en", "--format", "md")
    assert done.returncode == 0, done.stderr
    assert "| product_versions | 240" in done.stdout.replace("  ", " ") or "product_versions" in done.stdout
    assert (out / "en" / "matrix.html").exists() and not (out / "zh").exists() and (out / ".xch-report").exists()
    again = _report("build", "--db", small_db, "--out", str(out), "--lang", "zh")
    assert again.returncode == 0 and (out / "zh").exists() and not (out / "en").exists()  # replaced whole

    foreign = tmp_path / "not-a-site"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    refused = _report("build", "--db", small_db, "--out", str(foreign))
    assert refused.returncode == 2 and "not an xch report site" in refused.stderr
    assert (foreign / "precious.txt").read_text() == "keep me"
    bad_lang = _report("build", "--db", small_db, "--out", str(out), "--lang", "fr")
    assert bad_lang.returncode == 2 and "--lang 'fr'" in bad_lang.stderr
    missing = _report("build", "--db", small_db, "--out", str(out), "--scan", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "none.json: no such file" in missing.stderr

    # benchmark certificates expire 2026-11-01 .. 2026-12-28: November's are in this period
    md = _report("digest", "--db", small_db, "--since", "2026-11-01", "--until", "2026-11-30", "--format", "md")
    assert md.returncode == 0, md.stderr
    expired = int(re.search(r"certificates expired: \*\*(\d+)\*\*", md.stdout).group(1))
    assert expired > 0 and "### 证书到期 / Certificates expired" in md.stdout
    html_out = tmp_path / "digest.html"
    html = _report("digest", "--db", small_db, "--since", "2026-11-01", "--until", "2026-11-30", "--out",
                   str(html_out), "--lang", "en")
    assert html.returncode == 0 and "Period digest" in html_out.read_text() and "<script" not in html_out.read_text()
    bad = _report("digest", "--db", small_db, "--since", "2026-11-31")
    assert bad.returncode == 2 and "--since '2026-11-31'" in bad.stderr
    backwards = _report("digest", "--db", small_db, "--since", "2026-11-20", "--until", "2026-11-01")
    assert backwards.returncode == 2 and "--until must be after --since" in backwards.stderr


def test_serve_is_loopback_and_logs_are_plain_text(tmp_path):
    from harness.report.serve import make_server

    (tmp_path / "index.html").write_text("<p>ok</p>")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log.txt").write_text("<script>alert(1)</script>")
    server = make_server(tmp_path, 0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/logs/a.log.txt", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.read() == b"<p>ok</p>"
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(InputError, match="no index.html"):
        make_server(tmp_path / "logs", 0)


from whitelist_lib import db_url  # noqa: E402,F401  (sqlite and postgresql; the latter skips without $XCH_TEST_PG_URL)


def test_site_data_reads_the_same_on_both_backends(db_url, tmp_path):
    from report_build import make_db

    from harness.report import build
    from harness.report.data import load
    from harness.report.site import matrix_payload
    from harness.whitelist import db

    make_db(db_url, 30, 3)
    database = db.connect(db_url)
    with database.read() as conn:
        data = load(conn, "test", "2026-11-21T00:00:00Z")
    database.dispose()
    payload = matrix_payload(data)
    assert len(payload["rows"]) == 30 and len(payload["platforms"]) == 3
    assert len(data.runs) == 30 and sum(len(c) for c in data.checks_by_run.values()) == 30 * 3 * 4
    assert len(data.metrics_by_pv) == 2 and all(m["ratio"] is not None for ms in data.metrics_by_pv.values() for m in ms)
    result = build(db_url, tmp_path / "site", ["zh"])
    assert result.counts["entries"] == 90 and (tmp_path / "site" / "zh" / "matrix.html").exists()
