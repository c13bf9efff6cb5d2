"""The audit log's seal: a key and a head checkpoint that live outside the database.

Why: the audit log's SM3 chain (`audit.py`) is computed with a public algorithm, so anyone who can
write the database can drop the append-only triggers, edit or delete rows and recompute every later
hash; `verify` then saw a perfect chain. The seal adds what a database writer does not have:

- a **key** (32 random bytes, a file with mode 0600): every audit row written since the seal also carries
  `mac` = HMAC-SM3(key, previous row's mac + this row's hash). The first keyed row, `audit.seal`, records
  the key's id, a random chain id, and how many rows (and which last hash) came before it, so rows written
  before the database was sealed are pinned too;
- a **head file** next to the key (`<key>.head`, mode 0600), advanced after every committed write to the
  newest row's id, hash and mac. Deleting the newest rows (or all of them) leaves the head pointing past
  the end of the log.

Where the key lives: `$XCH_AUDIT_KEY_FILE` if set; else, for an SQLite file, next to it
(`whitelist.db.audit-key`); else (PostgreSQL) `$XCH_AUDIT_KEY_DIR` or `~/.config/xch/audit-keys/`, one file
per server and database. It is created when a database is first sealed (a new database, or an older
one upgraded to schema 0003). Machines that write one PostgreSQL database must share its key file
(copy the key and its `.head`); a key file readable by group or others is refused, like ssh refuses a
private key.

What this protects against, verified by `xch whitelist verify`: someone who can write the database
(and the run folders) but cannot read the key file. Edited, inserted or deleted rows, recomputed hashes,
a removed seal, a truncated log, a swapped key file: each shows. Certificates and runs are cross-checked
against their sealed `certificate.issue` / `run.import` records, so rewriting a certificate's evidence
list or a run's manifest (with digests recomputed) shows too.

What it cannot protect against:
- someone who can read the key (its owner, root): they can rewrite rows, MACs and the head file alike.
  Only checkpoints kept out of their reach show that: the `audit_row`/`audit_hash` printed with every
  certificate and written into every export, checked with `xch whitelist verify --checkpoint FILE`;
- the rows of the last transaction, if xch died between its commit and the head update;
- changes made before the seal: rows from before schema 0003 are sealed as they were found;
- anything before import: a run folder forged before `whitelist compile` read it.
It detects; it does not prevent, and it does not say who (authenticated identity is issue 19).
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from harness.core.errors import InputError
from harness.core.locks import folder_lock
from harness.core.storage import atomic_write

KEY_ENV = "XCH_AUDIT_KEY_FILE"
KEY_DIR_ENV = "XCH_AUDIT_KEY_DIR"
GENESIS = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")


def key_path_for(url: str) -> Path:
    """Where the audit key of the database at `url` lives (see the module docstring)."""
    chosen = os.environ.get(KEY_ENV)
    if chosen:
        return Path(chosen).expanduser().absolute()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db_file = Path(parsed.database).resolve()  # one key whichever path or symlink names the file
        return db_file.with_name(db_file.name + ".audit-key")
    folder = os.environ.get(KEY_DIR_ENV)
    base = Path(folder) if folder else Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "xch" / "audit-keys"
    where = "-".join(str(x) for x in (parsed.get_backend_name(), parsed.host or "local", parsed.port or "",
                                      parsed.database or "memory") if x != "")
    return base.absolute() / (re.sub(r"[^A-Za-z0-9._-]", "_", where) + ".key")


def head_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".head")


def _private(path: Path, what: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InputError(f"{path}: the audit {what} is readable or writable by others (mode {mode:04o}); "
                         f"it must be private to its owner: chmod 600 {path}")


@dataclass(frozen=True)
class AuditKey:
    path: Path
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A public name of the key: which key sealed a log, without revealing it."""
        return hmac.new(self.secret, b"xch audit key id", "sm3").hexdigest()[:16]

    def mac(self, prev_mac: str, row_hash: str) -> str:
        return hmac.new(self.secret, (prev_mac + row_hash).encode("ascii"), "sm3").hexdigest()


def load_key(path: Path) -> AuditKey | None:
    """The key in `path`, None if there is no such file; InputError if it is not private or not a key."""
    try:
        _private(path, "key")
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the audit key ({getattr(exc, 'strerror', None) or exc})") from None
    if not _HEX64.fullmatch(text):
        raise InputError(f"{path}: not an xch audit key (expected 64 hexadecimal digits)")
    return AuditKey(path, bytes.fromhex(text))


def create_key(path: Path) -> AuditKey:
    """A new random key in a new file (mode 0600); never overwrites an existing one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = load_key(path)
        assert key is not None
        return key  # another process created it first: use that one
    except OSError as exc:
        raise InputError(f"{path}: cannot create the audit key ({exc.strerror}); set {KEY_ENV} to a writable "
                         "place") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return AuditKey(path, secret)


@dataclass(frozen=True)
class Head:
    """The newest audit row xch wrote with this key: a lower bound of the log."""

    chain: str
    row: int
    hash: str
    mac: str

    def as_dict(self) -> dict[str, object]:
        return {"chain": self.chain, "row": self.row, "hash": self.hash, "mac": self.mac}


def read_head(path: Path) -> Head | None:
    """The head file's checkpoint, None if there is none; InputError if it is not private or malformed."""
    try:
        _private(path, "head file")
        data = json.loads(path.read_text(encoding="utf-8"))
        head = Head(str(data["chain"]), int(data["row"]), str(data["hash"]), str(data["mac"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not an xch audit head file ({exc})") from None
    return head


def advance_head(path: Path, head: Head) -> None:
    """Move the head file forward to `head` (never back: writers commit in any order after the lock)."""
    with folder_lock(path.parent, path.name + ".lock"):
        try:
            current = read_head(path)
        except InputError:
            current = None  # a broken head file is replaced; verify reported it
        if current is not None and current.chain == head.chain and current.row >= head.row:
            return
        atomic_write(path, json.dumps(head.as_dict()) + "\n", mode=0o600)


class Sealer:
    """The key and head file of one database, loaded once per process when the first audit row is written."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self.head_path = head_path(key_path)
        self._key: AuditKey | None = None
        self.chain: str | None = None  # the database's chain id, once looked up

    def key(self) -> AuditKey:
        if self._key is None:
            self._key = load_key(self.key_path)
            if self._key is None:
                raise InputError(f"{self.key_path}: the audit key of this database is missing; the audit log is "
                                 f"sealed with it and cannot be written without it. Restore the file (or point "
                                 f"{KEY_ENV} at it); `xch whitelist verify` shows what else changed")
        return self._key

    def key_or_new(self) -> AuditKey:
        if self._key is None:
            self._key = load_key(self.key_path) or create_key(self.key_path)
        return self._key

    def advance(self, head: Head) -> None:
        advance_head(self.head_path, head)
