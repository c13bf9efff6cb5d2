"""Run by test_faults.py: a check whose worker process dies (as a native crash would kill it)."""

import os

import pytest


@pytest.mark.check("FAULT-CRASH-001")
def test_a_worker_dies(target):
    target.run("true").check()
    os._exit(1)


@pytest.mark.check("FAULT-CRASH-002")
def test_b_after_the_crash(target):
    assert target.run("echo ok").check().stdout == "ok\n"
