"""Training jobs run by the server: separate processes, state in the database, safe across restarts.

A job is a folder ``STATE_DIR/jobs/<id>/`` (``config.yaml``, ``train.log``, ``output/`` with the
checkpoints, ``exit_code``) and a row in ``training_jobs``. Life of a job::

    queued ──claim (atomic UPDATE)──► running ──► completed | failed | cancelled

* The process is ``cslr train config.yaml -o output`` (through ``torchrun --standalone`` when more than
  one process is asked for), in its own session, wrapped by ``sh`` so that its exit status lands in the
  ``exit_code`` file even when no server is watching. It outlives a server restart.
* :meth:`JobManager.refresh` is one supervision pass: it reads progress, finalises jobs whose process
  ended, and starts queued jobs while this host runs fewer than ``TRAINING_MAX_JOBS``. After a restart the
  same pass adopts the jobs still running (pid plus the process start time, so a reused pid is not
  mistaken for the job), so a restart neither loses a job nor starts it twice.
* ``data_dir`` and named configs are confined to ``DATA_ROOT`` and ``TRAINING_CONFIG_ROOT``
  (:func:`confine`): ``..``, absolute paths elsewhere and symlinks leading out are refused.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cslr.config import (
    ConfigError,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    save_config,
)
from cslr.monitoring import set_training_jobs
from cslr.serve.settings import Settings
from cslr.serve.store import JobRecord, Store

log = logging.getLogger("cslr.serve.jobs")

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "queued", "running", "completed", "failed", "cancelled"
JOB_STATES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
FINISHED_STATES = frozenset({COMPLETED, FAILED, CANCELLED})
JOBS_FOLDER = "jobs"
CONFIG_FILE = "config.yaml"
LOG_FILE = "train.log"
OUTPUT_FOLDER = "output"
EXIT_FILE = "exit_code"
CHECKPOINT_SUFFIX = ".pt"
PROGRESS_FILES = ("metrics.jsonl", "metrics.json")
CANCEL_GRACE_S = 10.0  # SIGTERM first; SIGKILL to the process group after this
LAUNCH_GRACE_S = 30.0  # a running job without a pid for longer than this never started
LOG_TAIL_BYTES = 4000
CONFIG_SUFFIXES = (".yaml", ".yml")
EPOCH_LINE = re.compile(r"epoch (\d+) loss ([-+0-9.eE]+|nan|inf) dev WER ([-+0-9.eE]+|-)")
# sh wrapper: run the command, then record its exit status atomically next to the job.
EXIT_WRAPPER = '"$@"; code=$?; printf "%s" "$code" > "$CSLR_EXIT_FILE.tmp" && mv "$CSLR_EXIT_FILE.tmp" ' \
    '"$CSLR_EXIT_FILE"; exit "$code"'


class JobError(ValueError):
    """A request that cannot become a job (bad path, bad config): HTTP 400."""


class JobNotFoundError(LookupError):
    """No job with this id: HTTP 404."""


class JobConflictError(RuntimeError):
    """The job is in a state that forbids the action (e.g. cancelling a finished job): HTTP 409."""


@dataclass(frozen=True)
class TrainingRequest:
    """What a client asks for; every field optional but the defaults of the named or inline config."""

    config: str | Mapping[str, Any] | None = None
    dataset: str | None = None
    data_dir: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    nproc: int = 1
    overrides: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Progress:
    """The latest figures a job's files show."""

    epoch: int | None = None
    step: int | None = None
    loss: float | None = None
    dev_wer: float | None = None


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint file written by a job."""

    job_id: str
    name: str
    path: str
    size_bytes: int
    modified_at: float
    best: bool


def confine(root: Path, user_path: str, what: str = "data_dir") -> Path:
    """Resolve ``user_path`` (relative to ``root``, or absolute) and make sure it stays inside ``root``.

    Raises :class:`JobError` for ``..`` components, paths that do not exist, and paths that end up
    outside ``root`` once symlinks are resolved.
    """
    if not user_path or "\x00" in user_path:
        raise JobError(f"{what} must be a non-empty path")
    candidate = Path(user_path)
    if ".." in candidate.parts:
        raise JobError(f"{what} may not contain '..'")
    base = root.resolve()
    try:
        resolved = (candidate if candidate.is_absolute() else base / candidate).resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise JobError(f"{what} {user_path!r} does not exist under the configured root") from exc
    if not resolved.is_relative_to(base):
        raise JobError(f"{what} {user_path!r} is outside the configured root")
    return resolved


def build_command(config: Path, output: Path, nproc: int) -> list[str]:
    """The training command: ``cslr train`` in this interpreter, through torchrun when ``nproc > 1``."""
    train = ["-m", "cslr", "train", str(config), "-o", str(output)]
    if nproc <= 1:
        return [sys.executable, *train]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return [*launcher, *train]


def process_start_marker(pid: int) -> str | None:
    """The process start time (clock ticks since boot, from ``/proc``), None when unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat; fields[0] here is field 3


def process_alive(pid: int, marker: str | None) -> bool:
    """Whether ``pid`` is still the job's process (reaps it when it is our finished child)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return _signal_alive(pid) if not Path("/proc/self").exists() else False
    if state in ("Z", "X"):
        return False
    return marker is None or process_start_marker(pid) == marker


def _signal_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_progress(job_dir: Path) -> Progress:
    """Latest epoch, step, loss and dev WER from the job's metrics files, else from its log."""
    output = job_dir / OUTPUT_FOLDER
    for name in PROGRESS_FILES:
        records = _metric_records(output / name)
        if records:
            return _progress_from_record(records[-1])
    return _progress_from_log(job_dir / LOG_FILE)


def _metric_records(path: Path) -> list[dict[str, Any]]:
    """Per-epoch records of ``metrics.jsonl`` (one JSON object a line) or ``metrics.json`` (``history``)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    if path.suffix == ".jsonl":
        records = []
        for line in text.splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line being written right now
        return [r for r in records if isinstance(r, dict)]
    try:
        history = json.loads(text).get("history", [])
    except (json.JSONDecodeError, AttributeError):
        return []
    return [r for r in history if isinstance(r, dict)]


def _progress_from_record(record: Mapping[str, Any]) -> Progress:
    loss = record.get("train_loss", record.get("loss"))
    wer = record.get("dev_wer", record.get("wer"))
    return Progress(
        epoch=_as_int(record.get("epoch")), step=_as_int(record.get("step")),
        loss=float(loss) if isinstance(loss, int | float) else None,
        dev_wer=float(wer) if isinstance(wer, int | float) else None,
    )


def _progress_from_log(path: Path) -> Progress:
    matches = EPOCH_LINE.findall(_tail(path, 64 * LOG_TAIL_BYTES))
    if not matches:
        return Progress()
    epoch, loss, wer = matches[-1]
    return Progress(epoch=int(epoch), loss=float(loss), dev_wer=None if wer == "-" else float(wer))


def _as_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _tail(path: Path, size: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def eta_seconds(job: JobRecord, now: float) -> float | None:
    """Remaining time of a running job, from the time its finished epochs took."""
    if job.state != RUNNING or not job.started_at or not job.epoch or job.epoch <= 0:
        return None
    per_epoch = (now - job.started_at) / job.epoch
    return max(0.0, per_epoch * (job.total_epochs - job.epoch))


class JobManager:
    """Creates, supervises and cancels training jobs on this host (thread-safe)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.host = socket.gethostname()
        self.jobs_dir = settings.state_dir / JOBS_FOLDER
        self._lock = threading.RLock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._term_sent: dict[str, float] = {}

    # --- requests -------------------------------------------------------------------------------------
    def submit(self, request: TrainingRequest) -> JobRecord:
        """Validate ``request``, write the job's config, queue it, and start it when a slot is free."""
        if not 1 <= request.nproc <= self.settings.training_max_nproc:
            raise JobError(f"nproc must be between 1 and {self.settings.training_max_nproc}")
        cfg = self._build_config(request)
        job_id = uuid.uuid4().hex
        job_dir = self.jobs_dir / job_id
        job_dir.mkdir(parents=True)
        save_config(cfg, job_dir / CONFIG_FILE)
        params = {k: v for k, v in _request_dict(request).items() if v not in (None, {})}
        job = JobRecord(id=job_id, state=QUEUED, host=self.host, params=params,
                        job_dir=str(job_dir.resolve()), nproc=request.nproc, total_epochs=cfg.train.epochs,
                        created_at=time.time())
        self.store.insert_job(job)
        log.info("training job %s queued", job_id, extra={"job_id": job_id})
        self.refresh()
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord:
        """The job, or :class:`JobNotFoundError`."""
        job = self.store.get_job(job_id)
        if job is None:
            raise JobNotFoundError(f"no training job {job_id!r}")
        return job

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued job at once; ask a running one to stop (SIGTERM, SIGKILL after a grace time)."""
        with self._lock:
            job = self.get(job_id)
            if job.state in FINISHED_STATES:
                raise JobConflictError(f"job {job_id} is already {job.state}")
            if self.store.update_job(job_id, expect_state=QUEUED, state=CANCELLED, cancel_requested=True,
                                     finished_at=time.time()):
                return self.get(job_id)
            self.store.update_job(job_id, cancel_requested=True)
            job = self.get(job_id)
            if job.host == self.host and job.pid:
                self._signal(job, signal.SIGTERM)
            self.refresh()
            return self.get(job_id)

    def checkpoints(self) -> list[CheckpointInfo]:
        """Every checkpoint file of every job, newest first."""
        found = []
        state_dir = self.settings.state_dir.resolve()
        for job in self.store.list_jobs():
            output = Path(job.job_dir) / OUTPUT_FOLDER
            for path in sorted(output.glob(f"*{CHECKPOINT_SUFFIX}")):
                stat = path.stat()
                found.append(CheckpointInfo(
                    job_id=job.id, name=path.name, path=str(path.relative_to(state_dir)),
                    size_bytes=stat.st_size, modified_at=stat.st_mtime, best=path.stem.startswith("best"),
                ))
        return sorted(found, key=lambda c: c.modified_at, reverse=True)

    def log_tail(self, job: JobRecord) -> str:
        """The last few KB of the job's log."""
        return _tail(Path(job.job_dir) / LOG_FILE, LOG_TAIL_BYTES)

    # --- supervision ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """One supervision pass: progress, finished processes, cancellations, queued jobs to start."""
        with self._lock:
            for job in self.store.list_jobs([RUNNING]):
                if job.host == self.host:
                    self._check_running(job)
            self._start_queued()
            self._publish_counts()

    def _check_running(self, job: JobRecord) -> None:
        if job.pid is None:
            if time.time() - (job.started_at or 0.0) > LAUNCH_GRACE_S:
                self._finish(job, FAILED, "the job was claimed but its process never started")
            return
        self._update_progress(job)
        if self._alive(job):
            if job.cancel_requested:
                self._escalate_cancel(job)
            return
        code = _read_exit_code(Path(job.job_dir))
        if job.cancel_requested:
            self._finish(job, CANCELLED, None, code)
        elif code == 0:
            self._finish(job, COMPLETED, None, code)
        elif code is None:
            self._finish(job, FAILED, "the process ended without an exit status (killed?)", code)
        else:
            self._finish(job, FAILED, f"training exited with status {code}; see the log", code)

    def _alive(self, job: JobRecord) -> bool:
        assert job.pid is not None
        child = self._children.get(job.id)
        if child is not None:
            if child.poll() is None:
                return True
            del self._children[job.id]
            return False
        return process_alive(job.pid, job.pid_start)

    def _update_progress(self, job: JobRecord) -> None:
        progress = read_progress(Path(job.job_dir))
        changes = {k: v for k, v in vars(progress).items() if v is not None and getattr(job, k) != v}
        if changes:
            self.store.update_job(job.id, **changes)

    def _finish(self, job: JobRecord, state: str, error: str | None, code: int | None = None) -> None:
        self._update_progress(job)
        self.store.update_job(job.id, state=state, error=error, exit_code=code, finished_at=time.time())
        self._term_sent.pop(job.id, None)
        log.info("training job %s %s", job.id, state, extra={"job_id": job.id, "exit_code": code})

    def _start_queued(self) -> None:
        running = sum(1 for j in self.store.list_jobs([RUNNING]) if j.host == self.host)
        for job in self.store.list_jobs([QUEUED]):
            if running >= self.settings.training_max_jobs:
                return
            if self._launch(job):
                running += 1

    def _launch(self, job: JobRecord) -> bool:
        """Claim ``job`` (no other server can) and start its process; False when someone else claimed it."""
        if not self.store.update_job(job.id, expect_state=QUEUED, state=RUNNING, host=self.host,
                                     started_at=time.time()):
            return False
        job_dir = Path(job.job_dir)
        command = build_command(job_dir / CONFIG_FILE, job_dir / OUTPUT_FOLDER, job.nproc)
        env = {**os.environ, "CSLR_EXIT_FILE": str(job_dir / EXIT_FILE), "PYTHONUNBUFFERED": "1"}
        try:
            with (job_dir / LOG_FILE).open("ab") as log_file:
                child = subprocess.Popen(
                    ["/bin/sh", "-c", EXIT_WRAPPER, "cslr-train-job", *command], stdin=subprocess.DEVNULL,
                    stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                )
        except OSError as exc:
            self._finish(job, FAILED, f"could not start the training process: {exc}")
            return False
        self._children[job.id] = child
        self.store.update_job(job.id, pid=child.pid, pid_start=process_start_marker(child.pid))
        log.info("training job %s started (pid %d)", job.id, child.pid, extra={"job_id": job.id})
        return True

    def _signal(self, job: JobRecord, sig: signal.Signals) -> None:
        assert job.pid is not None
        if not self._alive(job):
            return
        try:
            os.killpg(job.pid, sig)  # the job leads its own session: this reaches torchrun's workers too
        except ProcessLookupError:
            return
        if sig == signal.SIGTERM:
            self._term_sent.setdefault(job.id, time.monotonic())

    def _escalate_cancel(self, job: JobRecord) -> None:
        sent = self._term_sent.get(job.id)
        if sent is None:
            self._signal(job, signal.SIGTERM)
        elif time.monotonic() - sent > CANCEL_GRACE_S:
            self._signal(job, signal.SIGKILL)

    def _publish_counts(self) -> None:
        counts: dict[str, int] = {}
        for job in self.store.list_jobs():
            counts[job.state] = counts.get(job.state, 0) + 1
        set_training_jobs(counts, JOB_STATES)

    # --- configs --------------------------------------------------------------------------------------
    def _build_config(self, request: TrainingRequest) -> ExperimentConfig:
        """Named or inline config, then the request's fields as dotted overrides."""
        overrides: dict[str, Any] = dict(request.overrides or {})
        named = {"train.epochs": request.epochs, "train.batch_size": request.batch_size,
                 "train.lr": request.learning_rate, "data.source": request.dataset}
        overrides.update({k: v for k, v in named.items() if v is not None})
        if request.data_dir is not None:
            overrides["data.path"] = str(confine(self.settings.data_root, request.data_dir))
        try:
            return apply_overrides(self._base_config(request.config), overrides)
        except (ConfigError, TypeError) as exc:
            raise JobError(f"invalid training config: {exc}") from exc

    def _base_config(self, config: str | Mapping[str, Any] | None) -> ExperimentConfig:
        if config is None:
            return ExperimentConfig()
        if isinstance(config, Mapping):
            try:
                return config_from_dict(config)
            except (ConfigError, TypeError) as exc:
                raise JobError(f"invalid training config: {exc}") from exc
        name = config if config.endswith(CONFIG_SUFFIXES) else f"{config}{CONFIG_SUFFIXES[0]}"
        path = confine(self.settings.training_config_root, name, what="config")
        try:
            return load_config(path)
        except (ConfigError, TypeError) as exc:
            raise JobError(f"invalid training config {config!r}: {exc}") from exc


def _read_exit_code(job_dir: Path) -> int | None:
    try:
        return int((job_dir / EXIT_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _request_dict(request: TrainingRequest) -> dict[str, Any]:
    data = {k: getattr(request, k) for k in TrainingRequest.__dataclass_fields__}
    data["overrides"] = dict(request.overrides or {})
    if isinstance(request.config, Mapping):
        data["config"] = dict(request.config)
    return data
