"""The frame cache of the RGB and fused models: every corpus item's video frames, resized once.

``cslr extract DATASET -o CACHE --frames SIZE`` (:func:`cslr.data.extraction.extract_dataset`) stores,
beside each item's keypoints ``CACHE/<id>.npz``, its frames as uint8 ``(T, 3, SIZE, SIZE)`` in
``CACHE/frames-SIZE/<id>.npy``. Both are decoded at 25 fps from the same source (the video file or frame
folder of :attr:`cslr.data.corpora.CorpusItem.frames_source`), so they have the same number of frames;
:func:`load_item_video` checks it. Training and ``cslr eval`` open the frames with
``np.load(mmap_mode="r")``: a batch reads only its own frames from disk, and memory stays bounded
whatever the size of the corpus.

The side a recipe needs is :func:`cslr.model.inputs.frame_side`: ``model.rgb_size``, or twice that with
``model.rgb_rois`` (the face and hand crops are cut from the full frame, which then keeps more detail).
Frames are resized by :func:`cslr.model.inputs.model_frames`, the function serving uses too, and squashed
to a square: the RGB stream resizes every frame to ``rgb_size x rgb_size`` anyway, and ROI boxes are in
normalised image coordinates, so they cover the same region of a squashed frame.

Disk (and page cache) per hour of video at 25 fps: ``25 * 3600 * 3 * SIZE**2`` bytes, i.e. 0.28 GB at
32 px, 1.1 GB at 64 px, 4.4 GB at 128 px, 13.5 GB at 224 px, 54.2 GB at 448 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cslr.data.corpora import CorpusItem, cache_name

if TYPE_CHECKING:
    from cslr.data.rgb import VideoSentence

FRAMES_DIR = "frames-{side}"  # inside the keypoint cache, one folder per frame size
FRAMES_SUFFIX = ".npy"
CHANNELS = 3
NPY_MAGIC = b"\x93NUMPY\x01\x00"  # .npy format version 1.0: a 2-byte little-endian header length follows
NPY_ALIGN = 64  # .npy headers end on a multiple of this
MAX_FRAMES_DIGITS = 12  # the header's room for the frame count, reserved before it is known


class FrameFileWriter:
    """Writes frames ``(3, S, S)`` uint8 to a ``.npy`` file one at a time, holding none in memory.

    The header is written first with room for a frame count of up to :data:`MAX_FRAMES_DIGITS` digits and
    rewritten with the real count by :meth:`close`; ``np.load`` (memory-mapped too) reads the result as
    ``(T, 3, S, S)``.
    """

    def __init__(self, path: str | Path, side: int) -> None:
        self.path, self.side, self.count = Path(path), side, 0
        self.header_size = len(self._header(10**MAX_FRAMES_DIGITS - 1))
        self._file = self.path.open("wb")
        self._file.write(b"\0" * self.header_size)

    def _header(self, frames: int, size: int | None = None) -> bytes:
        """The .npy header of ``frames`` frames, space-padded to ``size`` bytes (or to the alignment)."""
        shape = (frames, CHANNELS, self.side, self.side)
        text = repr({"descr": "|u1", "fortran_order": False, "shape": shape})
        base = len(NPY_MAGIC) + 2 + len(text) + 1  # + the closing newline
        total = size if size is not None else -(-base // NPY_ALIGN) * NPY_ALIGN
        body = (text + " " * (total - base) + "\n").encode("latin1")
        return NPY_MAGIC + len(body).to_bytes(2, "little") + body

    def append(self, frame: np.ndarray) -> None:
        """Add one frame ``(3, side, side)`` uint8."""
        if frame.shape != (CHANNELS, self.side, self.side) or frame.dtype != np.uint8:
            raise ValueError(f"expected a uint8 {(CHANNELS, self.side, self.side)} frame, got {frame.shape}")
        self._file.write(np.ascontiguousarray(frame).tobytes())
        self.count += 1

    def close(self) -> Path:
        """Write the real frame count into the header and close the file."""
        if not self._file.closed:
            self._file.seek(0)
            self._file.write(self._header(self.count, self.header_size))
            self._file.close()
        return self.path


def frames_dir(cache_dir: str | Path, side: int) -> Path:
    """The folder of the ``side x side`` frames in a keypoint cache."""
    return Path(cache_dir) / FRAMES_DIR.format(side=side)


def frames_path(cache_dir: str | Path, item_id: str, side: int) -> Path:
    """Where an item's ``side x side`` frames live in the cache (same name as its keypoints, ``.npy``)."""
    return frames_dir(cache_dir, side) / (cache_name(item_id).removesuffix(".npz") + FRAMES_SUFFIX)


def extract_command(dataset: str | Path, cache_dir: str | Path, side: int) -> str:
    """The ``cslr extract`` command that fills a cache with keypoints and ``side x side`` frames."""
    return f"cslr extract {dataset} -o {cache_dir} --frames {side}"


def missing_items(items: Sequence[CorpusItem], cache_dir: str | Path, side: int) -> list[str]:
    """Ids of the items whose frames (or, for videos and frame folders, keypoints) are not cached."""
    cache = Path(cache_dir)
    return [
        item.id
        for item in items
        if not frames_path(cache, item.id, side).is_file()
        or (not item.is_keypoints and not (cache / cache_name(item.id)).is_file())
    ]


def load_item_frames(item: CorpusItem, cache_dir: str | Path, side: int) -> np.ndarray:
    """An item's cached frames, memory-mapped: uint8 ``(T, 3, side, side)``.

    Raises:
        FileNotFoundError: not extracted yet (the message gives the ``cslr extract`` command).
        ValueError: the file holds something else than frames of this size.
    """
    path = frames_path(cache_dir, item.id, side)
    if not path.is_file():
        raise FileNotFoundError(
            f"no {side}x{side} frames for {item.id} in {path.parent}: "
            f"run `{extract_command('<dataset>', cache_dir, side)}` first"
        )
    frames = np.load(path, mmap_mode="r")
    if frames.dtype != np.uint8 or frames.shape[1:] != (CHANNELS, side, side):
        raise ValueError(
            f"{path}: expected uint8 frames (T, {CHANNELS}, {side}, {side}), "
            f"got {frames.dtype} {frames.shape}"
        )
    return frames


def load_item_video(item: CorpusItem, cache_dir: str | Path, side: int) -> VideoSentence:
    """An item's keypoints (at 25 fps) and memory-mapped frames as a :class:`~cslr.data.rgb.VideoSentence`.

    Raises:
        ValueError: frames and keypoints differ in length (not extracted from the same source at 25 fps).
    """
    from cslr.data.datasets import load_item_keypoints
    from cslr.data.rgb import VideoSentence

    kp = load_item_keypoints(item, Path(cache_dir))
    frames = load_item_frames(item, cache_dir, side)
    if len(frames) != len(kp):
        raise ValueError(
            f"{item.id}: {len(frames)} cached frames but {len(kp)} frames of keypoints; both must be "
            f"taken from {item.frames_source} at 25 fps: delete {frames_path(cache_dir, item.id, side)} "
            "(and the item's keypoints, if they were made elsewhere) and run `cslr extract` again"
        )
    return VideoSentence(kp, frames, item.glosses)


def load_corpus_videos(
    items: Sequence[CorpusItem], cache_dir: str | Path, side: int, dataset: str | Path
) -> list[VideoSentence]:
    """:func:`load_item_video` of every item; a missing cache is one error naming the command to run.

    Raises:
        FileNotFoundError: some items have no cached frames or keypoints.
    """
    missing = missing_items(items, cache_dir, side)
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(items)} items have no {side}x{side} frame cache in "
            f"{frames_dir(cache_dir, side)} (first: {missing[0]}); RGB and fused models read their frames "
            f"from there: run `{extract_command(dataset, cache_dir, side)}` first"
        )
    return [load_item_video(item, cache_dir, side) for item in items]
