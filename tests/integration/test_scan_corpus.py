"""`xch scan` against ground truth judged by hand, on real trees of every profile (issue 18).

The corpus (tests/scan_corpus/corpus.toml) holds pinned Debian bookworm sources, fetched into the
private apt cache like test_scan_real.py's: multi-arch SIMD trees (libjpeg-turbo with x86 NASM,
Neon, MIPS/Loongson and AltiVec back ends; zstd), x86-only (i7z, an Intel MSR tool; cpufrequtils'
MSR readers), portable (lz4), mixed C++/Python/Java (xgboost), C/Fortran/Java (hdf5) and Go
(klauspost/cpuid). Beside it, one truth file per tree says for every blocker either tool reports
whether it is one, and why. On every tree blocker precision and recall must be at least 95 %,
and every blocker xch reports must have been judged. benchmarks/scan_precision.py prints the
same figures next to AWS porting-advisor-for-graviton's.
"""

from __future__ import annotations

import shutil

import pytest
from scan_corpus import Tree, fetch, trees  # tests/support/scan_corpus.py

from harness.scan import scan_path
from harness.scan.accuracy import Claim, score

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (a Debian controller)")
GOAL = 0.95


@pytest.mark.parametrize("tree", trees(), ids=lambda t: t.name)
def test_blocker_precision_and_recall(tree: Tree):
    report = scan_path(fetch(tree))
    claims = [Claim(f.file, f.line, f.rule) for f in report.findings if f.severity == "blocker"]
    result = score(claims, tree.truth())
    print(f"\n{tree.name}: {result.claims} blockers claimed, {result.true_claims} true, "
          f"{result.found}/{result.true_blockers} found: precision {result.precision:.1%}, recall {result.recall:.1%}")
    assert result.unjudged == [], f"blockers nobody judged in {tree.truth_file.name}: {result.unjudged[:5]}"
    assert result.precision >= GOAL, [f"{c.file}:{c.line} ({j.why if j else '?'})" for c, j in result.false[:10]]
    assert result.recall >= GOAL, [f"{j.file}:{j.line} ({j.why})" for j in result.missed[:10]]


def test_the_corpus_covers_every_profile():
    profiles = " ".join(t.profile for t in trees())
    for needle in ("Neon", "x86-only", "portable", "Fortran", "Java", "Python", "Go"):
        assert needle in profiles
    assert any(t.name == "libjpeg-turbo" for t in trees())
    for tree in trees():
        assert tree.truth(), f"{tree.truth_file} is empty"
