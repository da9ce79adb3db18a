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

TEMPORAL_ENCODERS = ("bilstm", "causal")
KNOWN_STREAMS = ("pose",)
DATA_SOURCES = ("synth", "islr")
OPTIMIZERS = ("adam", "adamw")

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration that cannot be built: unknown key, wrong type, value out of range."""


@dataclass(frozen=True)
class ModelConfig:
    """Network sizes. Everything needed to rebuild the network travels in each checkpoint.

    Attributes:
        input_dim: pose features per frame (75 points x (x, y, z, conf) = 300).
        streams: input streams fused before the temporal encoder; only ``("pose",)`` exists so far
            (an RGB stream and gated fusion are planned).
        pose_hidden: width of the per-frame pose MLP.
        pose_layers: number of Linear-LayerNorm-GELU blocks in the pose MLP.
        temporal: ``"bilstm"`` (offline, sees the whole sequence) or ``"causal"`` (unidirectional LSTM,
            supports ``forward_chunk`` for live streaming).
        hidden_size: LSTM hidden size per direction.
        num_layers: stacked LSTM layers.
        dropout: dropout in the pose MLP and between LSTM layers.
        stride: temporal downsampling factor before the encoder (mean over non-overlapping windows of
            ``stride`` frames); 1 keeps the frame rate. Output length is ``ceil(T / stride)``.
        vocab_size: output classes including the blank; 0 means "take it from the vocabulary".
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

    def __post_init__(self) -> None:
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


@dataclass(frozen=True)
class DataConfig:
    """Where training sentences come from.

    Attributes:
        source: ``"synth"`` (the synthetic signer, :mod:`cslr.pose.synth`) or ``"islr"`` (isolated signs
            from a Kaggle-ISLR ``.npz`` bundle stitched into sentences, :mod:`cslr.data.datasets`).
        path: the ``.npz`` bundle for ``islr``; a relative path is resolved against the working directory,
            then against ``$CSLR_SHARED_DATA``.
        num_glosses: vocabulary size of the synthetic signer.
        train_sentences, dev_sentences, test_sentences: sentences generated or stitched per split.
        min_signs, max_signs: signs per sentence (inclusive).
        dev_signers, test_signers: ``islr`` only: participants held out for dev / test; they never
            appear in training.
        seed: seed of data generation and of the signer split.
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

    def __post_init__(self) -> None:
        if self.source not in DATA_SOURCES:
            raise ConfigError(f"data.source must be one of {DATA_SOURCES}, got {self.source!r}")
        if not 1 <= self.min_signs <= self.max_signs:
            raise ConfigError("data.min_signs must be >= 1 and <= data.max_signs")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training sentences.
        batch_size: sentences per step.
        lr: peak learning rate (reached after warm-up, then cosine decay to ``lr * min_lr_ratio``).
        weight_decay: decoupled weight decay (AdamW) or L2 (Adam).
        optimizer: ``"adam"`` or ``"adamw"``.
        warmup_steps: linear warm-up steps.
        min_lr_ratio: floor of the cosine schedule as a fraction of ``lr``.
        grad_clip: max global gradient norm (0 disables clipping).
        seed: seed of weights init and batch order.
        num_threads: torch intra-op threads (0 leaves torch's default).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        eval_every: evaluate on dev every this many epochs (the last epoch is always evaluated).
        stop_wer: stop early once dev WER is at or below this (None: always run every epoch).
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

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
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
