"""Every shipped recipe in configs/ exports to ONNX and TorchScript with PyTorch's output, and is served.

Pose MLP / GCN, RGB ResNet18 (with and without ROI crops) / S3D, fused; BiLSTM, causal LSTM and
Transformer encoders. Each export verifies itself (parity at several lengths, chunk by chunk when causal);
the tests here add what serving does on top: ragged batches through the ONNX Runtime backend, frames of
other sizes, TorchScript at another length, and the chunk graphs over a split batch of two streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from cslr.export.graphs import STATE_IN, ChunkGraph, UnsupportedExport, graph_inputs, initial_state
from cslr.export.onnx import OnnxExport, export_onnx, verify_onnx
from cslr.export.parity import (
    ATOL,
    ParityError,
    as_tensors,
    parity_lengths,
    random_inputs,
    stream_in_chunks,
    time_slice,
    torch_log_probs,
)
from cslr.export.runtime import OnnxRuntimeBackend
from cslr.export.torchscript import (
    TorchScriptExport,
    export_torchscript,
    load_torchscript,
    verify_torchscript,
)
from cslr.model.inputs import ModelInputs
from cslr.model.network import CSLRModel
from tests.export.conftest import CONFIGS, VOCAB, config_model

pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass(frozen=True)
class Exported:
    """A recipe's model and both its verified exports."""

    model: CSLRModel
    onnx: OnnxExport
    torchscript: TorchScriptExport


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda p: p.stem)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Each shipped recipe exported once to both formats (each export checks its own parity)."""
    model = config_model(request.param)
    folder = tmp_path_factory.mktemp(request.param.stem)
    return Exported(model, export_onnx(model, VOCAB, folder / "m.onnx"),
                    export_torchscript(model, VOCAB, folder / "m.ts.pt"))


def test_configs_cover_every_kind_of_model() -> None:
    cfgs = [config_model(p).cfg for p in CONFIGS]
    assert {c.temporal for c in cfgs} == {"bilstm", "causal", "transformer"}
    assert {c.streams for c in cfgs} == {("pose",), ("rgb",), ("pose", "rgb")}
    assert {c.pose_encoder for c in cfgs} == {"mlp", "gcn"}
    assert {c.rgb_backbone for c in cfgs if "rgb" in c.streams} >= {"resnet18", "s3d"}
    assert any(c.rgb_rois for c in cfgs)


def test_export_is_verified_at_several_lengths(exported: Exported) -> None:
    cfg = exported.model.cfg
    lengths = parity_lengths(cfg)
    assert any(t % cfg.stride for t in lengths)  # a partial last window is among them
    for report in (exported.onnx.parity, exported.torchscript.parity):
        assert set(report.max_abs_diff) == set(lengths)
        assert report.worst < ATOL
        assert (report.chunk_max_abs_diff is not None) == exported.model.streamable


def test_graph_inputs_are_what_the_streams_need(exported: Exported) -> None:
    import onnxruntime as ort

    cfg = exported.model.cfg
    expected = ["features"] * ("pose" in cfg.streams) + ["frames"] * ("rgb" in cfg.streams)
    expected += ["boxes"] * bool(cfg.rgb_rois)
    assert list(graph_inputs(cfg)) == expected
    session = ort.InferenceSession(str(exported.onnx.model_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == expected
    assert all(i.shape[:2] == ["batch", "frames"] for i in session.get_inputs())


def test_onnx_backend_serves_a_ragged_batch(exported: Exported) -> None:
    """Sequences of other lengths (not multiples of the stride), two of equal shape run together, and
    frames of another size than the parity check's (the model resizes them in the graph)."""
    model = exported.model
    backend = OnnxRuntimeBackend(exported.onnx.model_path, device="cpu")
    shapes = [(11, (48, 64)), (30, (48, 64)), (11, (48, 64)), (13, (model.cfg.rgb_size,) * 2)]
    seqs = [random_inputs(model.cfg, t, seed=i, batch=None, image=hw) for i, (t, hw) in enumerate(shapes)]
    for seq, got in zip(seqs, backend.log_probs_batch(seqs), strict=True):
        expected = torch_log_probs(model, _batch_of_one(seq))[:, 0]
        assert got.shape == (-(-len(seq) // model.cfg.stride), len(VOCAB))
        np.testing.assert_allclose(got, expected, atol=ATOL)


def test_torchscript_serves_a_batch_at_another_length(exported: Exported) -> None:
    model = exported.model
    module, vocab = load_torchscript(exported.torchscript.path)
    x = random_inputs(model.cfg, 19, seed=3, batch=2)
    named = as_tensors(x)
    with torch.inference_mode():
        got = module(*(named[name] for name in graph_inputs(model.cfg))).numpy()
    assert vocab == VOCAB
    np.testing.assert_allclose(got, torch_log_probs(model, x), atol=ATOL)


def test_chunk_graphs_over_a_split_batch_equal_the_whole(exported: Exported) -> None:
    """Causal recipes: two streams fed in uneven chunks (multiples of the stride, then an odd rest)
    through the ONNX chunk graph and TorchScript's forward_chunk. Others: no chunk graph, and why."""
    model = exported.model
    if not model.streamable:
        assert exported.onnx.chunk_path is None
        why = "sees future frames" if model.rgb is not None and not model.rgb.causal else "causal encoder"
        with pytest.raises(UnsupportedExport, match=why):
            ChunkGraph(model)
        return
    x = random_inputs(model.cfg, 23, seed=5, batch=2)
    expected = torch_log_probs(model, x)
    backend = OnnxRuntimeBackend(exported.onnx.model_path, device="cpu", chunk_path=exported.onnx.chunk_path)
    h, c = (s.numpy() for s in initial_state(model, batch=2))
    for chunk in (model.cfg.stride, 3 * model.cfg.stride):
        streamed, (h_out, _) = stream_in_chunks(backend.forward_chunk, x, (h, c), chunk)
        np.testing.assert_allclose(streamed, expected, atol=ATOL)
        assert h_out.shape == h.shape
    module, _ = load_torchscript(exported.torchscript.path)
    names = graph_inputs(model.cfg)
    state = initial_state(model, batch=2)
    pieces = []
    with torch.inference_mode():
        for start in range(0, 23, 2 * model.cfg.stride):
            named = as_tensors(time_slice(x, start, start + 2 * model.cfg.stride))
            log_probs, *state = module.forward_chunk(*(named[n] for n in names), *state)
            pieces.append(log_probs.numpy())
    np.testing.assert_allclose(np.concatenate(pieces), expected, atol=ATOL)
    assert backend.chunk_session is not None
    assert [i.name for i in backend.chunk_session.get_inputs()] == [*names, *STATE_IN]


def _batch_of_one(seq: ModelInputs) -> ModelInputs:
    """A sequence ``(T, ...)`` as a batch ``(1, T, ...)``."""
    return ModelInputs(**{name: a[None] for name, a in seq.arrays().items()})


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_verification_catches_a_wrong_fused_export(tmp_path: Path, fmt: str) -> None:
    fused = next(p for p in CONFIGS if p.stem == "two-stream-fused")
    model, other = (config_model(fused, seed=s, rgb_backbone="tiny") for s in (0, 1))  # same shapes
    with pytest.raises(ParityError, match="exceeds"):
        if fmt == "onnx":
            verify_onnx(other, export_onnx(model, VOCAB, tmp_path / "m.onnx", verify=False).model_path)
        else:
            verify_torchscript(other, export_torchscript(model, VOCAB, tmp_path / "m.ts", verify=False).path)


def test_onnx_backend_asks_for_missing_frames(tmp_path: Path) -> None:
    model = config_model(next(p for p in CONFIGS if p.stem == "two-stream-fused"), rgb_backbone="tiny")
    path = export_onnx(model, VOCAB, tmp_path / "m.onnx", verify=False).model_path
    backend = OnnxRuntimeBackend(path, device="cpu")
    features = random_inputs(model.cfg, 8, batch=None).features
    with pytest.raises(ValueError, match="pass frames"):
        backend.log_probs(ModelInputs(features=features))
