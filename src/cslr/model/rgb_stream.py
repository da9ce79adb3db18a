"""The RGB stream: video frames -> per-frame features ``(B, T, rgb_dim)``.

Backbones (``model.rgb_backbone``), all built from torchvision's architectures with random weights:

* ``resnet18`` / ``resnet34`` / ``resnet50`` — one image at a time, so the stream is causal and works
  with the live chunked encoder.
* ``s3d`` — a clip backbone (3-D separable convolutions). It sees neighbouring frames (forward and
  backward in time) and downsamples time by 8, so its features are interpolated back to the frame rate;
  it is **not causal** and a model using it refuses ``forward_chunk``.
* ``tiny`` — three strided convolutions, for tests and tiny synthetic images.

Pretrained weights (ImageNet, Kinetics, your own) load only from the local file named by
``model.rgb_weights``; nothing is downloaded, and a missing file is a :class:`FileNotFoundError`.

Frames are ``(B, T, 3, H, W)``, uint8 (0-255) or float in [0, 1]; they are resized to ``rgb_size``
and normalised with the ImageNet mean and standard deviation. With ``model.rgb_rois`` the stream also
crops the face and/or hands (boxes located from the keypoints by :func:`roi_boxes`, cut out of the
full-resolution frames with ``roi_align``), runs each crop through the same backbone and concatenates
the features before the projection.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models
from torchvision.ops import roi_align

from cslr.config import ROI_NAMES, ModelConfig
from cslr.pose.keypoints import LEFT_HAND, LEFT_SHOULDER, RIGHT_HAND, RIGHT_SHOULDER, Keypoints

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PIXEL_MAX = 255.0
RESNET_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}
S3D_DIM = 1024
S3D_MIN_FRAMES = 5  # S3D's temporal pooling leaves nothing of a shorter clip (PyTorch raises)
TINY_CHANNELS = (8, 16, 32)
HEAD_PREFIXES = ("fc.", "classifier.")  # classification heads dropped from pretrained weights
ROI_SAMPLING = 2  # roi_align samples per output pixel and axis
FACE_POINTS = tuple(range(11))  # MediaPipe pose face landmarks 0-10
ROI_POINTS = {
    "face": FACE_POINTS,
    "left_hand": tuple(range(LEFT_HAND.start, LEFT_HAND.stop)),
    "right_hand": tuple(range(RIGHT_HAND.start, RIGHT_HAND.stop)),
}
ROI_MIN_SIDE = {"face": 0.9, "hand": 0.6}  # smallest crop side, in shoulder widths
ROI_MARGIN = 1.3  # crop side = this x the points' extent (before the minimum)


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """A torchvision backbone with random weights and its feature width (head removed)."""
    if name in RESNET_DIMS:
        net = getattr(models, name)(weights=None)
        net.fc = nn.Identity()
        return net, RESNET_DIMS[name]
    if name == "s3d":
        net = models.video.s3d(weights=None)
        net.avgpool, net.classifier = nn.Identity(), nn.Identity()
        return net, S3D_DIM
    if name == "tiny":
        return _tiny_cnn(), TINY_CHANNELS[-1]
    raise ValueError(f"unknown RGB backbone {name!r}")


def _tiny_cnn() -> nn.Sequential:
    """Three stride-2 3x3 convolutions (BatchNorm, ReLU) and global average pooling."""
    layers: list[nn.Module] = []
    channels_in = 3
    for channels in TINY_CHANNELS:
        layers += [nn.Conv2d(channels_in, channels, 3, stride=2, padding=1, bias=False)]
        layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        channels_in = channels
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a local state dict (a plain one, or under ``state_dict`` / ``model``) into ``backbone``.

    Classification-head keys (``fc.``, ``classifier.``) and a ``module.`` prefix are ignored.

    Raises:
        FileNotFoundError: nothing at ``path`` (weights are never downloaded).
        ValueError: the file does not fit the backbone (missing or unexpected keys, wrong shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model.rgb_weights: no weights file at {path} (weights are never downloaded; "
            "put a torchvision state dict there or leave rgb_weights empty for random init)"
        )
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, dict):
        payload = payload.get("state_dict", payload.get("model", payload))
    state = {k.removeprefix("module."): v for k, v in payload.items() if isinstance(v, torch.Tensor)}
    state = {k: v for k, v in state.items() if not k.startswith(HEAD_PREFIXES)}
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"model.rgb_weights: {path} does not fit the backbone: {exc}") from exc


class RGBStream(nn.Module):
    """Frames ``(B, T, 3, H, W)`` -> features ``(B, T, rgb_dim)`` (see the module docstring).

    Args:
        cfg: uses ``rgb_backbone``, ``rgb_size``, ``rgb_dim``, ``rgb_weights``, ``rgb_freeze``,
            ``rgb_rois``, ``roi_size`` and ``dropout``.
        pretrained: load ``cfg.rgb_weights`` (False when a checkpoint's weights follow anyway).
    """

    def __init__(self, cfg: ModelConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.backbone, width = build_backbone(cfg.rgb_backbone)
        if pretrained and cfg.rgb_weights:
            load_backbone_weights(self.backbone, cfg.rgb_weights)
        if cfg.rgb_freeze:
            self.backbone.requires_grad_(False)
        self.clip_backbone = cfg.rgb_backbone == "s3d"
        self.size, self.roi_size, self.rois = cfg.rgb_size, cfg.roi_size, tuple(cfg.rgb_rois)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.project = nn.Sequential(
            nn.Linear(width * (1 + len(self.rois)), cfg.rgb_dim), nn.LayerNorm(cfg.rgb_dim), nn.GELU(),
            nn.Dropout(cfg.dropout),
        )  # fmt: skip
        self.output_dim = cfg.rgb_dim

    @property
    def causal(self) -> bool:
        """Whether frame t's features depend only on frame t (False for the S3D clip backbone)."""
        return not self.clip_backbone

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor | None = None, boxes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-frame features.

        Args:
            frames: ``(B, T, 3, H, W)`` uint8 or float in [0, 1].
            lengths: ``(B,)`` valid frames (per-frame backbones skip the padding); None: all valid (the
                unpadded path, plain tensor ops only, which the exported graphs trace with dynamic shapes).
            boxes: ``(B, T, R, 4)`` crops ``(x0, y0, x1, y1)`` in normalised image coordinates, one per
                ``rgb_rois`` name (:func:`roi_boxes`); rows with ``x1 <= x0`` are "not found".

        Returns:
            ``(B, T, rgb_dim)``.
        """
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be (B, T, 3, H, W), got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        valid = _valid_mask(b, t, lengths, frames.device)
        images = frames.float() / PIXEL_MAX if frames.dtype == torch.uint8 else frames.float()
        parts = [self._encode(self._resize(images.flatten(0, 1), self.size), valid, b, t)]
        if self.rois:
            parts += self._roi_features(images, valid, boxes)
        return self.project(torch.cat(parts, dim=-1))

    def _resize(self, images: torch.Tensor, size: int) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, 3, size, size)``, ImageNet-normalised."""
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        return (images - self.mean) / self.std

    def _encode(self, images: torch.Tensor, valid: torch.Tensor | None, b: int, t: int) -> torch.Tensor:
        """Backbone features ``(B, T, width)`` of normalised images ``(B*T, 3, h, w)``; ``valid`` ``(B, T)``
        or None (every frame valid)."""
        if self.clip_backbone:
            clip = images.view(b, t, *images.shape[1:]).transpose(1, 2)  # (B, 3, T, h, w)
            features = cast(nn.Module, self.backbone.features)
            feats = features(clip).mean(dim=(3, 4))  # (B, width, T / 8)
            return F.interpolate(feats, size=t, mode="linear", align_corners=False).transpose(1, 2)
        if valid is None:
            return self.backbone(images).view(b, t, -1)
        flat_valid = valid.flatten()
        feats = self.backbone(images[flat_valid])
        out = feats.new_zeros(b * t, feats.shape[-1])
        out[flat_valid] = feats
        return out.view(b, t, -1)

    def _roi_features(
        self, images: torch.Tensor, valid: torch.Tensor | None, boxes: torch.Tensor | None
    ) -> list[torch.Tensor]:
        """Backbone features ``(B, T, width)`` of each ROI crop, zero where the region was not found."""
        b, t, _, h, w = images.shape
        if boxes is None or boxes.shape != (b, t, len(self.rois), 4):
            got = None if boxes is None else tuple(boxes.shape)
            raise ValueError(
                f"rgb_rois {self.rois} need boxes of shape {(b, t, len(self.rois), 4)}, got {got}"
            )
        flat = images.flatten(0, 1)
        side = [torch.as_tensor(w), torch.as_tensor(h)]  # not torch.tensor([...]): a trace would freeze it
        scale = torch.stack(side * 2).to(flat)
        index = torch.arange(b * t, dtype=flat.dtype, device=flat.device)[:, None]
        out = []
        for r in range(len(self.rois)):
            box = boxes[:, :, r].flatten(0, 1).to(flat.dtype)
            crops = roi_align(
                flat, torch.cat([index, box * scale], 1), self.roi_size, 1.0, ROI_SAMPLING, True
            )
            found = (box[:, 2] > box[:, 0]).view(b, t, 1).to(flat.dtype)
            out.append(self._encode(self._resize(crops, self.roi_size), valid, b, t) * found)
        return out


def _valid_mask(b: int, t: int, lengths: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """``(B, T)`` bool: frame positions before each length; None without lengths (every frame valid)."""
    if lengths is None:
        return None
    return torch.arange(t, device=device)[None] < lengths.to(device)[:, None]


def roi_boxes(kp: Keypoints, rois: tuple[str, ...] = ROI_NAMES) -> np.ndarray:
    """Square crop boxes located from the keypoints, for :class:`RGBStream`.

    Each box covers the region's detected points with a margin (:data:`ROI_MARGIN`), and is at least
    :data:`ROI_MIN_SIDE` shoulder widths wide, so a fist still gets some context.

    Args:
        kp: raw keypoints (normalised image coordinates, not :func:`~cslr.pose.keypoints.normalize` d).
        rois: region names from :data:`~cslr.config.ROI_NAMES`.

    Returns:
        float32 ``(T, len(rois), 4)`` boxes ``(x0, y0, x1, y1)``; all zeros where the region was not
        detected in a frame.
    """
    shoulder = np.linalg.norm(kp.xyz[:, LEFT_SHOULDER, :2] - kp.xyz[:, RIGHT_SHOULDER, :2], axis=-1)
    width = np.where(kp.conf[:, [LEFT_SHOULDER, RIGHT_SHOULDER]].min(1) > 0, shoulder, np.nan)
    width = np.nan_to_num(width, nan=np.nanmedian(width) if np.isfinite(width).any() else 0.25)
    boxes = np.zeros((len(kp), len(rois), 4), np.float32)
    for r, name in enumerate(rois):
        pts = list(ROI_POINTS[name])
        seen = kp.conf[:, pts] > 0
        xy = np.where(seen[..., None], kp.xyz[:, pts, :2], np.nan)
        found = seen.any(1)
        lo = np.nanmin(np.where(found[:, None, None], xy, 0.0), axis=1)
        hi = np.nanmax(np.where(found[:, None, None], xy, 0.0), axis=1)
        minimum = ROI_MIN_SIDE["face" if name == "face" else "hand"] * width
        side = np.maximum((hi - lo).max(1) * ROI_MARGIN, minimum)
        centre = (lo + hi) / 2
        box = np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1)
        boxes[:, r] = np.where(found[:, None], box, 0.0)
    return boxes
