"""Issue 4: ``cslr train`` trains a fused (pose + RGB) recipe on the synthetic signer's rendered frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from cslr.cli import main
from cslr.model.checkpoint import load_checkpoint

EPOCHS = 2
FUSED_RECIPE: dict[str, Any] = {
    "name": "tiny-fused",
    "model": {"streams": ["pose", "rgb"], "pose_hidden": 32, "pose_layers": 1, "rgb_backbone": "tiny",
              "rgb_size": 32, "rgb_dim": 16, "fusion_dim": 32, "fusion_heads": 2, "temporal": "bilstm",
              "hidden_size": 32, "num_layers": 1, "dropout": 0.0, "stride": 2},
    "data": {"source": "synth-video", "num_glosses": 4, "image_size": 32, "cue_colours": ["red", "blue"],
             "train_sentences": 32, "dev_sentences": 8, "test_sentences": 8, "max_signs": 2},
    "train": {"epochs": EPOCHS, "batch_size": 8, "lr": 0.003, "warmup_steps": 2, "num_threads": 1},
}  # fmt: skip


@pytest.mark.slow
def test_cslr_train_fused_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "tiny-fused.yaml"
    recipe.write_text(yaml.safe_dump(FUSED_RECIPE))
    out = tmp_path / "run"
    assert main(["train", str(recipe), "-o", str(out)]) == 0

    model, cfg, vocab, extra = load_checkpoint(out / "best.pt")
    assert "rgb" in cfg.model.streams and "pose" in cfg.model.streams
    assert cfg.data.source == "synth-video"
    assert len(vocab) == cfg.model.vocab_size
    assert "test_wer" in extra  # the test split was scored through the frames too
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line]
    assert [r["epoch"] for r in records] == list(range(1, EPOCHS + 1))
    assert all(isinstance(r["dev_wer"], float) for r in records)
    frames = torch.zeros(1, 6, 3, 32, 32, dtype=torch.uint8)  # the restored model takes frames
    out_ = model.eval()(torch.zeros(1, 6, cfg.model.input_dim), torch.tensor([6]), frames=frames)
    assert out_.log_probs.shape[1:] == (1, len(vocab))

    capsys.readouterr()  # `cslr eval` scores the fused checkpoint on the test split through the frames
    assert main(["eval", str(out / "best.pt"), str(recipe), "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert f"WER={100 * extra['test_wer']:.2f}%" in printed  # as the trainer scored the test split
    assert f"{FUSED_RECIPE['data']['test_sentences']} sentences" in printed
