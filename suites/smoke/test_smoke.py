"""Smoke suite: proves the pipeline end to end on every selected target.

Each check is small on purpose: if one of these fails, nothing else on that target is worth running.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from harness.core import arch as arches
from harness.core import shell

REQUIRED_FACTS = ("arch", "kernel", "os_id", "os_version", "glibc", "cores", "mem_total_mb", "page_size",
                  "pkg_manager", "cpu_vendor")


@pytest.mark.check("SMOKE-001", level="mandatory")
def test_target_answers(target, evidence):
    result = target.run("echo xch-ok; uname -a").check()
    assert result.stdout.startswith("xch-ok"), f"unexpected answer: {result.stdout!r}"
    evidence["uname"] = result.stdout.splitlines()[1]
    evidence["round_trip_s"] = round(result.elapsed, 4)


@pytest.mark.check("SMOKE-002", level="mandatory")
def test_facts_complete(target, facts, evidence):
    missing = [key for key in REQUIRED_FACTS if facts.get(key) in (None, "", [])]
    evidence["facts"] = {key: facts.get(key) for key in REQUIRED_FACTS}
    assert not missing, f"facts missing on {target.name}: {', '.join(missing)}"


@pytest.mark.check("SMOKE-003", level="mandatory")
def test_arch_matches_binaries(target, facts, evidence):
    """The userland's own binaries are of the reported architecture (a real check on emulated ARM)."""
    result = target.run("uname -m; od -An -tx1 -j18 -N2 /bin/sh").check()
    machine, elf_bytes = result.stdout.split("\n", 1)
    evidence["uname_m"] = machine
    evidence["elf_e_machine"] = elf_bytes.split()
    known = facts["arch"] in arches.ARCHES
    expected = [f"{b:02x}" for b in arches.elf_machine_bytes(facts["arch"])] if known else None
    assert machine == facts["arch"]
    if expected:
        assert elf_bytes.split() == expected, f"/bin/sh e_machine {elf_bytes.split()} does not match {machine}"


@pytest.mark.check("SMOKE-004", level="mandatory")
def test_can_write_temp_dir(target, tmp_path: Path, evidence):
    tmp = target.run("mktemp -d /tmp/xch-smoke.XXXXXX").check().stdout.strip()
    try:
        token = secrets.token_hex(8)
        target.run(f"printf %s {shell.quote(token)} > {shell.quote(tmp + '/probe')}").check()
        assert target.run(shell.command("cat", tmp + "/probe")).check().stdout == token
        local = tmp_path / "upload.bin"
        local.write_bytes(bytes(range(256)) * 64)
        target.put(local, tmp + "/upload.bin")
        back = tmp_path / "download.bin"
        target.get(tmp + "/upload.bin", back)
        assert back.read_bytes() == local.read_bytes(), "file changed in an upload/download round trip"
        evidence["temp_dir"] = tmp
    finally:
        target.run(shell.command("rm", "-rf", tmp))
