"""Run by test_faults.py: a check cut off by --check-timeout while its command still runs, then one
that must see a clean shell (no output of the old command, no timeout that is not its own)."""

import pytest


@pytest.mark.check("FAULT-INTR-001")
def test_a_cut_off_mid_command(target):
    target.run("sleep 5; echo OLD-OUTPUT", timeout=60)


@pytest.mark.check("FAULT-INTR-002")
def test_b_next_command_is_clean(target):
    result = target.run("echo new").check()
    assert result.stdout == "new\n", f"the previous command leaked into this one: {result.stdout!r}"
