"""A two-stream (pose + RGB) checkpoint served by a real server on loopback: REST upload and live frames.

The served model reads video frames: an upload gives the glosses of the same model run offline on the
clip's keypoints and frames, live JPEG frames give the offline glosses of the frames the server decoded,
and keypoint messages (which carry no frames) get a clear error.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets

from cslr.cli import EXIT_BAD_INPUT, main
from cslr.config import ExperimentConfig
from cslr.model.checkpoint import save_checkpoint
from cslr.model.inputs import frame_side, model_frames
from cslr.pose.holistic import HolisticExtractor
from cslr.serve.settings import Settings
from cslr.stream.features import EXACT_LOOKAHEAD
from cslr.video import decode_image, read_video
from tests.serve.conftest import LiveServer
from tests.serve.test_ws import _jpeg, recv_json, recv_until, ws_url
from tests.stream.conftest import tiny_fused_recognizer

ROIS = ("left_hand", "right_hand", "face")


@pytest.fixture(scope="module")
def fused_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recognizer = tiny_fused_recognizer(ROIS)
    cfg = ExperimentConfig(model=recognizer.model.cfg)
    path = tmp_path_factory.mktemp("fused") / "fused.pt"
    return save_checkpoint(path, recognizer.model, cfg, recognizer.vocab)


@pytest.fixture(scope="module")
def fused_server(fused_checkpoint: Path) -> Iterator[LiveServer]:
    tmp, checkpoint = fused_checkpoint.parent, fused_checkpoint
    settings = Settings(checkpoint=checkpoint, device="cpu", state_dir=tmp / "state", log_format="text",
                        pose_workers=1, stream_endpoint_ms=400.0, stream_max_fps=1000.0,
                        stream_max_queued_frames=1000, stream_max_pose_backlog=1000)
    server = LiveServer(settings).start()
    yield server
    server.stop()


def offline_glosses(frames: np.ndarray) -> list[str]:
    """The served model run on decoded frames ``(T, H, W, 3)``: MediaPipe keypoints plus the frames."""
    recognizer = tiny_fused_recognizer(ROIS)
    with HolisticExtractor() as extractor:
        kp = extractor.extract(iter(frames), 25.0)
    return list(recognizer.recognize(kp, frames=model_frames(frames, frame_side(recognizer.model.cfg))).gloss)


def test_upload_is_recognised_with_its_frames(fused_server: LiveServer, real_video: Path) -> None:
    with httpx.Client(base_url=fused_server.url, timeout=120.0) as client, real_video.open("rb") as fh:
        response = client.post("/api/inference/predict", files={"file": ("clip.mp4", fh, "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = offline_glosses(read_video(real_video, fps=25.0).frames)
    assert len(expected) >= 2 and body["gloss"] == expected
    assert body["frame_count"] == len(read_video(real_video, fps=25.0).frames)


def test_live_jpeg_frames_reach_the_rgb_stream(fused_server: LiveServer, real_video: Path) -> None:
    jpegs = [_jpeg(f) for f in read_video(real_video, fps=25.0).frames]

    async def run() -> tuple[dict, list[dict]]:
        async with websockets.connect(ws_url(fused_server)) as ws:
            ready = await recv_json(ws)
            await ws.send(json.dumps({"type": "config", "lookahead_frames": EXACT_LOOKAHEAD}))
            await recv_until(ws, "ready")
            for data in jpegs:
                await ws.send(data)
            await ws.send(json.dumps({"type": "end"}))
            return ready, (await recv_until(ws, "final", end=True))[1]

    ready, seen = asyncio.run(run())
    assert ready["inputs"] == ["frames"] and ready["mode"] == "chunk"
    finals = [g for m in seen if m["type"] == "final" for g in m["gloss"]]
    expected = offline_glosses(np.stack([decode_image(j) for j in jpegs]))
    assert len(expected) >= 2 and finals == expected
    assert seen[-1]["dropped"] == 0


def test_keypoints_to_an_rgb_model_get_a_clear_error(fused_server: LiveServer) -> None:
    async def run() -> dict:
        async with websockets.connect(ws_url(fused_server)) as ws:
            await recv_json(ws)
            xyz = np.zeros((1, 75, 3)).tolist()
            await ws.send(json.dumps({"type": "keypoints", "xyz": xyz, "conf": np.zeros((1, 75)).tolist()}))
            error, _ = await recv_until(ws, "error")
            await ws.send(json.dumps({"type": "end"}))  # the connection stays usable
            final, _ = await recv_until(ws, "final", end=True)
            assert final["gloss"] == []
            return error

    error = asyncio.run(run())
    assert error["code"] == "frames_required" and not error["fatal"]
    assert "video frames" in error["message"]


def test_cli_recognizes_a_video_with_a_fused_checkpoint(
    fused_checkpoint: Path, real_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["recognize", str(real_video), "--checkpoint", str(fused_checkpoint), "--workers", "1", "--json"]
    assert main(args) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["gloss"] == offline_glosses(read_video(real_video, fps=25.0).frames)


def test_cli_refuses_keypoints_for_a_fused_checkpoint(
    fused_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cslr.pose.io import save_keypoints
    from cslr.pose.keypoints import Keypoints

    path = tmp_path / "clip.npz"
    kp = Keypoints(np.full((30, 75, 3), 0.5, np.float32), np.ones((30, 75), np.float32), 25.0)
    save_keypoints(kp, path)
    assert main(["recognize", str(path), "--checkpoint", str(fused_checkpoint)]) == EXIT_BAD_INPUT
    assert "reads video frames" in capsys.readouterr().err
