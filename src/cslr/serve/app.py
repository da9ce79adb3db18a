"""The FastAPI application: ``create_app(settings)``; the model is loaded in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from cslr import __version__
from cslr.inference import InferenceService
from cslr.monitoring import set_model_loaded  # issue 7
from cslr.serve.middleware import install_middleware  # issue 7
from cslr.serve.operations import operations  # issue 7
from cslr.serve.routes import health, inference, metrics, speech, training  # issue 7
from cslr.serve.routes import stream as live_stream  # issue 6
from cslr.serve.settings import Settings, get_settings

log = logging.getLogger("cslr.serve")


def create_app(settings: Settings | None = None, *, load_model: bool = True) -> FastAPI:
    """Build the app. ``load_model=False`` starts without a model (health reports it; predict gives 503)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = None
        app.state.load_error = None
        if load_model:
            try:
                app.state.service = await anyio.to_thread.run_sync(InferenceService.from_settings, settings)
                # first requests should not pay for lazy initialisation (kernels, lexicon, pose workers)
                await anyio.to_thread.run_sync(app.state.service.warm_up)
                log.info("model loaded on %s", app.state.service.recognizer.device)
            except (OSError, ValueError, RuntimeError) as exc:
                app.state.load_error = str(exc)
                log.error("model failed to load: %s", exc)
        set_model_loaded(app.state.service is not None)  # issue 7
        try:
            async with operations(app, settings), live_stream.streaming(app, settings):  # issue 7, issue 6
                yield
        finally:
            if app.state.service is not None:
                app.state.service.close()

    app = FastAPI(
        title="cslr",
        version=__version__,
        description="Continuous sign language recognition: video in, glosses and English out.",
        lifespan=lifespan,
        responses={400: {"description": "malformed request (body that cannot be parsed)"}},
    )
    app.state.settings = settings
    app.include_router(health.router, prefix="/api")
    app.include_router(inference.router, prefix="/api")
    # --- issue 7: training, speech, metrics; request ids, CORS, access checks, size limit, time-out ---
    app.include_router(training.router, prefix="/api")
    app.include_router(speech.router, prefix="/api")
    app.include_router(metrics.router)
    install_middleware(app, settings)
    # --- end issue 7 ---
    # --- issue 6: live captions (WS /api/ws/stream) and the demo page at / ---
    app.include_router(live_stream.router, prefix="/api")
    live_stream.mount_page(app)
    # --- end issue 6 ---
    return app
