"""Why a simulated install failed, in the package manager's own words (the reason of COMPAT-DEPS-001).

apt and dnf end a failed resolution with a generic last line ("E: Unable to correct problems, you
have held broken packages."; dnf's "(try to add '--skip-broken' ...)"); what a vendor needs is the
lines above it that name the dependency. Samples from real runs are in tests/fixtures/pkgmanager/.

apt-get install --simulate (the package name is repeated on continuation lines, so each line stands alone):

    The following packages have unmet dependencies:
     xch-unmet : Depends: libc6 (>= 99) but 2.36-9+deb12u14 is to be installed
                 Depends: xch-no-such-package but it is not installable

dnf install --setopt=tsflags=test (dnf 4; dnf 5 says "Problem:" without the "Error:" line):

    Error:
     Problem: conflicting requests
      - nothing provides libfoo.so.1()(64bit) needed by xch-unmet-1.0-1.noarch

yum 3 (EL 7):

    Error: Package: xch-unmet-1.0-1.noarch (/xch-unmet-1.0-1.noarch)
               Requires: libfoo.so.1()(64bit)
"""

from __future__ import annotations

import re

# " xch-unmet : Depends: libc6 (>= 99) but 2.36-9+deb12u14 is to be installed"
_APT_FIRST = re.compile(r" (\S+) : (\S.*)")
# "             Depends: xch-no-such-package but it is not installable"
_APT_MORE = re.compile(r" {2,}(\S.*)")
# " Problem: conflicting requests" / " Problem 2: package x requires y, but none of the providers can be installed"
_DNF_PROBLEM = re.compile(r"\s*Problem(?: \d+)?: (.*)")
# "  - nothing provides libfoo.so.1()(64bit) needed by xch-unmet-1.0-1.noarch"
_DNF_ITEM = re.compile(r"\s+- (\S.*)")
# "Error: Package: xch-unmet-1.0-1.noarch (/xch-unmet-1.0-1.noarch)"
_YUM_PACKAGE = re.compile(r"Error: Package: (\S+).*")
# "           Requires: libfoo.so.1()(64bit)"
_YUM_REQUIRES = re.compile(r"\s+Requires: (\S.*)")


def unmet_dependencies(output: str) -> list[str]:
    """The unmet-dependency lines of apt's, dnf's or yum's output (stdout and stderr together), each
    one standing alone ("pkg : Depends: dep ..."); [] when the output has none."""
    lines = output.splitlines()
    return _apt(lines) or _dnf(lines) or _yum(lines)


def _apt(lines: list[str]) -> list[str]:
    found: list[str] = []
    package = ""
    inside = False
    for line in lines:
        if line.strip() == "The following packages have unmet dependencies:":
            inside, package = True, ""
            continue
        if not inside:
            continue
        first, more = _APT_FIRST.fullmatch(line), _APT_MORE.fullmatch(line)
        if first:
            package = first.group(1)
            found.append(f"{package} : {first.group(2).strip()}")
        elif more and package:
            found.append(f"{package} : {more.group(1).strip()}")
        else:
            inside = False
    return found


def _dnf(lines: list[str]) -> list[str]:
    found: list[str] = []
    inside = False
    for line in lines:
        problem = _DNF_PROBLEM.fullmatch(line)
        if problem:
            inside = True
            if problem.group(1).strip() != "conflicting requests":  # the heading, not a cause
                found.append(problem.group(1).strip())
            continue
        item = _DNF_ITEM.fullmatch(line) if inside else None
        if item:
            found.append(item.group(1).strip())
        elif inside and line.strip():
            inside = False
    return found


def _yum(lines: list[str]) -> list[str]:
    found: list[str] = []
    package = ""
    for line in lines:
        head, requires = _YUM_PACKAGE.fullmatch(line), _YUM_REQUIRES.fullmatch(line)
        if head:
            package = head.group(1)
        elif requires and package:
            found.append(f"{package} requires {requires.group(1).strip()}")
    return found


def resolution_failure(stdout: str, stderr: str, limit: int = 10) -> str:
    """A reason that quotes the unmet dependencies (at most `limit`, then how many more), or, when
    the output names none, the package manager's error lines, or the end of its output."""
    unmet = unmet_dependencies(f"{stdout}\n{stderr}")
    if unmet:
        more = f"; and {len(unmet) - limit} more" if len(unmet) > limit else ""
        return "; ".join(unmet[:limit]) + more
    errors = [line.strip() for line in f"{stdout}\n{stderr}".splitlines() if line.startswith(("E: ", "Error: "))]
    text = "; ".join(errors) or (stderr or stdout).strip()
    return text if len(text) <= 800 else "…" + text[-800:]
