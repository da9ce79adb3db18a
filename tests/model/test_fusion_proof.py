"""Proof that fusion learns: on a task neither stream can solve alone, the fused model wins.

Each gloss of :func:`cslr.data.rgb.cue_corpus` is a movement (only in the keypoints) x a colour cue
(only in the rendered frames). Three models with the same sizes and training budget are trained on
the same sentences: pose-only, RGB-only and fused. Pose-only can at best guess the colour and RGB-only
the movement (about 50% WER each with 2 x 2 glosses); the fused model sees both.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cslr.config import ModelConfig
from cslr.data.rgb import VideoSequenceDataset, collate_video, cue_corpus
from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import greedy_decode
from cslr.model.network import CSLRModel
from cslr.train.metrics import word_error_rate

TRAIN_SENTENCES, TEST_SENTENCES = 300, 60
IMAGE_SIDE = 16
EPOCHS, BATCH, LR = 16, 8, 3e-3
SIZES = {
    "pose_hidden": 64,
    "pose_layers": 2,
    "rgb_backbone": "tiny",
    "rgb_size": IMAGE_SIDE,
    "rgb_dim": 32,
    "fusion_dim": 64,
    "fusion_heads": 2,
    "temporal": "bilstm",
    "hidden_size": 64,
    "num_layers": 1,
    "stride": 2,
    "dropout": 0.1,
}
NOT_ENOUGH = 0.3  # a single stream stays above this WER
FUSED_MAX = 0.15


def _train(streams: tuple[str, ...], train: DataLoader, vocab: Vocabulary) -> CSLRModel:
    torch.manual_seed(0)
    model = CSLRModel(ModelConfig(streams=streams, vocab_size=len(vocab), **SIZES))  # type: ignore[arg-type]
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=EPOCHS * len(train), pct_start=0.1)
    model.train()
    for _ in range(EPOCHS):
        for b in train:
            out = model(b.features, b.lengths, b.targets, b.target_lengths, **b.model_inputs())
            assert out.loss is not None
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def _wer(model: CSLRModel, test: DataLoader, vocab: Vocabulary) -> float:
    refs, hyps = [], []
    for b in test:
        out = model(b.features, b.lengths, **b.model_inputs())
        lp = out.log_probs.numpy()
        hyps += [
            vocab.decode(greedy_decode(lp[: int(n), i]).token_ids) for i, n in enumerate(out.out_lengths)
        ]
        refs += [vocab.decode(t[: int(n)].tolist()) for t, n in zip(b.targets, b.target_lengths, strict=True)]
    return word_error_rate(refs, hyps).wer


@pytest.mark.slow
def test_fused_beats_each_single_stream() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only adds contention on shared CPUs
    try:
        train = cue_corpus(TRAIN_SENTENCES, np.random.default_rng(0), size=IMAGE_SIDE)
        test = cue_corpus(TEST_SENTENCES, np.random.default_rng(1), size=IMAGE_SIDE)
        vocab = Vocabulary.build(s.glosses for s in train + test)
        train_loader = DataLoader(
            VideoSequenceDataset(train, vocab), batch_size=BATCH, shuffle=True, collate_fn=collate_video,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        test_loader = DataLoader(VideoSequenceDataset(test, vocab), batch_size=64, collate_fn=collate_video)
        wer = {
            s: _wer(_train(s, train_loader, vocab), test_loader, vocab)
            for s in (("pose",), ("rgb",), ("pose", "rgb"))
        }
    finally:
        torch.set_num_threads(threads)
    print(f"test WER: pose {wer[('pose',)]:.3f}, rgb {wer[('rgb',)]:.3f}, fused {wer[('pose', 'rgb')]:.3f}")
    fused = wer[("pose", "rgb")]
    assert wer[("pose",)] > NOT_ENOUGH and wer[("rgb",)] > NOT_ENOUGH, wer
    assert fused < wer[("pose",)] and fused < wer[("rgb",)], wer
    assert fused <= FUSED_MAX, wer
