"""The service's database: API keys and training jobs, with a versioned schema.

SQLite by default (one file in ``STATE_DIR``, created on first start); any SQLAlchemy URL works, so a fleet
of servers can share PostgreSQL. The schema is a numbered list of migrations (:data:`MIGRATIONS`); opening a
:class:`Store` applies the ones a database has not seen yet, each in its own transaction together with the
version bump, so an upgrade keeps every row. The SQL is plain and portable (SQLite and PostgreSQL).

Example::

    store = Store.open("sqlite:///var/cslr.db")   # created and migrated
    store.insert_key("ab12cd34", "kiosk", key_hash)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SCHEMA_TABLE = "schema_version"
SQLITE_PREFIX = "sqlite"
SQLITE_BUSY_TIMEOUT_S = 30.0
LAST_USED_RESOLUTION_S = 60.0  # a key's last-use time is written at most this often

# Each migration: (version it brings the schema to, what it does, SQL statements).
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "API keys and training jobs", (
        """CREATE TABLE api_keys (
            key_id VARCHAR(32) PRIMARY KEY,
            name VARCHAR(200) NOT NULL,
            key_hash VARCHAR(128) NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION
        )""",
        """CREATE TABLE training_jobs (
            id VARCHAR(40) PRIMARY KEY,
            state VARCHAR(20) NOT NULL,
            host VARCHAR(255) NOT NULL,
            params TEXT NOT NULL,
            job_dir TEXT NOT NULL,
            nproc INTEGER NOT NULL,
            total_epochs INTEGER NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            pid INTEGER,
            pid_start VARCHAR(40),
            epoch INTEGER,
            step INTEGER,
            loss DOUBLE PRECISION,
            dev_wer DOUBLE PRECISION,
            exit_code INTEGER,
            error TEXT
        )""",
        "CREATE INDEX ix_training_jobs_state ON training_jobs (state)",
    )),
    (2, "key last-use time; job cancel requests", (
        "ALTER TABLE api_keys ADD COLUMN last_used_at DOUBLE PRECISION",
        "ALTER TABLE training_jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
    )),
]
LATEST_VERSION = MIGRATIONS[-1][0]


@dataclass(frozen=True)
class ApiKeyRecord:
    """One stored API key: never the key itself, only its hash."""

    key_id: str
    name: str
    key_hash: str
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class JobRecord:
    """One training job as stored. ``params`` is the validated request (a JSON object)."""

    id: str
    state: str
    host: str
    params: dict[str, Any]
    job_dir: str
    nproc: int
    total_epochs: int
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None
    pid_start: str | None = None
    epoch: int | None = None
    step: int | None = None
    loss: float | None = None
    dev_wer: float | None = None
    exit_code: int | None = None
    error: str | None = None
    cancel_requested: bool = False


JOB_COLUMNS = tuple(f.name for f in fields(JobRecord))
KEY_COLUMNS = tuple(f.name for f in fields(ApiKeyRecord))


class Store:
    """Typed access to the database; every method is one short transaction (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate_to: int | None = LATEST_VERSION) -> Store:
        """Connect to ``url`` (creating a SQLite file and its folder) and migrate to ``migrate_to``."""
        store = cls(create_engine(url))
        if migrate_to is not None:
            store.migrate(migrate_to)
        return store

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- schema ---------------------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The version the database is at (0 = empty)."""
        with self._tx() as conn:
            return _current_version(conn)

    def migrate(self, target: int = LATEST_VERSION) -> int:
        """Apply pending migrations up to ``target``; returns the version reached."""
        if target > LATEST_VERSION:
            raise ValueError(f"schema version {target} is newer than this code knows ({LATEST_VERSION})")
        with self._tx() as conn:
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)"))
            current = _current_version(conn)
            if current > LATEST_VERSION:
                raise RuntimeError(f"database schema {current} is newer than this code ({LATEST_VERSION})")
        for version, _, statements in MIGRATIONS:
            if current < version <= target:
                with self._tx() as conn:
                    for statement in statements:
                        conn.execute(sa.text(statement))
                    _set_version(conn, version)
                current = version
        return current

    # --- API keys -------------------------------------------------------------------------------------
    def insert_key(self, key_id: str, name: str, key_hash: str) -> ApiKeyRecord:
        """Store a new key's hash."""
        record = ApiKeyRecord(key_id=key_id, name=name, key_hash=key_hash, created_at=time.time())
        with self._tx() as conn:
            conn.execute(
                sa.text("INSERT INTO api_keys (key_id, name, key_hash, created_at) "
                        "VALUES (:key_id, :name, :key_hash, :created_at)"),
                {"key_id": key_id, "name": name, "key_hash": key_hash, "created_at": record.created_at},
            )
        return record

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""
        with self._tx() as conn:
            row = conn.execute(sa.text(f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys WHERE key_id = :k"),
                               {"k": key_id}).mappings().first()
        return ApiKeyRecord(**row) if row else None

    def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                sa.text(f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys ORDER BY created_at, key_id")
            ).mappings().all()
        return [ApiKeyRecord(**row) for row in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False when no active key has this id."""
        with self._tx() as conn:
            result = conn.execute(
                sa.text("UPDATE api_keys SET revoked_at = :now WHERE key_id = :k AND revoked_at IS NULL"),
                {"now": time.time(), "k": key_id},
            )
        return result.rowcount == 1

    def touch_key(self, record: ApiKeyRecord) -> None:
        """Note that a key was used (written at most once per :data:`LAST_USED_RESOLUTION_S`)."""
        now = time.time()
        if record.last_used_at is not None and now - record.last_used_at < LAST_USED_RESOLUTION_S:
            return
        with self._tx() as conn:
            conn.execute(sa.text("UPDATE api_keys SET last_used_at = :now WHERE key_id = :k"),
                         {"now": now, "k": record.key_id})

    # --- training jobs --------------------------------------------------------------------------------
    def insert_job(self, job: JobRecord) -> None:
        """Store a new job."""
        values = _job_values(job)
        names = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        with self._tx() as conn:
            conn.execute(sa.text(f"INSERT INTO training_jobs ({names}) VALUES ({marks})"), values)

    def get_job(self, job_id: str) -> JobRecord | None:
        """The job with this id."""
        rows = self._select_jobs("WHERE id = :id", {"id": job_id})
        return rows[0] if rows else None

    def list_jobs(self, states: Sequence[str] | None = None) -> list[JobRecord]:
        """Every job (or those in ``states``), oldest first."""
        if not states:
            return self._select_jobs("", {})
        marks = ", ".join(f":s{i}" for i in range(len(states)))
        return self._select_jobs(f"WHERE state IN ({marks})", {f"s{i}": s for i, s in enumerate(states)})

    def update_job(self, job_id: str, *, expect_state: str | None = None, **changes: Any) -> bool:
        """Set ``changes`` on a job; with ``expect_state``, only if it is in that state (an atomic claim).

        Returns True when a row changed, so two servers can never both claim the same queued job.
        """
        unknown = set(changes) - set(JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        values = {k: _to_column(k, v) for k, v in changes.items()}
        assignments = ", ".join(f"{k} = :{k}" for k in values)
        where = "id = :_id" + (" AND state = :_expect" if expect_state else "")
        with self._tx() as conn:
            result = conn.execute(sa.text(f"UPDATE training_jobs SET {assignments} WHERE {where}"),
                                  {**values, "_id": job_id, "_expect": expect_state})
        return result.rowcount == 1

    def _select_jobs(self, where: str, params: dict[str, Any]) -> list[JobRecord]:
        query = f"SELECT {', '.join(JOB_COLUMNS)} FROM training_jobs {where} ORDER BY created_at, id"
        with self._tx() as conn:
            rows = conn.execute(sa.text(query), params).mappings().all()
        return [_job_from_row(row) for row in rows]


def create_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite, the folder is created and writers wait instead of failing."""
    if url.startswith(SQLITE_PREFIX):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        return sa.create_engine(url, connect_args=connect_args)
    return sa.create_engine(url, pool_pre_ping=True)


def _current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(SCHEMA_TABLE):
        return 0
    value = conn.execute(sa.text(f"SELECT MAX(version) FROM {SCHEMA_TABLE}")).scalar()
    return int(value or 0)


def _set_version(conn: Connection, version: int) -> None:
    conn.execute(sa.text(f"DELETE FROM {SCHEMA_TABLE}"))
    conn.execute(sa.text(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (:v)"), {"v": version})


def _to_column(name: str, value: Any) -> Any:
    """Python value → column value (params as JSON text, booleans as 0/1)."""
    if name == "params":
        return json.dumps(value, sort_keys=True)
    if name == "cancel_requested":
        return int(bool(value))
    return value


def _job_values(job: JobRecord) -> dict[str, Any]:
    return {name: _to_column(name, getattr(job, name)) for name in JOB_COLUMNS}


def _job_from_row(row: Any) -> JobRecord:
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    return JobRecord(**data)

