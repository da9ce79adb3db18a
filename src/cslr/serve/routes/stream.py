"""``WS /api/ws/stream``: live captions from camera frames or client-side keypoints.

One :class:`Connection` per WebSocket owns a :class:`~cslr.stream.session.Stream`; three tasks serve it:
receive (parse, enforce limits, queue), ingest (server-side pose in a thread pool, in order) and send
(a bounded outbox, so a slow client only loses its own stale partial results). The model runs on the
shared :class:`~cslr.stream.worker.BatchWorker` thread, batched across connections. The protocol is
documented in ``docs/streaming.md`` and ``docs/stream-protocol.schema.json``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from cslr.inference import InferenceService
from cslr.model.inputs import frame_side, model_frames
from cslr.pose.holistic import HolisticExtractor
from cslr.pose.keypoints import NUM_POINTS
from cslr.serve.settings import Settings
from cslr.stream.protocol import (
    ControlMsg,
    FrameMsg,
    KeypointsMsg,
    ProtocolError,
    message,
    parse_message,
    pose_message,
)
from cslr.stream.session import Stream, StreamConfig, StreamResult
from cslr.stream.worker import BatchWorker
from cslr.video import VideoError, decode_image

router = APIRouter(tags=["stream"])
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
log = logging.getLogger("cslr.serve.stream")

KILOBYTE = 1024
WS_MESSAGE_TOO_BIG = 1009
WS_INTERNAL_ERROR = 1011
WS_TRY_AGAIN_LATER = 1013
WARNING_INTERVAL_S = 1.0  # at most one warning of each kind per second
SEQ_MEMORY = 1024  # frames whose client seq / arrival time are remembered for results
MS_PER_S = 1000.0


@dataclass
class LiveHub:
    """What all live connections share: the batching worker, the pose threads, the connection count."""

    service: InferenceService
    settings: Settings
    worker: BatchWorker
    pose_pool: ThreadPoolExecutor
    connections: int = 0


@asynccontextmanager
async def streaming(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Lifespan part: start the worker and pose threads when a model is loaded; stop them at shutdown."""
    service: InferenceService | None = getattr(app.state, "service", None)
    app.state.live = None
    if service is None:
        yield
        return
    worker = BatchWorker(service.recognizer, settings.stream_max_batch).start()
    pool = ThreadPoolExecutor(settings.stream_pose_threads, thread_name_prefix="cslr-pose")
    app.state.live = LiveHub(service, settings, worker, pool)
    try:
        yield
    finally:
        worker.stop()
        pool.shutdown(wait=False, cancel_futures=True)


def stream_config(settings: Settings, service: InferenceService, options: dict[str, Any]) -> StreamConfig:
    """The service's live :class:`StreamConfig` overridden by a client's ``config`` options."""
    base = replace(service.stream_config(), max_pending_frames=settings.stream_max_queued_frames)
    mode = options.get("mode", "auto")
    if mode == "chunk" and not service.recognizer.model.streamable:
        raise ProtocolError("mode_unavailable", "chunk mode needs a causal model; this one serves window")
    changes: dict[str, Any] = {"mode": base.mode if mode == "auto" else mode}
    try:
        for key in ("chunk_frames", "lookahead_frames"):
            if key in options:
                changes[key] = int(options[key])
        if "endpoint_ms" in options:
            changes["endpoint_frames"] = max(round(float(options["endpoint_ms"]) / MS_PER_S * base.fps), 1)
        if "sign_language" in options:
            changes["sign_language"] = str(options["sign_language"])
        return replace(base, **changes)
    except (TypeError, ValueError) as exc:
        raise ProtocolError("bad_config", str(exc)) from None


class TokenBucket:
    """Frame-rate limit: ``rate`` frames per second with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate, self.tokens, self.stamp = rate, rate, time.monotonic()

    def take(self, count: int) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True


class Outbox:
    """Messages waiting for a (possibly slow) client; when full, the oldest droppable one goes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: deque[tuple[str, bool]] = deque()
        self.event = asyncio.Event()
        self.dropped = 0

    def put(self, text: str, droppable: bool = True) -> None:
        if len(self.items) >= self.limit:
            for i, (_, can_drop) in enumerate(self.items):
                if can_drop:
                    del self.items[i]
                    self.dropped += 1
                    break
        self.items.append((text, droppable))
        self.event.set()

    async def get(self) -> str:
        while not self.items:
            self.event.clear()
            await self.event.wait()
        return self.items.popleft()[0]


@dataclass
class Item:
    """One input waiting to be ingested in order: an image, keypoints, or a control (``end``)."""

    kind: str
    seq: int | None
    received: float
    data: bytes | None = None
    xyz: np.ndarray | None = None
    conf: np.ndarray | None = None
    config: StreamConfig | None = None


@dataclass
class Drops:
    """Frames that never reached the model, by reason."""

    rate: int = 0  # over the frame-rate limit
    queue: int = 0  # waiting for pose when the queue was full (replaced by an undetected frame)
    bad: int = 0  # undecodable images
    last_warning: dict[str, float] = field(default_factory=dict)


class Connection:
    """One live client."""

    def __init__(self, ws: WebSocket, hub: LiveHub) -> None:
        self.ws, self.hub, self.settings = ws, hub, hub.settings
        self.loop = asyncio.get_running_loop()
        self.session = uuid.uuid4().hex[:12]
        self.outbox = Outbox(self.settings.stream_send_queue)
        self.inbox: deque[Item] = deque()
        self.inbox_event = asyncio.Event()
        self.queued_images = 0
        self.rate = TokenBucket(self.settings.stream_max_fps)
        self.drops = Drops()
        self.options: dict[str, Any] = {}
        self.send_pose = False
        self.stream = Stream(hub.service.recognizer, stream_config(self.settings, hub.service, {}))
        self.arrivals: dict[int, tuple[int | None, float]] = {}
        self.extractor: HolisticExtractor | None = None
        recognizer = hub.service.recognizer
        self.frame_side = frame_side(recognizer.model.cfg)
        self.last_frame: np.ndarray | None = None  # RGB models: stands in for a skipped or bad frame

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        self.send_ready()
        tasks = [asyncio.create_task(self.send_loop()), asyncio.create_task(self.ingest_loop())]
        try:
            await self.receive_loop()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.hub.worker.discard(self.stream)
            if self.extractor is not None:
                self.hub.pose_pool.submit(self.extractor.close)

    def send_ready(self) -> None:
        cfg, s = self.stream.config, self.settings
        self.outbox.put(message(
            "ready", session=self.session, mode=cfg.mode, fps=cfg.fps, chunk_frames=cfg.chunk_frames,
            lookahead_frames=cfg.lookahead_frames, clip_length=cfg.clip_length,
            window_stride=cfg.window_stride,
            endpoint_ms=round(cfg.endpoint_frames / cfg.fps * MS_PER_S), sign_language=cfg.sign_language,
            send_pose=self.send_pose, streamable=self.hub.service.recognizer.model.streamable,
            inputs=["frames"] if self.frame_side is not None else ["frames", "keypoints"],
            vocabulary=list(self.hub.service.recognizer.vocab.glosses),
            limits={"max_message_bytes": int(s.stream_max_message_kb * KILOBYTE),
                    "max_fps": s.stream_max_fps,
                    "max_queued_frames": s.stream_max_queued_frames,
                    "max_pose_backlog": s.stream_max_pose_backlog,
                    "max_connections": s.stream_max_connections},
        ), droppable=False)

    async def send_loop(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.ws.send_text(text)

    # ------------------------------------------------------------------ receiving

    async def receive_loop(self) -> None:
        limit = int(self.settings.stream_max_message_kb * KILOBYTE)
        while True:
            raw = await self.ws.receive()
            if raw["type"] == "websocket.disconnect":
                return
            data: str | bytes = raw["bytes"] if raw.get("bytes") is not None else raw.get("text") or ""
            if len(data) > limit:
                text = f"message of {len(data)} bytes exceeds the limit of {limit} (STREAM_MAX_MESSAGE_KB)"
                await self.close_with_error("message_too_big", text, WS_MESSAGE_TOO_BIG)
                return
            try:
                self.handle(parse_message(data))
            except ProtocolError as exc:
                error = message("error", code=exc.code, message=str(exc), fatal=False)
                self.outbox.put(error, droppable=False)

    def handle(self, msg: FrameMsg | KeypointsMsg | ControlMsg) -> None:
        now = time.perf_counter()
        if isinstance(msg, ControlMsg):
            self.control(msg, now)
        elif isinstance(msg, FrameMsg):
            if self.admit(1):
                self.queue_image(Item("image", msg.seq, now, data=msg.data))
        elif self.frame_side is not None:
            self.outbox.put(message(
                "error", code="frames_required", fatal=False,
                message="this model reads video frames (it has an RGB stream): send camera frames, "
                        "not keypoints"), droppable=False)
        elif self.admit(len(msg.xyz)):
            self.push(Item("keypoints", msg.seq, now, xyz=msg.xyz, conf=msg.conf))

    def admit(self, frames: int) -> bool:
        """Frame-rate limit; rejected frames are counted and warned about."""
        if self.rate.take(frames):
            return True
        self.drops.rate += frames
        self.warn("rate_limited", f"over {self.settings.stream_max_fps:g} frames/s (STREAM_MAX_FPS): "
                  f"{self.drops.rate} frames dropped so far")
        return False

    def queue_image(self, item: Item) -> None:
        """Queue an image for pose; when too many wait, the oldest is replaced by an undetected frame."""
        if self.queued_images >= self.settings.stream_max_pose_backlog:
            oldest = next(i for i in self.inbox if i.kind == "image")
            oldest.kind, oldest.data = "skipped", None
            self.queued_images -= 1
            self.drops.queue += 1
            self.warn("behind", f"server-side pose is behind: {self.drops.queue} frames skipped so far "
                      "(they count as frames without a person)")
        self.queued_images += 1
        self.push(item)

    def push(self, item: Item) -> None:
        self.inbox.append(item)
        self.inbox_event.set()

    def control(self, msg: ControlMsg, now: float) -> None:
        if msg.type == "end":
            self.push(Item("end", None, now))
        elif msg.type == "reset":
            self.inbox.clear()
            self.queued_images = 0
            self.push(Item("reset", None, now))
        else:
            config = stream_config(self.settings, self.hub.service, {**self.options, **msg.options})
            self.options.update(msg.options)
            self.send_pose = bool(self.options.get("send_pose", False))
            self.push(Item("config", None, now, config=config))

    def warn(self, code: str, text: str) -> None:
        now = time.monotonic()
        if now - self.drops.last_warning.get(code, 0.0) >= WARNING_INTERVAL_S:
            self.drops.last_warning[code] = now
            self.outbox.put(message("warning", code=code, message=text, dropped=self.dropped_total()))

    async def close_with_error(self, code: str, text: str, close_code: int) -> None:
        with suppress(Exception):
            await self.ws.send_text(message("error", code=code, message=text, fatal=True))
            await self.ws.close(close_code, reason=code)

    # ------------------------------------------------------------------ ingesting (in order)

    async def ingest_loop(self) -> None:
        while True:
            while not self.inbox:
                self.inbox_event.clear()
                await self.inbox_event.wait()
            item = self.inbox.popleft()
            await self.ingest(item)

    async def ingest(self, item: Item) -> None:
        if item.kind == "image":
            self.queued_images -= 1
            xyz, conf, frame = await self.pose(item)
            self.accept(item, xyz[None], conf[None], frame)
        elif item.kind == "skipped":
            self.accept(item, *_undetected(1), self.stand_in_frame())
        elif item.kind == "keypoints" and item.xyz is not None and item.conf is not None:
            self.accept(item, item.xyz, item.conf)
        elif item.kind == "end":
            self.stream.finish()
            self.hub.worker.notify(self.stream, self.deliver)
        else:  # reset / config: a fresh stream (the old one's late results are ignored)
            self.hub.worker.discard(self.stream)
            self.stream = Stream(self.hub.service.recognizer, item.config or self.stream.config)
            self.arrivals.clear()
            if self.extractor is not None:
                await self.loop.run_in_executor(self.hub.pose_pool, self.extractor.reset)
            self.send_ready()

    async def pose(self, item: Item) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Server-side pose of one image, in the pose threads, and its model frame ``(1, 3, S, S)`` for an
        RGB model (else None); an undecodable image is a lost frame."""
        try:
            return await self.loop.run_in_executor(self.hub.pose_pool, self._pose_sync, item.data)
        except VideoError as exc:
            self.drops.bad += 1
            self.warn("bad_frame", f"frame {item.seq} could not be decoded: {exc}")
            xyz, conf = _undetected(1)
            return xyz[0], conf[0], self.stand_in_frame()

    def _pose_sync(self, data: bytes | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if data is None:
            raise VideoError("no image data")
        if self.extractor is None:
            self.extractor = HolisticExtractor()
        image = decode_image(data)
        xyz, conf = self.extractor.process(image)
        frame = None if self.frame_side is None else model_frames(image[None], self.frame_side)
        return xyz, conf, frame

    def stand_in_frame(self) -> np.ndarray | None:
        """For an RGB model, the frame of a lost image: the last good one (black before any)."""
        if self.frame_side is None:
            return None
        if self.last_frame is None:
            return np.zeros((1, 3, self.frame_side, self.frame_side), np.uint8)
        return self.last_frame

    def accept(self, item: Item, xyz: np.ndarray, conf: np.ndarray, frames: np.ndarray | None = None) -> None:
        first = self.stream.received
        if frames is not None:
            self.last_frame = frames[-1:]
        self.stream.accept(xyz, conf, frames)
        for k in range(len(xyz)):
            seq = None if item.seq is None else item.seq + k
            self.arrivals[first + k] = (first + k if seq is None else seq, item.received)
        if len(self.arrivals) > SEQ_MEMORY:
            for frame in sorted(self.arrivals)[: len(self.arrivals) - SEQ_MEMORY]:
                del self.arrivals[frame]
        if self.send_pose and item.kind == "image":
            self.outbox.put(pose_message(first, item.seq, xyz[0], conf[0]))
        if self.stream.is_ready():
            self.hub.worker.notify(self.stream, self.deliver)

    # ------------------------------------------------------------------ results (from the worker)

    def deliver(self, stream: Stream, results: list[StreamResult] | Exception) -> None:
        """Called on the worker thread: hand the results to the event loop."""
        self.loop.call_soon_threadsafe(self.on_results, stream, results)

    def on_results(self, stream: Stream, results: list[StreamResult] | Exception) -> None:
        if stream is not self.stream:
            return
        if isinstance(results, Exception):
            self.outbox.put(message("error", code="internal", message=f"model step failed: {results}",
                                    fatal=False), droppable=False)
            return
        for result in results:
            self.outbox.put(self.result_message(result), droppable=result.kind == "partial")

    def result_message(self, result: StreamResult) -> str:
        seq, received = self.arrivals.get(result.frame, (None, None))
        body = result.to_dict()
        kind = body.pop("type")
        latency = None if received is None else round((time.perf_counter() - received) * MS_PER_S, 2)
        body.update(seq=seq, latency_ms=latency, mode=self.stream.config.mode,
                    dropped=self.dropped_total(),
                    dropped_by={"rate": self.drops.rate, "queue": self.drops.queue, "bad": self.drops.bad,
                                "model": result.dropped, "messages": self.outbox.dropped})
        return message(kind, **body)

    def dropped_total(self) -> int:
        return self.drops.rate + self.drops.queue + self.drops.bad + self.stream.dropped


def _undetected(frames: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((frames, NUM_POINTS, 3), np.float32), np.zeros((frames, NUM_POINTS), np.float32)


@router.websocket("/ws/stream")
async def stream_ws(ws: WebSocket) -> None:
    """Live captions; see ``docs/streaming.md`` for the messages."""
    await ws.accept()
    hub: LiveHub | None = getattr(ws.app.state, "live", None)
    if hub is None:
        error = getattr(ws.app.state, "load_error", None) or "model not loaded"
        await _refuse(ws, "model_unavailable", f"model unavailable: {error}", WS_INTERNAL_ERROR)
        return
    if hub.connections >= hub.settings.stream_max_connections:
        await _refuse(ws, "too_many_connections", f"the server already serves {hub.connections} live "
                      "connections (STREAM_MAX_CONNECTIONS); try again later", WS_TRY_AGAIN_LATER)
        return
    hub.connections += 1
    try:
        await Connection(ws, hub).run()
    except WebSocketDisconnect:
        pass
    finally:
        hub.connections -= 1


async def _refuse(ws: WebSocket, code: str, text: str, close_code: int) -> None:
    with suppress(Exception):
        await ws.send_text(message("error", code=code, message=text, fatal=True))
        await ws.close(close_code, reason=code)


def mount_page(app: FastAPI) -> None:
    """``GET /``: the live-caption page; ``/static``: its scripts and the vendored MediaPipe build."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
