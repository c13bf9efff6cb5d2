"""Run by test_fleet_faults.py: six steps per target; a target's `noise` label makes it misbehave.

- no label: `echo`, milliseconds;
- noise = "slow": every step's command sleeps 2 s (a target that answers very slowly);
- noise = "flood": every step's command writes 200 MB to stdout (`yes | head -c 200000000`); xch keeps
  its output limit (8 MiB) and drops the rest, and the step checks that it did.

Not collected by xch's own test run (the file name does not start with test_); `xch run --suite` runs it.
"""

import pytest

FLOOD_BYTES = 200_000_000


@pytest.mark.check("FLEET-NOISY")
@pytest.mark.parametrize("step", range(6))
def test_step(target, step, evidence):
    noise = target.target.labels.get("noise", "")
    evidence["noise"] = noise
    if noise == "slow":
        result = target.run("sleep 2; echo step", timeout=60).check()
        assert result.stdout == "step\n"
    elif noise == "flood":
        result = target.run(f"yes | head -c {FLOOD_BYTES}", timeout=120).check()
        dropped = int(result.stdout.rsplit("output truncated, ", 1)[1].split(" bytes dropped")[0])
        kept = result.stdout.index("\n[xch: output truncated")
        evidence["kept_bytes"], evidence["dropped_bytes"] = kept, dropped
        assert result.truncated and kept + dropped == FLOOD_BYTES
    else:
        assert target.run("echo step", timeout=60).check().stdout == "step\n"
