"""Gloss-to-English on ASLG-PC12 dev: BLEU/chrF through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from cslr.cli import main
from cslr.language.evaluate import score

IDENTITY_BLEU = 38.9  # processed gloss taken as the sentence (README of the data)


def test_score_perfect_and_misaligned() -> None:
    assert score(["a b c d ."], ["a b c d ."]).bleu == pytest.approx(100)
    with pytest.raises(ValueError):
        score(["a"], ["a", "b"])


@pytest.mark.slow
def test_aslg_dev_beats_identity_baseline(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = shared_data / "text" / "aslg"
    if not (d / "aslg.dev.gloss.asl").exists():
        pytest.skip("ASLG-PC12 dev missing")
    assert (
        main(
            [
                "eval-language",
                "--lang",
                "asl",
                "--gloss",
                str(d / "aslg.dev.gloss.asl"),
                "--ref",
                str(d / "aslg.dev.en"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.strip()
    bleu = float(out.split()[0].split("=")[1])
    assert out.startswith("BLEU=") and " chrF=" in out
    assert bleu > IDENTITY_BLEU + 10
