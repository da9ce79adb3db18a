"""WER of a training recipe on the ISL 10-word data (evaluation only: that data may not train a shipped
model).

    CSLR_SHARED_DATA=../shared/data .venv/bin/python scripts/isl_eval.py configs/asl-default.yaml -o /tmp/isl

The bundle (``keypoints/isl-10words.npz``: ``X`` (10 words, 20 sequences, 30 frames, 258) = pose
33 x (x, y, z, visibility), left hand 21 x 3, right hand 21 x 3, a missing hand all zeros; ``classes``)
has one signer, so sequences are held out instead of signers: sequence numbers are split 12 / 4 / 4 into
train / dev / test for every word, and sentences are stitched (as for the default model) only from the
sequences of their own split. The recipe's model, optimisation, augmentation and sentence counts are
used unchanged; only the data source differs. Prints the test WER on sentences of unseen sequences.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import numpy as np
import torch

from cslr.config import apply_overrides, load_config
from cslr.data.datasets import (
    ISLR_FPS,
    IsolatedSign,
    TrainingData,
    resample,
    resolve_data_path,
    split_by_signer,
    stitch_isolated,
)
from cslr.data.vocab import Vocabulary
from cslr.model.network import CSLRModel
from cslr.pose.keypoints import NUM_POINTS, Keypoints
from cslr.train.trainer import EVAL_BATCH_SIZE, Trainer, make_loader, score_test, seed_everything

BUNDLE = "keypoints/isl-10words.npz"
DEV_SEQUENCES, TEST_SEQUENCES = 4, 4


def load_isl(path: Path) -> list[IsolatedSign]:
    """Every clip as an :class:`IsolatedSign` whose ``signer`` is its sequence number (0-19)."""
    with np.load(path) as bundle:
        x, classes = bundle["X"], [str(c) for c in bundle["classes"]]
    signs = []
    for w, word in enumerate(classes):
        for s in range(x.shape[1]):
            clip = x[w, s]
            xyz = np.zeros((len(clip), NUM_POINTS, 3), np.float32)
            conf = np.zeros((len(clip), NUM_POINTS), np.float32)
            pose = clip[:, :132].reshape(-1, 33, 4)
            xyz[:, :33], conf[:, :33] = pose[..., :3], np.clip(pose[..., 3], 0.0, 1.0)
            for start, offset in ((33, 132), (54, 195)):
                hand = clip[:, offset : offset + 63].reshape(-1, 21, 3)
                xyz[:, start : start + 21] = hand
                conf[:, start : start + 21] = (np.abs(hand).sum(-1) > 0).any(-1, keepdims=True)
            kp = resample(Keypoints(xyz, conf, ISLR_FPS), 25.0)
            signs.append(IsolatedSign(kp, word, s))
    return signs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("-o", "--output-dir", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = apply_overrides(load_config(args.config), dict(o.split("=", 1) for o in args.overrides))
    torch.set_num_threads(cfg.train.num_threads)
    seed_everything(cfg.train.seed)
    parts = split_by_signer(load_isl(resolve_data_path(BUNDLE)), DEV_SEQUENCES, TEST_SEQUENCES, cfg.data.seed)
    rng, d = np.random.default_rng(cfg.data.seed), cfg.data
    sizes = (d.train_sentences, d.dev_sentences, d.test_sentences)
    train, dev, test = (
        stitch_isolated(p, n, rng, d.min_signs, d.max_signs) for p, n in zip(parts, sizes, strict=True)
    )
    data = TrainingData(train, dev, test, list(parts[0]))
    vocab = Vocabulary.build(s.glosses for s in (*train, *dev, *test))
    cfg = dataclasses.replace(
        cfg, name="isl-10words", model=dataclasses.replace(cfg.model, vocab_size=len(vocab))
    )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev_loader = make_loader(dev, vocab, EVAL_BATCH_SIZE, None)
    trainer = Trainer(cfg, CSLRModel(cfg.model), vocab, data, dev_loader, out, torch.device("cpu"))
    state = trainer.fit()
    result = score_test(out / "best.pt", test, torch.device("cpu"))
    print(
        f"ISL 10 words, unseen sequences: best dev WER {100 * state.best_wer:.2f}% "
        f"(epoch {state.best_epoch}); "
        f"test WER={100 * result.wer:.2f}% (S={result.substitutions} D={result.deletions} "
        f"I={result.insertions} N={result.num_reference}, {len(test)} sentences)"
    )


if __name__ == "__main__":
    main()
