"""Dataset adapters: list the items (media, glosses, split, signer) of a corpus in its release layout.

Every adapter returns :class:`CorpusItem` s; nothing is decoded here. Media are videos, frame folders or
keypoint files; videos and frame folders are turned into keypoints once by ``cslr extract`` (a cache of
one ``.npz`` per item, see :mod:`cslr.data.extraction`), keypoint files are read directly. For RGB and
fused models ``cslr extract --frames SIZE`` also caches each item's frames (:mod:`cslr.data.frames`),
taken from :attr:`CorpusItem.frames_source`.

Layouts (``path`` is what ``data.path`` / ``cslr extract DATASET`` points at):

``manifest``
    A ``.csv`` (header row) or ``.jsonl`` file with the fields ``path`` (video, frame folder, ``.pose``,
    ``.npz`` or ``.parquet``; relative to the manifest's folder) and ``gloss`` (space-separated), and
    optionally ``split`` (train / dev / test; default train), ``signer``, ``id`` (default: the path)
    and, when ``path`` is a keypoint file, ``frames`` (or ``video``): the recording's video file or
    frame folder, for RGB and fused models (:attr:`CorpusItem.frames_source`).
``phoenix2014`` (RWTH-PHOENIX-Weather 2014, multisigner)
    ``phoenix-2014-multisigner/annotations/manual/{train,dev,test}.corpus.csv`` (``id|folder|signer|
    annotation``) and frames under ``features/fullFrame-210x260px/<split>/<folder>``.
``phoenix2014t`` (RWTH-PHOENIX-Weather 2014 T)
    ``PHOENIX-2014-T/annotations/manual/PHOENIX-2014-T.{train,dev,test}.corpus.csv`` (``name|video|start|
    end|speaker|orth|translation``) and frames under ``features/fullFrame-210x260px/<split>/<name>``.
``csl-daily``
    ``sentence_label/csl2020ct_v2.pkl`` (``info``: dicts with ``name``, ``label_gloss``, ``signer``),
    ``sentence_label/split_1.txt`` (``name|split``) and frames under ``sentence/frames_512x512/<name>``.
``islr-kaggle`` (Google "asl-signs")
    ``train.csv`` (``path,participant_id,sequence_id,sign``) and ``train_landmark_files/<participant>/
    <sequence>.parquet``. Isolated signs: one gloss per item, all in ``train`` (split by signer later).

For the PHOENIX and release folders, either the corpus folder itself or the release root holding it may
be given.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cslr.data.vocab import clean_glosses
from cslr.pose.io import KEYPOINT_SUFFIXES

SPLITS = ("train", "dev", "test")
SPLIT_ALIASES = {"val": "dev", "valid": "dev", "validation": "dev", "eval": "test"}
PHOENIX_FRAMES = Path("features") / "fullFrame-210x260px"
PHOENIX2014_FOLDER = "phoenix-2014-multisigner"
PHOENIX2014T_FOLDER = "PHOENIX-2014-T"
PHOENIX_ANNOTATIONS = Path("annotations") / "manual"
CSL_DAILY_LABELS = Path("sentence_label") / "csl2020ct_v2.pkl"
CSL_DAILY_SPLIT = Path("sentence_label") / "split_1.txt"
CSL_DAILY_FRAMES = Path("sentence") / "frames_512x512"
ISLR_CSV = "train.csv"
MANIFEST_PATH_KEYS = ("path", "media", "video")
MANIFEST_GLOSS_KEYS = ("gloss", "glosses", "annotation", "orth")
MANIFEST_FRAMES_KEYS = ("frames", "video")  # the recording beside a keypoint-file ``path``


@dataclass(frozen=True)
class CorpusItem:
    """One recording of a corpus.

    Attributes:
        id: unique name within the corpus (names the keypoint cache file).
        media: video file, frame folder, or keypoint file (``.npz``, ``.pose``, ``.parquet``).
        glosses: the gloss transcript, corpus markers such as ``__ON__`` removed.
        split: ``"train"``, ``"dev"`` or ``"test"``.
        signer: signer name as the corpus gives it ("" when unknown).
        video: the recording (video file or frame folder) when ``media`` is a keypoint file, for RGB
            and fused models; None when there is none (or when ``media`` is the recording itself).
    """

    id: str
    media: Path
    glosses: tuple[str, ...]
    split: str = "train"
    signer: str = ""
    video: Path | None = None

    @property
    def is_keypoints(self) -> bool:
        """Whether ``media`` is already a keypoint file (no extraction needed)."""
        return self.media.suffix.lower() in KEYPOINT_SUFFIXES

    @property
    def frames_source(self) -> Path | None:
        """The video file or frame folder holding the item's frames (PHOENIX and CSL-Daily: the
        frame folder; a manifest: ``path``, or its ``frames`` / ``video`` column beside a keypoint
        file); None when the corpus gives keypoints only."""
        return self.video if self.is_keypoints else self.media


def normalize_split(name: str) -> str:
    """``"val"`` -> ``"dev"`` etc.; ``ValueError`` for anything not a train/dev/test name."""
    split = SPLIT_ALIASES.get(name.strip().lower(), name.strip().lower())
    if split not in SPLITS:
        raise ValueError(f"unknown split {name!r} (use one of {SPLITS})")
    return split


def read_manifest(path: str | Path) -> list[CorpusItem]:
    """Items of a ``.csv`` or ``.jsonl`` manifest (see the module docstring); relative paths are resolved
    against the manifest's folder."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    elif path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
    else:
        raise ValueError(f"{path.name}: a manifest must be .csv or .jsonl")
    return [_manifest_item(row, path.parent, f"{path.name}:{i + 1}") for i, row in enumerate(rows)]


def _manifest_item(row: dict[str, Any], base: Path, where: str) -> CorpusItem:
    media = next((row[k] for k in MANIFEST_PATH_KEYS if row.get(k)), None)
    gloss = next((row[k] for k in MANIFEST_GLOSS_KEYS if row.get(k) is not None), None)
    if media is None or gloss is None:
        raise ValueError(f"{where}: a manifest row needs 'path' and 'gloss', got keys {sorted(row)}")
    glosses = gloss.split() if isinstance(gloss, str) else [str(g) for g in gloss]
    video = next((row[k] for k in MANIFEST_FRAMES_KEYS if row.get(k) and row[k] != media), None)
    return CorpusItem(
        id=str(row.get("id") or media),
        media=_under(base, media),
        glosses=tuple(clean_glosses(glosses)),
        split=normalize_split(str(row.get("split") or "train")),
        signer=str(row.get("signer") or ""),
        video=None if video is None else _under(base, video),
    )


def _under(base: Path, name: str) -> Path:
    """``name`` as given when absolute, else relative to ``base``."""
    return Path(name) if Path(name).is_absolute() else base / name


def read_phoenix2014(root: str | Path) -> list[CorpusItem]:
    """PHOENIX-2014 (multisigner) items from ``annotations/manual/<split>.corpus.csv``."""
    root = _corpus_root(Path(root), PHOENIX2014_FOLDER)
    items = []
    for split in SPLITS:
        for row in _read_pipe_csv(root / PHOENIX_ANNOTATIONS / f"{split}.corpus.csv"):
            folder = row["folder"].rsplit("/", 1)[0] if row["folder"].endswith(".png") else row["folder"]
            items.append(
                CorpusItem(
                    row["id"],
                    root / PHOENIX_FRAMES / split / folder,
                    tuple(clean_glosses(row["annotation"].split())),
                    split,
                    row["signer"],
                )
            )
    return items


def read_phoenix2014t(root: str | Path) -> list[CorpusItem]:
    """PHOENIX-2014-T items from ``annotations/manual/PHOENIX-2014-T.<split>.corpus.csv``."""
    root = _corpus_root(Path(root), PHOENIX2014T_FOLDER)
    items = []
    for split in SPLITS:
        for row in _read_pipe_csv(root / PHOENIX_ANNOTATIONS / f"PHOENIX-2014-T.{split}.corpus.csv"):
            items.append(
                CorpusItem(
                    row["name"],
                    root / PHOENIX_FRAMES / split / row["name"],
                    tuple(clean_glosses(row["orth"].split())),
                    split,
                    row["speaker"],
                )
            )
    return items


def read_csl_daily(root: str | Path) -> list[CorpusItem]:
    """CSL-Daily items from ``sentence_label/csl2020ct_v2.pkl`` and ``split_1.txt``."""
    root = Path(root)
    with (root / CSL_DAILY_LABELS).open("rb") as fh:
        labels = _SafeUnpickler(fh).load()
    splits = {}
    for line in (root / CSL_DAILY_SPLIT).read_text().splitlines():
        name, sep, split = line.strip().partition("|")
        if sep and name != "name":
            splits[name] = normalize_split(split)
    items = []
    for info in labels["info"]:
        name = str(info["name"])
        if name not in splits:
            continue
        items.append(
            CorpusItem(
                name,
                root / CSL_DAILY_FRAMES / name,
                tuple(clean_glosses(str(g) for g in info["label_gloss"])),
                splits[name],
                str(info.get("signer", "")),
            )
        )
    return items


def read_islr_kaggle(root: str | Path) -> list[CorpusItem]:
    """Google ISLR items from ``train.csv``; each is one isolated sign (``split`` train)."""
    root = Path(root)
    rows = list(csv.DictReader(io.StringIO((root / ISLR_CSV).read_text())))
    return [
        CorpusItem(row["sequence_id"], root / row["path"], (row["sign"],), "train", row["participant_id"])
        for row in rows
    ]


CORPUS_READERS: dict[str, Callable[[Path], list[CorpusItem]]] = {
    "manifest": read_manifest,
    "phoenix2014": read_phoenix2014,
    "phoenix2014t": read_phoenix2014t,
    "csl-daily": read_csl_daily,
    "islr-kaggle": read_islr_kaggle,
}
ISOLATED_CORPORA = frozenset({"islr-kaggle"})  # always stitched into sentences


def detect_format(path: str | Path) -> str:
    """Guess the layout of ``path``: a manifest file, or one of the corpus folders; ``ValueError`` if none."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() in (".csv", ".jsonl"):
            return "manifest"
        raise ValueError(f"{path}: not a manifest (.csv or .jsonl)")
    checks = [
        ("islr-kaggle", [Path(ISLR_CSV)]),
        ("csl-daily", [CSL_DAILY_LABELS]),
        ("phoenix2014t", [PHOENIX_ANNOTATIONS, Path(PHOENIX2014T_FOLDER) / PHOENIX_ANNOTATIONS]),
        ("phoenix2014", [PHOENIX_ANNOTATIONS, Path(PHOENIX2014_FOLDER) / PHOENIX_ANNOTATIONS]),
    ]
    for name, markers in checks:
        for marker in markers:
            if (path / marker).exists() and (name != "phoenix2014t" or _has_t_annotations(path / marker)):
                return name
    raise ValueError(f"{path}: not a known dataset layout (manifest, {', '.join(CORPUS_READERS)})")


def load_corpus(source: str, path: str | Path) -> list[CorpusItem]:
    """Items of the corpus ``source`` (a key of :data:`CORPUS_READERS`, or ``"auto"``) at ``path``."""
    if source == "auto":
        source = detect_format(path)
    if source not in CORPUS_READERS:
        raise ValueError(f"unknown dataset format {source!r}; choose from {sorted(CORPUS_READERS)}")
    if not Path(path).exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    items = CORPUS_READERS[source](Path(path))
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: item ids are not unique")
    return items


def cache_name(item_id: str) -> str:
    """File name of an item's keypoints in the extraction cache (ids may contain ``/``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", item_id).strip("._") + ".npz"


def _has_t_annotations(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("PHOENIX-2014-T.*.corpus.csv"))


def _corpus_root(root: Path, folder: str) -> Path:
    """``root`` itself, or ``root / folder`` when a release root was given."""
    return root / folder if (root / folder / PHOENIX_ANNOTATIONS).is_dir() else root


def _read_pipe_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a ``|``-separated annotation file with a header (missing split files give no rows)."""
    if not path.is_file():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")), delimiter="|"))


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data (dicts, lists, strings, numbers, numpy arrays) and refuses any other class."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("collections", "OrderedDict"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a label file")
        return super().find_class(module, name)
