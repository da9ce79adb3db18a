"""``cslr eval``: the published known answer, STM/CTM matching, model scoring and plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cslr.cli import main
from cslr.train.evaluation import read_transcripts, score_files
from cslr.train.trainer import run_training
from tests.data.corpus_fixtures import synthetic_manifest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_known_answer_stmc_on_phoenix2014t_dev(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = shared_data / "text" / "phoenix2014T"
    code = main(
        ["eval", "--ref", str(text / "phoenix2014T.dev.gloss"), "--hyp", str(text / "stmc.dev.gloss")]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("WER=19.56% ")  # published: 19.6
    assert "substitutions=365 deletions=257 insertions=111 reference glosses=3748, 519 sentences" in out


def test_stm_reference_and_ctm_hypothesis_match_by_id(shared_data: Path, tmp_path: Path) -> None:
    stm = shared_data / "text" / "gloss-stm" / "phoenix2014-groundtruth-dev.stm"
    refs = read_transcripts(stm)
    assert not any(g.startswith("__") for _, r in refs for g in r)  # __ON__ / __OFF__ are not scored
    lines = []
    for k, (sid, glosses) in enumerate(reversed(refs)):  # another order than the reference
        if k == 0:
            continue  # one sentence missing: all its glosses are deletions
        words = list(glosses)
        if k == 1:
            words[0] = "FALSCH"  # one substitution
        if k == 2:
            words.append("EXTRA")  # one insertion
        lines += [f"{sid} 1 {0.1 * i:.2f} 0.10 {w}" for i, w in reversed(list(enumerate(words)))]
    (tmp_path / "hyp.ctm").write_text("\n".join(lines) + "\n")
    scored = score_files(stm, tmp_path / "hyp.ctm")
    r = scored.result
    assert (r.substitutions, r.deletions, r.insertions) == (1, len(refs[-1][1]), 1)
    assert scored.sentences == len(refs) == 540


def test_mismatched_files_are_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ref.txt").write_text("A B\nC\n")
    (tmp_path / "hyp.txt").write_text("A B\n")
    assert main(["eval", "--ref", str(tmp_path / "ref.txt"), "--hyp", str(tmp_path / "hyp.txt")]) == 2
    assert "2 reference lines but 1 hypothesis lines" in capsys.readouterr().err
    assert main(["eval", "--ref", str(tmp_path / "ref.txt")]) == 2


@pytest.mark.slow
def test_eval_checkpoint_on_recipe_split_with_plots(
    tiny_recipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_training(tiny_recipe, tmp_path / "run", {"train.epochs": 3})
    plots, hyps = tmp_path / "plots", tmp_path / "hyp.txt"
    args = ["eval", str(run.best_checkpoint), str(tiny_recipe), "--split", "test", "--plots", str(plots)]
    assert main([*args, "--hyp-out", str(hyps)]) == 0
    out = capsys.readouterr().out
    assert run.test is not None and out.startswith(f"WER={100 * run.test.wer:.2f}% ")  # as training scored it
    assert len(hyps.read_text().splitlines()) == 8
    for name in ("alignment.png", "learning_curve.png"):
        data = (plots / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    records = [json.loads(x) for x in (run.output_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and all(r["sequences_per_s"] > 0 for r in records)

    synthetic_manifest(tmp_path, ".jsonl")  # the same model on a manifest's dev split
    assert main(["eval", str(run.best_checkpoint), str(tmp_path / "manifest.jsonl"), "--split", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WER=") and out.rstrip().endswith("4 sentences)")
    assert main(["eval", str(run.best_checkpoint), str(tmp_path / "manifest.jsonl"), "--split", "test"]) == 2
    assert "no items in split 'test'" in capsys.readouterr().err
