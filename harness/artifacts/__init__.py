"""Product artifacts: fetch them into a cache, digest them, and look inside without a target.

- Fetch: a local file is used where it is; an apt artifact is downloaded on the controller with
  `apt-get download NAME:ARCH` into `$XCH_CACHE_DIR` (default `~/.cache/xch/artifacts`). apt runs
  with a private state folder inside the cache (its own package lists for the architectures we
  need), so the controller's apt configuration is never changed and no `dpkg --add-architecture`
  is needed.
- Digest: sha256 and SM3 (`hashlib.new("sm3")`, from OpenSSL 3) of every file, streamed.
- Inspect: deb (ar + tar), rpm (lead, headers, cpio payload) and tar.gz are read member by member
  in memory (nothing is written to disk, so no member can escape a folder); ELF files are parsed
  with pyelftools: machine, class, highest GLIBC_x.y needed, NEEDED, RPATH/RUNPATH. Java archives
  are searched for bundled native libraries and wheels for their platform tags, also when they sit
  inside a package.
- Judge (pure functions over an inspection report): wrong machine, too new a glibc, unsafe or
  stale RPATH/RUNPATH entries.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import posixpath
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from harness.core.errors import InfraError, InputError
from harness.core.locks import folder_lock
from harness.core.storage import atomic_write
from harness.product import Artifact, Product

INSPECT_VERSION = 2  # bump when the inspection output changes, so cached inspections are redone
MAX_MEMBER = 512 * 1024 * 1024  # larger members are listed but not parsed
LISTS_MAX_AGE = 3 * 86400  # refresh the private apt lists after this many seconds

# Canonical arch (uname -m) -> Debian architecture, and -> the ELF machine we expect to find.
DEB_ARCH = {"aarch64": "arm64", "x86_64": "amd64", "loongarch64": "loong64", "mips64": "mips64el",
            "riscv64": "riscv64", "ppc64le": "ppc64el", "s390x": "s390x", "armv7l": "armhf", "i686": "i386"}
ELF_MACHINE_FOR_ARCH = {"aarch64": "aarch64", "x86_64": "x86-64", "loongarch64": "loongarch", "mips64": "mips",
                        "riscv64": "riscv", "ppc64le": "ppc64", "s390x": "s390", "armv7l": "arm", "i686": "i386"}
_ELF_MACHINES = {"EM_AARCH64": "aarch64", "EM_X86_64": "x86-64", "EM_386": "i386", "EM_ARM": "arm",
                 "EM_MIPS": "mips", "EM_PPC64": "ppc64", "EM_PPC": "ppc", "EM_S390": "s390", "EM_RISCV": "riscv",
                 "EM_LOONGARCH": "loongarch", "EM_BPF": "bpf", 258: "loongarch"}
# Wheel platform tag fragments per arch (manylinux2014_aarch64, linux_x86_64, ...).
WHEEL_ARCH = {"aarch64": ("aarch64", "arm64"), "x86_64": ("x86_64", "amd64"), "loongarch64": ("loongarch64",),
              "riscv64": ("riscv64",), "ppc64le": ("ppc64le",), "s390x": ("s390x",), "mips64": ("mips64",),
              "armv7l": ("armv7l",), "i686": ("i686",)}
NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".jnilib", ".a")
_GLIBC_RE = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


def cache_dir() -> Path:
    return Path(os.environ.get("XCH_CACHE_DIR") or Path.home() / ".cache" / "xch" / "artifacts")


# -- digests ---------------------------------------------------------------------------------------

def digests(path: Path) -> dict[str, str]:
    """sha256 and SM3 of a file, streamed (SM3 comes from OpenSSL through hashlib)."""
    sha, sm3 = hashlib.sha256(), hashlib.new("sm3")
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
            sm3.update(chunk)
    return {"sha256": sha.hexdigest(), "sm3": sm3.hexdigest()}


def digest_bytes(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "sm3": hashlib.new("sm3", data).hexdigest()}


# -- fetching --------------------------------------------------------------------------------------

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


def _locked(folder: Path):
    """One fetch at a time per cache (xdist workers and parallel certify runs share it)."""
    return folder_lock(folder, ".lock")


class AptFetcher:
    """`apt-get download` with a private state folder, so any architecture can be fetched."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or cache_dir()).resolve()
        self.apt_root = self.root / "apt"
        self.index_path = self.root / "index.json"

    def _options(self, archs: list[str]) -> list[str]:
        lists, cache = self.apt_root / "lists", self.apt_root / "cache"
        (lists / "partial").mkdir(parents=True, exist_ok=True)
        (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        opts = ["-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={cache}", "-o", "Debug::NoLocking=1",
                "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=3", "-o", "quiet=1"]
        for arch in archs:
            opts += ["-o", f"APT::Architectures::={arch}"]
        return opts

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
        result = _apt(["apt-get", *self._options(archs), "update"], cwd=self.root, timeout=900)
        if result.returncode != 0:
            raise InfraError(f"apt-get update (private lists in {self.apt_root}) failed: "
                             f"{(result.stderr or result.stdout).strip()[-800:]}")
        stamp.write_text(json.dumps(archs))

    def _index(self) -> dict[str, str]:
        return json.loads(self.index_path.read_text()) if self.index_path.exists() else {}

    def fetch(self, artifact: Artifact, arch: str | None = None) -> Path:
        """The cached .deb of an apt artifact for `arch` (canonical; defaults to the artifact's own)."""
        arch = arch or artifact.arch
        deb_arch = None if arch == "all" else DEB_ARCH.get(arch)
        if arch != "all" and deb_arch is None:
            raise InputError(f"apt:{artifact.apt}: no Debian architecture known for {arch!r}")
        spec = artifact.apt + (f":{deb_arch}" if deb_arch else "") + (f"={artifact.version}" if artifact.version else "")
        with _locked(self.root):
            index = self._index()
            cached = index.get(spec)
            if cached and (self.root / cached).is_file():
                return self.root / cached
            archs = self._archs({deb_arch} if deb_arch else set())
            self._update(archs)
            with tempfile.TemporaryDirectory(dir=self.root, prefix=".dl-") as tmp:
                result = _apt(["apt-get", *self._options(archs), "download", spec], cwd=Path(tmp), timeout=900)
                files = sorted(Path(tmp).glob("*.deb"))
                if result.returncode != 0 or len(files) != 1:
                    text = (result.stderr or result.stdout).strip()[-800:]
                    missing = any(s in text for s in ("Unable to locate package", "Can't select", "has no installation candidate",
                                                      "Version '", "Can't find a source"))
                    cls = InputError if missing else InfraError
                    raise cls(f"apt-get download {spec} failed: {text}")
                final = self.root / files[0].name
                os.replace(files[0], final)
            index[spec] = final.name
            atomic_write(self.index_path, json.dumps(index, indent=1, sort_keys=True))
            return final


def _host_deb_arch() -> str:
    return DEB_ARCH.get(os.uname().machine, os.uname().machine)


def _apt(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    if shutil.which(argv[0]) is None:
        raise InfraError(f"{argv[0]} not found on the controller: apt artifacts need a Debian-family controller "
                         "(or give file = ... in the manifest)")
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise InfraError(f"{' '.join(argv[:1] + argv[-2:])} timed out after {timeout:g}s") from None


def fetch(artifact: Artifact, fetcher: AptFetcher | None = None) -> Fetched:
    path = artifact.file if artifact.file else (fetcher or AptFetcher()).fetch(artifact)
    if path is None or not Path(path).is_file():
        raise InputError(f"artifact {artifact.describe()}: file not found")
    return Fetched(artifact, Path(path), **digests(Path(path)))


def fetch_product(product: Product, archs: list[str] | None = None, fetcher: AptFetcher | None = None) -> list[Fetched]:
    """Every artifact of `archs` (default: all), fetched and digested, in manifest order."""
    fetcher = fetcher or AptFetcher()
    wanted = [a for a in product.artifacts if archs is None or a.arch in archs or a.arch == "all"]
    return [fetch(a, fetcher) for a in wanted]


# -- reading archives member by member --------------------------------------------------------------

@dataclass
class Member:
    """One entry of a package payload: a path (no leading ./ or /), its kind, and its bytes if small enough."""

    path: str
    kind: str  # file, dir, symlink, other
    size: int
    mode: int
    link: str = ""
    data: bytes | None = None


def _decompress(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00" or data[:1] == b"\x5d":
        return lzma.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        if shutil.which("zstd") is None:
            raise InputError("zstd-compressed payload and no zstd program on the controller")
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    return data


def _ar_members(fh: BinaryIO, source: Path) -> dict[str, bytes]:
    if fh.read(8) != b"!<arch>\n":
        raise InputError(f"{source}: not a Debian package (no ar header)")
    members = {}
    while True:
        header = fh.read(60)
        if len(header) < 60:
            break
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip() or 0)
        members[name] = fh.read(size)
        if size % 2:
            fh.read(1)
    return members


def _norm(name: str) -> str:
    """Archive member name -> path without a leading ./ or / (./.hidden stays .hidden)."""
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/").rstrip("/") if name != "." else ""


def _tar_members(data: bytes) -> Iterator[Member]:
    with tarfile.open(fileobj=io.BytesIO(_decompress(data)), mode="r:") as tar:
        for info in tar:
            path = _norm(info.name)
            if not path:
                continue
            if info.isfile():
                blob = tar.extractfile(info).read() if info.size <= MAX_MEMBER else None
                yield Member(path, "file", info.size, info.mode, data=blob)
            elif info.isdir():
                yield Member(path.rstrip("/"), "dir", 0, info.mode)
            elif info.issym() or info.islnk():
                yield Member(path, "symlink" if info.issym() else "hardlink", 0, info.mode, link=info.linkname)
            else:
                yield Member(path, "other", 0, info.mode)


def deb_control(path: Path) -> dict[str, str]:
    """The control fields of a .deb (Package, Version, Architecture, Depends...)."""
    with open(path, "rb") as fh:
        members = _ar_members(fh, path)
    control = next((v for k, v in members.items() if k.startswith("control.tar")), None)
    if control is None:
        raise InputError(f"{path}: Debian package without control.tar")
    for member in _tar_members(control):
        if member.path == "control" and member.data is not None:
            return _parse_control(member.data.decode("utf-8", "replace"))
    raise InputError(f"{path}: control.tar has no control file")


def _parse_control(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    return fields


def _rpm_header(fh: BinaryIO, source: Path, pad: bool) -> dict[int, Any]:
    magic = fh.read(8)
    if magic[:3] != b"\x8e\xad\xe8":
        raise InputError(f"{source}: damaged RPM header")
    count, size = struct.unpack(">II", fh.read(8))
    index = fh.read(16 * count)
    store = fh.read(size)
    if pad and (16 + 16 * count + size) % 8:
        fh.read(8 - (16 + 16 * count + size) % 8)
    tags: dict[int, Any] = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack(">IIII", index[16 * i:16 * i + 16])
        if kind in (6, 9):  # STRING, I18NSTRING
            tags[tag] = store[offset:store.index(b"\0", offset)].decode("utf-8", "replace")
        elif kind == 8:  # STRING_ARRAY
            values, pos = [], offset
            for _ in range(n):
                end = store.index(b"\0", pos)
                values.append(store[pos:end].decode("utf-8", "replace"))
                pos = end + 1
            tags[tag] = values
    return tags


def rpm_info(path: Path) -> tuple[dict[str, Any], bytes]:
    """(name/version/release/arch, the decompressed cpio payload) of an .rpm."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"\xed\xab\xee\xdb":
            raise InputError(f"{path}: not an RPM package")
        fh.read(92)
        _rpm_header(fh, path, pad=True)
        tags = _rpm_header(fh, path, pad=False)
        payload = _decompress(fh.read())
    info = {"name": tags.get(1000, ""), "version": tags.get(1001, ""), "release": tags.get(1002, ""),
            "arch": tags.get(1022, "")}
    return info, payload


def _cpio_members(payload: bytes) -> Iterator[Member]:
    pos = 0
    while pos + 110 <= len(payload):
        header = payload[pos:pos + 110]
        if header[:6] not in (b"070701", b"070702"):
            break
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_end = pos + 110 + namesize
        name = payload[pos + 110:name_end - 1].decode("utf-8", "replace")
        data_start = (name_end + 3) & ~3
        data = payload[data_start:data_start + size]
        pos = (data_start + size + 3) & ~3
        if name == "TRAILER!!!":
            break
        path = _norm(name)
        kind = {0o100000: "file", 0o040000: "dir", 0o120000: "symlink"}.get(mode & 0o170000, "other")
        yield Member(path, kind, size, mode & 0o7777, link=data.decode("utf-8", "replace") if kind == "symlink" else "",
                     data=data if kind == "file" else None)


def iter_members(path: Path, kind: str) -> Iterator[Member]:
    """Members of a package's payload, whatever its format."""
    if kind == "deb":
        with open(path, "rb") as fh:
            members = _ar_members(fh, path)
        data = next((v for k, v in members.items() if k.startswith("data.tar")), None)
        if data is None:
            raise InputError(f"{path}: Debian package without data.tar")
        yield from _tar_members(data)
    elif kind == "rpm":
        yield from _cpio_members(rpm_info(path)[1])
    elif kind == "tar.gz":
        yield from _tar_members(path.read_bytes())
    else:
        raise InputError(f"{path}: unknown artifact type {kind!r}")


def package_info(path: Path, kind: str) -> dict[str, Any]:
    """Name, version, architecture and dependencies as the package itself states them."""
    if kind == "deb":
        c = deb_control(path)
        return {"name": c.get("Package", ""), "version": c.get("Version", ""),
                "architecture": c.get("Architecture", ""), "depends": c.get("Depends", "")}
    if kind == "rpm":
        info, _ = rpm_info(path)
        return {"name": info["name"], "version": f"{info['version']}-{info['release']}",
                "architecture": info["arch"], "depends": ""}
    return {"name": path.name.split(".tar")[0], "version": "", "architecture": "", "depends": ""}


# -- ELF, jars, wheels ------------------------------------------------------------------------------

def glibc_key(version: str) -> tuple[int, ...]:
    """'2.36' -> (2, 36); unparsable -> () (sorts lowest)."""
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def inspect_elf(data: bytes, path: str) -> dict[str, Any] | None:
    """Machine, class, type, highest GLIBC version needed, NEEDED and RPATH/RUNPATH of one ELF file."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    try:
        elf = ELFFile(io.BytesIO(data))
        machine_raw = elf["e_machine"]
        info: dict[str, Any] = {
            "path": path, "machine": _ELF_MACHINES.get(machine_raw, str(machine_raw).removeprefix("EM_").lower()),
            "class": elf.elfclass, "type": str(elf["e_type"]).removeprefix("ET_"),
            "glibc": "", "needed": [], "rpath": [], "runpath": []}
        glibc: list[tuple[int, ...]] = []
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        info["needed"].append(tag.needed)
                    elif tag.entry.d_tag == "DT_RPATH":
                        info["rpath"] += tag.rpath.split(":")
                    elif tag.entry.d_tag == "DT_RUNPATH":
                        info["runpath"] += tag.runpath.split(":")
            elif isinstance(section, GNUVerNeedSection):
                for _verneed, auxes in section.iter_versions():
                    for aux in auxes:
                        match = _GLIBC_RE.match(aux.name)
                        if match:
                            glibc.append(tuple(int(g) for g in match.groups() if g is not None))
        if glibc:
            info["glibc"] = ".".join(map(str, max(glibc)))
        return info
    except (ELFError, struct.error, ValueError, KeyError, IndexError) as exc:
        return {"path": path, "machine": "unparsable", "class": 0, "type": "", "glibc": "", "needed": [],
                "rpath": [], "runpath": [], "error": f"{type(exc).__name__}: {exc}"}


def _inspect_zip(data: bytes, path: str, report: dict[str, Any]) -> None:
    """Native libraries inside a jar/war/ear, platform tags of a wheel (also nested in packages)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return
    with archive:
        natives = []
        for entry in archive.infolist():
            if entry.is_dir() or entry.file_size > MAX_MEMBER:
                continue
            name = entry.filename
            head = archive.open(entry).read(4)
            if head == b"\x7fELF":
                elf = inspect_elf(archive.read(entry), f"{path}!{name}")
                if elf:
                    natives.append(elf)
            elif name.lower().endswith(NATIVE_SUFFIXES):
                natives.append({"path": f"{path}!{name}", "machine": "non-elf", "class": 0, "type": "", "glibc": "",
                                "needed": [], "rpath": [], "runpath": []})
        if path.endswith(".whl"):
            tags = _wheel_tags(path, archive)
            report["wheels"].append({"path": path, "tags": tags,
                                     "platforms": sorted({t.split("-")[-1] for t in tags}), "native": natives})
        else:
            report["jars"].append({"path": path, "native": natives})


def _wheel_tags(path: str, archive: zipfile.ZipFile) -> list[str]:
    tags = []
    for name in archive.namelist():
        if name.endswith(".dist-info/WHEEL"):
            for line in archive.read(name).decode("utf-8", "replace").splitlines():
                if line.startswith("Tag:"):
                    tags.append(line.split(":", 1)[1].strip())
    if not tags:  # fall back to the file name: name-ver(-build)?-py-abi-plat.whl
        parts = Path(path).name[:-4].split("-")
        if len(parts) >= 5:
            tags = [f"{py}-{abi}-{plat}" for py in parts[-3].split(".") for abi in parts[-2].split(".")
                    for plat in parts[-1].split(".")]
    return tags


def inspect_artifact(path: Path, kind: str) -> dict[str, Any]:
    """What is inside one package: its metadata, its files, and every ELF/jar/wheel in it."""
    report: dict[str, Any] = {"file": str(path), "type": kind, "package": package_info(path, kind),
                              "files": [], "elf": [], "jars": [], "wheels": []}
    for member in iter_members(path, kind):
        report["files"].append({"path": "/" + member.path, "kind": member.kind})
        if member.kind != "file" or member.data is None:
            continue
        data = member.data
        if data[:4] == b"\x7fELF":
            elf = inspect_elf(data, "/" + member.path)
            if elf:
                report["elf"].append(elf)
        elif data[:4] == b"PK\x03\x04" and member.path.lower().endswith((".jar", ".war", ".ear", ".whl", ".zip")):
            _inspect_zip(data, "/" + member.path, report)
    report["summary"] = summarise(report)
    return report


def all_elves(report: dict[str, Any]) -> list[dict[str, Any]]:
    return report["elf"] + [n for j in report["jars"] + report["wheels"] for n in j["native"]]


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    elves = all_elves(report)
    machines: dict[str, int] = {}
    for elf in elves:
        machines[elf["machine"]] = machines.get(elf["machine"], 0) + 1
    floors = [e["glibc"] for e in elves if e.get("glibc")]
    return {"elf_count": len(report["elf"]), "native_in_archives": len(elves) - len(report["elf"]),
            "machines": machines, "glibc_max": max(floors, key=glibc_key) if floors else "",
            "files": len(report["files"])}


def inspect_cached(fetched: Fetched, root: Path | None = None) -> dict[str, Any]:
    """inspect_artifact, remembered in the cache by content digest (so each check does not re-parse)."""
    folder = (root or cache_dir()) / "inspect"
    cached = folder / f"{fetched.sha256}.v{INSPECT_VERSION}.json"
    if cached.is_file():
        try:
            report = json.loads(cached.read_text())
            report["file"] = str(fetched.path)
            return report
        except ValueError:
            pass
    report = inspect_artifact(fetched.path, fetched.artifact.type)
    atomic_write(cached, json.dumps(report))
    return report


# -- judgements used by the compat checks and `xch product inspect` -----------------------------------

def arch_mismatches(report: dict[str, Any], arch: str) -> list[dict[str, Any]]:
    """ELF files (and archives' native sets) that cannot run on `arch`.

    Every plain ELF must be of the target's machine (BPF objects excepted: the kernel runs them).
    A jar or wheel passes when it has no native code or carries code for the target's machine,
    because such archives routinely bundle one native library per platform.
    """
    want = ELF_MACHINE_FOR_ARCH.get(arch)
    if want is None:
        return []
    bad = [{"path": e["path"], "machine": e["machine"]} for e in report["elf"]
           if e["machine"] not in (want, "bpf")]
    for archive in report["jars"]:
        natives = [n for n in archive["native"] if n["machine"] not in ("bpf", "non-elf")]
        if natives and not any(n["machine"] == want for n in natives):
            bad.append({"path": archive["path"], "machine": ",".join(sorted({n["machine"] for n in natives})),
                        "note": f"no native library for {want} inside"})
    for wheel in report["wheels"]:
        plats = wheel["platforms"]
        if plats and not any(p == "any" or any(frag in p for frag in WHEEL_ARCH.get(arch, ())) for p in plats):
            bad.append({"path": wheel["path"], "machine": ",".join(plats), "note": f"wheel not built for {arch}"})
    return bad


def glibc_offenders(report: dict[str, Any], arch: str, target_glibc: str) -> list[dict[str, Any]]:
    """ELF files for `arch` that need a newer GLIBC_x.y than the target provides."""
    want = ELF_MACHINE_FOR_ARCH.get(arch)
    have = glibc_key(target_glibc)
    return [{"path": e["path"], "needs": e["glibc"]} for e in all_elves(report)
            if e.get("glibc") and (want is None or e["machine"] == want) and glibc_key(e["glibc"]) > have]


# -- RPATH / RUNPATH ---------------------------------------------------------------------------------

# Absolute library search folders that only exist on a build machine. A path baked in from a build
# (a CI workspace, a build chroot, a developer's home, a temporary folder) is normally absent on the
# target, so the loader probes it in vain on every start; worse, whoever can create it there
# (/tmp, /var/tmp and /dev/shm are world-writable, /home/<user> belongs to that user) can plant a
# library the product then loads. Certification labs and porting advisors flag these entries.
BUILD_PATH_PREFIXES = (
    "/tmp", "/var/tmp", "/dev/shm",                   # world-writable temporary folders
    "/home", "/root",                                 # build users' homes (~/rpmbuild, OBS's /home/abuild)
    "/build", "/builddir", "/builds",                 # sbuild/pbuilder, mock/rpmbuild, GitLab CI
    "/usr/src",                                       # source trees, openSUSE's /usr/src/packages
    "/workspace", "/github/workspace", "/__w",        # CI containers (Tekton/Cloud Build, GitHub Actions)
    "/opt/buildagent", "/var/lib/jenkins", "/var/jenkins_home",  # TeamCity and Jenkins agents
    "/var/lib/mock",                                  # mock's build chroots
)
RPATH_TAGS = (("RPATH", "rpath"), ("RUNPATH", "runpath"))
# $ORIGIN or ${ORIGIN} as a whole leading token ($ORIGINAL is not it), as glibc's ld.so reads it.
_ORIGIN_RE = re.compile(r"^\$(?:ORIGIN|\{ORIGIN\})(?=/|$)")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _judge_rpath_entry(entry: str, value: str) -> tuple[str, str] | None:
    """(kind, reason) when one RPATH/RUNPATH entry is unsafe on its face, else None."""
    if entry == "":
        return "empty", f"empty entry in {value!r}: the dynamic loader searches the current working directory"
    if _ORIGIN_RE.match(entry):
        return None
    if not entry.startswith("/"):
        return "relative", ("relative entry: resolved against the process's current working directory, "
                            "not the file's folder (insecure; use $ORIGIN)")
    normal = posixpath.normpath(entry)
    prefix = next((p for p in BUILD_PATH_PREFIXES if _under(normal, p)), None)
    if prefix:
        return "build-path", f"build or temporary location ({prefix}): left over from the build machine"
    return None


def rpath_findings(report: dict[str, Any], install_prefix: str = "") -> list[dict[str, Any]]:
    """One finding per unsafe RPATH/RUNPATH entry of the report's ELF files, without a target.

    Flags empty entries, relative entries (not $ORIGIN-based) and build/temporary locations
    (BUILD_PATH_PREFIXES). Paths are as installed: `install_prefix` is prepended (a tar.gz
    product unpacks under its install folder). Only plain ELF files are judged: native code
    inside jars and wheels is unpacked to a temporary folder at run time, so its search path
    means nothing on the installed tree. Whether absolute folders exist needs the target: see
    rpath_search_dirs().
    """
    prefix = install_prefix.rstrip("/")
    findings: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for elf in report["elf"]:
        path = prefix + elf["path"]
        for tag, key in RPATH_TAGS:
            entries = elf.get(key) or []
            value = ":".join(entries)
            for entry in entries:
                judged = _judge_rpath_entry(entry, value)
                if judged and (path, tag, entry) not in seen:
                    seen.add((path, tag, entry))
                    findings.append({"path": path, "tag": tag, "entry": entry, "kind": judged[0], "reason": judged[1]})
    return findings


def rpath_search_dirs(report: dict[str, Any], install_prefix: str = "") -> list[dict[str, Any]]:
    """Every RPATH/RUNPATH entry that names a definite folder, as the absolute folder to look for.

    Absolute entries are normalised; $ORIGIN/${ORIGIN} is expanded to the installed file's folder
    (with `install_prefix` prepended, as for rpath_findings). Empty and relative entries have no
    fixed folder, and entries still holding another token ($LIB, $PLATFORM) depend on the
    machine's loader, so neither is returned. Each item: path, tag, entry, dir.
    """
    prefix = install_prefix.rstrip("/")
    dirs: list[dict[str, Any]] = []
    for elf in report["elf"]:
        path = prefix + elf["path"]
        for tag, key in RPATH_TAGS:
            for entry in dict.fromkeys(elf.get(key) or []):
                folder = _ORIGIN_RE.sub(lambda _m, p=path: posixpath.dirname(p), entry, count=1)
                if not folder.startswith("/") or "$" in folder:
                    continue
                dirs.append({"path": path, "tag": tag, "entry": entry, "dir": posixpath.normpath(folder)})
    return dirs
