"""Training API: start a job, follow every job's progress, list checkpoints, cancel.

Jobs are separate processes managed by :class:`cslr.serve.jobs.JobManager`; this module only turns HTTP
into manager calls and manager errors into 400 / 404 / 409.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from cslr.serve.jobs import (
    JOB_STATES,
    CheckpointInfo,
    JobConflictError,
    JobError,
    JobManager,
    JobNotFoundError,
    TrainingRequest,
    eta_seconds,
)
from cslr.serve.store import JobRecord

router = APIRouter(prefix="/training", tags=["training"])

MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
Scalar = str | int | float | bool


class TrainingStartIn(BaseModel):
    """A training request. ``config``: the name of a YAML recipe in ``TRAINING_CONFIG_ROOT``, or the recipe
    itself as an object; the other fields override it."""

    config: str | dict[str, Any] | None = Field(default=None, examples=["asl-default"])
    dataset: str | None = Field(default=None, description="data source (config key data.source)")
    data_dir: str | None = Field(default=None, description="data path, inside DATA_ROOT (data.path)")
    epochs: int | None = Field(default=None, ge=1, le=MAX_EPOCHS)
    batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_SIZE)
    learning_rate: float | None = Field(default=None, gt=0, le=10)
    nproc: int = Field(default=1, ge=1, description="processes (torchrun when > 1)")
    overrides: dict[str, Scalar] = Field(default_factory=dict, description="dotted keys, e.g. train.seed")


class JobOut(BaseModel):
    id: str
    state: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    nproc: int
    epoch: int | None
    total_epochs: int
    step: int | None
    loss: float | None
    dev_wer: float | None
    progress: float = Field(description="finished epochs / total epochs")
    eta_s: float | None = Field(description="estimated seconds left (running jobs)")
    cancel_requested: bool
    exit_code: int | None
    error: str | None
    params: dict[str, Any]
    log_tail: str | None = None


class CheckpointOut(BaseModel):
    job_id: str
    name: str
    path: str = Field(description="relative to the server's STATE_DIR")
    size_bytes: int
    modified_at: float
    best: bool


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid request: path outside the data root, bad config"},
    404: {"description": "no such job"},
    409: {"description": "the job is already finished"},
}


def get_jobs(request: Request) -> JobManager:
    """The app's job manager (503 while the database is not open)."""
    manager: JobManager | None = getattr(request.app.state, "jobs", None)
    if manager is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "training jobs are unavailable")
    return manager


JobsDep = Annotated[JobManager, Depends(get_jobs)]


def job_out(job: JobRecord, log_tail: str | None = None) -> JobOut:
    """The API view of a stored job."""
    progress = min(1.0, (job.epoch or 0) / job.total_epochs) if job.total_epochs else 0.0
    return JobOut(
        id=job.id, state=job.state, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, nproc=job.nproc, epoch=job.epoch, total_epochs=job.total_epochs,
        step=job.step, loss=job.loss, dev_wer=job.dev_wer, progress=progress,
        eta_s=eta_seconds(job, time.time()), cancel_requested=job.cancel_requested, exit_code=job.exit_code,
        error=job.error, params=job.params, log_tail=log_tail,
    )


async def _call(fn: Any, *args: Any) -> Any:
    """Run a manager call in a worker thread, mapping its errors to HTTP."""
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except JobError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    except JobNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except JobConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.post("/start", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED, responses=ERRORS)
async def start(body: TrainingStartIn, jobs: JobsDep) -> JobOut:
    """Queue a training job; it starts at once when a slot is free (``TRAINING_MAX_JOBS``)."""
    request = TrainingRequest(**body.model_dump())
    job: JobRecord = await _call(jobs.submit, request)
    return job_out(job)


@router.get("/status", response_model=list[JobOut])
async def list_status(jobs: JobsDep, state: str | None = None) -> list[JobOut]:
    """Every job (optionally only those in ``state``), oldest first."""
    if state is not None and state not in JOB_STATES:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"state must be one of {', '.join(JOB_STATES)}")
    records: list[JobRecord] = await _call(jobs.store.list_jobs, [state] if state else None)
    return [job_out(job) for job in records]


@router.get("/status/{job_id}", response_model=JobOut, responses=ERRORS)
async def job_status(job_id: str, jobs: JobsDep) -> JobOut:
    """One job, with the end of its log."""
    job: JobRecord = await _call(jobs.get, job_id)
    return job_out(job, jobs.log_tail(job))


@router.post("/{job_id}/cancel", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED,
             responses=ERRORS)
async def cancel(job_id: str, jobs: JobsDep) -> JobOut:
    """Cancel a job: a queued one at once, a running one is stopped (state becomes ``cancelled``)."""
    job: JobRecord = await _call(jobs.cancel, job_id)
    return job_out(job)


@router.get("/checkpoints", response_model=list[CheckpointOut])
async def checkpoints(jobs: JobsDep) -> list[CheckpointOut]:
    """Checkpoints written by the jobs, newest first."""
    found: list[CheckpointInfo] = await _call(jobs.checkpoints)
    return [CheckpointOut(**vars(c)) for c in found]
