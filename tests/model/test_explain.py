"""``cslr recognize --explain``: a PNG of the fusion gates beside the CTC posteriors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cslr.cli import main
from cslr.config import ExperimentConfig, ModelConfig
from cslr.data.rgb import cue_corpus
from cslr.data.vocab import Vocabulary
from cslr.model.checkpoint import save_checkpoint
from cslr.model.explain import explain, plot_explanation
from cslr.model.network import CSLRModel
from cslr.pose.io import save_keypoints
from cslr.pose.render import save_sample

VOCAB = Vocabulary.from_glosses(["S0-red", "S0-blue", "S1-red", "S1-blue"])
SMALL = {"pose_hidden": 16, "pose_layers": 1, "rgb_backbone": "tiny", "rgb_size": 16, "rgb_dim": 16}


def _checkpoint(tmp_path: Path, streams: tuple[str, ...]) -> Path:
    cfg = ExperimentConfig(
        model=ModelConfig(
            streams=streams, fusion_dim=16, fusion_heads=2, hidden_size=16, num_layers=1, stride=2,
            vocab_size=len(VOCAB), **SMALL,  # type: ignore[arg-type]
        )
    )  # fmt: skip
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "m.pt", CSLRModel(cfg.model), cfg, VOCAB)


@pytest.fixture(scope="module")
def sample() -> tuple:
    return cue_corpus(1, np.random.default_rng(0), size=16)[0]


def test_explanation_has_gates_per_frame(sample) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(streams=("pose", "rgb"), fusion_dim=16, fusion_heads=2, vocab_size=len(VOCAB), **SMALL)
    expl = explain(CSLRModel(cfg), VOCAB, sample.keypoints, sample.frames)
    t = len(sample.keypoints)
    assert expl.gates is not None and expl.gates.shape == (t, 2)
    np.testing.assert_allclose(expl.gates.sum(1), 1.0, atol=1e-5)
    assert expl.posteriors.shape == (t, len(VOCAB))
    assert expl.streams == ("pose", "rgb")


def test_cli_explain_writes_png(tmp_path: Path, sample, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = _checkpoint(tmp_path, ("pose", "rgb"))
    clip = save_sample(tmp_path / "clip.npz", sample.keypoints, sample.frames)
    out = tmp_path / "plots" / "gates.png"
    assert main(["recognize", str(clip), "--checkpoint", str(ckpt), "--explain", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 500 and img.height > 300
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.std() > 10  # something was drawn


def test_pose_only_model_is_explained_without_gates(tmp_path: Path, sample) -> None:
    ckpt = _checkpoint(tmp_path, ("pose",))
    path = tmp_path / "kp.npz"
    save_keypoints(sample.keypoints, path)
    assert (
        main(["recognize", str(path), "--checkpoint", str(ckpt), "--explain", str(tmp_path / "p.png")]) == 0
    )
    assert (tmp_path / "p.png").stat().st_size > 0


def test_rgb_model_needs_frames(tmp_path: Path, sample, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = _checkpoint(tmp_path, ("pose", "rgb"))
    path = tmp_path / "kp.npz"
    save_keypoints(sample.keypoints, path)
    assert (
        main(["recognize", str(path), "--checkpoint", str(ckpt), "--explain", str(tmp_path / "x.png")]) == 2
    )
    assert "RGB stream" in capsys.readouterr().err


def test_plot_without_gates(tmp_path: Path, sample) -> None:
    torch.manual_seed(0)
    model = CSLRModel(ModelConfig(vocab_size=len(VOCAB), **SMALL))
    path = plot_explanation(explain(model, VOCAB, sample.keypoints), tmp_path / "a.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
