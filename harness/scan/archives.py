"""Read the files inside packages without installing anything: tarballs, deb, rpm, jar/wheel/zip.

deb is an `ar` archive around data.tar.*; rpm is a lead, two headers and a compressed cpio
payload. Both are parsed here with the standard library, so scanning a vendor's package needs
neither dpkg nor rpm on the controller. zstd payloads need the `zstandard` module (reported
when missing).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO

from harness.core.errors import InputError

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz")
ZIP_SUFFIXES = (".zip", ".jar", ".war", ".ear", ".aar", ".whl", ".egg")
PACKAGE_SUFFIXES = (".deb", ".rpm") + ZIP_SUFFIXES
MEMBER_LIMIT = 512 * 1024 * 1024  # bytes; bigger members are skipped with a note


class UnsupportedArchive(InputError):
    pass


def archive_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if name.endswith(".deb") or name.endswith(".udeb"):
        return "deb"
    if name.endswith(".rpm"):
        return "rpm"
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    return ""


def _decompress(data: bytes, what: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise UnsupportedArchive(f"{what}: zstd-compressed; install the Python 'zstandard' module to read it") from None
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def _tar_members(fileobj: IO[bytes]) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
        for info in tar:
            if info.isfile() and info.size <= MEMBER_LIMIT:
                handle = tar.extractfile(info)
                if handle is not None:
                    yield info.name, handle.read()


def _ar_entries(data: bytes, what: str) -> Iterator[tuple[str, bytes]]:
    if not data.startswith(b"!<arch>\n"):
        raise UnsupportedArchive(f"{what}: not an ar archive (a .deb starts with '!<arch>')")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip() or 0)
        pos += 60
        yield name, data[pos:pos + size]
        pos += size + (size & 1)


def _deb_members(path: Path) -> Iterator[tuple[str, bytes]]:
    found = False
    for name, blob in _ar_entries(path.read_bytes(), str(path)):
        if name.startswith("data.tar"):
            found = True
            yield from _tar_members(io.BytesIO(_decompress(blob, f"{path}: {name}")))
    if not found:
        raise UnsupportedArchive(f"{path}: no data.tar member: not a Debian package")


def _rpm_header_end(data: bytes, pos: int, what: str, pad: bool) -> int:
    if data[pos:pos + 3] != b"\x8e\xad\xe8":
        raise UnsupportedArchive(f"{what}: bad rpm header magic at byte {pos}")
    nindex, hsize = struct.unpack(">II", data[pos + 8:pos + 16])
    end = pos + 16 + 16 * nindex + hsize
    return (end + 7) & ~7 if pad else end


def _cpio_members(data: bytes, what: str) -> Iterator[tuple[str, bytes]]:
    pos = 0
    while pos + 110 <= len(data):
        if data[pos:pos + 6] not in (b"070701", b"070702"):
            raise UnsupportedArchive(f"{what}: payload is not a newc cpio archive")
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode("utf-8", "replace")
        body = (name_start + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return
        if (mode & 0o170000) == 0o100000:
            yield name, data[body:body + filesize]
        pos = (body + filesize + 3) & ~3


def _rpm_members(path: Path) -> Iterator[tuple[str, bytes]]:
    data = path.read_bytes()
    what = str(path)
    if data[:4] != b"\xed\xab\xee\xdb":
        raise UnsupportedArchive(f"{what}: not an rpm (lead magic missing)")
    pos = _rpm_header_end(data, 96, what + " signature", pad=True)
    pos = _rpm_header_end(data, pos, what + " header", pad=False)
    yield from _cpio_members(_decompress(data[pos:], what + " payload"), what)


def _zip_members(path: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir() and info.file_size <= MEMBER_LIMIT:
                yield info.filename, archive.read(info)


def iter_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(member path, content) of every regular file in the package or archive at `path`."""
    kind = archive_kind(path)
    try:
        if kind == "tar":
            with open(path, "rb") as fh:
                yield from _tar_members(fh)
        elif kind == "deb":
            yield from _deb_members(path)
        elif kind == "rpm":
            yield from _rpm_members(path)
        elif kind == "zip":
            yield from _zip_members(path)
        else:
            raise UnsupportedArchive(f"{path}: not a recognised archive (tar, deb, rpm, jar, wheel, zip)")
    except (tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, OSError, EOFError, ValueError, struct.error) as exc:
        raise UnsupportedArchive(f"{path}: cannot read {kind or 'archive'}: {exc}") from None


def safe_member_path(name: str) -> PurePosixPath | None:
    """A member name made relative and free of '..', or None when it tries to escape."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


def extract(path: Path, dest: Path) -> int:
    """Unpack every regular member of `path` under `dest` (names sanitised); returns the file count."""
    count = 0
    for name, content in iter_members(path):
        rel = safe_member_path(name)
        if rel is None:
            continue
        out = dest.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.is_dir():
            continue
        with open(out, "wb") as fh:
            fh.write(content)
        os.chmod(out, 0o644)
        count += 1
    return count
