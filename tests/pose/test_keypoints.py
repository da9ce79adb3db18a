"""The keypoint contract: normalize, fill_gaps and to_features as pure functions, with named expectations."""

from __future__ import annotations

import numpy as np
import pytest

from cslr.pose.keypoints import (
    FEATURE_DIM,
    LEFT_SHOULDER,
    NUM_POINTS,
    RIGHT_SHOULDER,
    Keypoints,
    fill_gaps,
    normalize,
    preprocess,
    to_features,
)

WRIST = 40  # a left-hand point used as the "moving" point in the gap tests


def skeleton(num_frames: int = 5, seed: int = 0) -> Keypoints:
    """Random points, shoulders at x 0.4 / 0.6, y 0.5 (width 0.2), everything detected."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0.0, 1.0, (num_frames, NUM_POINTS, 3)).astype(np.float32)
    xyz[:, LEFT_SHOULDER] = [0.6, 0.5, 0.0]
    xyz[:, RIGHT_SHOULDER] = [0.4, 0.5, 0.0]
    return Keypoints(xyz, np.ones((num_frames, NUM_POINTS), np.float32))


def test_normalize_centres_on_the_shoulders_and_scales_by_their_width() -> None:
    kp = skeleton()
    out = normalize(kp)
    np.testing.assert_allclose(out.xyz[:, LEFT_SHOULDER], [[0.5, 0.0, 0.0]] * 5, atol=1e-6)
    np.testing.assert_allclose(out.xyz[:, RIGHT_SHOULDER], [[-0.5, 0.0, 0.0]] * 5, atol=1e-6)
    expected = (kp.xyz - np.array([0.5, 0.5, 0.0], np.float32)) / 0.2
    np.testing.assert_allclose(out.xyz, expected, rtol=1e-5, atol=1e-5)


def test_normalize_is_pure_and_invariant_to_shift_and_zoom() -> None:
    kp = skeleton()
    before = kp.xyz.copy()
    moved = Keypoints(kp.xyz * 0.5 + np.array([0.1, 0.2, 0.0], np.float32), kp.conf)
    np.testing.assert_allclose(normalize(moved).xyz, normalize(kp).xyz, atol=1e-4)
    np.testing.assert_array_equal(kp.xyz, before)


def test_normalize_borrows_shoulders_from_the_nearest_frame() -> None:
    kp = skeleton()
    conf = kp.conf.copy()
    conf[2, LEFT_SHOULDER] = 0.0  # frame 2 lost a shoulder: uses frame 1 or 3 (same geometry)
    out = normalize(Keypoints(kp.xyz, conf))
    np.testing.assert_allclose(out.xyz[2, 0], (kp.xyz[2, 0] - [0.5, 0.5, 0.0]) / 0.2, rtol=1e-5)
    assert out.xyz[2, LEFT_SHOULDER].tolist() == [0.0, 0.0, 0.0]  # still masked


def test_fill_gaps_only_up_to_max_gap() -> None:
    kp = skeleton(num_frames=12)
    xyz, conf = kp.xyz.copy(), kp.conf.copy()
    xyz[0, WRIST], xyz[3, WRIST] = [0.0, 0.0, 0.0], [0.3, 0.6, 0.9]
    conf[1:3, WRIST] = 0.0  # gap of 2 between frames 0 and 3: filled linearly
    conf[4:10, WRIST] = 0.0  # gap of 6: longer than max_gap=3, stays missing
    out = fill_gaps(Keypoints(xyz, conf), max_gap=3)
    np.testing.assert_allclose(out.xyz[1, WRIST], [0.1, 0.2, 0.3], atol=1e-6)
    np.testing.assert_allclose(out.xyz[2, WRIST], [0.2, 0.4, 0.6], atol=1e-6)
    assert 0.0 < out.conf[1, WRIST] < 1.0  # filled, and marked as less sure than observed
    assert (out.conf[4:10, WRIST] == 0).all()
    np.testing.assert_array_equal(conf, Keypoints(xyz, conf).conf)  # inputs untouched


def test_fill_gaps_leaves_the_ends_missing() -> None:
    kp = skeleton(num_frames=6)
    conf = kp.conf.copy()
    conf[:2, WRIST] = 0.0
    conf[4:, WRIST] = 0.0
    out = fill_gaps(Keypoints(kp.xyz, conf), max_gap=10)
    assert (out.conf[:2, WRIST] == 0).all() and (out.conf[4:, WRIST] == 0).all()


def test_conf_zero_stays_masked_in_features() -> None:
    kp = skeleton()
    conf = kp.conf.copy()
    conf[:, WRIST] = 0.0
    features = to_features(normalize(Keypoints(kp.xyz, conf)))
    assert features.shape == (5, FEATURE_DIM) and features.dtype == np.float32
    per_point = features.reshape(5, NUM_POINTS, 4)
    assert (per_point[:, WRIST] == 0).all()  # xyz and conf both zero
    assert (per_point[:, 0, 3] == 1).all()


def test_nan_input_becomes_conf_zero() -> None:
    kp = skeleton()
    xyz = kp.xyz.copy()
    xyz[1, WRIST, 0] = np.nan
    xyz[2, 0] = np.inf
    clean = Keypoints(xyz, kp.conf)
    assert clean.conf[1, WRIST] == 0 and clean.conf[2, 0] == 0
    assert np.isfinite(clean.xyz).all()
    assert np.isfinite(preprocess(clean)).all()


def test_no_shoulders_anywhere_uses_image_centre() -> None:
    kp = skeleton()
    conf = kp.conf.copy()
    conf[:, [LEFT_SHOULDER, RIGHT_SHOULDER]] = 0.0
    out = normalize(Keypoints(kp.xyz, conf))
    np.testing.assert_allclose(out.xyz[:, 0], kp.xyz[:, 0] - [0.5, 0.5, 0.0], atol=1e-6)


def test_contract_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="xyz must have shape"):
        Keypoints(np.zeros((3, 74, 3)), np.zeros((3, 74)))
    with pytest.raises(ValueError, match="conf must have shape"):
        Keypoints(np.zeros((3, NUM_POINTS, 3)), np.zeros((3, 10)))
