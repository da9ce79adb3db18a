"""Keypoint files: our ``.npz``, pose-format ``.pose``, and the Kaggle ISLR ``.parquet`` layout.

- ``.npz`` (ours): arrays ``xyz`` float32 ``(T, 75, 3)``, ``conf`` float32 ``(T, 75)``, ``fps`` scalar.
- ``.pose`` (the sign-language-processing standard, via the ``pose-format`` package): written with the
  components ``POSE_LANDMARKS`` (33), ``LEFT_HAND_LANDMARKS`` (21), ``RIGHT_HAND_LANDMARKS`` (21), named
  as pose-format names MediaPipe Holistic output, in pixels of a ``width`` x ``height`` canvas as
  pose-format stores them. Reading takes those three components from any Holistic ``.pose`` (face and
  world components are ignored; extra dimensions such as a Kinect depth ``K`` are dropped) and person 0.
- ``.parquet`` (read only): Google's ISLR competition layout, one row per landmark with columns
  ``frame, type, landmark_index, x, y, z``; ``type`` in {face, left_hand, pose, right_hand}; NaN = missing.
  Needs ``pyarrow`` (numpy<2 needs ``pyarrow<20``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cslr.pose.keypoints import BODY, DEFAULT_FPS, LEFT_HAND, NUM_POINTS, RIGHT_HAND, Keypoints

PathLike = str | os.PathLike[str]
POSE_CANVAS = 1000  # default width/height (pixels) that normalised coordinates are scaled to in .pose
POSE_FORMAT = "XYZC"  # pose-format point format: x, y, z + a confidence
BODY_COMPONENT, LEFT_HAND_COMPONENT, RIGHT_HAND_COMPONENT = (
    "POSE_LANDMARKS",
    "LEFT_HAND_LANDMARKS",
    "RIGHT_HAND_LANDMARKS",
)
COMPONENT_SLICES = {BODY_COMPONENT: BODY, LEFT_HAND_COMPONENT: LEFT_HAND, RIGHT_HAND_COMPONENT: RIGHT_HAND}
COMPONENT_SIZES = {name: part.stop - part.start for name, part in COMPONENT_SLICES.items()}  # 33, 21, 21
ISLR_TYPE_SLICES = {"pose": BODY, "left_hand": LEFT_HAND, "right_hand": RIGHT_HAND}  # "face" is ignored
NPZ_ARRAYS = ("xyz", "conf", "fps")
KEYPOINT_SUFFIXES = frozenset({".npz", ".pose", ".parquet"})  # extensions load_keypoints reads

# MediaPipe's landmark names and skeleton edges, as pose-format writes them for Holistic files.
BODY_POINT_NAMES = [
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE",
    "RIGHT_ANKLE", "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
]  # fmt: skip
HAND_POINT_NAMES = ["WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP"] + [
    f"{finger}_{joint}"
    for finger in ("INDEX_FINGER", "MIDDLE_FINGER", "RING_FINGER", "PINKY")
    for joint in ("MCP", "PIP", "DIP", "TIP")
]
BODY_LIMBS = [
    (0, 1), (0, 4), (1, 2), (2, 3), (3, 7), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12), (11, 13), (11, 23),
    (12, 14), (12, 24), (13, 15), (14, 16), (15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16, 22),
    (17, 19), (18, 20), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28), (27, 29), (27, 31), (28, 30),
    (28, 32), (29, 31), (30, 32),
]  # fmt: skip
HAND_LIMBS = [
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
]  # fmt: skip
BODY_COLOR, LEFT_HAND_COLOR, RIGHT_HAND_COLOR = (255, 0, 0), (0, 200, 0), (0, 0, 255)


def load_keypoints(path: PathLike, fps: float | None = None) -> Keypoints:
    """Read keypoints from ``.npz`` (ours), ``.pose`` (pose-format) or ``.parquet`` (Kaggle ISLR).

    Args:
        path: the file; its extension picks the reader.
        fps: frame rate for formats that do not store one (``.parquet``; default 25), or an override.

    Returns:
        :class:`Keypoints` with ``xyz (T, 75, 3)`` in normalised image coordinates and ``conf (T, 75)``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown extension, or a file whose content is not a supported layout.
        ImportError: ``.parquet`` without ``pyarrow`` installed.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path.name}: unknown keypoint file extension {path.suffix!r} (use {_known()})")
    if not path.is_file():
        raise FileNotFoundError(f"keypoint file not found: {path}")
    kp = reader(path)
    return kp if fps is None else Keypoints(kp.xyz, kp.conf, fps)


def save_keypoints(
    kp: Keypoints, path: PathLike, width: int = POSE_CANVAS, height: int = POSE_CANVAS
) -> None:
    """Write keypoints as ``.npz`` or ``.pose`` (chosen by the extension).

    Args:
        kp: keypoints ``xyz (T, 75, 3)``, ``conf (T, 75)``.
        path: destination ending in ``.npz`` or ``.pose``.
        width, height: ``.pose`` only: the frame size in pixels (pose-format stores pixel coordinates;
            pass the video's size so pose-format's viewers draw it in place).

    Raises:
        ValueError: unknown extension.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        np.savez_compressed(path, xyz=kp.xyz, conf=kp.conf, fps=np.float64(kp.fps))
    elif suffix == ".pose":
        _save_pose(kp, path, width, height)
    else:
        raise ValueError(f"{path.name}: cannot write keypoints as {suffix!r} (use .npz or .pose)")


# ------------------------------------------------------------------------------------------------- npz


def _load_npz(path: Path) -> Keypoints:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path.name}: unreadable .npz ({exc})") from None
    if not set(NPZ_ARRAYS) <= set(arrays):
        found = sorted(arrays)
        raise ValueError(
            f"{path.name}: not a cslr keypoints .npz (arrays {found}; expected {list(NPZ_ARRAYS)})"
        )
    return Keypoints(arrays["xyz"], arrays["conf"], float(arrays["fps"]))


# ------------------------------------------------------------------------------------------------ pose


def _save_pose(kp: Keypoints, path: Path, width: int, height: int) -> None:
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import VERSION as POSE_VERSION
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    components = [
        PoseHeaderComponent(BODY_COMPONENT, BODY_POINT_NAMES, BODY_LIMBS, [BODY_COLOR], POSE_FORMAT),
        PoseHeaderComponent(
            LEFT_HAND_COMPONENT, HAND_POINT_NAMES, HAND_LIMBS, [LEFT_HAND_COLOR], POSE_FORMAT
        ),
        PoseHeaderComponent(
            RIGHT_HAND_COMPONENT, HAND_POINT_NAMES, HAND_LIMBS, [RIGHT_HAND_COLOR], POSE_FORMAT
        ),
    ]
    header = PoseHeader(POSE_VERSION, PoseHeaderDimensions(width, height, 0), components)
    pixels = kp.xyz * np.array([width, height, 1.0], np.float32)
    missing = np.repeat((kp.conf == 0)[..., None], 3, axis=-1)
    data = np.ma.masked_array(pixels, mask=missing)[:, None]  # (T, 1 person, 75, 3)
    body = NumPyPoseBody(fps=kp.fps, data=data, confidence=kp.conf[:, None])
    with path.open("wb") as file:
        Pose(header, body).write(file)


def _load_pose(path: Path) -> Keypoints:
    from pose_format import Pose

    try:
        pose = Pose.read(path.read_bytes())
    except Exception as exc:  # pose-format raises assorted errors (struct, index, unicode) on bad bytes
        raise ValueError(f"{path.name}: not a readable .pose file ({type(exc).__name__}: {exc})") from None
    offsets = _holistic_offsets(pose.header, path.name)
    data, conf = np.ma.getdata(pose.body.data), np.asarray(pose.body.confidence, np.float32)
    if data.shape[1] == 0:
        raise ValueError(f"{path.name}: the .pose file contains no person")
    mask = np.ma.getmaskarray(pose.body.data)[:, 0].any(axis=-1)  # (T, points)
    xyz = np.zeros((data.shape[0], NUM_POINTS, 3), np.float32)
    out_conf = np.zeros((data.shape[0], NUM_POINTS), np.float32)
    for name, start in offsets.items():
        part, size = COMPONENT_SLICES[name], COMPONENT_SIZES[name]
        xyz[:, part] = data[:, 0, start : start + size, :3]
        out_conf[:, part] = np.where(mask[:, start : start + size], 0.0, conf[:, 0, start : start + size])
    dims = pose.header.dimensions
    scale = np.array([dims.width or 1, dims.height or 1, 1.0], np.float32)
    return Keypoints(xyz / scale, out_conf, float(pose.body.fps) or DEFAULT_FPS)


def _holistic_offsets(header: Any, name: str) -> dict[str, int]:
    """Index of the first point of each needed component in the flat point axis; ValueError if absent."""
    offsets, found, start, sizes = {}, [], 0, COMPONENT_SIZES
    for component in header.components:
        found.append(f"{component.name}({len(component.points)})")
        if sizes.get(component.name) == len(component.points) and len(component.format) >= 4:
            offsets[component.name] = start
        start += len(component.points)
    if len(offsets) != len(sizes):
        expected = ", ".join(f"{k}({v})" for k, v in sizes.items())
        raise ValueError(
            f"{name}: unsupported .pose layout: found components {', '.join(found)}; "
            f"expected the MediaPipe Holistic components {expected}"
        )
    return offsets


# --------------------------------------------------------------------------------------------- parquet


def _load_parquet(path: Path) -> Keypoints:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading .parquet keypoints needs pyarrow: pip install 'pyarrow<20'") from None
    columns = ["frame", "type", "landmark_index", "x", "y", "z"]
    try:
        table = pq.read_table(path, columns=columns)
    except Exception as exc:  # pyarrow raises ArrowInvalid / KeyError for foreign files
        raise ValueError(
            f"{path.name}: not an ISLR landmark parquet with columns {columns} ({exc})"
        ) from None
    frame = table["frame"].to_numpy()
    kind = np.asarray(table["type"].to_pylist(), dtype=object)
    index = table["landmark_index"].to_numpy().astype(np.int64)
    values = np.stack([table[c].to_numpy(zero_copy_only=False) for c in "xyz"], axis=-1).astype(np.float32)
    frames, row_frame = np.unique(frame, return_inverse=True)
    xyz = np.full((len(frames), NUM_POINTS, 3), np.nan, np.float32)
    for type_name, part in ISLR_TYPE_SLICES.items():
        rows = (kind == type_name) & (index >= 0) & (index < part.stop - part.start)
        xyz[row_frame[rows], part.start + index[rows]] = values[rows]
    return Keypoints(xyz, np.ones((len(frames), NUM_POINTS), np.float32), DEFAULT_FPS)  # NaN → conf 0


_READERS = {".npz": _load_npz, ".pose": _load_pose, ".parquet": _load_parquet}


def _known() -> str:
    return ", ".join(sorted(_READERS))
