"""The ``cslr`` command line: one entry point, a subcommand per job.

Each subcommand's work lives in the package that owns it; this module only parses arguments, calls
that code, and turns expected failures (bad input) into a message and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]
EXIT_BAD_INPUT = 2


class CLIError(Exception):
    """An expected failure: printed as ``error: <message>`` with exit status 2, never a traceback."""


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the REST + WebSocket server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the bundled model)")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from cslr.serve.app import create_app
    from cslr.serve.settings import Settings

    overrides = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    settings = Settings(**overrides)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=settings.log_level.lower())
    return 0


def _add_recognize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recognize", help="recognise a video, a folder of frames, or a .pose/.npz keypoint file"
    )
    p.add_argument("path", help="video file, frame folder, or keypoint file")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the bundled model)")
    p.add_argument("--beam-width", type=int, default=None, help="1 = greedy decoding")
    p.add_argument("--lang", choices=["asl", "isl"], default=None, help="sign language of the grammar rules")
    p.add_argument("--workers", type=int, default=None, help="processes for pose extraction")
    p.add_argument(  # issue 4 (two-stream model)
        "--explain",
        metavar="OUT.png",
        default=None,
        help="also write a PNG of the fusion gates over time beside the CTC posteriors",
    )
    p.set_defaults(handler=_recognize)


def _recognize(args: argparse.Namespace) -> int:
    import json

    # --- issue 4 (two-stream model): --explain runs the model itself (RGB models need the frames) ---
    if args.explain:
        from cslr.model.explain import explain_path

        expl = explain_path(args.path, args.explain, args.checkpoint)
        print("glosses: " + (" ".join(expl.glosses) or "(no signs recognised)"))
        print(f"wrote {args.explain}")
        return 0
    # --- end issue 4 ---

    from cslr.inference import InferenceService
    from cslr.serve.settings import Settings

    overrides = {
        "checkpoint": args.checkpoint,
        "beam_width": args.beam_width,
        "sign_language": args.lang,
        "pose_workers": args.workers,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    result = InferenceService.from_settings(settings).recognize_path(args.path)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.sentence or "(no signs recognised)")
        print("glosses: " + " ".join(result.gloss))
    return 0


def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="extract MediaPipe Holistic keypoints: one video to .pose/.npz, or a whole dataset to a cache",
    )
    p.add_argument("video", help="video file (mp4, webm, avi, mov, ...), folder of frames, or a dataset "
                   "(manifest .csv/.jsonl, PHOENIX-2014/-T, CSL-Daily or Kaggle ISLR folder)")
    p.add_argument("-o", "--output", required=True,
                   help="output file: .pose (pose-format) or .npz; for a dataset: the cache folder")
    p.add_argument("--fps", type=float, default=25.0, help="target frame rate (default 25)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--frame-skip", type=int, default=0, help="keep every (N+1)-th frame")
    p.add_argument("--motion-threshold", type=float, default=0.0, help="drop near-static frames (0 = off)")
    # issue 3: dataset-scale extraction
    p.add_argument("--format", default=None, help="dataset layout (default: detected); implies dataset mode")
    p.add_argument("--shard", default="0/1", help="dataset mode: this machine's share i/n (0 <= i < n)")
    p.add_argument("--no-progress", action="store_true", help="dataset mode: no progress bar")
    # issue 4: frame cache of the RGB / fused models
    p.add_argument("--frames", type=int, default=0, metavar="SIZE",
                   help="dataset mode: also store each item's frames as uint8 SIZE x SIZE in "
                   "CACHE/frames-SIZE/ (the recipe's model.rgb_size; 2x that with model.rgb_rois)")
    p.set_defaults(handler=_extract)  # fmt: skip


def _dataset_format(args: argparse.Namespace) -> str | None:
    """The dataset layout when ``cslr extract`` was given a dataset (issue 3), else None (one video)."""
    from pathlib import Path

    from cslr.data.corpora import detect_format

    if args.format:
        return str(args.format)
    if Path(args.output).suffix.lower() in (".pose", ".npz"):
        return None
    try:
        return detect_format(args.video)
    except ValueError:
        return None


def _extract_dataset(args: argparse.Namespace, fmt: str) -> int:
    import os

    from cslr.data.corpora import load_corpus
    from cslr.data.extraction import extract_dataset, parse_shard
    from cslr.pose.keypoints import DEFAULT_FPS

    if args.frames < 0 or (args.frames and args.fps != DEFAULT_FPS):
        raise CLIError(
            f"--frames needs a size >= 1 and the default --fps {DEFAULT_FPS:g} (what training reads)"
        )
    items = load_corpus(fmt, args.video)
    workers = args.workers or min(os.cpu_count() or 1, 8)
    report = extract_dataset(
        items, args.output, workers, parse_shard(args.shard), args.fps, not args.no_progress, args.frames
    )
    print(report.summary())
    return 0


def _extract(args: argparse.Namespace) -> int:
    from pathlib import Path

    fmt = _dataset_format(args)
    if fmt is not None:
        return _extract_dataset(args, fmt)
    if args.frames:  # issue 4
        raise CLIError("--frames caches the frames of a dataset: give a manifest or corpus folder")

    from cslr.pose.holistic import extract_video
    from cslr.pose.io import save_keypoints
    from cslr.pose.keypoints import BODY, LEFT_HAND, RIGHT_HAND
    from cslr.video import probe_video

    out = Path(args.output)
    if out.suffix.lower() not in (".pose", ".npz"):
        raise CLIError(f"output must end in .pose or .npz, got {out.name}")
    kp = extract_video(args.video, args.fps, args.workers, args.frame_skip, args.motion_threshold)
    info = None if Path(args.video).is_dir() else probe_video(args.video)
    size = (info.width, info.height) if info and info.width and info.height else (1000, 1000)
    save_keypoints(kp, out, *size)
    body = (kp.conf[:, BODY] > 0).any(axis=1)  # MediaPipe found a person
    hand = (kp.conf[:, LEFT_HAND] > 0).all(axis=1) | (kp.conf[:, RIGHT_HAND] > 0).all(axis=1)
    print(
        f"{out}: {len(kp)} frames at {kp.fps:g} fps, body in {100 * body.mean():.0f}% of frames, "
        f"a hand in {100 * hand.mean():.0f}%"
        if len(kp)
        else f"{out}: 0 frames"
    )
    return 0


# --- issue 7 (export): cslr export onnx|torchscript, cslr warmup ---
def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a checkpoint to ONNX or TorchScript, checked against PyTorch")
    p.add_argument("format", choices=["onnx", "torchscript"])
    p.add_argument("checkpoint", nargs="?", default=None, help="default: the bundled model")
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="output file (default: <checkpoint name>.onnx or .ts.pt in the current folder)",
    )
    p.add_argument("--no-verify", action="store_true", help="skip the parity check against PyTorch")
    p.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cslr.model.checkpoint import default_checkpoint_path, load_checkpoint

    checkpoint = Path(args.checkpoint or default_checkpoint_path())
    model, _cfg, vocab, _extra = load_checkpoint(checkpoint, map_location="cpu")
    out = Path(args.output or checkpoint.stem + (".onnx" if args.format == "onnx" else ".ts.pt"))
    if args.format == "onnx":
        from cslr.export.onnx import export_onnx

        result = export_onnx(model, vocab, out, verify=not args.no_verify)
        written, parity = [p for p in (result.model_path, result.chunk_path) if p], result.parity
    else:
        from cslr.export.torchscript import export_torchscript

        ts = export_torchscript(model, vocab, out, verify=not args.no_verify)
        written, parity = [ts.path], ts.parity
    print("wrote " + ", ".join(str(p) for p in written))
    if not args.no_verify:
        print(f"parity with PyTorch: {parity.summary()}")
    return 0


def _add_warmup(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warmup", help="load the model and run dummy inferences so first requests are fast")
    p.add_argument("--checkpoint", default=None, help="default: CHECKPOINT, or the bundled model")
    p.add_argument("--backend", choices=["torch", "onnx"], default=None, help="default: BACKEND")
    p.add_argument("--lengths", type=int, nargs="+", default=None, help="frames per dummy sequence")
    p.add_argument("--repeats", type=int, default=3, help="runs per length")
    p.set_defaults(handler=_warmup)


def _warmup(args: argparse.Namespace) -> int:
    import time

    from cslr.export.runtime import WARMUP_LENGTHS, warmup
    from cslr.inference import InferenceService
    from cslr.serve.settings import Settings

    overrides = {"checkpoint": args.checkpoint, "backend": args.backend}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    start = time.perf_counter()
    recognizer = InferenceService.from_settings(settings).recognizer
    print(f"model loaded ({settings.backend}, {recognizer.device}) in {time.perf_counter() - start:.2f} s")
    lengths = tuple(args.lengths or WARMUP_LENGTHS)
    for frames, runs in warmup(recognizer, recognizer.model.cfg, lengths, args.repeats).items():
        print(f"T={frames:>5}: first {runs[0]:.1f} ms, then {min(runs[1:] or runs):.1f} ms")
    from cslr.decode.ctc import warm_up_beam_search

    print(f"beam search kernels compiled or loaded in {warm_up_beam_search():.2f} s")
    return 0


# --- end issue 7 (export) ---


# --- issue 5 (decode + language) ---
def _add_lm(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lm", help="gloss n-gram language model: build (ARPA) and perplexity")
    lm_sub = p.add_subparsers(dest="lm_command", metavar="LM_COMMAND", required=True)
    b = lm_sub.add_parser("build", help="estimate a Kneser-Ney gloss LM from transcripts")
    b.add_argument("transcripts", help="one gloss sentence per line (or STM)")
    b.add_argument("-o", "--output", required=True, help="ARPA file to write")
    b.add_argument("--order", type=int, default=3)
    b.set_defaults(handler=_lm_build)
    q = lm_sub.add_parser("ppl", help="perplexity of an ARPA model on transcripts")
    q.add_argument("model", help="ARPA file")
    q.add_argument("transcripts")
    q.set_defaults(handler=_lm_ppl)


def _lm_build(args: argparse.Namespace) -> int:
    from cslr.decode.lm import NGramLM, read_transcripts

    lm = NGramLM.build(read_transcripts(args.transcripts), args.order)
    lm.save_arpa(args.output)
    print(f"wrote {args.output}: order {lm.order}, {len(lm.vocab)} words, {len(lm.probs)} n-grams")
    return 0


def _lm_ppl(args: argparse.Namespace) -> int:
    from cslr.decode.lm import NGramLM, read_transcripts

    print(f"perplexity={NGramLM.load_arpa(args.model).perplexity(read_transcripts(args.transcripts)):.2f}")
    return 0


def _add_eval_language(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-language", help="BLEU/chrF of gloss-to-English on line-aligned files")
    p.add_argument("--lang", choices=["asl", "isl"], default="asl")
    p.add_argument("--gloss", required=True, help="gloss sentences, one per line")
    p.add_argument("--ref", required=True, help="English references, line aligned")
    p.add_argument("--case-sensitive", action="store_true", help="compare with case (default: lower-cased)")
    p.set_defaults(handler=_eval_language)


def _eval_language(args: argparse.Namespace) -> int:
    from cslr.language.evaluate import evaluate_files

    print(evaluate_files(args.gloss, args.ref, args.lang, lowercase=not args.case_sensitive))
    return 0


def _add_speak(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("speak", help="speak English text into a WAV file (offline espeak-ng)")
    p.add_argument("text")
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    p.add_argument(
        "--engine",
        choices=["auto", "pyttsx3", "espeak-ng", "gtts"],
        default="auto",
        help="gtts is online and used only when named",
    )
    p.set_defaults(handler=_speak)


def _speak(args: argparse.Namespace) -> int:
    from cslr.language.speech import SpeechUnavailableError, synthesize

    try:
        print(synthesize(args.text, args.output, engine=args.engine))
    except (ImportError, SpeechUnavailableError) as exc:
        raise CLIError(str(exc)) from exc
    return 0


# --- end issue 5 (decode + language) ---


# --- issue 7 (service): API keys ---
def _add_keys(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, list or revoke the server's API keys")
    p.add_argument("--database-url", default=None, help="default: DATABASE_URL, or SQLite in STATE_DIR")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print it (shown only this once)")
    create.add_argument("name", help="who or what uses the key")
    actions.add_parser("list", help="list keys (ids and names, never the keys)")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    p.set_defaults(handler=_keys)


def _keys(args: argparse.Namespace) -> int:
    from cslr.serve.security import run_keys_command

    try:
        print(
            run_keys_command(
                args.action, getattr(args, "name", None) or getattr(args, "key_id", None), args.database_url
            )
        )
    except LookupError as exc:
        raise CLIError(str(exc)) from exc
    return 0


# --- end issue 7 (service) ---


# --- train (model + training) ---
def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from a YAML recipe (see configs/)")
    p.add_argument("config", help="YAML recipe, e.g. configs/synth-tiny.yaml")
    p.add_argument("-o", "--output-dir", default=None, help="where checkpoints go (default: runs/<name>)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=5 (repeatable)",
    )
    p.add_argument(  # issue 3
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CHECKPOINT",
        help="continue a run: from CHECKPOINT, or (no value) the newest checkpoint in the output folder",
    )
    p.set_defaults(handler=_train)


def _train(args: argparse.Namespace) -> int:
    import logging
    import os

    from cslr.config import load_config, parse_override
    from cslr.train.trainer import run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    output_dir = args.output_dir or f"runs/{load_config(args.config).name}"
    overrides = dict(parse_override(o) for o in args.overrides)
    result = run_training(args.config, output_dir, overrides, resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:  # issue 3: one report under torchrun
        test = "-" if result.test is None else f"{result.test.wer:.4f}"
        print(f"best dev WER {result.best_dev_wer:.4f}, test WER {test}; checkpoint {result.best_checkpoint}")
    return 0


# --- end train ---


# --- issue 3: eval, dataset-scale extract ---
def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="WER of a checkpoint on a dataset split, or of a hypothesis file against a reference",
        description="Prints WER=xx.xx%% with substitution, deletion and insertion counts.",
    )
    p.add_argument("checkpoint", nargs="?", help="model checkpoint (not with --ref/--hyp)")
    p.add_argument("dataset", nargs="?", help="YAML recipe (its split), manifest, or corpus folder")
    p.add_argument("--split", default="test", help="train, dev or test (default test)")
    p.add_argument("--format", default="auto", help="dataset layout (default: detected)")
    p.add_argument("--cache-dir", default=None, help="keypoint cache of `cslr extract`")
    p.add_argument("--ref", help="reference transcripts: plain (one sentence a line) or STM")
    p.add_argument("--hyp", help="hypotheses: plain (line-aligned), STM or CTM")
    p.add_argument("--hyp-out", default=None, help="write the model's hypotheses, one sentence a line")
    p.add_argument("--plots", default=None, metavar="DIR", help="write alignment.png (first sentence) and "
                   "learning_curve.png (from metrics.jsonl beside the checkpoint, or --metrics)")
    p.add_argument("--metrics", default=None, help="a run's metrics.jsonl for the learning curve")
    p.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cslr.train import evaluation

    if args.ref or args.hyp:
        if not (args.ref and args.hyp) or args.checkpoint:
            raise CLIError("give both --ref and --hyp (and no checkpoint), or CHECKPOINT DATASET")
        print(evaluation.score_files(args.ref, args.hyp).summary())
        return 0
    if not (args.checkpoint and args.dataset):
        raise CLIError("give CHECKPOINT DATASET, or --ref REF --hyp HYP")
    from cslr.model.checkpoint import load_checkpoint

    # the checkpoint's own model decides what is read (keypoints, frames of its size), not a recipe's
    model_cfg = load_checkpoint(args.checkpoint)[1].model
    sentences = evaluation.dataset_sentences(args.dataset, args.split, args.format, args.cache_dir, model_cfg)
    score = evaluation.evaluate_checkpoint(args.checkpoint, sentences)
    print(score.scored.summary())
    if args.hyp_out:
        Path(args.hyp_out).write_text("".join(" ".join(h) + "\n" for h in score.hypotheses))
    if args.plots:
        _eval_plots(args, score)
    return 0


def _eval_plots(args: argparse.Namespace, score: object) -> None:
    from pathlib import Path

    from cslr.model.checkpoint import load_checkpoint
    from cslr.pose.keypoints import DEFAULT_FPS
    from cslr.train import evaluation

    assert isinstance(score, evaluation.ModelScore)
    _, cfg, vocab, _ = load_checkpoint(args.checkpoint)
    out = Path(args.plots)
    if score.first_log_probs is not None:
        path = evaluation.plot_alignment(
            score.first_log_probs, vocab.tokens, out / "alignment.png", score.references[0],
            score.hypotheses[0], DEFAULT_FPS / cfg.model.stride,
        )  # fmt: skip
        print(f"wrote {path}")
    metrics = Path(args.metrics) if args.metrics else Path(args.checkpoint).parent / "metrics.jsonl"
    if metrics.is_file():
        print(f"wrote {evaluation.plot_learning_curve(metrics, out / 'learning_curve.png')}")
    elif args.metrics:
        raise CLIError(f"metrics log not found: {metrics}")


# --- end issue 3 ---


PARSER_BUILDERS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_serve,
    _add_recognize,
    _add_extract,
    _add_export,  # issue 7 (export)
    _add_warmup,  # issue 7 (export)
    _add_lm,  # issue 5 (decode + language)
    _add_eval_language,  # issue 5
    _add_speak,  # issue 5
    _add_keys,  # issue 7 (service)
    _add_train,  # model + training
    _add_eval,  # issue 3
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every subcommand)."""
    parser = argparse.ArgumentParser(prog="cslr", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in PARSER_BUILDERS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cslr`` and ``python -m cslr``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from cslr import __version__

        print(__version__)
        return 0
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return handler(args)
    except (CLIError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
