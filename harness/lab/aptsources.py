"""The apt suites a lab image gets: those of a maintained Debian server, taken from the controller's own.

The controller fetches product artifacts with its own apt sources, which on a maintained machine
include `bookworm-updates` and `bookworm-security`. An image that only knows `bookworm main` then
cannot satisfy an exact dependency such as `libjq1 (= 1.6-2.1+deb12u3)` that the controller's jq
carries, so a plain product fails COMPAT-DEPS-001 for a lab reason. Every Debian lab image (chroot
or VM) therefore gets the controller's Debian entries for the lab's suite family: release, updates
and security. Entries for other suites or other archives (a vendor's cloud SDK, nodesource) stay on
the controller. Without any usable entry the standard three suites of deb.debian.org are used.

Pure text in, text out (parse one-line and deb822 files, render one deb822 file), so the choice is
unit-tested against real files; `controller_sources()` only reads /etc/apt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

FALLBACK_URIS = {"release": "http://deb.debian.org/debian", "security": "http://deb.debian.org/debian-security"}

IMAGE_SOURCES_FILE = "/etc/apt/sources.list.d/debian.sources"  # inside an image

IMAGE_SOURCES_LIST_NOTE = "# xch lab: the image's apt sources are in /etc/apt/sources.list.d/debian.sources\n"


@dataclass(frozen=True)
class AptEntry:
    """One archive URI with the suites and components taken from it."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


def _split_options(line: str) -> tuple[dict[str, str], str]:
    """`deb [arch=amd64 signed-by=/k.gpg] URI ...` -> ({arch:..., signed-by:...}, 'URI ...')."""
    match = re.match(r"\[([^\]]*)\]\s*(.*)", line)
    if not match:
        return {}, line
    options = {}
    for item in match.group(1).split():
        key, _, value = item.partition("=")
        options[key.strip().lower()] = value.strip()
    return options, match.group(2)


def parse_one_line(text: str) -> list[AptEntry]:
    """Entries of a sources.list file in one-line style (`deb URI SUITE COMPONENT...`); deb-src is skipped."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb ") and not line.startswith("deb\t"):
            continue
        options, rest = _split_options(line[3:].strip())
        fields = rest.split()
        if len(fields) < 2:
            continue
        entries.append(AptEntry(fields[0], (fields[1],), tuple(fields[2:]), options.get("signed-by", "")))
    return entries


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if current:
                stanzas.append(current)
            current, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            current[key] += "\n" + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip().lower()
            current[key] = value.strip()
    return stanzas


def parse_deb822(text: str) -> list[AptEntry]:
    """Entries of a .sources file (deb822); disabled stanzas and deb-src-only stanzas are skipped."""
    entries = []
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no" or "deb" not in stanza.get("types", "").split():
            continue
        signed = stanza.get("signed-by", "")
        signed = signed if "\n" not in signed and not signed.startswith("-----") else ""  # inline keys stay out
        for uri in stanza.get("uris", "").split():
            entries.append(AptEntry(uri, tuple(stanza.get("suites", "").split()),
                                    tuple(stanza.get("components", "").split()), signed))
    return entries


def suite_kind(suite: str, release: str) -> str | None:
    """'release', 'updates' or 'security' for the suites a maintained server of `release` has, else None."""
    suite = suite.rstrip("/")
    if suite == release:
        return "release"
    if suite == f"{release}-updates":
        return "updates"
    if suite in (f"{release}-security", f"{release}/updates"):
        return "security"
    return None


def image_entries(entries: list[AptEntry], release: str) -> list[AptEntry]:
    """The controller's entries cut down to the release/updates/security suites of `release`.

    Missing kinds are completed from deb.debian.org, so the image always has all three.
    """
    kept: list[AptEntry] = []
    kinds: set[str] = set()
    for entry in entries:
        suites = tuple(s for s in entry.suites if suite_kind(s, release))
        if not suites:
            continue
        kinds |= {suite_kind(s, release) or "" for s in suites}
        signed = entry.signed_by if entry.signed_by == DEBIAN_KEYRING else ""
        merged = AptEntry(entry.uri, suites, entry.components or ("main",), signed)
        for i, old in enumerate(kept):  # one stanza per URI, suites in first-seen order
            if old.uri == merged.uri and old.components == merged.components:
                kept[i] = AptEntry(old.uri, old.suites + tuple(s for s in suites if s not in old.suites),
                                   old.components, old.signed_by or signed)
                break
        else:
            kept.append(merged)
    if "release" not in kinds or "updates" not in kinds:
        wanted = tuple(s for s, k in ((release, "release"), (f"{release}-updates", "updates")) if k not in kinds)
        kept.append(AptEntry(FALLBACK_URIS["release"], wanted, ("main",), DEBIAN_KEYRING))
    if "security" not in kinds:
        kept.append(AptEntry(FALLBACK_URIS["security"], (f"{release}-security",), ("main",), DEBIAN_KEYRING))
    return kept


def render_deb822(entries: list[AptEntry]) -> str:
    """The image's debian.sources text."""
    blocks = ["# Written by xch lab from the controller's own apt sources: release, updates, security."]
    for entry in entries:
        lines = ["Types: deb", f"URIs: {entry.uri}", f"Suites: {' '.join(entry.suites)}",
                 f"Components: {' '.join(entry.components)}"]
        lines.append(f"Signed-By: {entry.signed_by or DEBIAN_KEYRING}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def controller_entries(etc_apt: Path = Path("/etc/apt")) -> list[AptEntry]:
    """Every enabled `deb` entry of the controller (sources.list, sources.list.d/*.list and *.sources)."""
    entries: list[AptEntry] = []
    files = [etc_apt / "sources.list"] + sorted((etc_apt / "sources.list.d").glob("*"))
    for path in files:
        try:
            text = path.read_text(errors="replace") if path.is_file() else ""
        except OSError:
            continue
        if path.name.endswith(".sources"):
            entries += parse_deb822(text)
        elif path.name.endswith(".list") or path.name == "sources.list":
            entries += parse_one_line(text)
    return entries


def image_sources(release: str, etc_apt: Path = Path("/etc/apt")) -> str:
    """The deb822 text every Debian lab image of `release` gets."""
    return render_deb822(image_entries(controller_entries(etc_apt), release))
