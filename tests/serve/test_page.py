"""The live page in real headless Chromium, with a fake camera playing a real signing clip.

Chromium reads the clip as a ``.y4m`` file (``--use-file-for-fake-video-capture``); the test drives the
page over the Chrome DevTools protocol (websockets + httpx, no extra packages), checks that frames reach
the server and captions appear, and saves a screenshot next to the test's temporary files.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets

from cslr.config import ExperimentConfig
from cslr.model.checkpoint import save_checkpoint
from cslr.serve.settings import Settings
from tests.serve.conftest import LiveServer, free_port
from tests.serve.test_ws import settings_for

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CLIP_SECONDS = 6.0  # of the real clip written to the fake camera file (Chromium loops it)
Y4M_FPS = 25
PAGE_TIMEOUT_S = 90.0
DEVTOOLS_START_S = 30.0
MIN_FRAMES_SENT = 25
MIN_RESULTS = 3
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,800")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")


def write_y4m(video: Path, out: Path, seconds: float = CLIP_SECONDS) -> Path:
    """The first ``seconds`` of ``video`` as a raw YUV4MPEG2 (4:2:0) file at 25 fps."""
    from cslr.video import read_video

    frames = read_video(video, fps=Y4M_FPS).frames[: int(seconds * Y4M_FPS)]
    h, w = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{Y4M_FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + rgb_to_i420(frame[:h, :w]))
    return out


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """BT.601 full-range RGB → planar Y, U, V (chroma averaged over 2x2 blocks)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) * 0.564 + 128.0
    v = (r - y) * 0.713 + 128.0
    half = [(p.reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2).mean(axis=(1, 3))) for p in (u, v)]
    return b"".join(np.clip(p, 0, 255).round().astype(np.uint8).tobytes() for p in (y, *half))


class DevTools:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws, self.ids = ws, count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        await self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture()
def browser(tmp_path: Path, real_video: Path) -> Iterator[int]:
    """Headless Chromium with the fake camera; yields its DevTools port."""
    exe = chromium()
    camera = write_y4m(real_video, tmp_path / "camera.y4m")
    port = free_port()
    profile = Path(tempfile.mkdtemp(prefix="cslr-chromium-", dir=tmp_path))
    proc = subprocess.Popen(
        [exe, *CHROME_FLAGS, f"--use-file-for-fake-video-capture={camera}", f"--user-data-dir={profile}",
         f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def page_ws_url(port: int) -> str:
    deadline = time.monotonic() + DEVTOOLS_START_S
    while time.monotonic() < deadline:
        try:
            pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
            for page in pages:
                if page.get("type") == "page":
                    return str(page["webSocketDebuggerUrl"])
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("Chromium's DevTools endpoint did not come up")


def has_captions(state: dict[str, Any]) -> bool:
    """A final caption is on the page and enough frames went out."""
    return bool(state.get("finals", "").strip()) and state["stats"]["sent"] >= MIN_FRAMES_SENT


def has_results(state: dict[str, Any]) -> bool:
    """The server answered with at least a few results (partial captions)."""
    return bool(state) and state["stats"]["results"] >= MIN_RESULTS


async def drive(
    port: int, url: str, shot: Path, done: Callable[[dict[str, Any]], bool] = has_captions
) -> dict[str, Any]:
    """Open ``url``, wait until ``done(state)``, save a screenshot; returns what the page shows."""
    async with websockets.connect(page_ws_url(port), max_size=None) as ws:
        tools = DevTools(ws)
        await tools.call("Page.enable")
        await tools.call("Page.navigate", url=url)
        state: dict[str, Any] = {}
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        while time.monotonic() < deadline:
            state = await tools.evaluate(
                "window.cslrLive ? {stats: cslrLive.stats, ready: cslrLive.ready, errors: cslrLive.errors,"
                " holistic: cslrLive.holistic !== null,"
                " finals: document.getElementById('finals').textContent,"
                " partial: document.getElementById('partial').textContent,"
                " status: document.getElementById('status').textContent,"
                " timeline: document.getElementById('timeline').children.length} : null"
            ) or {}
            if state and done(state):
                break
            await asyncio.sleep(0.5)
        png = await tools.call("Page.captureScreenshot", format="png")
        shot.write_bytes(base64.b64decode(png["data"]))
        return state


@pytest.mark.slow
def test_page_captions_a_fake_camera(browser: int, tmp_path: Path) -> None:
    server = LiveServer(settings_for(tmp_path, "causal", stream_endpoint_ms=400.0)).start()
    shot = tmp_path / "live-page.png"
    try:
        state = asyncio.run(drive(browser, f"{server.url}/?autostart=1&pose=server", shot))
        worker = server.server.config.app.state.live.worker
    finally:
        server.stop()
    print(f"screenshot: {shot}")
    assert state, "the page did not load its script"
    assert not state["errors"], state["errors"]
    assert state["ready"]["mode"] == "chunk"
    assert state["stats"]["sent"] >= MIN_FRAMES_SENT, state
    assert state["stats"]["poses"] > 0, "no skeletons came back: frames did not reach the server's pose stage"
    assert worker.stats.stream_steps > 0, "no model step ran for the page's stream"
    assert state["stats"]["results"] > 0 and state["finals"].strip(), f"no captions appeared: {state}"
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_page_sends_frames_to_a_model_that_reads_video(browser: int, tmp_path: Path) -> None:
    """A two-stream checkpoint says ``inputs: ["frames"]``; the page then sends camera frames even when
    asked for in-browser pose, and the fused model captions them."""
    from tests.serve.test_rgb_serving import ROIS
    from tests.stream.conftest import tiny_fused_recognizer

    recognizer = tiny_fused_recognizer(ROIS)
    checkpoint = save_checkpoint(tmp_path / "fused.pt", recognizer.model,
                                 ExperimentConfig(model=recognizer.model.cfg), recognizer.vocab)
    settings = Settings(checkpoint=checkpoint, device="cpu", state_dir=tmp_path / "state", log_format="text",
                        stream_endpoint_ms=400.0)
    server = LiveServer(settings).start()
    try:
        state = asyncio.run(drive(browser, f"{server.url}/?autostart=1&pose=browser", tmp_path / "fused.png"))
        worker = server.server.config.app.state.live.worker
    finally:
        server.stop()
    assert state, "the page did not load its script"
    assert state["ready"]["inputs"] == ["frames"]
    assert not state["errors"], state["errors"]  # no frames_required: keypoints were never sent
    assert state["stats"]["poses"] > 0 and worker.stats.stream_steps > 0
    assert state["stats"]["results"] > 0 and state["finals"].strip(), state


@pytest.mark.slow
def test_page_runs_pose_in_the_browser(browser: int, tmp_path: Path) -> None:
    """``pose=browser``: MediaPipe Holistic (the npm build this server serves) runs in the page, which
    sends keypoints, not images; the server never runs pose for it."""
    server = LiveServer(settings_for(tmp_path, "causal", stream_endpoint_ms=400.0)).start()
    try:
        url = f"{server.url}/?autostart=1&pose=browser"
        state = asyncio.run(drive(browser, url, tmp_path / "browser.png", done=has_results))
        worker = server.server.config.app.state.live.worker
    finally:
        server.stop()
    assert state and state["holistic"], f"in-browser MediaPipe did not start: {state.get('status')}"
    assert not state["errors"], state["errors"]
    assert state["stats"]["poses"] == 0  # no server-side pose messages: the keypoints came from the page
    assert worker.stats.stream_steps > 0 and state["stats"]["results"] >= MIN_RESULTS, state
