"""Frames rendered from the synthetic signer's keypoints."""

from __future__ import annotations

import numpy as np

from cslr.data.rgb import CUE_COLOURS, cue_corpus
from cslr.pose.render import load_frames, render_frames, save_sample
from cslr.pose.synth import SyntheticSigner


def _kp():
    return SyntheticSigner(3, seed=0).sentence([0, 1], np.random.default_rng(0))


def test_frames_follow_the_hands() -> None:
    kp, spans = _kp()
    frames = render_frames(kp, size=32)
    assert frames.shape == (len(kp), 3, 32, 32) and frames.dtype == np.uint8
    start, end = spans[0]
    assert np.abs(frames[start].astype(int) - frames[end - 1].astype(int)).sum() > 0  # the hands moved


def test_hidden_hands_show_no_movement_and_badge_shows_colour(tmp_path) -> None:
    kp, spans = _kp()
    badge = np.full((len(kp), 3), np.nan, np.float32)
    badge[spans[0][0] : spans[0][1]] = CUE_COLOURS["red"]
    frames = render_frames(kp, size=32, hand_style="hidden", badge_colours=badge)
    sign = slice(*spans[1])
    hidden = frames[sign].astype(float)
    shown = render_frames(kp, size=32)[sign].astype(float)
    # the second sign moves the hands: visible with hands drawn, only jitter of static points without
    assert np.abs(hidden - hidden[0]).mean() < 0.25 * np.abs(shown - shown[0]).mean()
    lit = frames[spans[0][0]].astype(int)
    assert (lit[0] - lit[2]).max() > 100  # a red badge
    path = save_sample(tmp_path / "s.npz", kp, frames)
    np.testing.assert_array_equal(load_frames(path), frames)


def test_cue_corpus_glosses_pair_movement_and_colour() -> None:
    corpus = cue_corpus(4, np.random.default_rng(0), size=16)
    for s in corpus:
        assert len(s.frames) == len(s.keypoints)
        assert all(g.split("-")[1] in CUE_COLOURS for g in s.glosses)
