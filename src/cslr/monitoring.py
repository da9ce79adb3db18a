"""Per-stage timing of the pipeline (decode, pose, model, ctc, language)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("decode", "pose", "model", "ctc", "language")


@contextmanager
def stage_timer(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall time of the ``with`` block, in milliseconds, to ``timings[stage]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1000.0
