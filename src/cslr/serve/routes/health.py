"""``GET /api/health``."""

from __future__ import annotations

import torch
from fastapi import APIRouter, Request
from pydantic import BaseModel

from cslr import __version__

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    model_loaded: bool
    gpu_available: bool
    device: str | None
    version: str
    vocabulary: list[str] = []
    error: str | None = None


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """Liveness and model state; ``status`` is ``ok`` when the model is loaded, else ``degraded``."""
    service = getattr(request.app.state, "service", None)
    return Health(
        status="ok" if service is not None else "degraded",
        model_loaded=service is not None,
        gpu_available=torch.cuda.is_available(),
        device=str(service.recognizer.device) if service else None,
        version=__version__,
        vocabulary=list(service.recognizer.vocab.glosses) if service else [],
        error=getattr(request.app.state, "load_error", None),
    )
