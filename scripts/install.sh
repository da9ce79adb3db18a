#!/usr/bin/env bash
# Installs cslr into $VENV (default .venv): the Debian packages it needs when they are missing,
# then the Python package with its test extras. Called by `make install|run|test`.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# Chromium only drives the live page's browser test; skip it with CSLR_NO_BROWSER=1.
[ -n "${CSLR_NO_BROWSER:-}" ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: ${missing[*]} not found and no apt-get; speech output (espeak-ng) or the browser test" \
      "(chromium) will be unavailable" >&2
  fi
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# pip's notes about local index folders that do not hold a package are noise; real errors still show.
quiet() { grep -v -e "is neither a file nor a directory" -e "^WARNING: Location" || true; }
"$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | quiet
"$VENV/bin/python" -m pip install -q -e ".[dev]" 2>&1 | quiet

# The live page runs MediaPipe in the browser from our own server (no CDN): @mediapipe/holistic from npm.
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix src/cslr/serve/static --no-audit --no-fund --loglevel=error >/dev/null
else
  echo "warning: npm not found; the live page will use server-side pose only" >&2
fi
