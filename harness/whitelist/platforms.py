"""Platform identity: what the whitelist calls "the same platform", and the reuse ("covered by") key.

A platform row is exactly what was tested (arch, CPU vendor/family/model, OS id/version incl. service
pack, kernel, glibc, accelerator, emulation). Its fingerprint (SM3 of those fields) makes get-or-create
one indexed lookup. The reuse key is the coarser tuple the policy names (e.g. CPU family + OS major):
an entry covers other platforms that share it.
"""

from __future__ import annotations

import re
from typing import Any

from harness.whitelist.policy import Policy
from harness.whitelist.runfolder import canonical, sm3

IDENTITY = ("arch", "cpu_vendor", "cpu_family", "cpu_model", "os_id", "os_version", "kernel", "glibc", "accelerator",
            "emulation", "declared_only")


def accelerator_text(accelerators: Any) -> str:
    """`ascend Ascend910B x8; nvidia A100 x2` from the facts' accelerator list."""
    if not isinstance(accelerators, list):
        return ""
    parts = []
    for item in accelerators:
        if isinstance(item, dict):
            parts.append(" ".join(str(x) for x in (item.get("kind"), item.get("model"),
                                                   f"x{item['count']}" if item.get("count") else "") if x))
        elif item:
            parts.append(str(item))
    return "; ".join(parts)


def from_facts(facts: dict[str, Any]) -> dict[str, Any]:
    version = str(facts.get("os_version") or "")
    if facts.get("os_sp"):
        version = f"{version} {facts['os_sp']}"
    row = {
        "arch": str(facts.get("arch") or ""), "cpu_vendor": str(facts.get("cpu_vendor") or ""),
        "cpu_family": str(facts.get("cpu_family") or ""), "cpu_model": str(facts.get("cpu_model") or ""),
        "os_id": str(facts.get("os_id") or ""), "os_name": str(facts.get("os_name") or facts.get("os_id") or ""),
        "os_version": version, "kernel": str(facts.get("kernel") or ""), "glibc": str(facts.get("glibc") or ""),
        "accelerator": accelerator_text(facts.get("accelerators")), "emulation": str(facts.get("emulation") or ""),
        "declared_only": False,
    }
    row["fingerprint"] = fingerprint(row)
    return row


def declared(arch: str, os_id: str, os_version: str, os_name: str = "") -> dict[str, Any]:
    """A platform known only from a declaration (product.json platforms, an imported list)."""
    row = {key: "" for key in IDENTITY}
    row.update(arch=arch, os_id=os_id, os_version=os_version, os_name=os_name or os_id, declared_only=True)
    row["fingerprint"] = fingerprint(row)
    return row


def fingerprint(row: dict[str, Any]) -> str:
    return sm3(canonical({key: row.get(key) for key in IDENTITY}).encode("utf-8"))


def norm(text: str) -> str:
    """Compare OS names/versions loosely: `22.03-LTS-SP1` == `22.03 LTS SP1`, `openEuler` == `openeuler`."""
    return re.sub(r"[\s_\-]+", " ", (text or "").strip().lower())


def reuse_key(row: dict[str, Any], policy: Policy, keys: list[str] | None = None) -> tuple:
    values = []
    for key in keys or policy.reuse_same:
        if key == "os_major":
            values.append(norm(policy.os_major_of(row["os_id"], row["os_version"])))
        elif key in ("os_id", "os_version"):
            values.append(norm(row.get(key, "")))
        else:
            values.append(row.get(key, ""))
    return tuple(values)


def describe(row: dict[str, Any]) -> str:
    cpu = " ".join(x for x in (row.get("cpu_vendor"), row.get("cpu_model")) if x)
    os_text = " ".join(x for x in (row.get("os_name") or row.get("os_id"), row.get("os_version")) if x)
    return ", ".join(x for x in (row.get("arch"), cpu, os_text, row.get("accelerator")) if x)
