"""The product manifest: loading, validation (every problem at once), identity and product.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.product import CATEGORIES, load_product, product_record, write_product_json

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests" / "fixtures" / "products"))
from submissions import refusal  # noqa: E402

GOOD = """
[product]
vendor = "ACME 软件"
name = "Widget Server"
version = "1.2.3"
category = "middleware"
contact = "qa@acme.example"
platforms = [{ arch = "arm64", os = "kylin", os_version = "V10" }, { arch = "x86_64", os = "debian", os_version = "12" }]

[[artifacts]]
arch = "aarch64"
apt = "widget-server"
version = "1.2.3-1"

[[artifacts]]
arch = "amd64"
file = "pkgs/widget_1.2.3_amd64.deb"

[[artifacts]]
arch = "all"
apt = "widget-common"

[lifecycle]
service = "widget"
ports = [8080, 8443]
keep_users = ["widget"]
recovery_limit = 300
health = { type = "http", url = "http://127.0.0.1:8080/health", expect_status = 204, timeout = 30 }

[[smoke]]
name = "version"
command = "widget --version"
expect_output = "1.2.3"

[[workloads]]
name = "throughput"
command = "widget-bench --json"

[[workloads.metrics]]
name = "ops"
json_path = "result.ops"
unit = "op/s"
direction = "higher"
"""


def write(folder: Path, text: str, name: str = "widget") -> Path:
    product = folder / name
    (product / "pkgs").mkdir(parents=True, exist_ok=True)
    (product / "pkgs" / "widget_1.2.3_amd64.deb").write_bytes(b"!<arch>\n")
    (product / "product.toml").write_text(text)
    return product


def problems_of(path: Path) -> list[str]:
    """The `where: message` of every problem, after checking each one names the manifest file."""
    return refusal(path, max_message=20_000)


def test_good_manifest_loads(tmp_path):
    product = load_product(write(tmp_path, GOOD))
    assert product.id == "widget"  # defaults to the folder name
    assert [p.arch for p in product.platforms] == ["aarch64", "x86_64"]  # canonical uname spellings
    assert product.identity() == {
        "id": "widget", "vendor": "ACME 软件", "name": "Widget Server", "version": "1.2.3",
        "category": "middleware", "contact": "qa@acme.example",
        "platforms": [{"arch": "aarch64", "os": "kylin", "os_version": "V10"},
                      {"arch": "x86_64", "os": "debian", "os_version": "12"}]}
    assert [a.describe() for a in product.artifacts_for("aarch64")] == ["apt:widget-server=1.2.3-1", "apt:widget-common"]
    amd = product.artifacts_for("x86_64")
    assert amd[0].file == tmp_path / "widget" / "pkgs" / "widget_1.2.3_amd64.deb" and amd[0].type == "deb"
    assert product.lifecycle.ports == (8080, 8443)
    assert product.lifecycle.process == "widget"  # defaults to the service name
    assert product.lifecycle.health.expect_status == 204
    assert product.smoke[0].expect_output == "1.2.3"
    assert product.workloads[0]["name"] == "throughput" and product.workloads[0]["metrics"][0]["name"] == "ops"
    assert product.certify_suites == [] and product.parity_file is None


def test_platform_matching():
    product = load_product(PROJECT / "products" / "redis-server")
    facts = {"arch": "aarch64", "os_id": "debian", "os_version": "12"}
    assert any(p.matches(facts) for p in product.platforms)
    assert any(p.matches({**facts, "os_version": "12.5"}) for p in product.platforms)
    assert not any(p.matches({**facts, "os_version": "11"}) for p in product.platforms)
    assert not any(p.matches({**facts, "os_id": "openeuler"}) for p in product.platforms)
    assert not any(p.matches({**facts, "arch": "loongarch64"}) for p in product.platforms)


def test_every_problem_reported_at_once(tmp_path):
    bad = """
[product]
name = 7
category = "database-ish"
platforms = [{ arch = "sparc", os = "Debian", os_version = 12 }, "x86_64"]
colour = "blue"

[[artifacts]]
arch = "aarch64"
apt = "redis"
file = "x.deb"

[[artifacts]]
arch = "x86_64"
file = "missing.deb"

[lifecycle]
ports = [0, "80", 70000]
health = { type = "udp" }
start_timeout = -1
mystery = true

[[smoke]]
name = "a"
[[smoke]]
command = "true"
"""
    found = problems_of(write(tmp_path, bad))
    text = "\n".join(found)
    for expected in (
        "[product].vendor: missing", "[product].name: expected a non-empty string, got 7",
        "[product].version: missing", "[product].contact: missing",
        "[product].category: expected one of " + ", ".join(CATEGORIES),
        "[product].colour: unknown field",
        "[product].platforms[0].arch: expected one of", "[product].platforms[0].os: expected an os-release ID",
        "[product].platforms[1]: expected a table",
        "[[artifacts]][0]: give exactly one of apt", "[[artifacts]][1].file: no such file",
        "[lifecycle].ports[0]: expected an integer port 1-65535, got 0",
        "[lifecycle].ports[1]: expected an integer port 1-65535, got '80'",
        "[lifecycle].ports[2]: expected an integer port 1-65535, got 70000",
        "[lifecycle.health].type: expected one of tcp, http, command, got 'udp'",
        "[lifecycle].start_timeout: expected a number", "[lifecycle].mystery: unknown field",
        "[[smoke]][0]: give exactly one of command", "[[smoke]][1].name: missing",
    ):
        assert expected in text, f"missing problem {expected!r} in:\n{text}"
    assert len(found) >= 19


def test_not_toml_names_the_file(tmp_path):
    folder = write(tmp_path, "[product\nvendor = ")
    with pytest.raises(InputError, match=r"product.toml:1:9: not valid TOML: Expected ']'"):
        load_product(folder)
    with pytest.raises(InputError, match="no product manifest here"):
        load_product(tmp_path / "nowhere")


@pytest.mark.parametrize("field, value", [
    ("apt", "redis; touch /tmp/x"), ("apt", "$(reboot)"), ("apt", "Redis"), ("version", "1.0 && id"),
])
def test_shell_metacharacters_rejected_where_values_name_things(tmp_path, field, value):
    text = GOOD.replace('apt = "widget-server"\nversion = "1.2.3-1"',
                        'apt = "widget-server"\nversion = "1.2.3-1"' if field != "apt" else f'apt = {json.dumps(value)}\nversion = "1.2.3-1"')
    if field == "version":
        text = text.replace('version = "1.2.3-1"', f"version = {json.dumps(value)}")
    found = problems_of(write(tmp_path, text))
    assert any(p.startswith(f"[[artifacts]][0].{field}: expected") and value in p for p in found), found


@pytest.mark.parametrize("service", ["redis; rm -rf /", "a b", "`id`", "../../bin/sh"])
def test_service_names_are_names(tmp_path, service):
    found = problems_of(write(tmp_path, GOOD.replace('service = "widget"', f"service = {json.dumps(service)}")))
    assert any(p.startswith("[lifecycle].service: expected a service/unit name") for p in found)


def test_free_text_may_hold_anything(tmp_path):
    """Vendor and name are display text: accepted verbatim (they are never executed, see the lab test)."""
    text = GOOD.replace('vendor = "ACME 软件"', 'vendor = "ACME $(touch /tmp/pwned); `id` | rm -rf ~ <b>"')
    product = load_product(write(tmp_path, text))
    assert product.vendor == "ACME $(touch /tmp/pwned); `id` | rm -rf ~ <b>"


def test_declared_platform_needs_an_artifact(tmp_path):
    text = GOOD.replace('[[artifacts]]\narch = "amd64"\nfile = "pkgs/widget_1.2.3_amd64.deb"\n', "") \
               .replace('[[artifacts]]\narch = "all"\napt = "widget-common"\n', "")
    found = problems_of(write(tmp_path, text))
    assert any("platform arch x86_64 is declared but no artifact" in p for p in found)


def test_product_json_contract(tmp_path):
    product = load_product(write(tmp_path, GOOD))
    digests = [{"arch": "aarch64", "file": "w.deb", "sha256": "a" * 64, "sm3": "b" * 64, "source": "apt:w"}]
    path = write_product_json(tmp_path, product, digests)
    data = json.loads(path.read_text())
    assert set(data) == {"id", "vendor", "name", "version", "category", "contact", "platforms", "artifacts"}
    assert data["artifacts"] == [{"arch": "aarch64", "file": "w.deb", "sha256": "a" * 64, "sm3": "b" * 64}]
    assert product_record(product)["artifacts"] == []


@pytest.mark.parametrize("folder", sorted(p.name for p in (PROJECT / "products").iterdir() if (p / "product.toml").exists()))
def test_shipped_submissions_validate(folder):
    product = load_product(PROJECT / "products" / folder)
    assert product.id == folder
    assert {p.arch for p in product.platforms} == {"aarch64", "x86_64"}
    assert product.smoke and product.artifacts_for("aarch64") and product.artifacts_for("x86_64")
    # the examples: services with ports, and one tool without (zstd) whose perf workload needs none
    assert (product.lifecycle.has_service and product.lifecycle.ports) or (folder == "zstd" and product.workloads)


def test_certify_suites_and_parity_file(tmp_path):
    folder = write(tmp_path, GOOD + '\n[certify]\nsuites = ["perf", "migration", "perf"]\n\n'
                   '[migration]\nparity = "parity.toml"\n')
    (folder / "parity.toml").write_text('[[check]]\nid = "P-1"\nrun = "true"\n')
    product = load_product(folder)
    assert product.certify_suites == ["perf", "migration"]
    assert product.parity_file == (folder / "parity.toml").resolve()


def test_suite_sections_are_validated_with_the_rest(tmp_path):
    """Bad [certify], [migration], [[workloads]] and [perf.service] are reported in one go, with the field."""
    bad = GOOD.replace('command = "widget-bench --json"', 'command = ""') + (
        '\n[certify]\nsuites = ["perf", "security-audit"]\n\n[migration]\nparity = "missing.toml"\n'
        '\n[perf.service]\nprobe = ""\nkill = 9\n')
    found = problems_of(write(tmp_path, bad))
    assert any("workloads[0] (throughput): field 'command'" in p for p in found), found
    assert any("[certify].suites: unknown suite 'security-audit'" in p for p in found), found
    assert any("[migration].parity: no such file" in p and "missing.toml" in p for p in found), found
    assert any("[perf.service].kill: expected a string (a command), got 9" in p for p in found), found
    assert any("[perf.service].probe: missing" in p for p in found), found


def test_redis_example_asks_for_perf_and_migration():
    product = load_product(PROJECT / "products" / "redis-server")
    assert product.certify_suites == ["perf", "migration"]
    assert product.parity_file is not None and product.parity_file.name == "parity.toml"


def test_vendor_install_command_needs_its_uninstall(tmp_path):
    text = GOOD.replace("[lifecycle]", "[lifecycle]\ninstall = 'sh \"$XCH_ARTIFACT_DIR/setup.sh\"'")
    found = problems_of(write(tmp_path, text))
    assert any(p.startswith("[lifecycle].uninstall: an explicit install command needs an explicit uninstall")
               for p in found), found
    ok = load_product(write(tmp_path, text.replace("[lifecycle]", "[lifecycle]\nuninstall = 'rm -rf /opt/widget'"),
                            name="widget2"))
    assert ok.lifecycle.install == "sh \"$XCH_ARTIFACT_DIR/setup.sh\"" and ok.lifecycle.uninstall == "rm -rf /opt/widget"


def test_smoke_test_is_a_command_or_a_script_of_the_submission(tmp_path):
    text = GOOD + ('\n[[smoke]]\nname = "by script"\nscript = "smoke/check.sh"\n'
                   '\n[[smoke]]\nname = "both"\ncommand = "true"\nscript = "smoke/check.sh"\n'
                   '\n[[smoke]]\nname = "neither"\n'
                   '\n[[smoke]]\nname = "missing"\nscript = "smoke/nope.sh"\n')
    found = problems_of(write(tmp_path, text))
    assert sum("give exactly one of command" in p for p in found) == 2, found
    assert any(p.startswith("[[smoke]][4].script: no such file") and "nope.sh" in p for p in found), found
    folder = write(tmp_path, GOOD + '\n[[smoke]]\nname = "by script"\nscript = "smoke/check.sh"\n', name="scripted")
    (folder / "smoke").mkdir()
    (folder / "smoke" / "check.sh").write_text("#!/bin/sh\necho ok\n")
    product = load_product(folder)
    assert product.smoke[-1].script == (folder / "smoke" / "check.sh").resolve() and product.smoke[-1].command == ""
    assert product.submission_files() == [(folder / "smoke" / "check.sh").resolve()]


def test_files_the_manifest_refers_to_stay_inside_the_product_folder(tmp_path):
    """They are uploaded to targets and copied into evidence bundles: never a file elsewhere."""
    (tmp_path / "secret.txt").write_text("not the vendor's\n")
    text = GOOD + ('\n[[smoke]]\nname = "escape"\nscript = "../secret.txt"\n'
                   '\n[certify]\nsuites = ["migration"]\n\n[migration]\nparity = "/etc/hostname"\n')
    found = problems_of(write(tmp_path, text))
    assert any(p.startswith("[[smoke]][1].script: must be a file inside the product folder") for p in found), found
    assert any(p.startswith("[migration].parity: expected a parity file path relative to the product folder, "
                            "got the absolute path '/etc/hostname'") for p in found), found


def test_migration_needs_a_parity_file(tmp_path):
    found = problems_of(write(tmp_path, GOOD + '\n[certify]\nsuites = ["migration"]\n'))
    assert any("asks for migration but the manifest has no [migration] parity file" in p for p in found), found


def test_keep_paths_are_exact_product_paths(tmp_path):
    """keep_paths (what purge leaves on purpose, like a web root's placeholder page) takes exact absolute paths only."""
    good = GOOD.replace('keep_users = ["widget"]', 'keep_users = ["widget"]\nkeep_paths = ["/var/www/html/index.html"]')
    assert load_product(write(tmp_path / "ok", good)).lifecycle.keep_paths == ("/var/www/html/index.html",)
    bad = GOOD.replace('keep_users = ["widget"]',
                       'keep_users = ["widget"]\nkeep_paths = ["relative", "/var/../etc", "/etc", "/a\\nb", 3]')
    found = problems_of(write(tmp_path / "bad", bad))
    assert [p.split(":")[0] for p in found if "keep_paths" in p] == [
        f"[lifecycle].keep_paths[{i}]" for i in range(5)], found
    assert any("system folder" in p for p in found)
