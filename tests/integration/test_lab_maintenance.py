"""The chroot lab kept like a server: the apt suites a maintained machine has, extra images named as asked, removed
and rebuilt without editing state files (issue 12)."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from harness.lab.state import lab_dir
from tests.conftest import PROJECT, run_xch

pytestmark = pytest.mark.lab

JQ_PRODUCT = """[product]
vendor = "Debian"
name = "jq"
version = "1.6"
category = "tool"
contact = "debian-qa@lists.debian.org"
platforms = [{ arch = "x86_64", os = "debian", os_version = "12" }]

[[artifacts]]
arch = "x86_64"
apt = "jq"

[[smoke]]
name = "filter"
command = "echo '{\\"a\\": 42}' | jq .a"
expect_output = "42"
"""


def test_images_have_release_updates_security_and_a_plain_jq_resolves(lab_inventory, xch, tmp_path):
    """The controller fetches jq from bookworm-security/updates; the image must see the same suites."""
    for name, port, host in (("lab-arm64", 2201, "127.0.0.2"), ("lab-x86", 2202, "127.0.0.3")):
        out = subprocess.run(
            ["ssh", "-i", str(lab_dir() / "id_ed25519"), "-o", f"UserKnownHostsFile={lab_dir() / 'known_hosts'}",
             "-o", "BatchMode=yes", "-p", str(port), f"root@{host}",
             "grep -h '^Suites' /etc/apt/sources.list.d/debian.sources; ls /var/lib/apt/lists"],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        suites = " ".join(line for line in out.stdout.splitlines() if line.startswith("Suites"))
        assert {"bookworm", "bookworm-updates", "bookworm-security"} <= set(suites.split()), (name, suites)
        assert "bookworm-security" in out.stdout and "bookworm-updates" in out.stdout, name  # lists fetched
    product = tmp_path / "jq"
    product.mkdir()
    (product / "product.toml").write_text(JQ_PRODUCT)
    done = xch("certify", str(product), "--targets", "lab-x86", "--inventory", str(lab_inventory), "--suites", "none",
               "--run-dir", str(tmp_path / "run"), "--json", timeout=1200)
    checks = {c["check_id"]: c for c in done.json()["targets"][0]["checks"]}
    assert checks["COMPAT-DEPS-001"]["outcome"] == "passed", checks["COMPAT-DEPS-001"]["reason"]
    assert checks["COMPAT-SMOKE-001"]["outcome"] == "passed", checks["COMPAT-SMOKE-001"]["reason"]


def test_extra_rootfs_is_named_as_given_and_can_be_rebuilt_and_removed(lab_inventory, tmp_path):
    """`--rootfs F --name N` makes target N; `xch lab rebuild N` unpacks it again; `xch lab rm N` forgets it."""
    tarball = tmp_path / "rootfs.tar"
    image = lab_dir() / "images" / "bookworm-amd64"
    subprocess.run(["tar", "--one-file-system", "--numeric-owner", "-C", str(image), "-cf", str(tarball),
                    "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*", "--exclude=./run/*", "."],
                   check=True, timeout=600)
    name = "xt-extra"
    try:
        up = run_xch("lab", "up", "--rootfs", str(tarball), "--name", name, "--arch", "x86_64", timeout=1200)
        assert up.rc == 0, up.stderr
        assert f"the rootfs is target '{name}'" in up.stdout
        targets = {t["name"]: t for t in tomllib.loads((PROJECT / "targets" / "lab.toml").read_text())["target"]}
        assert name in targets and f"lab-{name}" not in targets
        marker = lab_dir() / "images" / name / "xch-marker"
        marker.write_text("from before the rebuild\n")
        rebuilt = run_xch("lab", "rebuild", name, "--json", timeout=1200)
        assert rebuilt.rc == 0, rebuilt.stderr
        assert not marker.exists() and (lab_dir() / "images" / name).is_dir()
        assert {r["name"]: r["status"] for r in rebuilt.json()}[name] in ("started", "restarted")
    finally:
        removed = run_xch("lab", "rm", name, "--json", timeout=600)
    assert removed.rc == 0, removed.stderr
    assert not (lab_dir() / "images" / name).exists()
    assert name not in (lab_dir() / "state.json").read_text()
    assert name not in (PROJECT / "targets" / "lab.toml").read_text()
    unknown = run_xch("lab", "rm", "no-such-target")
    assert unknown.rc == 2 and "no lab target called 'no-such-target'" in unknown.stderr
