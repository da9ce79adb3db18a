"""Dataset adapters on small corpora built in each release layout from real transcripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cslr.config import DataConfig
from cslr.data.corpora import detect_format, load_corpus
from cslr.data.datasets import ISLR_FPS, Augment, build_training_data, load_item_keypoints, resample
from cslr.data.vocab import Vocabulary, clean_glosses
from cslr.pose.keypoints import DEFAULT_FPS, Keypoints
from tests.data import corpus_fixtures as fx


def _check(items, truth, fmt: str, root: Path) -> None:  # type: ignore[no-untyped-def]
    assert detect_format(root) == fmt
    expected = {ln.id: (split, ln) for split, lines in truth.items() for ln in lines}
    assert sorted(i.id for i in items) == sorted(expected)
    for item in items:
        split, line = expected[item.id]
        assert item.split == split and item.glosses == tuple(clean_glosses(line.glosses))
        assert item.media.is_dir() and sorted(p.name for p in item.media.iterdir())[0] == "images0001.png"


def test_phoenix2014_layout(shared_data: Path, tmp_path: Path) -> None:
    truth = fx.phoenix2014(tmp_path, shared_data)
    items = load_corpus("auto", tmp_path / "phoenix2014-release")
    _check(items, truth, "phoenix2014", tmp_path / "phoenix2014-release")
    assert all(i.signer.lower().startswith("signer") for i in items)
    raw = [g for lines in truth.values() for ln in lines for g in ln.glosses]
    assert "__ON__" in raw or "__OFF__" in raw  # the real dev transcripts carry markers ...
    assert not any(g.startswith("__") for i in items for g in i.glosses)  # ... which are not glosses
    vocab = Vocabulary.build(i.glosses for i in items)
    assert vocab.tokens[0] == "<blank>" and not any(t.startswith("__") for t in vocab.glosses)


def test_phoenix2014t_layout(shared_data: Path, tmp_path: Path) -> None:
    truth = fx.phoenix2014t(tmp_path, shared_data)
    items = load_corpus("phoenix2014t", tmp_path / "PHOENIX-2014-T-release-v3" / "PHOENIX-2014-T")
    _check(items, truth, "phoenix2014t", tmp_path / "PHOENIX-2014-T-release-v3")
    assert {i.signer for i in items} <= {f"Signer{k:02d}" for k in range(1, 10)}


def test_csl_daily_layout(shared_data: Path, tmp_path: Path) -> None:
    truth = fx.csl_daily(tmp_path, shared_data)
    items = load_corpus("auto", tmp_path)
    _check(items, truth, "csl-daily", tmp_path)
    assert any(len(i.glosses) > 2 for i in items) and all(i.signer.isdigit() for i in items)


def test_csl_daily_label_file_may_not_run_code(shared_data: Path, tmp_path: Path) -> None:
    import pickle

    fx.csl_daily(tmp_path, shared_data)
    (tmp_path / "sentence_label" / "csl2020ct_v2.pkl").write_bytes(pickle.dumps(Path("/")))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_corpus("csl-daily", tmp_path)


def test_islr_kaggle_layout_reads_the_same_keypoints_as_the_bundle(shared_data: Path, tmp_path: Path) -> None:
    chosen = fx.islr_kaggle(tmp_path, shared_data)
    items = load_corpus("auto", tmp_path)
    assert detect_format(tmp_path) == "islr-kaggle" and len(items) == len(chosen) == 12
    for item, clip in zip(items, chosen, strict=True):
        assert item.glosses == (clip["sign"],) and item.signer == str(clip["participant_id"])
        got = load_item_keypoints(item, tmp_path / "unused")
        raw = np.asarray(clip["clip"])
        want = resample(Keypoints(raw, np.isfinite(raw).all(-1).astype(np.float32), ISLR_FPS), DEFAULT_FPS)
        np.testing.assert_allclose(np.nan_to_num(got.xyz), np.nan_to_num(want.xyz), atol=1e-6)
        np.testing.assert_array_equal(got.conf > 0, want.conf > 0)
    cfg = DataConfig(source="islr-kaggle", path=str(tmp_path), train_sentences=20, dev_sentences=4,
                     test_sentences=4, dev_signers=1, test_signers=1)  # fmt: skip
    data = build_training_data(cfg)
    assert [len(p) for p in (data.train, data.dev, data.test)] == [20, 4, 4]
    train_signers = {s.signer for s in data.pool}
    assert not train_signers & {s.signer for s in data.dev + data.test}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest_of_keypoint_files(tmp_path: Path, suffix: str) -> None:
    rows = fx.synthetic_manifest(tmp_path, suffix)
    items = load_corpus("auto", tmp_path / f"manifest{suffix}")
    assert [i.glosses for i in items] == [tuple(r["gloss"].split()) for r in rows]
    assert [i.split for i in items] == ["train"] * 6 + ["dev"] * 4  # "val" is dev
    assert all(i.is_keypoints and i.media.is_file() for i in items)
    cfg = DataConfig(source="manifest", path=str(tmp_path / f"manifest{suffix}"))
    data = build_training_data(cfg)
    assert [len(p) for p in (data.train, data.dev, data.test)] == [6, 4, 0]
    assert data.train[0].glosses == items[0].glosses and len(data.train[0].keypoints) > 10


def test_manifest_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("video_file,label\nx.mp4,HELLO\n")
    with pytest.raises(ValueError, match="needs 'path' and 'gloss'"):
        load_corpus("manifest", tmp_path / "m.csv")
    (tmp_path / "m2.csv").write_text("path,gloss,split\nx.mp4,HELLO,holdout\n")
    with pytest.raises(ValueError, match="unknown split"):
        load_corpus("manifest", tmp_path / "m2.csv")
    (tmp_path / "m3.csv").write_text("path,gloss\nx.mp4,HELLO\n")
    cfg = DataConfig(source="manifest", path=str(tmp_path / "m3.csv"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="cslr extract"):
        build_training_data(cfg)


def test_restitching_changes_sentences_per_epoch_but_is_reproducible(shared_data: Path) -> None:
    cfg = DataConfig(source="islr", path=str(shared_data / "keypoints" / "asl-signs-hello-thankyou.npz"),
                     train_sentences=10, dev_sentences=2, test_sentences=2, restitch=True)  # fmt: skip
    data = build_training_data(cfg)
    first, again, other = (data.train_for_epoch(cfg, e) for e in (3, 3, 4))
    assert [s.glosses for s in first] == [s.glosses for s in again]
    assert [len(s.keypoints) for s in first] != [len(s.keypoints) for s in other]
    assert data.train_for_epoch(cfg, 0) is data.train


def test_augment_moves_detected_points_only_and_is_seeded() -> None:
    import torch

    feats = torch.randn(40, 75, 4)
    feats[..., 3] = 1.0
    feats[:, 23:33] = 0.0  # legs not detected
    aug = Augment(rotate_deg=15, scale=0.1, jitter=0.01, hand_dropout=1.0, speed=0.2)
    torch.manual_seed(0)
    out = aug(feats.reshape(40, 300)).reshape(-1, 75, 4)
    torch.manual_seed(0)
    assert torch.equal(out.reshape(len(out), -1), aug(feats.reshape(40, 300)))
    assert 32 <= len(out) <= 50 and not torch.equal(out[:, :33, :3], feats[: len(out), :33, :3])
    assert torch.all(out[:, 23:33] == 0)  # undetected points stay zero (no conf invented)
    dropped = [int((out[:, hand, 3] == 0).all(dim=1).sum()) for hand in (slice(33, 54), slice(54, 75))]
    assert max(dropped) >= len(out) // 4 - 1 and min(dropped) == 0  # one hand vanished for a stretch
