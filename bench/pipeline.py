"""Benchmark: the whole offline file pipeline on real clips, per stage, like the original spec's table.

Run ``python bench/pipeline.py [--repeat N]`` (``make bench``). Prints

1. per stage (decode, pose, model, CTC decode, language): ms per frame and frames per second, each stage
   timed alone on the real clips in ``../shared/data/video`` (one core for pose);
2. end to end: ``InferenceService.recognize_path`` on a long clip (the 320x240 real clips re-encoded
   ``--repeat`` times) with one pose process against ``--workers`` processes (warm pool), as fps and the
   ratio to real time (25 fps).

Needs the shared data (``$CSLR_SHARED_DATA`` or ``../shared/data``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _shared import CLIPS, data_dir, make_long_clip
from cslr.inference import InferenceService
from cslr.pose.holistic import HolisticExtractor
from cslr.pose.keypoints import DEFAULT_FPS, preprocess
from cslr.serve.settings import Settings
from cslr.stream.recognizer import Recognizer
from cslr.video import read_video

MODEL_REPEATS = 20
MAX_SHOWN_FPS = 100_000


def timed(fn, *args, repeats: int = 1):  # type: ignore[no-untyped-def]
    """(result of the last call, mean seconds per call)."""
    start = time.perf_counter()
    for _ in range(repeats):
        result = fn(*args)
    return result, (time.perf_counter() - start) / repeats


def stage_table(videos: Path, recognizer: Recognizer) -> dict[str, float]:
    """Milliseconds per frame of each stage, summed over the real clips."""
    totals = dict.fromkeys(("decode", "pose", "model", "ctc", "language"), 0.0)
    frames = 0
    with HolisticExtractor() as extractor:
        for name in CLIPS:
            clip, t_decode = timed(read_video, videos / name)
            extractor.process(clip.frames[0])  # graph start-up is not a per-frame cost
            extractor.reset()
            kp, t_pose = timed(extractor.extract, clip.frames)
            features = preprocess(kp)
            log_probs, t_model = timed(recognizer.log_probs, features, repeats=MODEL_REPEATS)
            hyp, t_ctc = timed(recognizer.decode, log_probs, repeats=MODEL_REPEATS)
            _, t_lang = timed(recognizer.result, hyp, len(kp), kp.fps, 0.04, {}, repeats=MODEL_REPEATS)
            for stage, seconds in zip(totals, (t_decode, t_pose, t_model, t_ctc, t_lang), strict=True):
                totals[stage] += seconds * 1000.0
            frames += len(clip)
    return {stage: ms / frames for stage, ms in totals.items()}


def end_to_end(videos: Path, repeat: int, workers: int) -> list[tuple[int, int, float]]:
    """(workers, frames, seconds) for the long clip with 1 and ``workers`` pose processes."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        make_long_clip(videos, repeat, path)
        for n in sorted({1, workers}):
            service = InferenceService.from_settings(Settings(pose_workers=n))
            try:
                service.recognize_path(path)  # warm: start the pool and the graphs
                result, seconds = timed(service.recognize_path, path)
                rows.append((n, result.frame_count, seconds))
            finally:
                service.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4, help="copies of the real clips in the long clip")
    parser.add_argument("--workers", type=int, default=2, help="pose processes for the parallel run")
    args = parser.parse_args()
    videos = data_dir() / "video"
    recognizer = Recognizer.from_checkpoint(device="cpu")

    print(f"cslr pipeline benchmark: {os.cpu_count()} CPU cores")
    per_frame = stage_table(videos, recognizer)
    print(f"\n{'stage':<12}{'ms/frame':>10}{'fps':>10}")
    for stage, ms in per_frame.items():
        fps = 1000.0 / ms if ms > 0 else float("inf")
        shown = f"{fps:>10.0f}" if fps < MAX_SHOWN_FPS else f"{'>' + str(MAX_SHOWN_FPS):>10}"
        print(f"{stage:<12}{ms:>10.3f}{shown}")
    total = sum(per_frame.values())
    print(f"{'total':<12}{total:>10.2f}{1000.0 / total:>10.1f}   (serial, one core)")

    print("\nend to end (InferenceService.recognize_path, long clip, warm pool)")
    print(f"{'workers':<10}{'frames':>8}{'seconds':>10}{'fps':>8}{'x real time':>13}")
    rows = end_to_end(videos, args.repeat, args.workers)
    for n, count, seconds in rows:
        fps = count / seconds
        print(f"{n:<10}{count:>8}{seconds:>10.2f}{fps:>8.1f}{fps / DEFAULT_FPS:>13.2f}")
    if len(rows) == 2:
        print(f"speed-up of {rows[1][0]} workers over 1: {rows[0][2] / rows[1][2]:.2f}x")



if __name__ == "__main__":
    main()
