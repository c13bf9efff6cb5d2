"""Fetch real Debian source and binary packages into a private cache, without touching the host's apt.

apt runs with its own sources list, lists, cache and architectures (`-o Dir::...`), so the host
needs no `deb-src` line and no `dpkg --add-architecture arm64`; only this cache is written.
Sources are unpacked with `dpkg-source -x` (package dpkg-dev). Used by the integration tests on
real code and by anyone who wants to scan a distribution package:

    mirror = DebianMirror()                      # $XCH_CACHE_DIR/debian or ~/.cache/xch/debian
    tree = mirror.source("xxhash", "0.8.1-1")    # unpacked source tree
    deb = mirror.binary("memcached", "arm64")    # a .deb file
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.core.errors import InfraError

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
ARCHES = ("amd64", "arm64")


def cache_dir() -> Path:
    base = os.environ.get("XCH_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "xch")
    return Path(base) / "debian"


class DebianMirror:
    def __init__(self, root: Path | None = None, mirror: str = MIRROR, suite: str = SUITE) -> None:
        self.root = (root or cache_dir()).resolve()
        self.mirror = mirror
        self.suite = suite
        self.apt = self.root / "apt"

    def _options(self) -> list[str]:
        opts = [f"Dir::Etc::SourceList={self.apt / 'sources.list'}", "Dir::Etc::SourceParts=/dev/null",
                f"Dir::State::Lists={self.apt / 'lists'}", f"Dir::Cache={self.apt / 'cache'}",
                "APT::Sandbox::User=root" if os.geteuid() == 0 else "APT::Sandbox::User=" + os.environ.get("USER", "nobody"),
                "Acquire::Retries=3"]
        opts += [f"APT::Architectures::={arch}" for arch in ARCHES]
        return [item for opt in opts for item in ("-o", opt)]

    def _apt(self, tool: str, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
        if shutil.which(tool) is None:
            raise InfraError(f"{tool} not found: install apt (Debian/Ubuntu controller needed for package fetching)")
        proc = subprocess.run([tool, "-q", *self._options(), *args], cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise InfraError(f"{tool} {' '.join(args)} failed (rc {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[-800:]}")
        return proc.stdout

    def update(self) -> None:
        """Write the private sources list and download package lists (once; delete the cache to refresh)."""
        lists = self.apt / "lists"
        if any(lists.glob("*Sources*")) and any(lists.glob("*arm64_Packages*")):
            return
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (self.apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        signed = f" [signed-by={KEYRING}]" if os.path.exists(KEYRING) else ""
        (self.apt / "sources.list").write_text(
            f"deb{signed} {self.mirror} {self.suite} main\ndeb-src{signed} {self.mirror} {self.suite} main\n")
        self._apt("apt-get", "update")

    def source(self, name: str, version: str) -> Path:
        """The unpacked source tree of NAME=VERSION (downloaded and unpacked once)."""
        workdir = self.root / "src" / f"{name}_{version}"
        done = workdir / ".xch-unpacked"
        if done.exists():
            return Path(done.read_text().strip())
        self.update()
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        self._apt("apt-get", "source", "--download-only", f"{name}={version}", cwd=workdir)
        if shutil.which("dpkg-source") is None:
            raise InfraError("dpkg-source not found: install the dpkg-dev package to unpack Debian sources")
        dsc = next(workdir.glob("*.dsc"))
        proc = subprocess.run(["dpkg-source", "--no-check", "-x", dsc.name, "tree"], cwd=workdir,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise InfraError(f"dpkg-source -x {dsc.name} failed: {proc.stderr.strip()[-800:]}")
        tree = workdir / "tree"
        done.write_text(str(tree))
        return tree

    def binary(self, name: str, arch: str) -> Path:
        """A downloaded .deb of NAME for ARCH (amd64 or arm64)."""
        if arch not in ARCHES:
            raise ValueError(f"arch must be one of {ARCHES}")
        target = self.root / "deb" / arch
        found = sorted(target.glob(f"{name}_*_{arch}.deb"))
        if found:
            return found[-1]
        self.update()
        target.mkdir(parents=True, exist_ok=True)
        self._apt("apt-get", "download", f"{name}:{arch}", cwd=target)
        found = sorted(target.glob(f"{name}_*_{arch}.deb"))
        if not found:
            raise InfraError(f"apt-get download {name}:{arch} left no .deb in {target}")
        return found[-1]
