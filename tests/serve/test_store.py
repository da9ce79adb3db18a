"""The service database on a real SQLite file: created on first start, migrated, survives restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cslr.serve.store import LATEST_VERSION, MIGRATIONS, JobRecord, Store
from tests.serve.service_helpers import running_server, service_settings


def _job(job_id: str, state: str = "queued") -> JobRecord:
    return JobRecord(id=job_id, state=state, host="here", params={"epochs": 3}, job_dir=f"/jobs/{job_id}",
                     nproc=1, total_epochs=3, created_at=1.0)


def test_server_creates_the_database_on_first_start(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    db = settings.state_dir / "cslr.db"
    assert not db.exists()
    with running_server(settings) as client:
        assert client.get("/api/training/status").json() == []
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (LATEST_VERSION,)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"api_keys", "training_jobs", "schema_version"} <= tables


def test_upgrade_from_the_first_schema_keeps_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store.open(url, migrate_to=1)  # a database as the first release left it
    assert old.schema_version() == 1
    with old.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO api_keys (key_id, name, key_hash, created_at) "
                             "VALUES ('0123abcd', 'legacy', 'h', 5.0)")
    old.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(api_keys)")}
    assert "last_used_at" not in columns

    store = Store.open(url)
    assert store.schema_version() == LATEST_VERSION == MIGRATIONS[-1][0]
    record = store.get_key("0123abcd")
    assert record is not None and record.name == "legacy" and record.last_used_at is None
    store.touch_key(record)  # a column that only the migration added
    assert store.get_key("0123abcd").last_used_at is not None  # type: ignore[union-attr]
    assert store.migrate() == LATEST_VERSION  # nothing left to do, nothing breaks
    store.close()


def test_data_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'cslr.db'}"
    store = Store.open(url)
    store.insert_key("aaaa0000", "kiosk", "hash")
    store.insert_job(_job("job-1"))
    store.update_job("job-1", state="running", epoch=2, loss=0.5)
    store.close()

    again = Store.open(url)
    assert [k.name for k in again.list_keys()] == ["kiosk"]
    job = again.get_job("job-1")
    assert job is not None
    assert (job.state, job.epoch, job.loss, job.params) == ("running", 2, 0.5, {"epochs": 3})
    again.close()


def test_claiming_a_job_is_atomic(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'c.db'}")
    store.insert_job(_job("j"))
    assert store.update_job("j", expect_state="queued", state="running")
    assert not store.update_job("j", expect_state="queued", state="running")  # a second server loses
    assert [j.id for j in store.list_jobs(["running"])] == ["j"]
    assert store.list_jobs(["queued"]) == []
    with pytest.raises(ValueError, match="unknown job fields"):
        store.update_job("j", nonsense=1)
    store.close()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    Store.open(url).close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        conn.execute("UPDATE schema_version SET version = ?", (LATEST_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer"):
        Store.open(url)
