"""Shared fixtures: where the real data lives, and skips with a reason when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$CSLR_SHARED_DATA`` or ``../shared/data`` beside the repository, if present."""
    env = os.environ.get("CSLR_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sign-language data (see ../shared/data/README.md); skips when it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data not found: set CSLR_SHARED_DATA or place it at ../shared/data")
    return path


@pytest.fixture(scope="session")
def real_video(shared_data: Path) -> Path:
    """A short real clip of a person signing ASL HOUSE (320x240 H.264)."""
    path = shared_data / "video" / "asl_house.mp4"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path
