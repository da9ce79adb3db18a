"""Camera frames in, captions out, synchronously: a :class:`Stream` with its own pose extractor (and, for
a model with an RGB stream, the frames themselves).

This is the Python API's live path (:meth:`cslr.inference.InferenceService.process_frame_stream`);
the server uses the same :class:`Stream` and :func:`run_streams`, with the model work batched across
connections by :class:`~cslr.stream.worker.BatchWorker`.
"""

from __future__ import annotations

import numpy as np

from cslr.model.inputs import frames_for
from cslr.pose.holistic import HolisticExtractor
from cslr.stream.batch import run_streams
from cslr.stream.recognizer import Recognizer
from cslr.stream.session import Stream, StreamConfig, StreamResult
from cslr.video import decode_image


class FrameStream:
    """One live video source: RGB frames (or encoded images) → pose → :class:`Stream` → results.

    Args:
        recognizer: the shared recognizer.
        config: stream options (default: chunk mode for a causal model, else window mode).
    """

    def __init__(self, recognizer: Recognizer, config: StreamConfig | None = None) -> None:
        if config is None:
            config = StreamConfig(mode="chunk" if recognizer.model.streamable else "window")
        self.recognizer = recognizer
        self.stream = Stream(recognizer, config)
        self._extractor: HolisticExtractor | None = None

    def push_frame(self, frame: np.ndarray | bytes) -> list[StreamResult]:
        """One frame: uint8 RGB ``(H, W, 3)`` or JPEG/PNG bytes. Returns the results it completed."""
        image = decode_image(frame) if isinstance(frame, bytes | bytearray) else frame
        if self._extractor is None:
            self._extractor = HolisticExtractor()
        xyz, conf = self._extractor.process(image)
        self.stream.accept(xyz[None], conf[None], frames_for(self.recognizer.model.cfg, image[None]))
        return self._run()

    def finish(self) -> list[StreamResult]:
        """End of input: the final result of the last utterance (the stream then starts afresh)."""
        self.stream.finish()
        if self._extractor is not None:
            self._extractor.reset()
        return self._run()

    def _run(self) -> list[StreamResult]:
        out: list[StreamResult] = []
        while self.stream.is_ready():
            out.extend(run_streams(self.recognizer, [self.stream]).get(self.stream, []))
        return out

    def close(self) -> None:
        """Release the pose extractor."""
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None
