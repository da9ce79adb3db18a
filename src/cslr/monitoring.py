"""Per-stage timing of the pipeline, Prometheus metrics and structured logging.

* :func:`stage_timer` adds a stage's wall time to a result's ``timings`` and feeds the
  ``cslr_pipeline_stage_seconds`` histogram (stages: decode, pose, model, ctc, language).
* The live-stream code reports through :func:`stream_opened`, :func:`stream_closed` (or the
  :func:`track_stream` context manager) and :func:`record_dropped_frames`.
* The server reports requests (:func:`observe_request`) and model state (:func:`set_model_loaded`);
  :func:`render_metrics` gives the Prometheus text exposition, GPU figures included when a GPU is present.
* :func:`configure_logging` writes one JSON object per line (or text), each carrying the request id of
  the request being served (:data:`REQUEST_ID`, a context variable, so worker threads inherit it).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

STAGES = ("decode", "pose", "model", "ctc", "language")
MS_PER_S = 1000.0
STAGE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
REQUEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
NO_REQUEST = "-"

REQUEST_ID: ContextVar[str] = ContextVar("cslr_request_id", default=NO_REQUEST)

HTTP_REQUESTS = Counter(
    "cslr_http_requests_total", "HTTP requests answered, by route template, method and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "cslr_http_request_duration_seconds", "HTTP request latency, by route template and method.",
    ["method", "route"], buckets=REQUEST_BUCKETS_S,
)
STAGE_LATENCY = Histogram(
    "cslr_pipeline_stage_seconds", "Wall time of one pipeline stage call.", ["stage"],
    buckets=STAGE_BUCKETS_S,
)
ACTIVE_STREAMS = Gauge("cslr_active_streams", "Live WebSocket recognition streams open now.")
DROPPED_FRAMES = Counter("cslr_dropped_frames_total", "Live frames dropped, not recognised.", ["reason"])
MODEL_LOADED = Gauge("cslr_model_loaded", "1 when the recognition model is loaded and serving, else 0.")
TRAINING_JOBS = Gauge("cslr_training_jobs", "Training jobs in the database, by state.", ["state"])


@contextmanager
def stage_timer(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall time of the ``with`` block, in milliseconds, to ``timings[stage]``.

    Each call is also observed, in seconds, by the ``cslr_pipeline_stage_seconds{stage=...}`` histogram.
    """
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        timings[stage] = timings.get(stage, 0.0) + seconds * MS_PER_S
        STAGE_LATENCY.labels(stage=stage).observe(seconds)


def stream_opened() -> None:
    """A live stream started (call :func:`stream_closed` when it ends)."""
    ACTIVE_STREAMS.inc()


def stream_closed() -> None:
    """A live stream ended."""
    ACTIVE_STREAMS.dec()


@contextmanager
def track_stream() -> Iterator[None]:
    """Count a live stream as active for the duration of the ``with`` block."""
    stream_opened()
    try:
        yield
    finally:
        stream_closed()


def record_dropped_frames(count: int = 1, reason: str = "overload") -> None:
    """``count`` live frames were dropped (``reason``: e.g. ``overload``, ``queue_full``, ``bad_frame``)."""
    if count > 0:
        DROPPED_FRAMES.labels(reason=reason).inc(count)


def set_model_loaded(loaded: bool) -> None:
    """Publish whether the recognition model is loaded."""
    MODEL_LOADED.set(1 if loaded else 0)


def set_training_jobs(counts: dict[str, int], states: Iterable[str]) -> None:
    """Publish how many training jobs are in each of ``states`` (missing ones as 0)."""
    for state in states:
        TRAINING_JOBS.labels(state=state).set(counts.get(state, 0))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered HTTP request and its latency; ``route`` is the template, never the raw path."""
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_LATENCY.labels(method=method, route=route).observe(seconds)


class GPUCollector(Collector):
    """GPU memory (torch's allocator and the device total) and utilisation (NVML through torch), per GPU."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        import torch

        if not torch.cuda.is_available():
            return
        allocated = GaugeMetricFamily("cslr_gpu_memory_allocated_bytes", "GPU memory held by tensors.",
                                      labels=["gpu"])
        reserved = GaugeMetricFamily("cslr_gpu_memory_reserved_bytes", "GPU memory in torch's cache.",
                                     labels=["gpu"])
        total = GaugeMetricFamily("cslr_gpu_memory_total_bytes", "GPU memory on the device.", labels=["gpu"])
        util = GaugeMetricFamily("cslr_gpu_utilization_percent", "GPU busy time over the last sample (NVML).",
                                 labels=["gpu"])
        for index in range(torch.cuda.device_count()):
            gpu = str(index)
            allocated.add_metric([gpu], float(torch.cuda.memory_allocated(index)))
            reserved.add_metric([gpu], float(torch.cuda.memory_reserved(index)))
            total.add_metric([gpu], float(torch.cuda.get_device_properties(index).total_memory))
            percent = _gpu_utilization(index)
            if percent is not None:
                util.add_metric([gpu], percent)
        yield from (allocated, reserved, total, util)


def _gpu_utilization(index: int) -> float | None:
    """Utilisation in percent via NVML (``torch.cuda.utilization``), or None when NVML is unavailable."""
    import torch

    try:
        return float(torch.cuda.utilization(index))
    except Exception:  # pynvml missing or the driver refuses: the figure is optional
        return None


_gpu_collector: GPUCollector | None = None


def enable_gpu_metrics() -> bool:
    """Register the GPU collector once, when a GPU is present; returns whether GPU metrics are exported."""
    global _gpu_collector
    import torch

    if _gpu_collector is None and torch.cuda.is_available():
        _gpu_collector = GPUCollector()
        REGISTRY.register(_gpu_collector)
    return _gpu_collector is not None


def render_metrics() -> bytes:
    """Every metric of this process in the Prometheus text format."""
    return generate_latest(REGISTRY)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, and any ``extra`` fields."""

    RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self.RESERVED and k not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record as ``record.request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_HANDLER_MARK = "_cslr_handler"


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send the ``cslr`` loggers to stderr as JSON lines (``fmt="json"``) or text, with request ids.

    Idempotent: a second call replaces the handler it installed before.
    """
    logger = logging.getLogger("cslr")
    for handler in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
