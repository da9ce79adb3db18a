"""Tiny seeded models of every exportable shape, and their checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from cslr.config import ExperimentConfig, ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import save_checkpoint
from cslr.model.network import CSLRModel

VOCAB = Vocabulary.from_glosses(["hello", "thankyou", "house"])
TINY = {"pose_hidden": 24, "hidden_size": 16, "num_layers": 2}


def tiny_model(temporal: str, stride: int = 1, seed: int = 0) -> CSLRModel:
    """A small model in eval mode with seeded random weights."""
    torch.manual_seed(seed)
    return CSLRModel(ModelConfig(temporal=temporal, stride=stride, vocab_size=len(VOCAB), **TINY)).eval()


@pytest.fixture(params=[("bilstm", 1), ("causal", 1), ("bilstm", 3), ("causal", 2)],
                ids=lambda p: f"{p[0]}-stride{p[1]}")
def model(request: pytest.FixtureRequest) -> CSLRModel:
    """Each encoder, with and without temporal downsampling (partial last windows included)."""
    temporal, stride = request.param
    return tiny_model(temporal, stride)


@pytest.fixture()
def causal_checkpoint(tmp_path: Path) -> Path:
    """A causal tiny model saved as a checkpoint."""
    model = tiny_model("causal", 2)
    cfg = dataclasses.replace(ExperimentConfig(), model=model.cfg)
    return save_checkpoint(tmp_path / "causal.pt", model, cfg, VOCAB)
