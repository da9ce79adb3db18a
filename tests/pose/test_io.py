"""Keypoint files: round trips, every real .pose file, the ISLR parquet layout, and clear failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose

from cslr.pose.io import (
    BODY_COMPONENT,
    LEFT_HAND_COMPONENT,
    RIGHT_HAND_COMPONENT,
    load_keypoints,
    save_keypoints,
)
from cslr.pose.keypoints import LEFT_HAND, NUM_POINTS, Keypoints

HOLISTIC_NAMES = [BODY_COMPONENT, LEFT_HAND_COMPONENT, RIGHT_HAND_COMPONENT]


def sample(num_frames: int = 7, fps: float = 30.0) -> Keypoints:
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.2, 1.0, (num_frames, NUM_POINTS)).astype(np.float32)
    conf[2, LEFT_HAND] = 0.0  # a missing hand
    return Keypoints(rng.uniform(0, 1, (num_frames, NUM_POINTS, 3)), conf, fps)


def assert_same(a: Keypoints, b: Keypoints) -> None:
    assert a.xyz.shape == b.xyz.shape and a.fps == pytest.approx(b.fps)
    np.testing.assert_allclose(a.conf, b.conf, atol=1e-6)
    seen = a.conf > 0
    np.testing.assert_allclose(a.xyz[seen], b.xyz[seen], atol=1e-5)


@pytest.mark.parametrize("suffix", [".npz", ".pose"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    kp = sample()
    path = tmp_path / f"kp{suffix}"
    save_keypoints(kp, path, width=640, height=480)
    assert_same(kp, load_keypoints(path))


def test_pose_file_is_standard_pose_format(tmp_path: Path) -> None:
    path = tmp_path / "kp.pose"
    save_keypoints(sample(), path, width=640, height=480)
    pose = Pose.read(path.read_bytes())
    assert [c.name for c in pose.header.components] == HOLISTIC_NAMES
    assert [len(c.points) for c in pose.header.components] == [33, 21, 21]
    assert pose.header.components[0].points[15] == "LEFT_WRIST"
    assert pose.body.data.shape == (7, 1, NUM_POINTS, 3)
    assert bool(pose.body.data.mask[2, 0, LEFT_HAND].all())  # missing points are masked
    assert float(pose.body.data[0, 0, 0, 0]) > 1.0  # pixels, as pose-format stores them


def _pose_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "pose").rglob("*.pose"))
    if not files:
        pytest.skip("no .pose files in the shared data")
    return files


def test_every_real_pose_file_reads_or_fails_clearly(shared_data: Path) -> None:
    read, refused = 0, 0
    for path in _pose_files(shared_data):
        header = Pose.read(path.read_bytes()).header
        sizes = {c.name: len(c.points) for c in header.components}
        holistic = [sizes.get(n) for n in HOLISTIC_NAMES] == [33, 21, 21]
        if holistic:
            kp = load_keypoints(path)
            assert kp.xyz.shape[1:] == (NUM_POINTS, 3) and len(kp) > 0
            assert kp.detected().mean() > 0.3, path.name  # a body in a good share of frames
            read += 1
        else:
            with pytest.raises(ValueError, match=r"unsupported \.pose layout.*POSE_LANDMARKS"):
                load_keypoints(path)
            refused += 1
    assert read >= 5 and refused >= 1  # mediapipe_long.pose keeps only 8 body points


def test_real_pose_coordinates_are_normalised(shared_data: Path) -> None:
    path = shared_data / "pose" / "example.pose"
    if not path.exists():
        pytest.skip(f"{path} missing")
    kp = load_keypoints(path)
    assert kp.fps == 25.0 and len(kp) == 97
    shoulders = kp.xyz[kp.conf[:, 11] > 0.5][:, 11:13, :2]
    assert ((shoulders > 0) & (shoulders < 1)).all()
    # MediaPipe keeps the subject's left: left-hand wrist (33) near body LEFT_WRIST (15)
    both = (kp.conf[:, 33] > 0) & (kp.conf[:, 15] > 0.5)
    assert both.any()
    gap = np.linalg.norm(kp.xyz[both, 33, :2] - kp.xyz[both, 15, :2], axis=-1)
    assert np.median(gap) < 0.1


def test_openpose_layout_fails_clearly(tmp_path: Path) -> None:
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    component = PoseHeaderComponent(
        "pose_keypoints_2d", [str(i) for i in range(25)], [(0, 1)], [(0, 0, 0)], "XYC"
    )
    header = PoseHeader(0.2, PoseHeaderDimensions(100, 100, 0), [component])
    body = NumPyPoseBody(fps=25, data=np.zeros((3, 1, 25, 2), np.float32), confidence=np.ones((3, 1, 25)))
    path = tmp_path / "openpose.pose"
    with path.open("wb") as file:
        Pose(header, body).write(file)
    with pytest.raises(
        ValueError, match=r"unsupported \.pose layout: found components pose_keypoints_2d\(25\)"
    ):
        load_keypoints(path)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown keypoint file extension"):
        load_keypoints(tmp_path / "kp.csv")
    with pytest.raises(FileNotFoundError):
        load_keypoints(tmp_path / "missing.npz")
    junk = tmp_path / "junk.pose"
    junk.write_bytes(b"not a pose file")
    with pytest.raises(ValueError, match=r"not a readable \.pose"):
        load_keypoints(junk)
    other = tmp_path / "other.npz"
    np.savez(other, data=np.zeros(3))
    with pytest.raises(ValueError, match=r"not a cslr keypoints \.npz"):
        load_keypoints(other)
    with pytest.raises(ValueError, match="cannot write"):
        save_keypoints(sample(), tmp_path / "kp.txt")


def test_islr_parquet_layout(shared_data: Path, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    bundle = shared_data / "keypoints" / "asl-signs-hello-thankyou.npz"
    if not bundle.exists():
        pytest.skip(f"{bundle} missing")
    with np.load(bundle) as data:
        seq = data["data"][data["offsets"][0] : data["offsets"][1]]  # (T, 75, 3), NaN = missing
    rows = {"frame": [], "type": [], "landmark_index": [], "x": [], "y": [], "z": []}
    parts = [("face", None, 468), ("left_hand", 33, 21), ("pose", 0, 33), ("right_hand", 54, 21)]
    for t, frame in enumerate(seq):
        for kind, start, count in parts:
            for i in range(count):
                point = frame[start + i] if start is not None else np.full(3, 0.5)
                rows["frame"].append(100 + t)  # ISLR frame numbers do not start at 0
                rows["type"].append(kind)
                rows["landmark_index"].append(i)
                for axis, value in zip("xyz", point, strict=True):
                    rows[axis].append(float(value))
    path = tmp_path / "seq.parquet"
    pq.write_table(pa.table(rows), path)
    kp = load_keypoints(path)
    assert kp.xyz.shape == seq.shape
    np.testing.assert_array_equal(kp.conf == 0, np.isnan(seq).any(axis=-1))
    seen = kp.conf > 0
    np.testing.assert_allclose(kp.xyz[seen], seq[seen], atol=1e-6)
