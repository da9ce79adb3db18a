"""Typed FastAPI dependencies: settings and the shared inference service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from cslr.inference import InferenceService
from cslr.serve.settings import Settings


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> InferenceService:
    """The shared inference service, loaded in the lifespan; 503 while it is not loaded."""
    service: InferenceService | None = getattr(request.app.state, "service", None)
    if service is None:
        error = getattr(request.app.state, "load_error", None) or "model not loaded"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"model unavailable: {error}")
    return service


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ServiceDep = Annotated[InferenceService, Depends(get_service)]
