"""Behaviour parity: each parity command runs on the source and on this destination target; exit
codes and normalised outputs must match. A difference fails the check, and the record's evidence
holds both outputs (normalised and raw) with the differing lines side by side.
"""

from __future__ import annotations

import pytest

from harness.migrate.parity import Side, compare_sides


def test_parity(target, facts, evidence, parity_case, parity_spec, parity_source):
    if target.name == parity_source.name:
        pytest.skip(f"{target.name} is the parity source")
    if not target.target.matches(parity_spec.destination) and parity_spec.destination not in ("*", ""):
        pytest.skip(f"{target.name} is not a parity destination ({parity_spec.destination})")
    check = parity_case
    src_conn = parity_source.connection()
    if check.id not in parity_source.results:
        parity_source.results[check.id] = src_conn.run(check.run, timeout=check.timeout).check(
            expect_rc=tuple(range(256)))  # any exit code is data; a timeout raises (error, not failure)
    src_result = parity_source.results[check.id]
    dst_result = target.run(check.run, timeout=check.timeout).check(expect_rc=tuple(range(256)))
    src = Side(parity_source.name, src_result.rc, src_result.stdout, src_result.stderr)
    dst = Side(target.name, dst_result.rc, dst_result.stdout, dst_result.stderr)
    differs, found = compare_sides(check, src, dst, {"hostname": parity_source.hostname},
                                   {"hostname": facts.get("hostname", "")})
    evidence.update(found)
    evidence["name"] = check.name
    if differs:
        rows = found.get("side_by_side_stdout") or found.get("side_by_side_stderr") or []
        first = rows[0] if rows else {}
        detail = (f"; first difference: {parity_source.name}: {first.get('source')!r} vs "
                  f"{target.name}: {first.get('destination')!r}") if first else ""
        rc = f" (rc {src.rc} vs {dst.rc})" if "rc" in differs else ""
        raise AssertionError(f"{check.id}: {', '.join(differs)} differ between {parity_source.name} and "
                             f"{target.name}{rc}{detail}")
