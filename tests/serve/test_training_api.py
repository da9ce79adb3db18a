"""Training API with real ``cslr train`` processes on a tiny synthetic dataset made here.

Jobs are separate processes, their state in the database: the tests start, follow, cancel them, and
restart the server underneath them.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cslr.serve.jobs import JobError, build_command, confine, process_alive
from cslr.serve.settings import Settings
from tests.serve.service_helpers import running_server, service_settings, wait_for

TINY_CONFIG: dict[str, Any] = {
    "name": "tiny",
    "model": {"pose_hidden": 32, "pose_layers": 1, "hidden_size": 32, "num_layers": 1, "dropout": 0.0},
    "data": {"source": "synth", "num_glosses": 3, "train_sentences": 16, "dev_sentences": 4,
             "test_sentences": 4, "max_signs": 2},
    "train": {"batch_size": 8, "num_threads": 1, "warmup_steps": 1},
}
ENDLESS_EPOCHS = 100_000  # a job that runs until cancelled
JOB_TIMEOUT_S = 240.0


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Service settings with a data root holding a small dataset folder; kills leftover jobs afterwards."""
    cfg = service_settings(tmp_path)
    (cfg.data_root / "tiny").mkdir(parents=True)
    (cfg.data_root / "tiny" / "README").write_text("synthetic signer: sentences are generated\n")
    yield cfg
    _kill_leftover_jobs(cfg)


def _kill_leftover_jobs(cfg: Settings) -> None:
    from cslr.serve.store import Store

    store = Store.open(cfg.resolved_database_url)
    for job in store.list_jobs(["running"]):
        if job.pid and process_alive(job.pid, job.pid_start):
            os.killpg(job.pid, signal.SIGKILL)
    store.close()


def _start(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"config": TINY_CONFIG, "data_dir": "tiny", **fields}
    response = client.post("/api/training/start", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def _job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/training/status/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def _when_state(client: httpx.Client, job_id: str, *states: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job = _job(client, job_id)
        return job if job["state"] in states else None

    return wait_for(check, JOB_TIMEOUT_S, f"job {job_id} to become {states}")


@pytest.mark.slow
def test_a_job_runs_to_completion_with_progress_and_checkpoints(settings: Settings) -> None:
    with running_server(settings) as client:
        job = _start(client, epochs=2, batch_size=4, learning_rate=0.003)
        assert job["state"] in ("queued", "running") and job["total_epochs"] == 2
        done = _when_state(client, job["id"], "completed", "failed")
        assert done["state"] == "completed", done["log_tail"]
        assert done["exit_code"] == 0 and done["epoch"] == 2 and done["progress"] == 1.0
        assert done["loss"] is not None and done["dev_wer"] is not None
        assert done["params"]["learning_rate"] == 0.003
        listed = client.get("/api/training/status").json()
        assert [j["id"] for j in listed] == [job["id"]]
        checkpoints = client.get("/api/training/checkpoints").json()
        names = {c["name"] for c in checkpoints if c["job_id"] == job["id"]}
        assert {"best.pt", "last.pt"} <= names
        assert all(c["size_bytes"] > 0 and not Path(c["path"]).is_absolute() for c in checkpoints)
        assert any(c["best"] for c in checkpoints)
        metrics = client.get("/metrics").text
        assert 'cslr_training_jobs{state="completed"} 1.0' in metrics


@pytest.mark.slow
def test_cancel_stops_a_running_job(settings: Settings) -> None:
    with running_server(settings) as client:
        job = _start(client, epochs=ENDLESS_EPOCHS)
        running = _when_state(client, job["id"], "running")
        assert running["progress"] < 1.0
        wait_for(lambda: _job(client, job["id"])["epoch"], JOB_TIMEOUT_S, "a first epoch")
        assert _job(client, job["id"])["eta_s"] is not None
        response = client.post(f"/api/training/{job['id']}/cancel")
        assert response.status_code == 202
        cancelled = _when_state(client, job["id"], "cancelled", "failed", "completed")
        assert cancelled["state"] == "cancelled" and cancelled["cancel_requested"]
        assert client.post(f"/api/training/{job['id']}/cancel").status_code == 409
        assert client.post("/api/training/nope/cancel").status_code == 404


@pytest.mark.slow
def test_a_server_restart_neither_loses_nor_duplicates_jobs(settings: Settings) -> None:
    settings = settings.model_copy(update={"training_max_jobs": 1})
    with running_server(settings) as client:
        first = _start(client, epochs=ENDLESS_EPOCHS)
        second = _start(client, epochs=1)
        first = _when_state(client, first["id"], "running")
        wait_for(lambda: _job(client, first["id"])["epoch"], JOB_TIMEOUT_S, "a first epoch")
        assert _job(client, second["id"])["state"] == "queued"  # one slot: it waits
        pid = _pid(settings, first["id"])
    # the server is gone; the job process is not
    assert process_alive(pid, None)
    with running_server(settings) as client:
        jobs = client.get("/api/training/status").json()
        assert [j["id"] for j in jobs] == [first["id"], second["id"]]
        assert _job(client, first["id"])["state"] == "running"
        assert _pid(settings, first["id"]) == pid  # adopted, not started again
        assert client.post(f"/api/training/{first['id']}/cancel").status_code == 202
        assert _when_state(client, first["id"], "cancelled", "failed")["state"] == "cancelled"
        finished = _when_state(client, second["id"], "completed", "failed")
        assert finished["state"] == "completed", finished["log_tail"]
        log = (Path(settings.state_dir) / "jobs" / second["id"] / "train.log").read_text()
        assert log.count("epoch 1 ") <= 1  # it ran once
        assert len(client.get("/api/training/status").json()) == 2


def _pid(settings: Settings, job_id: str) -> int:
    from cslr.serve.store import Store

    store = Store.open(settings.resolved_database_url)
    job = store.get_job(job_id)
    store.close()
    assert job is not None and job.pid is not None
    return job.pid


def test_data_dir_outside_the_root_is_400(settings: Settings, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (settings.data_root / "link-out").symlink_to(outside, target_is_directory=True)
    with running_server(settings) as client:
        for bad in ("../elsewhere", "tiny/../../elsewhere", str(outside), "link-out", "/etc", "missing"):
            response = client.post("/api/training/start", json={"config": TINY_CONFIG, "data_dir": bad})
            assert response.status_code == 400, (bad, response.text)
        assert client.get("/api/training/status").json() == []  # nothing was queued


def test_bad_requests_are_refused(settings: Settings) -> None:
    with running_server(settings) as client:
        post = client.post
        assert post("/api/training/start", json={"config": {"model": {"no_such_key": 1}}}).status_code == 400
        assert post("/api/training/start", json={"config": "../secrets"}).status_code == 400
        assert post("/api/training/start", json={"config": TINY_CONFIG, "epochs": 0}).status_code == 422
        assert post("/api/training/start", json={"config": TINY_CONFIG, "nproc": 999}).status_code == 400
        assert client.get("/api/training/status", params={"state": "bogus"}).status_code == 400
        assert client.get("/api/training/status/unknown").status_code == 404


def test_confine_accepts_paths_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    assert confine(root, "a/b") == (root / "a" / "b").resolve()
    assert confine(root, str(root / "a")) == (root / "a").resolve()  # absolute, but inside
    for bad in ("", "a/../a", "\x00"):
        with pytest.raises(JobError):
            confine(root, bad)


def test_torchrun_only_when_more_than_one_process() -> None:
    one = build_command(Path("c.yaml"), Path("out"), 1)
    assert one == [sys.executable, "-m", "cslr", "train", "c.yaml", "-o", "out"]
    two = build_command(Path("c.yaml"), Path("out"), 2)
    assert two[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc-per-node=2" in two and "--standalone" in two
    assert two[-6:] == ["-m", "cslr", "train", "c.yaml", "-o", "out"]
