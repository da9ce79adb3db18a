"""Keypoint extraction over a whole dataset: worker processes, shards, a resumable cache, a failure list.

``cslr extract DATASET -o CACHE`` runs :func:`extract_dataset`: every item whose media is a video or a
frame folder gets ``CACHE/<id>.npz`` (:func:`cslr.data.corpora.cache_name`), which training and
``cslr eval`` read. Properties:

- **Resumable.** An item whose ``.npz`` exists is skipped. Each file is written under a temporary name
  and renamed when complete, so a killed run never leaves a truncated ``.npz``; run the same command
  again to finish (leftover ``.tmp-*`` files are ignored).
- **Shards.** ``shard=(i, n)`` takes every n-th item (sorted by id) starting at ``i`` (0 <= i < n), so a
  cluster array job can run ``--shard $TASK_ID/$N`` on N machines against one shared cache folder.
- **Failures are not fatal.** An unreadable video is recorded (id, media, reason) in the report and in
  ``CACHE/failures-<i>of<n>.jsonl``, and the run goes on.
- **Parallel.** ``workers`` spawned processes, each with its own MediaPipe Holistic graph, one whole
  item at a time (the tracker follows the signer through the clip).
- **Frames** (``frames=SIZE``, ``cslr extract --frames SIZE``; issue 4): each item's frames are also
  stored, resized to ``SIZE x SIZE``, as uint8 ``(T, 3, SIZE, SIZE)`` in ``CACHE/frames-SIZE/<id>.npy``
  (:mod:`cslr.data.frames`), for RGB and fused models. They come from the same decoded frames as the
  keypoints (one pass), so both have the same length; an item whose keypoints are already cached (or
  are a keypoint file with a ``frames`` column) only has its frames decoded, and a count that differs
  from its keypoints' is a failure. Written atomically, skipped when present, failures in the same list.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from cslr.data.corpora import CorpusItem, cache_name
from cslr.data.frames import FrameFileWriter, frames_dir, frames_path
from cslr.model.inputs import model_frames
from cslr.pose.keypoints import DEFAULT_FPS

FAILURES_FILE = "failures-{index}of{count}.jsonl"
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Failure:
    """An item that could not be extracted."""

    id: str
    media: str
    reason: str


@dataclass
class ExtractionReport:
    """What one :func:`extract_dataset` run did."""

    extracted: list[str] = field(default_factory=list)
    skipped: int = 0  # already in the cache
    not_needed: int = 0  # media already keypoint files
    failures: list[Failure] = field(default_factory=list)
    frames: int = 0
    frames_dir: str = ""  # where the frames went ("" when not asked for)

    def summary(self) -> str:
        """One line, then one line per failure."""
        lines = [
            f"extracted {len(self.extracted)} items ({self.frames} frames), {self.skipped} already cached, "
            f"{self.not_needed} already keypoints, {len(self.failures)} failed"
            + (f"; frames in {self.frames_dir}" if self.frames_dir else "")
        ]
        lines += [f"  FAILED {f.id} ({f.media}): {f.reason}" for f in self.failures]
        return "\n".join(lines)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def shard_items(items: Sequence[CorpusItem], shard: tuple[int, int] = (0, 1)) -> list[CorpusItem]:
    """This shard's items: sorted by id, every ``n``-th from ``i``."""
    index, count = shard
    return sorted(items, key=lambda item: item.id)[index::count]


@dataclass(frozen=True)
class _Job:
    """One item's work, sent to a worker process.

    Attributes:
        id, media: the item and the video file or frame folder to decode.
        keypoints_out: the ``.npz`` to write ("" when the keypoints are not needed).
        frames_out: the ``.npy`` of frames to write ("" when not needed).
        side: frame side in pixels (with ``frames_out``).
        expect: frames the item's existing keypoints have (-1 when they are extracted here).
        fps: the frame rate to decode at.
    """

    id: str
    media: str
    keypoints_out: str
    frames_out: str
    side: int
    expect: int
    fps: float


def extract_dataset(
    items: Sequence[CorpusItem],
    cache_dir: str | Path,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    fps: float = DEFAULT_FPS,
    progress: bool = True,
    frames: int = 0,
) -> ExtractionReport:
    """Extract keypoints of this shard's items into ``cache_dir`` and, with ``frames`` > 0, their frames
    at ``frames x frames`` pixels (see the module docstring)."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    report = ExtractionReport(frames_dir=str(frames_dir(cache, frames)) if frames else "")
    jobs = []
    for item in shard_items(items, shard):
        try:
            job = _plan(item, cache, fps, frames, report)
        except Exception as exc:  # e.g. an unreadable keypoint file to check the frames against
            report.failures.append(Failure(item.id, str(item.media), f"{type(exc).__name__}: {exc}"))
            continue
        if job is not None:
            jobs.append(job)
    bar = _progress(len(jobs), progress)
    for job, (count, error) in _run(jobs, max(1, min(workers, len(jobs)))):
        if error is None:
            report.extracted.append(job.id)
            report.frames += count
        else:
            report.failures.append(Failure(job.id, job.media, error))
        bar.update(1)
    bar.close()
    _write_failures(cache / FAILURES_FILE.format(index=shard[0], count=shard[1]), report.failures)
    return report


def _plan(item: CorpusItem, cache: Path, fps: float, side: int, report: ExtractionReport) -> _Job | None:
    """The work ``item`` needs (None: nothing; counted in ``report``, failures included)."""
    keypoints = cache / cache_name(item.id)
    want_keypoints = not item.is_keypoints and not keypoints.is_file()
    want_frames = side > 0 and not frames_path(cache, item.id, side).is_file()
    if not want_keypoints and not want_frames:
        if item.is_keypoints and not side:
            report.not_needed += 1
        else:
            report.skipped += 1
        return None
    source = item.frames_source
    if source is None:
        reason = "keypoints only: no video or frame folder to take frames from (a manifest's `frames` column)"
        report.failures.append(Failure(item.id, str(item.media), reason))
        return None
    expect = -1
    if not want_keypoints:  # frames only: they must match the keypoints already there
        from cslr.data.datasets import load_item_keypoints

        expect = len(load_item_keypoints(item, cache, fps))
    return _Job(
        item.id,
        str(source),
        str(keypoints) if want_keypoints else "",
        str(frames_path(cache, item.id, side)) if want_frames else "",
        side,
        expect,
        fps,
    )


def _run(jobs: list[_Job], workers: int) -> Any:
    """Yield ``(job, (frames, error))`` as items finish, in this process or in ``workers`` processes."""
    if workers <= 1:
        for job in jobs:
            yield job, _extract_item(job)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        futures = {pool.submit(_extract_item, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


_EXTRACTOR: Any = None  # this process's HolisticExtractor, built on first use


def _init_worker() -> None:
    global _EXTRACTOR
    from cslr.pose.holistic import HolisticExtractor

    _EXTRACTOR = HolisticExtractor()


def _extract_item(job: _Job) -> tuple[int, str | None]:
    """Decode one video or frame folder once; write its keypoints and/or frames atomically.
    ``(frames, None)`` or ``(0, reason)``."""
    from cslr.video import iter_video

    written: list[tuple[Path, Path]] = []  # (temporary, final)
    try:
        if not Path(job.media).exists():
            raise FileNotFoundError(f"media not found: {job.media}")
        decoded = iter_video(job.media, job.fps)
        first = next(decoded, None)  # decode before paying for a Holistic graph
        if first is None:
            raise ValueError("no frames")
        writer = None
        if job.frames_out:  # frames go to disk as they are decoded: memory stays at one frame
            tmp = _temporary(Path(job.frames_out))
            tmp.parent.mkdir(parents=True, exist_ok=True)
            written.append((tmp, Path(job.frames_out)))
            writer = FrameFileWriter(tmp, job.side)
        try:
            stream = _tap(_chain(first, decoded), writer)
            count = _write_keypoints(stream, job, written) if job.keypoints_out else sum(1 for _ in stream)
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            expect = count if job.keypoints_out else job.expect
            if writer.count != expect:
                raise ValueError(f"{writer.count} frames decoded but the item's keypoints have {expect}")
        for tmp, target in written:
            os.replace(tmp, target)
        return count, None
    except Exception as exc:  # any unreadable item is reported, never fatal
        for tmp, _target in written:
            tmp.unlink(missing_ok=True)
        return 0, f"{type(exc).__name__}: {exc}"


def _write_keypoints(frames: Iterator[np.ndarray], job: _Job, written: list[tuple[Path, Path]]) -> int:
    """MediaPipe keypoints of ``frames`` to a temporary file (renamed by the caller); returns the count."""
    global _EXTRACTOR
    from cslr.pose.io import save_keypoints

    if _EXTRACTOR is None:
        _init_worker()
    _EXTRACTOR.reset()
    kp = _EXTRACTOR.extract(frames, job.fps)
    tmp = _temporary(Path(job.keypoints_out))
    written.append((tmp, Path(job.keypoints_out)))
    save_keypoints(kp, tmp)
    return len(kp)


def _temporary(target: Path) -> Path:
    """The name ``target`` is written under before it is complete."""
    return target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")


def _tap(frames: Iterator[np.ndarray], writer: FrameFileWriter | None) -> Iterator[np.ndarray]:
    """Pass ``frames`` on, writing a ``side x side`` copy of each with ``writer`` (when there is one)."""
    for frame in frames:
        if writer is not None:
            writer.append(model_frames(frame[None], writer.side)[0])
        yield frame


def _chain(first: Any, rest: Any) -> Iterator[Any]:
    yield first
    yield from rest


def _write_failures(path: Path, failures: Sequence[Failure]) -> None:
    if not failures:
        path.unlink(missing_ok=True)
        return
    path.write_text("".join(json.dumps(f.__dict__) + "\n" for f in failures))


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or not total:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="item", desc="extract", file=sys.stderr)
