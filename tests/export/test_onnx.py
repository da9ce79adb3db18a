"""ONNX export: ONNX Runtime equals PyTorch at several lengths and chunk by chunk; the serving backend."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest

from cslr.cli import main
from cslr.config import ExperimentConfig
from cslr.export.graphs import STATE_IN, UnsupportedExport, initial_state
from cslr.export.onnx import export_onnx, read_vocab, run_chunked, verify_onnx
from cslr.export.parity import ATOL, ParityError, random_inputs, time_slice, torch_log_probs
from cslr.export.runtime import CPU_PROVIDER, CUDA_PROVIDER, OnnxRuntimeBackend, select_providers, warmup
from cslr.model.checkpoint import save_checkpoint
from cslr.model.inputs import ModelInputs
from cslr.model.network import CSLRModel
from cslr.stream.recognizer import Recognizer
from tests.export.conftest import CONFIGS, VOCAB, config_model, tiny_model

LENGTHS = (1, 5, 37, 64, 201)


def test_export_matches_torch_at_several_lengths(model: CSLRModel, tmp_path: Path) -> None:
    result = export_onnx(model, VOCAB, tmp_path / "m.onnx")
    assert set(result.parity.max_abs_diff) >= {1, 64}
    assert result.parity.worst < ATOL
    backend = OnnxRuntimeBackend(result.model_path, device="cpu")
    for frames in LENGTHS:  # lengths other than the ones the export verified itself on
        x = random_inputs(model.cfg, frames, seed=7, batch=None)
        expected = torch_log_probs(model, ModelInputs(features=x.features[None]))[:, 0]
        got = backend.log_probs(x)
        assert got.shape == (-(-frames // model.cfg.stride), len(VOCAB))
        np.testing.assert_allclose(got, expected, atol=ATOL)


def test_time_and_batch_axes_are_dynamic(tmp_path: Path) -> None:
    path = export_onnx(tiny_model("causal"), VOCAB, tmp_path / "m.onnx").model_path
    graph = onnx.load(str(path)).graph
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[1] == "frames" and dims[2] == 300


def test_causal_export_streams_chunk_by_chunk_with_state(tmp_path: Path) -> None:
    import onnxruntime as ort

    model = tiny_model("causal", stride=2)
    result = export_onnx(model, VOCAB, tmp_path / "m.onnx")
    assert result.chunk_path is not None and result.parity.chunk_max_abs_diff is not None
    session = ort.InferenceSession(str(result.chunk_path), providers=[CPU_PROVIDER])
    assert [i.name for i in session.get_inputs()][1:] == list(STATE_IN)
    x = random_inputs(model.cfg, 90, seed=3)
    h, c = (t.numpy() for t in initial_state(model))
    for chunk in (2, 8, 30):  # chunk sizes that are multiples of the stride; the last chunk is partial
        streamed, _ = run_chunked(session, x, (h, c), chunk)
        np.testing.assert_allclose(streamed, torch_log_probs(model, x), atol=ATOL)


def test_chunk_state_is_carried_not_reset(tmp_path: Path) -> None:
    """Feeding the zero state to every chunk must give a different answer: the state really flows."""
    import onnxruntime as ort

    model = tiny_model("causal")
    chunk_path = export_onnx(model, VOCAB, tmp_path / "m.onnx").chunk_path
    session = ort.InferenceSession(str(chunk_path), providers=[CPU_PROVIDER])
    x = random_inputs(model.cfg, 32)
    h, c = (t.numpy() for t in initial_state(model))
    _, state = run_chunked(session, time_slice(x, 0, 16), (h, c))
    rest = x.features[:, 16:]
    carried = session.run(None, {"features": rest, "h_in": state[0], "c_in": state[1]})[0]
    fresh = session.run(None, {"features": rest, "h_in": h, "c_in": c})[0]
    assert not np.allclose(carried, fresh, atol=1e-3)


@pytest.mark.parametrize("temporal", ["bilstm", "transformer"])
def test_offline_model_has_no_chunk_graph(tmp_path: Path, temporal: str) -> None:
    assert export_onnx(tiny_model(temporal), VOCAB, tmp_path / "m.onnx").chunk_path is None
    with pytest.raises(UnsupportedExport, match=f"no chunk graph for temporal encoder '{temporal}'.*causal"):
        export_onnx(tiny_model(temporal), VOCAB, tmp_path / "n.onnx", chunk=True)
    assert not (tmp_path / "n.onnx").exists()  # refused before anything is written


def test_verification_catches_a_wrong_export(tmp_path: Path) -> None:
    path = export_onnx(tiny_model("causal", seed=0), VOCAB, tmp_path / "m.onnx").model_path
    with pytest.raises(ParityError, match="exceeds"):
        verify_onnx(tiny_model("causal", seed=1), path)  # same shapes, other weights


def test_vocabulary_travels_in_metadata(tmp_path: Path) -> None:
    path = export_onnx(tiny_model("bilstm"), VOCAB, tmp_path / "m.onnx").model_path
    assert read_vocab(path) == VOCAB


def test_recognizer_with_onnx_backend_gives_torch_results(causal_checkpoint: Path, tmp_path: Path) -> None:
    torch_rec = Recognizer.from_checkpoint(causal_checkpoint, device="cpu")
    onnx_rec = Recognizer.from_checkpoint(causal_checkpoint, device="cpu", backend="onnx",
                                          onnx_model=_export_ckpt(causal_checkpoint, tmp_path))
    assert isinstance(onnx_rec.runtime, OnnxRuntimeBackend)
    x = ModelInputs(features=np.random.default_rng(0).standard_normal((50, 300)).astype(np.float32))
    np.testing.assert_allclose(onnx_rec.log_probs(x), torch_rec.log_probs(x), atol=ATOL)


def test_recognizer_serves_a_fused_checkpoint_with_onnx_runtime(tmp_path: Path) -> None:
    """Pose GCN + RGB with hand/face crops, causal: whole sequences (a ragged batch, padded in PyTorch)
    and chunk steps through the ONNX graphs equal the PyTorch recognizer's."""
    live = next(p for p in CONFIGS if p.stem == "two-stream-live")
    model = config_model(live, rgb_backbone="tiny")
    cfg = dataclasses.replace(ExperimentConfig(), model=model.cfg)
    checkpoint = save_checkpoint(tmp_path / "fused.pt", model, cfg, VOCAB)
    exported = export_onnx(model, VOCAB, tmp_path / "fused.onnx")
    torch_rec = Recognizer.from_checkpoint(checkpoint, device="cpu")
    onnx_rec = Recognizer.from_checkpoint(
        checkpoint, device="cpu", backend="onnx", onnx_model=exported.model_path
    )
    assert isinstance(onnx_rec.runtime, OnnxRuntimeBackend) and onnx_rec.runtime.chunk_session is not None
    seqs = [random_inputs(model.cfg, t, seed=t, batch=None, image=(64, 64)) for t in (9, 20, 9)]
    for got, expected in zip(onnx_rec.log_probs_batch(seqs), torch_rec.log_probs_batch(seqs), strict=True):
        np.testing.assert_allclose(got, expected, atol=ATOL)
    chunk = random_inputs(model.cfg, 6, seed=1, batch=2, image=(64, 64))
    got, (h, _c) = onnx_rec.forward_chunk(chunk, onnx_rec.chunk_state(2))
    expected, (h_ref, _) = torch_rec.forward_chunk(chunk, torch_rec.chunk_state(2))
    np.testing.assert_allclose(got, expected, atol=ATOL)
    np.testing.assert_allclose(h, h_ref, atol=ATOL)


def test_onnx_backend_without_a_file_exports_once_to_the_cache(
    causal_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSLR_CACHE_DIR", str(tmp_path / "cache"))
    first = Recognizer.from_checkpoint(causal_checkpoint, device="cpu", backend="onnx")
    cached = list((tmp_path / "cache").glob("*.onnx"))
    assert len(cached) == 1 and first.runtime is not None
    mtime = cached[0].stat().st_mtime_ns
    Recognizer.from_checkpoint(causal_checkpoint, device="cpu", backend="onnx")
    assert cached[0].stat().st_mtime_ns == mtime


def test_onnx_model_of_another_vocabulary_is_refused(causal_checkpoint: Path, tmp_path: Path) -> None:
    from cslr.data.vocab import Vocabulary

    other = tmp_path / "other.onnx"
    export_onnx(tiny_model("causal", 2), Vocabulary.from_glosses(["a", "b", "c"]), other)
    with pytest.raises(ValueError, match="vocabulary"):
        Recognizer.from_checkpoint(causal_checkpoint, device="cpu", backend="onnx", onnx_model=other)


def test_unknown_backend_is_an_error(causal_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="BACKEND"):
        Recognizer.from_checkpoint(causal_checkpoint, backend="tensorrt")


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", [CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
        ("cuda", [CUDA_PROVIDER, CPU_PROVIDER], [CUDA_PROVIDER, CPU_PROVIDER]),
    ],
)
def test_device_selects_execution_provider(device: str, available: list[str], expected: list[str]) -> None:
    assert select_providers(device, available) == expected


def test_cuda_without_provider_is_an_error() -> None:
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        select_providers("cuda", [CPU_PROVIDER])


def test_warmup_runs_every_length(tmp_path: Path) -> None:
    path = export_onnx(tiny_model("bilstm"), VOCAB, tmp_path / "m.onnx", verify=False).model_path
    timings = warmup(OnnxRuntimeBackend(path, "cpu"), 300, lengths=(8, 64), repeats=2)
    assert set(timings) == {8, 64} and all(len(r) == 2 and min(r) > 0 for r in timings.values())


def test_cli_export_onnx_writes_and_verifies(causal_checkpoint: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "model.onnx"
    assert main(["export", "onnx", str(causal_checkpoint), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".chunk.onnx").is_file()
    assert "parity with PyTorch" in printed and "chunked" in printed


def test_cli_export_missing_checkpoint_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "onnx", str(tmp_path / "nope.pt")]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_cli_exports_a_transformer_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    model = tiny_model("transformer", stride=2)
    cfg = dataclasses.replace(ExperimentConfig(), model=model.cfg)
    checkpoint = save_checkpoint(tmp_path / "transformer.pt", model, cfg, VOCAB)
    out = tmp_path / f"m.{fmt}"
    assert main(["export", fmt, str(checkpoint), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and "parity with PyTorch" in printed and "chunked" not in printed


def test_cli_warmup_with_onnx_backend(
    causal_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CSLR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DEVICE", "cpu")
    args = ["warmup", "--checkpoint", str(causal_checkpoint), "--backend", "onnx", "--lengths", "8", "64"]
    code = main(args)
    printed = capsys.readouterr().out
    assert code == 0
    assert "model loaded (onnx" in printed and "T=   64" in printed


def _export_ckpt(checkpoint: Path, tmp_path: Path) -> Path:
    from cslr.model.checkpoint import load_checkpoint

    model, _cfg, vocab, _extra = load_checkpoint(checkpoint)
    return export_onnx(model, vocab, tmp_path / "exported.onnx").model_path
