"""Evidence bundles: one `.tar.gz` per product x target, the way a certification lab hands them over.

A bundle holds everything needed to re-judge a verdict without the lab: the target's facts, its
command log, the per-check records, the product's identity and artifact digests, the manifest as
submitted, and a MANIFEST of every file in the bundle with its size, sha256 and SM3 (also as
`MANIFEST.sha256` / `MANIFEST.sm3` in `sha256sum` format, so plain tools can verify it). The
bundle's own digests are returned and listed in `<run_dir>/evidence/index.json`.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness import runs
from harness.artifacts import ArchiveError, digest_bytes, digest_stream, digests, open_archive
from harness.core.storage import atomic_file, atomic_write_json

BUNDLE_DIR = "evidence"
VERDICTS = ("compatible", "conditional", "incompatible", "pending")


def verdict(records: Iterable[dict[str, Any]]) -> str:
    """The certification verdict of one target's checks.

    incompatible: a mandatory check failed (the product is at fault); pending: a mandatory check
    ended in error (harness or target at fault: re-run) or nothing mandatory passed; conditional:
    only optional checks failed; compatible: every mandatory check passed or did not apply.
    """
    records = list(records)
    mandatory = [r for r in records if r.get("level") == "mandatory"]
    if any(r["outcome"] == "failed" for r in mandatory):
        return "incompatible"
    if any(r["outcome"] == "error" for r in mandatory) or not any(r["outcome"] == "passed" for r in mandatory):
        return "pending"
    if any(r["outcome"] in ("failed", "error") for r in records if r.get("level") != "mandatory"):
        return "conditional"
    return "compatible"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def bundle_name(product_id: str, target: str) -> str:
    return f"{_safe(product_id)}__{_safe(target)}.tar.gz"


def _collect(run_dir: Path, target: str, records: list[dict[str, Any]], product_toml: Path | None,
             extra: dict[str, Any] | None, extra_logs: list[tuple[str, Path]] = (),
             submission: list[Path] = ()) -> dict[str, bytes]:
    """The bundle's files as name -> bytes (small: logs and JSON)."""
    files: dict[str, bytes] = {}
    facts_path = run_dir / "facts" / f"{target}.json"
    facts = json.loads(facts_path.read_text()) if facts_path.exists() else {}
    files["facts.json"] = json.dumps(facts, indent=2, ensure_ascii=False).encode()
    files["records.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    product = json.loads((run_dir / "product.json").read_text()) if (run_dir / "product.json").exists() else {}
    if product:
        files["product.json"] = json.dumps(product, indent=2, ensure_ascii=False).encode()
        arch = facts.get("arch")
        mine = [a for a in product.get("artifacts", []) if a.get("arch") in (arch, "all")]
        files["artifacts.json"] = json.dumps(mine, indent=2, ensure_ascii=False).encode()
    if product_toml and product_toml.is_file():
        files["submission/product.toml"] = product_toml.read_bytes()
        for path in submission:  # the files product.toml refers to: smoke scripts, parity checks, criteria
            if path.is_file():
                rel = path.resolve().relative_to(product_toml.resolve().parent) \
                    if path.resolve().is_relative_to(product_toml.resolve().parent) else Path(path.name)
                files[f"submission/{rel.as_posix()}"] = path.read_bytes()
    for prefix, log_dir in [("", run_dir / "logs" / target), *extra_logs]:  # extra: the certify sub-runs' logs
        if log_dir.is_dir():
            for path in sorted(p for p in log_dir.rglob("*") if p.is_file()):
                files[f"logs/{prefix + '/' if prefix else ''}{path.relative_to(log_dir)}"] = path.read_bytes()
    run_json = runs.load_run(run_dir) if (run_dir / runs.RUN_JSON).exists() else {}
    summary = {
        "run_id": run_json.get("run_id", run_dir.name), "target": target, "product": product.get("id", ""),
        "verdict": verdict(records), "counts": runs.counts(records),
        "checks": dict(zip(runs.check_labels(records), (r["outcome"] for r in records), strict=True)),
        "created_at": runs.utc_now(), "xch": run_json.get("versions", {}).get("xch", ""),
        **(extra or {}),
    }
    files["summary.json"] = json.dumps(summary, indent=2, ensure_ascii=False).encode()
    manifest = {name: {"size": len(data), **digest_bytes(data)} for name, data in sorted(files.items())}
    files["MANIFEST.json"] = json.dumps(manifest, indent=2).encode()
    files["MANIFEST.sha256"] = "".join(f"{m['sha256']}  {n}\n" for n, m in manifest.items()).encode()
    files["MANIFEST.sm3"] = "".join(f"{m['sm3']}  {n}\n" for n, m in manifest.items()).encode()
    return files


def write_bundle(run_dir: Path, product_id: str, target: str, records: list[dict[str, Any]],
                 product_toml: Path | None = None, extra: dict[str, Any] | None = None,
                 extra_logs: list[tuple[str, Path]] = (), submission: list[Path] = ()) -> dict[str, Any]:
    """Write `<run_dir>/evidence/<product>__<target>.tar.gz` atomically; return its index entry."""
    run_dir = Path(run_dir)
    files = _collect(run_dir, target, records, product_toml, extra, extra_logs, submission)
    out_dir = run_dir / BUNDLE_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / bundle_name(product_id, target)
    top = final.name[: -len(".tar.gz")]
    now = int(time.time())
    with atomic_file(final) as fh, tarfile.open(fileobj=fh, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mtime, info.mode = len(data), now, 0o644
            tar.addfile(info, io.BytesIO(data))
    entry = {"target": target, "product": product_id, "file": str(final.relative_to(run_dir)),
             "verdict": verdict(records), "files": len(files), **digests(final)}
    index_path = out_dir / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else []
    index = [e for e in index if (e.get("target"), e.get("product")) != (target, product_id)] + [entry]
    atomic_write_json(index_path, index)
    return entry


MANIFEST_LIMIT = 16 << 20  # bytes of MANIFEST.json read


def verify_bundle(path: Path) -> list[str]:
    """Problems found re-checking a bundle against its MANIFEST (empty when intact).

    Read through the one package reader (streamed, bounded): a damaged bundle is one problem.
    """
    got: dict[str, dict[str, str]] = {}
    manifest_text = None
    try:
        with open_archive(path, "tar") as archive:
            for member in archive.members():
                if member.kind != "file" or "/" not in member.path:
                    continue
                name = member.path.split("/", 1)[1]
                if name == "MANIFEST.json":
                    manifest_text = member.read(MANIFEST_LIMIT)
                else:
                    got[name] = digest_stream(member.open())
    except ArchiveError as exc:
        return [f"bundle unreadable: {exc.message}"]
    if manifest_text is None:
        return ["MANIFEST.json: missing"]
    try:
        manifest = json.loads(manifest_text)
    except ValueError:
        return ["MANIFEST.json: not JSON"]
    if not isinstance(manifest, dict):
        return ["MANIFEST.json: not a JSON object"]
    problems = []
    for name, expected in manifest.items():
        if name not in got:
            problems.append(f"{name}: missing")
        elif not isinstance(expected, dict) or got[name] != {"sha256": expected.get("sha256"),
                                                               "sm3": expected.get("sm3")}:
            problems.append(f"{name}: digest mismatch")
    return problems
