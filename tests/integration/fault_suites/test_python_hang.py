"""Run by test_faults.py: a check that hangs in Python itself, bounded by --check-timeout."""

import time

import pytest


@pytest.mark.check("FAULT-PYHANG-001")
def test_hangs_in_python(target):
    time.sleep(600)
