"""Run by test_faults.py: ten checks of about a second each, so a fault can land in the middle."""

import pytest


@pytest.mark.check("FAULT-SLOW")
@pytest.mark.parametrize("step", range(10))
def test_step(target, step):
    assert target.run("sleep 1; echo step").check().stdout == "step\n"
