"""Benchmark: video decoding and MediaPipe Holistic speed on the real clips, serial vs parallel.

Run ``python bench/pose.py [--repeat N] [--workers N]``. Prints, per real clip, decode ms/frame and pose
ms/frame (one Holistic graph, frames already decoded), then the whole file pipeline
(:func:`cslr.pose.holistic.extract_video`: decode + pose, process start-up included) on a long clip made
by re-encoding the real clips ``--repeat`` times, with ``workers=1`` against ``workers=N``.
Needs the shared data (``$CSLR_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _shared import CLIPS, data_dir, make_long_clip
from cslr.pose.holistic import HolisticExtractor, extract_video
from cslr.video import read_video


def per_clip(path: Path) -> tuple[int, float, float]:
    """(frames, decode ms/frame, pose ms/frame) for one clip at 25 fps."""
    start = time.perf_counter()
    clip = read_video(path)
    decode = time.perf_counter() - start
    with HolisticExtractor() as extractor:
        extractor.process(clip.frames[0])  # graph start-up is not per-frame cost
        extractor.reset()
        start = time.perf_counter()
        extractor.extract(clip.frames)
        pose = time.perf_counter() - start
    return len(clip), 1000 * decode / len(clip), 1000 * pose / len(clip)


def end_to_end(path: Path, workers: int) -> float:
    """Seconds for :func:`extract_video` on ``path`` with ``workers`` processes."""
    start = time.perf_counter()
    extract_video(path, workers=workers)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4, help="copies of the clips in the long clip")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="parallel processes")
    args = parser.parse_args()
    videos = data_dir() / "video"
    print(f"{'clip':30s} {'frames':>6s} {'decode ms/f':>12s} {'pose ms/f':>10s}")
    for name in CLIPS:
        frames, decode, pose = per_clip(videos / name)
        print(f"{name:30s} {frames:6d} {decode:12.2f} {pose:10.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        long_clip = Path(tmp) / "long.mp4"
        frames = make_long_clip(videos, args.repeat, long_clip)
        serial = end_to_end(long_clip, 1)
        parallel = end_to_end(long_clip, args.workers)
    cores = os.cpu_count()
    print(f"\nextract_video on {frames} frames of 320x240 (decode + pose, start-up included), {cores} cores:")
    print(f"  workers=1: {serial:6.2f} s = {frames / serial:5.1f} fps")
    speedup = serial / parallel
    print(f"  workers={args.workers}: {parallel:6.2f} s = {frames / parallel:5.1f} fps, x{speedup:.2f}")


if __name__ == "__main__":
    main()
