"""A tiny synthetic recipe for trainer tests that run real training processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

TINY_RECIPE: dict[str, Any] = {
    "name": "tiny",
    "model": {"temporal": "causal", "pose_hidden": 32, "pose_layers": 1, "hidden_size": 32,
              "num_layers": 1, "dropout": 0.0, "stride": 2},
    "data": {"source": "synth", "num_glosses": 4, "train_sentences": 64, "dev_sentences": 8,
             "test_sentences": 8, "max_signs": 3},
    "train": {"epochs": 2, "batch_size": 8, "lr": 0.003, "warmup_steps": 4, "num_threads": 1},
}  # fmt: skip


@pytest.fixture()
def tiny_recipe(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_RECIPE))
    return path
