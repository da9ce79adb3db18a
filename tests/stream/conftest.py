"""Fixtures for the streaming tests: tiny seeded models and real keypoint sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cslr.config import ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.model.network import CSLRModel
from cslr.pose.keypoints import Keypoints
from cslr.stream.recognizer import Recognizer

SEED = 7
FUSED_SEED = 8  # a seed whose untrained two-stream models emit several glosses on the real clip
INPUT_GAIN = 10.0  # an untrained LSTM with larger input weights follows its input instead of drifting
HEAD_GAIN = 5.0  # and a sharper head turns that into many different glosses
GLOSSES = ("hello", "thankyou", "house")
SEQUENCES_PER_CLIP = 10  # real sequences joined into one continuous clip


def tiny_recognizer(temporal: str = "causal", stride: int = 1, seed: int = SEED) -> Recognizer:
    """A seeded, untrained model: arbitrary but deterministic glosses, enough to test the plumbing."""
    return _seeded_recognizer(seed, temporal=temporal, stride=stride)


def tiny_fused_recognizer(
    rois: tuple[str, ...] = (), temporal: str = "causal", streams: tuple[str, ...] = ("pose", "rgb"),
    seed: int = FUSED_SEED,
) -> Recognizer:
    """A seeded, untrained two-stream model (tiny CNN on 32x32 frames, gated fusion), as above."""
    return _seeded_recognizer(seed, temporal=temporal, streams=streams, rgb_backbone="tiny", rgb_size=32,
                              rgb_dim=32, fusion_dim=32, fusion_heads=2, rgb_rois=rois, roi_size=16)


def _seeded_recognizer(seed: int, **model: Any) -> Recognizer:
    """A small seeded model of ``model`` settings, its LSTM input and head weights scaled up."""
    torch.manual_seed(seed)
    vocab = Vocabulary.from_glosses(GLOSSES)
    cfg = ModelConfig(pose_hidden=32, pose_layers=1, hidden_size=32, num_layers=2, dropout=0.0,
                      vocab_size=len(vocab), **model)
    net = CSLRModel(cfg, pretrained=False)
    with torch.no_grad():
        for name, param in net.encoder.named_parameters():
            if "weight_ih" in name:
                param.mul_(INPUT_GAIN)
        net.head.weight.mul_(HEAD_GAIN)
    return Recognizer(net, vocab, device="cpu")


def load_real_clip(shared_data: Path, first: int = 0, count: int = SEQUENCES_PER_CLIP) -> Keypoints:
    """Real ISLR sequences (hello / thankyou signers) joined into one clip, NaN = not detected."""
    path = shared_data / "keypoints" / "asl-signs-hello-thankyou.npz"
    if not path.exists():
        pytest.skip(f"{path} missing")
    data = np.load(path)
    offsets = data["offsets"]
    xyz = data["data"][offsets[first] : offsets[first + count]]
    conf = np.where(np.isnan(xyz).any(axis=-1), 0.0, 1.0).astype(np.float32)
    return Keypoints(np.nan_to_num(xyz), conf, fps=25.0)


@pytest.fixture(scope="session")
def real_clip(shared_data: Path) -> Keypoints:
    return load_real_clip(shared_data)


@pytest.fixture(scope="session")
def real_video_clip(real_video: Path) -> tuple[Keypoints, np.ndarray]:
    """A real signing video as (MediaPipe keypoints, decoded uint8 frames ``(T, H, W, 3)``)."""
    from cslr.pose.holistic import HolisticExtractor
    from cslr.video import read_video

    clip = read_video(real_video, fps=25.0)
    with HolisticExtractor() as extractor:
        kp = extractor.extract(iter(clip.frames), clip.fps)
    return kp, clip.frames
