"""The model side of the live server: one thread, batching the ready streams of every connection.

Connections call :meth:`BatchWorker.notify` after feeding their :class:`~cslr.stream.session.Stream`;
the worker thread collects every stream that is ready, runs one batched model step for all of them
(:func:`~cslr.stream.batch.run_streams`) and hands each stream's results to that connection's
``deliver`` callback (called on the worker thread; the server forwards it to its event loop). The event
loop never runs the model, and a slow connection only delays its own messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cslr.stream.batch import run_streams
from cslr.stream.recognizer import Recognizer
from cslr.stream.session import Stream, StreamResult

log = logging.getLogger("cslr.stream")
DEFAULT_MAX_BATCH = 64
IDLE_WAIT_S = 0.5

Deliver = Callable[[Stream, list[StreamResult] | Exception], None]


@dataclass
class WorkerStats:
    """Counters for monitoring: model steps run and streams served by them."""

    batches: int = 0
    stream_steps: int = 0
    largest_batch: int = 0


class BatchWorker:
    """Runs model steps for all live streams on one background thread.

    Args:
        recognizer: the shared recognizer.
        max_batch: most streams per model call.
    """

    def __init__(self, recognizer: Recognizer, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self.recognizer = recognizer
        self.max_batch = max_batch
        self.stats = WorkerStats()
        self._pending: dict[Stream, Deliver] = {}
        self._cond = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> BatchWorker:
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._running = True
            self._thread = threading.Thread(target=self._loop, name="cslr-stream-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after the current batch."""
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self, stream: Stream, deliver: Deliver) -> None:
        """``stream`` may be ready: run it soon and pass its results to ``deliver`` (thread-safe)."""
        with self._cond:
            self._pending[stream] = deliver
            self._cond.notify()

    def discard(self, stream: Stream) -> None:
        """Forget a stream whose connection closed."""
        with self._cond:
            self._pending.pop(stream, None)

    def _take(self) -> dict[Stream, Deliver]:
        with self._cond:
            while self._running and not self._pending:
                self._cond.wait(IDLE_WAIT_S)
            taken = dict(list(self._pending.items())[: self.max_batch])
            for stream in taken:
                del self._pending[stream]
            return taken

    def _loop(self) -> None:
        while self._running:
            taken = self._take()
            ready = {s: d for s, d in taken.items() if s.is_ready()}
            if ready:
                self._run(ready)

    def _run(self, ready: dict[Stream, Deliver]) -> None:
        try:
            results = run_streams(self.recognizer, list(ready))
        except Exception as exc:  # one bad batch must not kill the worker: report to its streams
            log.exception("model step failed")
            for stream, deliver in ready.items():
                deliver(stream, exc)
            return
        self.stats.batches += 1
        self.stats.stream_steps += len(ready)
        self.stats.largest_batch = max(self.stats.largest_batch, len(ready))
        for stream, deliver in ready.items():
            deliver(stream, results.get(stream, []))
            if stream.is_ready():  # more input arrived meanwhile (or it was behind): go again
                self.notify(stream, deliver)
