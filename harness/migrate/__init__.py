"""System migration assessment over SSH: what the source system runs and whether the target can run it.

    from harness.migrate import assess
    result = assess(inventory, "lab-x86", "lab-arm64")   # dict: score, ready, blockers, per-area items
"""

from harness.migrate.assess import assess, assess_snapshots

__all__ = ["assess", "assess_snapshots"]
