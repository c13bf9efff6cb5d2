#!/usr/bin/env python3
"""Blocker precision and recall of `xch scan` on the real-tree corpus, next to AWS
porting-advisor-for-graviton on the same trees.

For every tree of tests/scan_corpus/corpus.toml (read by tests/support/scan_corpus.py) (Debian bookworm sources, fetched and cached as
the integration tests do) both tools scan the same unpacked folder; their blockers are scored
against the hand-judged truth file beside the corpus (harness.scan.accuracy). Printed: per tree
the claims, true claims, true blockers found, precision, recall and scan time of both tools;
then per xch rule; then every false claim and every miss, with the truth file's reason.

The peer runs in its own virtualenv, outside this repository (it is never a dependency):

    git clone https://github.com/aws/porting-advisor-for-graviton /work/peers/porting-advisor-for-graviton
    .venv/bin/python benchmarks/scan_precision.py [--peer /work/peers/porting-advisor-for-graviton]
        [--peer-venv /work/peers/porting-advisor-venv] [--trees libjpeg-turbo,i7z] [--json [FILE]]

If the peer venv is missing it is created (python -m venv, pip install -r requirements.txt);
without the checkout the peer columns say "not run". Which peer issue types count as blockers,
and how its file-level issues are matched, is documented in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from machine import describe_machine  # noqa: E402  (benchmarks/machine.py)
from scan_corpus import Tree, fetch, trees  # noqa: E402  (tests/support/scan_corpus.py)

from harness.scan import scan_path  # noqa: E402
from harness.scan.accuracy import Claim, Score, score  # noqa: E402

DRIVER = Path(__file__).resolve().parent / "porting_advisor_driver.py"
DEFAULT_PEER = Path(os.environ.get("XCH_PEER_PORTING_ADVISOR", "/work/peers/porting-advisor-for-graviton"))
# The peer's issue types that say "this will not build or run on aarch64" (its default set);
# DependencyVersion ("upgrade to at least"), PragmaSimd (a vectoriser hint) and OldCrt (Windows)
# are advice, like xch's warnings.
PEER_BLOCKER_TYPES = {"InlineAsm", "Intrinsic", "Avx256Intrinsic", "Avx512Intrinsic", "AsmSource",
                      "PreprocessorError", "ConfigGuess", "ArchSpecificLibrary", "DefineOtherArch",
                      "HostCpuDetection", "BuildCommand", "NativeMethods", "UnsupportedDependency",
                      "NoEquivalentIntrinsic", "NoEquivalentInlineAsm"}
# Issues the peer attaches to a whole file (AsmSource has no line; its Makefile checks report the
# line after the last one): scored as file-level claims (line 0).
PEER_FILE_LEVEL = {"AsmSource", "ConfigGuess", "DefineOtherArch", "HostCpuDetection", "BuildCommand", "OldCrt"}


def xch_claims(tree: Path) -> tuple[list[Claim], float, int]:
    started = time.process_time()
    report = scan_path(tree)
    elapsed = time.process_time() - started
    claims = [Claim(f.file, f.line, f.rule) for f in report.findings if f.severity == "blocker"]
    return claims, elapsed, report.files_scanned


def ensure_peer_venv(peer: Path, venv: Path) -> Path | None:
    python = venv / "bin" / "python"
    if python.exists():
        return python
    if not (peer / "requirements.txt").exists():
        return None
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(peer / "requirements.txt")], check=True,
                   timeout=1800)
    return python


def peer_claims(python: Path, peer: Path, tree: Path) -> tuple[list[Claim], float, int]:
    started = time.monotonic()
    proc = subprocess.run([str(python), str(DRIVER), str(peer / "src"), str(tree)], capture_output=True, text=True,
                          timeout=3600)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"porting-advisor on {tree} failed: {proc.stderr[-800:]}")
    data = json.loads(proc.stdout)
    claims = []
    for issue in data["issues"]:
        if issue["type"] not in PEER_BLOCKER_TYPES or not issue["file"]:
            continue
        line = 0 if issue["type"] in PEER_FILE_LEVEL else int(issue["line"] or 0)
        if issue["type"] == "ArchSpecificLibrary" and line:
            line -= 1  # its Makefile scanner reports the line after the one that links the library
        claims.append(Claim(issue["file"], line, issue["type"]))
    return claims, elapsed, data["files"]


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def row(name: str, result: Score | None, seconds: float | None) -> list[object]:
    if result is None:
        return [name, "not run", "", "", "", "", ""]
    return [name, result.claims, result.true_claims, f"{result.found}/{result.true_blockers}",
            percent(result.precision), percent(result.recall), f"{seconds:.1f}"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", help="comma-separated corpus tree names (default: all)")
    parser.add_argument("--peer", type=Path, default=DEFAULT_PEER, help="porting-advisor-for-graviton checkout")
    parser.add_argument("--peer-venv", type=Path, help="its virtualenv (default: PEER/../porting-advisor-venv)")
    parser.add_argument("--no-peer", action="store_true", help="score xch only")
    parser.add_argument("--json", nargs="?", const="-", help="also write the figures as JSON (FILE or stdout)")
    args = parser.parse_args(argv)
    selected = [t for t in trees() if not args.trees or t.name in args.trees.split(",")]
    python = None
    if not args.no_peer and (args.peer / "src" / "advisor").is_dir():
        python = ensure_peer_venv(args.peer, args.peer_venv or args.peer.parent / "porting-advisor-venv")
    figures: dict[str, dict[str, object]] = {}
    rows: list[list[object]] = []
    per_rule: dict[str, dict[str, int]] = {}
    details: list[str] = []
    for tree in selected:
        path = fetch(tree)
        truth = tree.truth()
        claims, xch_seconds, files = xch_claims(path)
        xch = score(claims, truth)
        peer = peer_seconds = None
        if python is not None:
            peer_list, peer_seconds, _ = peer_claims(python, args.peer, path)
            peer = score(peer_list, truth)
        rows.append(row(f"{tree.name} (xch)", xch, xch_seconds))
        rows.append(row(f"{tree.name} (porting-advisor)", peer, peer_seconds))
        for rule_id, counts in xch.per_rule.items():
            total = per_rule.setdefault(rule_id, {"claims": 0, "true": 0, "blockers": 0, "found": 0})
            for key, value in counts.items():
                total[key] += value
        figures[tree.name] = {"profile": tree.profile, "files": files, "xch": _as_json(xch, xch_seconds),
                              "peer": _as_json(peer, peer_seconds) if peer else None}
        details += _details(tree, "xch", xch) + (_details(tree, "porting-advisor", peer) if peer else [])
    peer_rev = _git_rev(args.peer) if python is not None else "not run"
    print("; ".join(f"{k}: {v}" for k, v in describe_machine(peer=f"porting-advisor-for-graviton {peer_rev}").items()))
    print("\nBlockers per tree (claims: blockers the tool reports; true: claims the truth confirms; found: true "
          "blockers reported / all true blockers). xch time is CPU seconds, the peer's wall seconds.\n")
    print(tabulate(rows, headers=["tree (tool)", "claims", "true", "found", "precision", "recall", "s"],
                   tablefmt="github", disable_numparse=True))
    rule_rows = [[rule_id, c["claims"], c["true"], f"{c['found']}/{c['blockers']}",
                  percent(c["true"] / c["claims"]) if c["claims"] else "-",
                  percent(c["found"] / c["blockers"]) if c["blockers"] else "-"]
                 for rule_id, c in sorted(per_rule.items())]
    print("\nxch per rule, all trees (precision by the rule that claimed, recall by the truth's rule):\n")
    print(tabulate(rule_rows, headers=["rule", "claims", "true", "found", "precision", "recall"], tablefmt="github",
                   disable_numparse=True))
    if details:
        print("\nFalse claims and misses:\n")
        print("\n".join(details))
    if args.json:
        text = json.dumps({"trees": figures, "xch_per_rule": per_rule}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


def _git_rev(path: Path) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(path), "log", "-1", "--format=%h %cs"], capture_output=True,
                              text=True, timeout=30)
    except OSError:
        return "unknown"
    return proc.stdout.strip() or "unknown"


def _as_json(result: Score, seconds: float | None) -> dict[str, object]:
    return {"claims": result.claims, "true_claims": result.true_claims, "true_blockers": result.true_blockers,
            "found": result.found, "precision": round(result.precision, 4), "recall": round(result.recall, 4),
            "seconds": round(seconds or 0.0, 2), "unjudged": len(result.unjudged)}


def _details(tree: Tree, tool: str, result: Score) -> list[str]:
    lines = []
    false_by_reason: dict[str, int] = {}
    for claim, judgement in result.false:
        reason = judgement.why if judgement else "not judged in the truth file"
        key = f"  {tree.name} {tool} false: {judgement.file if judgement else claim.file} ({reason})"
        false_by_reason[key] = false_by_reason.get(key, 0) + 1
    lines += [f"{key} x{count}" for key, count in sorted(false_by_reason.items())]
    lines += [f"  {tree.name} {tool} missed: {j.file}:{j.line} [{j.rule}] ({j.why})" for j in result.missed]
    return lines


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
