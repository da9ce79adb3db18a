"""The synthetic signer: deterministic, well-formed, realistic gaps, distinct signs."""

from __future__ import annotations

import itertools

import numpy as np

from cslr.pose.keypoints import DEFAULT_FPS, FEATURE_DIM, LEFT_HAND, NUM_POINTS, RIGHT_HAND, preprocess
from cslr.pose.synth import SyntheticSigner, make_corpus


def test_same_seed_same_output() -> None:
    a = SyntheticSigner(8, seed=3).sentence([1, 2, 3], np.random.default_rng(7))
    b = SyntheticSigner(8, seed=3).sentence([1, 2, 3], np.random.default_rng(7))
    np.testing.assert_array_equal(a[0].xyz, b[0].xyz)
    np.testing.assert_array_equal(a[0].conf, b[0].conf)
    assert a[1] == b[1]


def test_different_seed_different_signs() -> None:
    a, _ = SyntheticSigner(8, seed=0).sentence([0], np.random.default_rng(0))
    b, _ = SyntheticSigner(8, seed=1).sentence([0], np.random.default_rng(0))
    assert a.xyz.shape != b.xyz.shape or not np.allclose(a.xyz, b.xyz)


def test_sentence_shapes_spans_and_features() -> None:
    signer = SyntheticSigner(6, seed=0)
    kp, spans = signer.sentence([0, 5, 5, 2], np.random.default_rng(1))
    assert kp.xyz.shape == (len(kp), NUM_POINTS, 3) and kp.fps == DEFAULT_FPS
    assert len(spans) == 4
    assert all(0 < s < e <= len(kp) for s, e in spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(spans))
    features = preprocess(kp)
    assert features.shape == (len(kp), FEATURE_DIM) and np.isfinite(features).all()


def test_sequences_contain_missing_hand_frames() -> None:
    corpus = make_corpus(SyntheticSigner(6, seed=0), 20, np.random.default_rng(0), 2, 4)
    for sentence in corpus:
        hands = sentence.keypoints.conf[:, RIGHT_HAND].max(1), sentence.keypoints.conf[:, LEFT_HAND].max(1)
        assert any((h == 0).any() for h in hands)  # some frame lost a hand
        assert (hands[0] > 0).any()  # but the signing hand is seen


def test_signs_move_the_hands() -> None:
    signer = SyntheticSigner(10, seed=0)
    kp, spans = signer.sentence(list(range(10)), np.random.default_rng(0))
    wrist_paths = [kp.xyz[s:e, RIGHT_HAND][:, 0, :2] for s, e in spans]
    starts = np.stack([p[0] for p in wrist_paths])
    distances = np.linalg.norm(starts[:, None] - starts[None], axis=-1)[np.triu_indices(10, 1)]
    assert distances.min() > 0.0 and np.median(distances) > 0.05  # signs start in different places
