"""The two-person rule compares people, not spellings: `alice`/`Alice`, `bob`/`BOB`/`bob`+U+200B are one person.

The CLI cases run the real `xch whitelist` on SQLite and PostgreSQL; the properties check that no
disguise of a name (case, full-width letters, invisible characters, surrounding blanks, decomposed
accents) passes for another person, through the workflow functions on both databases.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from whitelist_lib import db_url, make_run, wl  # noqa: E402,F401

from harness.core.errors import InputError  # noqa: E402
from harness.whitelist import db, workflow  # noqa: E402
from harness.whitelist.compile import compile_runs  # noqa: E402
from harness.whitelist.identity import MAX_NAME, canonical, display_name, same_person  # noqa: E402
from harness.whitelist.policy import Policy, load_policy  # noqa: E402

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e", "\u180e", "\ufe0f",
             "\u034f", "\U000e0041"]


def certifiable(tmp_path: Path, db: str) -> None:
    run = make_run(tmp_path / "run")
    assert wl("compile", str(run), "--by", "lab", db=db).rc == 0
    assert wl("submit", "--product", "kp-db", "--version", "1", "--by", "alice", db=db).rc == 0
    assert wl("testing", "1", "--by", "lab", db=db).rc == 0
    assert wl("review", "1", "--by", "lab", db=db).rc == 0


def test_spellings_of_one_person_are_one_reviewer(tmp_path, db_url):
    certifiable(tmp_path, db_url)
    for submitter in ("Alice", "ali\u200bce"):  # more spellings: the property tests below
        done = wl("approve", "1", "--by", submitter, db=db_url)
        assert done.rc == 2 and "two-person rule" in done.stderr and "who submitted" in done.stderr, done.stderr
    assert wl("approve", "1", "--by", "bob", db=db_url).rc == 0
    for again in ("BOB", "bob\u200b"):
        done = wl("approve", "1", "--by", again, db=db_url)
        assert done.rc == 2 and "already reviewed" in done.stderr, (again, done.stderr)
    alone = wl("certificate", "issue", "1", "--by", "bob", db=db_url)
    assert alone.rc == 2 and "it has 1 (bob)" in alone.stderr
    assert wl("approve", "1", "--by", "Carol", db=db_url).rc == 0
    assert wl("certificate", "issue", "1", "--by", "carol", "--json", db=db_url).rc == 0
    subs = wl("submissions", "--json", db=db_url).json()
    assert subs[0]["state"] == "certified" and subs[0]["approvers"] == ["Carol", "bob"]  # names as given


def test_a_name_that_is_empty_once_normalised_is_refused(tmp_path, db_url):
    run = make_run(tmp_path / "run")
    done = wl("compile", str(run), "--by", "\u200b", db=db_url)
    assert done.rc == 2 and "empty once whitespace and invisible characters are removed" in done.stderr
    assert wl("compile", str(run), "--by", "lab", db=db_url).rc == 0
    for nobody in ("  ", "\u2060\ufeff\u200d"):
        done = wl("submit", "--product", "kp-db", "--version", "1", "--by", nobody, db=db_url)
        assert done.rc == 2 and "empty once" in done.stderr
    done = wl("submit", "--product", "kp-db", "--version", "1", "--by", "x" * (MAX_NAME + 1), db=db_url)
    assert done.rc == 2 and f"at most {MAX_NAME}" in done.stderr  # once a PostgreSQL "value too long" (exit 3)
    assert wl("submissions", "--json", db=db_url).json() == []
    for nobody in ("\u3164", "\u200c\u00ad", "\ufe0f"):
        with pytest.raises(InputError, match="empty once"):
            display_name(nobody)
    for bad in ("a\nb", "a\x01b", "a\x00b"):
        with pytest.raises(InputError, match="control characters"):
            display_name(bad)


def test_a_reviewer_who_approved_may_still_reject(tmp_path, db_url):
    certifiable(tmp_path, db_url)
    assert wl("approve", "1", "--by", "bob", db=db_url).rc == 0
    done = wl("reject", "1", "--by", "Bob", "--reason", "evidence incomplete", db=db_url)
    assert done.rc == 0, done.stderr  # once an IntegrityError (exit 3) for the same spelling
    assert wl("submissions", "--json", db=db_url).json()[0]["state"] == "rejected"


def test_canonical_examples():
    assert canonical("Bob\u200b ") == canonical("ＢＯＢ") == canonical("b\u00adob") == "bob"
    assert canonical("Jose\u0301") == canonical("José") and canonical("Straße") == canonical("STRASSE")
    assert canonical("王 \u3000 小明") == "王 小明" and not same_person("alice", "аlice")  # Cyrillic а stays distinct
    with pytest.raises(InputError, match="empty once"):
        display_name("\u200b\u200c")
    assert display_name("  Bob\u200b ") == "Bob\u200b"  # stored as given, surrounding blanks off
    with pytest.raises(InputError, match="control characters"):
        display_name("a\x00b")


# -- properties --------------------------------------------------------------------------------

names = st.text(st.characters(categories=["L", "N", "Pd", "Pc", "Zs"]), min_size=1, max_size=30).filter(
    lambda n: bool(canonical(n)) and len(n.strip()) <= MAX_NAME - 20)


@st.composite
def disguised(draw, name: str) -> str:
    """The same person's name typed differently."""
    chars = list(name)
    out = []
    for c in chars:
        if c.isascii() and c.isalpha() and draw(st.booleans()):
            c = c.swapcase()
        if "!" <= c <= "~" and draw(st.booleans()):
            c = chr(ord(c) + 0xFEE0)  # full-width form, NFKC maps it back
        out.append(c)
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(INVISIBLE)))
    text = "".join(out)
    if draw(st.booleans()):
        text = unicodedata.normalize("NFD", text)
    return draw(st.sampled_from(["", " ", "\t", "\u3000"])) + text + draw(st.sampled_from(["", " ", "\u00a0"]))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_a_disguised_name_is_the_same_person(data):
    name = data.draw(names)
    assert same_person(name, data.draw(disguised(name)))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_property_any_text_is_a_name_or_a_clear_refusal(text):
    try:
        shown = display_name(text)
    except InputError as exc:
        assert "--by" in str(exc)
        return
    assert canonical(shown) and len(shown) <= MAX_NAME and shown == text.strip()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.data())
def test_property_no_disguise_passes_the_two_person_rule(tmp_path_factory, db_url, data):
    database = db.connect(db_url)
    try:
        if not _compiled(database):  # the first example compiles one run; the others reuse it
            compile_runs(database, [make_run(tmp_path_factory.mktemp("idrun") / "run")], load_policy(), "lab")
        submitter, reviewer = data.draw(names), data.draw(names)
        policy = Policy()
        with database.write() as conn:
            sub = workflow.submit(conn, "kp-db", "1", submitter)
            workflow.start_testing(conn, sub, "lab")
            workflow.to_review(conn, sub, "lab")
        with pytest.raises(workflow.TwoPersonRuleError):
            with database.write() as conn:
                workflow.approve(conn, sub, data.draw(disguised(submitter)), policy)
        if same_person(submitter, reviewer):
            return
        with database.write() as conn:
            assert workflow.approve(conn, sub, data.draw(disguised(reviewer)), policy) == 1
        with pytest.raises(workflow.TwoPersonRuleError):
            with database.write() as conn:
                workflow.approve(conn, sub, data.draw(disguised(reviewer)), policy)
        with pytest.raises(workflow.TwoPersonRuleError):
            with database.write() as conn:
                workflow.issue_certificates(conn, sub, reviewer, policy)
    finally:
        database.dispose()


def _compiled(database) -> bool:
    from sqlalchemy import func, select

    from harness.whitelist.schema import runs

    with database.read() as conn:
        return bool(conn.execute(select(func.count()).select_from(runs)).scalar())
