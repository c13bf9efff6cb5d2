"""Opening the whitelist database: URL, engine, the write lock, and schema upgrades (Alembic).

Every write (a compile, a workflow step, a migration) runs in one transaction that first takes the
database-wide write lock: `BEGIN IMMEDIATE` on SQLite, `pg_advisory_xact_lock` on PostgreSQL. Writers
therefore queue instead of interleaving, so two compiles started at the same time leave the same
database as the two run one after the other, and a failure rolls back everything it did.
Readers (query, export, verify) never take the lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from harness.core.errors import InfraError, InputError
from harness.core.paths import project_dir

MIGRATIONS = Path(__file__).parent / "migrations"
PG_LOCK_KEY = 0x5843485F574C  # "XCH_WL": the advisory lock every writer takes
DEFAULT_DB = Path("whitelist") / "whitelist.db"


def resolve_url(url: str | None) -> str:
    """--db URL, else $XCH_DB_URL, else the SQLite file whitelist/whitelist.db of the project."""
    chosen = url or os.environ.get("XCH_DB_URL")
    if not chosen:
        path = project_dir() / DEFAULT_DB
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    try:
        parsed = make_url(chosen)
    except ArgumentError:
        raise InputError(f"--db {chosen!r}: not a database URL (expected sqlite:///FILE or "
                         "postgresql+psycopg://USER:PASS@HOST:PORT/DB)") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError(f"--db {parsed.render_as_string(hide_password=True)}: only sqlite and postgresql are supported")
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what xch installs
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def _sqlite_events(engine: Engine) -> None:
    """pysqlite's own transaction handling is switched off so BEGIN IMMEDIATE is ours to send."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 120000")  # a waiting writer queues, it does not fail
        cur.execute("PRAGMA foreign_keys = ON")
        _set_wal(cur)  # readers do not block the writer, nor it them
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("xch_write") else "BEGIN")


def _set_wal(cur: Any, patience_s: float = 120.0) -> None:
    """Switch to WAL. On a fresh file opened by two processes at once, SQLite can answer "database
    is locked" here without going through the busy handler, so wait and retry like a busy writer."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Database:
    url: str
    engine: Engine
    _sealer: Any = field(default=None, repr=False)

    @property
    def sealer(self):  # type: ignore[no-untyped-def]
        """The audit key and head file of this database (harness.whitelist.seal), loaded when first needed."""
        if self._sealer is None:
            from harness.whitelist.seal import Sealer, key_path_for

            self._sealer = Sealer(key_path_for(self.url))
        return self._sealer

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction holding the database-wide write lock; commits on success, else rolls back.

        Audit rows written in it are sealed with the database's key; once the commit succeeded, the
        head file moves to the newest of them (after, not before: a rolled-back row must not be in it).
        """
        head = None
        with self.engine.connect() as conn:
            conn.execution_options(xch_write=True)
            conn.info["xch_sealer"] = self.sealer
            conn.info.pop("xch_audit_head", None)
            try:
                with conn.begin():
                    if self.dialect == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
                    yield conn
                head = conn.info.get("xch_audit_head")
            finally:
                conn.info.pop("xch_sealer", None)
                conn.info.pop("xch_audit_head", None)
        if head is not None:
            self.sealer.advance(head)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def connect(url: str | None = None, upgrade_schema: bool = True) -> Database:
    """Open (and by default upgrade in place) the whitelist database."""
    resolved = resolve_url(url)
    kwargs = {"future": True}
    if resolved.startswith("postgresql"):
        kwargs["pool_pre_ping"] = True
    engine = create_engine(resolved, **kwargs)
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    db = Database(resolved, engine)
    deadline = time.monotonic() + 120.0
    while True:
        try:
            with engine.connect():
                pass
            break
        except OperationalError as exc:
            # SQLite may answer "locked" while another process sets up a fresh file (not every
            # path goes through the busy handler): wait like a queued writer, then give up clearly.
            if "locked" in str(exc.orig) and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            engine.dispose()
            raise InfraError(f"whitelist database {db.safe_url()}: cannot connect: {str(exc.orig).strip()}") from None
    if upgrade_schema:
        upgrade(db)
    return db


def _alembic_config(conn: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to `revision` in place, under the write lock. Returns (before, after).

    Reaching revision 0003 seals the audit log in the same transaction (`audit.seal`): a new database
    gets its key, an older one has its existing rows pinned by the first keyed row.
    """
    from alembic import command

    from harness.whitelist import audit

    target = head_revision() if revision == "head" else revision
    with db.read() as conn:
        if current_revision(conn) == target:
            return target, target
    try:
        with db.write() as conn:
            before = current_revision(conn)  # re-read under the lock: another process may have done it
            if before != target:
                command.upgrade(_alembic_config(conn), revision)
            after = current_revision(conn)
            if before != after and after is not None and after >= audit.SEALED_FROM and audit.seal_row(conn) is None:
                audit.seal(conn, new_database=before is None)
    except SQLAlchemyError as exc:
        raise InfraError(f"whitelist database {db.safe_url()}: schema upgrade failed: {exc}") from None
    return before, after or ""
