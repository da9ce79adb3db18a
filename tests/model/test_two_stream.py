"""Two-stream parts: RGB stream, GCN pose stream, gated fusion, transformer, chunking, weights, ROIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cslr.config import ConfigError, ModelConfig
from cslr.model.fusion import GatedAttentionFusion
from cslr.model.network import CSLRModel
from cslr.model.pose_stream import GraphPoseStream
from cslr.model.rgb_stream import RGBStream, build_backbone, load_backbone_weights, roi_boxes
from cslr.pose.keypoints import LEFT_HAND, RIGHT_HAND
from cslr.pose.synth import SyntheticSigner

VOCAB = 6
SMALL: dict[str, Any] = {
    "pose_hidden": 32,
    "pose_layers": 1,
    "rgb_backbone": "tiny",
    "rgb_size": 16,
    "rgb_dim": 16,
    "roi_size": 8,
    "fusion_dim": 16,
    "fusion_heads": 2,
    "hidden_size": 16,
    "num_layers": 2,
    "dropout": 0.0,
    "vocab_size": VOCAB,
}


def _model(**overrides: Any) -> CSLRModel:
    torch.manual_seed(0)
    return CSLRModel(ModelConfig(**{**SMALL, **overrides})).eval()


def _inputs(b: int, t: int, rois: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(3)
    frames = torch.randint(0, 256, (b, t, 3, 20, 20), generator=g, dtype=torch.uint8)
    boxes = None
    if rois:
        lo = torch.rand(b, t, rois, 2, generator=g) * 0.5
        boxes = torch.cat([lo, lo + 0.3], dim=-1)
    return torch.randn(b, t, 300, generator=g), frames, boxes


def test_rgb_stream_shapes_and_normalisation() -> None:
    stream = RGBStream(ModelConfig(**SMALL)).eval()
    _, frames, _ = _inputs(2, 5)
    out = stream(frames)
    assert out.shape == (2, 5, 16) and torch.isfinite(out).all()
    # uint8 and [0, 1] floats are the same picture
    torch.testing.assert_close(stream(frames.float() / 255.0), out)
    assert stream.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])


def test_rgb_padding_frames_are_not_run() -> None:
    stream = RGBStream(ModelConfig(**SMALL)).eval()
    _, frames, _ = _inputs(2, 6)
    full = stream(frames, torch.tensor([6, 4]))
    noisy = frames.clone()
    noisy[1, 4:] = 255
    torch.testing.assert_close(stream(noisy, torch.tensor([6, 4]))[1, :4], full[1, :4])


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "s3d", "tiny"])
def test_backbones_build_without_downloads(name: str) -> None:
    net, width = build_backbone(name)
    assert width in (512, 2048, 1024, 32)
    assert not any(p.is_meta for p in net.parameters())


def test_backbone_weights_from_a_local_file(tmp_path: Path) -> None:
    torch.manual_seed(1)
    source, _ = build_backbone("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, path)
    stream = RGBStream(ModelConfig(**{**SMALL, "rgb_backbone": "resnet18", "rgb_weights": str(path)}))
    torch.testing.assert_close(stream.backbone.conv1.weight, source.conv1.weight)


def test_missing_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = ModelConfig(**{**SMALL, "streams": ("rgb",), "rgb_weights": str(tmp_path / "nope.pth")})
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        CSLRModel(cfg)


def test_wrong_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    net, _ = build_backbone("resnet18")
    with pytest.raises(ValueError, match="does not fit"):
        load_backbone_weights(net, path)


def test_frozen_backbone_gets_no_gradient() -> None:
    model = _model(streams=("rgb",), rgb_freeze=True).train()
    _, frames, _ = _inputs(2, 4)
    out = model(None, torch.tensor([4, 4]), torch.tensor([[1], [2]]), torch.tensor([1, 1]), frames=frames)
    assert out.loss is not None
    out.loss.backward()
    assert model.rgb is not None
    assert all(p.grad is None for p in model.rgb.backbone.parameters())
    assert all(p.grad is not None for p in model.rgb.project.parameters())


def test_roi_boxes_follow_the_hands() -> None:
    kp, _ = SyntheticSigner(4, seed=0).sentence([0, 1], np.random.default_rng(0))
    boxes = roi_boxes(kp, ("face", "left_hand", "right_hand"))
    assert boxes.shape == (len(kp), 3, 4)
    seen = kp.conf[:, RIGHT_HAND].max(1) > 0
    centre = (boxes[:, 2, :2] + boxes[:, 2, 2:]) / 2
    hand = kp.xyz[:, RIGHT_HAND, :2].mean(1)
    assert np.abs(centre[seen] - hand[seen]).max() < 0.05
    assert (boxes[~seen, 2] == 0).all()
    left_missing = kp.conf[:, LEFT_HAND].max(1) == 0
    assert (boxes[left_missing, 1, 2] <= boxes[left_missing, 1, 0]).all()
    assert (boxes[:, 0, 2] > boxes[:, 0, 0]).all()  # the face is always there


def test_roi_crops_change_the_features() -> None:
    stream = RGBStream(ModelConfig(**{**SMALL, "rgb_rois": ("left_hand",)})).eval()
    _, frames, boxes = _inputs(1, 3, rois=1)
    assert boxes is not None
    moved = boxes.clone()
    moved[..., [0, 2]] += 0.3
    assert not torch.allclose(stream(frames, boxes=boxes), stream(frames, boxes=moved))
    with pytest.raises(ValueError, match="boxes"):
        stream(frames)


def test_gcn_uses_the_skeleton_graph() -> None:
    torch.manual_seed(0)
    gcn = GraphPoseStream(32, 2, 0.0).eval()
    x = torch.randn(2, 3, 300)
    assert gcn(x).shape == (2, 3, 32)
    moved = x.clone()
    moved[..., 4 * RIGHT_HAND.start] += 1.0  # move the right wrist: its bone vectors change
    assert not torch.allclose(gcn(moved), gcn(x))
    assert gcn(x)[:, :1].allclose(gcn(x[:, :1]), atol=1e-6)  # frame by frame


def test_fusion_gates_sum_to_one_per_step() -> None:
    torch.manual_seed(0)
    fusion = GatedAttentionFusion([8, 12], dim=16, heads=4, dropout=0.0)
    out = fusion([torch.randn(2, 5, 8), torch.randn(2, 5, 12)])
    assert out.fused.shape == (2, 5, 16) and out.gates.shape == (2, 5, 2)
    torch.testing.assert_close(out.gates.sum(-1), torch.ones(2, 5))
    # the fused features are layer-normalised
    torch.testing.assert_close(out.fused.mean(-1), torch.zeros(2, 5), atol=1e-5, rtol=0)


def test_gate_network_sets_the_modality_weights() -> None:
    """The gates come from the gate network: biasing it towards one modality shows in the weights."""
    torch.manual_seed(0)
    fusion = GatedAttentionFusion([4, 4], dim=8, heads=2, dropout=0.0).eval()
    with torch.no_grad():
        last = fusion.gate[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([50.0, -50.0]))
    a, b = torch.randn(1, 3, 4), torch.randn(1, 3, 4)
    out = fusion([a, b])
    assert out.gates[..., 0].min() > 0.999


@pytest.mark.parametrize(
    "overrides",
    [
        {"streams": ("pose",), "pose_encoder": "gcn"},
        {"streams": ("rgb",)},
        {"streams": ("pose", "rgb")},
        {"streams": ("pose", "rgb"), "pose_encoder": "gcn", "rgb_rois": ("left_hand", "face")},
        {"streams": ("rgb", "pose"), "stride": 2},
    ],
    ids=["gcn", "rgb", "fused", "fused-gcn-rois", "rgb-pose-stride2"],
)
def test_causal_chunked_equals_full_for_every_stream_configuration(overrides: dict[str, Any]) -> None:
    model = _model(temporal="causal", **overrides)
    assert model.streamable
    rois = len(model.cfg.rgb_rois)
    features, frames, boxes = _inputs(2, 13, rois)
    kwargs = {"frames": frames if model.needs_frames else None, "boxes": boxes}
    pose = features if model.pose is not None else None
    full = model(pose, torch.tensor([13, 13]), **kwargs).log_probs
    state, pieces = None, []
    chunk = 2 * model.cfg.stride
    with torch.no_grad():
        for s in range(0, 13, chunk):
            part = {k: None if v is None else v[:, s : s + chunk] for k, v in kwargs.items()}
            out, state = model.forward_chunk(None if pose is None else pose[:, s : s + chunk], state, **part)
            pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces), full, rtol=0, atol=1e-5)


def test_s3d_model_refuses_chunk_mode() -> None:
    model = _model(temporal="causal", streams=("pose", "rgb"), rgb_backbone="s3d", rgb_size=32)
    assert not model.streamable
    features, frames, _ = _inputs(1, 8)
    assert model(features, torch.tensor([8]), frames=frames).log_probs.shape == (8, 1, VOCAB)
    with pytest.raises(RuntimeError, match="sees future frames"):
        model.forward_chunk(features, None, frames=frames)


def test_transformer_encoder_masks_padding() -> None:
    model = _model(temporal="transformer", transformer_heads=2)
    assert not model.streamable
    features, _, _ = _inputs(2, 12)
    out = model(features, torch.tensor([12, 7])).log_probs
    alone = model(features[1:, :7], torch.tensor([7])).log_probs
    torch.testing.assert_close(out[:7, 1], alone[:, 0], atol=1e-5, rtol=0)
    with pytest.raises(RuntimeError, match="causal"):
        model.forward_chunk(features)


def test_rgb_model_without_frames_says_so() -> None:
    model = _model(streams=("pose", "rgb"))
    with pytest.raises(ValueError, match="pass frames"):
        model(torch.randn(1, 4, 300), torch.tensor([4]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"streams": ("pose", "depth")}, "streams"),
        ({"rgb_backbone": "vgg"}, "rgb_backbone"),
        ({"pose_encoder": "lstm"}, "pose_encoder"),
        ({"rgb_rois": ("nose",)}, "rgb_rois"),
        ({"streams": ("pose", "rgb"), "fusion_dim": 10, "fusion_heads": 3}, "fusion_heads"),
        ({"temporal": "transformer", "hidden_size": 10, "transformer_heads": 4}, "transformer_heads"),
    ],
)
def test_bad_two_stream_configs(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**overrides)


def test_old_pose_only_state_dict_keys_unchanged() -> None:
    """Checkpoints saved before the two-stream model keep loading: same parameter names."""
    keys = set(CSLRModel(ModelConfig(vocab_size=4, temporal="causal")).state_dict())
    assert {k.split(".")[0] for k in keys} == {"pose", "encoder", "head"}
