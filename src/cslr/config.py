"""Experiment configuration: frozen dataclasses, filled from YAML, saved with ``asdict`` in checkpoints.

A YAML recipe has up to four top-level keys, ``name``, ``model``, ``data`` and ``train``, each section
mapping onto one dataclass below. Any key the dataclasses do not define is an error that names the key
(silent typos are worse than crashes). Overrides go through :func:`apply_overrides` (dotted keys such as
``train.epochs``), which uses :func:`dataclasses.replace`, so configs are never mutated.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cslr.pose.keypoints import FEATURE_DIM

TEMPORAL_ENCODERS = ("bilstm", "causal", "transformer")  # issue 4: + transformer
KNOWN_STREAMS = ("pose", "rgb")  # issue 4: + rgb
# --- issue 4 (two-stream model) ---
POSE_ENCODERS = ("mlp", "gcn")
RGB_BACKBONES = ("resnet18", "resnet34", "resnet50", "s3d", "tiny")
ROI_NAMES = ("face", "left_hand", "right_hand")
# --- end issue 4 ---
# --- issue 3 (training on real datasets) ---
DATA_SOURCES = (  # issue 4: + synth-video (keypoints and rendered frames, cslr.data.rgb.cue_corpus)
    *("synth", "islr", "islr-kaggle", "manifest", "phoenix2014", "phoenix2014t", "csl-daily"),
    "synth-video",
)
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULERS = ("cosine", "multistep", "constant")
AMP_MODES = ("auto", "off", "fp16", "bf16")
# --- end issue 3 ---

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration that cannot be built: unknown key, wrong type, value out of range."""


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. Everything needed to rebuild the network travels in each checkpoint.

    Attributes:
        input_dim: pose features per frame (75 points x (x, y, z, conf) = 300).
        streams: input streams: ``("pose",)``, ``("rgb",)`` or ``("pose", "rgb")`` (gated attention
            fusion of both, :mod:`cslr.model.fusion`).
        pose_hidden: width of the per-frame pose MLP.
        pose_layers: number of Linear-LayerNorm-GELU blocks in the pose MLP (graph layers for ``gcn``).
        temporal: ``"bilstm"`` (offline, sees the whole sequence), ``"transformer"`` (offline, self-
            attention over the whole sequence) or ``"causal"`` (unidirectional LSTM, supports
            ``forward_chunk`` for live streaming).
        hidden_size: LSTM hidden size per direction (the model width of the transformer).
        num_layers: stacked LSTM (or transformer) layers.
        dropout: dropout in the pose MLP and between LSTM layers.
        stride: temporal downsampling factor before the encoder (mean over non-overlapping windows of
            ``stride`` frames); 1 keeps the frame rate. Output length is ``ceil(T / stride)``.
        vocab_size: output classes including the blank; 0 means "take it from the vocabulary".
        pose_encoder: ``"mlp"`` (per-frame MLP) or ``"gcn"`` (graph convolution over the skeleton's
            bones, :mod:`cslr.model.pose_stream`).
        rgb_backbone: ``resnet18`` / ``resnet34`` / ``resnet50`` (per frame, causal), ``s3d`` (clips,
            not causal) or ``tiny`` (a 3-layer CNN for tests and small images).
        rgb_size: side of the square image the backbone sees (frames are resized to it).
        rgb_dim: features per frame out of the RGB stream.
        rgb_weights: local path of backbone weights (ImageNet or your own); empty: random init.
            Nothing is ever downloaded.
        rgb_freeze: keep the backbone's weights fixed (train only the projection).
        rgb_rois: crops located from the keypoints, each run through the backbone beside the full
            frame: any of ``face``, ``left_hand``, ``right_hand``.
        roi_size: side of each crop in pixels.
        fusion_dim: width of the fused features (pose + rgb).
        fusion_heads: attention heads of the fusion block.
        transformer_heads: attention heads of the transformer encoder.
    """

    input_dim: int = FEATURE_DIM
    streams: tuple[str, ...] = ("pose",)
    pose_hidden: int = 256
    pose_layers: int = 2
    temporal: str = "bilstm"
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.1
    stride: int = 1
    vocab_size: int = 0
    # --- issue 4 (two-stream model): defaults keep older pose-only checkpoints loading unchanged ---
    pose_encoder: str = "mlp"
    rgb_backbone: str = "resnet18"
    rgb_size: int = 224
    rgb_dim: int = 256
    rgb_weights: str = ""
    rgb_freeze: bool = False
    rgb_rois: tuple[str, ...] = ()
    roi_size: int = 112
    fusion_dim: int = 256
    fusion_heads: int = 4
    transformer_heads: int = 4
    # --- end issue 4 ---

    def __post_init__(self) -> None:
        _check_two_stream(self)  # issue 4
        if self.temporal not in TEMPORAL_ENCODERS:
            raise ConfigError(f"model.temporal must be one of {TEMPORAL_ENCODERS}, got {self.temporal!r}")
        unknown = [s for s in self.streams if s not in KNOWN_STREAMS]
        if unknown or not self.streams:
            raise ConfigError(
                f"model.streams must be a non-empty subset of {KNOWN_STREAMS}, got {self.streams}"
            )
        if self.stride < 1 or self.num_layers < 1 or self.pose_layers < 1:
            raise ConfigError("model.stride, model.num_layers and model.pose_layers must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


# --- issue 4 (two-stream model) ---
def _check_two_stream(cfg: ModelConfig) -> None:
    """Validate the pose-encoder, RGB and fusion fields of ``cfg`` (:class:`ConfigError` if wrong)."""
    if cfg.pose_encoder not in POSE_ENCODERS:
        raise ConfigError(f"model.pose_encoder must be one of {POSE_ENCODERS}, got {cfg.pose_encoder!r}")
    if cfg.rgb_backbone not in RGB_BACKBONES:
        raise ConfigError(f"model.rgb_backbone must be one of {RGB_BACKBONES}, got {cfg.rgb_backbone!r}")
    bad_rois = [r for r in cfg.rgb_rois if r not in ROI_NAMES]
    if bad_rois or len(set(cfg.rgb_rois)) != len(cfg.rgb_rois):
        raise ConfigError(f"model.rgb_rois must be distinct names from {ROI_NAMES}, got {cfg.rgb_rois}")
    if len(set(cfg.streams)) != len(cfg.streams):
        raise ConfigError(f"model.streams has a duplicate: {cfg.streams}")
    for name in ("rgb_size", "rgb_dim", "roi_size", "fusion_dim", "fusion_heads", "transformer_heads"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"model.{name} must be >= 1, got {getattr(cfg, name)}")
    if len(cfg.streams) > 1 and cfg.fusion_dim % cfg.fusion_heads:
        raise ConfigError("model.fusion_dim must be divisible by model.fusion_heads")
    if cfg.temporal == "transformer" and cfg.hidden_size % cfg.transformer_heads:
        raise ConfigError("model.hidden_size must be divisible by model.transformer_heads")


# --- end issue 4 ---


@dataclass(frozen=True)
class DataConfig:
    """Where training sentences come from.

    Attributes:
        source: ``"synth"`` (the synthetic signer, :mod:`cslr.pose.synth`), ``"islr"`` (isolated signs
            from a Kaggle-ISLR ``.npz`` bundle stitched into sentences, :mod:`cslr.data.datasets`),
            ``"islr-kaggle"`` (the Kaggle folder: ``train.csv`` + ``train_landmark_files/``, stitched),
            or a continuous corpus: ``"manifest"`` (CSV/JSONL), ``"phoenix2014"``, ``"phoenix2014t"``,
            ``"csl-daily"`` (their release layouts, :mod:`cslr.data.corpora`), or ``"synth-video"``
            (issue 4: keypoints *and* rendered frames of the synthetic signer, the movement x colour-cue
            task of :func:`cslr.data.rgb.cue_corpus`, for RGB-only and fused models).
        path: the ``.npz`` bundle for ``islr``, the manifest file, or the corpus root folder; a relative
            path is resolved against the working directory, then against ``$CSLR_SHARED_DATA``.
        cache_dir: keypoint cache written by ``cslr extract`` (one ``.npz`` per item) for corpora whose
            media are videos or frame folders; empty: ``<path's folder>/keypoints``.
        stitch: stitch the items of a ``manifest`` into sentences (isolated-sign manifests); the
            ``islr`` sources are always stitched.
        restitch: draw fresh stitched training sentences every epoch (seeded by seed and epoch).
        aug_rotate_deg, aug_scale, aug_jitter, aug_hand_dropout, aug_speed: training augmentation of
            the normalised keypoints: in-plane rotation up to +-degrees, scaling by up to +-fraction,
            Gaussian noise std, probability of dropping one hand for a stretch of frames, and time
            stretch by up to +-fraction (0 disables each).
        num_glosses: vocabulary size of the synthetic signer.
        train_sentences, dev_sentences, test_sentences: sentences generated or stitched per split.
        min_signs, max_signs: signs per sentence (inclusive).
        dev_signers, test_signers: ``islr`` only: participants held out for dev / test; they never
            appear in training.
        seed: seed of data generation and of the signer split.
        image_size: ``synth-video`` only: side of the rendered square frames in pixels.
        cue_colours: ``synth-video`` only: cue colours (names of :data:`cslr.data.rgb.CUE_COLOURS`);
            the vocabulary is ``num_glosses // len(cue_colours)`` movements x these colours.
    """

    source: str = "synth"
    path: str = ""
    num_glosses: int = 10
    train_sentences: int = 500
    dev_sentences: int = 100
    test_sentences: int = 100
    min_signs: int = 1
    max_signs: int = 6
    dev_signers: int = 2
    test_signers: int = 4
    seed: int = 0
    # --- issue 3 (training on real datasets) ---
    cache_dir: str = ""
    stitch: bool = False
    restitch: bool = False
    aug_rotate_deg: float = 0.0
    aug_scale: float = 0.0
    aug_jitter: float = 0.0
    aug_hand_dropout: float = 0.0
    aug_speed: float = 0.0
    # --- end issue 3 ---
    # --- issue 4 (RGB / fused training on rendered frames) ---
    image_size: int = 32
    cue_colours: tuple[str, ...] = ("red", "blue")
    # --- end issue 4 ---

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ConfigError(f"data.source must be one of {DATA_SOURCES}, got {self.source!r}")
        if not 1 <= self.min_signs <= self.max_signs:
            raise ConfigError("data.min_signs must be >= 1 and <= data.max_signs")
        if self.image_size < 1 or not self.cue_colours:  # issue 4
            raise ConfigError("data.image_size must be >= 1 and data.cue_colours non-empty")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training sentences.
        batch_size: sentences per step.
        lr: peak learning rate (reached after warm-up, then cosine decay to ``lr * min_lr_ratio``).
        weight_decay: decoupled weight decay (AdamW) or L2 (Adam).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (with ``momentum``).
        scheduler: ``"cosine"`` (to ``lr * min_lr_ratio``), ``"multistep"`` (times ``gamma`` at each
            epoch in ``milestones``, as CorrNet/VAC do) or ``"constant"``; all after the warm-up.
        milestones, gamma: the ``multistep`` schedule.
        momentum: SGD momentum.
        warmup_steps: linear warm-up steps.
        min_lr_ratio: floor of the cosine schedule as a fraction of ``lr``.
        grad_clip: max global gradient norm (0 disables clipping).
        seed: seed of weights init and batch order.
        num_threads: torch intra-op threads (0 leaves torch's default).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        eval_every: evaluate on dev every this many epochs (the last epoch is always evaluated).
        stop_wer: stop early once dev WER is at or below this (None: always run every epoch).
        amp: mixed precision: ``"auto"`` (fp16 + GradScaler on CUDA, off on CPU), ``"off"``, ``"fp16"``
            (CUDA only) or ``"bf16"`` (autocast, CPU or CUDA).
        save_every_steps: also write a resumable checkpoint every this many steps (0: at epoch ends).
        keep_checkpoints: resumable checkpoints kept (the newest), besides ``best.pt``.
        num_workers: DataLoader worker processes reading training batches (0: in the training process);
            worth it for RGB models, whose batches read frames from the frame cache.
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-2
    optimizer: str = "adamw"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    grad_clip: float = 5.0
    seed: int = 0
    num_threads: int = 2
    device: str = "cpu"
    eval_every: int = 1
    stop_wer: float | None = None
    # --- issue 3 (training on real datasets) ---
    scheduler: str = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.2
    momentum: float = 0.9
    amp: str = "auto"
    save_every_steps: int = 0
    keep_checkpoints: int = 5
    # --- end issue 3 ---
    num_workers: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"train.scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"train.amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.num_workers < 0:
            raise ConfigError(f"train.num_workers must be >= 0, got {self.num_workers}")
        if self.keep_checkpoints < 1 or self.save_every_steps < 0:
            raise ConfigError("train.keep_checkpoints must be >= 1 and train.save_every_steps >= 0")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("train.epochs and train.batch_size must be >= 1 and train.lr > 0")


@dataclass(frozen=True)
class ExperimentConfig:
    """One training recipe: model, data and optimisation."""

    name: str = "experiment"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a YAML recipe into an :class:`ExperimentConfig`; unknown keys raise :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(raw).__name__}")
    return config_from_dict(raw)


def config_from_dict(raw: Mapping[str, Any]) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from nested mappings (YAML, or ``asdict`` from a checkpoint)."""
    return _build(ExperimentConfig, raw, prefix="")


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Plain nested dict of ``cfg`` (tuples become lists), safe for YAML, JSON and ``torch.save``."""
    return _plain(dataclasses.asdict(cfg))


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML that :func:`load_config` reads back to an equal config."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def apply_overrides(cfg: ExperimentConfig, overrides: Mapping[str, Any] | None) -> ExperimentConfig:
    """Return ``cfg`` with dotted-key overrides applied, e.g. ``{"train.epochs": 5, "name": "x"}``.

    String values are parsed as YAML scalars (``"5"`` -> 5, ``"true"`` -> True), so CLI ``KEY=VALUE``
    pairs can be passed through unchanged.
    """
    nested = config_to_dict(cfg)
    for key, value in (overrides or {}).items():
        section, _, leaf = key.rpartition(".")
        target = nested
        for part in filter(None, section.split(".")):
            if not isinstance(target.get(part), dict):
                raise ConfigError(f"unknown config section in override: {key!r}")
            target = target[part]
        if leaf not in target:
            raise ConfigError(f"unknown config key in override: {key!r}")
        target[leaf] = yaml.safe_load(value) if isinstance(value, str) else value
    return config_from_dict(nested)


def parse_override(text: str) -> tuple[str, str]:
    """Split a CLI ``KEY=VALUE`` override."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override must look like section.key=value, got {text!r}")
    return key.strip(), value.strip()


def _build(cls: type[C], raw: Mapping[str, Any], prefix: str) -> C:
    """Instantiate dataclass ``cls`` from ``raw``, recursing into nested dataclass fields."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(f"unknown config key: {prefix}{unknown[0]}")
    kwargs = {name: _coerce(hints[name], value, f"{prefix}{name}") for name, value in raw.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Convert one YAML value to the field type ``hint`` (nested dataclass, tuple, int, float...)."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build(hint, value, f"{key}.")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    simple = (
        hint if isinstance(hint, type) and origin is None and not isinstance(hint, types.UnionType) else None
    )
    if simple in (int, float, str, bool) and not _is_instance(value, simple):
        raise ConfigError(f"{key} must be {simple.__name__}, got {value!r}")
    return value


def _is_instance(value: Any, kind: type) -> bool:
    """``isinstance`` that does not accept a bool where an int or float is wanted."""
    if isinstance(value, bool) and kind is not bool:
        return False
    return isinstance(value, kind)


def _plain(obj: Any) -> Any:
    """Recursively turn tuples into lists."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
