"""Tiny seeded models of every exportable shape, and their checkpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cslr.config import ExperimentConfig, ModelConfig, load_config
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import save_checkpoint
from cslr.model.network import CSLRModel

VOCAB = Vocabulary.from_glosses(["hello", "thankyou", "house"])
TINY = {"pose_hidden": 24, "hidden_size": 16, "num_layers": 2}
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
MAX_TEST_IMAGE, MAX_TEST_ROI = 32, 16  # RGB configs run at most this size: backbones pool globally


def tiny_model(temporal: str, stride: int = 1, seed: int = 0) -> CSLRModel:
    """A small model in eval mode with seeded random weights."""
    torch.manual_seed(seed)
    return CSLRModel(ModelConfig(temporal=temporal, stride=stride, vocab_size=len(VOCAB), **TINY)).eval()


def config_model(path: Path, seed: int = 0, **overrides: object) -> CSLRModel:
    """The model of a shipped recipe (random weights, eval mode), with the test vocabulary and images of
    at most :data:`MAX_TEST_IMAGE` (crops :data:`MAX_TEST_ROI`) pixels; ``overrides`` replace more fields."""
    cfg = load_config(path).model
    small = {"rgb_size": min(cfg.rgb_size, MAX_TEST_IMAGE), "roi_size": min(cfg.roi_size, MAX_TEST_ROI)}
    cfg = dataclasses.replace(cfg, vocab_size=len(VOCAB), **{**small, **overrides})
    torch.manual_seed(seed)
    return CSLRModel(cfg, pretrained=False).eval()


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


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread: these small models gain nothing from two, and a second thread collapses
    under contention on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
