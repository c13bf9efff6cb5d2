"""`xch certify` on the real lab: real Debian products pass on arm64 and x86, and the failures a
lab meets every day produce the right failed check with a reason that names the cause.

The lab targets share the host's network namespace, so certifications here run one at a time
(no -n) and each product's service port is used by one target at a time.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from harness.certify.evidence import verify_bundle

PROJECT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT / "tests" / "fixtures" / "products"))
from debbuild import HOST_SLEEP, IDENTITY, build_deb, init_script, newer_glibc_binary, with_search_path  # noqa: E402

pytestmark = pytest.mark.lab

CHECKS = ["COMPAT-PLATFORM-001", "COMPAT-ARTIFACT-001", "COMPAT-ARCH-001", "COMPAT-GLIBC-001", "COMPAT-DEPS-001",
          "COMPAT-INSTALL-001", "COMPAT-LIBS-001", "COMPAT-RPATH-001", "COMPAT-START-001", "COMPAT-HEALTH-001",
          "COMPAT-PORTS-001", "COMPAT-SMOKE-001", "COMPAT-RESTART-001", "COMPAT-RECOVERY-001", "COMPAT-STOP-001",
          "COMPAT-IDLE-001", "COMPAT-UNINSTALL-001", "COMPAT-RESIDUE-001"]
OPTIONAL_CHECKS = {"COMPAT-RPATH-001"}
# A real amd64 binary from the lab's own x86 image, so it fits lab-x86 whatever the controller runs on.
LAB_X86_TRUE = Path("/var/lib/xch/lab/images/bookworm-amd64/usr/bin/true")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Done:
    rc: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def xch(*args: str, timeout: float = 1800) -> Done:
    """The real CLI in a subprocess, with the product commands registered (see the report to the lead)."""
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout)
    return Done(proc.returncode, proc.stdout, proc.stderr)


def certify(product: Path, targets: str, inventory: Path, run_dir: Path) -> Done:
    """The compat suite only (`--suites none`): the perf and migration suites that a product's
    [certify] asks for are tested in test_certify_suites.py."""
    return xch("certify", str(product), "--targets", targets, "--inventory", str(inventory),
               "--run-dir", str(run_dir), "--json", "--suites", "none")


def checks_of(data: dict, target: str) -> dict[str, dict]:
    [entry] = [t for t in data["targets"] if t["target"] == target]
    return {c["check_id"]: c for c in entry["checks"]}


def records(run_dir: Path, target: str) -> dict[str, dict]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {r["check_id"]: r for r in map(json.loads, lines) if r["target"] == target}


def lab_run(inventory: Path, target: str, command: str) -> str:
    """One command on a lab target through xch's own transport (for set-up checks and clean-up)."""
    from harness.inventory import load_inventory
    from harness.transport import open_connection

    inv = load_inventory([inventory])
    conn = open_connection(inv.get(target), inv)
    try:
        return conn.run(command, timeout=120).stdout
    finally:
        conn.close()


# What this module's test products leave on a target when a run is interrupted before its clean-up
# (packages named xch-*, the vendor tarball's user and files, the leaky package's state). Removed
# before the tests, so none of them depends on what an earlier run left on the lab.
TEST_LEFTOVERS = (
    "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' 'xch-*' 2>/dev/null | awk '$2 != \"not-installed\" "
    "{print $1}' | xargs -r env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y purge "
    ">/dev/null; userdel xchtgz 2>/dev/null; rm -rf /opt/xch-tgz /etc/xch-tgz.conf /var/log/xch-tgz "
    "/var/lib/xch-leaky; true"
)


@pytest.fixture(scope="module", autouse=True)
def no_leftovers_of_earlier_runs(lab_inventory):
    for target in ("lab-arm64", "lab-x86"):
        lab_run(lab_inventory, target, TEST_LEFTOVERS)


def product_dir(tmp_path: Path, name: str, manifest: str, artifacts: tuple[Path, ...] = ()) -> Path:
    """A submission folder: the manifest, and copies of the artifacts it names (by file name:
    artifact files must lie inside the product folder)."""
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "product.toml").write_text(manifest)
    for artifact in artifacts:
        shutil.copy2(artifact, folder / artifact.name)
    return folder


# -- real products -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["redis-server", "memcached", "privoxy"])
def test_real_product_certifies_on_both_lab_targets(lab_inventory, tmp_path, name):
    run_dir = tmp_path / "run"
    done = certify(PROJECT / "products" / name, "lab-arm64,lab-x86", lab_inventory, run_dir)
    data = done.json()
    failing = [(t["target"], c["check_id"], c["outcome"], c["reason"]) for t in data["targets"] for c in t["checks"]
               if c["level"] == "mandatory" and c["outcome"] != "passed"]
    assert not failing, failing
    assert done.rc == 0, done.stderr[-2000:]
    assert {t["target"]: t["verdict"] for t in data["targets"]} == {"lab-arm64": "compatible", "lab-x86": "compatible"}
    for target in ("lab-arm64", "lab-x86"):
        assert list(checks_of(data, target)) == CHECKS  # every check, in lifecycle order
        assert {c for c, r in checks_of(data, target).items() if r["level"] == "optional"} == OPTIONAL_CHECKS
        # Debian's builds carry no RPATH/RUNPATH (checked with `xch product inspect`): not applicable here
        rpath = checks_of(data, target)["COMPAT-RPATH-001"]
        assert rpath["outcome"] in ("passed", "skipped"), rpath
        recovery = records(run_dir, target)["COMPAT-RECOVERY-001"]["evidence"]
        assert recovery["recovery_time_s"] > 0 and recovery["recovered_by"]
        assert records(run_dir, target)["COMPAT-ARCH-001"]["evidence"]["elf_checked"] >= 1
    # product.json (shared contract) carries identity and both architectures' digests
    product = json.loads((run_dir / "product.json").read_text())
    assert product["id"] == name and product["category"] in ("database", "middleware", "network")
    assert {a["arch"] for a in product["artifacts"]} == {"aarch64", "x86_64"}
    assert all(HEX64.match(a["sha256"]) and HEX64.match(a["sm3"]) and a["sha256"] != a["sm3"]
               for a in product["artifacts"])
    # one intact evidence bundle per target, holding only that target's records
    for entry in data["targets"]:
        bundle = run_dir / entry["bundle"]
        assert verify_bundle(bundle) == []
        with tarfile.open(bundle) as tar:
            names = {m.name.split("/", 1)[1] for m in tar.getmembers()}
            top = tar.getmembers()[0].name.split("/")[0]
            recs = [json.loads(line) for line in tar.extractfile(f"{top}/records.jsonl").read().decode().splitlines()]
        assert {"facts.json", "records.jsonl", "product.json", "artifacts.json", "logs/commands.log", "summary.json",
                "MANIFEST.json", "MANIFEST.sha256", "MANIFEST.sm3", "submission/product.toml"} <= names
        assert {r["target"] for r in recs} == {entry["target"]} and len(recs) == len(CHECKS)


# -- failures a lab meets ------------------------------------------------------------------------------

def test_amd64_package_declared_for_aarch64(lab_inventory, tmp_path):
    """A real amd64 package submitted as the aarch64 artifact: the arch check names the x86_64 binaries."""
    from harness.artifacts import AptFetcher
    from harness.product import Artifact

    amd64 = AptFetcher().fetch(Artifact(arch="x86_64", type="deb", apt="redis-tools"))
    folder = product_dir(tmp_path, "wrong-arch", IDENTITY.format(name="redis-tools (mislabelled)", arch="aarch64") +
                         f'\n[[artifacts]]\narch = "aarch64"\nfile = "{amd64.name}"\n', (amd64,))
    run_dir = tmp_path / "run"
    done = certify(folder, "lab-arm64", lab_inventory, run_dir)
    assert done.rc == 1, done.stderr[-2000:]
    checks = checks_of(done.json(), "lab-arm64")
    arch = checks["COMPAT-ARCH-001"]
    assert arch["outcome"] == "failed"
    for binary in ("/usr/bin/redis-cli", "/usr/bin/redis-benchmark", "/usr/bin/redis-check-aof"):
        assert f"{binary} (x86_64)" in arch["reason"]  # the one spelling of harness.core.arch
    assert "not built for aarch64" in arch["reason"] and "redis-tools (amd64)" in arch["reason"]
    for skipped in ("COMPAT-DEPS-001", "COMPAT-INSTALL-001", "COMPAT-UNINSTALL-001", "COMPAT-RESIDUE-001"):
        assert checks[skipped]["outcome"] == "skipped", checks[skipped]
    assert "COMPAT-ARCH-001 failed" in checks["COMPAT-INSTALL-001"]["reason"]
    assert checks["COMPAT-PLATFORM-001"]["outcome"] == "passed"
    assert done.json()["targets"][0]["verdict"] == "incompatible"


def test_unresolvable_dependency_is_named_in_the_reason(lab_inventory, tmp_path):
    """A real deb needing a libc6 that does not exist: the reason quotes apt's unmet-dependency line,
    not its last line ("you have held broken packages")."""
    deb = build_deb(tmp_path, "xch-unresolvable", {"/usr/share/xch-unresolvable/README": b"needs the future\n"},
                    depends="libc6 (>= 99), xch-no-such-package")
    folder = product_dir(tmp_path, "unresolvable", IDENTITY.format(name="unresolvable", arch="x86_64") + f"""
[[artifacts]]
arch = "x86_64"
file = "{deb.name}"
""", (deb,))
    run_dir = tmp_path / "run"
    done = certify(folder, "lab-x86", lab_inventory, run_dir)
    assert done.rc == 1, done.stderr[-2000:]
    deps = checks_of(done.json(), "lab-x86")["COMPAT-DEPS-001"]
    assert deps["outcome"] == "failed", deps
    assert "xch-unresolvable : Depends: libc6 (>= 99) but 2.36" in deps["reason"], deps["reason"]
    assert "xch-unresolvable : Depends: xch-no-such-package but it is not installable" in deps["reason"]
    assert "held broken packages" not in deps["reason"]
    evidence = records(run_dir, "lab-x86")["COMPAT-DEPS-001"]["evidence"]
    assert evidence["unmet"][0].startswith("xch-unresolvable : Depends: libc6 (>= 99)")
    assert checks_of(done.json(), "lab-x86")["COMPAT-INSTALL-001"]["outcome"] == "skipped"


def test_service_never_healthy_still_stops_and_uninstalls(lab_inventory, tmp_path):
    daemon = "/usr/lib/xch-sleepy/sleepy"
    deb = build_deb(tmp_path, "xch-sleepy", {daemon: HOST_SLEEP,
                                             "/etc/init.d/xch-sleepy": init_script("xch-sleepy", daemon, "100000")})
    folder = product_dir(tmp_path, "sleepy", IDENTITY.format(name="never healthy", arch="x86_64") + f"""
[[artifacts]]
arch = "x86_64"
file = "{deb.name}"

[lifecycle]
service = "xch-sleepy"
process = "sleepy"
ports = [65011]
health = {{ type = "tcp", port = 65011, timeout = 5 }}

[[smoke]]
name = "answers"
command = "true"
""", (deb,))
    done = certify(folder, "lab-x86", lab_inventory, tmp_path / "run")
    assert done.rc == 1, done.stderr[-2000:]
    checks = checks_of(done.json(), "lab-x86")
    assert checks["COMPAT-HEALTH-001"]["outcome"] == "failed"
    assert "not healthy within 5s (tcp 127.0.0.1:65011)" in checks["COMPAT-HEALTH-001"]["reason"]
    assert checks["COMPAT-PORTS-001"]["outcome"] == "failed" and "[65011]" in checks["COMPAT-PORTS-001"]["reason"]
    for skipped in ("COMPAT-SMOKE-001", "COMPAT-RESTART-001", "COMPAT-RECOVERY-001"):
        assert checks[skipped]["outcome"] == "skipped"
        assert "COMPAT-HEALTH-001 failed" in checks[skipped]["reason"]
    for ran in ("COMPAT-START-001", "COMPAT-STOP-001", "COMPAT-IDLE-001", "COMPAT-UNINSTALL-001", "COMPAT-RESIDUE-001"):
        assert checks[ran]["outcome"] == "passed", checks[ran]


def test_package_leaving_files_and_a_process_behind(lab_inventory, tmp_path):
    daemon, helper = "/usr/lib/xch-leaky/leaky", "/usr/lib/xch-leaky/helper"
    start_helper = f"start-stop-daemon --start --quiet --background --exec {helper} -- 100000"
    deb = build_deb(tmp_path, "xch-leaky", {
        daemon: HOST_SLEEP, helper: HOST_SLEEP, "/var/lib/xch-leaky/.keep": b"",
        "/etc/init.d/xch-leaky": init_script("xch-leaky", daemon, "100000", extra_start=start_helper),
    }, scripts={"postinst": "#!/bin/sh\nset -e\necho state > /var/lib/xch-leaky/state\n"})
    folder = product_dir(tmp_path, "leaky", IDENTITY.format(name="leaky", arch="x86_64") + f"""
[[artifacts]]
arch = "x86_64"
file = "{deb.name}"

[lifecycle]
service = "xch-leaky"
process = "leaky"
stop_timeout = 10
""", (deb,))
    try:
        done = certify(folder, "lab-x86", lab_inventory, tmp_path / "run")
        assert done.rc == 1, done.stderr[-2000:]
        checks = checks_of(done.json(), "lab-x86")
        assert checks["COMPAT-STOP-001"]["outcome"] == "failed" and helper in checks["COMPAT-STOP-001"]["reason"]
        assert checks["COMPAT-IDLE-001"]["outcome"] == "failed"
        assert checks["COMPAT-UNINSTALL-001"]["outcome"] == "passed"
        residue = checks["COMPAT-RESIDUE-001"]
        assert residue["outcome"] == "failed"
        assert "/var/lib/xch-leaky" in residue["reason"] and "/var/lib/xch-leaky/state" in residue["reason"]
        assert "process(es) still running" in residue["reason"] and helper in residue["reason"]
        # the suite cleaned up after its last check: the leaked helper no longer runs
        left = [p.pid for p in psutil.process_iter(["cmdline"]) if helper in " ".join(p.info["cmdline"] or [])]
        assert left == []
    finally:
        lab_run(lab_inventory, "lab-x86", "rm -rf /var/lib/xch-leaky")


def test_binary_needing_newer_glibc(lab_inventory, tmp_path):
    binary = newer_glibc_binary(tmp_path / "xch-newglibc")
    deb = build_deb(tmp_path, "xch-newglibc", {"/usr/bin/xch-newglibc": binary})
    folder = product_dir(tmp_path, "newglibc", IDENTITY.format(name="needs glibc 2.99", arch="x86_64") + f"""
[[artifacts]]
arch = "x86_64"
file = "{deb.name}"

[[smoke]]
name = "runs"
command = "/usr/bin/xch-newglibc && echo ran"
expect_output = "ran"
""", (deb,))
    done = certify(folder, "lab-x86", lab_inventory, tmp_path / "run")
    assert done.rc == 1, done.stderr[-2000:]
    checks = checks_of(done.json(), "lab-x86")
    glibc = checks["COMPAT-GLIBC-001"]
    assert glibc["outcome"] == "failed"
    assert "/usr/bin/xch-newglibc needs GLIBC_2.99" in glibc["reason"] and "2.36" in glibc["reason"]
    libs = checks["COMPAT-LIBS-001"]
    assert libs["outcome"] == "failed" and "GLIBC_2.99" in libs["reason"] and "not found" in libs["reason"]
    assert checks["COMPAT-SMOKE-001"]["outcome"] == "failed" and "GLIBC_2.99" in checks["COMPAT-SMOKE-001"]["reason"]
    assert checks["COMPAT-START-001"]["outcome"] == "skipped"
    assert checks["COMPAT-UNINSTALL-001"]["outcome"] == "passed" and checks["COMPAT-RESIDUE-001"]["outcome"] == "passed"


def test_stale_and_relative_runpath_fail_the_optional_check(lab_inventory, tmp_path):
    """Search paths from the build machine: the optional RPATH check fails, the verdict is conditional."""
    stale = with_search_path(LAB_X86_TRUE, tmp_path / "xch-stale", "/build/xch-stale/lib:lib")
    helper = with_search_path(LAB_X86_TRUE, tmp_path / "helper", "$ORIGIN/../xch-gone:$ORIGIN", tag="RPATH")
    deb = build_deb(tmp_path, "xch-rpath", {"/usr/bin/xch-stale": stale, "/usr/lib/xch-rpath/helper": helper})
    folder = product_dir(tmp_path, "xch-stale-rpath", IDENTITY.format(name="stale runpath", arch="x86_64") + f"""
[[artifacts]]
arch = "x86_64"
file = "{deb.name}"

[[smoke]]
name = "runs despite its search path"
command = "/usr/bin/xch-stale && /usr/lib/xch-rpath/helper && echo ran"
expect_output = "ran"
""", (deb,))
    run_dir = tmp_path / "run"
    done = certify(folder, "lab-x86", lab_inventory, run_dir)
    assert done.rc == 1, done.stderr[-2000:]  # a check failed, even if only an optional one
    [entry] = done.json()["targets"]
    checks = checks_of(done.json(), "lab-x86")
    assert list(checks) == CHECKS
    rpath = checks["COMPAT-RPATH-001"]
    assert rpath["outcome"] == "failed" and rpath["level"] == "optional", rpath
    assert "/usr/bin/xch-stale" in rpath["reason"] and "/build/xch-stale/lib" in rpath["reason"]
    found = {(f["path"], f["tag"], f["entry"], f["kind"])
             for f in records(run_dir, "lab-x86")["COMPAT-RPATH-001"]["evidence"]["findings"]}
    assert found == {("/usr/bin/xch-stale", "RUNPATH", "/build/xch-stale/lib", "build-path"),
                     ("/usr/bin/xch-stale", "RUNPATH", "lib", "relative"),
                     # $ORIGIN expanded on the installed tree: /usr/lib/xch-gone is missing, /usr/lib/xch-rpath is not
                     ("/usr/lib/xch-rpath/helper", "RPATH", "$ORIGIN/../xch-gone", "stale")}
    mandatory = {c: r["outcome"] for c, r in checks.items() if r["level"] == "mandatory"}
    assert "failed" not in mandatory.values() and "error" not in mandatory.values(), mandatory
    for passed in ("COMPAT-ARCH-001", "COMPAT-GLIBC-001", "COMPAT-INSTALL-001", "COMPAT-LIBS-001", "COMPAT-SMOKE-001",
                   "COMPAT-UNINSTALL-001", "COMPAT-RESIDUE-001"):
        assert mandatory[passed] == "passed", (passed, checks[passed])
    assert entry["verdict"] == "conditional"
    with tarfile.open(run_dir / entry["bundle"]) as tar:
        top = tar.getmembers()[0].name.split("/")[0]
        summary = json.loads(tar.extractfile(f"{top}/summary.json").read())
    assert summary["verdict"] == "conditional" and summary["checks"]["COMPAT-RPATH-001"] == "failed"


# -- bad input --------------------------------------------------------------------------------------

def test_malformed_manifest_is_bad_input(lab_inventory, tmp_path):
    folder = product_dir(tmp_path, "broken", '[product]\nvendor = ""\ncategory = "game"\n'
                         '[[artifacts]]\narch = "sparc64"\napt = "x"\n[lifecycle]\nports = ["http"]\n')
    run_dir = tmp_path / "run"
    done = certify(folder, "lab-x86", lab_inventory, run_dir)
    assert done.rc == 2
    for field in ("[product].vendor", "[product].name: missing", "[product].category", "[product].platforms: missing",
                  "[[artifacts]][0].arch", "[lifecycle].ports[0]"):
        assert field in done.stderr
    assert not run_dir.exists()  # nothing started
    validate = xch("product", "validate", str(folder), "--json")
    assert validate.rc == 2 and not validate.json()["valid"] and len(validate.json()["problems"]) >= 6


def test_shell_metacharacters_never_execute(lab_inventory, tmp_path):
    token = secrets.token_hex(6)
    marker = f"/tmp/xch-pwned-{token}"
    hostile = f"ACME $(touch {marker}-a); touch {marker}-b `touch {marker}-c` | rm -rf ~nobody <script>x</script>"
    deb = build_deb(tmp_path, "xch-meta", {"/usr/share/xch-meta/README": b"harmless\n"})
    name = json.dumps("Name'\"; touch " + marker + "-d")
    version = json.dumps("1.0$(touch " + marker + "-e)")
    contact = json.dumps("a@b.c && touch " + marker + "-f")
    manifest = f"""
[product]
vendor = {json.dumps(hostile)}
name = {name}
version = {version}
category = "tool"
contact = {contact}
platforms = [{{ arch = "x86_64", os = "debian", os_version = "12" }}]

[[artifacts]]
arch = "x86_64"
file = "{deb.name}"
"""
    run_dir = tmp_path / "run"
    done = certify(product_dir(tmp_path, "meta", manifest, (deb,)), "lab-x86", lab_inventory, run_dir)
    assert done.rc == 0, done.stderr[-2000:]
    assert json.loads((run_dir / "product.json").read_text())["vendor"] == hostile  # recorded verbatim
    # a package name with metacharacters is refused before anything runs
    bad = product_dir(tmp_path, "meta-bad", manifest.replace(f'file = "{deb.name}"', f'apt = "x; touch {marker}-g"'))
    refused = xch("product", "validate", str(bad))
    assert refused.rc == 2 and "[[artifacts]][0].apt: expected a Debian package name" in refused.stderr
    assert xch("certify", str(bad), "--targets", "lab-x86", "--inventory", str(lab_inventory)).rc == 2
    assert not list(Path("/tmp").glob(f"xch-pwned-{token}*")), "a manifest value was executed on the controller"
    remote = lab_run(lab_inventory, "lab-x86", f"ls /tmp/ | grep -c xch-pwned-{token} || true").strip()
    assert remote == "0", "a manifest value was executed on the target"


def test_inspect_lists_elf_facts_per_architecture(tmp_path):
    """`xch product inspect` on a real submission: both architectures' packages, digests and ELF facts."""
    done = xch("product", "inspect", str(PROJECT / "products" / "memcached"), "--json", timeout=600)
    assert done.rc == 0, done.stderr
    reports = {r["arch"]: r for r in done.json()}
    assert set(reports) == {"aarch64", "x86_64"}
    for arch, machine in (("aarch64", "aarch64"), ("x86_64", "x86_64")):
        [elf] = [e for e in reports[arch]["elf"] if e["path"] == "/usr/bin/memcached"]
        assert elf["machine"] == machine and elf["class"] == 64 and elf["glibc"].startswith("2.")
        assert "libevent-2.1.so.7" in elf["needed"]
        assert HEX64.match(reports[arch]["sha256"]) and HEX64.match(reports[arch]["sm3"])
    human = xch("product", "inspect", str(PROJECT / "products" / "memcached"), "--arch", "arm64")
    assert human.rc == 0 and "/usr/bin/memcached" in human.stdout and "aarch64" in human.stdout


# -- a vendor tarball with its own install and uninstall scripts ---------------------------------------

TGZ_PORT = 38517
TGZ_SERVER = f"""#!/usr/bin/env python3
# xch-tgz: a tiny TCP service shipped in a vendor tarball (answers "ok" to every connection).
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", {TGZ_PORT}))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"ok\\n")
    c.close()
"""
TGZ_INSTALL = """#!/bin/sh
# the vendor's installer: a system user, a config file, a log folder
set -e
useradd --system --no-create-home --shell /usr/sbin/nologin xchtgz
echo "port = {port}" > /etc/xch-tgz.conf
mkdir -p /var/log/xch-tgz && chown xchtgz /var/log/xch-tgz
echo "xch-tgz installed in $XCH_INSTALL_DIR"
"""
TGZ_UNINSTALL = """#!/bin/sh
set -e
rm -rf /etc/xch-tgz.conf /var/log/xch-tgz
{userdel}
echo "xch-tgz removed"
"""


def vendor_tarball(tmp_path: Path, forget_user: bool) -> Path:
    import io

    scripts = {"bin/xch-tgz-server": TGZ_SERVER, "install.sh": TGZ_INSTALL.format(port=TGZ_PORT),
               "uninstall.sh": TGZ_UNINSTALL.format(userdel="true" if forget_user else "userdel xchtgz")}
    path = tmp_path / "xch-tgz-1.0-noarch.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in scripts.items():
            info = tarfile.TarInfo(name)
            data = text.encode()
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    platforms = '[{ arch = "aarch64", os = "debian", os_version = "12" }, { arch = "x86_64", os = "debian", os_version = "12" }]'
    folder = product_dir(tmp_path, "xch-tgz", IDENTITY.format(name="vendor tarball", arch="x86_64").replace(
        '[{ arch = "x86_64", os = "debian", os_version = "12" }]', platforms) + f"""
[[artifacts]]
arch = "all"
file = "{path.name}"

[lifecycle]
install = 'mkdir -p "$XCH_INSTALL_DIR" && tar -xzf "$XCH_ARTIFACTS" -C "$XCH_INSTALL_DIR" && "$XCH_INSTALL_DIR/install.sh"'
uninstall = '"$XCH_INSTALL_DIR/uninstall.sh" && rm -rf "$XCH_INSTALL_DIR"'
start = "su -s /bin/sh xchtgz -c 'nohup /opt/xch-tgz/bin/xch-tgz-server >/var/log/xch-tgz/server.log 2>&1 & echo $! > /var/log/xch-tgz/pid'"
stop = "kill $(cat /var/log/xch-tgz/pid) && rm -f /var/log/xch-tgz/pid"
pidfile = "/var/log/xch-tgz/pid"
process = "python3"
ports = [{TGZ_PORT}]
health = {{ type = "tcp", port = {TGZ_PORT}, timeout = 60 }}

[[smoke]]
name = "answers"
command = "python3 -c 'import socket; print(socket.create_connection((\\"127.0.0.1\\", {TGZ_PORT})).recv(8).decode())'"
expect_output = "ok"

[[smoke]]
name = "config, by a script of the submission (with a #! line)"
script = "smoke/config.sh"
expect_output = "port = {TGZ_PORT}"

[[smoke]]
name = "install folder, by a script without a #! line (run with sh)"
script = "smoke/folder.sh"
expect_output = "install.sh"
""", (path,))
    (folder / "smoke").mkdir()
    (folder / "smoke" / "config.sh").write_text('#!/bin/sh\nset -e\ntest "$XCH_PRODUCT" = xch-tgz\ncat /etc/xch-tgz.conf\n')
    (folder / "smoke" / "folder.sh").write_text('ls "$XCH_INSTALL_DIR"\n')
    return folder


def test_vendor_tarball_with_its_own_install_commands_certifies_on_both_targets(lab_inventory, tmp_path):
    """A tar.gz product installed and removed by the vendor's own scripts: every mandatory check passes."""
    run_dir = tmp_path / "run"
    done = certify(vendor_tarball(tmp_path, forget_user=False), "lab-arm64,lab-x86", lab_inventory, run_dir)
    data = done.json()
    failing = [(t["target"], c["check_id"], c["outcome"], c["reason"]) for t in data["targets"] for c in t["checks"]
               if c["level"] == "mandatory" and c["outcome"] not in ("passed", "skipped")]
    assert not failing, failing
    assert {t["target"]: t["verdict"] for t in data["targets"]} == {"lab-arm64": "compatible", "lab-x86": "compatible"}
    for target in ("lab-arm64", "lab-x86"):
        recs = records(run_dir, target)
        assert "xch-tgz installed in /opt/xch-tgz" in recs["COMPAT-INSTALL-001"]["evidence"]["output"]
        assert recs["COMPAT-INSTALL-001"]["evidence"]["files"] == 3  # what is really under the install folder
        assert "xch-tgz removed" in recs["COMPAT-UNINSTALL-001"]["evidence"]["output"]
        assert recs["COMPAT-RECOVERY-001"]["outcome"] == "passed" and recs["COMPAT-RESIDUE-001"]["outcome"] == "passed"
        assert recs["COMPAT-DEPS-001"]["outcome"] == "skipped"  # a tarball has no package-manager dependencies
        smoke = {t["name"]: t for t in recs["COMPAT-SMOKE-001"]["evidence"]["tests"]}
        assert len(smoke) == 3 and all(t["ok"] for t in smoke.values()), smoke
        assert "port = 38517" in smoke["config, by a script of the submission (with a #! line)"]["output"]
    bundle = run_dir / "evidence" / "xch-tgz__lab-x86.tar.gz"
    assert verify_bundle(bundle) == []
    with tarfile.open(bundle) as tar:
        names = {m.name.split("/", 1)[1] for m in tar.getmembers()}
    assert {"submission/product.toml", "submission/smoke/config.sh", "submission/smoke/folder.sh"} <= names


def test_vendor_uninstall_that_forgets_its_user_leaves_residue(lab_inventory, tmp_path):
    run_dir = tmp_path / "run"
    try:
        done = certify(vendor_tarball(tmp_path, forget_user=True), "lab-x86", lab_inventory, run_dir)
        assert done.rc == 1, done.stderr[-2000:]
        residue = checks_of(done.json(), "lab-x86")["COMPAT-RESIDUE-001"]
        assert residue["outcome"] == "failed" and "xchtgz" in residue["reason"], residue
        assert checks_of(done.json(), "lab-x86")["COMPAT-UNINSTALL-001"]["outcome"] == "passed"
    finally:
        lab_run(lab_inventory, "lab-x86", "userdel xchtgz 2>/dev/null; true")
