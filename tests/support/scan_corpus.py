"""The scan-accuracy corpus: which trees (tests/scan_corpus/corpus.toml), fetched and cached from
Debian, and their hand-judged truth files beside that list.

Used by tests/integration/test_scan_corpus.py and benchmarks/scan_precision.py. Trees come
through harness.artifacts.DebianMirror's private apt configuration and cache (nothing of the host's apt is
touched); an `upstream` tree is the package's upstream tarball alone, checked against the SHA256
that the package's .dsc lists, and unpacked with xch's one archive reader (harness.artifacts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness import artifacts
from harness.artifacts import DebianMirror
from harness.core.errors import InfraError
from harness.scan.accuracy import Judgement, load_truth

HERE = Path(__file__).resolve().parent.parent / "scan_corpus"
APT_HELPER = "/usr/lib/apt/apt-helper"
_URI = re.compile(r"^'(?P<uri>[^']+)'\s+(?P<name>\S+)\s+(?P<size>\d+)\s+(?P<hash>\S+)$")


@dataclass(frozen=True)
class Tree:
    name: str
    package: str
    version: str
    profile: str
    upstream: bool = False

    @property
    def truth_file(self) -> Path:
        return HERE / f"{self.name}.truth.csv"

    def truth(self) -> list[Judgement]:
        return load_truth(self.truth_file)


def trees() -> list[Tree]:
    data = tomllib.loads((HERE / "corpus.toml").read_text(encoding="utf-8"))
    return [Tree(**entry) for entry in data["tree"]]


def fetch(tree: Tree, mirror: DebianMirror | None = None) -> Path:
    """The unpacked tree (downloaded once into the mirror's cache)."""
    mirror = mirror or DebianMirror()
    if not tree.upstream:
        return mirror.source(tree.package, tree.version)
    return _upstream(mirror, tree.package, tree.version)


def _upstream(mirror: DebianMirror, package: str, version: str) -> Path:
    workdir = mirror.root / "src" / f"{package}_{version}-upstream"
    done = workdir / ".xch-unpacked"
    if done.exists():
        return Path(done.read_text().strip())
    mirror.update()
    listing = mirror._apt("apt-get", "source", "--print-uris", f"{package}={version}")  # noqa: SLF001 - one apt
    orig = [m for m in (_URI.match(line.strip()) for line in listing.split("\n"))
            if m and ".orig.tar." in m.group("name") and not m.group("name").endswith(".asc")]
    if not orig:
        raise InfraError(f"apt-get source --print-uris {package}={version}: no upstream (.orig.tar.*) tarball listed")
    if shutil.which(APT_HELPER) is None and not Path(APT_HELPER).exists():
        raise InfraError(f"{APT_HELPER} not found: install apt to download upstream tarballs")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    entry = orig[0]
    tarball = workdir / entry.group("name")
    proc = subprocess.run([APT_HELPER, "download-file", entry.group("uri"), str(tarball), entry.group("hash")],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise InfraError(f"apt-helper download-file {entry.group('uri')} failed: {(proc.stderr or proc.stdout)[-400:]}")
    unpacked = workdir / "unpacked"
    artifacts.extract(tarball, unpacked, display=tarball.name)
    tops = [p for p in unpacked.iterdir()]
    tree = tops[0] if len(tops) == 1 and tops[0].is_dir() else unpacked
    done.write_text(str(tree))
    return tree
