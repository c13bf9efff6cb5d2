"""The product-adaptation whitelist (信创产品白名单): run folders compiled into a database.

Modules, one job each:
- `schema`     the tables (SQLAlchemy Core); `migrations/` (Alembic) builds and upgrades them in place;
- `db`         URL (--db / $XCH_DB_URL / whitelist/whitelist.db), engine, the write lock, `upgrade`;
- `policy`     whitelist/policy.toml, checked field by field;
- `runfolder`  a run folder read and validated whole before anything is written (SM3 manifest);
- `evaluate`   one verdict (compatible / conditional / incompatible / pending, level) from check records;
- `platforms`  platform identity and the result-reuse key;
- `compile`    import (one transaction per run), supersession, "covered by" and declared entries;
- `query`      filtered entry rows and the public-list export columns;
- `listfile`   an existing public list (CSV) read and checked cell by cell before `import-list` writes it;
- `exchange`   export xlsx/csv/json (cells through `harness.core.spreadsheet`) and `import-list`;
- `identity`   names as given and the canonical form the two-person rule compares (NFKC, casefold);
- `workflow`   submissions, two-person approvals, certificates (SM3 of evidence, audit checkpoint), stages;
- `audit`      the append-only audit log: SM3-chained, and sealed with a key (`seal`);
- `seal`       the audit key and head file outside the database; what they protect against, and what not;
- `verify`     certificates, runs and entries against their sealed records; the log against key, head, checkpoints.

Typical use from Python:

    from harness.whitelist import db
    from harness.whitelist.compile import compile_runs
    from harness.whitelist.policy import load_policy
    from harness.whitelist.query import Filters, entry_rows

    database = db.connect(None)                  # upgrades the schema if it is older
    compile_runs(database, [Path("results/RUN")], load_policy(), actor="alice")
    with database.read() as conn:
        rows = entry_rows(conn, Filters(arch="aarch64", status="compatible"))
"""
