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
    p = sub.add_parser("recognize", help="recognise a video, a folder of frames, or a .pose/.npz keypoint file")
    p.add_argument("path", help="video file, frame folder, or keypoint file")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the bundled model)")
    p.add_argument("--beam-width", type=int, default=None, help="1 = greedy decoding")
    p.add_argument("--lang", choices=["asl", "isl"], default=None, help="sign language of the grammar rules")
    p.add_argument("--workers", type=int, default=None, help="processes for pose extraction")
    p.set_defaults(handler=_recognize)


def _recognize(args: argparse.Namespace) -> int:
    import json

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


PARSER_BUILDERS: list[Callable[[argparse._SubParsersAction], None]] = [_add_serve, _add_recognize]


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
