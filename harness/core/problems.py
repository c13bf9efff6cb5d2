"""The one config-problem collector: every problem of an input, reported together, each naming its file.

Inventories, product manifests, perf criteria, parity files and the whitelist policy are written by
people; a person fixes a file in one pass only if xch reports every problem at once, each with the
file, the place in it (`[lifecycle].ports[2]`, `target 'kp-01'`) and what was expected. Loaders add
problems here instead of keeping their own lists, and raise one `InputError` (exit 2) at the end:

    2 problems in the product manifest:
      - products/acme/product.toml: [product].id: expected letters, digits and ._+-, got 'evil\\n'
      - products/acme/product.toml: [lifecycle].install_dir: ...

Messages are bounded (a 5 MB value never comes back as a 5 MB error) and the problems travel with
the error as `InputError.problems`, so the CLI can print them as JSON without parsing text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import InputError

SHOWN_CHARS = 60  # of a value quoted in a message
MESSAGE_CHARS = 1000  # of one problem's message

# Bounds on the strings people write into input files, so nothing stores or prints megabytes:
TEXT_CHARS = 256  # a name, vendor, version, contact, label
PATH_CHARS = 4096  # a path (PATH_MAX)
COMMAND_CHARS = 65536  # a shell command or an expected output


def too_long(value: str, limit: int) -> str:
    """The problem with a string longer than `limit` ('' when it fits), naming the limit."""
    if len(value) <= limit:
        return ""
    return f"at most {limit:,} characters, got {len(value):,}"


def shown(value: object) -> str:
    """repr() of a value for a message, cut short with its length when long (never megabytes)."""
    if isinstance(value, (str, bytes, list, tuple, dict)) and len(value) > SHOWN_CHARS:
        head = value[:SHOWN_CHARS] if isinstance(value, (str, bytes, list, tuple)) else dict(list(value.items())[:3])
        unit = "characters" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else "items"
        return f"{head!r}… ({len(value):,} {unit})"
    text = repr(value)
    return text if len(text) <= 2 * SHOWN_CHARS else text[:2 * SHOWN_CHARS] + "…"


@dataclass(frozen=True)
class Problem:
    """One problem: the file, where in it (may be empty for the file as a whole), what is wrong."""

    source: str
    where: str
    message: str

    def __str__(self) -> str:
        parts = [part for part in (self.source, self.where) if part]
        return ": ".join([*parts, self.message])


class Problems:
    """Collects the problems of one kind of input (possibly over several files); raises them together."""

    def __init__(self, subject: str, source: Path | str = "") -> None:
        self.subject = subject  # "inventory", "product manifest", ...: said in the error's first line
        self.source = str(source)  # the file problems belong to unless add() names another
        self.items: list[Problem] = []

    def add(self, where: str, message: str, *, source: Path | str | None = None) -> None:
        if len(where) > SHOWN_CHARS * 3:
            where = where[:SHOWN_CHARS * 3] + "…"
        if len(message) > MESSAGE_CHARS:
            message = message[:MESSAGE_CHARS] + f"… ({len(message):,} characters)"
        self.items.append(Problem(str(self.source if source is None else source), where, message))

    def at(self, source: Path | str) -> Problems:
        """The same collector, with `source` as the file of the problems added through it (a loader
        that reads several files hands each file's parser its own view)."""
        view = Problems(self.subject, source)
        view.items = self.items
        return view

    def absorb(self, error: InputError) -> None:
        """Take over the problems of an InputError another loader raised (or its message as one problem)."""
        if error.problems:
            self.items.extend(error.problems)
        else:
            self.items.append(Problem("", "", error.message))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def error(self) -> InputError:
        count = len(self.items)
        lines = "\n".join(f"  - {item}" for item in self.items)
        return InputError(f"{count} problem{'s' if count != 1 else ''} in the {self.subject}:\n{lines}",
                          problems=tuple(self.items))

    def raise_if_any(self) -> None:
        if self.items:
            raise self.error()
