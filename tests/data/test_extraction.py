"""Dataset-scale extraction: real frames through MediaPipe, failures listed, cache resumable, shards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cslr.cli import main
from cslr.config import DataConfig
from cslr.data.corpora import CorpusItem, load_corpus
from cslr.data.datasets import build_training_data
from cslr.data.extraction import parse_shard, shard_items
from cslr.video import read_video
from tests.data import corpus_fixtures as fx

REAL_FRAMES = 6


@pytest.fixture()
def phoenix_with_real_frames(shared_data: Path, real_video: Path, tmp_path: Path) -> Path:
    """PHOENIX-2014 layout: two train items with real signing frames, one with corrupt images, one
    whose frame folder is missing; dev and test items hold real frames too."""
    fx.phoenix2014(tmp_path, shared_data, per_split=1)
    frames = read_video(real_video).frames[10 : 10 + REAL_FRAMES]
    items = load_corpus("phoenix2014", tmp_path / "phoenix2014-release")
    for item in items:
        for old in item.media.iterdir():
            old.unlink()
        fx.write_frames(item.media, list(frames))
    corpus = tmp_path / "phoenix2014-release" / "phoenix-2014-multisigner"
    csv = corpus / "annotations" / "manual" / "train.corpus.csv"
    rows = csv.read_text().splitlines()
    rows += ["broken-1|broken-1/1/*.png|Signer01|REGEN", "missing-1|missing-1/1/*.png|Signer01|SONNE"]
    csv.write_text("\n".join(rows) + "\n")
    broken = corpus / "features" / "fullFrame-210x260px" / "train" / "broken-1" / "1"
    broken.mkdir(parents=True)
    (broken / "images0001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return tmp_path / "phoenix2014-release"


@pytest.mark.slow
def test_extract_dataset_lists_failures_and_resumes(
    phoenix_with_real_frames: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".tmp-4242-broken-1.npz").write_bytes(b"left by a killed run")  # never mistaken for done
    assert main(["extract", str(phoenix_with_real_frames), "-o", str(cache), "--workers", "2"]) == 0
    out = capsys.readouterr()
    assert "extracted 3 items (18 frames), 0 already cached, 0 already keypoints, 2 failed" in out.out
    assert "FAILED broken-1" in out.out and "FAILED missing-1" in out.out
    assert "extract" in out.err  # the progress bar
    failures = [json.loads(line)["id"] for line in (cache / "failures-0of1.jsonl").read_text().splitlines()]
    assert sorted(failures) == ["broken-1", "missing-1"]
    done = sorted(p.name for p in cache.glob("*.npz") if not p.name.startswith("."))
    assert len(done) == 3 and "broken-1.npz" not in done

    assert main(["extract", str(phoenix_with_real_frames), "-o", str(cache), "--no-progress"]) == 0
    assert (
        "extracted 0 items (0 frames), 3 already cached, 0 already keypoints, 2 failed"
        in capsys.readouterr().out
    )

    cfg = DataConfig(source="phoenix2014", path=str(phoenix_with_real_frames), cache_dir=str(cache))
    with pytest.raises(FileNotFoundError, match="broken-1"):
        build_training_data(cfg)  # the failed items are still in the corpus: a clear error, not a crash
    for name in failures:
        csv = (
            phoenix_with_real_frames
            / "phoenix-2014-multisigner"
            / "annotations"
            / "manual"
            / "train.corpus.csv"
        )
        csv.write_text("\n".join(r for r in csv.read_text().splitlines() if not r.startswith(name)) + "\n")
    data = build_training_data(cfg)
    assert len(data.train) == len(data.dev) == len(data.test) == 1
    kp = data.train[0].keypoints
    assert len(kp) == REAL_FRAMES and (kp.conf[:, :33] > 0).any(axis=1).all()  # a person in every frame


def test_shards_partition_the_items() -> None:
    items = [CorpusItem(f"item-{k}", Path(f"{k}.mp4"), ("A",)) for k in range(10)]
    shards = [shard_items(items, parse_shard(f"{i}/3")) for i in range(3)]
    ids = [i.id for shard in shards for i in shard]
    assert sorted(ids) == sorted(i.id for i in items) and len(set(ids)) == 10
    assert [len(s) for s in shards] == [4, 3, 3]
    for bad in ("3/3", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    assert np.array_equal([i.id for i in shard_items(items[::-1], (0, 3))], [i.id for i in shards[0]])
