"""Scoring a scan against hand-judged truth (harness.scan.accuracy): matching rules and bad truth files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import InputError
from harness.scan.accuracy import Claim, judgement_for, load_truth, score

TRUTH = """file,line,severity,rule,why
a.c,10,blocker,x86-inline-asm,cpuid asm compiled on aarch64
a.c,20,blocker,x86-intrinsic,_mm_add_ps unguarded
tool.rb,0,blocker,x86-msr-access,the script drives rdmsr
a.c,30,none,,an MSVC branch
mips/*,*,none,,MIPS code
"""


def truth(tmp_path: Path, text: str = TRUTH):
    path = tmp_path / "t.truth.csv"
    path.write_text(text)
    return load_truth(path)


def test_precision_recall_and_per_rule(tmp_path):
    judged = truth(tmp_path)
    result = score([Claim("a.c", 10, "x86-inline-asm"), Claim("a.c", 30, "x86-intrinsic"),
                    Claim("tool.rb", 7, "x86-msr-access"), Claim("tool.rb", 9, "x86-msr-access"),
                    Claim("mips/m.c", 3, "x86-intrinsic")], judged)
    assert (result.claims, result.true_claims, result.true_blockers, result.found) == (5, 3, 3, 2)
    assert result.precision == pytest.approx(0.6) and result.recall == pytest.approx(2 / 3)
    assert [j.line for j in result.missed] == [20]
    assert result.per_rule["x86-msr-access"] == {"claims": 2, "true": 2, "blockers": 1, "found": 1}
    assert result.per_rule["x86-intrinsic"] == {"claims": 2, "true": 0, "blockers": 1, "found": 0}
    assert [(c.line, j.why) for c, j in result.false] == [(30, "an MSVC branch"), (3, "MIPS code")]
    assert result.unjudged == []


def test_file_level_claim_matches_a_true_blocker_of_its_file(tmp_path):
    # the peer's AsmSource/DefineOtherArch issues name a file, not a line
    result = score([Claim("a.c", 0, "AsmSource")], truth(tmp_path))
    assert result.true_claims == 1 and result.found == 2


def test_nothing_claimed_and_nothing_true_is_perfect(tmp_path):
    result = score([], truth(tmp_path, "file,line,severity,rule,why\n*,*,none,,builds on arm64\n"))
    assert result.precision == 1.0 and result.recall == 1.0


def test_unjudged_claims_are_reported(tmp_path):
    result = score([Claim("other.c", 1, "x86-intrinsic")], truth(tmp_path))
    assert result.unjudged == [Claim("other.c", 1, "x86-intrinsic")] and result.precision == 0.0


def test_most_specific_judgement_wins(tmp_path):
    judged = truth(tmp_path, "file,line,severity,rule,why\n*,*,none,,all fine\nsrc/*,*,warning,,src\n"
                             "src/a.c,0,warning,,the file\nsrc/a.c,5,none,,line 5\n")
    assert judgement_for(judged, "src/a.c", 5).why == "line 5"
    assert judgement_for(judged, "src/a.c", 6).why == "the file"
    assert judgement_for(judged, "src/b.c", 6).why == "src"
    assert judgement_for(judged, "x.c", 1).why == "all fine"


@pytest.mark.parametrize("text,message", [
    ("file,line,severity\na.c,1,blocker\n", "header must be file,line,severity,rule,why"),
    ("file,line,severity,rule,why\n/etc/passwd,1,none,,x\n", "row 2: file: expected a path inside the tree"),
    ("file,line,severity,rule,why\n../a.c,1,none,,x\n", "row 2: file"),
    ("file,line,severity,rule,why\na.c,ten,none,,x\n", "row 2: line: expected a line number"),
    ("file,line,severity,rule,why\na.c,1,critical,,x\n", "row 2: severity: expected one of"),
    ("file,line,severity,rule,why\na.c,1,none,,\n", "row 2: why"),
    ("file,line,severity,rule,why\nsrc/*,1,blocker,x,y\n", "a blocker names one file and one line"),
    ("file,line,severity,rule,why\na.c,*,blocker,x,y\n", "a blocker names one file and one line"),
])
def test_bad_truth_files_are_refused_with_file_row_and_field(tmp_path, text, message):
    with pytest.raises(InputError, match="t.truth.csv") as err:
        truth(tmp_path, text)
    assert message in str(err.value)
