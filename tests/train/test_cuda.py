"""CUDA: the model, the recognizer and training (fp16 autocast + GradScaler) on a GPU.

Skipped where no CUDA GPU is present (CI has none); run on a GPU machine with
``pytest tests/train/test_cuda.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cslr.config import ModelConfig
from cslr.data.vocab import Vocabulary
from cslr.model.network import CSLRModel
from cslr.stream.recognizer import Recognizer
from cslr.train.trainer import run_training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")

REPO = Path(__file__).resolve().parents[2]
SYNTH_TINY = REPO / "configs" / "synth-tiny.yaml"
TARGET_WER = 0.05
VOCAB = 12


def _fused_model() -> CSLRModel:
    cfg = ModelConfig(
        vocab_size=VOCAB, streams=("pose", "rgb"), rgb_backbone="tiny", rgb_size=32, temporal="causal"
    )
    torch.manual_seed(0)
    return CSLRModel(cfg, pretrained=False).eval()


def test_fused_model_on_cuda_matches_cpu() -> None:
    model = _fused_model()
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(2, 40, model.cfg.input_dim, generator=gen)
    frames = torch.randint(0, 256, (2, 40, 3, 32, 32), dtype=torch.uint8, generator=gen)
    lengths = torch.tensor([40, 29])
    with torch.inference_mode():
        cpu = model(features, lengths, frames=frames).log_probs
        gpu = model.cuda()(features.cuda(), lengths.cuda(), frames=frames.cuda()).log_probs.cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4), float((cpu - gpu).abs().max())


def test_recognizer_with_amp_agrees_with_fp32() -> None:
    torch.manual_seed(0)
    pose_only = CSLRModel(ModelConfig(vocab_size=VOCAB, temporal="causal"), pretrained=False)
    vocab = Vocabulary.from_glosses([f"G{i}" for i in range(VOCAB - 1)])
    assert len(vocab) == VOCAB
    fp32 = Recognizer(pose_only, vocab, device="cuda")
    amp = Recognizer(pose_only, vocab, device="cuda", use_amp=True)
    x = np.random.default_rng(2).standard_normal((256, pose_only.cfg.input_dim)).astype(np.float32)
    a, b = fp32.log_probs(x), amp.log_probs(x)
    assert a.shape == b.shape and np.isfinite(b).all()
    assert (a.argmax(-1) == b.argmax(-1)).mean() >= 0.95
    assert np.abs(a - b).max() < 0.1


@pytest.mark.slow
def test_trains_synthetic_signer_on_cuda_with_fp16_and_grad_scaler(tmp_path: Path) -> None:
    """The key synthetic test on the GPU with ``train.amp=auto`` (fp16 autocast + GradScaler)."""
    result = run_training(SYNTH_TINY, tmp_path, {"train.device": "cuda", "train.amp": "auto"})
    assert result.test is not None and result.test.num_reference > 200
    assert result.test.wer <= TARGET_WER, f"test WER {result.test.wer:.3f} > {TARGET_WER}"


def test_fused_live_stream_on_cuda_equals_offline() -> None:
    """A two-stream model with hand/face crops served on the GPU: live chunks give the offline glosses."""
    from cslr.export.parity import random_inputs
    from cslr.pose.keypoints import Keypoints
    from cslr.stream.features import EXACT_LOOKAHEAD
    from cslr.stream.session import Stream, StreamConfig
    from tests.stream.conftest import tiny_fused_recognizer
    from tests.stream.test_rgb_streams import play_with_frames
    from tests.stream.test_session import final_glosses

    cpu = tiny_fused_recognizer(("left_hand", "right_hand", "face"))
    gpu = Recognizer(cpu.model, cpu.vocab, device="cuda")
    rng = np.random.default_rng(3)
    frames = random_inputs(gpu.model.cfg, 120, batch=None, image=(64, 64)).frames
    assert frames is not None
    walk = np.cumsum(rng.normal(0, 0.01, (120, 75, 3)), axis=0).astype(np.float32)
    kp = Keypoints(0.5 + walk, np.ones((120, 75), np.float32), 25.0)
    offline = gpu.recognize(kp, frames=frames)
    assert len(offline.gloss) >= 2, "the seeded model should emit glosses"
    stream = Stream(gpu, StreamConfig(mode="chunk", lookahead_frames=EXACT_LOOKAHEAD))
    assert final_glosses(play_with_frames(stream, kp, frames, 5)) == list(offline.gloss)
