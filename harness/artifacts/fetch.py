"""Bring artifacts onto the controller, into a cache, and digest them (sha256 and SM3).

- A local file is used where it is.
- An apt artifact is downloaded with `apt-get download NAME:ARCH` into `$XCH_CACHE_DIR` (default
  `~/.cache/xch/artifacts`) by AptFetcher, with the controller's own sources.
- DebianMirror fetches Debian source and binary packages from a fixed suite (its own sources list,
  deb-src included) for the porting scan's tests on real code and for anyone scanning a distribution
  package; sources are unpacked with `dpkg-source -x` (package dpkg-dev).

Both run apt with a private state folder inside their cache (their own package lists for the
architectures needed), so the controller's apt configuration is never changed and no
`dpkg --add-architecture` is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from harness.core import arch as arches
from harness.core.errors import InfraError, InputError
from harness.core.locks import folder_lock
from harness.core.storage import atomic_write
from harness.product import Artifact, Product

LISTS_MAX_AGE = 3 * 86400  # refresh the private apt lists after this many seconds


def cache_dir() -> Path:
    return Path(os.environ.get("XCH_CACHE_DIR") or Path.home() / ".cache" / "xch" / "artifacts")


# -- digests ---------------------------------------------------------------------------------------

def digests(path: Path) -> dict[str, str]:
    """sha256 and SM3 of a file, streamed (SM3 comes from OpenSSL through hashlib)."""
    with open(path, "rb") as fh:
        return digest_stream(fh)


def digest_stream(fh: BinaryIO) -> dict[str, str]:
    """sha256 and SM3 of what a stream holds from where it is to its end."""
    sha, sm3 = hashlib.sha256(), hashlib.new("sm3")
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        sha.update(chunk)
        sm3.update(chunk)
    return {"sha256": sha.hexdigest(), "sm3": sm3.hexdigest()}


def digest_bytes(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "sm3": hashlib.new("sm3", data).hexdigest()}


# -- apt with a private state folder -----------------------------------------------------------------

def apt_options(state: Path, archs: list[str], sources: Path | None = None) -> list[str]:
    """`-o` options that keep apt's lists and cache in `state` (and, given `sources`, its sources list)."""
    lists, cache = state / "lists", state / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    opts = [f"Dir::State::Lists={lists}", f"Dir::Cache={cache}", "Debug::NoLocking=1", f"APT::Sandbox::User={user}",
            "Acquire::Retries=3", "quiet=1"]
    if sources is not None:
        opts += [f"Dir::Etc::SourceList={sources}", "Dir::Etc::SourceParts=/dev/null"]
    opts += [f"APT::Architectures::={a}" for a in archs]
    return [item for opt in opts for item in ("-o", opt)]


def run_apt(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    if shutil.which(argv[0]) is None:
        raise InfraError(f"{argv[0]} not found on the controller: apt artifacts need a Debian-family controller "
                         "(or give file = ... in the manifest)")
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise InfraError(f"{' '.join(argv[:1] + argv[-2:])} timed out after {timeout:g}s") from None


def _apt_failure(result: subprocess.CompletedProcess) -> str:
    return (result.stderr or result.stdout).strip()[-800:]


def _host_deb_arch() -> str:
    machine = os.uname().machine
    return arches.debian_arch(arches.canonical(machine) or machine) or machine


@dataclass
class Fetched:
    """An artifact resolved to a local file, with its digests."""

    artifact: Artifact
    path: Path
    sha256: str
    sm3: str

    def record(self) -> dict[str, Any]:
        """The product.json entry of the shared contract."""
        return {"arch": self.artifact.arch, "file": self.path.name, "sha256": self.sha256, "sm3": self.sm3,
                "source": self.artifact.describe()}


class AptFetcher:
    """`apt-get download` with a private state folder, so any architecture can be fetched."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or cache_dir()).resolve()
        self.apt_root = self.root / "apt"
        self.index_path = self.root / "index.json"

    def _archs(self, wanted: set[str]) -> list[str]:
        stamp = self.apt_root / "archs.json"
        known = set(json.loads(stamp.read_text())) if stamp.exists() else set()
        return sorted(known | wanted | {_host_deb_arch()})

    def _update(self, archs: list[str]) -> None:
        stamp = self.apt_root / "archs.json"
        known = set(json.loads(stamp.read_text())) if stamp.exists() else set()
        fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE
        if fresh and set(archs) <= known:
            return
        result = run_apt(["apt-get", *apt_options(self.apt_root, archs), "update"], cwd=self.root, timeout=900)
        if result.returncode != 0:
            raise InfraError(f"apt-get update (private lists in {self.apt_root}) failed: {_apt_failure(result)}")
        stamp.write_text(json.dumps(archs))

    def _index(self) -> dict[str, str]:
        return json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    def fetch(self, artifact: Artifact, arch: str | None = None) -> Path:
        """The cached .deb of an apt artifact for `arch` (canonical; defaults to the artifact's own)."""
        arch = arch or artifact.arch
        deb_arch = None if arch == arches.ALL else arches.debian_arch(arch)
        if arch != arches.ALL and deb_arch is None:
            raise InputError(f"apt:{artifact.apt}: no Debian architecture known for {arch!r}")
        spec = artifact.apt + (f":{deb_arch}" if deb_arch else "") + (f"={artifact.version}" if artifact.version else "")
        with folder_lock(self.root, ".lock"):  # one fetch at a time per cache (xdist workers, parallel certify runs)
            index = self._index()
            cached = index.get(spec)
            if cached and (self.root / cached).is_file():
                return self.root / cached
            archs = self._archs({deb_arch} if deb_arch else set())
            self._update(archs)
            with tempfile.TemporaryDirectory(dir=self.root, prefix=".dl-") as tmp:
                result = run_apt(["apt-get", *apt_options(self.apt_root, archs), "download", spec], cwd=Path(tmp),
                                 timeout=900)
                files = sorted(Path(tmp).glob("*.deb"))
                if result.returncode != 0 or len(files) != 1:
                    text = _apt_failure(result)
                    missing = any(s in text for s in ("Unable to locate package", "Can't select", "has no installation candidate",
                                                      "Version '", "Can't find a source"))
                    cls = InputError if missing else InfraError
                    raise cls(f"apt-get download {spec} failed: {text}")
                final = self.root / files[0].name
                os.replace(files[0], final)
            index[spec] = final.name
            atomic_write(self.index_path, json.dumps(index, indent=1, sort_keys=True))
            return final


def fetch(artifact: Artifact, fetcher: AptFetcher | None = None) -> Fetched:
    path = artifact.file if artifact.file else (fetcher or AptFetcher()).fetch(artifact)
    if path is None or not Path(path).is_file():
        raise InputError(f"artifact {artifact.describe()}: file not found")
    return Fetched(artifact, Path(path), **digests(Path(path)))


def fetch_product(product: Product, archs: list[str] | None = None, fetcher: AptFetcher | None = None) -> list[Fetched]:
    """Every artifact of `archs` (default: all), fetched and digested, in manifest order."""
    fetcher = fetcher or AptFetcher()
    wanted = [a for a in product.artifacts if archs is None or a.arch in archs or a.arch == arches.ALL]
    return [fetch(a, fetcher) for a in wanted]


# -- a fixed Debian suite, sources included ----------------------------------------------------------

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR_ARCHES = ("amd64", "arm64")


def mirror_cache_dir() -> Path:
    base = os.environ.get("XCH_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "xch")
    return Path(base) / "debian"


class DebianMirror:
    """Debian source and binary packages of one suite, fetched into a private cache.

        mirror = DebianMirror()                      # $XCH_CACHE_DIR/debian or ~/.cache/xch/debian
        tree = mirror.source("xxhash", "0.8.1-1")    # unpacked source tree
        deb = mirror.binary("memcached", "arm64")    # a .deb file
    """

    def __init__(self, root: Path | None = None, mirror: str = MIRROR, suite: str = SUITE) -> None:
        self.root = (root or mirror_cache_dir()).resolve()
        self.mirror = mirror
        self.suite = suite
        self.apt = self.root / "apt"

    def _apt(self, tool: str, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
        argv = [tool, *apt_options(self.apt, list(MIRROR_ARCHES), self.apt / "sources.list"), *args]
        proc = run_apt(argv, cwd=cwd or self.root, timeout=timeout)
        if proc.returncode != 0:
            raise InfraError(f"{tool} {' '.join(args)} failed (rc {proc.returncode}): {_apt_failure(proc)}")
        return proc.stdout

    def update(self) -> None:
        """Write the private sources list and download package lists (once; delete the cache to refresh)."""
        lists = self.apt / "lists"
        if any(lists.glob("*Sources*")) and any(lists.glob("*arm64_Packages*")):
            return
        lists.mkdir(parents=True, exist_ok=True)
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
        if arch not in MIRROR_ARCHES:
            raise ValueError(f"arch must be one of {MIRROR_ARCHES}")
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
