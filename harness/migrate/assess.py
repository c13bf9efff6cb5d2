"""System migration assessment: read the source system, check the target, score readiness, list blockers.

`assess(inventory, "lab-x86", "lab-arm64")` connects to both, reads both systems with one
script each (harness.migrate.collect), asks the target's repositories for every source package
(harness.migrate.probe) and compares. Every item gets a status: ok, warning (work to do) or
blocker (the system will not work on the target until fixed); info items are context only.

Readiness score (0-100) = sum over areas of weight x mean item score, where ok=1, warning=0.5,
blocker=0 and an area without items counts as fully ready. Weights: packages 40, services 20,
platform (glibc, kernel) 15, cron 10, config files 10, kernel modules 5. `ready` means no blocker.
"""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.core.errors import InputError
from harness.inventory import Inventory, Target
from harness.migrate.collect import Snapshot, collect
from harness.migrate.probe import probe_commands, probe_packages, probe_paths
from harness.migrate.versions import compare
from harness.scan.model import version_key

WEIGHTS = {"packages": 40, "services": 20, "platform": 15, "cron": 10, "configs": 10, "modules": 5}
ITEM_SCORE = {"ok": 1.0, "warning": 0.5, "blocker": 0.0}
PLATFORM_PACKAGE = re.compile(
    r"(?:linux-(?:image|headers|modules|signed|kbuild|compiler)\S*|kernel(?:-core|-modules\S*|-devel|-headers)?|"
    r"grub\S*|shim\S*|efibootmgr|intel-microcode|amd64-microcode|microcode_ctl|iucode-tool|libc6-(?:i386|amd64|x32)|"
    r"lib32\S+|libx32\S+|gcc-multilib|g\+\+-multilib|\S+-(?:amd64|x86-64|x86_64|i386|arm64|aarch64))")  # fullmatch


def _one(inventory: Inventory, selector: str, option: str) -> Target:
    chosen = inventory.select(selector)
    if len(chosen) != 1:
        raise InputError(f"{option} {selector!r} must select exactly one target; it selects "
                         f"{len(chosen)}: {', '.join(t.name for t in chosen)}")
    return chosen[0]


class _Items:
    """Items of one area, and the blockers/warnings lists every area feeds."""

    def __init__(self, result: dict[str, Any], area: str) -> None:
        self.result = result
        self.area = area
        self.items: list[dict[str, Any]] = []
        result[area] = self.items

    def add(self, item: str, status: str, detail: str, **extra: Any) -> None:
        row = {"item": item, "status": status, "detail": detail, **extra}
        self.items.append(row)
        if status in ("blocker", "warning"):
            self.result[status + "s"].append({"area": self.area, "item": item, "detail": detail})


def _system(snapshot: Snapshot) -> dict[str, Any]:
    f = snapshot.facts
    return {"name": snapshot.name, "arch": f.get("arch", ""), "os_id": f.get("os_id", ""),
            "os_version": f.get("os_version", ""), "os_name": f.get("os_name", ""), "glibc": f.get("glibc", ""),
            "kernel": f.get("kernel", ""), "pkg_family": snapshot.family, "systemd": snapshot.systemd,
            "packages": len(snapshot.packages), "services": len(snapshot.services)}


def _packages(result: dict[str, Any], src: Snapshot, dst: Snapshot, candidates: dict[str, dict[str, str]]) -> None:
    area = _Items(result, "packages")
    if src.family != dst.family:
        result["notes"].append(f"package formats differ ({src.family} -> {dst.family}): package names are not "
                               "comparable one to one; map them by hand / 包格式不同，无法逐一对照包名")
        return
    for name, info in sorted(src.packages.items()):
        if PLATFORM_PACKAGE.fullmatch(name):
            area.add(name, "info", "platform package: the target has its own / 平台相关包，由目标系统自带",
                     source_version=info["version"], target_candidate="")
            continue
        found = candidates.get(name, {})
        candidate = found.get("candidate") or found.get("installed") or ""
        if not candidate:
            area.add(name, "blocker", f"not available in the target's repositories / 目标系统软件源中没有 {name}",
                     source_version=info["version"], target_candidate="")
        elif compare(candidate, info["version"], src.family) < 0:
            area.add(name, "warning", f"older on the target: {candidate} < {info['version']} / 目标版本较旧",
                     source_version=info["version"], target_candidate=candidate)
        else:
            area.add(name, "ok", "", source_version=info["version"], target_candidate=candidate)


def _services(result: dict[str, Any], src: Snapshot, dst: Snapshot, candidates: dict[str, dict[str, str]]) -> None:
    area = _Items(result, "services")
    for svc in src.services:
        owner = src.service_owner.get(svc, "")
        if svc in dst.services:
            area.add(svc, "ok", "enabled on the target too", package=owner)
        elif svc in dst.service_files:
            area.add(svc, "warning", "present on the target but not enabled / 目标上已安装但未启用", package=owner)
        elif owner and (candidates.get(owner, {}).get("candidate") or owner in dst.packages):
            area.add(svc, "warning", f"not installed on the target; install package {owner} / 目标上未安装，"
                     f"请安装 {owner}", package=owner)
        elif owner:
            area.add(svc, "blocker", f"its package {owner} is not available on the target / 提供该服务的包 {owner} "
                     "在目标上不可用", package=owner)
        else:
            area.add(svc, "blocker", "no package provides it (local service): port its files by hand / 本地自建服务，"
                     "需手工迁移", package="")


def _platform(result: dict[str, Any], src: Snapshot, dst: Snapshot) -> None:
    area = _Items(result, "platform")
    s, d = src.facts, dst.facts
    if s.get("arch") != d.get("arch"):
        area.add("arch", "info", f"{s.get('arch')} -> {d.get('arch')}: rebuild native code (run `xch scan` on it) / "
                 "架构变化：本地代码需重新编译")
    sg, dg = s.get("glibc", ""), d.get("glibc", "")
    if sg and dg and version_key(dg) < version_key(sg):
        area.add("glibc", "blocker", f"target glibc {dg} is older than source {sg}: binaries built on the source may "
                 f"need symbols the target lacks / 目标 glibc {dg} 低于源系统 {sg}")
    else:
        area.add("glibc", "ok", f"{sg or '?'} -> {dg or '?'}")
    sk, dk = s.get("kernel", ""), d.get("kernel", "")
    if sk and dk and version_key(dk.split("-")[0])[:2] < version_key(sk.split("-")[0])[:2]:
        area.add("kernel", "warning", f"target kernel {dk} is older than source {sk} / 目标内核较旧")
    else:
        area.add("kernel", "ok", f"{sk or '?'} -> {dk or '?'}")
    if (s.get("os_id"), s.get("os_version")) != (d.get("os_id"), d.get("os_version")):
        area.add("os", "info", f"{s.get('os_name') or s.get('os_id')} {s.get('os_version')} -> "
                 f"{d.get('os_name') or d.get('os_id')} {d.get('os_version')}")


def _modules(result: dict[str, Any], src: Snapshot, dst: Snapshot) -> None:
    area = _Items(result, "modules")
    have = set(dst.modules) | set(dst.modules_available)
    for module in src.modules:
        if module in have:
            area.add(module, "ok", "")
        else:
            area.add(module, "warning", "not loaded and not available on the target kernel / 目标内核中没有该模块")


def _cron(result: dict[str, Any], src: Snapshot, dst: Snapshot, exists: dict[str, bool]) -> None:
    area = _Items(result, "cron")
    target_files = {job["file"] for job in dst.cron}
    for job in src.cron:
        if job["file"] in target_files:
            area.add(job["file"], "ok", "the same cron file exists on the target", line=job["line"])
            continue
        missing = [p for p in _executables(job["command"]) if not exists.get(p, False)]
        if missing:
            area.add(job["file"], "warning", f"runs {', '.join(missing)}, missing on the target / 目标上缺少 "
                     f"{', '.join(missing)}", line=job["line"])
        else:
            area.add(job["file"], "warning", "cron job not on the target: copy it / 目标上没有该定时任务，需要迁移",
                     line=job["line"])


def _executables(command: str) -> list[str]:
    """Absolute paths a cron command runs: the first word of each `;`/`&&`/`||`/`|` segment, after VAR=x."""
    paths = []
    for segment in re.split(r"\|\||&&|;|\|", command):
        words = [w for w in segment.split() if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w)]
        if words and words[0].startswith("/"):
            paths.append(words[0])
    return paths


def _configs(result: dict[str, Any], src: Snapshot, dst: Snapshot) -> None:
    area = _Items(result, "configs")
    for path, digest in sorted(src.configs.items()):
        if path not in dst.configs:
            area.add(path, "warning", "missing on the target: migrate it / 目标上缺少该配置文件")
        elif dst.configs[path] != digest:
            area.add(path, "info", "differs from the source: review / 与源系统内容不同，请核对")
        else:
            area.add(path, "ok", "identical")


def _ports(result: dict[str, Any], src: Snapshot, commands: dict[str, bool]) -> None:
    rows = []
    for port in src.ports:
        process = port["process"]
        ok = commands.get(process) if process else None
        rows.append({**port, "program_on_target": ok})
        if ok is False:
            result["warnings"].append({"area": "ports", "item": f"{port['proto']}/{port['port']}",
                                       "detail": f"listening program {process} is not installed on the target / "
                                                 f"监听程序 {process} 在目标上不存在"})
    result["ports"] = rows


def score(result: dict[str, Any]) -> tuple[int, dict[str, dict[str, Any]]]:
    areas = {}
    total = 0.0
    for area, weight in WEIGHTS.items():
        items = [i for i in result.get(area, []) if i["status"] in ITEM_SCORE]
        ratio = sum(ITEM_SCORE[i["status"]] for i in items) / len(items) if items else 1.0
        counts = {s: sum(i["status"] == s for i in result.get(area, [])) for s in ("ok", "warning", "blocker", "info")}
        areas[area] = {"weight": weight, "ratio": round(ratio, 3), **counts}
        total += weight * ratio
    return math.floor(total + 1e-9), areas  # floor: 99.8 with a blocker must not print as 100


def assess_snapshots(src: Snapshot, dst: Snapshot, candidates: dict[str, dict[str, str]],
                     exists: dict[str, bool], commands: dict[str, bool]) -> dict[str, Any]:
    """The assessment from two snapshots and the target's answers (pure: unit-testable on fixtures)."""
    result: dict[str, Any] = {"source": _system(src), "target": _system(dst), "blockers": [], "warnings": [],
                              "notes": []}
    _platform(result, src, dst)
    _packages(result, src, dst, candidates)
    _services(result, src, dst, candidates)
    _modules(result, src, dst)
    _cron(result, src, dst, exists)
    _configs(result, src, dst)
    _ports(result, src, commands)
    result["score"], result["areas"] = score(result)
    result["ready"] = not result["blockers"]
    return result


def assess(inventory: Inventory, source: str, target: str, extra_configs: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Connect to both systems, read them, query the target, and return the assessment dict."""
    from harness.facts.gather import gather_facts
    from harness.transport import open_connection

    src_t = _one(inventory, source, "--source")
    dst_t = _one(inventory, target, "--target")
    if src_t.name == dst_t.name:
        raise InputError(f"--source and --target select the same target {src_t.name!r}")
    started = time.monotonic()
    conns = {t.name: open_connection(t, inventory) for t in (src_t, dst_t)}
    try:
        def read(t: Target) -> Snapshot:
            conn = conns[t.name]
            conn.connect()
            return collect(t.name, conn.run, gather_facts(conn.run), list(extra_configs))

        with ThreadPoolExecutor(max_workers=2) as pool:
            src, dst = pool.map(read, (src_t, dst_t))
        run = conns[dst_t.name].run
        candidates = probe_packages(run, dst.family or src.family, sorted(src.packages), dst_t.name) \
            if src.family == dst.family and src.packages else {}
        target_cron_files = {j["file"] for j in dst.cron}
        paths = sorted({p for job in src.cron if job["file"] not in target_cron_files for p in _executables(job["command"])})
        exists = probe_paths(run, paths)
        commands = probe_commands(run, sorted({p["process"] for p in src.ports if p["process"]}))
    finally:
        for conn in conns.values():
            conn.close()
    result = assess_snapshots(src, dst, candidates, exists, commands)
    result["elapsed_s"] = round(time.monotonic() - started, 2)
    return result
