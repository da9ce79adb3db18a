"""Video sentences for the RGB and two-stream models: keypoints and frames together.

* :class:`VideoSentence` / :class:`VideoSequenceDataset` / :func:`collate_video` — like the keypoint
  dataset, plus uint8 frames ``(T, 3, H, W)`` and, for models with ``rgb_rois``, crop boxes located
  from the keypoints. A :class:`VideoBatch` hands the extra model inputs over with
  :meth:`VideoBatch.model_inputs`, so a training step is
  ``model(b.features, b.lengths, b.targets, b.target_lengths, **b.model_inputs())``.
* :func:`cue_corpus` — a synthetic task that needs both streams: each gloss is a *hand shape* (seen
  in the keypoints, invisible in the frames, where hands are plain discs) combined with a *glove
  colour* (seen in the frames, absent from the keypoints). A pose-only model cannot tell the colours
  apart and an RGB-only model cannot tell the shapes apart; a fused model can do both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from cslr.data.vocab import Vocabulary
from cslr.decode.ctc import BLANK_ID
from cslr.model.rgb_stream import roi_boxes
from cslr.pose.keypoints import Keypoints, preprocess
from cslr.pose.render import SKIN_COLOUR, render_frames
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
    """Keypoints, their video frames uint8 ``(T, 3, H, W)``, and the glosses signed."""

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
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return VideoBatch(**{k: v.to(device) if v is not None else None for k, v in moved.items()})

    def model_inputs(self) -> dict[str, torch.Tensor | None]:
        """The keyword inputs :class:`~cslr.model.network.CSLRModel` takes beside the pose features."""
        return {"frames": self.frames, "boxes": self.boxes}


class VideoSequenceDataset(Dataset):
    """Items ``(features (T, 300), frames (T, 3, H, W) uint8, boxes (T, R, 4) or None, gloss ids (S,))``."""

    def __init__(self, sentences: Sequence[VideoSentence], vocab: Vocabulary, rois: tuple[str, ...] = ()):
        self.items = [
            (
                torch.from_numpy(preprocess(s.keypoints)),
                torch.from_numpy(np.ascontiguousarray(s.frames)),
                torch.from_numpy(roi_boxes(s.keypoints, rois)) if rois else None,
                torch.as_tensor(vocab.encode(s.glosses), dtype=torch.long),
            )
            for s in sentences
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
        return self.items[index]


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


# Hand shapes of the cue task: five finger curls (thumb .. pinky, 0 straight, 1 curled) and the hand's
# in-plane angle (radians); the left hand rests, so its shape is never seen.
CUE_SHAPES = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # open hand
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],  # fist
        [1.0, 0.0, 1.0, 1.0, 1.0, 0.7],  # index finger, tilted
        [0.0, 1.0, 1.0, 1.0, 0.0, -0.7],  # thumb and pinky out, tilted the other way
    ]
)


def cue_signer(num_shapes: int, seed: int = 0) -> SyntheticSigner:
    """A synthetic signer whose signs differ *only* in hand shape (:data:`CUE_SHAPES`), held through the
    sign, along one shared one-handed wrist path (so the wrist, all that :func:`cue_corpus` frames show of
    a hand, moves the same way for every sign)."""
    if not 1 <= num_shapes <= len(CUE_SHAPES):
        raise ValueError(f"num_shapes must be in 1..{len(CUE_SHAPES)}, got {num_shapes}")
    signer = SyntheticSigner(num_shapes, seed)
    template = dataclasses.replace(signer.glosses[0], two_handed=False)
    shapes = [np.stack([CUE_SHAPES[i], CUE_SHAPES[0]]) for i in range(num_shapes)]
    signer.glosses = tuple(dataclasses.replace(template, start_shape=h, end_shape=h) for h in shapes)
    return signer


def cue_gloss(shape: int, colour: str) -> str:
    """Name of the gloss made of hand shape ``shape`` and glove colour ``colour``, e.g. ``S1-red``."""
    return f"S{shape}-{colour}"


def cue_corpus(
    num_sentences: int,
    rng: np.random.Generator,
    num_shapes: int = 2,
    colours: Sequence[str] = ("red", "blue"),
    size: int = CUE_IMAGE_SIZE,
    signs: tuple[int, int] = (1, 3),
    seed: int = 0,
) -> list[VideoSentence]:
    """Sentences of the shape x colour task (see the module docstring).

    While a sign is performed both gloves take its colour; between signs they are skin-coloured. Hands
    are drawn as discs at the wrists, so the frames show where the hands are but not their shape.

    Args:
        num_sentences: sentences to make, each by a new random signer appearance.
        rng: all per-sentence randomness.
        num_shapes: hand shapes (signs of :func:`cue_signer`).
        colours: glove colours, names from :data:`CUE_COLOURS`.
        size: image side in pixels.
        signs: inclusive range of signs per sentence.
        seed: seed of the hand-shape inventory.
    """
    signer = cue_signer(num_shapes, seed)
    out = []
    for _ in range(num_sentences):
        n = int(rng.integers(signs[0], signs[1] + 1))
        shapes = [int(s) for s in rng.integers(0, num_shapes, n)]
        cues = [colours[int(c)] for c in rng.integers(0, len(colours), n)]
        kp, spans = signer.sentence(shapes, rng)
        gloves = np.broadcast_to(np.asarray(SKIN_COLOUR, np.float32), (len(kp), 2, 3)).copy()
        for (start, end), cue in zip(spans, cues, strict=True):
            gloves[start:end] = CUE_COLOURS[cue]
        frames = render_frames(kp, size, gloves, hand_style="disc", rng=rng)
        out.append(
            VideoSentence(kp, frames, tuple(cue_gloss(s, c) for s, c in zip(shapes, cues, strict=True)))
        )
    return out
