"""The one reader of packages and archives: deb, rpm, tar (any compression), jar/war/wheel/zip.

Everything that looks inside a package without installing it goes through `open_archive`:
compat and `xch product inspect` (inspect.py), certify (through fetch and inspect) and
`xch scan`. Members are streamed one at a time, so memory stays bounded whatever the package
holds; a member that must be parsed (an ELF file, a nested jar) is spooled, in memory when
small and to a temporary file when not.

Hostile files are refused, never crashed on: a damaged, truncated or lying file raises
ArchiveError (an InputError, exit 2) whose message names the file (and the member inside it)
and what is wrong, never a temporary path. Every byte a member expands to is charged to one
budget per artifact (Limits):

- XCH_ARTIFACT_MAX_BYTES: total bytes all members of one artifact may expand to, nested archives
  included (default 8 GiB; suffixes K, M, G accepted);
- XCH_ARTIFACT_MAX_RATIO: expanded bytes per byte of the artifact file, checked once more than
  64 MiB have expanded (default 200; real packages compress 3-10 times, a decompression bomb
  thousands of times).

Formats and who reads them (see benchmarks/archive_readers.py for why):
- ar (the .deb container), the RPM lead/headers and the cpio payload: parsed here, strictly
  (decimal and hex fields checked, every size checked against what is left of the file), since
  arpy and python-debian loop forever on an ar member of negative size and rpmfile reads a zstd
  payload whole into memory;
- tar: the standard library's tarfile in stream mode, with the end-of-archive block required
  (tarfile alone takes a truncated or garbled archive for a shorter one);
- zip: the standard library's zipfile; every member is read to its end so its CRC is checked;
- gzip, xz/lzma, bzip2 (standard library) and zstd (the zstandard module) stream underneath;
  each stream is read to its end so its checksum is verified.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import io
import lzma
import os
import re
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

import zstandard

from harness.core.errors import InputError

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz", ".tar.zst", ".tzst")
ZIP_SUFFIXES = (".zip", ".jar", ".war", ".ear", ".aar", ".whl", ".egg")
DEB_SUFFIXES = (".deb", ".udeb")
KINDS = ("deb", "rpm", "tar", "zip")
ARTIFACT_KINDS = {"deb": "deb", "rpm": "rpm", "tar.gz": "tar"}  # manifest artifact type -> reader kind

DEFAULT_MAX_BYTES = 8 << 30
DEFAULT_MAX_RATIO = 200
RATIO_FLOOR = 64 << 20  # the ratio is not judged below this many expanded bytes
SPOOL_IN_MEMORY = 16 << 20  # members spooled for parsing stay in memory up to this size
CONTROL_LIMIT = 1 << 20  # bytes of a .deb's control file read (real ones are a few KiB)
MAX_NAME = 64 * 1024  # longest member name accepted in ar and cpio headers
MAX_RPM_INDEX = 1 << 16  # tags in one RPM header (rpm itself refuses more than 0xffff)
_CHUNK = 1 << 20


class ArchiveError(InputError):
    """A package or archive that cannot be read: damaged, truncated, lying about sizes, or too big."""


def _size(text: str, what: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)i?B?\s*", text, re.I)
    if not match:
        raise InputError(f"{what}={text!r}: expected a number of bytes such as 8G or 500M")
    return int(match.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[match.group(2).upper()]


@dataclass(frozen=True)
class Limits:
    """How much one artifact may expand to (see the module docstring for the variables)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_ratio: int = DEFAULT_MAX_RATIO

    @classmethod
    def from_env(cls) -> Limits:
        env = os.environ
        max_bytes = _size(env["XCH_ARTIFACT_MAX_BYTES"], "XCH_ARTIFACT_MAX_BYTES") \
            if env.get("XCH_ARTIFACT_MAX_BYTES") else DEFAULT_MAX_BYTES
        ratio_text = env.get("XCH_ARTIFACT_MAX_RATIO", "").strip()
        if ratio_text and not ratio_text.isdigit():
            raise InputError(f"XCH_ARTIFACT_MAX_RATIO={ratio_text!r}: expected a whole number such as 200")
        return cls(max_bytes, int(ratio_text) if ratio_text else DEFAULT_MAX_RATIO)


class _Budget:
    """Expanded bytes charged so far for one artifact; refuses past the limits."""

    def __init__(self, source: str, file_size: int, limits: Limits) -> None:
        self.source, self.file_size, self.limits = source, max(file_size, 1), limits
        self.used = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limits.max_bytes:
            raise ArchiveError(f"{self.source}: expands to more than {_human(self.limits.max_bytes)}; refused "
                               "(raise XCH_ARTIFACT_MAX_BYTES if this package is really that large)")
        if self.used > RATIO_FLOOR and self.used > self.file_size * self.limits.max_ratio:
            raise ArchiveError(f"{self.source}: expands more than {self.limits.max_ratio} times its size "
                               f"({_human(self.file_size)} to over {_human(self.used)}): a decompression bomb? "
                               "refused (XCH_ARTIFACT_MAX_RATIO sets the ratio)")


def _human(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


# -- streams -----------------------------------------------------------------------------------------

class _Slice(io.RawIOBase):
    """`size` bytes of a file from `offset`: an ar member, read without copying it."""

    def __init__(self, fh: BinaryIO, offset: int, size: int, what: str) -> None:
        self.fh, self.start, self.size, self.pos, self.what = fh, offset, size, 0, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        self.fh.seek(self.start + self.pos)
        data = self.fh.read(want)
        if len(data) < want:
            raise ArchiveError(f"{self.what}: truncated (the file ends inside it)")
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


class _Counted(io.RawIOBase):
    """A stream whose decoder errors become ArchiveError naming `what`; each byte is charged to `budget` if given.

    Decompressed streams are charged; a tar member's stream is not (its bytes were charged as
    the tar stream was decompressed).
    """

    def __init__(self, raw: IO[bytes], budget: _Budget | None, what: str) -> None:
        self.raw, self.budget, self.what = raw, budget, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _refusing(self.what):
            data = self.raw.read(len(buffer))
        if self.budget is not None:
            self.budget.charge(len(data))
        buffer[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end, so a truncated stream or a bad checksum is noticed."""
        buf = bytearray(_CHUNK)
        while self.readinto(buf):
            pass


# Every error the standard library's and zstandard's decoders raise on bad data.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, OSError, ValueError, zlib.error, lzma.LZMAError, struct.error, tarfile.TarError, zipfile.BadZipFile,
    zstandard.ZstdError, NotImplementedError, RuntimeError, UnicodeError, IndexError, KeyError, OverflowError)


# OSErrors that say the machine, not the package, is at fault (a lying offset gives EINVAL: the data's).
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EMFILE, errno.ENFILE,
                   errno.ENOMEM}


@contextlib.contextmanager
def _refusing(what: str) -> Iterator[None]:
    """Decoder errors on hostile data -> ArchiveError naming what was being read."""
    try:
        yield
    except ArchiveError:
        raise
    except MemoryError:
        raise ArchiveError(f"{what}: needs more memory than this machine gives it; refused") from None
    except RecursionError:
        raise ArchiveError(f"{what}: nested too deeply; refused") from None
    except OSError as exc:
        if exc.errno in _MACHINE_ERRNOS:  # the machine's fault (full disk...), not the data's
            raise
        raise ArchiveError(f"{what}: {_describe(exc)}") from None
    except _DECODE_ERRORS as exc:
        raise ArchiveError(f"{what}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, EOFError) or "end-of-stream" in text or "unexpected end" in text:
        return f"truncated ({text})"
    return f"damaged ({text})"


def _decompressed(raw: io.BufferedReader, budget: _Budget, what: str, name: str = "") -> _Counted:
    """`raw` decompressed by its magic bytes (gzip, xz, lzma, bzip2, zstd, or none), charged to the budget."""
    with _refusing(what):
        head = raw.peek(6)[:6]
    stream: IO[bytes]
    if head[:2] == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    elif head[:6] == b"\xfd7zXZ\x00":
        stream = lzma.LZMAFile(raw, format=lzma.FORMAT_XZ)
    elif name.endswith(".lzma") or (head[:1] == b"\x5d" and head[1:5] == b"\0\0\x80\0"):
        stream = lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE)
    elif head[:3] == b"BZh":
        stream = bz2.BZ2File(raw)
    elif head[:4] == b"\x28\xb5\x2f\xfd":
        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[assignment]
    else:
        stream = raw
    return _Counted(stream, budget, what)


def _spool(stream: IO[bytes]) -> IO[bytes]:
    """A seekable copy of a member stream: memory when small, a temporary file otherwise."""
    spooled: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="xch-member-")  # type: ignore[assignment]
    while chunk := stream.read(_CHUNK):
        spooled.write(chunk)
    spooled.seek(0)
    return spooled


# -- members ----------------------------------------------------------------------------------------

@dataclass
class Member:
    """One entry of an archive: its path as stored (no leading ./ or /), kind, size, mode, link target.

    The content of a file member is one stream, valid only until the iteration moves on:
    `head(n)` peeks at it, then either `open()` reads it or `spooled()` copies it (once).
    """

    path: str
    kind: str  # file, dir, symlink, hardlink, other
    size: int
    mode: int
    link: str = ""
    where: str = ""  # "<artifact>: <member>", for messages
    _opener: Callable[[], IO[bytes]] | None = field(default=None, repr=False)
    _stream: io.BufferedReader | None = field(default=None, repr=False)

    def open(self) -> io.BufferedReader:
        if self._stream is None:
            raw = self._opener() if self._opener is not None else io.BytesIO(b"")
            self._stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, _CHUNK)  # type: ignore[arg-type]
        return self._stream

    def head(self, n: int = 4) -> bytes:
        """The first `n` bytes (fewer for a shorter member), without consuming them."""
        with _refusing(self.where):
            return self.open().peek(n)[:n]

    def read(self, limit: int) -> bytes:
        """The whole content when it is at most `limit` bytes, else the first `limit` bytes."""
        with _refusing(self.where):
            return self.open().read(limit)

    def spooled(self) -> IO[bytes]:
        """A seekable copy (for pyelftools and zipfile); the caller closes it."""
        with _refusing(self.where):
            return _spool(self.open())


def norm_name(name: str) -> str:
    """Archive member name -> path without a leading ./ or / (./.hidden stays .hidden)."""
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/").rstrip("/") if name != "." else ""


def safe_member_path(name: str) -> PurePosixPath | None:
    """A member name made relative and free of '..', or None when it tries to escape."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or any(p == ".." for p in parts):
        return None
    return PurePosixPath(*parts)


# -- ar (the .deb container) ------------------------------------------------------------------------

def _ar_entries(fh: BinaryIO, source: str) -> Iterator[tuple[str, int, int]]:
    """(name, offset, size) of each member of an ar archive, every header checked."""
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    fh.seek(0)
    if fh.read(8) != b"!<arch>\n":
        raise ArchiveError(f"{source}: not a Debian package (no ar header '!<arch>')")
    pos = 8
    while pos < end:
        fh.seek(pos)
        header = fh.read(60)
        if len(header) < 60:
            if header.strip(b"\n") == b"":
                return
            raise ArchiveError(f"{source}: truncated ar header at byte {pos}")
        if header[58:60] != b"`\n":
            raise ArchiveError(f"{source}: damaged ar header at byte {pos} (no '`\\n' terminator)")
        name = header[:16].decode("ascii", "replace").strip()
        size_text = header[48:58].decode("ascii", "replace").strip()
        if not re.fullmatch(r"[0-9]{1,10}", size_text):
            raise ArchiveError(f"{source}: ar member {name!r} at byte {pos}: size {size_text!r} is not a decimal "
                               "number of bytes")
        stored = int(size_text)  # what follows the header, a BSD long name included
        if name.startswith("#1/"):  # BSD long name, stored in front of the data
            if not re.fullmatch(r"[0-9]{1,5}", name[3:]) or int(name[3:]) > min(stored, MAX_NAME):
                raise ArchiveError(f"{source}: ar member at byte {pos}: bad BSD name length {name[3:]!r}")
            length = int(name[3:])
            name = fh.read(length).rstrip(b"\0").decode("utf-8", "replace")
        else:
            name, length = name.rstrip("/"), 0
        data, size = pos + 60 + length, stored - length
        if data + size > end:
            raise ArchiveError(f"{source}: ar member {name!r} claims {size} bytes but only {end - data} are left: "
                               "truncated or damaged")
        yield name, data, size
        pos += 60 + stored + (stored & 1)


class _DebReader:
    """A .deb: 'debian-binary' (2.x), control.tar[.*], data.tar[.*], read straight from the ar container."""

    def __init__(self, fh: BinaryIO, source: str, budget: _Budget) -> None:
        self.fh, self.source, self.budget = fh, source, budget
        entries = list(_ar_entries(fh, source))
        if not entries or entries[0][0] != "debian-binary":
            raise ArchiveError(f"{source}: not a Debian package (first ar member is "
                               f"{entries[0][0] if entries else 'missing'!r}, expected 'debian-binary')")
        self.entries = {name: (offset, size) for name, offset, size in entries}
        fh.seek(entries[0][1])
        version = fh.read(min(entries[0][2], 16)).decode("ascii", "replace").strip()
        if not version.startswith("2."):
            raise ArchiveError(f"{source}: unsupported Debian package format {version!r} (expected 2.x)")

    def _member(self, prefix: str) -> tuple[str, _Slice]:
        for name, (offset, size) in self.entries.items():
            if name == prefix or name.startswith(prefix + "."):
                return name, _Slice(self.fh, offset, size, f"{self.source}: {name}")
        raise ArchiveError(f"{self.source}: Debian package without {prefix}")

    def _tar(self, prefix: str) -> Iterator[Member]:
        name, raw = self._member(prefix)
        what = f"{self.source}: {name}"
        buffered = io.BufferedReader(raw, _CHUNK)
        yield from _tar_members(_decompressed(buffered, self.budget, what, name), what)

    def control(self) -> dict[str, str]:
        name, raw = self._member("control.tar")
        what = f"{self.source}: {name}"
        for member in _tar_members(_decompressed(io.BufferedReader(raw), self.budget, what, name), what):
            if member.path == "control" and member.kind == "file":
                return parse_control(member.read(CONTROL_LIMIT).decode("utf-8", "replace"))
        raise ArchiveError(f"{self.source}: control.tar has no control file")

    def members(self) -> Iterator[Member]:
        yield from self._tar("data.tar")


def parse_control(text: str) -> dict[str, str]:
    """Fields of a Debian control paragraph (continuation lines joined with newlines)."""
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


# -- tar --------------------------------------------------------------------------------------------

class _EndTrackingTarInfo(tarfile.TarInfo):
    """Records why tarfile stopped: a zero block is a proper end; no data, a short or bad header is not.

    tarfile in stream mode takes a header it cannot read after the first for the end of the
    archive, so a truncated or garbled tar would look complete but shorter.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        try:
            return super().fromtarfile(tar)
        except Exception as exc:
            tar._xch_stop = exc  # type: ignore[attr-defined]
            raise


_PROPER_END = getattr(tarfile, "EOFHeaderError", ())


def _tar_members(stream: _Counted, what: str) -> Iterator[Member]:
    with _refusing(what):
        tar = tarfile.open(fileobj=stream, mode="r|", tarinfo=_EndTrackingTarInfo,  # type: ignore[call-overload]
                           bufsize=_CHUNK)  # large reads: liblzma and zlib cost per call
    with tar:
        while True:
            with _refusing(what):
                info = tar.next()
            if info is None:
                break
            path = norm_name(info.name)
            if not path:
                continue
            where = f"{what}: {path}"
            if info.isfile():
                yield Member(path, "file", info.size, info.mode, where=where,
                             _opener=_tar_opener(tar, info, where))
            elif info.isdir():
                yield Member(path, "dir", 0, info.mode, where=where)
            elif info.issym() or info.islnk():
                yield Member(path, "symlink" if info.issym() else "hardlink", 0, info.mode, link=info.linkname,
                             where=where)
            else:
                yield Member(path, "other", 0, info.mode, where=where)
        stop = getattr(tar, "_xch_stop", None)
        if _PROPER_END and not isinstance(stop, _PROPER_END):
            if tar.offset == 0:
                raise ArchiveError(f"{what}: not a tar archive, or an empty one")
            raise ArchiveError(f"{what}: truncated or damaged tar (no end-of-archive block after byte {tar.offset})")
    stream.drain()


def _tar_opener(tar: tarfile.TarFile, info: tarfile.TarInfo, where: str) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        with _refusing(where):
            handle = tar.extractfile(info)
        return _Counted(handle, None, where) if handle is not None else io.BytesIO(b"")
    return opener


# -- rpm --------------------------------------------------------------------------------------------

RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1022: "arch", 1124: "payload_format",
            1125: "payload_compressor"}


def _rpm_header(fh: BinaryIO, source: str, end: int, what: str, pad: bool) -> dict[int, Any]:
    start = fh.tell()
    head = fh.read(16)
    if len(head) < 16:
        raise ArchiveError(f"{source}: truncated RPM {what} header at byte {start}")
    if head[:3] != b"\x8e\xad\xe8":
        raise ArchiveError(f"{source}: damaged RPM {what} header at byte {start} (bad magic)")
    count, size = struct.unpack(">II", head[8:16])
    if count > MAX_RPM_INDEX or start + 16 + 16 * count + size > end:
        raise ArchiveError(f"{source}: RPM {what} header at byte {start} claims {count} tags and {size} bytes of "
                           f"data, more than the {end - start} bytes left: truncated or damaged")
    index = fh.read(16 * count)
    store = fh.read(size)
    if pad:
        fh.read(-(16 + 16 * count + size) % 8)
    tags: dict[int, Any] = {}
    for i in range(count):
        tag, kind, offset, n = struct.unpack(">IIII", index[16 * i:16 * i + 16])
        if tag not in RPM_TAGS or kind not in (6, 8, 9):
            continue
        if n < 1:
            continue
        stop = store.find(b"\0", offset)
        if offset >= len(store) or stop < 0:
            raise ArchiveError(f"{source}: RPM {what} header: tag {tag} points outside the header data")
        tags[tag] = store[offset:stop].decode("utf-8", "replace")  # the first string of an array
    return tags


class _RpmReader:
    """An .rpm: 96-byte lead, signature header (padded to 8), header, compressed cpio payload."""

    def __init__(self, fh: BinaryIO, source: str, budget: _Budget) -> None:
        self.fh, self.source, self.budget = fh, source, budget
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(0)
        lead = fh.read(96)
        if lead[:4] != b"\xed\xab\xee\xdb":
            raise ArchiveError(f"{source}: not an RPM package (no lead magic)")
        if len(lead) < 96:
            raise ArchiveError(f"{source}: truncated RPM (the file ends inside the lead)")
        _rpm_header(fh, source, end, "signature", pad=True)
        tags = _rpm_header(fh, source, end, "main", pad=False)
        self.info = {key: tags.get(tag, "") for tag, key in RPM_TAGS.items()}
        self.payload_offset, self.end = fh.tell(), end
        if self.info["payload_format"] not in ("", "cpio"):
            raise ArchiveError(f"{source}: RPM payload format {self.info['payload_format']!r} not supported "
                               "(expected cpio)")

    def members(self) -> Iterator[Member]:
        what = f"{self.source}: payload"
        raw = io.BufferedReader(_Slice(self.fh, self.payload_offset, self.end - self.payload_offset, what), _CHUNK)
        yield from _cpio_members(_decompressed(raw, self.budget, what), what)


def _cpio_members(stream: _Counted, what: str) -> Iterator[Member]:
    """Members of a newc ("070701"/"070702") cpio stream, every header field checked."""
    reader = io.BufferedReader(stream, _CHUNK)
    pos = 0

    def read_exactly(n: int, part: str) -> bytes:
        nonlocal pos
        data = reader.read(n)
        if len(data) < n:
            raise ArchiveError(f"{what}: truncated cpio archive ({part} at byte {pos})")
        pos += n
        return data

    while True:
        header = read_exactly(110, "header")
        if header[:6] not in (b"070701", b"070702"):
            raise ArchiveError(f"{what}: damaged cpio archive (no newc header at byte {pos - 110})")
        hexes = header[6:110]
        if not re.fullmatch(rb"[0-9A-Fa-f]{104}", hexes):
            raise ArchiveError(f"{what}: damaged cpio header at byte {pos - 110} (fields are not hexadecimal)")
        fields = [int(hexes[8 * i:8 * i + 8], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        if not 1 <= namesize <= MAX_NAME:
            raise ArchiveError(f"{what}: damaged cpio header at byte {pos - 110} (name size {namesize})")
        name = read_exactly(namesize, "name")[:-1].decode("utf-8", "replace")
        read_exactly(-(110 + namesize) % 4, "padding")
        if name == "TRAILER!!!":
            break
        path = norm_name(name)
        kind = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}.get(stat.S_IFMT(mode), "other")
        where = f"{what}: {path}"
        body = _Limited(reader, size, where)
        if kind == "symlink":
            link = body.read(min(size, MAX_NAME)).decode("utf-8", "replace")
            member = Member(path, kind, 0, mode & 0o7777, link=link, where=where)
        else:
            member = Member(path, kind, size if kind == "file" else 0, mode & 0o7777, where=where,
                            _opener=(lambda b=body: b) if kind == "file" else None)
        if path:
            yield member
        body.skip_rest()
        pos += size
        read_exactly(-size % 4, "padding")
    stream.drain()


class _Limited(io.RawIOBase):
    """The next `size` bytes of a stream (one cpio member); short data is a truncated archive."""

    def __init__(self, raw: IO[bytes], size: int, where: str) -> None:
        self.raw, self.left, self.where = raw, size, where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.left)
        if want == 0:
            return 0
        data = self.raw.read(want)
        if not data:
            raise ArchiveError(f"{self.where}: truncated (the archive ends inside this member)")
        buffer[:len(data)] = data
        self.left -= len(data)
        return len(data)

    def skip_rest(self) -> None:
        buf = bytearray(min(self.left, _CHUNK) or 1)
        while self.left and self.readinto(buf):
            pass


# -- zip (jar, war, wheel) --------------------------------------------------------------------------

def _zip_members(fileobj: IO[bytes], what: str, budget: _Budget) -> Iterator[Member]:
    with _refusing(what):
        archive = zipfile.ZipFile(fileobj)
    with archive:
        for info in archive.infolist():
            path = norm_name(info.filename)
            where = f"{what}: {path}"
            if not path:
                continue
            mode = (info.external_attr >> 16) & 0o177777
            if info.is_dir():
                yield Member(path, "dir", 0, stat.S_IMODE(mode), where=where)
                continue
            kind = "symlink" if stat.S_ISLNK(mode) else "file"
            opened: list[IO[bytes]] = []

            def opener(info: zipfile.ZipInfo = info, where: str = where, opened: list[IO[bytes]] = opened) -> IO[bytes]:
                with _refusing(where):
                    handle = archive.open(info)
                stream = _Counted(handle, budget, where)
                opened.append(stream)
                return io.BufferedReader(stream, _CHUNK)

            yield Member(path, kind, info.file_size, stat.S_IMODE(mode) or 0o644, where=where, _opener=opener)
            # Read every member to its end: its CRC is checked only then.
            stream = opened[0] if opened else _Counted(_open_zip(archive, info, where), budget, where)
            stream.drain()


def _open_zip(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> IO[bytes]:
    with _refusing(where):
        return archive.open(info)


# -- the one entry point ----------------------------------------------------------------------------

def kind_of(path: Path) -> str:
    """The reader kind for a file name (deb, rpm, tar, zip), or "" when it is not an archive we read."""
    name = path.name.lower()
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if name.endswith(DEB_SUFFIXES):
        return "deb"
    if name.endswith(".rpm"):
        return "rpm"
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    return ""


class Archive:
    """An open package: `info` (what the package says about itself) and `members()` (read once, in order)."""

    def __init__(self, path: Path, kind: str, limits: Limits | None = None, display: str | None = None) -> None:
        if kind not in KINDS:
            raise ArchiveError(f"{display or path}: unknown archive kind {kind!r} (expected one of {', '.join(KINDS)})")
        self.path, self.kind, self.source = Path(path), kind, display or str(path)
        try:
            self.fh: BinaryIO = open(self.path, "rb")
            size = os.fstat(self.fh.fileno()).st_size
        except OSError as exc:
            raise ArchiveError(f"{self.source}: cannot read: {exc.strerror or exc}") from None
        self.budget = _Budget(self.source, size, limits or Limits.from_env())
        self._deb: _DebReader | None = None
        self._rpm: _RpmReader | None = None
        try:
            if kind == "deb":
                self._deb = _DebReader(self.fh, self.source, self.budget)
            elif kind == "rpm":
                self._rpm = _RpmReader(self.fh, self.source, self.budget)
            elif self.path.stat().st_size == 0:
                raise ArchiveError(f"{self.source}: empty file")
        except BaseException:
            self.fh.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.fh.close()

    def info(self) -> dict[str, str]:
        """name, version, architecture and depends as the package itself states them."""
        if self._deb is not None:
            c = self._deb.control()
            return {"name": c.get("Package", ""), "version": c.get("Version", ""),
                    "architecture": c.get("Architecture", ""), "depends": c.get("Depends", "")}
        if self._rpm is not None:
            i = self._rpm.info
            return {"name": i["name"], "version": f"{i['version']}-{i['release']}", "architecture": i["arch"],
                    "depends": ""}
        name = self.path.name
        for suffix in TAR_SUFFIXES + ZIP_SUFFIXES:
            if name.lower().endswith(suffix):
                name = name[:-len(suffix)]
                break
        return {"name": name, "version": "", "architecture": "", "depends": ""}

    def members(self) -> Iterator[Member]:
        """Every member, streamed; raises ArchiveError on the first sign of damage."""
        if self._deb is not None:
            yield from self._deb.members()
        elif self._rpm is not None:
            yield from self._rpm.members()
        elif self.kind == "tar":
            raw = io.BufferedReader(_Slice(self.fh, 0, os.fstat(self.fh.fileno()).st_size, self.source), _CHUNK)
            yield from _tar_members(_decompressed(raw, self.budget, self.source), self.source)
        else:
            yield from _zip_members(self.fh, self.source, self.budget)

    def nested(self, member: Member) -> Iterator[Member]:
        """The members of a zip (jar, wheel) that is itself a member, charged to this artifact's budget."""
        with member.spooled() as copy:
            yield from _zip_members(copy, member.where, self.budget)


def open_archive(path: Path, kind: str | None = None, limits: Limits | None = None,
                 display: str | None = None) -> Archive:
    """Open a package or archive for reading; `kind` defaults to what its name says.

    `kind` may also be a manifest artifact type (deb, rpm, tar.gz). `display` is the name used in
    messages (the path by default).
    """
    kind = ARTIFACT_KINDS.get(kind or "", kind) or kind_of(Path(path))
    if not kind:
        raise ArchiveError(f"{display or path}: not a recognised archive (tar, deb, rpm, jar, wheel, zip)")
    return Archive(Path(path), kind, limits, display)


# -- extraction (the porting scan unpacks packages to scan their sources) ----------------------------

def extract(path: Path, dest: Path, limits: Limits | None = None, display: str | None = None,
            notes: list[str] | None = None) -> int:
    """Unpack the regular files of `path` under `dest`; returns how many were written.

    Only regular files are written, never links or devices, each below `dest`: absolute names
    are made relative, names with '..' are refused, and a member whose folder is already a file
    (a tar holding `a` and then `a/b.c`) is left out. Each member left out gets a line in
    `notes` (when given) naming the member, never `dest`.
    """
    count = 0
    notes = notes if notes is not None else []
    dest = dest.resolve()
    with open_archive(path, limits=limits, display=display) as archive:
        for member in archive.members():
            if member.kind in ("dir", "symlink", "hardlink", "other"):
                if member.kind != "dir":
                    notes.append(f"{member.path}: {member.kind} not unpacked")
                continue
            rel = safe_member_path(member.path)
            if rel is None:
                notes.append(f"{member.path}: refused (the name leaves the archive's folder)")
                continue
            out = dest.joinpath(*rel.parts)
            blocker = _blocking_file(dest, rel)
            if blocker is not None:
                notes.append(f"{member.path}: left out ({blocker} is a file, not a folder)")
                continue
            if out.is_dir():
                notes.append(f"{member.path}: left out (a folder of that name came first)")
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as fh:
                while chunk := member.read(_CHUNK):
                    fh.write(chunk)
            count += 1
    return count


def _blocking_file(dest: Path, rel: PurePosixPath) -> str | None:
    """The first folder of `rel` that exists below `dest` as something other than a folder."""
    current = dest
    for i, part in enumerate(rel.parts[:-1]):
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            return "/".join(rel.parts[:i + 1])
    return None
