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
- `exchange`   export xlsx/csv/json and `import-list` of an existing CSV list;
- `workflow`   submissions, two-person approvals, certificates (SM3 of evidence), stages, `verify`;
- `audit`      the append-only, SM3-chained audit log.

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
