"""Run by test_faults.py: a command whose output contains the inventory password."""

import os

import pytest


@pytest.mark.check("FAULT-SECRET-001")
def test_echo_secret(target):
    secret = os.environ["XCH_TEST_PASSWORD"]
    result = target.run(f"echo 'the password is {secret}'").check()
    raise AssertionError(f"deliberate failure quoting output: {result.stdout}")
