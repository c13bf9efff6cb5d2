"""Unit tests for the pure parts of harness.lab (no root, no chroot, no network beyond loopback)."""

from __future__ import annotations

import json
import os
import socket
import threading
import tomllib
from pathlib import Path

import pytest

from harness.core.errors import LabError
from harness.core.storage import atomic_write
from harness.lab import host, images, sshd, state

# ----------------------------------------------------------------- TOML


@pytest.mark.parametrize(
    "value, expected",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\path\\x", '"C:\\\\path\\\\x"'),
        ("a\nb\tc", '"a\\nb\\tc"'),
        ("bell\x07", '"bell\\u0007"'),
        ("中文 ok", '"中文 ok"'),
    ],
)
def test_toml_string_escapes(value: str, expected: str) -> None:
    assert state.toml_string(value) == expected
    assert tomllib.loads(f"k = {state.toml_string(value)}")["k"] == value


def test_toml_key_bare_or_quoted() -> None:
    assert state.toml_key("arch") == "arch"
    assert state.toml_key("my-label_2") == "my-label_2"
    assert state.toml_key("has space") == '"has space"'
    assert state.toml_key("dot.ted") == '"dot.ted"'


def test_render_inventory_matches_documented_format() -> None:
    targets = state.builtin_targets(native="x86_64")
    text = state.render_inventory(targets, Path("/var/lib/xch/lab/id_ed25519"),
                                Path("/var/lib/xch/lab/known_hosts"))
    assert text.startswith("# Written by `xch lab up`; removed by `xch lab down`.")
    data = tomllib.loads(text)
    assert data["target"] == [
        {
            "name": "lab-arm64", "host": "127.0.0.2", "port": 2201, "user": "root",
            "identity_file": "/var/lib/xch/lab/id_ed25519",
            "known_hosts": "/var/lib/xch/lab/known_hosts",
            "labels": {"lab": "true", "arch": "aarch64", "emulated": "qemu-user"},
        },
        {
            "name": "lab-x86", "host": "127.0.0.3", "port": 2202, "user": "root",
            "identity_file": "/var/lib/xch/lab/id_ed25519",
            "known_hosts": "/var/lib/xch/lab/known_hosts",
            "labels": {"lab": "true", "arch": "x86_64", "role": "baseline"},
        },
    ]
    # The exact label line of the brief, byte for byte.
    assert 'labels = { lab = "true", arch = "aarch64", emulated = "qemu-user" }' in text


def test_render_inventory_escapes_odd_paths() -> None:
    weird = Path('/tmp/we"ird\\lab/id_ed25519')
    data = tomllib.loads(state.render_inventory(state.builtin_targets("x86_64"), weird, weird))
    assert data["target"][0]["identity_file"] == str(weird)


def test_on_arm_host_the_arm_target_is_not_emulated() -> None:
    arm, x86 = state.builtin_targets(native="aarch64")
    assert "emulated" not in arm.labels
    assert x86.labels["emulated"] == "qemu-user"


# ----------------------------------------------------------------- ports and banners


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_port_in_use_detects_a_real_listener() -> None:
    sock = _listener()
    port = sock.getsockname()[1]
    try:
        assert host.port_in_use("127.0.0.1", port)
        with pytest.raises(LabError, match=f"127.0.0.1:{port}"):
            host.check_port_free("127.0.0.1", port, "lab-test")
    finally:
        sock.close()
    assert not host.port_in_use("127.0.0.1", port)
    host.check_port_free("127.0.0.1", port, "lab-test")  # no exception once it is free


def test_port_in_use_sees_a_wildcard_listener() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("0.0.0.0", 0))
    sock.listen(1)
    try:
        assert host.port_in_use("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


def _serve_once(sock: socket.socket, payload: bytes) -> threading.Thread:
    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            conn.sendall(payload)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_read_banner_accepts_ssh2() -> None:
    sock = _listener()
    try:
        thread = _serve_once(sock, b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n")
        assert sshd.read_banner("127.0.0.1", sock.getsockname()[1]) == "SSH-2.0-OpenSSH_9.2p1 Debian"
        thread.join(2)
        thread = _serve_once(sock, b"HTTP/1.1 400 Bad Request\r\n")
        assert not sshd.ssh_answering("127.0.0.1", sock.getsockname()[1])
        thread.join(2)
    finally:
        sock.close()


def test_no_banner_from_a_closed_port() -> None:
    sock = _listener()
    port = sock.getsockname()[1]
    sock.close()
    assert sshd.read_banner("127.0.0.1", port, timeout=1) is None


# ----------------------------------------------------------------- state and files


def test_state_round_trip_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    assert state.load_state(path) == state.empty_state()
    st = state.empty_state()
    st["extras"].append({"name": "euler", "file": "/x.tar", "arch": "aarch64"})
    st["targets"]["lab-arm64"] = {"pid": 42, "mounts": ["/a/proc"]}
    state.save_state(path, st)
    assert state.load_state(path) == st
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp files left
    assert json.loads(path.read_text())["version"] == state.STATE_VERSION


def test_corrupt_state_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(LabError, match="state"):
        state.load_state(path)
    path.write_text(json.dumps({"version": 999}))
    with pytest.raises(LabError, match="unknown format"):
        state.load_state(path)


def test_atomic_write_skips_identical_content(tmp_path: Path) -> None:
    path = tmp_path / "f"
    atomic_write(path, "same\n", 0o644, keep_if_same=True)
    os.utime(path, (1, 1))
    atomic_write(path, "same\n", 0o644, keep_if_same=True)
    assert path.stat().st_mtime == 1
    atomic_write(path, "changed\n", 0o644, keep_if_same=True)
    assert path.read_text() == "changed\n"


def test_write_in_root_never_follows_a_symlink_out(tmp_path: Path) -> None:
    outside = tmp_path / "host-resolv.conf"
    outside.write_text("host\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "resolv.conf").symlink_to(outside)
    host._write_in_root(root, "/etc/resolv.conf", "nameserver 1.1.1.1\n")
    assert outside.read_text() == "host\n"
    assert not (root / "etc" / "resolv.conf").is_symlink()
    assert (root / "etc" / "resolv.conf").read_text() == "nameserver 1.1.1.1\n"


def test_lab_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XCH_LAB_DIR", str(tmp_path))
    assert state.lab_dir() == tmp_path.resolve()
    monkeypatch.delenv("XCH_LAB_DIR")
    assert state.lab_dir() == Path("/var/lib/xch/lab")


# ----------------------------------------------------------------- preconditions


def test_require_root() -> None:
    with pytest.raises(LabError, match="root"):
        host.require_root(euid=1000)
    host.require_root(euid=0)


def test_parse_binfmt_entry() -> None:
    text = ("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"
            "offset 0\nmagic 7f454c46\n")
    assert host.parse_binfmt_entry(text) == {
        "enabled": True, "interpreter": "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "flags": "PF"}
    assert host.parse_binfmt_entry("disabled\n")["enabled"] is False


def test_ensure_binfmt_errors_name_the_fix(tmp_path: Path) -> None:
    assert host.ensure_binfmt("x86_64", tmp_path, native="x86_64", fix=False) is None
    with pytest.raises(LabError, match="binfmt_misc is not available"):
        host.ensure_binfmt("aarch64", tmp_path, native="x86_64", fix=False)
    (tmp_path / "register").write_text("")
    with pytest.raises(LabError, match="qemu-user-static"):
        host.ensure_binfmt("aarch64", tmp_path, native="x86_64", fix=False)
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /q\nflags: PF\n")
    assert host.ensure_binfmt("aarch64", tmp_path, native="x86_64", fix=False)["flags"] == "PF"


def test_mounts_under_parses_escapes_and_order(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
        "43 27 0:40 / /lab/images/a/proc rw - proc proc rw\n"
        "44 27 0:41 / /lab/images/my\\040img/run rw - tmpfs tmpfs rw\n"
        "45 27 0:42 / /labx/other rw - tmpfs tmpfs rw\n"
        "46 27 0:43 / /lab rw - tmpfs tmpfs rw\n"
    )
    assert host.mounts_under(Path("/lab"), info) == ["/lab/images/a/proc", "/lab/images/my img/run"]


# ----------------------------------------------------------------- extras and images


def test_extras_get_next_free_addresses() -> None:
    st = state.empty_state()
    state.merge_extras(st, [state.RootfsSpec(Path("/tmp/euler.tar.xz"), "euler", "aarch64"),
                             state.RootfsSpec(Path("/tmp/kylin.tar"), "kylin", "x86_64")])
    targets = state.all_targets(st, native="x86_64")
    assert [(t.name, t.host, t.port) for t in targets] == [
        ("lab-arm64", "127.0.0.2", 2201), ("lab-x86", "127.0.0.3", 2202),
        ("euler", "127.0.0.4", 2203), ("kylin", "127.0.0.5", 2204)]
    assert targets[2].labels == {"lab": "true", "arch": "aarch64", "image": "euler",
                                 "emulated": "qemu-user"}
    # Given again (say with a new file), an extra keeps its address.
    state.merge_extras(st, [state.RootfsSpec(Path("/tmp/euler2.tar"), "euler", "aarch64")])
    again = state.all_targets(st, native="x86_64")
    assert [(t.name, t.port) for t in again][2:] == [("euler", 2203), ("kylin", 2204)]
    assert st["extras"][0]["file"] == "/tmp/euler2.tar"


@pytest.mark.parametrize("name, arch, match", [
    ("euler", "arm64", "arch must be"),
    ("bookworm-arm64", "aarch64", "clashes"),
    ("../evil", "aarch64", "must be letters"),
    ("x.partial", "aarch64", "must be letters"),
    ("vm-x86", "x86_64", "built-in lab target"),
    ("lab-arm64", "aarch64", "built-in lab target"),
])
def test_bad_extras_are_rejected(name: str, arch: str, match: str) -> None:
    with pytest.raises(LabError, match=match):
        state.merge_extras(state.empty_state(), [state.RootfsSpec(Path("/t.tar"), name, arch)])


def _fake_elf(path: Path, machine: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + (2).to_bytes(2, "little") + machine.to_bytes(2, "little")
    path.write_bytes(header + b"\0" * 44)


def test_check_rootfs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _fake_elf(root / "usr" / "bin" / "dash", 0xB7)
    (root / "bin").mkdir()
    (root / "bin" / "sh").symlink_to("/usr/bin/dash")  # absolute link, judged inside the image
    with pytest.raises(LabError, match="no sshd"):
        images.check_rootfs(root, "euler", "aarch64")
    _fake_elf(root / "usr" / "sbin" / "sshd", 0xB7)
    assert images.elf_arch(root) == "aarch64"
    images.check_rootfs(root, "euler", "aarch64")
    with pytest.raises(LabError, match="declared x86_64"):
        images.check_rootfs(root, "euler", "x86_64")


def test_hoist_single_wrapping_dir(tmp_path: Path) -> None:
    root = tmp_path / "img.partial"
    (root / "rootfs" / "etc").mkdir(parents=True)
    (root / "rootfs" / "etc" / "os-release").write_text("NAME=openEuler\n")
    images._hoist_single_dir(root)
    assert (root / "etc" / "os-release").read_text() == "NAME=openEuler\n"
    assert not (root / "rootfs").exists()


def test_unlock_root_for_pubkey(tmp_path: Path) -> None:
    shadow = tmp_path / "etc" / "shadow"
    shadow.parent.mkdir()
    shadow.write_text("root:!!:19000:0:99999:7:::\nbin:*:19000::::::\n")
    host.unlock_root_for_pubkey(tmp_path)
    assert shadow.read_text() == "root:*:19000:0:99999:7:::\nbin:*:19000::::::\n"


def test_host_key_lines_format(tmp_path: Path) -> None:
    ssh = tmp_path / "etc" / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "ssh_host_ed25519_key.pub").write_text("ssh-ed25519 AAAAC3Nz root@h\n")
    (ssh / "ssh_host_rsa_key.pub").write_text("ssh-rsa AAAAB3Nz root@h\n")
    assert sshd.host_key_lines(tmp_path, "127.0.0.2", 2201) == [
        "[127.0.0.2]:2201 ssh-ed25519 AAAAC3Nz", "[127.0.0.2]:2201 ssh-rsa AAAAB3Nz"]
    with pytest.raises(LabError, match="no host keys"):
        sshd.host_key_lines(tmp_path / "nothing", "127.0.0.2", 2201)


def test_is_our_sshd_rejects_other_processes(tmp_path: Path) -> None:
    assert not sshd.is_our_sshd(os.getpid(), tmp_path)  # we are not an sshd chrooted there
    assert not sshd.is_our_sshd(1, Path("/"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "sshd.xch.pid").write_text(f"{os.getpid()}\n")
    assert sshd.read_pidfile(tmp_path) == os.getpid()
    assert sshd.running_sshd(tmp_path) is None
