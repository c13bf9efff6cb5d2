"""Package version comparison as dpkg and rpm do it, so "older on the target" means what apt/dnf mean.

Implemented here (not by asking the target) because an assessment compares hundreds of versions
and a round trip per comparison on an emulated target costs seconds.
"""

from __future__ import annotations

import re


def _dpkg_order(ch: str) -> int:
    if ch == "~":
        return -1
    if ch.isdigit():
        return 0
    if ch.isalpha():
        return ord(ch)
    return ord(ch) + 256


def _dpkg_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (ordered by _dpkg_order) and numeric runs."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _dpkg_order(a[i]) if i < len(a) else 0
            bc = _dpkg_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_diff = 0
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff and a[i] != b[j]:
                first_diff = -1 if a[i] < b[j] else 1
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_debian(version: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in version:
        head, version = version.split(":", 1)
        epoch = int(head) if head.isdigit() else 0
    upstream, _, revision = version.rpartition("-") if "-" in version else (version, "", "")
    return epoch, upstream, revision


def compare_debian(a: str, b: str) -> int:
    """-1, 0, 1 like `dpkg --compare-versions a lt|eq|gt b`."""
    ea, ua, ra = _split_debian(a.strip())
    eb, ub, rb = _split_debian(b.strip())
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_part(ua, ub) or _dpkg_part(ra, rb)


_RPM_SEGMENT = re.compile(r"(\d+|[A-Za-z]+|~|\^)")


def _rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    sa, sb = _RPM_SEGMENT.findall(a), _RPM_SEGMENT.findall(b)
    while sa or sb:
        x = sa.pop(0) if sa else None
        y = sb.pop(0) if sb else None
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
            continue
        if x == "^" or y == "^":
            if x is None:
                return -1
            if y is None:
                return 1
            if x != y:
                return -1 if x == "^" else 1
            continue
        if x is None:
            return -1
        if y is None:
            return 1
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        if x.isdigit():
            xi, yi = int(x), int(y)
            if xi != yi:
                return -1 if xi < yi else 1
        elif x != y:
            return -1 if x < y else 1
    return 0


def compare_rpm(a: str, b: str) -> int:
    """-1, 0, 1 for `[epoch:]version-release` strings, as rpm's rpmvercmp orders them."""
    def split(v: str) -> tuple[int, str, str]:
        epoch = 0
        if ":" in v:
            head, v = v.split(":", 1)
            epoch = int(head) if head.isdigit() else 0
        version, _, release = v.partition("-")
        return epoch, version, release
    ea, va, ra = split(a.strip())
    eb, vb, rb = split(b.strip())
    if ea != eb:
        return -1 if ea < eb else 1
    return _rpmvercmp(va, vb) or (_rpmvercmp(ra, rb) if ra and rb else 0)


def compare(a: str, b: str, family: str) -> int:
    return compare_debian(a, b) if family == "deb" else compare_rpm(a, b)
