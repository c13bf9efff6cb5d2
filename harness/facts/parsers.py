"""Pure parsers for the text a target prints about itself (no I/O, no exceptions).

Every function here takes text that came back over SSH (or from a fixture) and returns plain
data. They are deliberately forgiving: a target may be a half-installed Kylin box with a vendor
kernel, a container with no lscpu, or a BMC shell that answered with garbage. A parser that
raises would turn one odd line into a failed test run, so each one returns "", None, {} or []
for data it cannot read and never lets an exception escape.

Sources for the identification tables are cited next to each table.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# small helpers


def _never_raise(default_factory: Callable[[], T]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Wrap a parser so any unexpected input yields a fresh default instead of an exception."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        def wrapper(*args: Any, **kwargs: Any) -> T:
            try:
                return func(*args, **kwargs)
            except Exception:  # noqa: BLE001 - parsers must never crash on odd input
                return default_factory()

        wrapper.__name__ = func.__name__
        wrapper.__qualname__ = func.__qualname__
        wrapper.__doc__ = func.__doc__
        wrapper.__wrapped__ = func  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _text(value: Any) -> str:
    """Coerce whatever we were handed (None, bytes, str) into str."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def _to_int(value: Any) -> int | None:
    """Parse a decimal or 0x-hex integer; None when it is not one."""
    s = _text(value).strip()
    if not s:
        return None
    try:
        return int(s, 16) if s.lower().startswith("0x") else int(s)
    except ValueError:
        return None


def _to_float(value: Any) -> float | None:
    try:
        return float(_text(value).strip())
    except ValueError:
        return None


def _key_value_lines(text: str, sep: str) -> list[tuple[str, str]]:
    """Split 'key<sep>value' lines, keeping only lines that contain the separator."""
    pairs = []
    for raw in _text(text).splitlines():
        if sep not in raw:
            continue
        key, _, value = raw.partition(sep)
        pairs.append((key.strip(), value.strip()))
    return pairs


# --------------------------------------------------------------------------------------------
# /etc/os-release and friends

_OS_RELEASE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # fullmatch


def _unquote_shell(value: str) -> str:
    """Undo the shell quoting os-release allows: "..." (with \\ escapes), '...' or bare."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        if value[0] == '"':
            inner = re.sub(r'\\([\\"$`])', r"\1", inner)
        return inner
    if value[:1] in "\"'":  # unbalanced quote: keep what is there rather than give up
        return value[1:].strip()
    return value


@_never_raise(dict)
def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5): shell-style KEY=VALUE lines, quotes, comments and blank lines.

    Lines that are not assignments (pasted prompts, garbage) are skipped, so a partially
    corrupted file still yields the keys that are readable.
    """
    result: dict[str, str] = {}
    for raw in _text(text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        if not _OS_RELEASE_KEY.fullmatch(key):
            continue
        result[key] = _unquote_shell(value)
    return result


@_never_raise(dict)
def parse_ini_flat(text: str) -> dict[str, str]:
    """Parse an INI-like key=value file ignoring [sections] (used for /etc/os-version, .kyinfo).

    Keys keep their locale suffix (``EditionName[zh_CN]``); the first occurrence wins.
    """
    result: dict[str, str] = {}
    for raw in _text(text).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        result.setdefault(key.strip(), value.strip())
    return result


# Canonical os_id for IDs (and ID aliases) seen in the field.
_OS_ID_ALIASES = {
    "openeuler": "openeuler",
    "kylin": "kylin",
    "uos": "uos",
    "uniontech": "uos",
    "anolis": "anolis",
    "debian": "debian",
    "ubuntu": "ubuntu",
    "centos": "centos",
    "rhel": "rhel",
}

# Names we print for the distributions this harness cares about most.
_OS_NAMES = {
    "openeuler": "openEuler",
    "anolis": "Anolis OS",
}

# Kylin Advanced Server V10 codenames -> service pack. Verified against /etc/.productinfo of the
# official images (macrosan/kylin, hxsoong/kylin on Docker Hub):
#   "release V10 (SP1) /(Tercel)", "release V10 (SP2) /(Sword)", "release V10 (SP3) /(Lance)",
#   "release V10 SP3 2403/(Halberd)".
KYLIN_CODENAME_SP = {
    "tercel": "SP1",
    "sword": "SP2",
    "lance": "SP3",
    "halberd": "SP3-2403",
}


def _paren(value: str) -> str:
    """Return the text inside the first (...) of a string, or ''."""
    match = re.search(r"\(([^)]*)\)", value)
    return match.group(1).strip() if match else ""


def _guess_os_id(os_release: dict[str, str], extra: dict[str, str]) -> str:
    """Canonical os_id from ID, falling back to release files when os-release is missing."""
    raw = os_release.get("ID", "").strip().lower()
    if raw:
        return _OS_ID_ALIASES.get(raw, raw)
    if "/etc/openEuler-release" in extra:
        return "openeuler"
    if "/etc/kylin-release" in extra or "/etc/.kyinfo" in extra or "/etc/.productinfo" in extra:
        return "kylin"
    if "/etc/os-version" in extra and "UnionTech" in extra["/etc/os-version"]:
        return "uos"
    name = os_release.get("NAME", "").lower()
    for needle, os_id in (("kylin", "kylin"), ("uniontech", "uos"), ("uos", "uos"), ("openeuler", "openeuler")):
        if needle in name:
            return os_id
    return ""


def _openeuler_facts(osr: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """openEuler: version "22.03", os_sp is the release qualifier: "LTS", "LTS-SP1", ...

    The qualifier keeps the LTS prefix on purpose: "22.03 LTS" and "22.03 LTS SP1" are
    different compatibility targets, and innovation releases (e.g. 22.09) have none.
    """
    version = osr.get("VERSION_ID", "")
    qualifier = _paren(osr.get("VERSION", ""))
    release_line = extra.get("/etc/openEuler-release", "")
    if not qualifier and release_line:
        qualifier = _paren(release_line)
    if not qualifier:  # "22.03 LTS" style, without parentheses
        rest = osr.get("VERSION", "").replace(version, "", 1).strip()
        qualifier = rest.strip("() ")
    if not version:
        match = re.search(r"(\d+\.\d+)", osr.get("VERSION", "") or release_line)
        version = match.group(1) if match else ""
    qualifier = re.sub(r"\s+", "-", qualifier.upper()) if qualifier else ""
    return {"os_version": version, "os_sp": qualifier, "os_name": "openEuler"}


def _kylin_sp(osr: dict[str, str], extra: dict[str, str]) -> str:
    """Kylin service pack from the most explicit source available.

    Order: /etc/.productinfo ("release V10 (SP2) /(Sword)", "release V10 SP3 2403/(Halberd)"),
    /etc/.kyinfo milestone ("10-SP1-Release-...", "Desktop-V10-SP1-Release-2107"), then the
    codename in os-release VERSION or /etc/kylin-release.
    """
    productinfo = extra.get("/etc/.productinfo", "")
    match = re.search(r"release\s+V\d+\s*\(?\s*(SP\d+)\s*\)?\s*(\d{4})?\s*/", productinfo, re.I)
    if match:
        return match.group(1).upper() + (f"-{match.group(2)}" if match.group(2) else "")
    milestone = parse_ini_flat(extra.get("/etc/.kyinfo", "")).get("milestone", "")
    match = re.search(r"(SP\d+)(?:-Release-(\d{4})\b)?", milestone, re.I)
    if match:
        return match.group(1).upper() + (f"-{match.group(2)}" if match.group(2) else "")
    for source in (osr.get("VERSION", ""), extra.get("/etc/kylin-release", ""), productinfo):
        codename = _paren(source).lower()
        if codename in KYLIN_CODENAME_SP:
            return KYLIN_CODENAME_SP[codename]
    return ""


def _kylin_facts(osr: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    kyinfo = parse_ini_flat(extra.get("/etc/.kyinfo", ""))
    version = osr.get("VERSION_ID", "")
    if not version:
        match = re.search(r"\b(V\d+)\b", " ".join([osr.get("VERSION", ""), extra.get("/etc/kylin-release", "")]))
        version = match.group(1) if match else ""
    milestone_match = re.search(r"(?:^|-)V?(\d+)-SP", kyinfo.get("milestone", ""))
    if not version and milestone_match:
        version = "V" + milestone_match.group(1)
    name = osr.get("NAME", "") or extra.get("/etc/kylin-release", "").split(" release")[0].strip() or "Kylin"
    hints = " ".join([name, kyinfo.get("name", ""), kyinfo.get("milestone", "")]).lower()
    edition = "Desktop" if "desktop" in hints else ("Server" if "server" in hints else "")
    return {"os_version": version, "os_sp": _kylin_sp(osr, extra), "os_name": name,
            "os_edition": edition, "os_product": edition}


def _uos_facts(osr: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """UOS: version "20", os_edition "<MinorVersion><EditionName>" e.g. "1050e", "1001c".

    That is how UnionTech and compatibility lists name releases ("UOS 20 1050e"). Word
    editions (Professional) are kept as words: "1060 Professional".
    """
    osv = parse_ini_flat(extra.get("/etc/os-version", ""))
    version = osv.get("MajorVersion", "") or osr.get("VERSION_ID", "")
    minor = osv.get("MinorVersion", "")
    edition_name = osv.get("EditionName", "")
    if len(edition_name) == 1:
        edition = f"{minor}{edition_name.lower()}"
    else:
        edition = " ".join(part for part in (minor, edition_name) if part)
    product = osv.get("ProductType", "")
    if not product:
        hint = (osr.get("NAME", "") + " " + osr.get("PRETTY_NAME", "")).lower()
        product = "Server" if "server" in hint else ("Desktop" if "desktop" in hint else "")
    name = osv.get("SystemName", "")
    if not name or name.startswith("UOS "):
        name = f"UnionTech OS {product}".strip() if product else "UnionTech OS"
    return {"os_version": version, "os_sp": "", "os_name": name, "os_edition": edition,
            "os_product": product}


def _generic_facts(osr: dict[str, str]) -> dict[str, str]:
    """Everything else: VERSION_ID, an "SPn" if VERSION carries one (SLES), VARIANT as edition."""
    version = osr.get("VERSION_ID", "")
    if not version:
        match = re.search(r"(\d+(?:\.\d+)*)", osr.get("VERSION", ""))
        version = match.group(1) if match else ""
    sp_match = re.search(r"\bSP(\d+)\b", osr.get("VERSION", ""), re.I)
    variant = osr.get("VARIANT", "")
    return {"os_version": version, "os_sp": f"SP{sp_match.group(1)}" if sp_match else "",
            "os_name": osr.get("NAME", ""), "os_edition": variant, "os_product": variant}


@_never_raise(lambda: {"os_id": "", "os_name": "", "os_version": "", "os_sp": "", "os_edition": "",
                       "os_like": [], "os_product": "", "os_pretty_name": ""})
def normalise_os(os_release: dict, extra: dict[str, str]) -> dict:
    """Turn os-release plus vendor release files into canonical OS facts.

    Returns os_id, os_name, os_version, os_sp, os_edition, os_like (and os_product,
    os_pretty_name). ``extra`` maps a file path ("/etc/.kyinfo", "/etc/kylin-release",
    "/etc/.productinfo", "/etc/os-version", "/etc/openEuler-release") to its text; files that
    were absent are simply not keys. The domestic distributions hide the facts that matter for
    compatibility (Kylin SP level, UOS edition) outside os-release, hence ``extra``.
    """
    osr = {str(k): _text(v) for k, v in dict(os_release or {}).items()}
    extra = {str(k): _text(v) for k, v in dict(extra or {}).items()}
    os_id = _guess_os_id(osr, extra)
    if os_id == "openeuler":
        facts = _openeuler_facts(osr, extra)
    elif os_id == "kylin":
        facts = _kylin_facts(osr, extra)
    elif os_id == "uos":
        facts = _uos_facts(osr, extra)
    else:
        facts = _generic_facts(osr)
    result = {
        "os_id": os_id,
        "os_name": facts.get("os_name") or _OS_NAMES.get(os_id, "") or osr.get("NAME", ""),
        "os_version": facts.get("os_version", ""),
        "os_sp": facts.get("os_sp", ""),
        "os_edition": facts.get("os_edition", ""),
        "os_like": [part.lower() for part in osr.get("ID_LIKE", "").split() if part],
        "os_product": facts.get("os_product", ""),
        "os_pretty_name": osr.get("PRETTY_NAME", ""),
    }
    if os_id in _OS_NAMES:
        result["os_name"] = _OS_NAMES[os_id]
    return result


# --------------------------------------------------------------------------------------------
# lscpu and /proc/cpuinfo


@_never_raise(dict)
def parse_lscpu(text: str) -> dict:
    """Parse ``LC_ALL=C lscpu`` into {field: value}, first occurrence wins.

    Handles the classic flat layout and the indented tree layout of util-linux >= 2.38; lines
    without "key: value" (the parsable CSV tail of some dumps, section headers) are skipped.
    """
    result: dict[str, str] = {}
    for raw in _text(text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in result:
            result[key] = value.strip()
    return result


def _cpuinfo_key(key: str) -> str:
    return re.sub(r"\s+", "_", key.strip().lower())


@_never_raise(lambda: {"processor_count": 0, "physical_ids": []})
def parse_cpuinfo(text: str) -> dict:
    """Parse /proc/cpuinfo of x86, ARM64, LoongArch and MIPS kernels.

    Returns the first value of every key with keys lower-cased and spaces turned into "_"
    (``model_name``, ``vendor_id``, ``cpu_implementer``, ``cpu_part`` ...), plus
    ``processor_count`` (numbered "processor" entries) and ``physical_ids`` (distinct socket ids
    on x86). Old ARM kernels print "Processor : AArch64 Processor rev 0" which is a name, not
    an index: that one is stored as ``processor_name``.
    """
    result: dict[str, Any] = {}
    count = 0
    physical_ids: list[str] = []
    for key, value in _key_value_lines(text, ":"):
        norm = _cpuinfo_key(key)
        if not norm:
            continue
        if norm == "processor":
            if value.isdigit():
                count += 1
            else:
                result.setdefault("processor_name", value)
            continue
        if norm == "physical_id" and value not in physical_ids:
            physical_ids.append(value)
        result.setdefault(norm, value)
    result["processor_count"] = count
    result["physical_ids"] = physical_ids
    return result


# ARM MIDR implementer codes and part numbers. Sources: util-linux sys-utils/lscpu-arm.c,
# Linux arch/arm64/include/asm/cputype.h (HISI_CPU_PART_TSV110 0xD01, HISI_CPU_PART_HIP09 0xD02,
# HISI_CPU_PART_HIP12 0xD06) and the Phytium SoC driver (FTC660 PS15016/FT-1500A, FTC661
# PE1702, FTC662 PS17064/FT-2000+/64, FTC663 PD1904/FT-2000/4, D2000, S2500, FTC862 PD2408).
ARM_IMPLEMENTERS = {
    0x41: "ARM",
    0x42: "Broadcom",
    0x43: "Cavium",
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x50: "APM",
    0x51: "Qualcomm",
    0x53: "Samsung",
    0x56: "Marvell",
    0x61: "Apple",
    0x69: "Intel",
    0x70: "Phytium",
    0xC0: "Ampere",
}

ARM_PARTS: dict[int, dict[int, str]] = {
    0x48: {0xD01: "Kunpeng 920", 0xD02: "Kunpeng HIP09", 0xD06: "Kunpeng HIP12", 0xD40: "Cortex-A76"},
    0x70: {0x303: "FTC303", 0x660: "FT-1500A", 0x661: "FT-2000A", 0x662: "FT-2000+/64",
           0x663: "FTC663", 0x862: "FTC862"},
    0xC0: {0xAC3: "Ampere-1", 0xAC4: "Ampere-1a"},
    0x41: {0xD03: "Cortex-A53", 0xD04: "Cortex-A35", 0xD05: "Cortex-A55", 0xD07: "Cortex-A57",
           0xD08: "Cortex-A72", 0xD09: "Cortex-A73", 0xD0A: "Cortex-A75", 0xD0B: "Cortex-A76",
           0xD0C: "Neoverse-N1", 0xD0D: "Cortex-A77", 0xD40: "Neoverse-V1", 0xD41: "Cortex-A78",
           0xD44: "Cortex-X1", 0xD46: "Cortex-A510", 0xD47: "Cortex-A710", 0xD48: "Cortex-X2",
           0xD49: "Neoverse-N2", 0xD4A: "Neoverse-E1", 0xD4D: "Cortex-A715", 0xD4E: "Cortex-X3",
           0xD4F: "Neoverse-V2", 0xD84: "Neoverse-V3"},
}

_ARM_VENDOR_FAMILY = {"HiSilicon": "kunpeng", "Phytium": "phytium", "Ampere": "arm64-ampere",
                      "ARM": "arm64-arm"}


@_never_raise(lambda: (None, None))
def parse_midr(midr: str | None) -> tuple[int | None, int | None]:
    """Decode (implementer, part) from a MIDR_EL1 value such as "0x00000000481fd010"."""
    value = _to_int(_text(midr).strip().splitlines()[0] if _text(midr).strip() else "")
    if value is None or value <= 0:
        return None, None
    return (value >> 24) & 0xFF, (value >> 4) & 0xFFF


def _phytium_ftc663_model(cpu_count: int | None) -> str:
    """FTC663 cores ship in three SoCs; the Kylin kernel tells them apart by core count.

    (arch/arm64 cpu model table of the Kylin kernel: MIDR_FT_2000A_4 with 8 CPUs -> D2000/8,
    more than 8 -> S2500/64, otherwise FT-2000/4.)
    """
    if cpu_count is None:
        return "FTC663"
    if cpu_count > 8:
        return "S2500"
    if cpu_count == 8:
        return "D2000"
    return "FT-2000/4"


def _clean_vendor_prefix(model: str) -> str:
    """'Phytium,FT-2000+/64' -> 'FT-2000+/64'; 'HUAWEI,Kunpeng 920' -> 'Kunpeng 920'."""
    model = re.sub(r"^(?:phytium|huawei|hisilicon)\s*[, ]\s*", "", model.strip(), flags=re.I)
    return re.sub(r"^Kunpeng-(\d+)", r"Kunpeng \1", model)


def _arm_ids(lscpu: dict, cpuinfo: dict, midr: str | None) -> tuple[int | None, int | None]:
    impl, part = parse_midr(midr)
    if impl is None:
        impl = _to_int(cpuinfo.get("cpu_implementer"))
        part = _to_int(cpuinfo.get("cpu_part"))
    if impl is None:  # very old lscpu prints the raw id as "Vendor ID: 0x48"
        impl = _to_int(lscpu.get("Vendor ID")) if _text(lscpu.get("Vendor ID")).startswith("0x") else None
    return impl, part


def _identify_arm(lscpu: dict, cpuinfo: dict, midr: str | None, cpu_count: int | None) -> dict:
    impl, part = _arm_ids(lscpu, cpuinfo, midr)
    vendor = ARM_IMPLEMENTERS.get(impl, "") if impl is not None else ""
    if not vendor:
        lscpu_vendor = _text(lscpu.get("Vendor ID")).strip()
        vendor = next((v for v in ARM_IMPLEMENTERS.values() if v.lower() == lscpu_vendor.lower()),
                      lscpu_vendor if lscpu_vendor and not lscpu_vendor.startswith("0x") else "")
    model = ARM_PARTS.get(impl or -1, {}).get(part or -1, "")
    if vendor == "Phytium" and part == 0x663:
        model = _phytium_ftc663_model(cpu_count)
    # Vendor kernels (Kylin) print "Vendor,Model" names in cpuinfo that are more precise than
    # the MIDR part ("Phytium,S2500/64 C00"); other free-form names only fill a gap.
    named = _text(cpuinfo.get("model_name")).strip()
    lscpu_name = _text(lscpu.get("Model name")).strip()
    if "," in named:
        model = _clean_vendor_prefix(named)
    for candidate in (named, lscpu_name):
        if not model and candidate and candidate != "-" \
                and not candidate.lower().startswith(("armv8", "aarch64")):
            model = _clean_vendor_prefix(candidate)
    if vendor == "Phytium" and model.lower().startswith("phytium "):
        model = model.split(" ", 1)[1]
    if not vendor and re.search(r"kunpeng", model, re.I):
        vendor = "HiSilicon"
    if not vendor and re.search(r"\bFT-?\d|phytium", model + named, re.I):
        vendor = "Phytium"
    family = _ARM_VENDOR_FAMILY.get(vendor, f"arm64-{vendor.lower()}" if vendor else "arm64-unknown")
    if vendor == "HiSilicon" and not model.lower().startswith("kunpeng"):
        family = "arm64-hisilicon"
    return {"cpu_vendor": vendor or "unknown", "cpu_model": model, "cpu_family": family,
            "cpu_implementer": f"0x{impl:02x}" if impl is not None else "",
            "cpu_part": f"0x{part:03x}" if part is not None else ""}


_X86_VENDORS = {
    "genuineintel": ("Intel", "x86_64-intel"),
    "authenticamd": ("AMD", "x86_64-amd"),
    "hygongenuine": ("Hygon", "hygon"),
    "shanghai": ("Zhaoxin", "zhaoxin"),
    "centaurhauls": ("Zhaoxin", "zhaoxin"),
}


def _identify_x86(lscpu: dict, cpuinfo: dict) -> dict:
    vendor_id = (_text(cpuinfo.get("vendor_id")) or _text(lscpu.get("Vendor ID"))).strip()
    model = re.sub(r"\s+", " ", (_text(cpuinfo.get("model_name")) or _text(lscpu.get("Model name"))).strip())
    vendor, family = _X86_VENDORS.get(vendor_id.lower(), ("", ""))
    if vendor_id.lower() == "centaurhauls" and "zhaoxin" not in model.lower() \
            and _text(cpuinfo.get("cpu_family") or lscpu.get("CPU family")).strip() != "7":
        vendor, family = "VIA", "x86_64-via"  # Centaur without Zhaoxin branding is a VIA part
    if not vendor:
        for needle, (name, fam) in (("hygon", ("Hygon", "hygon")), ("zhaoxin", ("Zhaoxin", "zhaoxin")),
                                    ("intel", ("Intel", "x86_64-intel")), ("amd", ("AMD", "x86_64-amd"))):
            if needle in model.lower():
                vendor, family = name, fam
                break
    if vendor == "Hygon":  # "Hygon C86 7285 32-core Processor" -> "Hygon C86 7285"
        model = re.sub(r"\s+\d+-core\s+Processor\s*$", "", model, flags=re.I)
    return {"cpu_vendor": vendor or "unknown", "cpu_model": model,
            "cpu_family": family or "x86_64-unknown", "cpu_implementer": "", "cpu_part": ""}


def _identify_loongson(arch: str, lscpu: dict, cpuinfo: dict) -> dict:
    candidates = [cpuinfo.get("model_name"), cpuinfo.get("cpu_model"), lscpu.get("Model name"),
                  cpuinfo.get("system_type")]
    blob = " ".join(_text(c) for c in candidates if c)
    match = re.search(r"Loongson-[0-9A-Z]+(?:-[0-9A-Z]+)?", blob, re.I)
    model = match.group(0) if match else _text(candidates[0] or candidates[2]).strip()
    is_loongson = bool(match) or "loongson" in blob.lower() or arch.startswith("loongarch")
    family = "loongson" if arch.startswith("loongarch") else f"loongson-{arch or 'mips64'}"
    return {"cpu_vendor": "Loongson" if is_loongson else "unknown", "cpu_model": model,
            "cpu_family": family if is_loongson else f"{arch}-unknown", "cpu_implementer": "",
            "cpu_part": ""}


@_never_raise(lambda: {"cpu_vendor": "unknown", "cpu_model": "", "cpu_family": "unknown",
                       "cpu_implementer": "", "cpu_part": ""})
def identify_cpu(arch: str, lscpu: dict, cpuinfo: dict, midr: str | None) -> dict:
    """Name the CPU: cpu_vendor, cpu_model and cpu_family (the grouping used to reuse results).

    ARM is identified by MIDR (sysfs midr_el1 first, then cpuinfo implementer/part) because
    lscpu's names differ between util-linux versions and old versions print none; x86 by the
    CPUID vendor string; LoongArch/MIPS by the Loongson model string.
    """
    arch = _text(arch).strip().lower()
    lscpu = dict(lscpu or {})
    cpuinfo = dict(cpuinfo or {})
    cpu_count = _to_int(lscpu.get("CPU(s)")) or (cpuinfo.get("processor_count") or None)
    has_arm_ids = bool(cpuinfo.get("cpu_implementer") or _text(midr).strip())
    if arch in ("x86_64", "amd64", "i386", "i686") or (not arch and cpuinfo.get("vendor_id")):
        return _identify_x86(lscpu, cpuinfo)
    if arch.startswith(("aarch64", "arm")) and not has_arm_ids and cpuinfo.get("vendor_id"):
        # An ARM userland that sees an x86 /proc/cpuinfo runs under qemu-user emulation (the lab):
        # the CPU facts are the host's, said so plainly so no one takes them for ARM silicon.
        host = _identify_x86(lscpu, cpuinfo)
        return {**host, "cpu_model": f"{host['cpu_model']} (qemu-user emulation)",
                "cpu_family": "emulated-" + host["cpu_family"], "emulation": "qemu-user"}
    if arch.startswith(("aarch64", "arm")) or (not arch and has_arm_ids):
        return _identify_arm(lscpu, cpuinfo, midr, cpu_count)
    if arch.startswith(("loongarch", "mips")) or "loongson" in str(cpuinfo).lower():
        return _identify_loongson(arch, lscpu, cpuinfo)
    model = _text(cpuinfo.get("model_name") or lscpu.get("Model name")).strip()
    return {"cpu_vendor": "unknown", "cpu_model": model,
            "cpu_family": f"{arch}-unknown" if arch else "unknown", "cpu_implementer": "",
            "cpu_part": ""}


# --------------------------------------------------------------------------------------------
# memory, glibc


@_never_raise(lambda: {"mem_total_kb": None, "mem_available_kb": None, "swap_total_kb": None,
                       "hugepages_total": None, "hugepagesize_kb": None})
def parse_meminfo(text: str) -> dict:
    """Parse /proc/meminfo; values are kB integers (HugePages_Total is a count)."""
    raw = {key: value for key, value in _key_value_lines(text, ":")}

    def number(key: str) -> int | None:
        match = re.match(r"\s*(\d+)", raw.get(key, ""))
        return int(match.group(1)) if match else None

    return {
        "mem_total_kb": number("MemTotal"),
        "mem_available_kb": number("MemAvailable"),
        "swap_total_kb": number("SwapTotal"),
        "hugepages_total": number("HugePages_Total"),
        "hugepagesize_kb": number("Hugepagesize"),
    }


@_never_raise(str)
def parse_glibc(text: str) -> str:
    """glibc version from ``getconf GNU_LIBC_VERSION`` ("glibc 2.36") or the first line of
    ``ldd --version`` ("ldd (Ubuntu GLIBC 2.31-0kylin9.1k20.5) 2.31"). "" for musl or garbage.
    """
    for line in _text(text).splitlines():
        line = line.strip()
        if not line:
            continue
        if "musl" in line.lower():
            return ""
        match = re.search(r"\b(\d+\.\d+(?:\.\d+)?)\s*\Z", line)
        if match and re.search(r"glibc|libc|ldd", line, re.I):
            return match.group(1)
        match = re.search(r"glibc\s+(\d+\.\d+)", line, re.I)
        if match:
            return match.group(1)
        return ""
    return ""


# --------------------------------------------------------------------------------------------
# Ascend NPU (npu-smi, version files) and NVIDIA

_NPU_DEVICE_ROW = re.compile(
    r"^\|\s*(?P<npu>\d+)\s+(?P<name>[^\s|]+)\s*\|\s*(?P<health>[^|]*?)\s*\|"
    r"\s*(?P<power>\S+)\s+(?P<temp>\S+)(?P<rest>[^|]*)\|")
_NPU_CHIP_ROW = re.compile(
    r"^\|\s*(?P<chip>\d+)(?:\s+(?P<phy>\d+))?\s*\|\s*(?P<bus>[^|\s]+)\s*\|"
    r"\s*(?P<aicore>\d+)\s+(?P<mem_used>\d+)\s*/\s*(?P<mem_total>\d+)"
    r"(?:\s+(?P<hbm_used>\d+)\s*/\s*(?P<hbm_total>\d+))?\s*\|")


def _npu_entry(device: re.Match, chip: re.Match) -> dict:
    phy = chip.group("phy")
    return {
        "npu_id": int(device.group("npu")),
        "chip_id": int(chip.group("chip")),
        "phy_id": int(phy) if phy is not None else None,
        "name": device.group("name"),
        "health": device.group("health").strip(),
        "power_w": _to_float(device.group("power")),
        "temp_c": _to_int(device.group("temp")),
        "bus_id": chip.group("bus"),
        "aicore_pct": _to_int(chip.group("aicore")),
        "memory_used_mb": _to_int(chip.group("mem_used")),
        "memory_total_mb": _to_int(chip.group("mem_total")),
        "hbm_used_mb": _to_int(chip.group("hbm_used")),
        "hbm_total_mb": _to_int(chip.group("hbm_total")),
    }


@_never_raise(list)
def parse_npu_smi(text: str) -> list[dict]:
    """Parse the device table of ``npu-smi info`` into one entry per chip (logical NPU).

    Each device is two table rows: "| NPU Name | Health | Power Temp Hugepages |" then
    "| Chip [Phy-ID/Device] | Bus-Id | AICore Memory-Usage [HBM-Usage] |". Atlas A3 boards list
    two chips per NPU (the second with Power "-"); 310P/310B cards have no HBM column. The
    process table that follows is ignored.
    """
    entries: list[dict] = []
    device: re.Match | None = None
    for raw in _text(text).splitlines():
        line = raw.strip()
        if "Process id" in line or "Process name" in line:
            break
        match = _NPU_DEVICE_ROW.match(line)
        if match and not match.group("name").isdigit():
            device = match
            continue
        match = _NPU_CHIP_ROW.match(line)
        if match and device is not None:
            entries.append(_npu_entry(device, match))
            device = None
    return entries


@_never_raise(str)
def parse_npu_smi_version(text: str) -> str:
    """The tool/driver version from the npu-smi banner ("| npu-smi 23.0.3  Version: 23.0.3 |")."""
    match = re.search(r"Version:\s*([\w.\-]+)", _text(text))
    return match.group(1) if match else ""


@_never_raise(dict)
def parse_ascend_version_info(text: str) -> dict:
    """Parse Ascend key=value version files (driver/version.info, ascend_toolkit_install.info).

    All keys are returned as-is plus ``version``: package_version, else Version, else version.
    Newer drivers put the component version in Version and the release in package_version.
    """
    result: dict[str, str] = {}
    for key, value in _key_value_lines(text, "="):
        if key and re.fullmatch(r"[\w.\-]+", key):
            result.setdefault(key, value.strip().strip('"'))
    result["version"] = result.get("package_version") or result.get("Version") or result.get("version") or ""
    return result


@_never_raise(list)
def parse_nvidia_smi_csv(text: str) -> list[dict]:
    """Parse ``nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader``.

    The last three fields of a row are taken as name, driver, memory, so extra leading
    columns (index, uuid) are tolerated. Header rows and error messages are skipped because
    their driver field is not a version number.
    """
    gpus = []
    for raw in _text(text).splitlines():
        fields = [field.strip() for field in raw.split(",")]
        if len(fields) < 3:
            continue
        name, driver, memory = fields[-3], fields[-2], fields[-1]
        if not name or not re.fullmatch(r"\d+(?:\.\d+)+", driver):
            continue
        match = re.match(r"(\d+)", memory)
        gpus.append({"name": name, "driver": driver,
                     "memory_total_mb": int(match.group(1)) if match else None})
    return gpus


def most_common(values: list[str]) -> str:
    """Most frequent non-empty string (first seen on ties), '' when there is none."""
    counted = Counter(v for v in values if v)
    return counted.most_common(1)[0][0] if counted else ""
