"""The bundled default model on real data: sentences stitched from signers it never saw in training.

A golden decode: the shipped checkpoint must recognise held-out signers' sentences (Google ISLR, CC BY
4.0) through every interface — the Recognizer, the CLI on a keypoint file, and REST — with the same
answer, and its WER must stay near the figure its model card reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from cslr.cli import main
from cslr.data.datasets import load_islr, split_by_signer, stitch_isolated
from cslr.model.checkpoint import default_checkpoint_path, load_checkpoint
from cslr.pose.io import save_keypoints
from cslr.serve.settings import Settings
from cslr.stream.recognizer import Recognizer
from cslr.train.metrics import word_error_rate
from tests.serve.conftest import LiveServer

pytestmark = pytest.mark.slow
ISLR_BUNDLE = "keypoints/asl-signs-hello-thankyou.npz"
NUM_SENTENCES = 40
MAX_WER = 0.35  # the card reports ~0.2 on unseen signers; this bound catches a broken model or pipeline


@pytest.fixture(scope="module")
def unseen_sentences(shared_data: Path):  # type: ignore[no-untyped-def]
    """Sentences stitched only from the held-out test signers of the default model's own data split."""
    _, cfg, _, _ = load_checkpoint(default_checkpoint_path())
    signs = load_islr(shared_data / ISLR_BUNDLE)
    _, _, test = split_by_signer(signs, cfg.data.dev_signers, cfg.data.test_signers, cfg.data.seed)
    return stitch_isolated(test, NUM_SENTENCES, np.random.default_rng(1234), 1, 4)


def test_default_model_recognises_unseen_signers(unseen_sentences) -> None:  # type: ignore[no-untyped-def]
    recognizer = Recognizer.from_checkpoint(device="cpu")
    refs = [list(s.glosses) for s in unseen_sentences]
    hyps = [list(recognizer.recognize(s.keypoints).gloss) for s in unseen_sentences]
    score = word_error_rate(refs, hyps).wer
    assert score <= MAX_WER, f"WER {score:.1%} on unseen signers"
    assert sum(h == r for h, r in zip(hyps, refs, strict=True)) >= NUM_SENTENCES // 3  # whole sentences right


def test_cli_and_rest_agree_with_the_recognizer(  # type: ignore[no-untyped-def]
    unseen_sentences, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sentence = unseen_sentences[0]
    path = tmp_path / "unseen.npz"
    save_keypoints(sentence.keypoints, path)
    expected = Recognizer.from_checkpoint(device="cpu").recognize(sentence.keypoints)

    assert main(["recognize", str(path), "--json"]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    server = LiveServer(Settings(state_dir=tmp_path / "state", pose_workers=1)).start()
    try:
        with path.open("rb") as fh:
            from_rest = httpx.post(
                f"{server.url}/api/inference/predict", files={"file": ("unseen.npz", fh)}
            ).json()
    finally:
        server.stop()
    for result in (from_cli, from_rest):
        assert result["gloss"] == list(expected.gloss)
        assert result["sentence"] == expected.sentence
        assert result["frame_count"] == len(sentence.keypoints)
