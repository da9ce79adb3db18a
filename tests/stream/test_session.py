"""A live Stream over a whole clip gives what the same model gives offline on the clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cslr.pose.keypoints import Keypoints
from cslr.stream.batch import run_streams
from cslr.stream.features import EXACT_LOOKAHEAD
from cslr.stream.recognizer import Recognizer
from cslr.stream.session import Mode, Stream, StreamConfig, StreamResult

from .conftest import tiny_recognizer


def play(
    recognizers: Recognizer,
    streams: list[Stream],
    clips: list[Keypoints],
    step: int,
) -> list[list[StreamResult]]:
    """Feed ``step`` frames at a time to every stream, running the model whenever any is ready."""
    out: list[list[StreamResult]] = [[] for _ in streams]
    longest = max(len(c) for c in clips)
    for start in range(0, longest + step, step):
        for stream, clip in zip(streams, clips, strict=True):
            if start < len(clip):
                stream.accept(clip.xyz[start : start + step], clip.conf[start : start + step])
            elif start - step < len(clip):
                stream.finish()
        _drain(recognizers, streams, out)
    return out


def _drain(recognizer: Recognizer, streams: list[Stream], out: list[list[StreamResult]]) -> None:
    while ready := [s for s in streams if s.is_ready()]:
        results = run_streams(recognizer, ready)
        for i, stream in enumerate(streams):
            out[i].extend(results.get(stream, []))


def final_glosses(results: list[StreamResult]) -> list[str]:
    return [g for r in results if r.kind == "final" for g in r.gloss]


@pytest.mark.parametrize(("stride", "chunk", "step"), [(1, 4, 1), (1, 1, 7), (2, 4, 3), (2, 6, 5)])
def test_chunk_mode_equals_offline_causal(real_clip: Keypoints, stride: int, chunk: int, step: int) -> None:
    recognizer = tiny_recognizer("causal", stride=stride)
    offline = recognizer.recognize(real_clip)
    config = StreamConfig(mode="chunk", chunk_frames=chunk, lookahead_frames=EXACT_LOOKAHEAD)
    stream = Stream(recognizer, config)
    results = play(recognizer, [stream], [real_clip], step)[0]
    assert len(offline.gloss) >= 3, "the seeded model should emit glosses on the real clip"
    assert final_glosses(results) == list(offline.gloss)
    assert results[-1].kind == "final" and results[-1].end
    offline_starts = [s.start for s in offline.segments]
    online_starts = [s.start for r in results if r.kind == "final" for s in r.segments]
    # offline spreads the clip evenly over ceil(T / stride) steps; live steps are exactly stride frames
    np.testing.assert_allclose(online_starts, offline_starts, atol=stride / real_clip.fps)


def test_batched_streams_match_single_streams(real_clip: Keypoints, shared_data) -> None:
    from .conftest import load_real_clip

    other = load_real_clip(shared_data, first=10, count=3)
    recognizer = tiny_recognizer("causal")
    config = StreamConfig(mode="chunk", lookahead_frames=EXACT_LOOKAHEAD)
    pair = [Stream(recognizer, config), Stream(recognizer, config)]
    together = play(recognizer, pair, [real_clip, other], 2)
    alone = [play(recognizer, [Stream(recognizer, config)], [clip], 2)[0] for clip in (real_clip, other)]
    for joint, single in zip(together, alone, strict=True):
        assert final_glosses(joint) == final_glosses(single)
        assert final_glosses(single)


def test_partials_grow_and_endpoint_commits(real_clip: Keypoints) -> None:
    recognizer = tiny_recognizer("causal")
    config = StreamConfig(mode="chunk", chunk_frames=4, lookahead_frames=0, endpoint_frames=8)
    stream = Stream(recognizer, config)
    silence = Keypoints.empty(40)
    clip = Keypoints.concat([real_clip.slice(0, 60), silence])
    results = play(recognizer, [stream], [clip], 4)[0]
    kinds = [r.kind for r in results]
    assert "partial" in kinds and "final" in kinds
    assert all(r.frame >= 0 for r in results)
    assert [r.frame for r in results] == sorted(r.frame for r in results)


def test_window_mode_any_model(real_clip: Keypoints) -> None:
    recognizer = tiny_recognizer("bilstm")
    with pytest.raises(ValueError, match="causal"):
        Stream(recognizer, StreamConfig(mode="chunk"))
    stream = Stream(recognizer, StreamConfig(mode="window", clip_length=64, window_stride=32))
    results = play(recognizer, [stream], [real_clip], 5)[0]
    model_steps = [r for r in results if not r.end]
    assert len(model_steps) == (len(real_clip) - 64) // 32 + 1
    assert final_glosses(results), "windows should have produced glosses"
    starts = [s.start for r in results if r.kind == "final" for s in r.segments]
    assert starts == sorted(starts)


def test_falling_behind_drops_oldest_and_reports(real_clip: Keypoints) -> None:
    recognizer = tiny_recognizer("causal")
    stream = Stream(recognizer, StreamConfig(mode="chunk", lookahead_frames=0, max_pending_frames=20))
    dropped = stream.accept(real_clip.xyz[:50], real_clip.conf[:50])
    assert dropped == 30 and stream.dropped == 30
    results = run_streams(recognizer, [stream])[stream]
    assert results[0].dropped == 30
    assert results[0].frame == 49



@pytest.mark.parametrize("mode", ["chunk", "window"])
def test_onnx_backend_streams_the_same_glosses_as_torch(
    real_clip: Keypoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode
) -> None:
    """BACKEND=onnx serves live streams through the exported graphs (the chunk graph in chunk mode)."""
    pytest.importorskip("onnxruntime")
    from cslr.export.onnx import export_onnx
    from cslr.export.runtime import ChunkState, OnnxRuntimeBackend

    torch_rec = tiny_recognizer("causal", stride=2)
    exported = export_onnx(torch_rec.model, torch_rec.vocab, tmp_path / "m.onnx")
    runtime = OnnxRuntimeBackend(exported.model_path, "cpu", chunk_path=exported.chunk_path)
    onnx_rec = Recognizer(torch_rec.model, torch_rec.vocab, device="cpu", runtime=runtime)
    config = StreamConfig(mode=mode, lookahead_frames=EXACT_LOOKAHEAD)
    by_torch = play(torch_rec, [Stream(torch_rec, config)], [real_clip], 3)[0]

    def no_torch(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ONNX stream ran the PyTorch model")

    onnx_chunks: list[int] = []

    def counted_chunk(features: np.ndarray, state: ChunkState) -> tuple[np.ndarray, ChunkState]:
        onnx_chunks.append(len(features))
        return OnnxRuntimeBackend.forward_chunk(runtime, features, state)

    monkeypatch.setattr(torch_rec.model, "forward", no_torch)
    monkeypatch.setattr(torch_rec.model, "forward_chunk", no_torch)
    monkeypatch.setattr(runtime, "forward_chunk", counted_chunk)
    by_onnx = play(onnx_rec, [Stream(onnx_rec, config)], [real_clip], 3)[0]
    assert len(final_glosses(by_torch)) >= 3
    assert final_glosses(by_onnx) == final_glosses(by_torch)
    assert bool(onnx_chunks) == (mode == "chunk")
