"""Run by test_faults.py: a check whose command hangs, then one that must still work on the same target."""

import os

import pytest


@pytest.mark.check("FAULT-HANG-001")
def test_a_hanging_command(target):
    # A duration unique to this run (set by the test), so the test can look for exactly this process.
    seconds = os.environ.get("XCH_HANG_SECONDS", "600")
    target.run(f"sleep {seconds}; echo never", timeout=2).check()


@pytest.mark.check("FAULT-HANG-002")
def test_b_target_still_answers(target):
    assert target.run("echo alive").check().stdout == "alive\n"
