"""Live-stream load and latency on loopback: N WebSocket clients replaying real signing at 25 fps.

Starts the real server (uvicorn, a separate process, so its CPU and memory can be read from /proc),
then for each N opens N clients that each send one frame every 40 ms and prints:

* frame-to-result latency p50 / p95 / p99 (client clock: from sending the newest frame a result covers
  to receiving that result), frames dropped, server CPU (% of one core) and peak RSS;
* separately, the same with real JPEG frames (server-side MediaPipe pose);
* the partial-caption latency after the end of a sign, chunk mode vs window mode: from sending a
  sign's last frame to the first result that has seen it (``covered``), and to the first caption that
  shows a gloss for it (``gloss``; needs a trained model that knows the sign).

Examples::

    .venv/bin/python bench/stream_latency.py                      # the bundled (trained, causal) model
    .venv/bin/python bench/stream_latency.py --checkpoint runs/asl-causal/best.pt --clients 1 8 32
    .venv/bin/python bench/stream_latency.py --skip-jpeg --seconds 6
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websockets

from cslr.model.checkpoint import default_checkpoint_path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CSLR_SHARED_DATA", REPO.parent / "shared" / "data"))
FPS = 25.0
FRAME_S = 1.0 / FPS
DEFAULT_CLIENTS = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_JPEG_CLIENTS = (1, 2, 4)
SERVER_START_S = 120.0
WARMUP_FRAMES = 50  # results for the first 2 s of each client are not counted (pose graph start-up)
DRAIN_S = 3.0
PAD_FRAMES = 25  # still frames before and after a sign in the caption-latency test
CAPTION_TRIALS = 6
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------- inputs


def real_keypoints(sequences: int = 12) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Real ISLR signing (hello / thankyou): ``xyz (T, 75, 3)``, ``conf (T, 75)`` and sign spans."""
    data = np.load(DATA / "keypoints" / "asl-signs-hello-thankyou.npz")
    offsets = data["offsets"]
    xyz = data["data"][offsets[0] : offsets[sequences]]
    conf = np.where(np.isnan(xyz).any(axis=-1), 0.0, 1.0).astype(np.float32)
    spans = [(int(offsets[i] - offsets[0]), int(offsets[i + 1] - offsets[0])) for i in range(sequences)]
    return np.nan_to_num(xyz), conf, spans


def keypoint_messages(xyz: np.ndarray, conf: np.ndarray) -> list[str]:
    """One pre-encoded JSON message per frame (``{seq}`` filled in per send)."""
    out = []
    for x, c in zip(xyz, conf, strict=True):
        text = json.dumps({"type": "keypoints", "seq": -1, "xyz": np.round(x, 5).tolist(),
                           "conf": c.tolist()})
        out.append(text.replace('"seq": -1', '"seq": {seq}'))
    return out


def real_jpegs(limit: int = 100) -> list[bytes]:
    """JPEG frames of a real signing clip at 25 fps."""
    from PIL import Image

    from cslr.video import read_video

    out = []
    for frame in read_video(DATA / "video" / "asl_house.mp4", fps=FPS).frames[:limit]:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=80)
        out.append(buf.getvalue())
    return out


# ---------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``cslr`` served by uvicorn in a child process; CPU and RSS read from /proc."""

    def __init__(self, checkpoint: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.state = tempfile.mkdtemp(prefix="cslr-bench-")
        code = ("import uvicorn; from cslr.serve.app import create_app; "
                f"uvicorn.run(create_app(), host='127.0.0.1', port={self.port}, log_level='warning')")
        full_env = {**os.environ, "CHECKPOINT": str(checkpoint), "DEVICE": "cpu", "STATE_DIR": self.state,
                    "LOG_LEVEL": "WARNING", **env}
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=full_env)
        self.url = f"ws://127.0.0.1:{self.port}/api/ws/stream"

    def wait(self) -> Server:
        import httpx

        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=2).json()["model_loaded"]:
                    return self
            except (httpx.HTTPError, KeyError, ValueError):
                time.sleep(0.3)
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# ---------------------------------------------------------------------------------------- clients


@dataclass
class ClientStats:
    latencies_ms: list[float] = field(default_factory=list)
    dropped: int = 0
    results: int = 0
    errors: list[str] = field(default_factory=list)


async def run_client(url: str, frames: list, seconds: float, config: dict, start_at: float) -> ClientStats:
    """Send ``frames`` (looped) at 25 fps for ``seconds``; time every result against its frame."""
    stats, sent = ClientStats(), {}
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "config", **config}))
        await ws.recv()
        reader = asyncio.create_task(read_results(ws, sent, stats))
        total = int(seconds * FPS)
        await asyncio.sleep(max(start_at - time.perf_counter(), 0))
        t0 = time.perf_counter()
        for i in range(total):
            frame = frames[i % len(frames)]
            sent[i] = time.perf_counter()
            await ws.send(frame.replace("{seq}", str(i)) if isinstance(frame, str) else frame)
            await asyncio.sleep(max(t0 + (i + 1) * FRAME_S - time.perf_counter(), 0))
        await asyncio.sleep(DRAIN_S)
        reader.cancel()
    return stats


async def read_results(ws: websockets.ClientConnection, sent: dict[int, float], stats: ClientStats) -> None:
    async for raw in ws:
        msg = json.loads(raw)
        if msg["type"] in ("partial", "final"):
            stats.results += 1
            stats.dropped = msg["dropped"]
            seq = msg.get("seq")
            if seq is not None and seq in sent and seq >= WARMUP_FRAMES:
                stats.latencies_ms.append((time.perf_counter() - sent[seq]) * 1000.0)
        elif msg["type"] == "error":
            stats.errors.append(msg["code"])


async def load_run(url: str, frames: list, clients: int, seconds: float, config: dict) -> list[ClientStats]:
    start_at = time.perf_counter() + 0.5
    # spread the clients over one frame interval, as independent cameras would be
    starts = [start_at + FRAME_S * i / clients for i in range(clients)]
    tasks = [run_client(url, frames, seconds, config, start) for start in starts]
    return await asyncio.gather(*tasks)


def measure(server: Server, frames: list, clients: int, seconds: float, config: dict) -> dict:
    cpu0, wall0 = server.cpu_seconds(), time.perf_counter()
    stats = asyncio.run(load_run(server.url, frames, clients, seconds, config))
    cpu = (server.cpu_seconds() - cpu0) / (time.perf_counter() - wall0) * 100
    lat = np.concatenate([s.latencies_ms for s in stats] + [[]]) if stats else np.zeros(0)
    lat = lat if lat.size else np.full(1, np.nan)
    return {"clients": clients, "p50": np.percentile(lat, 50), "p95": np.percentile(lat, 95),
            "p99": np.percentile(lat, 99), "results": sum(s.results for s in stats),
            "dropped": sum(s.dropped for s in stats), "sent": int(seconds * FPS) * clients,
            "cpu": cpu, "rss": server.rss_mb(), "errors": sorted({e for s in stats for e in s.errors})}


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'N':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'results':>8} {'dropped':>8} {'of sent':>8} "
          f"{'CPU %':>7} {'RSS MB':>7}  errors")
    for r in rows:
        print(f"{r['clients']:>4} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} {r['results']:>8} "
              f"{r['dropped']:>8} {r['sent']:>8} {r['cpu']:>7.0f} {r['rss']:>7.0f}  {','.join(r['errors'])}")


# ---------------------------------------------------------------------------------------- caption latency


async def caption_latency(url: str, xyz: np.ndarray, conf: np.ndarray, span: tuple[int, int],
                          mode: str) -> tuple[float | None, float | None]:
    """One sign between still frames at 25 fps: ms from its last frame to (covered, first gloss)."""
    a, b = span
    idx = [a] * PAD_FRAMES + list(range(a, b)) + [b - 1] * PAD_FRAMES * 3
    sign_end = PAD_FRAMES + (b - a) - 1  # stream index of the sign's last frame
    messages = keypoint_messages(xyz[idx], conf[idx])
    covered = gloss = None
    end_sent: float | None = None
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "config", "mode": mode}))
        await ws.recv()

        async def reader() -> None:
            nonlocal covered, gloss
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] not in ("partial", "final") or end_sent is None:
                    continue
                now = (time.perf_counter() - end_sent) * 1000.0
                if covered is None and msg["frame"] >= sign_end:
                    covered = now
                if gloss is None and msg["gloss"]:
                    gloss = now

        task = asyncio.create_task(reader())
        t0 = time.perf_counter()
        for i, text in enumerate(messages):
            await ws.send(text.replace("{seq}", str(i)))
            if i == sign_end:
                end_sent = time.perf_counter()
            await asyncio.sleep(max(t0 + (i + 1) * FRAME_S - time.perf_counter(), 0))
        await asyncio.sleep(DRAIN_S)
        task.cancel()
    return covered, gloss


def caption_table(server: Server, xyz: np.ndarray, conf: np.ndarray, spans: list) -> None:
    print("\nPartial caption after the end of a sign (ms from its last frame; median over "
          f"{CAPTION_TRIALS} real signs; 'gloss' needs a trained model)")
    print(f"{'mode':>7} {'covered':>9} {'gloss':>9}  (gloss found in)")
    for mode in ("chunk", "window"):
        runs = [asyncio.run(caption_latency(server.url, xyz, conf, s, mode)) for s in spans[:CAPTION_TRIALS]]
        covered = [c for c, _ in runs if c is not None]
        glossed = [g for _, g in runs if g is not None]
        med = lambda v: f"{np.median(v):9.0f}" if v else f"{'-':>9}"  # noqa: E731
        print(f"{mode:>7} {med(covered)} {med(glossed)}  ({len(glossed)}/{len(runs)})")


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="causal checkpoint (default: the bundled model)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(DEFAULT_CLIENTS))
    parser.add_argument("--jpeg-clients", type=int, nargs="+", default=list(DEFAULT_JPEG_CLIENTS))
    parser.add_argument("--seconds", type=float, default=8.0, help="streaming time per N")
    parser.add_argument("--mode", default="chunk", choices=["chunk", "window"])
    parser.add_argument("--skip-jpeg", action="store_true")
    parser.add_argument("--skip-captions", action="store_true")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"real data not found at {DATA}; set CSLR_SHARED_DATA")
    checkpoint = args.checkpoint or default_checkpoint_path()
    env = {"STREAM_MAX_CONNECTIONS": str(max(args.clients + args.jpeg_clients) + 2)}
    server = Server(checkpoint, env).wait()
    print(f"server pid {server.proc.pid}, model {checkpoint}, {os.cpu_count()} CPUs, mode {args.mode}")
    try:
        xyz, conf, spans = real_keypoints()
        kp_frames = keypoint_messages(xyz, conf)
        rows = [measure(server, kp_frames, n, args.seconds, {"mode": args.mode}) for n in args.clients]
        print_table("Client-side keypoints (JSON), 25 fps per client", rows)
        if not args.skip_jpeg:
            jpegs = real_jpegs()
            rows = [measure(server, jpegs, n, args.seconds, {"mode": args.mode}) for n in args.jpeg_clients]
            print_table("JPEG frames (server-side MediaPipe pose), 25 fps per client", rows)
        if not args.skip_captions:
            caption_table(server, xyz, conf, spans)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
