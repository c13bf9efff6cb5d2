"""Run by test_fleet_faults.py: a file transfer, then another one after the test has cut the link.

The second check waits for the flag file named by $XCH_FLEET_FLAG (the test creates it once the
target's link is down), then downloads a file: it must end, as an error, in bounded time.
Not collected by xch's own test run (the file name does not start with test_).
"""

import os
import time
from pathlib import Path

import pytest


@pytest.mark.check("FLEET-XFER-001")
def test_a_transfer_works(target, tmp_path):
    target.get("/etc/os-release", tmp_path / "os-release")
    assert (tmp_path / "os-release").read_text().startswith(("PRETTY_NAME", "NAME", "ID"))


@pytest.mark.check("FLEET-XFER-002")
def test_b_transfer_after_the_link_is_cut(target, tmp_path):
    flag = Path(os.environ["XCH_FLEET_FLAG"])
    deadline = time.monotonic() + 60
    while not flag.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"the test never created {flag}")
        time.sleep(0.05)
    target.get("/etc/os-release", tmp_path / "os-release")
