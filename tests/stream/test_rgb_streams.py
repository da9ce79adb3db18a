"""Serving models that read video frames (RGB-only and fused pose + RGB), offline and live.

A real signing clip (MediaPipe keypoints and its frames) goes through a seeded two-stream model: live
chunk mode over any split gives the glosses of the offline model, window mode and the synchronous
frame stream work, and keypoints without frames get a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

from cslr.model.inputs import ModelInputs, frame_side, model_frames
from cslr.pose.keypoints import Keypoints
from cslr.stream.features import EXACT_LOOKAHEAD
from cslr.stream.frames import FrameStream
from cslr.stream.session import Stream, StreamConfig, StreamResult

from .conftest import tiny_fused_recognizer
from .test_session import _drain, final_glosses

ROI_SETS = [(), ("left_hand", "right_hand", "face")]


def play_with_frames(stream: Stream, kp: Keypoints, frames: np.ndarray, step: int) -> list[StreamResult]:
    """Feed keypoints and frames ``step`` at a time, then finish; every model step run as it is due."""
    out: list[list[StreamResult]] = [[]]
    for start in range(0, len(kp), step):
        end = start + step
        stream.accept(kp.xyz[start:end], kp.conf[start:end], frames[start:end])
        _drain(stream.recognizer, [stream], out)
    stream.finish()
    _drain(stream.recognizer, [stream], out)
    return out[0]


@pytest.mark.parametrize("rois", ROI_SETS)
@pytest.mark.parametrize("step", [1, 5])
def test_fused_chunk_mode_equals_offline(
    real_video_clip: tuple[Keypoints, np.ndarray], rois: tuple[str, ...], step: int
) -> None:
    kp, video = real_video_clip
    recognizer = tiny_fused_recognizer(rois)
    frames = model_frames(video, frame_side(recognizer.model.cfg))
    assert frames.shape == (len(kp), 3, frame_side(recognizer.model.cfg), frame_side(recognizer.model.cfg))
    offline = recognizer.recognize(kp, frames=frames)
    assert len(offline.gloss) >= 2, "the seeded model should emit glosses on the real clip"
    stream = Stream(recognizer, StreamConfig(mode="chunk", lookahead_frames=EXACT_LOOKAHEAD))
    results = play_with_frames(stream, kp, frames, step)
    assert final_glosses(results) == list(offline.gloss)
    assert results[-1].kind == "final" and results[-1].end


def test_frames_change_the_fused_output(real_video_clip: tuple[Keypoints, np.ndarray]) -> None:
    """The RGB stream is really used: other frames, other log-probabilities."""
    kp, video = real_video_clip
    recognizer = tiny_fused_recognizer()
    frames = model_frames(video, frame_side(recognizer.model.cfg))
    real = recognizer.log_probs(recognizer.inputs_for(kp, frames))
    dark = recognizer.log_probs(recognizer.inputs_for(kp, frames // 4))
    assert real.shape == dark.shape and np.abs(real - dark).max() > 1e-3


def test_rgb_only_window_mode(real_video_clip: tuple[Keypoints, np.ndarray]) -> None:
    kp, video = real_video_clip
    recognizer = tiny_fused_recognizer(streams=("rgb",), temporal="bilstm")
    frames = model_frames(video, frame_side(recognizer.model.cfg))
    config = StreamConfig(mode="window", clip_length=32, window_stride=16)
    results = play_with_frames(Stream(recognizer, config), kp, frames, 4)
    assert results[-1].kind == "final" and results[-1].end
    assert all(r.frame < len(kp) for r in results)
    # the first window is exactly the offline model on the first 32 frames
    first = recognizer.recognize(kp.slice(0, 32), frames=frames[:32])
    partial = next(r for r in results if r.kind == "partial")
    assert list(partial.gloss) == list(first.gloss)


def test_keypoints_alone_are_refused_by_an_rgb_model(real_video_clip: tuple[Keypoints, np.ndarray]) -> None:
    kp, video = real_video_clip
    recognizer = tiny_fused_recognizer()
    with pytest.raises(ValueError, match="reads video frames"):
        Stream(recognizer, StreamConfig(mode="chunk")).accept(kp.xyz[:4], kp.conf[:4])
    with pytest.raises(ValueError, match="reads video frames"):
        recognizer.recognize(kp)
    small = model_frames(video[:3], frame_side(recognizer.model.cfg))
    with pytest.raises(ValueError, match="3 frames for 4"):
        Stream(recognizer, StreamConfig(mode="chunk")).accept(kp.xyz[:4], kp.conf[:4], small)


@pytest.mark.slow
def test_frame_stream_feeds_frames_to_a_fused_model(real_video_clip: tuple[Keypoints, np.ndarray]) -> None:
    """The synchronous camera path (InferenceService.process_frame_stream's core) with a fused model."""
    kp, video = real_video_clip
    recognizer = tiny_fused_recognizer()
    live = FrameStream(recognizer, StreamConfig(mode="chunk", lookahead_frames=EXACT_LOOKAHEAD))
    try:
        results = [r for frame in video for r in live.push_frame(frame)] + live.finish()
    finally:
        live.close()
    assert results[-1].kind == "final" and results[-1].end
    # MediaPipe in a fresh tracker per run gives the same keypoints, so the same glosses as offline
    offline = recognizer.recognize(kp, frames=model_frames(video, frame_side(recognizer.model.cfg)))
    assert final_glosses(results) == list(offline.gloss)


def test_model_inputs_stack_and_validate() -> None:
    a = ModelInputs(features=np.ones((5, 3), np.float32), frames=np.ones((5, 3, 4, 4), np.uint8))
    b = ModelInputs(features=np.ones((2, 3), np.float32), frames=np.ones((2, 3, 4, 4), np.uint8))
    batch, lengths = ModelInputs.stack([a, b])
    assert batch.frames is not None and batch.frames.shape == (2, 5, 3, 4, 4)
    assert lengths.tolist() == [5, 2] and batch.frames[1, 2:].sum() == 0
    assert len(a) == 5 and set(a.arrays()) == {"features", "frames"}
    with pytest.raises(ValueError, match="differ in length"):
        ModelInputs(features=np.ones((5, 3), np.float32), frames=np.ones((4, 3, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="needs features and/or frames"):
        ModelInputs()
    with pytest.raises(ValueError, match="uint8"):
        model_frames(np.ones((2, 8, 8, 3), np.float32), 4)
