"""Reading a run folder for import: everything validated before the database is touched.

A run folder is imported whole or not at all. This module reads each file once (the bytes that are
hashed are the bytes that are parsed, so a file changing under us cannot slip through), checks every
field the compiler relies on, and reports all problems at once with file, line and field. Only a
bundle that passed every check reaches `compile.import_bundle`, which writes it in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import runs
from harness.core.errors import InputError
from harness.product import CATEGORIES  # the manifest's taxonomy: one list for manifests, runs and imported lists

LEVELS = ("mandatory", "optional")
PRODUCT_JSON = "product.json"
REQUIRED_FACTS = ("arch", "os_id", "os_version")


def sm3(data: bytes) -> str:
    return hashlib.new("sm3", data).hexdigest()


def canonical(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every digest in the whitelist is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class RunBundle:
    """A validated run folder, ready to import."""

    path: Path
    run_uid: str
    suite: str
    started_at: str
    ended_at: str
    harness_version: str
    controller: str
    product: dict[str, Any]
    facts: dict[str, dict[str, Any]]
    records: list[dict[str, Any]]  # the latest record per (target, test): a resumed check supersedes its error
    manifest: dict[str, str] = field(default_factory=dict)  # relative path -> SM3
    digest: str = ""


def file_manifest(root: Path) -> dict[str, bytes]:
    """Every file of the folder (relative posix path -> bytes), without in-flight temp files."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".tmp")):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def manifest_digest(manifest: dict[str, str]) -> str:
    return sm3(canonical(manifest).encode("utf-8"))


def _json_object(name: str, data: bytes | None, problems: list[str]) -> dict[str, Any] | None:
    if data is None:
        problems.append(f"{name}: missing")
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{name}: not valid JSON (truncated or corrupted?): {exc}")
        return None
    if not isinstance(value, dict):
        problems.append(f"{name}: expected a JSON object, got {type(value).__name__}")
        return None
    return value


def _text(obj: dict[str, Any], key: str, where: str, problems: list[str], required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(f"{where}: field '{key}' must be a non-empty string, got {value!r}")
        return ""
    return value


def _check_product(product: dict[str, Any], problems: list[str]) -> None:
    where = PRODUCT_JSON
    for key in ("id", "vendor", "name", "version"):
        _text(product, key, where, problems)
    category = product.get("category")
    if category not in CATEGORIES:
        problems.append(f"{where}: field 'category' must be one of {', '.join(CATEGORIES)}; got {category!r}")
    if not isinstance(product.get("contact", ""), str):
        problems.append(f"{where}: field 'contact' must be a string")
    platforms = product.get("platforms", [])
    if not isinstance(platforms, list):
        problems.append(f"{where}: field 'platforms' must be a list of {{arch, os, os_version}} tables")
        return
    for index, item in enumerate(platforms):
        if not isinstance(item, dict):
            problems.append(f"{where}: platforms[{index}] must be a table {{arch, os, os_version}}, got {item!r}")
            continue
        for key in ("arch", "os", "os_version"):
            _text(item, key, f"{where}: platforms[{index}]", problems)


def _check_records(raw: bytes | None, facts: dict[str, Any], problems: list[str]) -> list[dict[str, Any]]:
    name = runs.RESULTS
    if raw is None:
        problems.append(f"{name}: missing")
        return []
    if raw and not raw.endswith(b"\n"):
        problems.append(f"{name}: truncated: the last line is incomplete (the run was cut off while writing; "
                        "finish it with `xch run --resume RUN_DIR`)")
    records = []
    for number, line in enumerate(raw.split(b"\n")[:-1], start=1):  # a torn last piece is reported above
        if not line.strip():
            continue
        where = f"{name}: line {number}"
        try:
            record = json.loads(line.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: not a valid JSON record: {exc}")
            continue
        if not isinstance(record, dict):
            problems.append(f"{where}: expected a JSON object")
            continue
        target = _text(record, "target", where, problems)
        _text(record, "check_id", where, problems)
        if target and target not in facts:
            problems.append(f"{where}: target {target!r} has no facts in run.json (expected run.json facts.{target})")
        if record.get("level") not in LEVELS:
            problems.append(f"{where}: field 'level' must be mandatory or optional, got {record.get('level')!r}")
        if record.get("outcome") not in runs.OUTCOMES:
            problems.append(f"{where}: field 'outcome' must be one of {', '.join(runs.OUTCOMES)}, "
                            f"got {record.get('outcome')!r}")
        if not isinstance(record.get("reason", ""), str):
            problems.append(f"{where}: field 'reason' must be a string")
        if not isinstance(record.get("evidence", {}), dict):
            problems.append(f"{where}: field 'evidence' must be an object")
        metrics = record.get("metrics", [])
        if not isinstance(metrics, list) or not all(isinstance(m, dict) and isinstance(m.get("name"), str)
                                                    for m in metrics):
            problems.append(f"{where}: field 'metrics' must be a list of objects with a 'name'")
        records.append(record)
    if not raw.strip():
        problems.append(f"{name}: no check records (the run recorded nothing)")
    return records


def snapshot(path: Path) -> tuple[Path, dict[str, bytes], str]:
    """(resolved path, every file's bytes, SM3 digest of the folder): the run's identity, before parsing."""
    path = path.resolve()
    if not path.is_dir():
        raise InputError(f"{path}: not a run folder (no such directory)")
    files = file_manifest(path)
    return path, files, manifest_digest({name: sm3(data) for name, data in files.items()})


def read_run_folder(path: Path, files: dict[str, bytes] | None = None) -> RunBundle:
    """Validate a run folder (or its snapshot `files`) and return its bundle; InputError lists every problem."""
    path = path.resolve()
    if files is None:
        path, files, _ = snapshot(path)
    problems: list[str] = []

    run = _json_object(runs.RUN_JSON, files.get(runs.RUN_JSON), problems) or {}
    if run:
        _text(run, "run_id", runs.RUN_JSON, problems)
        _text(run, "started_at", runs.RUN_JSON, problems)
        if run.get("status") != "finished":
            problems.append(f"{runs.RUN_JSON}: status is {run.get('status')!r}, expected 'finished' (the run did "
                            "not end; finish it with `xch run --resume RUN_DIR`)")
        else:
            _text(run, "ended_at", runs.RUN_JSON, problems)
    facts = run.get("facts") if isinstance(run.get("facts"), dict) else None
    if run and facts is None:
        problems.append(f"{runs.RUN_JSON}: field 'facts' must be an object of target name -> facts")
    facts = facts or {}
    for target, target_facts in facts.items():
        if not isinstance(target_facts, dict):
            problems.append(f"{runs.RUN_JSON}: facts.{target} must be an object")
            continue
        for key in REQUIRED_FACTS:
            if not isinstance(target_facts.get(key), str) or not target_facts.get(key):
                problems.append(f"{runs.RUN_JSON}: facts.{target}.{key} missing (the target was never reached?)")

    product = _json_object(PRODUCT_JSON, files.get(PRODUCT_JSON), problems)
    if product is not None:
        _check_product(product, problems)

    records = _check_records(files.get(runs.RESULTS), facts, problems)

    junit = files.get(runs.JUNIT)
    if junit is None:
        problems.append(f"{runs.JUNIT}: missing")
    else:
        try:
            ET.fromstring(junit)
        except ET.ParseError as exc:
            problems.append(f"{runs.JUNIT}: not well-formed XML (truncated?): {exc}")
    for name, data in files.items():
        if name.startswith("facts/") and name.endswith(".json"):
            _json_object(name, data, problems)

    if problems:
        raise InputError(f"{path}: cannot import this run folder; nothing was imported:\n  - " + "\n  - ".join(problems))
    manifest = {name: sm3(data) for name, data in files.items()}
    versions = run.get("versions") if isinstance(run.get("versions"), dict) else {}
    args = run.get("args") if isinstance(run.get("args"), dict) else {}
    return RunBundle(
        path=path, run_uid=run["run_id"], suite=str(args.get("suite") or ""), started_at=run["started_at"],
        ended_at=run["ended_at"], harness_version=str(versions.get("xch", "")),
        controller=str(versions.get("controller", "")), product=product or {}, facts=facts,
        records=runs.latest_records(records), manifest=manifest, digest=manifest_digest(manifest))
