"""COMPAT-DEPS-001's reason quotes the unmet-dependency lines, not the package manager's last line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.product.lifecycle.unmet import resolution_failure, unmet_dependencies

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pkgmanager"


def sample(name: str) -> tuple[str, str]:
    return (FIXTURES / f"{name}.stdout").read_text(), (FIXTURES / f"{name}.stderr").read_text()


def test_apt_lines_each_name_the_package_and_the_dependency():
    stdout, stderr = sample("apt-unmet")
    assert unmet_dependencies(stdout + stderr) == [
        "xch-unmet : Depends: libc6 (>= 99) but 2.36-9+deb12u14 is to be installed",
        "xch-unmet : Depends: xch-no-such-package but it is not installable",
        "xch-unmet : Depends: libjq1 (= 9.9-1) but it is not going to be installed",
    ]
    reason = resolution_failure(stdout, stderr)
    assert reason.startswith("xch-unmet : Depends: libc6 (>= 99) but 2.36-9+deb12u14 is to be installed; ")
    assert "held broken packages" not in reason


def test_apt_foreign_architecture():
    stdout, stderr = sample("apt-unmet-foreign-arch")
    assert unmet_dependencies(stdout + stderr)[0] == "xch-unmet:amd64 : Depends: libc6:amd64 (>= 99) but it is not installable"


def test_dnf_lines():
    stdout, stderr = sample("dnf-unmet")
    assert unmet_dependencies(stdout + "\n" + stderr) == [
        "nothing provides libfoo.so.1()(64bit) needed by xch-unmet-1.0-1.noarch",
        "nothing provides glibc >= 99 needed by xch-unmet-1.0-1.noarch",
        "nothing provides xch-no-such-package >= 2.0 needed by xch-unmet-1.0-1.noarch",
    ]
    assert "--skip-broken" not in resolution_failure(stdout, stderr)


def test_dnf_numbered_problems_and_yum():
    dnf = (" Problem 1: package a-1.x86_64 requires b, but none of the providers can be installed\n"
           "  - nothing provides c needed by b-1.x86_64\n"
           " Problem 2: conflicting requests\n  - nothing provides d needed by a-1.x86_64\n")
    assert unmet_dependencies(dnf) == ["package a-1.x86_64 requires b, but none of the providers can be installed",
                                       "nothing provides c needed by b-1.x86_64", "nothing provides d needed by a-1.x86_64"]
    yum = ("Error: Package: foo-1.0-1.x86_64 (/foo-1.0-1.x86_64)\n           Requires: libbar.so.1()(64bit)\n"
           " You could try using --skip-broken to work around the problem\n")
    assert unmet_dependencies(yum) == ["foo-1.0-1.x86_64 requires libbar.so.1()(64bit)"]


@pytest.mark.parametrize("stdout, stderr, expected", [
    ("", "E: Unable to locate package nope\n", "E: Unable to locate package nope"),
    ("Reading package lists...\n", "", "Reading package lists..."),
])
def test_without_unmet_lines_the_error_lines_or_the_output(stdout, stderr, expected):
    assert resolution_failure(stdout, stderr) == expected


def test_many_unmet_lines_are_cut_with_a_count():
    stdout = "The following packages have unmet dependencies:\n" + "".join(
        f" p{i} : Depends: d{i} but it is not installable\n" for i in range(15))
    reason = resolution_failure(stdout, "E: Unable to correct problems, you have held broken packages.\n")
    assert reason.count("Depends:") == 10 and reason.endswith("; and 5 more")
