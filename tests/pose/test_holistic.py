"""Real MediaPipe Holistic on real signing clips (no mocks), serial and parallel, and the extract command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cslr.cli import EXIT_BAD_INPUT, main
from cslr.pose.holistic import HolisticExtractor, extract_video
from cslr.pose.io import load_keypoints
from cslr.pose.keypoints import (
    BODY,
    LEFT_HAND,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NUM_POINTS,
    RIGHT_HAND,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    Keypoints,
)
from cslr.video import VideoError, read_video

CLIPS = ["asl_house.mp4", "asl_different.mp4", "autsl-request-color.mp4", "pose-format-test-video.mp4"]
HAND_WRIST = 0  # index of the wrist inside a hand


def body_found(kp: Keypoints) -> np.ndarray:
    """Bool ``(T,)``: both shoulders seen with visibility > 0.5."""
    return (kp.conf[:, [LEFT_SHOULDER, RIGHT_SHOULDER]] > 0.5).all(axis=1)


def hand_found(kp: Keypoints) -> np.ndarray:
    return (kp.conf[:, LEFT_HAND] > 0).all(axis=1) | (kp.conf[:, RIGHT_HAND] > 0).all(axis=1)


@pytest.fixture(scope="module")
def house_serial(real_video: Path) -> Keypoints:
    return extract_video(real_video, workers=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", CLIPS)
def test_real_clips_find_the_signer(shared_data: Path, name: str) -> None:
    path = shared_data / "video" / name
    if not path.exists():
        pytest.skip(f"{path} missing")
    clip = read_video(path)
    with HolisticExtractor() as extractor:
        kp = extractor.extract(clip.frames, clip.fps)
    assert kp.xyz.shape == (len(clip), NUM_POINTS, 3) and kp.xyz.dtype == np.float32
    assert kp.conf.min() >= 0 and kp.conf.max() <= 1
    assert body_found(kp).mean() > 0.8, "a body in most frames"
    assert hand_found(kp).mean() > 0.25, "a hand while the sign is made"
    head_and_shoulders = kp.xyz[:, : RIGHT_SHOULDER + 1][kp.conf[:, : RIGHT_SHOULDER + 1] > 0.5][:, :2]
    assert ((head_and_shoulders > -0.05) & (head_and_shoulders < 1.05)).all(), "normalised image coordinates"


@pytest.mark.slow
def test_hand_found_while_signing(house_serial: Keypoints) -> None:
    third = len(house_serial) // 3
    middle = hand_found(house_serial)[third : 2 * third]  # HOUSE is signed in the middle of the clip
    assert middle.mean() > 0.7


@pytest.mark.slow
def test_left_is_the_signers_left(house_serial: Keypoints) -> None:
    """Hand points 33-53 belong to the hand at body point 15 (LEFT_WRIST), 54-74 to point 16."""
    for hand, wrist in ((LEFT_HAND, LEFT_WRIST), (RIGHT_HAND, RIGHT_WRIST)):
        seen = house_serial.conf[:, hand.start + HAND_WRIST] > 0
        assert seen.sum() >= 5
        own = house_serial.xyz[seen, hand.start + HAND_WRIST, :2] - house_serial.xyz[seen, wrist, :2]
        assert np.median(np.linalg.norm(own, axis=-1)) < 0.05


def test_blank_and_noise_frames_find_nobody() -> None:
    rng = np.random.default_rng(0)
    frames = [np.zeros((240, 320, 3), np.uint8), rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)]
    with HolisticExtractor() as extractor:
        for frame in frames:
            xyz, conf = extractor.process(frame)
            assert xyz.shape == (NUM_POINTS, 3) and conf.shape == (NUM_POINTS,)
            assert (conf == 0).all()
        empty = extractor.extract([])
    assert len(empty) == 0


def test_process_rejects_wrong_frames() -> None:
    with HolisticExtractor() as extractor:
        with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
            extractor.process(np.zeros((10, 10), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            extractor.process(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(RuntimeError, match="closed"):
        extractor.process(np.zeros((10, 10, 3), np.uint8))


@pytest.mark.slow
def test_parallel_matches_serial(real_video: Path, house_serial: Keypoints) -> None:
    parallel = extract_video(real_video, workers=2)
    assert len(parallel) == len(house_serial) == 73
    assert parallel.fps == house_serial.fps == 25.0
    assert (body_found(parallel) == body_found(house_serial)).mean() > 0.95
    both = (parallel.conf > 0.5) & (house_serial.conf > 0.5)
    assert both[:, BODY].mean() > 0.5
    diff = np.abs(parallel.xyz - house_serial.xyz)[both][:, :2]
    assert np.median(diff) < 0.01 and diff.mean() < 0.03  # only the restart at the boundary differs


@pytest.mark.slow
def test_frame_filters_reach_the_keypoints(real_video: Path) -> None:
    kp = extract_video(real_video, workers=1, frame_skip=2)
    assert len(kp) == 25 and kp.fps == pytest.approx(25.0 / 3)


def test_extract_video_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoError, match="not a video"):
        extract_video(bad, workers=2)
    with pytest.raises(VideoError, match="not found"):
        extract_video(tmp_path / "missing.mp4", workers=1)
    with pytest.raises(ValueError, match="workers"):
        extract_video(bad, workers=0)


@pytest.mark.slow
def test_cli_extract_writes_pose(
    real_video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "house.pose"
    assert main(["extract", str(real_video), "-o", str(out), "--workers", "1", "--frame-skip", "1"]) == 0
    summary = capsys.readouterr().out
    assert "37 frames at 12.5 fps" in summary and "body in" in summary and "a hand in" in summary
    kp = load_keypoints(out)
    assert len(kp) == 37 and body_found(kp).mean() > 0.8


def test_cli_extract_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "x.npz")]) == EXIT_BAD_INPUT
    assert "not found" in capsys.readouterr().err
    assert main(["extract", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "x.csv")]) == EXIT_BAD_INPUT
    assert ".pose or .npz" in capsys.readouterr().err
