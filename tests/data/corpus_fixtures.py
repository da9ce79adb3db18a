"""Builders of small corpora in their exact release layouts, from real transcripts in ../shared/data.

Each builder takes the first few sentences of a real ground-truth STM file (real glosses, sentence
lengths and signers) and lays them out as the corpus release does; media are tiny frame folders (or,
for Kaggle ISLR, real landmark clips written as Kaggle parquet files).
"""

from __future__ import annotations

import csv
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cslr.pose.io import save_keypoints
from cslr.pose.synth import SyntheticSigner

STM = Path("text") / "gloss-stm"


@dataclass(frozen=True)
class StmLine:
    id: str
    signer: str
    glosses: tuple[str, ...]


def read_stm(path: Path, count: int) -> list[StmLine]:
    """The first ``count`` sentences of an STM file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines()[:count]:
        f = line.split()
        lines.append(StmLine(f[0], f[2], tuple(f[5:])))
    return lines


def write_frames(folder: Path, frames: list[np.ndarray] | None = None, count: int = 2) -> None:
    """A frame folder (``images0001.png`` ...): the given RGB frames, or ``count`` small grey images."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = frames or [np.full((26, 21, 3), 128, np.uint8)] * count
    for i, frame in enumerate(frames, 1):
        Image.fromarray(frame).save(folder / f"images{i:04d}.png")


def phoenix2014(root: Path, shared: Path, per_split: int = 4) -> dict[str, list[StmLine]]:
    """``phoenix2014-release/phoenix-2014-multisigner`` with ``annotations/manual/<split>.corpus.csv``."""
    corpus = root / "phoenix2014-release" / "phoenix-2014-multisigner"
    (corpus / "annotations" / "manual").mkdir(parents=True)
    stm = {"train": "train", "dev": "dev", "test": "test"}
    truth = {
        s: read_stm(shared / STM / f"phoenix2014-groundtruth-{f}.stm", per_split) for s, f in stm.items()
    }
    for split, lines in truth.items():
        rows = ["id|folder|signer|annotation"]
        for ln in lines:
            rows.append(f"{ln.id}|{ln.id}/1/*.png|{ln.signer}|{' '.join(ln.glosses)}")
            write_frames(corpus / "features" / "fullFrame-210x260px" / split / ln.id / "1")
        (corpus / "annotations" / "manual" / f"{split}.corpus.csv").write_text("\n".join(rows) + "\n")
    return truth


def phoenix2014t(root: Path, shared: Path, per_split: int = 4) -> dict[str, list[StmLine]]:
    """``PHOENIX-2014-T-release-v3/PHOENIX-2014-T`` with ``PHOENIX-2014-T.<split>.corpus.csv``."""
    corpus = root / "PHOENIX-2014-T-release-v3" / "PHOENIX-2014-T"
    (corpus / "annotations" / "manual").mkdir(parents=True)
    truth = {
        s: read_stm(shared / STM / f"phoenix2014-T-groundtruth-{s}.stm", per_split)
        for s in ("train", "dev", "test")
    }
    for split, lines in truth.items():
        rows = ["name|video|start|end|speaker|orth|translation"]
        for ln in lines:
            rows.append(
                f"{ln.id}|{ln.id}/1/*.png|-1|-1|{ln.signer}|{' '.join(ln.glosses)}|und nun das wetter"
            )
            write_frames(corpus / "features" / "fullFrame-210x260px" / split / ln.id)
        path = corpus / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"
        path.write_text("\n".join(rows) + "\n")
    return truth


def csl_daily(root: Path, shared: Path, per_split: int = 4) -> dict[str, list[StmLine]]:
    """``sentence_label/csl2020ct_v2.pkl`` + ``split_1.txt`` and ``sentence/frames_512x512/<name>``."""
    truth = {
        s: read_stm(shared / STM / f"CSL-Daily-groundtruth-{s}.stm", per_split)
        for s in ("train", "dev", "test")
    }
    info, split_rows = [], ["name|split"]
    for split, lines in truth.items():
        for ln in lines:
            signer = int(ln.id.split("_")[1][1:])  # S000020_P0008_T00: performer 8
            info.append({"name": ln.id, "length": 2, "label_gloss": list(ln.glosses),
                         "label_char": list("".join(ln.glosses)), "signer": signer})  # fmt: skip
            split_rows.append(f"{ln.id}|{split}")
            write_frames(root / "sentence" / "frames_512x512" / ln.id)
    (root / "sentence_label").mkdir(parents=True)
    with (root / "sentence_label" / "csl2020ct_v2.pkl").open("wb") as fh:
        pickle.dump({"info": info, "gloss_map": sorted({g for i in info for g in i["label_gloss"]})}, fh)
    (root / "sentence_label" / "split_1.txt").write_text("\n".join(split_rows) + "\n")
    return truth


def islr_kaggle(root: Path, shared: Path, per_signer: int = 3, signers: int = 4) -> list[dict[str, object]]:
    """``train.csv`` + ``train_landmark_files/<participant>/<sequence>.parquet`` in Kaggle's long format,
    from real clips of the asl-signs bundle (face rows included, as Kaggle has them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with np.load(shared / "keypoints" / "asl-signs-hello-thankyou.npz") as bundle:
        data, offsets = bundle["data"], bundle["offsets"]
        labels, people, seqs = bundle["labels"], bundle["participant_id"], bundle["sequence_id"]
    chosen: list[dict[str, object]] = []
    for person in sorted(set(people.tolist()))[:signers]:
        for i in np.nonzero(people == person)[0][:per_signer]:
            clip = data[offsets[i] : offsets[i + 1]]
            rel = f"train_landmark_files/{person}/{seqs[i]}.parquet"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(_long_format(clip)), root / rel)
            chosen.append({"path": rel, "participant_id": int(person), "sequence_id": int(seqs[i]),
                           "sign": str(labels[i]), "clip": clip})  # fmt: skip
    with (root / "train.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "participant_id", "sequence_id", "sign"])
        writer.writeheader()
        writer.writerows({k: v for k, v in c.items() if k != "clip"} for c in chosen)
    return chosen


def _long_format(clip: np.ndarray) -> dict[str, list[object]]:
    """Kaggle rows ``frame, row_id, type, landmark_index, x, y, z`` (face: 468 NaN points first)."""
    cols: dict[str, list[object]] = {
        k: [] for k in ("frame", "row_id", "type", "landmark_index", "x", "y", "z")
    }
    parts = [("face", None, 468), ("left_hand", 33, 21), ("pose", 0, 33), ("right_hand", 54, 21)]
    for t, frame in enumerate(clip):
        for kind, start, count in parts:
            for k in range(count):
                xyz = frame[start + k] if start is not None else (np.nan, np.nan, np.nan)
                cols["frame"].append(t + 20)
                cols["row_id"].append(f"{t + 20}-{kind}-{k}")
                cols["type"].append(kind)
                cols["landmark_index"].append(k)
                for axis, v in zip("xyz", xyz, strict=True):
                    cols[axis].append(float(v))
    return cols


def synthetic_manifest(root: Path, suffix: str) -> list[dict[str, str]]:
    """Keypoint files of the synthetic signer listed in a manifest (one row per sentence)."""
    signer, rng = SyntheticSigner(5, seed=0), np.random.default_rng(0)
    rows = []
    for k, split in enumerate(["train"] * 6 + ["dev"] * 2 + ["val"] * 2):
        ids = rng.integers(0, 5, int(rng.integers(1, 4))).tolist()
        kp, _ = signer.sentence(ids, rng)
        rel = f"clips/{k}.npz"
        (root / "clips").mkdir(exist_ok=True)
        save_keypoints(kp, root / rel)
        rows.append({"path": rel, "gloss": " ".join(signer.gloss_names[i] for i in ids),
                     "split": split, "signer": f"p{k % 3}"})  # fmt: skip
    if suffix == ".csv":
        lines = ["path,gloss,split,signer"] + [",".join(r.values()) for r in rows]
        (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    else:
        (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows
