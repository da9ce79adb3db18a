"""Every shipped recipe in configs/: builds, output shapes, no NaN, gradients everywhere, save/reload.

RGB models are run at a reduced image size (``rgb_size`` <= 64, ``roi_size`` <= 32) to keep the test
quick on a CPU: the backbones pool globally, so shapes and wiring do not depend on the image size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from cslr.config import ExperimentConfig, load_config
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import load_checkpoint, save_checkpoint
from cslr.model.network import CSLRModel

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
VOCAB = Vocabulary.from_glosses(["hello", "thankyou", "house", "water"])
MAX_TEST_IMAGE, MAX_TEST_ROI = 64, 32
LENGTHS = [8, 5]
IMAGE_SIDE = 48


def _small(cfg: ExperimentConfig) -> ExperimentConfig:
    model = dataclasses.replace(
        cfg.model,
        vocab_size=len(VOCAB),
        rgb_size=min(cfg.model.rgb_size, MAX_TEST_IMAGE),
        roi_size=min(cfg.model.roi_size, MAX_TEST_ROI),
    )
    return dataclasses.replace(cfg, model=model)


def _inputs(model: CSLRModel) -> dict[str, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    b, t = len(LENGTHS), max(LENGTHS)
    boxes = None
    if model.cfg.rgb_rois:
        centre = torch.rand(b, t, len(model.cfg.rgb_rois), 2, generator=g) * 0.6 + 0.2
        boxes = torch.cat([centre - 0.1, centre + 0.1], dim=-1)
        boxes[1, 2] = 0.0  # one region not found in one frame
    return {
        "features": torch.randn(b, t, model.cfg.input_dim, generator=g),
        "lengths": torch.tensor(LENGTHS),
        "frames": torch.randint(0, 256, (b, t, 3, IMAGE_SIDE, IMAGE_SIDE), generator=g, dtype=torch.uint8)
        if model.needs_frames
        else None,
        "boxes": boxes,
    }


def test_configs_are_shipped() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"two-stream-fused", "two-stream-rgb", "two-stream-s3d", "two-stream-live"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config(path: Path, tmp_path: Path) -> None:
    cfg = _small(load_config(path))
    torch.manual_seed(0)
    model = CSLRModel(cfg.model).train()
    inputs = _inputs(model)
    targets, target_lengths = torch.tensor([[1, 2, 3], [4, 0, 0]]), torch.tensor([3, 1])
    out = model(targets=targets, target_lengths=target_lengths, **inputs)
    steps = -(-max(LENGTHS) // cfg.model.stride)
    assert out.log_probs.shape == (steps, len(LENGTHS), len(VOCAB))
    assert out.out_lengths.tolist() == [-(-n // cfg.model.stride) for n in LENGTHS]
    assert torch.isfinite(out.log_probs).all() and out.loss is not None and torch.isfinite(out.loss)
    out.loss.backward()
    no_grad = [
        n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())
    ]
    assert not no_grad, no_grad[:5]

    model.eval()
    with torch.no_grad():
        before = model(**inputs).log_probs
    saved = save_checkpoint(tmp_path / "m.pt", model, cfg, VOCAB)
    loaded, cfg2, vocab2, _ = load_checkpoint(saved)
    assert cfg2 == cfg and vocab2 == VOCAB
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).log_probs, before, rtol=0, atol=0)
