"""What the app runs beside the model: logging, the database, training-job supervision, metrics state.

:func:`operations` is entered in the app's lifespan: it opens (creating and migrating) the database, puts
the :class:`~cslr.serve.store.Store` and :class:`~cslr.serve.jobs.JobManager` on ``app.state``, and
supervises training jobs every ``TRAINING_POLL_S`` until the app stops. Jobs keep running when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from cslr.monitoring import configure_logging, enable_gpu_metrics
from cslr.serve.jobs import JobManager
from cslr.serve.settings import Settings
from cslr.serve.store import Store

log = logging.getLogger("cslr.serve")


@asynccontextmanager
async def operations(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Open the database and supervise training jobs for the life of the app."""
    configure_logging(settings.log_level, settings.log_format)
    enable_gpu_metrics()
    store = await anyio.to_thread.run_sync(Store.open, settings.resolved_database_url)
    jobs = JobManager(store, settings)
    app.state.store, app.state.jobs = store, jobs
    log.info("database open at schema version %d", store.schema_version())
    supervisor = asyncio.create_task(_supervise(jobs, settings.training_poll_s))
    try:
        yield
    finally:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        store.close()


async def _supervise(jobs: JobManager, interval_s: float) -> None:
    """Call :meth:`JobManager.refresh` every ``interval_s``; a failing pass is logged, never fatal."""
    while True:
        try:
            await anyio.to_thread.run_sync(jobs.refresh)
        except Exception:
            log.exception("training job supervision failed")
        await asyncio.sleep(interval_s)
