"""The report site built from real lab runs, opened in headless Chromium (Debian's package, driven by Playwright).

The runs are made once per module on the lab (tests/fixtures/report_lib.py: the compat-like suite for
five products incl. one whose every free-text field is markup, a perf run with the x86 baseline, a
parity run, a scan and a migration assessment), compiled into a whitelist, and wl-good is certified.
`xch report build` writes the site; the browser then checks the matrix, a filter, a product page,
the language switch and the XSS case, from file:// and from `xch report serve`.

Screenshots go to $XCH_REPORT_ARTIFACTS, else <pytest tmp>/reports/screenshots; their paths are
printed and recorded as the test's `screenshots` property (junit.xml).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from report_lib import LabData, make_lab_data, report_cmd, xch_report  # noqa: E402
from whitelist_lib import PROJECT  # noqa: E402

pytestmark = pytest.mark.lab

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS_NAME = "<script>alert(1)</script>"
XSS_VENDOR = "<img src=x onerror=alert(2)> Evil & Co"
NATIVE = platform.machine()
FOREIGN = ({"x86_64", "aarch64"} - {NATIVE}).pop()


def _need_browser() -> None:
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} not found (apt-get install chromium fonts-noto-cjk)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed in .venv (pip install playwright; never `playwright install`)"
    if problem:
        if os.environ.get("XCH_REQUIRE_LAB") == "1" or os.environ.get("XCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but: {problem}", pytrace=False)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def lab_data(lab_inventory, tmp_path_factory) -> LabData:
    return make_lab_data(tmp_path_factory.mktemp("report_runs"), lab_inventory)


@pytest.fixture(scope="module")
def site(lab_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "site"
    done = xch_report("build", "--db", lab_data.db_url, "--out", str(out), "--scan", str(lab_data.scan_json),
                      "--assessment", str(lab_data.assess_json), "--parity-run", str(lab_data.runs["parity"]),
                      "--format", "md")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| product_versions" in done.stdout and "兼容性报告" in done.stdout  # the CI job summary
    return out


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ["XCH_REPORT_ARTIFACTS"]) if os.environ.get("XCH_REPORT_ARTIFACTS") else (
        tmp_path_factory.mktemp("reports") / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium with a fresh profile (launch_persistent_context = a new --user-data-dir)."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="xch-chromium-")
    with sync_playwright() as p:
        def open_context(**options):
            return p.chromium.launch_persistent_context(tempfile.mkdtemp(dir=profile), executable_path=CHROMIUM,
                                                        headless=True, args=CHROMIUM_ARGS,
                                                        viewport={"width": 1400, "height": 900}, **options)
        yield open_context
    shutil.rmtree(profile, ignore_errors=True)


class Watch:
    """Collects dialogs (alert), page errors and console errors: an XSS would show up as a dialog."""

    def __init__(self, page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)


def _snap(page, shots: Path, name: str, record_property) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    record_property(f"screenshot_{name}", str(path))
    return path


def _matrix(page) -> dict[str, dict]:
    """{product name: {"vendor", "cells": {column title: (status, tooltip)}}} of the rows shown."""
    heads = [h.get_attribute("title") or h.inner_text() for h in page.locator("#matrix thead th").all()]
    rows = {}
    for tr in page.locator("#matrix tbody tr[data-product]").all():
        tds = tr.locator("td").all()
        cells = {}
        for head, td in zip(heads[5:], tds[5:], strict=True):
            status = td.get_attribute("data-status")
            if status:
                cells[head] = (status, td.get_attribute("title") or "")
        rows[tds[0].inner_text()] = {"vendor": tds[2].inner_text(), "cells": cells}
    return rows


def _on(cells: dict, arch: str, declared: bool = False) -> list[tuple[str, str]]:
    return [v for k, v in cells.items() if k.startswith(arch + ",") and ("12.5" in k or "22.03" in k) == declared]


def test_matrix_filter_product_page_and_language_switch(site, browser, shots, record_property):
    ctx = browser()
    try:
        page = ctx.new_page()
        watch = Watch(page)
        page.goto((site / "index.html").as_uri())
        page.wait_for_url("**/zh/index.html")  # Chinese by default
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "兼容性概览"
        assert "qemu-user" in page.locator("p.emulation").inner_text()  # lab timings are emulation
        assert int(page.locator("#by-status td[data-status='incompatible']").inner_text()) >= 3
        _snap(page, shots, "overview-zh", record_property)

        page.click("nav >> text=兼容性矩阵")
        page.wait_for_selector("#matrix tbody tr[data-product]")
        rows = _matrix(page)
        assert {"GoodDB", "BrokenMQ", "CondCache", "LegacyOffice", "SmokeProbe", XSS_NAME} <= set(rows)
        for arch in ("aarch64", "x86_64"):
            assert [s for s, _ in _on(rows["GoodDB"]["cells"], arch)] == ["compatible"]
            (status, tip), = _on(rows["BrokenMQ"]["cells"], arch)
            assert status == "incompatible" and "COMPAT-INSTALL-001" in tip and "libxch-missing-dep1" in tip
            (status, tip), = _on(rows["CondCache"]["cells"], arch)
            assert status == "conditional" and "SEC-PERM-001" in tip
        assert [s for s, _ in _on(rows["LegacyOffice"]["cells"], NATIVE)] == ["compatible"]
        (status, tip), = _on(rows["LegacyOffice"]["cells"], FOREIGN)
        assert status == "incompatible" and "COMPAT-ABI-001" in tip
        assert [s for s, _ in _on(rows["GoodDB"]["cells"], "aarch64", declared=True)] == ["pending"]
        assert rows[XSS_NAME]["vendor"] == XSS_VENDOR  # markup shown as text
        assert "(仿真)" in " ".join(h.inner_text() for h in page.locator("#matrix thead th").all())
        _snap(page, shots, "matrix-zh", record_property)

        shown = int(page.get_attribute("#m-info", "data-shown"))
        page.select_option("#f-status", "incompatible")
        page.wait_for_selector(f"#m-info:not([data-shown='{shown}'])")
        filtered = _matrix(page)
        assert "GoodDB" not in filtered and "SmokeProbe" not in filtered
        assert {"BrokenMQ", "LegacyOffice", XSS_NAME} <= set(filtered)
        assert int(page.get_attribute("#m-info", "data-shown")) == len(filtered) < shown
        _snap(page, shots, "matrix-zh-filtered", record_property)
        page.select_option("#f-status", "")
        page.fill("#f-search", "cond")
        page.wait_for_selector("#m-info[data-shown='1']")
        assert list(_matrix(page)) == ["CondCache"]
        page.fill("#f-search", "")
        page.wait_for_selector(f"#m-info[data-shown='{shown}']")
        page.select_option("#f-vendor", "示例软件 Example Soft")
        page.wait_for_selector("#m-info[data-shown='2']")
        assert set(_matrix(page)) == {"GoodDB", "CondCache"}
        page.select_option("#f-vendor", "")
        openeuler = next(o.get_attribute("value") for o in page.locator("#f-os option").all()
                         if "22.03" in (o.get_attribute("value") or ""))
        page.select_option("#f-os", openeuler)  # a column filter: only that platform's rows
        page.wait_for_selector("#m-info[data-shown='1']")
        assert list(_matrix(page)) == ["GoodDB"] and page.locator("#matrix thead th").count() == 6
        page.select_option("#f-os", "")
        page.wait_for_selector(f"#m-info[data-shown='{shown}']")
        page.click("#matrix thead th[data-sort='vendor']")
        page.wait_for_selector("#matrix thead th.sorted-asc[data-sort='vendor']")
        vendors = [tr.inner_text() for tr in page.locator("#matrix tbody td.vendor").all()]
        assert vendors == sorted(vendors, key=str.lower)

        page.click("#matrix tbody a.pname >> text=GoodDB")
        page.wait_for_selector("#product-name")
        assert page.locator("#product-name").inner_text() == "GoodDB"
        assert page.locator("tr.entry[data-status='compatible']").count() == 3  # 2 tested + 1 covered
        assert page.locator("tr.entry[data-status='pending']").count() == 1
        assert page.locator("a[href*='cert/']").count() == 3  # certified through the two-person workflow
        assert page.locator("figure.chart svg").count() == 1  # perf ratio with CI, drawn at build time
        assert "cpu.single_thread" in page.locator("table.perf").inner_text()
        assert "验证级" in page.locator("table.entries").inner_text()
        _snap(page, shots, "product-zh", record_property)

        page.click("#lang-switch")
        page.wait_for_url("**/en/product/*.html")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("#product-name").inner_text() == "GoodDB"
        assert "validated" in page.locator("table.entries").inner_text()
        assert "Performance: ratio to the x86 baseline" in page.locator("main").inner_text()
        _snap(page, shots, "product-en", record_property)
        page.click("#lang-switch")
        page.wait_for_url("**/zh/product/*.html")

        page.click("a[href*='cert/'] >> nth=0")
        page.wait_for_selector("#evidence-sm3")
        assert re.fullmatch(r"[0-9a-f]{64}", page.locator("#evidence-sm3").inner_text())
        page.emulate_media(media="print")
        _snap(page, shots, "certificate-print-zh", record_property)
        page.emulate_media(media="screen")

        page.goto((site / "zh" / "migration.html").as_uri())
        text = page.locator("main").inner_text()
        assert "x86-intrinsic-header" in text and "PARITY-DPKG-ARCH" in text and "amd64" in text and "arm64" in text
        assert "系统评估" in text and "就绪度" in text
        assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)
    finally:
        ctx.close()


def test_vendor_markup_is_text_in_the_browser(site, browser, shots, record_property):
    """The XSS case, with the page's CSP *bypassed*: escaping alone must keep the markup inert."""
    ctx = browser(bypass_csp=True)
    try:
        page = ctx.new_page()
        watch = Watch(page)
        for lang in ("zh", "en"):
            page.goto((site / lang / "matrix.html").as_uri())
            page.wait_for_selector("#matrix tbody tr[data-product]")
            page.fill("#f-search", "script")
            page.wait_for_selector("#m-info[data-shown='1']")
            assert page.locator("#matrix tbody a.pname").inner_text() == XSS_NAME
            page.click("#matrix tbody a.pname")
            page.wait_for_selector("#product-name")
            assert page.locator("#product-name").inner_text() == XSS_NAME
            assert page.locator("#product-vendor").inner_text() == XSS_VENDOR
            main = page.locator("main").inner_text()
            assert '1.0"><b>bold</b>' in main and "</td><script>alert(3)</script>" in main
            assert "libxch-<script>alert(4)</script>" in main  # a reason written by the target, as text
            assert page.locator("main script, main img").count() == 0 and page.locator("main b", has_text="bold").count() == 0
            _snap(page, shots, f"xss-product-{lang}", record_property)
            page.click("a[href*='run/'] >> nth=0")
            page.wait_for_selector("#checks")
            assert page.locator("main script, main img").count() == 0
            assert "libxch-<script>alert(4)</script>" in page.locator("#checks").inner_text()
            log = page.locator("a.log >> nth=0").get_attribute("href")
            assert log and log.endswith(".log.txt")
        assert not watch.dialogs, f"script from product data ran: {watch.dialogs}"
        assert not watch.errors, watch.errors
    finally:
        ctx.close()


def test_site_works_from_report_serve(site, browser, shots, record_property):
    proc = subprocess.Popen(report_cmd("report", "serve", "--port", "0", "--dir", str(site)), cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        ctx = browser()
        try:
            page = ctx.new_page()
            watch = Watch(page)
            page.goto(f"http://127.0.0.1:{match.group(1)}/")
            page.wait_for_url("**/zh/index.html")
            page.click("#lang-switch")
            page.wait_for_url("**/en/index.html")
            assert page.locator("h1").inner_text() == "Compatibility overview"
            page.click("nav >> text=Compatibility matrix")
            page.wait_for_selector("#matrix tbody tr[data-product]")
            assert "GoodDB" in _matrix(page)
            _snap(page, shots, "matrix-en-served", record_property)
            response = page.goto(page.url.replace("en/matrix.html", "en/runs.html"))
            assert response.ok and response.headers["content-type"].startswith("text/html")
            assert not watch.dialogs and not watch.errors, (watch.dialogs, watch.errors)
        finally:
            ctx.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_digest_of_the_lab_period(lab_data, tmp_path):
    """Today's certificates and incompatible results are in today's digest, in Markdown and HTML."""
    import time

    today = time.strftime("%Y-%m-%d", time.gmtime())
    md = xch_report("digest", "--db", lab_data.db_url, "--since", today, "--format", "md")
    assert md.returncode == 0, md.stderr
    assert "新认证 / certified: **3**" in md.stdout and "XCH-CERT-" in md.stdout
    assert "BrokenMQ" in md.stdout and "&lt;script&gt;alert(1)&lt;/script&gt;" in md.stdout
    assert "<script>" not in md.stdout
    text = xch_report("digest", "--db", lab_data.db_url, "--since", today)
    assert text.returncode == 0 and "certified / 新认证" in text.stdout
