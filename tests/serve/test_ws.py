"""``WS /api/ws/stream`` against a real server on loopback: real keypoints, real JPEG frames, limits."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from cslr.config import ExperimentConfig
from cslr.model.checkpoint import save_checkpoint
from cslr.pose.keypoints import Keypoints
from cslr.serve.settings import Settings
from tests.serve.conftest import LiveServer
from tests.stream.conftest import load_real_clip, tiny_recognizer

RECV_TIMEOUT_S = 60.0


def save_tiny(path: Path, temporal: str) -> Path:
    """A seeded tiny model as a real checkpoint file."""
    recognizer = tiny_recognizer(temporal)
    cfg = ExperimentConfig(model=recognizer.model.cfg)
    return save_checkpoint(path, recognizer.model, cfg, recognizer.vocab)


def settings_for(tmp: Path, temporal: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"checkpoint": save_tiny(tmp / f"{temporal}.pt", temporal), "device": "cpu",
                              "state_dir": tmp / "state", "log_format": "text", "stream_endpoint_ms": 400.0}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def causal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("causal")
    # generous frame queue: these tests send faster than real time and must not lose frames
    server = LiveServer(settings_for(tmp, "causal", stream_max_connections=3, stream_max_message_kb=64,
                                     stream_max_fps=1000.0, stream_max_queued_frames=1000,
                                     stream_max_pose_backlog=1000)).start()
    yield server
    server.stop()


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/api/ws/stream"


async def recv_json(ws: websockets.ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))


async def recv_until(ws: websockets.ClientConnection, kind: str, **match: Any) -> tuple[dict, list[dict]]:
    """Messages up to the first of type ``kind`` (with the given field values); returns it and all seen."""
    seen = []
    while True:
        msg = await recv_json(ws)
        seen.append(msg)
        if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
            return msg, seen


def keypoint_message(clip: Keypoints, i: int, n: int = 1) -> str:
    return json.dumps({"type": "keypoints", "seq": 1000 + i, "xyz": clip.xyz[i : i + n].tolist(),
                       "conf": clip.conf[i : i + n].tolist()})


async def replay(server: LiveServer, clip: Keypoints, fps: float | None = None) -> list[dict]:
    """Send ``clip`` one frame per message (at ``fps``, or as fast as possible), then ``end``."""
    async with websockets.connect(ws_url(server)) as ws:
        ready = await recv_json(ws)
        assert ready["type"] == "ready" and ready["mode"] == "chunk"
        for i in range(len(clip)):
            await ws.send(keypoint_message(clip, i))
            if fps:
                await asyncio.sleep(1 / fps)
        await ws.send(json.dumps({"type": "end"}))
        _, seen = await recv_until(ws, "final", end=True)
        return seen


def test_keypoints_stream_sends_partials_and_finals(causal_server: LiveServer, shared_data: Path) -> None:
    clip = load_real_clip(shared_data)
    seen = asyncio.run(replay(causal_server, clip, fps=100.0))
    finals = [g for m in seen if m["type"] == "final" for g in m["gloss"]]
    partials = [m for m in seen if m["type"] == "partial"]
    assert finals and len(partials) >= 3
    for msg in partials:
        assert msg["latency_ms"] is not None and msg["latency_ms"] >= 0
        assert msg["seq"] == 1000 + msg["frame"]
        assert {"gloss", "sentence", "segments", "timings_ms", "dropped", "utterance"} <= msg.keys()
    assert seen[-1]["dropped"] == 0


def test_exact_lookahead_config_matches_offline_over_ws(causal_server: LiveServer, shared_data: Path) -> None:
    clip = load_real_clip(shared_data)

    async def run() -> list[dict]:
        async with websockets.connect(ws_url(causal_server)) as ws:
            await recv_json(ws)
            await ws.send(json.dumps({"type": "config", "lookahead_frames": 11, "chunk_frames": 4}))
            ready = await recv_json(ws)
            assert ready["type"] == "ready" and ready["lookahead_frames"] == 11
            for i in range(0, len(clip), 5):
                await ws.send(keypoint_message(clip, i, 5))
            await ws.send(json.dumps({"type": "end"}))
            return (await recv_until(ws, "final", end=True))[1]

    seen = asyncio.run(run())
    offline = tiny_recognizer("causal").recognize(clip)
    assert [g for m in seen if m["type"] == "final" for g in m["gloss"]] == list(offline.gloss)


def test_jpeg_frames_base64_and_binary(causal_server: LiveServer, real_video: Path) -> None:
    from cslr.video import read_video

    frames = read_video(real_video, fps=25.0).frames[:30]
    jpegs = [_jpeg(f) for f in frames]

    async def run() -> list[dict]:
        async with websockets.connect(ws_url(causal_server)) as ws:
            await recv_json(ws)
            await ws.send(json.dumps({"type": "config", "send_pose": True}))
            await recv_until(ws, "ready")
            for i, data in enumerate(jpegs):
                if i % 2:
                    await ws.send(data)
                else:
                    await ws.send(json.dumps({"type": "frame", "seq": i,
                                              "data": base64.b64encode(data).decode()}))
            await ws.send(json.dumps({"type": "end"}))
            return (await recv_until(ws, "final", end=True))[1]

    seen = asyncio.run(run())
    poses = [m for m in seen if m["type"] == "pose"]
    assert len(poses) == len(jpegs)
    detected = [np.mean(p["conf"][:33]) for p in poses]
    assert np.mean(detected) > 0.5, "MediaPipe should find the signer in the real clip"
    assert any(m["type"] == "partial" for m in seen)
    assert seen[-1]["dropped"] == 0


@pytest.mark.slow
def test_pose_backlog_skips_frames_and_says_so(tmp_path: Path, real_video: Path) -> None:
    from cslr.video import read_video

    jpegs = [_jpeg(f) for f in read_video(real_video, fps=25.0).frames[:20]]
    settings = settings_for(tmp_path, "causal", stream_max_pose_backlog=2, stream_max_fps=1000.0)
    server = LiveServer(settings).start()
    try:
        async def run() -> list[dict]:
            async with websockets.connect(ws_url(server)) as ws:
                await recv_json(ws)
                for data in jpegs:  # a burst: far faster than pose can run
                    await ws.send(data)
                await ws.send(json.dumps({"type": "end"}))
                return (await recv_until(ws, "final", end=True))[1]

        seen = asyncio.run(run())
    finally:
        server.stop()
    assert any(m["type"] == "warning" and m["code"] == "behind" for m in seen)
    last = seen[-1]
    assert last["dropped_by"]["queue"] > 0 and last["dropped"] >= last["dropped_by"]["queue"]
    assert last["frame"] == len(jpegs) - 1, "skipped frames still count on the time axis"


def _jpeg(frame: np.ndarray) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="JPEG", quality=85)
    return out.getvalue()


def test_bad_messages_get_clear_errors(causal_server: LiveServer) -> None:
    async def run() -> list[dict]:
        async with websockets.connect(ws_url(causal_server)) as ws:
            await recv_json(ws)
            replies = []
            bad_messages = ["not json", *map(json.dumps, [
                {"type": "nope"}, {"type": "keypoints", "xyz": [1]}, {"type": "frame", "data": "%%%"},
                {"type": "config", "x": 1}])]
            for bad in bad_messages:
                await ws.send(bad)
                replies.append(await recv_json(ws))
            await ws.send(b"definitely not a jpeg")
            replies.append(await recv_json(ws))
            return replies

    replies = asyncio.run(run())
    codes = [r.get("code") for r in replies]
    assert codes == ["bad_json", "bad_type", "bad_keypoints", "bad_frame", "bad_config", "bad_frame"]
    assert all(r["type"] in ("error", "warning") and r["message"] for r in replies)


def test_message_size_limit_closes_with_reason(causal_server: LiveServer) -> None:
    async def run() -> tuple[dict, int | None]:
        async with websockets.connect(ws_url(causal_server), max_size=None) as ws:
            await recv_json(ws)
            await ws.send(b"x" * (65 * 1024))
            error = await recv_json(ws)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)
            return error, ws.close_code

    error, code = asyncio.run(run())
    assert error["code"] == "message_too_big" and error["fatal"]
    assert code == 1009


def test_connection_limit(causal_server: LiveServer) -> None:
    async def run() -> dict:
        url = ws_url(causal_server)
        held = [await websockets.connect(url) for _ in range(3)]
        try:
            for ws in held:
                assert (await recv_json(ws))["type"] == "ready"
            async with websockets.connect(url) as extra:
                return await recv_json(extra)
        finally:
            for ws in held:
                await ws.close()

    refused = asyncio.run(run())
    assert refused["type"] == "error" and refused["code"] == "too_many_connections"


def test_slow_client_does_not_block_others(causal_server: LiveServer, shared_data: Path) -> None:
    """A client that never reads must not delay another client's results."""
    clip = load_real_clip(shared_data)

    async def run() -> float:
        async with websockets.connect(ws_url(causal_server), max_queue=1) as stalled:
            await recv_json(stalled)
            for i in range(len(clip)):  # floods it, never reads
                await stalled.send(keypoint_message(clip, i))
            start = time.perf_counter()
            await replay(causal_server, clip.slice(0, 40))
            return time.perf_counter() - start

    assert asyncio.run(run()) < RECV_TIMEOUT_S


@pytest.mark.slow
def test_frame_rate_limit_drops_and_reports(tmp_path: Path, shared_data: Path) -> None:
    clip = load_real_clip(shared_data, count=2)
    server = LiveServer(settings_for(tmp_path, "causal", stream_max_fps=10.0)).start()
    try:
        async def run() -> list[dict]:
            async with websockets.connect(ws_url(server)) as ws:
                await recv_json(ws)
                for i in range(len(clip)):
                    await ws.send(keypoint_message(clip, i))
                await ws.send(json.dumps({"type": "end"}))
                return (await recv_until(ws, "final", end=True))[1]

        seen = asyncio.run(run())
    finally:
        server.stop()
    warnings = [m for m in seen if m["type"] == "warning"]
    assert warnings and warnings[0]["code"] == "rate_limited"
    assert seen[-1]["dropped_by"]["rate"] >= len(clip) - 11


def test_window_mode_with_a_bidirectional_model(tmp_path: Path, shared_data: Path) -> None:
    clip = load_real_clip(shared_data)
    settings = settings_for(tmp_path, "bilstm", stream_max_queued_frames=500, stream_max_fps=1000.0)
    server = LiveServer(settings).start()
    try:
        async def run() -> tuple[dict, list[dict]]:
            async with websockets.connect(ws_url(server)) as ws:
                ready = await recv_json(ws)
                await ws.send(json.dumps({"type": "config", "mode": "chunk"}))
                refusal = await recv_json(ws)
                for i in range(0, len(clip), 8):
                    await ws.send(keypoint_message(clip, i, 8))
                await ws.send(json.dumps({"type": "end"}))
                seen = (await recv_until(ws, "final", end=True))[1]
                return {"ready": ready, "refusal": refusal}, seen

        first, seen = asyncio.run(run())
    finally:
        server.stop()
    assert first["ready"]["mode"] == "window" and not first["ready"]["streamable"]
    assert first["refusal"]["code"] == "mode_unavailable"
    steps = [m for m in seen if m["type"] in ("partial", "final") and not m["end"]]
    assert len(steps) == (len(clip) - 64) // 32 + 1
    assert [m["frame"] for m in steps] == [63 + 32 * i for i in range(len(steps))]
    assert all(m["mode"] == "window" for m in steps)
    assert [g for m in seen if m["type"] == "final" for g in m["gloss"]]


def test_messages_carry_the_schema_fields(causal_server: LiveServer, shared_data: Path) -> None:
    """Every message type documented in docs/stream-protocol.schema.json has its required fields."""
    from tests.conftest import REPO_ROOT

    schema = json.loads((REPO_ROOT / "docs" / "stream-protocol.schema.json").read_text())["$defs"]["server"]
    seen = asyncio.run(replay(causal_server, load_real_clip(shared_data, count=3)))
    by_type = {"partial": "result", "final": "result", "ready": "ready"}
    checked = set()
    for msg in seen:
        name = by_type.get(msg["type"])
        if name:
            missing = set(schema[name]["required"]) - msg.keys()
            assert not missing, f"{msg['type']} lacks {missing}"
            checked.add(msg["type"])
    assert {"partial", "final"} <= checked
