"""Streaming features equal offline preprocessing at the exact look-ahead, in any split."""

from __future__ import annotations

import numpy as np
import pytest

from cslr.pose.keypoints import Keypoints, preprocess
from cslr.stream.features import EXACT_LOOKAHEAD, FeatureStream


def stream_features(kp: Keypoints, lookahead: int, split: int) -> np.ndarray:
    feats = FeatureStream(lookahead, kp.fps)
    rows = []
    for start in range(0, len(kp), split):
        feats.push(kp.xyz[start : start + split], kp.conf[start : start + split])
        rows.append(feats.pop(feats.available()))
    rows.append(feats.pop(feats.available(final=True)))
    return np.concatenate(rows)


@pytest.mark.parametrize("split", [1, 3, 8])
def test_exact_lookahead_equals_offline(real_clip: Keypoints, split: int) -> None:
    assert (real_clip.conf == 0).any(), "the real clip should contain undetected points"
    offline = preprocess(real_clip)
    online = stream_features(real_clip, EXACT_LOOKAHEAD, split)
    np.testing.assert_allclose(online, offline, atol=1e-5)


def test_small_lookahead_releases_early_and_differs_only_on_gaps(real_clip: Keypoints) -> None:
    feats = FeatureStream(lookahead=2)
    feats.push(real_clip.xyz[:10], real_clip.conf[:10])
    assert feats.available() == 8
    online = stream_features(real_clip, 0, 4)
    offline = preprocess(real_clip)
    assert online.shape == offline.shape
    same = np.isclose(online, offline, atol=1e-5).all(axis=1)
    assert same.mean() > 0.5  # frames without gaps agree


def test_drop_oldest_keeps_order() -> None:
    kp = Keypoints(np.random.default_rng(0).random((10, 75, 3)), np.ones((10, 75)))
    feats = FeatureStream(lookahead=0)
    feats.push(kp.xyz, kp.conf)
    assert feats.drop_oldest(4) == 4
    assert feats.pending() == 6
    rows = feats.pop(6)
    np.testing.assert_allclose(rows, preprocess(kp.slice(4, 10)), atol=1e-5)
