"""glibc version of the distributions a migration may target, for the binaries' glibc floor check.

Each entry is the glibc the release ships (its base version; vendors backport fixes but never
raise the symbol versions). Sources: the distributions' package repositories (glibc package
version in the release's OS/BaseOS repository) and release notes:
- openEuler 20.03 LTS: glibc-2.28-*.oe1; 22.03 LTS: glibc-2.34-*.oe2203; 24.03 LTS: glibc-2.38-*.oe2403
  (repo.openeuler.org/openEuler-<release>/OS/<arch>/Packages);
- Kylin Server V10 (SP1-SP3): glibc-2.28-*.ky10 (update.cs2c.com.cn repositories);
- UOS Server 20 (1020a/1050a/1070a): glibc 2.28 (openEuler-based ...uelc20 packages);
- Debian 10/11/12: 2.28/2.31/2.36 (packages.debian.org/glibc); Ubuntu 20.04/22.04/24.04: 2.31/2.35/2.39;
- CentOS 7: 2.17; CentOS/RHEL/Anolis 8: 2.28; RHEL 9: 2.34 (vault.centos.org, access.redhat.com).
"""

from __future__ import annotations

from harness.core.errors import InputError

GLIBC_BY_OS: dict[str, str] = {
    "openeuler-20.03": "2.28",
    "openeuler-22.03": "2.34",
    "openeuler-24.03": "2.38",
    "kylin-v10": "2.28",
    "uos-20": "2.28",
    "debian-10": "2.28",
    "debian-11": "2.31",
    "debian-12": "2.36",
    "ubuntu-20.04": "2.31",
    "ubuntu-22.04": "2.35",
    "ubuntu-24.04": "2.39",
    "centos-7": "2.17",
    "centos-8": "2.28",
    "rhel-8": "2.28",
    "rhel-9": "2.34",
    "anolis-8": "2.28",
}


def glibc_for(target_os: str) -> str:
    """The glibc of `ID-VERSION` (case-insensitive; `openEuler-22.03-LTS-SP1` matches `openeuler-22.03`)."""
    key = target_os.strip().lower()
    if key in GLIBC_BY_OS:
        return GLIBC_BY_OS[key]
    for known in sorted(GLIBC_BY_OS, key=len, reverse=True):
        if key.startswith(known + "-") or key.startswith(known + "."):
            return GLIBC_BY_OS[known]
    raise InputError(f"--target-os {target_os!r}: unknown OS; expected ID-VERSION, one of "
                     f"{', '.join(sorted(GLIBC_BY_OS))}")
