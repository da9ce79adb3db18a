"""cslr.video on videos encoded here with PyAV (every container/codec), real clips, and bad input."""

from __future__ import annotations

import io
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cslr.video import (
    Clip,
    TruncatedVideoWarning,
    VideoError,
    decode_image,
    iter_video,
    probe_video,
    read_frame_folder,
    read_video,
    resample_frames,
)

SIZE = 64  # synthetic frames are SIZE x SIZE
LEVEL_STEP = 4  # grey level of frame i is LEVEL_STEP * i, so a decoded frame tells its source index
CODECS = {  # extension → (codec, pixel format)
    ".mp4": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".avi": ("mjpeg", "yuvj420p"),
    ".mov": ("libx264", "yuv420p"),
}


def _frame(index: int) -> np.ndarray:
    return np.full((SIZE, SIZE, 3), LEVEL_STEP * index, np.uint8)


def _index_of(frame: np.ndarray) -> int:
    return round(float(frame.mean()) / LEVEL_STEP)


def encode(path: Path, num_frames: int, fps: int, times: list[float] | None = None) -> Path:
    """Write a ``num_frames`` clip whose frame i is uniformly grey ``4 * i``; ``times`` gives VFR pts."""
    codec, pix_fmt = CODECS[path.suffix]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = SIZE
        stream.pix_fmt = pix_fmt
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(_frame(i), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_every_container_decodes_at_25_fps(tmp_path: Path, suffix: str) -> None:
    path = encode(tmp_path / f"clip{suffix}", num_frames=30, fps=30)  # 1 s
    clip = read_video(path)
    assert isinstance(clip, Clip)
    assert clip.frames.shape == (25, SIZE, SIZE, 3) and clip.frames.dtype == np.uint8
    assert clip.fps == 25.0 and clip.source_fps == pytest.approx(30.0)
    np.testing.assert_allclose(clip.timestamps, np.arange(25) / 25.0)
    expected = [int(k * 30 / 25 + 1e-6) for k in range(25)]  # frame on screen at k / 25 s
    assert [_index_of(f) for f in clip.frames] == expected


@pytest.mark.parametrize(("source_fps", "num_frames"), [(30, 60), (50, 100), (25, 50), (15, 30)])
def test_resampling_to_25_fps_keeps_the_duration(tmp_path: Path, source_fps: int, num_frames: int) -> None:
    path = encode(tmp_path / "clip.mp4", num_frames, source_fps)  # 2 s each
    assert len(read_video(path)) == 50
    assert len(read_video(path, fps=None)) == num_frames
    assert len(read_video(path, fps=10.0)) == 20


def test_variable_frame_rate_is_picked_by_timestamp(tmp_path: Path) -> None:
    times = [0.0, 0.01, 0.02, 0.2, 0.21, 0.5, 0.9, 0.95, 0.96, 0.97]  # bursts and holes
    clip = read_video(encode(tmp_path / "vfr.mp4", len(times), 30, times=times))
    grid = np.arange(len(clip)) / 25.0
    expected = [int(np.searchsorted(times, t + 1e-6, side="right")) - 1 for t in grid]
    assert [_index_of(f) for f in clip.frames] == expected
    assert 0.97 < clip.duration < 1.1  # the last frame lasts one mean frame interval (~0.1 s)


def test_bytes_and_streaming_match_the_file(tmp_path: Path) -> None:
    path = encode(tmp_path / "clip.webm", 20, 25)
    from_file = read_video(path)
    np.testing.assert_array_equal(read_video(path.read_bytes()).frames, from_file.frames)
    np.testing.assert_array_equal(np.stack(list(iter_video(path))), from_file.frames)


def test_frame_skip_and_motion_threshold(tmp_path: Path) -> None:
    path = encode(tmp_path / "clip.mp4", 50, 25)
    assert len(read_video(path, frame_skip=1)) == 25
    assert read_video(path, frame_skip=1).fps == 12.5
    assert len(read_video(path, frame_skip=4)) == 10
    # consecutive frames differ by LEVEL_STEP grey levels: a threshold above that keeps every other one
    assert len(read_video(path, motion_threshold=LEVEL_STEP / 2)) == 50
    assert len(read_video(path, motion_threshold=LEVEL_STEP * 1.5)) == 25


def test_static_video_keeps_only_the_first_frame_with_motion_filter(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(_frame(3)).save(folder / f"f{i}.png")
    assert len(read_frame_folder(folder, motion_threshold=1.0)) == 1
    assert len(read_frame_folder(folder)) == 10


def test_frame_folder_natural_order_and_fps(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):  # frame2 must come before frame10
        Image.fromarray(_frame(i)).save(folder / f"frame{i}.png")
    (folder / "notes.txt").write_text("ignored")
    clip = read_frame_folder(folder)
    assert [_index_of(f) for f in clip.frames] == list(range(12))
    assert len(read_frame_folder(folder, fps=25.0, source_fps=50.0)) == 6
    assert len(read_video(folder)) == 12  # read_video accepts a folder too


def test_decode_image_jpeg_and_png() -> None:
    rgb = np.zeros((8, 12, 3), np.uint8)
    rgb[..., 0] = 200  # pure red survives JPEG approximately
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format=fmt)
        out = decode_image(buffer.getvalue())
        assert out.shape == (8, 12, 3) and out.dtype == np.uint8
        assert abs(int(out[..., 0].mean()) - 200) < 8 and out[..., 1].mean() < 8


def test_decode_image_refuses_bad_data() -> None:
    with pytest.raises(VideoError, match="empty"):
        decode_image(b"")
    with pytest.raises(VideoError, match="not a decodable image"):
        decode_image(b"GIF? no, just text")
    buffer = io.BytesIO()
    Image.new("L", (5000, 10)).save(buffer, format="PNG")  # tiny file, absurd width
    with pytest.raises(VideoError, match="exceed the limit"):
        decode_image(buffer.getvalue())


def test_resample_frames_by_time() -> None:
    frames = [_frame(i) for i in range(30)]
    assert len(resample_frames(frames, 30.0, 25.0)) == 25
    assert len(resample_frames(frames, 15.0, 25.0)) == 50
    assert resample_frames(frames, 25.0, 25.0)[7] is frames[7]


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.mp4", b"", "empty file"),
        ("notes.mp4", b"plain text, not a video\n" * 50, "not a video"),
        ("clip.xyz", b"abc", "unsupported file type"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, name: str, content: bytes, needle: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(VideoError, match=needle):
        read_video(path)


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "nope.mp4")
    (tmp_path / "frames").mkdir()
    with pytest.raises(VideoError, match="no frames"):
        read_video(tmp_path / "frames")
    with pytest.raises(VideoError, match="no frames"):
        read_frame_folder(tmp_path / "frames")
    with pytest.raises(VideoError, match="empty"):
        read_video(b"")


def test_video_error_is_a_value_error() -> None:
    assert issubclass(VideoError, ValueError)


def test_size_and_duration_limits(tmp_path: Path) -> None:
    path = encode(tmp_path / "clip.mp4", 50, 25)
    with pytest.raises(VideoError, match="exceed the limit"):
        read_video(path, max_side=32)
    with pytest.raises(VideoError, match="over the limit"):
        read_video(path, max_seconds=1.0)
    with pytest.raises(VideoError, match="fps must be positive"):
        read_video(path, fps=0.0)


def test_truncated_real_clip_keeps_the_decodable_frames(real_video: Path, tmp_path: Path) -> None:
    data = real_video.read_bytes()  # its index (moov) is at the start, so the first half still decodes
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(TruncatedVideoWarning, match="truncated"):
        clip = read_video(path)
    assert 0 < len(clip) < len(read_video(real_video))


def test_truncated_clip_without_index_fails_clearly(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "video" / "asl_different.mp4").read_bytes()  # index (moov) at the end
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated/corrupt"):
        read_video(path)


# ------------------------------------------------------------------------------------------ real clips


@pytest.mark.parametrize(
    ("name", "size", "frames_at_25"),
    [
        ("asl_house.mp4", (240, 320), 73),
        ("asl_different.mp4", (240, 320), 54),  # 29.97 fps source
        ("autsl-request-color.mp4", (512, 512), 36),  # MPEG-4 part 2, 30 fps
        ("pose-format-test-video.mp4", (720, 540), 49),
    ],
)
def test_real_clips(shared_data: Path, name: str, size: tuple[int, int], frames_at_25: int) -> None:
    path = shared_data / "video" / name
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedVideoWarning)  # intact files must not warn
        clip = read_video(path)
    assert clip.frames.shape == (frames_at_25, *size, 3)
    info = probe_video(path)
    assert (info.height, info.width) == size
    assert abs(info.estimated_frames() - frames_at_25) <= 1
    assert clip.frames.std() > 10  # real pictures, not blank frames
