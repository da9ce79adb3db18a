"""``InferenceService.process_frame_stream``: real video frames one at a time, on the streaming core."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cslr.inference import InferenceService
from cslr.serve.settings import Settings
from cslr.stream.session import StreamResult
from cslr.video import read_video

from .conftest import tiny_recognizer

FRAMES = 40


@pytest.mark.slow
def test_process_frame_stream_gives_partials_and_a_final(real_video: Path) -> None:
    service = InferenceService(tiny_recognizer("causal"), Settings(device="cpu", stream_chunk_frames=4))
    frames = read_video(real_video, fps=25.0).frames[:FRAMES]

    async def run() -> list[StreamResult]:
        results, state = await service.process_frame_stream(frames[0])
        for frame in frames[1:]:
            more, state = await service.process_frame_stream(frame, state)
            results += more
        last, state = await service.process_frame_stream(None, state)
        state.close()
        return results + last

    results = asyncio.run(run())
    assert results[-1].kind == "final" and results[-1].end
    partials = [r for r in results if r.kind == "partial"]
    assert len(partials) >= (FRAMES - 4) // 4 - 1
    assert results[-1].frame == FRAMES - 1
