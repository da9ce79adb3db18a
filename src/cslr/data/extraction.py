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
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from cslr.data.corpora import CorpusItem, cache_name
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

    def summary(self) -> str:
        """One line, then one line per failure."""
        lines = [
            f"extracted {len(self.extracted)} items ({self.frames} frames), {self.skipped} already cached, "
            f"{self.not_needed} already keypoints, {len(self.failures)} failed"
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


def extract_dataset(
    items: Sequence[CorpusItem],
    cache_dir: str | Path,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    fps: float = DEFAULT_FPS,
    progress: bool = True,
) -> ExtractionReport:
    """Extract keypoints of this shard's items into ``cache_dir`` (see the module docstring)."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    report = ExtractionReport()
    todo = []
    for item in shard_items(items, shard):
        if item.is_keypoints:
            report.not_needed += 1
        elif (cache / cache_name(item.id)).is_file():
            report.skipped += 1
        else:
            todo.append(item)
    jobs = [(item.id, str(item.media), str(cache / cache_name(item.id)), fps) for item in todo]
    bar = _progress(len(jobs), progress)
    for job, (frames, error) in _run(jobs, max(1, min(workers, len(jobs)))):
        if error is None:
            report.extracted.append(job[0])
            report.frames += frames
        else:
            report.failures.append(Failure(job[0], job[1], error))
        bar.update(1)
    bar.close()
    _write_failures(cache / FAILURES_FILE.format(index=shard[0], count=shard[1]), report.failures)
    return report


def _run(jobs: list[tuple[str, str, str, float]], workers: int) -> Any:
    """Yield ``(job, (frames, error))`` as items finish, in this process or in ``workers`` processes."""
    if workers <= 1:
        for job in jobs:
            yield job, _extract_item(*job[1:])
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        futures = {pool.submit(_extract_item, *job[1:]): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


_EXTRACTOR: Any = None  # this process's HolisticExtractor, built on first use


def _init_worker() -> None:
    global _EXTRACTOR
    from cslr.pose.holistic import HolisticExtractor

    _EXTRACTOR = HolisticExtractor()


def _extract_item(media: str, out: str, fps: float) -> tuple[int, str | None]:
    """Extract one video or frame folder to ``out`` atomically; ``(frames, None)`` or ``(0, reason)``."""
    global _EXTRACTOR
    from cslr.pose.io import save_keypoints
    from cslr.video import iter_video

    target = Path(out)
    tmp = target.with_name(f"{TMP_PREFIX}{os.getpid()}-{target.name}")
    try:
        if not Path(media).exists():
            raise FileNotFoundError(f"media not found: {media}")
        frames = iter_video(media, fps)
        first = next(frames, None)  # decode before paying for a Holistic graph
        if first is None:
            raise ValueError("no frames")
        if _EXTRACTOR is None:
            _init_worker()
        _EXTRACTOR.reset()
        kp = _EXTRACTOR.extract(_chain(first, frames), fps)
        save_keypoints(kp, tmp)
        os.replace(tmp, target)
        return len(kp), None
    except Exception as exc:  # any unreadable item is reported, never fatal
        tmp.unlink(missing_ok=True)
        return 0, f"{type(exc).__name__}: {exc}"


def _chain(first: Any, rest: Any) -> Any:
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
