"""``cslr eval``: WER of transcript files (plain, STM, CTM) or of a checkpoint on a dataset split; plots.

Transcript files:

- plain: one sentence a line, glosses separated by spaces (line-aligned with the other file);
- STM (``id channel speaker start end glosses...``, ``;;`` comments), as the PHOENIX / CSL-Daily scorers
  use for references;
- CTM (``id channel start duration gloss [confidence]``, one gloss a line), the usual hypothesis format.

Files with ids (STM, CTM) are matched by id, and an id missing from the hypotheses counts as an empty
hypothesis; plain files are matched line by line. Corpus markers (``__ON__`` ...) are removed from both
sides (:func:`cslr.data.vocab.clean_glosses`), as the PHOENIX scoring scripts do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cslr.config import ModelConfig, load_config
from cslr.data.corpora import load_corpus, normalize_split
from cslr.data.datasets import Sentence, build_training_data, load_item_keypoints
from cslr.data.frames import load_corpus_videos
from cslr.data.rgb import VideoSentence
from cslr.data.vocab import clean_glosses
from cslr.model.checkpoint import load_checkpoint
from cslr.model.inputs import frame_side
from cslr.train.metrics import WERResult, word_error_rate
from cslr.train.trainer import greedy_glosses, model_dataset, model_inputs

Transcripts = list[tuple[str | None, list[str]]]  # (id or None, glosses) per sentence


@dataclass(frozen=True)
class Scored:
    """A corpus score with the sentence count."""

    result: WERResult
    sentences: int

    def summary(self) -> str:
        """``WER=19.56% (S=.. D=.. I=.. N=.., 519 sentences)``."""
        r = self.result
        return (
            f"WER={100 * r.wer:.2f}% (substitutions={r.substitutions} deletions={r.deletions} "
            f"insertions={r.insertions} reference glosses={r.num_reference}, {self.sentences} sentences)"
        )


def read_transcripts(path: str | Path) -> Transcripts:
    """Sentences of a plain, STM or CTM file (format from the suffix, else from the content)."""
    path = Path(path)
    lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [f for f in lines if f and not f[0].startswith(";;")]
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("stm", "ctm"):
        kind = "stm" if lines and all(_is_stm(f) for f in lines) else "plain"
    if kind == "stm":
        return [(f[0], clean_glosses(f[5:])) for f in lines]
    if kind == "ctm":
        by_id: dict[str, list[tuple[float, str]]] = {}
        for f in lines:
            by_id.setdefault(f[0], []).append((float(f[2]), f[4]))
        return [
            (i, clean_glosses(g for _, g in sorted(words, key=lambda w: w[0]))) for i, words in by_id.items()
        ]
    return [(None, clean_glosses(f)) for f in lines]


def score_transcripts(refs: Transcripts, hyps: Transcripts) -> Scored:
    """Corpus WER of ``hyps`` against ``refs``: by id when both carry ids, else line by line."""
    if refs and hyps and refs[0][0] is not None and hyps[0][0] is not None:
        found = {str(i): h for i, h in hyps}
        unknown = sorted(set(found) - {str(i) for i, _ in refs})
        if unknown:
            raise ValueError(f"hypothesis ids not in the reference: {unknown[:3]}")
        pairs = [(r, found.get(str(i), [])) for i, r in refs]
    else:
        if len(refs) != len(hyps):
            raise ValueError(f"{len(refs)} reference lines but {len(hyps)} hypothesis lines")
        pairs = [(r, h) for (_, r), (_, h) in zip(refs, hyps, strict=True)]
    return Scored(word_error_rate([r for r, _ in pairs], [h for _, h in pairs]), len(pairs))


def score_files(ref: str | Path, hyp: str | Path) -> Scored:
    """WER of a hypothesis file against a reference file (see the module docstring)."""
    return score_transcripts(read_transcripts(ref), read_transcripts(hyp))


def _is_stm(fields: Sequence[str]) -> bool:
    if len(fields) < 5:
        return False
    try:
        float(fields[3]), float(fields[4])
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------------------------- plots


def plot_learning_curve(metrics_log: str | Path, out: str | Path) -> Path:
    """PNG of training loss and dev WER per epoch from a run's ``metrics.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(metrics_log).read_text().splitlines() if line.strip()]
    if not records:
        raise ValueError(f"{metrics_log}: no epochs recorded")
    epochs = [r["epoch"] for r in records]
    fig, loss_ax = plt.subplots(figsize=(7, 4))
    loss_ax.plot(epochs, [r["train_loss"] for r in records], color="tab:blue", label="train CTC loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("train CTC loss", color="tab:blue")
    wer_ax = loss_ax.twinx()
    dev = [(r["epoch"], 100 * r["dev_wer"]) for r in records if r.get("dev_wer") is not None]
    if dev:
        wer_ax.plot(*zip(*dev, strict=True), color="tab:red", marker="o", markersize=3, label="dev WER")
    wer_ax.set_ylabel("dev WER (%)", color="tab:red")
    fig.suptitle(f"learning curve: {Path(metrics_log).parent.name}")
    fig.tight_layout()
    return _save(fig, out)


def plot_alignment(
    log_probs: torch.Tensor | np.ndarray,
    tokens: Sequence[str],
    out: str | Path,
    reference: Sequence[str] = (),
    hypothesis: Sequence[str] = (),
    frame_rate: float | None = None,
) -> Path:
    """PNG of CTC posteriors over time for one sample: one curve per token that ever wins or is in
    the reference, the blank dashed.

    Args:
        log_probs: ``(T', V)`` log-probabilities of one sequence.
        tokens: vocabulary in id order (``tokens[0]`` is the blank).
        out: the PNG to write.
        reference, hypothesis: glosses shown in the title.
        frame_rate: output frames per second (x axis in seconds when given).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probs = np.exp(np.asarray(torch.as_tensor(log_probs).float().cpu()))
    shown = sorted(set(probs.argmax(1).tolist()) | {tokens.index(g) for g in reference if g in tokens} | {0})
    x = np.arange(len(probs)) / (frame_rate or 1.0)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for k in shown:
        if k == 0:
            ax.plot(x, probs[:, k], label=tokens[k], linestyle="--", color="grey")
        else:
            ax.plot(x, probs[:, k], label=tokens[k])
    ax.set_xlabel("seconds" if frame_rate else "output frame")
    ax.set_ylabel("posterior")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right", fontsize="small", ncol=max(1, len(shown) // 8))
    ax.set_title(f"ref: {' '.join(reference)}\nhyp: {' '.join(hypothesis)}", fontsize="small", loc="left")
    fig.tight_layout()
    return _save(fig, out)


def _save(fig: object, out: str | Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return out


# ------------------------------------------------------------------------------ model on a dataset


@dataclass(frozen=True)
class ModelScore:
    """What :func:`evaluate_checkpoint` found."""

    scored: Scored
    references: list[list[str]]
    hypotheses: list[list[str]]
    first_log_probs: torch.Tensor | None  # ``(T', V)`` of the first sentence, for the alignment plot


def dataset_sentences(
    dataset: str | Path,
    split: str = "test",
    fmt: str = "auto",
    cache_dir: str | Path | None = None,
    model: ModelConfig | None = None,
) -> list[Any]:
    """Sentences of one split: a YAML recipe's data section (stitched splits as in training), or a
    manifest / corpus folder (keypoints from the files or the ``cslr extract`` cache).

    For a model with an RGB stream (``model``, else the recipe's own) the sentences are
    :class:`~cslr.data.rgb.VideoSentence` s: rendered frames for ``synth-video``, the ``cslr extract
    --frames`` cache of a corpus (issue 4). A manifest / corpus folder gives keypoints only unless
    ``model`` is given."""
    path = Path(dataset)
    if path.suffix.lower() in (".yaml", ".yml"):
        cfg = load_config(path)
        data = build_training_data(cfg.data, frame_side(model or cfg.model))
        return {"train": data.train, "dev": data.dev, "test": data.test}[normalize_split(split)]
    items = [i for i in load_corpus(fmt, path) if i.split == normalize_split(split)]
    if not items:
        raise ValueError(f"{dataset}: no items in split {split!r}")
    cache = Path(cache_dir) if cache_dir else (path.parent if path.is_file() else path) / "keypoints"
    side = frame_side(model) if model is not None else None
    if side:
        return load_corpus_videos(items, cache, side, dataset)
    return [Sentence(load_item_keypoints(i, cache), i.glosses) for i in items]


@torch.no_grad()
def evaluate_checkpoint(
    checkpoint: str | Path, sentences: Sequence[Any], batch_size: int = 32, device: str = "cpu"
) -> ModelScore:
    """Greedy-decode ``sentences`` with a checkpoint and score them (glosses outside its vocabulary
    count as errors). Keypoint :class:`Sentence` s, or :class:`cslr.data.rgb.VideoSentence` s (a
    ``synth-video`` recipe) whose frames go to RGB / fused models, batched as in training."""
    model, cfg, vocab, _extra = load_checkpoint(checkpoint, map_location=device)
    if model.needs_frames and sentences and not isinstance(sentences[0], VideoSentence):
        raise ValueError(
            f"{checkpoint} has an RGB stream and needs video frames: score it on its recipe "
            "(`cslr eval CHECKPOINT RECIPE.yaml`), whose data section names the corpus and its frame cache"
        )
    refs = [list(s.glosses) for s in sentences]
    # targets are not used for decoding: drop unknown glosses so that they can be encoded
    known = [dataclasses.replace(s, glosses=tuple(g for g in s.glosses if g in vocab)) for s in sentences]
    dataset, collate_fn = model_dataset(known, vocab, cfg)
    hyps: list[list[str]] = []
    first = None
    for start in range(0, len(dataset), batch_size):
        batch = collate_fn([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch = batch.to(device)
        out = model(batch.features, batch.lengths, **model_inputs(batch))
        hyps += greedy_glosses(out.log_probs, out.out_lengths, vocab)
        if first is None:
            first = out.log_probs[: int(out.out_lengths[0]), 0].cpu()
    result = word_error_rate([clean_glosses(r) for r in refs], hyps)
    return ModelScore(Scored(result, len(sentences)), refs, hyps, first)
