"""Product artifacts and packages: fetch them, read them, look inside without a target, judge them.

The one artifact-reading path of xch: compat (suites/compat), `xch product inspect`, certify and
`xch scan` all read packages through this package.

- fetch.py     local files, `apt-get download` into a cache with private apt state (AptFetcher),
               Debian source/binary packages of a fixed suite (DebianMirror); sha256 and SM3 digests
- archives.py  the one reader of deb (ar), rpm (headers + cpio), tar (any compression) and zip
               (jar, war, wheel): streamed, bounded by a per-artifact expansion budget
               (XCH_ARTIFACT_MAX_BYTES, XCH_ARTIFACT_MAX_RATIO), hostile files refused with
               ArchiveError (exit 2) naming the file and what is wrong; safe extraction for the scan
- elf.py       ELF files via pyelftools: machine (harness.core.arch spelling), class, type, glibc
               floor, NEEDED, RPATH/RUNPATH
- inspect.py   the inspection report of one package (files, ELF, jars, wheels), cached by digest
- judge.py     pure judgements over a report: wrong machine, too new a glibc, unsafe or stale
               RPATH/RUNPATH entries

Architecture spellings (Debian, RPM, ELF, wheel) come from harness.core.arch.
"""

from __future__ import annotations

from harness.artifacts.archives import (
    Archive,
    ArchiveError,
    Limits,
    Member,
    extract,
    kind_of,
    open_archive,
    safe_member_path,
)
from harness.artifacts.elf import ElfRecord, glibc_key, is_elf, read_elf
from harness.artifacts.fetch import (
    AptFetcher,
    DebianMirror,
    Fetched,
    cache_dir,
    digest_bytes,
    digest_stream,
    digests,
    fetch,
    fetch_product,
)
from harness.artifacts.inspect import INSPECT_VERSION, all_elves, inspect_artifact, inspect_cached, summarise
from harness.artifacts.judge import (
    BUILD_PATH_PREFIXES,
    arch_mismatches,
    glibc_fits,
    glibc_offenders,
    rpath_findings,
    rpath_search_dirs,
    runs_on,
)

__all__ = [
    "ArchiveError", "Archive", "Limits", "Member", "extract", "kind_of", "open_archive", "safe_member_path",
    "ElfRecord", "glibc_key", "is_elf", "read_elf",
    "AptFetcher", "DebianMirror", "Fetched", "cache_dir", "digest_bytes", "digest_stream", "digests", "fetch", "fetch_product",
    "INSPECT_VERSION", "all_elves", "inspect_artifact", "inspect_cached", "summarise",
    "BUILD_PATH_PREFIXES", "arch_mismatches", "glibc_fits", "glibc_offenders", "rpath_findings", "rpath_search_dirs",
    "runs_on",
]
