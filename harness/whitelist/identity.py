"""Who is acting: the name as given (shown and stored) and the canonical form the two-person rule compares.

The two-person rule is only as strong as its idea of "a different person". Compared as typed,
submitter `alice` could approve as `Alice`, and `bob`, `BOB` and `bob` + U+200B (an invisible
zero-width space) counted as three reviewers, so one person issued a certificate alone. Names are
therefore compared in a canonical form:

1. NFKC (full-width `ａｌｉｃｅ` and ligatures become plain letters, composed and decomposed accents agree),
2. invisible characters removed: every format character (Unicode category Cf: U+200B-U+200F,
   U+2060-U+2064, U+FEFF, bidi controls, ...) and the other default-ignorable code points (variation
   selectors, the combining grapheme joiner, Hangul fillers, ...),
3. case folded (`casefold`, which also folds `ß` to `ss`), then NFKC again (folding can denormalise),
4. whitespace collapsed and stripped.

The name is stored as given (only surrounding whitespace stripped) for display. A name that is
empty in canonical form, holds a control character, or is longer than the columns that store it
(120) is refused. This is not authentication: anyone can type any name (that is issue 19); it only
makes sure one typed name cannot pass for two people. Look-alike letters from other scripts
(Cyrillic `а` for Latin `a`) are distinct code points and stay distinct.
"""

from __future__ import annotations

import re
import unicodedata

from harness.core.errors import InputError

MAX_NAME = 120  # submissions.submitted_by, approvals.reviewer, certificates.issued_by, audit_log.actor

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) outside category Cf, which is removed whole.
_IGNORABLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0"
                        "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # Cc except tab, which counts as whitespace


def _visible(text: str) -> str:
    return _IGNORABLE.sub("", "".join(c for c in text if unicodedata.category(c) != "Cf"))


def canonical(name: str) -> str:
    """The form two names are compared in: `canonical("Bob\\u200b ") == canonical("ＢＯＢ") == "bob"`."""
    text = _visible(unicodedata.normalize("NFKC", name))
    text = _visible(unicodedata.normalize("NFKC", text.casefold()))
    return " ".join(text.split())


def same_person(a: str, b: str) -> bool:
    return canonical(a) == canonical(b)


def display_name(name: str, what: str = "--by") -> str:
    """The name to store (surrounding whitespace stripped), or InputError saying why it cannot name a person."""
    shown = name.strip()
    if _CONTROL.search(shown) or any(unicodedata.category(c) == "Cs" for c in shown):
        raise InputError(f"{what} {shown[:60]!r}: a name cannot contain control characters or broken text "
                         "(newline, NUL, ...)")
    if len(shown) > MAX_NAME:
        raise InputError(f"{what}: {len(shown)} characters; a name may be at most {MAX_NAME}")
    if not canonical(shown):
        raise InputError(f"{what} {name[:60]!r}: empty once whitespace and invisible characters are removed; "
                         "name the person acting (it is written to the audit log)")
    return shown
