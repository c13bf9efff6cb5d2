"""Targets reached as an ordinary user with `sudo = true`, as most real labs allow (root logins are
off by default on Kylin, UOS and openEuler), on the real lab-x86.

The fixture adds two users to the lab-x86 chroot: one with password-less sudo, one whose sudo
asks for a password. Through the first, facts, the smoke suite and a full compat certification
must behave as they do for root: every command runs in a `sudo -n /bin/sh` session, and uploads
(SFTP as the login user) are staged in /tmp and moved into place by root. Through the second, the
error must say why. The users, their sudoers files and the sudo package are removed afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.inventory import load_inventory
from harness.transport import open_connection

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parents[2]
LAB_KEY = "/var/lib/xch/lab/id_ed25519"
LAB_KNOWN_HOSTS = "/var/lib/xch/lab/known_hosts"
USER, NO_NOPASSWD = "xchsudo", "xchpwsudo"


def xch(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT, capture_output=True,
                          text=True, timeout=timeout)


def _root(lab_inventory: Path, command: str, timeout: float = 600) -> str:
    conn = open_connection(load_inventory([lab_inventory]).get("lab-x86"))
    try:
        return conn.run(command, timeout=timeout).check().stdout
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sudo_inventory(lab_inventory, tmp_path_factory) -> Path:
    key = Path(LAB_KEY + ".pub").read_text().strip()
    setup = [
        "command -v sudo >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "
        "install -y sudo >/dev/null",
    ]
    for user, rule in ((USER, "NOPASSWD: ALL"), (NO_NOPASSWD, "ALL")):
        setup += [f"id {user} >/dev/null 2>&1 || useradd -m -s /bin/sh {user}",
                  f"usermod -p '*' {user}",  # no password, but not locked: sshd (without PAM) refuses locked accounts
                  f"mkdir -p /home/{user}/.ssh && echo '{key}' > /home/{user}/.ssh/authorized_keys",
                  f"chown -R {user}: /home/{user}/.ssh && chmod 700 /home/{user}/.ssh",
                  f"echo '{user} ALL=(ALL) {rule}' > /etc/sudoers.d/{user} && chmod 440 /etc/sudoers.d/{user}"]
    _root(lab_inventory, " && ".join(setup))
    common = (f'host = "127.0.0.3"\nport = 2202\nidentity_file = "{LAB_KEY}"\nknown_hosts = "{LAB_KNOWN_HOSTS}"\n'
              f'sudo = true\nconnect_timeout = 20\n')
    inventory = tmp_path_factory.mktemp("sudo") / "sudo.toml"
    inventory.write_text(f'[[target]]\nname = "lab-x86-sudo"\nuser = "{USER}"\n{common}\n'
                         f'[[target]]\nname = "lab-x86-password"\nuser = "{NO_NOPASSWD}"\n{common}')
    yield inventory
    _root(lab_inventory, "; ".join(f"userdel -r {u} 2>/dev/null; rm -f /etc/sudoers.d/{u}" for u in (USER, NO_NOPASSWD))
          + "; DEBIAN_FRONTEND=noninteractive SUDO_FORCE_REMOVE=yes apt-get -o DPkg::Lock::Timeout=600 -q "
            "purge -y sudo >/dev/null; true")


def test_facts_through_sudo_are_root_facts(sudo_inventory):
    done = xch("targets", "check", "--inventory", str(sudo_inventory), "--targets", "lab-x86-sudo", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    [entry] = json.loads(done.stdout)
    assert entry["reachable"] and entry["facts"]["arch"] == "x86_64" and entry["facts"]["is_root"] is True


def test_uploads_and_downloads_work_anywhere_through_sudo(sudo_inventory, tmp_path):
    target = load_inventory([sudo_inventory]).get("lab-x86-sudo")
    conn = open_connection(target)
    try:
        assert conn.run("id -un", timeout=30).stdout.strip() == "root"
        conn.run("mkdir -p /root/xch-sudo-test && chmod 700 /root/xch-sudo-test", timeout=30).check()
        local = tmp_path / "payload.txt"
        local.write_text("信创 payload\n")
        conn.put(local, "/root/xch-sudo-test/payload.txt")  # a folder the login user cannot even see
        owner = conn.run("stat -c %U /root/xch-sudo-test/payload.txt", timeout=30).stdout.strip()
        assert owner == "root"
        conn.get("/root/xch-sudo-test/payload.txt", tmp_path / "back.txt")
        assert (tmp_path / "back.txt").read_text() == "信创 payload\n"
        left = conn.run("ls -a /tmp | grep -c '^.xch-put-\\|^.xch-get-'; rm -rf /root/xch-sudo-test", timeout=30)
        assert left.stdout.split()[0] == "0"  # no staging file left behind
    finally:
        conn.close()


def test_certify_through_sudo(sudo_inventory, tmp_path):
    """The whole compat lifecycle (apt, init scripts, kill -9, residue) as an ordinary user with sudo."""
    done = xch("certify", str(PROJECT / "products" / "memcached"), "--inventory", str(sudo_inventory),
               "--targets", "lab-x86-sudo", "--run-dir", str(tmp_path / "run"), "--json")
    data = json.loads(done.stdout)
    [entry] = data["targets"]
    failing = [(c["check_id"], c["outcome"], c["reason"]) for c in entry["checks"]
               if c["level"] == "mandatory" and c["outcome"] != "passed"]
    assert not failing, failing
    assert done.returncode == 0 and entry["verdict"] == "compatible", done.stderr[-2000:]


def test_sudo_that_asks_for_a_password_is_named(sudo_inventory):
    done = xch("targets", "check", "--inventory", str(sudo_inventory), "--targets", "lab-x86-password", "--json")
    assert done.returncode == 3, done.stdout + done.stderr
    [entry] = json.loads(done.stdout)
    assert not entry["reachable"] and "password is required" in entry["error"], entry
