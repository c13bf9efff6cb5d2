"""Runs: one invocation of a suite, recorded in a crash-safe folder `results/<run-id>/`.

- folder.py  the run folder: run.json, results.jsonl (append-only, locked, fsynced), junit.xml, facts/, logs/;
             reading, repairing a torn last line, latest record per check, counts, exit codes
- runner.py  runs a suite as a pytest subprocess and records it (used by `xch run` and `xch certify`)

The run-folder API is importable from the package itself (`from harness import runs; runs.read_results(d)`);
the runner is imported from `harness.runs.runner` (it starts pytest, which loads the plugin, which
uses this package: importing it here would be circular).
"""

from harness.runs.folder import (
    FINAL_OUTCOMES,
    JUNIT,
    OUTCOMES,
    RESULTS,
    RUN_JSON,
    LoadedResults,
    append_record,
    check_labels,
    collect_facts,
    counts,
    done_keys,
    exit_code_for,
    latest_records,
    load_run,
    new_run_id,
    read_results,
    record_key,
    repair_results,
    utc_now,
    write_junit,
)

__all__ = ['OUTCOMES', 'FINAL_OUTCOMES', 'RUN_JSON', 'RESULTS', 'JUNIT', 'utc_now', 'new_run_id', 'append_record', 'LoadedResults', 'read_results', 'repair_results', 'record_key', 'latest_records', 'done_keys', 'check_labels', 'counts', 'load_run', 'write_junit', 'collect_facts', 'exit_code_for']
