"""Datasets, collate, resampling, the ISLR loader and signer-safe stitching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cslr.data.datasets import (
    IsolatedSign,
    KeypointSequenceDataset,
    collate,
    load_islr,
    resample,
    split_by_signer,
    stitch_isolated,
)
from cslr.pose.keypoints import DEFAULT_FPS, NUM_POINTS, RIGHT_HAND, Keypoints

ISLR = Path("keypoints") / "asl-signs-hello-thankyou.npz"


def _clip(signer: int, gloss: str, frames: int, rng: np.random.Generator) -> IsolatedSign:
    """A fake clip whose x coordinates encode its signer, so mixing is detectable."""
    xyz = rng.uniform(0.0, 1.0, (frames, NUM_POINTS, 3)).astype(np.float32)
    xyz[..., 0] = signer
    return IsolatedSign(Keypoints(xyz, np.ones((frames, NUM_POINTS), np.float32)), gloss, signer)


@pytest.fixture()
def fake_signs() -> list[IsolatedSign]:
    rng = np.random.default_rng(0)
    return [
        _clip(s, g, int(rng.integers(5, 20)), rng)
        for s in range(8)
        for g in ("A", "B", "C")
        for _ in range(3)
    ]


def test_collate_pads_and_keeps_lengths() -> None:
    ds = KeypointSequenceDataset([(np.ones((5, 300)), [1, 2]), (np.ones((3, 300)), [3])])
    batch = collate([ds[0], ds[1]])
    assert batch.features.shape == (2, 5, 300)
    assert batch.lengths.tolist() == [5, 3] and batch.target_lengths.tolist() == [2, 1]
    assert batch.targets.tolist() == [[1, 2], [3, 0]]
    assert torch.all(batch.features[1, 3:] == 0)


def test_resample_changes_length_and_keeps_missing_points() -> None:
    xyz = np.linspace(0, 1, 30)[:, None, None] * np.ones((30, NUM_POINTS, 3))
    conf = np.ones((30, NUM_POINTS), np.float32)
    conf[10:20, RIGHT_HAND] = 0
    out = resample(Keypoints(xyz, conf, 30.0), DEFAULT_FPS)
    assert len(out) == 25 and out.fps == DEFAULT_FPS
    assert (out.conf[:, RIGHT_HAND] == 0).any()
    assert np.all(np.diff(out.xyz[:, 0, 0]) > 0)  # still monotonic: interpolation, not shuffling


def test_split_by_signer_is_disjoint(fake_signs: list[IsolatedSign]) -> None:
    train, dev, test = split_by_signer(fake_signs, num_dev=2, num_test=2, seed=0)
    signers = [{s.signer for s in part} for part in (train, dev, test)]
    assert [len(s) for s in signers] == [4, 2, 2]
    assert not (signers[0] & signers[1]) and not (signers[0] & signers[2]) and not (signers[1] & signers[2])
    with pytest.raises(ValueError):
        split_by_signer(fake_signs, num_dev=4, num_test=4)


def test_stitching_never_mixes_signers(fake_signs: list[IsolatedSign]) -> None:
    sentences = stitch_isolated(fake_signs, 50, np.random.default_rng(0), min_signs=1, max_signs=6)
    assert len(sentences) == 50
    for sentence in sentences:
        assert 1 <= len(sentence.glosses) <= 6 and len(sentence.spans) == len(sentence.glosses)
        x = sentence.keypoints.xyz[..., 0]
        assert np.allclose(x, sentence.signer, atol=0.02)  # every frame, pauses included, from one signer
    assert any(len(s.glosses) > 1 for s in sentences)
    assert len({s.signer for s in sentences}) > 1


def test_stitched_spans_hold_the_clips(fake_signs: list[IsolatedSign]) -> None:
    sentence = stitch_isolated(fake_signs, 1, np.random.default_rng(3), 3, 3)[0]
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(sentence.spans, sentence.spans[1:], strict=False))
    assert sentence.spans[0][0] > 0 and sentence.spans[-1][1] < len(sentence.keypoints)


def test_load_islr_real_data(shared_data: Path) -> None:
    path = shared_data / ISLR
    if not path.exists():
        pytest.skip(f"{path} missing")
    signs = load_islr(path)
    assert len(signs) == 586 and {s.gloss for s in signs} == {"hello", "thankyou"}
    assert len({s.signer for s in signs}) == 16
    assert all(s.keypoints.fps == DEFAULT_FPS and np.isfinite(s.keypoints.xyz).all() for s in signs)
    missing = np.concatenate([s.keypoints.conf[:, RIGHT_HAND].max(1) == 0 for s in signs])
    assert 0 < missing.mean() < 1  # NaN hands became conf 0
    train, _dev, test = split_by_signer(signs, 2, 4, seed=0)
    sentences = stitch_isolated(test, 20, np.random.default_rng(0))
    test_signers = {s.signer for s in test}
    assert {s.signer for s in sentences} <= test_signers
    assert not test_signers & {s.signer for s in train}
