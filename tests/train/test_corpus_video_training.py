"""Issue 4: a fused (pose + RGB) model trained and scored on a real corpus layout through the frame cache.

A tiny PHOENIX-2014-T release (real transcripts, frame folders of PNGs cut from real signing clips) goes
through ``cslr extract`` (keypoints, then ``--frames``), ``cslr train`` and ``cslr eval``, as a researcher
runs them on the full corpus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from cslr.cli import main
from cslr.data.corpora import load_corpus
from cslr.data.frames import frames_dir, frames_path
from cslr.data.rgb import VideoSequenceDataset, collate_video
from cslr.model.checkpoint import load_checkpoint
from cslr.train.evaluation import dataset_sentences
from cslr.video import read_video
from tests.data import corpus_fixtures as fx

CLIPS = ("asl_house.mp4", "asl_different.mp4")
FRAMES_PER_ITEM = 12
RGB_SIZE = 32
SIDE = 2 * RGB_SIZE  # the recipe crops a hand ROI, so frames are cached at twice rgb_size
EPOCHS = 2


def fused_recipe(corpus: Path, cache: Path) -> dict[str, Any]:
    return {
        "name": "phoenix2014t-tiny-fused",
        "model": {"streams": ["pose", "rgb"], "pose_hidden": 32, "pose_layers": 1, "rgb_backbone": "tiny",
                  "rgb_size": RGB_SIZE, "rgb_dim": 16, "rgb_rois": ["right_hand"], "roi_size": 16,
                  "fusion_dim": 32, "fusion_heads": 2, "temporal": "bilstm", "hidden_size": 32,
                  "num_layers": 1, "dropout": 0.0, "stride": 2},
        "data": {"source": "phoenix2014t", "path": str(corpus), "cache_dir": str(cache)},
        "train": {"epochs": EPOCHS, "batch_size": 2, "lr": 0.003, "warmup_steps": 2, "num_threads": 1},
    }  # fmt: skip


@pytest.fixture()
def phoenix2014t_real_frames(shared_data: Path, tmp_path: Path) -> Path:
    """PHOENIX-2014-T layout, two items per split, each a frame folder of real signing frames."""
    fx.phoenix2014t(tmp_path, shared_data, per_split=2)
    clips = []
    for name in CLIPS:
        path = shared_data / "video" / name
        if not path.exists():
            pytest.skip(f"{path} missing")
        clips.append(read_video(path).frames)
    root = tmp_path / "PHOENIX-2014-T-release-v3"
    for k, item in enumerate(sorted(load_corpus("phoenix2014t", root), key=lambda i: i.id)):
        frames = clips[k % len(clips)]
        start = (k // len(clips)) * FRAMES_PER_ITEM
        for old in item.media.iterdir():
            old.unlink()
        fx.write_frames(item.media, list(frames[start : start + FRAMES_PER_ITEM]))
    return root


@pytest.mark.slow
def test_fused_model_on_phoenix2014t_frame_cache(
    phoenix2014t_real_frames: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, cache, run = phoenix2014t_real_frames, tmp_path / "cache", tmp_path / "run"
    recipe = tmp_path / "fused.yaml"
    recipe.write_text(yaml.safe_dump(fused_recipe(corpus, cache)))

    # keypoints only: training an RGB model then names the command that makes the frame cache
    assert main(["extract", str(corpus), "-o", str(cache), "--workers", "2", "--no-progress"]) == 0
    assert "extracted 6 items (72 frames)" in capsys.readouterr().out
    assert main(["train", str(recipe), "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert "6 of 6 items have no 64x64 frame cache" in err
    assert f"run `cslr extract {corpus} -o {cache} --frames {SIDE}` first" in err

    # the frames: decoded again (no MediaPipe) and checked against the cached keypoints' length
    assert main(["extract", str(corpus), "-o", str(cache), "--frames", str(SIDE), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "extracted 6 items (72 frames), 0 already cached" in out and str(frames_dir(cache, SIDE)) in out
    assert main(["extract", str(corpus), "-o", str(cache), "--frames", str(SIDE), "--no-progress"]) == 0
    assert (
        "extracted 0 items (0 frames), 6 already cached, 0 already keypoints, 0 failed"
        in capsys.readouterr().out
    )
    item = sorted(load_corpus("phoenix2014t", corpus), key=lambda i: i.id)[0]
    cached = np.load(frames_path(cache, item.id, SIDE))
    assert cached.dtype == np.uint8 and cached.shape == (FRAMES_PER_ITEM, 3, SIDE, SIDE)
    assert not list(cache.rglob(".tmp-*"))

    assert main(["train", str(recipe), "-o", str(run)]) == 0
    model, cfg, vocab, extra = load_checkpoint(run / "best.pt")
    assert cfg.model.streams == ("pose", "rgb") and cfg.data.source == "phoenix2014t"
    assert extra["test_sentences"] == 2  # the test split was scored through the frames
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    assert [r["epoch"] for r in records] == list(range(1, EPOCHS + 1))
    assert all(isinstance(r["dev_wer"], float) for r in records)

    capsys.readouterr()
    assert main(["eval", str(run / "best.pt"), str(recipe), "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"WER={100 * extra['test_wer']:.2f}% ")  # as the trainer scored the test split
    assert printed.rstrip().endswith("2 sentences)")

    # the corpus folder itself: the checkpoint's model picks the frame cache of its size
    on_corpus = ["eval", str(run / "best.pt"), str(corpus), "--split", "test", "--cache-dir"]
    assert main([*on_corpus, str(cache)]) == 0
    assert capsys.readouterr().out.startswith(f"WER={100 * extra['test_wer']:.2f}% ")
    # without that frame size in the cache, the error names the command that makes it
    other = tmp_path / "other-cache"
    other.mkdir()
    for npz in cache.glob("*.npz"):
        (other / npz.name).write_bytes(npz.read_bytes())
    assert main([*on_corpus, str(other)]) == 2
    assert f"--frames {SIDE}" in capsys.readouterr().err

    # RGB only (the hand crop still placed from the keypoints), from the same cache
    rgb_run = tmp_path / "rgb-run"
    args = ["--set", "model.streams=[rgb]", "--set", "train.epochs=1"]
    assert main(["train", str(recipe), "-o", str(rgb_run), *args]) == 0
    _, rgb_cfg, _, rgb_extra = load_checkpoint(rgb_run / "best.pt")
    assert rgb_cfg.model.streams == ("rgb",)
    capsys.readouterr()
    assert main(["eval", str(rgb_run / "best.pt"), str(recipe), "--split", "test"]) == 0
    assert capsys.readouterr().out.startswith(f"WER={100 * rgb_extra['test_wer']:.2f}% ")

    # the restored model runs on a batch of cached frames (memory-mapped), ROI boxes from the keypoints
    test = dataset_sentences(recipe, "test")
    assert isinstance(test[0].frames, np.memmap)
    batch = collate_video(
        [VideoSequenceDataset(test, vocab, cfg.model.rgb_rois)[i] for i in range(len(test))]
    )
    assert batch.frames.shape == (2, FRAMES_PER_ITEM, 3, SIDE, SIDE) and batch.boxes is not None
    with torch.no_grad():
        out = model.eval()(batch.features, batch.lengths, **batch.model_inputs())
    assert (
        out.log_probs.shape == (FRAMES_PER_ITEM // 2, 2, len(vocab)) and torch.isfinite(out.log_probs).all()
    )
