"""``GET /metrics``: every metric of the process in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from cslr.monitoring import METRICS_CONTENT_TYPE, render_metrics, set_model_loaded

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {METRICS_CONTENT_TYPE: {}}}})
def metrics(request: Request) -> Response:
    """Request counts and latencies by route, pipeline stage latencies, live streams, dropped frames, model
    state, training jobs, and GPU memory and utilisation when a GPU is present."""
    set_model_loaded(getattr(request.app.state, "service", None) is not None)
    return Response(content=render_metrics(), media_type=METRICS_CONTENT_TYPE)
