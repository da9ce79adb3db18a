"""Look inside a model's decision: fusion gates over time beside the CTC posteriors, as a PNG.

:func:`explain` runs a model on one sequence and keeps the per-frame modality gates of the gated
fusion (:class:`~cslr.model.fusion.GatedAttentionFusion`) and the per-step posteriors;
:func:`plot_explanation` draws both on a shared time axis; :func:`explain_path` does it for a file
(``cslr recognize PATH --explain OUT.png``). A single-stream model has no gates: the plot says so and
shows the posteriors alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import BLANK_ID, greedy_decode
from cslr.model.inputs import build_inputs, frames_for
from cslr.model.network import CSLRModel
from cslr.pose.keypoints import DEFAULT_FPS, Keypoints

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TOP_CLASSES = 8  # glosses shown in the posterior panel (those with the highest peak posterior)
FIGURE_SIZE = (10.0, 6.0)
FIGURE_DPI = 110


@dataclass(frozen=True)
class Explanation:
    """One sequence, explained.

    Attributes:
        streams: the model's input streams, in gate order.
        gates: float ``(T, M)`` fusion gate of each stream per input frame, or None (single stream).
        posteriors: float ``(T', V)`` CTC posteriors per output step (``T' = ceil(T / stride)``).
        stride: input frames per output step.
        fps: input frame rate.
        vocab: class names (index 0 = blank).
        glosses: greedy decoding of ``posteriors``.
    """

    streams: tuple[str, ...]
    gates: np.ndarray | None
    posteriors: np.ndarray
    stride: int
    fps: float
    vocab: tuple[str, ...]
    glosses: tuple[str, ...]


@torch.inference_mode()
def explain(
    model: CSLRModel,
    vocab: Vocabulary,
    kp: Keypoints | None,
    frames: np.ndarray | None = None,
    fps: float = DEFAULT_FPS,
) -> Explanation:
    """Run ``model`` on one sequence and keep its gates and posteriors.

    Args:
        model: any :class:`CSLRModel` (put in eval mode here).
        vocab: its vocabulary.
        kp: raw keypoints ``(T, 75, 3)``; needed by a pose stream and by ROI crops.
        frames: uint8 ``(T, 3, H, W)`` video frames; needed by an RGB stream.
        fps: frame rate of the input.
    """
    model.eval()
    device = next(model.parameters()).device
    inputs = build_inputs(model.cfg, kp, frames)
    features, video, boxes = (None if a is None else _tensor(a, device)
                              for a in (inputs.features, inputs.frames, inputs.boxes))
    source = features if features is not None else video
    assert source is not None  # build_inputs gives features and/or frames
    lengths = torch.tensor([source.shape[1]], device=device)
    out, gates = model.forward_with_gates(features, lengths, frames=video, boxes=boxes)
    posteriors = out.log_probs[:, 0].float().exp().cpu().numpy()
    hyp = greedy_decode(np.log(np.maximum(posteriors, 1e-30)))
    return Explanation(
        tuple(model.cfg.streams),
        None if gates is None else gates[0].float().cpu().numpy(),
        posteriors,
        model.cfg.stride,
        fps,
        tuple(vocab.to_list()),
        tuple(vocab.decode(list(hyp.token_ids))),
    )


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` as a batch of one on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0).to(device)


def plot_explanation(expl: Explanation, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG: fusion gates per stream over time (top), CTC posteriors of the blank and the top
    :data:`TOP_CLASSES` glosses (bottom), on one time axis in seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=FIGURE_SIZE, sharex=True, height_ratios=(1, 2))
    _plot_gates(top, expl)
    _plot_posteriors(bottom, expl)
    fig.suptitle(title or "recognised: " + (" ".join(expl.glosses) or "(nothing)"))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI)
    plt.close(fig)
    return path


def _plot_gates(ax_: Axes, expl: Explanation) -> None:
    """Stacked gate areas per stream, or a note that a single-stream model has none."""
    steps = len(expl.posteriors) * expl.stride
    if expl.gates is None:
        ax_.text(0.5, 0.5, f"single stream ({expl.streams[0]}): no fusion gates", ha="center", va="center",
                 transform=ax_.transAxes)  # fmt: skip
        ax_.set_xlim(0, steps / expl.fps)
    else:
        seconds = np.arange(len(expl.gates)) / expl.fps
        ax_.stackplot(seconds, expl.gates.T, labels=[f"{s} gate" for s in expl.streams], alpha=0.8)
        ax_.set_ylim(0, 1)
        ax_.legend(loc="upper right", fontsize="small")
    ax_.set_ylabel("modality weight")


def _plot_posteriors(ax_: Axes, expl: Explanation) -> None:
    """Posterior curves of the blank and the glosses with the highest peaks."""
    seconds = (np.arange(len(expl.posteriors)) + 0.5) * expl.stride / expl.fps
    peaks = expl.posteriors.max(0)
    peaks[BLANK_ID] = -1.0
    shown = [int(i) for i in np.argsort(-peaks)[:TOP_CLASSES] if peaks[i] > 0]
    ax_.plot(seconds, expl.posteriors[:, BLANK_ID], color="0.6", linestyle="--", label="blank")
    for idx in shown:
        ax_.plot(seconds, expl.posteriors[:, idx], label=expl.vocab[idx])
    ax_.set_ylim(0, 1.02)
    ax_.set_xlabel("time (s)")
    ax_.set_ylabel("CTC posterior")
    ax_.legend(loc="upper right", fontsize="small", ncol=2)


def load_inputs(
    path: str | Path, model: CSLRModel, fps: float = DEFAULT_FPS
) -> tuple[Keypoints | None, np.ndarray | None]:
    """Keypoints and/or frames ``(T, 3, H, W)`` of a file, as much as ``model`` needs.

    Keypoint files (``.npz``, ``.pose``, ``.parquet``) give keypoints; an ``.npz`` written by
    :func:`cslr.pose.render.save_sample` also gives frames. Videos and frame folders give frames, and
    keypoints through MediaPipe when the model has a pose stream or ROI crops.
    """
    from cslr.pose.io import KEYPOINT_SUFFIXES, load_keypoints
    from cslr.pose.render import load_frames

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    wants_pose = model.pose is not None or bool(model.cfg.rgb_rois)
    if path.is_file() and path.suffix.lower() in KEYPOINT_SUFFIXES:
        frames = load_frames(path) if path.suffix.lower() == ".npz" else None
        if model.needs_frames and frames is None:
            raise ValueError(
                f"{path.name} holds keypoints only, and this model has an RGB stream: give a video"
            )
        return load_keypoints(path), frames
    return _video_inputs(path, model, fps, wants_pose)


def _video_inputs(
    path: Path, model: CSLRModel, fps: float, wants_pose: bool
) -> tuple[Keypoints | None, np.ndarray | None]:
    """Frames (downscaled) and, when wanted, MediaPipe keypoints of a video file or frame folder."""
    from cslr.video import read_frame_folder, read_video

    clip = read_frame_folder(path, fps=fps) if path.is_dir() else read_video(path, fps=fps)
    kp = None
    if wants_pose:
        from cslr.pose.holistic import HolisticExtractor

        with HolisticExtractor() as extractor:
            kp = extractor.extract(iter(clip.frames), clip.fps)
    frames = frames_for(model.cfg, clip.frames)
    return kp, frames


def explain_path(
    input_path: str | Path, output_png: str | Path, checkpoint: str | Path | None = None
) -> Explanation:
    """``cslr recognize PATH --explain OUT.png``: load a checkpoint (default: the bundled model), run it
    on a file, write the gates-and-posteriors PNG, and return the explanation."""
    from cslr.model.checkpoint import default_checkpoint_path, load_checkpoint

    model, _cfg, vocab, _extra = load_checkpoint(checkpoint or default_checkpoint_path())
    kp, frames = load_inputs(input_path, model)
    fps = kp.fps if kp is not None else DEFAULT_FPS
    expl = explain(model, vocab, kp, frames, fps)
    plot_explanation(
        expl, output_png, title=f"{Path(input_path).name}: " + (" ".join(expl.glosses) or "(nothing)")
    )
    return expl
