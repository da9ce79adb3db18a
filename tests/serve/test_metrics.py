"""Prometheus ``/metrics`` and structured logs, against a real server."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch

from cslr.monitoring import (
    REQUEST_ID,
    JsonFormatter,
    record_dropped_frames,
    stage_timer,
    track_stream,
)
from tests.serve.service_helpers import running_server, service_settings


def _value(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``) in a Prometheus exposition; 0 when absent."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_report_requests_by_route_template(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path)) as client:
        before = client.get("/metrics").text
        for job_id in ("a", "b"):  # two raw paths, one route template
            assert client.get(f"/api/training/status/{job_id}").status_code == 404
        client.get("/api/health")
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    sample = 'cslr_http_requests_total{method="GET",route="/api/training/status/{job_id}",status="404"}'
    assert _value(text, sample) - _value(before, sample) == 2
    assert "/api/training/status/a" not in text  # never the raw path
    count = 'cslr_http_request_duration_seconds_count{method="GET",route="/api/health"}'
    assert _value(text, count) > _value(before, count)
    assert _value(text, "cslr_model_loaded") == 0.0  # started without a model
    for name in ("cslr_active_streams", "cslr_pipeline_stage_seconds", "cslr_dropped_frames_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text


def test_stage_timer_streams_and_dropped_frames_feed_metrics(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    with running_server(service_settings(tmp_path)) as client:
        before = client.get("/metrics").text
        for stage in ("decode", "pose", "model", "ctc", "language"):
            with stage_timer(timings, stage):
                pass
        record_dropped_frames(3, reason="queue_full")
        with track_stream():
            during = client.get("/metrics").text
        after = client.get("/metrics").text
    assert set(timings) == {"decode", "pose", "model", "ctc", "language"}
    for stage in timings:
        sample = f'cslr_pipeline_stage_seconds_count{{stage="{stage}"}}'
        assert _value(after, sample) - _value(before, sample) == 1
    dropped = 'cslr_dropped_frames_total{reason="queue_full"}'
    assert _value(after, dropped) - _value(before, dropped) == 3
    assert _value(during, "cslr_active_streams") == _value(after, "cslr_active_streams") + 1


def test_gpu_metrics_only_with_a_gpu(tmp_path: Path) -> None:
    with running_server(service_settings(tmp_path)) as client:
        text = client.get("/metrics").text
    if torch.cuda.is_available():
        assert _value(text, 'cslr_gpu_memory_total_bytes{gpu="0"}') > 0
        assert 'cslr_gpu_memory_allocated_bytes{gpu="0"}' in text
    else:
        assert "cslr_gpu_" not in text


def test_json_logs_carry_the_request_id() -> None:
    token = REQUEST_ID.set("req-42")
    try:
        record = logging.getLogger("cslr.test").makeRecord(
            "cslr.test", logging.INFO, __file__, 1, "hello %s", ("world",), None, extra={"job_id": "j1"})
        line = JsonFormatter().format(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello world" and entry["request_id"] == "req-42"
    assert entry["level"] == "INFO" and entry["job_id"] == "j1"


def test_access_log_line_per_request(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cslr.serve.access"), \
            running_server(service_settings(tmp_path)) as client:
        request_id = client.get("/api/health").headers["x-request-id"]
    lines = [r for r in caplog.records if r.name == "cslr.serve.access" and r.request_id == request_id]
    assert len(lines) == 1
    assert (lines[0].route, lines[0].status, lines[0].method) == ("/api/health", 200, "GET")
