"""Datasets of (features, gloss ids) sentences, the Kaggle-ISLR loader, and stitching of isolated signs.

Isolated signs become continuous sentences with :func:`stitch_isolated`: 1-6 clips of the *same* signer
joined by natural pauses (a held last frame, a short rest with the hands out of view, or a smooth
transition), with small jitter. Splits are made by signer (:func:`split_by_signer`) so that evaluation
signers are never seen in training.

Stitching is how the bundled default model is trained (``configs/asl-default.yaml``): Google's isolated
ISLR clips become sentences of 1-6 signs of one signer, with ``data.restitch`` drawing new sentences every
epoch (seeded by ``data.seed`` and the epoch, so a resumed run sees the same ones); see
``docs/training.md``.

Continuous corpora (manifest, PHOENIX-2014/-T, CSL-Daily; :mod:`cslr.data.corpora`) keep their own
splits; their keypoints come from the files themselves or from the ``cslr extract`` cache, and for a
model with an RGB stream their frames from the frame cache (:mod:`cslr.data.frames`, issue 4).
Training augmentation (:class:`Augment`) acts on the normalised features with torch's random generator,
so resuming a run with restored RNG states replays it exactly.

Frame rate: the ISLR phone recordings are ~30 fps while the live pipeline and the synthetic signer run
at 25 fps (``DEFAULT_FPS``). :func:`load_islr` resamples every clip to 25 fps so a trained model sees
the same temporal scale in training and in serving.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cslr.config import DataConfig
from cslr.data.corpora import ISOLATED_CORPORA, CorpusItem, cache_name, load_corpus
from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import BLANK_ID
from cslr.pose.io import load_keypoints
from cslr.pose.keypoints import BODY, DEFAULT_FPS, LEFT_HAND, RIGHT_HAND, Keypoints, preprocess
from cslr.pose.synth import SyntheticSigner, make_corpus

ISLR_FPS = 30.0  # Kaggle ISLR phone recordings
PAUSE_FRAMES = (2, 10)  # frames of pause between stitched signs
EDGE_FRAMES = (3, 12)  # frames of rest before the first and after the last sign
PAUSE_JITTER = 0.002  # std of coordinate noise on synthesised pause frames
PAUSE_KINDS = ("hold", "rest", "glide")
BODY_HAND_POINTS = slice(15, 23)  # body points 15-22: wrists, pinkies, index fingers, thumbs
DATA_ENV = "CSLR_SHARED_DATA"


@dataclass(frozen=True)
class IsolatedSign:
    """One isolated sign clip: keypoints, its gloss, and who signed it."""

    keypoints: Keypoints
    gloss: str
    signer: int


@dataclass(frozen=True)
class Sentence:
    """A continuous sentence: keypoints, its glosses, the signer (-1 if unknown), frame span per sign."""

    keypoints: Keypoints
    glosses: tuple[str, ...]
    signer: int = -1
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Batch:
    """Padded mini-batch.

    Attributes:
        features: float32 ``(B, T, F)``, zero-padded after each sequence's length.
        lengths: int64 ``(B,)`` frames per sequence.
        targets: int64 ``(B, S)`` gloss ids, padded with the blank.
        target_lengths: int64 ``(B,)`` glosses per sequence.
    """

    features: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device``."""
        return Batch(
            *(t.to(device) for t in (self.features, self.lengths, self.targets, self.target_lengths))
        )


class KeypointSequenceDataset(Dataset):
    """Items ``(features (T, F) float32, gloss ids (S,) int64)``; features are computed once, up front.

    ``transform`` (e.g. :class:`Augment`) is applied to the features each time an item is read.
    """

    def __init__(
        self,
        items: Sequence[tuple[np.ndarray, Sequence[int]]],
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.items = [
            (torch.as_tensor(f, dtype=torch.float32), torch.as_tensor(list(g), dtype=torch.long))
            for f, g in items
        ]
        self.transform = transform

    @classmethod
    def from_sentences(
        cls,
        sentences: Sequence[Sentence],
        vocab: Vocabulary,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> KeypointSequenceDataset:
        """Preprocess each sentence's keypoints (:func:`preprocess`) and encode its glosses."""
        return cls([(preprocess(s.keypoints), vocab.encode(s.glosses)) for s in sentences], transform)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        features, targets = self.items[index]
        return (features if self.transform is None else self.transform(features)), targets


def collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Batch:
    """Pad features ``(T_i, F)`` to ``(B, T_max, F)`` and targets to ``(B, S_max)``; keep the lengths."""
    feats, targets = zip(*batch, strict=True)
    lengths = torch.tensor([len(f) for f in feats], dtype=torch.long)
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    padded = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True)
    padded_targets = torch.nn.utils.rnn.pad_sequence(list(targets), batch_first=True, padding_value=BLANK_ID)
    return Batch(padded, lengths, padded_targets, target_lengths)


def resample(kp: Keypoints, fps: float) -> Keypoints:
    """``kp`` at a new frame rate: linear interpolation where both neighbours are detected, else nearest."""
    if abs(kp.fps - fps) < 1e-6 or len(kp) < 2:
        return Keypoints(kp.xyz, kp.conf, fps if len(kp) < 2 else kp.fps)
    n = max(1, round(len(kp) * fps / kp.fps))
    pos = np.minimum(np.arange(n) * kp.fps / fps, len(kp) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(kp) - 1)
    w = (pos - lo)[:, None]
    both = (kp.conf[lo] > 0) & (kp.conf[hi] > 0)
    nearest = np.where(w < 0.5, lo[:, None], hi[:, None])
    points = np.arange(kp.xyz.shape[1])[None]
    linear = (1 - w)[..., None] * kp.xyz[lo] + w[..., None] * kp.xyz[hi]
    xyz = np.where(both[..., None], linear, kp.xyz[nearest, points])
    conf = np.where(both, np.minimum(kp.conf[lo], kp.conf[hi]), kp.conf[nearest, points])
    return Keypoints(xyz.astype(np.float32), conf.astype(np.float32), fps)


def resolve_data_path(path: str | Path) -> Path:
    """``path`` (file or folder) if it exists, else relative to ``$CSLR_SHARED_DATA``; else
    ``FileNotFoundError``."""
    candidates = [Path(path)]
    if os.environ.get(DATA_ENV) and not Path(path).is_absolute():
        candidates.append(Path(os.environ[DATA_ENV]) / path)
    for candidate in candidates:
        if str(path) and candidate.exists():
            return candidate
    raise FileNotFoundError(f"data file not found: {path} (relative paths are also tried under ${DATA_ENV})")


def load_islr(path: str | Path, fps: float = DEFAULT_FPS) -> list[IsolatedSign]:
    """Read a Kaggle-ISLR bundle (``data``, ``offsets``, ``labels``, ``participant_id``) as isolated signs.

    NaN coordinates become conf 0 (not detected); detected points get conf 1. Clips are resampled from
    ``ISLR_FPS`` to ``fps``.
    """
    with np.load(resolve_data_path(path), allow_pickle=False) as bundle:
        data, offsets = bundle["data"], bundle["offsets"]
        labels, signers = bundle["labels"], bundle["participant_id"]
    signs = []
    for i, label in enumerate(labels):
        xyz = data[offsets[i] : offsets[i + 1]]
        conf = np.isfinite(xyz).all(axis=-1).astype(np.float32)
        kp = resample(Keypoints(xyz, conf, ISLR_FPS), fps)
        signs.append(IsolatedSign(kp, str(label), int(signers[i])))
    return signs


def split_by_signer(
    signs: Sequence[IsolatedSign], num_dev: int, num_test: int, seed: int = 0
) -> tuple[list[IsolatedSign], list[IsolatedSign], list[IsolatedSign]]:
    """Partition ``signs`` into train / dev / test by signer: no signer is in two parts."""
    signers = sorted({s.signer for s in signs})
    if num_dev + num_test >= len(signers):
        raise ValueError(f"{len(signers)} signers cannot hold out {num_dev} dev + {num_test} test signers")
    order = np.random.default_rng(seed).permutation(signers).tolist()
    dev, test = set(order[:num_dev]), set(order[num_dev : num_dev + num_test])
    return (
        [s for s in signs if s.signer not in dev | test],
        [s for s in signs if s.signer in dev],
        [s for s in signs if s.signer in test],
    )


def stitch_isolated(
    signs: Sequence[IsolatedSign],
    num_sentences: int,
    rng: np.random.Generator,
    min_signs: int = 1,
    max_signs: int = 6,
) -> list[Sentence]:
    """Continuous sentences, each made of ``min_signs``..``max_signs`` clips of one signer.

    A signer is drawn at random for each sentence, then clips of that signer (with replacement); clips
    are joined by pauses (see :func:`_pause`) and framed by rest periods. All clips must share one fps.
    """
    by_signer: dict[int, list[IsolatedSign]] = defaultdict(list)
    for sign in signs:
        by_signer[sign.signer].append(sign)
    if not by_signer:
        raise ValueError("no signs to stitch")
    signer_ids = sorted(by_signer)
    sentences = []
    for _ in range(num_sentences):
        signer = signer_ids[int(rng.integers(len(signer_ids)))]
        pool = by_signer[signer]
        picks = [
            pool[int(i)] for i in rng.integers(0, len(pool), int(rng.integers(min_signs, max_signs + 1)))
        ]
        sentences.append(_join(picks, signer, rng))
    return sentences


def _join(picks: Sequence[IsolatedSign], signer: int, rng: np.random.Generator) -> Sentence:
    """Concatenate clips with pauses between them and rest at both ends."""
    first, last = picks[0].keypoints, picks[-1].keypoints
    parts = [_rest(first, 0, _draw(rng, EDGE_FRAMES), rng)]
    spans = []
    length = len(parts[0])
    for i, pick in enumerate(picks):
        if i:
            pause = _pause(picks[i - 1].keypoints, pick.keypoints, rng)
            parts.append(pause)
            length += len(pause)
        parts.append(pick.keypoints)
        spans.append((length, length + len(pick.keypoints)))
        length += len(pick.keypoints)
    parts.append(_rest(last, len(last) - 1, _draw(rng, EDGE_FRAMES), rng))
    return Sentence(Keypoints.concat(parts), tuple(p.gloss for p in picks), signer, tuple(spans))


def _draw(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _pause(a: Keypoints, b: Keypoints, rng: np.random.Generator) -> Keypoints:
    """Frames between clips ``a`` and ``b``: hold ``a``'s last frame, rest (hands gone), or glide to ``b``."""
    frames = _draw(rng, PAUSE_FRAMES)
    kind = PAUSE_KINDS[int(rng.integers(len(PAUSE_KINDS)))]
    if kind == "hold":
        return _jitter(
            Keypoints(np.repeat(a.xyz[-1:], frames, 0), np.repeat(a.conf[-1:], frames, 0), a.fps), rng
        )
    if kind == "rest":
        return _rest(a, len(a) - 1, frames, rng)
    w = np.linspace(0.0, 1.0, frames + 2)[1:-1, None, None]
    both = (a.conf[-1] > 0) & (b.conf[0] > 0)
    xyz = (1 - w) * a.xyz[-1] + w * b.xyz[0]
    conf = np.repeat(np.where(both, np.minimum(a.conf[-1], b.conf[0]), 0.0)[None], frames, 0)
    return _jitter(Keypoints(xyz, conf, a.fps), rng)


def _rest(kp: Keypoints, frame: int, frames: int, rng: np.random.Generator) -> Keypoints:
    """``frames`` frames of the body of ``kp[frame]`` with both hands out of view (conf 0).

    The body model's own wrist and finger points (``BODY_HAND_POINTS``) are hidden too: kept, they
    showed where the neighbouring sign starts or ends, so a model could name the first sign from the
    rest frames before it was signed (a leak that real recordings do not have).
    """
    conf = np.zeros((frames, kp.conf.shape[1]), np.float32)
    conf[:, BODY] = kp.conf[frame, BODY]
    conf[:, BODY_HAND_POINTS] = 0.0
    return _jitter(Keypoints(np.repeat(kp.xyz[frame : frame + 1], frames, 0), conf, kp.fps), rng)


def _jitter(kp: Keypoints, rng: np.random.Generator) -> Keypoints:
    """Small Gaussian noise on the coordinates."""
    return Keypoints(kp.xyz + rng.normal(0.0, PAUSE_JITTER, kp.xyz.shape).astype(np.float32), kp.conf, kp.fps)


def synth_sentences(
    signer: SyntheticSigner, num: int, rng: np.random.Generator, cfg: DataConfig
) -> list[Sentence]:
    """``num`` synthetic sentences as :class:`Sentence` (glosses named by ``signer.gloss_names``)."""
    names = signer.gloss_names
    corpus = make_corpus(signer, num, rng, cfg.min_signs, cfg.max_signs)
    return [Sentence(s.keypoints, tuple(names[i] for i in s.gloss_ids), -1, s.spans) for s in corpus]


def build_splits(cfg: DataConfig) -> tuple[list[Sentence], list[Sentence], list[Sentence]]:
    """Train, dev and test sentences for a data config (see :func:`build_training_data`)."""
    data = build_training_data(cfg)
    return data.train, data.dev, data.test


# --- issue 3: corpora, re-stitching, augmentation ---


@dataclass
class TrainingData:
    """The sentences of one recipe, and the isolated training signs when the sentences are stitched.

    Attributes:
        train, dev, test: sentences per split.
        pool: isolated training signs (empty unless stitched); :meth:`train_for_epoch` re-stitches them.
    """

    train: list[Sentence]
    dev: list[Sentence]
    test: list[Sentence]
    pool: list[IsolatedSign] = field(default_factory=list)

    def train_for_epoch(self, cfg: DataConfig, epoch: int) -> list[Sentence]:
        """Epoch ``epoch``'s training sentences: fresh ones (seeded by seed and epoch) with
        ``cfg.restitch``, else always :attr:`train`."""
        if not cfg.restitch or not self.pool or epoch == 0:
            return self.train
        rng = np.random.default_rng([cfg.seed, epoch])
        return stitch_isolated(self.pool, cfg.train_sentences, rng, cfg.min_signs, cfg.max_signs)


def build_training_data(cfg: DataConfig, frames: int | None = None) -> TrainingData:
    """Sentences for a data config: synthetic, stitched isolated signs split by signer, or a corpus.

    Args:
        cfg: the recipe's data section.
        frames: for a model with an RGB stream, the side of its frames
            (:func:`cslr.model.inputs.frame_side`): a corpus then gives
            :class:`cslr.data.rgb.VideoSentence` s with frames memory-mapped from the ``cslr extract
            --frames`` cache (``synth-video`` renders its own at ``data.image_size``). None: keypoints.

    Raises:
        FileNotFoundError: keypoints or frames not extracted yet (the message gives the command).
        ValueError: ``frames`` asked of a source without video (``synth``, ``islr``, stitched signs).
    """
    rng = np.random.default_rng(cfg.seed)
    if frames and (cfg.source in ("synth", "islr", *ISOLATED_CORPORA) or cfg.stitch):
        raise ValueError(
            f"data.source {cfg.source!r}{' with data.stitch' if cfg.stitch else ''} has no video frames for "
            "a model with an RGB stream: use synth-video or a corpus of videos or frame folders "
            "(manifest, phoenix2014, phoenix2014t, csl-daily)"
        )
    sizes = (cfg.train_sentences, cfg.dev_sentences, cfg.test_sentences)
    if cfg.source == "synth":
        signer = SyntheticSigner(cfg.num_glosses, seed=cfg.seed)
        train, dev, test = (synth_sentences(signer, n, rng, cfg) for n in sizes)
        return TrainingData(train, dev, test)
    if cfg.source == "synth-video":  # issue 4: VideoSentence splits (keypoints + rendered frames)
        from cslr.data.rgb import CUE_COLOURS, cue_corpus

        unknown = [c for c in cfg.cue_colours if c not in CUE_COLOURS]
        if unknown:
            raise ValueError(f"data.cue_colours: unknown colour {unknown[0]!r}, known: {sorted(CUE_COLOURS)}")
        num_signs = max(1, cfg.num_glosses // len(cfg.cue_colours))
        videos = [
            cue_corpus(
                n, rng, num_signs, cfg.cue_colours, cfg.image_size, (cfg.min_signs, cfg.max_signs), cfg.seed
            )
            for n in sizes
        ]
        return TrainingData(*videos)  # type: ignore[arg-type]
    if cfg.source == "islr":
        signs = load_islr(cfg.path)
        return _stitched(split_by_signer(signs, cfg.dev_signers, cfg.test_signers, cfg.seed), cfg)
    items = load_corpus(cfg.source, resolve_data_path(cfg.path))
    cache = corpus_cache_dir(cfg)
    if cfg.source in ISOLATED_CORPORA or cfg.stitch:
        signs = isolated_signs(items, cache)
        if all(item.split == "train" for item in items):
            return _stitched(split_by_signer(signs, cfg.dev_signers, cfg.test_signers, cfg.seed), cfg)
        by_split = [[s for s, i in zip(signs, items, strict=True) if i.split == n] for n in SPLITS]
        return _stitched((by_split[0], by_split[1], by_split[2]), cfg)
    if frames:  # issue 4: keypoints and memory-mapped frames of the frame cache
        from cslr.data.frames import load_corpus_videos

        clips = load_corpus_videos(items, cache, frames, resolve_data_path(cfg.path))
        split_clips = [[c for c, i in zip(clips, items, strict=True) if i.split == n] for n in SPLITS]
        return TrainingData(*split_clips)  # type: ignore[arg-type]
    signers = _signer_ids(items)
    parts = [
        [Sentence(load_item_keypoints(i, cache), i.glosses, signers[i.signer]) for i in items if i.split == n]
        for n in SPLITS
    ]
    return TrainingData(parts[0], parts[1], parts[2])


SPLITS = ("train", "dev", "test")


def _stitched(
    parts: tuple[list[IsolatedSign], list[IsolatedSign], list[IsolatedSign]], cfg: DataConfig
) -> TrainingData:
    rng = np.random.default_rng(cfg.seed)
    sizes = (cfg.train_sentences, cfg.dev_sentences, cfg.test_sentences)
    train, dev, test = (
        stitch_isolated(p, n, rng, cfg.min_signs, cfg.max_signs) if p and n else []
        for p, n in zip(parts, sizes, strict=True)
    )
    return TrainingData(train, dev, test, list(parts[0]))


def corpus_cache_dir(cfg: DataConfig) -> Path:
    """Where extracted keypoints of a corpus live: ``cfg.cache_dir``, else ``keypoints/`` beside the
    manifest or inside the corpus folder."""
    if cfg.cache_dir:
        return Path(cfg.cache_dir)
    root = resolve_data_path(cfg.path)
    return (root.parent if root.is_file() else root) / "keypoints"


def load_item_keypoints(item: CorpusItem, cache_dir: Path, fps: float = DEFAULT_FPS) -> Keypoints:
    """An item's keypoints at ``fps``: read from its keypoint file, or from the extraction cache.

    Raises:
        FileNotFoundError: a video or frame folder not yet extracted (the message says how).
    """
    if item.is_keypoints:
        parquet = item.media.suffix.lower() == ".parquet"
        return resample(load_keypoints(item.media, ISLR_FPS if parquet else None), fps)
    cached = cache_dir / cache_name(item.id)
    if not cached.is_file():
        raise FileNotFoundError(
            f"no keypoints for {item.id} in {cache_dir}: run `cslr extract <dataset> -o {cache_dir}` first"
        )
    return resample(load_keypoints(cached), fps)


def isolated_signs(items: Sequence[CorpusItem], cache_dir: Path) -> list[IsolatedSign]:
    """One :class:`IsolatedSign` per single-gloss item (signers numbered in sorted name order)."""
    signers = _signer_ids(items)
    bad = [i.id for i in items if len(i.glosses) != 1]
    if bad:
        raise ValueError(f"stitching needs one gloss per item; {bad[0]} has {len(bad)} offenders")
    return [IsolatedSign(load_item_keypoints(i, cache_dir), i.glosses[0], signers[i.signer]) for i in items]


def _signer_ids(items: Sequence[CorpusItem]) -> dict[str, int]:
    return {name: k for k, name in enumerate(sorted({i.signer for i in items}))}


FEATURE_CHANNELS = 4  # x, y, z, conf per point in the model features
HAND_POINTS = (LEFT_HAND, RIGHT_HAND)


@dataclass(frozen=True)
class Augment:
    """Random training augmentation of features ``(T, 300)``, drawn from torch's global generator.

    Rotation (in-plane, about the mid-shoulder origin), scaling and Gaussian jitter act on detected
    points only; hand dropout hides one hand (conf 0) for a random stretch of at least a quarter of
    the sequence; speed resamples time (nearest frame) by a random factor.
    """

    rotate_deg: float = 0.0
    scale: float = 0.0
    jitter: float = 0.0
    hand_dropout: float = 0.0
    speed: float = 0.0

    @classmethod
    def from_config(cls, cfg: DataConfig) -> Augment | None:
        """The augmentation of ``cfg``, or None when every amount is 0."""
        aug = cls(cfg.aug_rotate_deg, cfg.aug_scale, cfg.aug_jitter, cfg.aug_hand_dropout, cfg.aug_speed)
        return aug if any(dataclasses.astuple(aug)) else None

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        x = features.reshape(len(features), -1, FEATURE_CHANNELS).clone()
        seen = (x[..., 3:] > 0).to(x.dtype)
        xy = x[..., :2]
        if self.rotate_deg or self.scale:
            angle = math.radians(self.rotate_deg) * (2 * torch.rand(()) - 1)
            factor = 1 + self.scale * (2 * torch.rand(()) - 1)
            cos, sin = torch.cos(angle) * factor, torch.sin(angle) * factor
            x_new, y_new = cos * xy[..., 0] - sin * xy[..., 1], sin * xy[..., 0] + cos * xy[..., 1]
            x[..., :2] = torch.stack([x_new, y_new], -1)
            x[..., 2] = x[..., 2] * factor
        if self.jitter:
            x[..., :3] += self.jitter * torch.randn_like(x[..., :3])
        x[..., :3] *= seen
        if self.hand_dropout and len(x) > 1 and float(torch.rand(())) < self.hand_dropout:
            hand = HAND_POINTS[int(torch.randint(2, ()))]
            span = int(torch.randint(max(1, len(x) // 4), len(x) + 1, ()))
            start = int(torch.randint(0, len(x) - span + 1, ()))
            x[start : start + span, hand] = 0.0
        if self.speed and len(x) > 1:
            stretch = 1 + self.speed * (2 * float(torch.rand(())) - 1)
            n = max(1, round(len(x) / stretch))
            x = x[torch.linspace(0, len(x) - 1, n).round().long()]
        return x.reshape(len(x), -1)


# --- end issue 3 ---
