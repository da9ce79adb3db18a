"""The FastAPI application: ``create_app(settings)``; the model is loaded in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cslr import __version__
from cslr.inference import InferenceService
from cslr.serve.routes import health, inference
from cslr.serve.settings import Settings, get_settings

log = logging.getLogger("cslr.serve")


def create_app(settings: Settings | None = None, *, load_model: bool = True) -> FastAPI:
    """Build the app. ``load_model=False`` starts without a model (health reports it; predict gives 503)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
        app.state.service = None
        app.state.load_error = None
        if load_model:
            try:
                app.state.service = InferenceService.from_settings(settings)
                log.info("model loaded on %s", app.state.service.recognizer.device)
            except (OSError, ValueError, RuntimeError) as exc:
                app.state.load_error = str(exc)
                log.error("model failed to load: %s", exc)
        yield

    app = FastAPI(
        title="cslr",
        version=__version__,
        description="Continuous sign language recognition: video in, glosses and English out.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(health.router, prefix="/api")
    app.include_router(inference.router, prefix="/api")
    return app
