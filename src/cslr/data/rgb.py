"""Video sentences for the RGB and two-stream models: keypoints and frames together.

* :class:`VideoSentence` / :class:`VideoSequenceDataset` / :func:`collate_video` — like the keypoint
  dataset, plus uint8 frames ``(T, 3, H, W)`` and, for models with ``rgb_rois``, crop boxes located
  from the keypoints. A :class:`VideoBatch` hands the extra model inputs over with
  :meth:`VideoBatch.model_inputs`, so a training step is
  ``model(b.features, b.lengths, b.targets, b.target_lengths, **b.model_inputs())``. Frames may be
  in memory (the synthetic task) or memory-mapped from the frame cache of a real corpus
  (:func:`cslr.data.frames.load_item_video`): the dataset reads an item's frames only when it is asked
  for, so memory stays bounded by the batch.
* :func:`cue_corpus` — a synthetic task that needs both streams: each gloss is a *movement* of the
  synthetic signer (in the keypoints; the frames hide arms and hands) combined with a *colour cue*
  (a badge on the chest, lit while the sign is performed: in the frames, absent from the keypoints).
  A pose-only model cannot tell the colours apart and an RGB-only model cannot tell the movements
  apart; a fused model can do both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import BLANK_ID
from cslr.model.rgb_stream import roi_boxes
from cslr.pose.keypoints import Keypoints, preprocess
from cslr.pose.render import render_frames
from cslr.pose.synth import SyntheticSigner

CUE_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "blue": (40, 90, 240),
    "green": (40, 200, 60),
    "yellow": (235, 220, 40),
}
CUE_IMAGE_SIZE = 32


@dataclass(frozen=True)
class VideoSentence:
    """Keypoints, their video frames uint8 ``(T, 3, H, W)`` (in memory, or memory-mapped from the frame
    cache), and the glosses signed."""

    keypoints: Keypoints
    frames: np.ndarray
    glosses: tuple[str, ...]


@dataclass(frozen=True)
class VideoBatch:
    """Padded mini-batch of video sentences.

    Attributes:
        features: float32 ``(B, T, 300)`` pose features, zero-padded.
        frames: uint8 ``(B, T, 3, H, W)``, zero-padded.
        boxes: float32 ``(B, T, R, 4)`` ROI boxes, or None when no ROIs were asked for.
        lengths: int64 ``(B,)`` frames per sequence.
        targets: int64 ``(B, S)`` gloss ids padded with the blank.
        target_lengths: int64 ``(B,)``.
    """

    features: torch.Tensor
    frames: torch.Tensor
    boxes: torch.Tensor | None
    lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor

    def to(self, device: torch.device | str) -> VideoBatch:
        """The same batch on ``device``."""
        return VideoBatch(
            self.features.to(device),
            self.frames.to(device),
            None if self.boxes is None else self.boxes.to(device),
            self.lengths.to(device),
            self.targets.to(device),
            self.target_lengths.to(device),
        )

    def model_inputs(self) -> dict[str, torch.Tensor | None]:
        """The keyword inputs :class:`~cslr.model.network.CSLRModel` takes beside the pose features."""
        return {"frames": self.frames, "boxes": self.boxes}


class VideoSequenceDataset(Dataset):
    """Items ``(features (T, 300), frames (T, 3, H, W) uint8, boxes (T, R, 4) or None, gloss ids (S,))``.

    Features, boxes and targets are computed up front; an item's frames are copied out of its
    sentence's array when the item is read, so memory-mapped frames come from disk a batch at a time.
    """

    def __init__(self, sentences: Sequence[VideoSentence], vocab: Vocabulary, rois: tuple[str, ...] = ()):
        self.frames = [s.frames for s in sentences]
        self.items = [
            (
                torch.from_numpy(preprocess(s.keypoints)),
                torch.from_numpy(roi_boxes(s.keypoints, rois)) if rois else None,
                torch.as_tensor(vocab.encode(s.glosses), dtype=torch.long),
            )
            for s in sentences
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        features, boxes, targets = self.items[index]
        return features, torch.from_numpy(np.array(self.frames[index], np.uint8)), boxes, targets


def collate_video(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]],
) -> VideoBatch:
    """Pad every item of :class:`VideoSequenceDataset` to the longest sequence of the batch."""
    feats, frames, boxes, targets = zip(*batch, strict=True)
    pad = torch.nn.utils.rnn.pad_sequence
    padded_boxes = None if boxes[0] is None else pad(list(boxes), batch_first=True)
    return VideoBatch(
        pad(list(feats), batch_first=True),
        pad(list(frames), batch_first=True),
        padded_boxes,
        torch.tensor([len(f) for f in feats], dtype=torch.long),
        pad(list(targets), batch_first=True, padding_value=BLANK_ID),
        torch.tensor([len(t) for t in targets], dtype=torch.long),
    )


def cue_gloss(sign: int, colour: str) -> str:
    """Name of the gloss made of movement ``sign`` and cue colour ``colour``, e.g. ``S1-red``."""
    return f"S{sign}-{colour}"


def cue_corpus(
    num_sentences: int,
    rng: np.random.Generator,
    num_signs: int = 2,
    colours: Sequence[str] = ("red", "blue"),
    size: int = CUE_IMAGE_SIZE,
    signs: tuple[int, int] = (1, 3),
    seed: int = 0,
) -> list[VideoSentence]:
    """Sentences of the movement x colour task (see the module docstring).

    Each gloss is one of ``num_signs`` movements of the synthetic signer combined with a colour. The
    frames are rendered from the keypoints with the arms and hands hidden (the camera shows head and
    torso, not the movement) and a badge on the chest lit in the gloss's colour while the sign is
    performed. The keypoints carry the movement and nothing of the colour.

    Args:
        num_sentences: sentences to make, each by a new random signer appearance.
        rng: all per-sentence randomness.
        num_signs: movements (signs of a :class:`SyntheticSigner` with this seed).
        colours: cue colours, names from :data:`CUE_COLOURS`.
        size: image side in pixels.
        signs: inclusive range of signs per sentence.
        seed: seed of the movement inventory.
    """
    signer = SyntheticSigner(num_signs, seed)
    out = []
    for _ in range(num_sentences):
        n = int(rng.integers(signs[0], signs[1] + 1))
        moves = [int(s) for s in rng.integers(0, num_signs, n)]
        cues = [colours[int(c)] for c in rng.integers(0, len(colours), n)]
        kp, spans = signer.sentence(moves, rng)
        badge = np.full((len(kp), 3), np.nan, np.float32)
        for (start, end), cue in zip(spans, cues, strict=True):
            badge[start:end] = CUE_COLOURS[cue]
        frames = render_frames(kp, size, hand_style="hidden", rng=rng, badge_colours=badge)
        glosses = tuple(cue_gloss(m, c) for m, c in zip(moves, cues, strict=True))
        out.append(VideoSentence(kp, frames, glosses))
    return out
