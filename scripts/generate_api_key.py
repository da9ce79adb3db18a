#!/usr/bin/env python
"""Generate an API key for the cslr server and store its hash (the original spec's script).

A thin wrapper over ``cslr keys create NAME``: prints the key once; the database keeps only its hash.
Usage: ``python scripts/generate_api_key.py [NAME] [--database-url URL]`` (default name: ``default``).
"""

from __future__ import annotations

import argparse
import sys

from cslr.cli import main


def run(argv: list[str] | None = None) -> int:
    """Parse this script's arguments and hand over to ``cslr keys create``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="default", help="who or what uses the key")
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL, or SQLite in STATE_DIR")
    args = parser.parse_args(argv)
    url = ["--database-url", args.database_url] if args.database_url else []
    return main(["keys", *url, "create", args.name])


if __name__ == "__main__":
    sys.exit(run())
