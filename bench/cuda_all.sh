#!/usr/bin/env bash
# Every CUDA measurement and test of the project, in one go, on a machine with an NVIDIA GPU:
#   bash bench/cuda_all.sh            (PYTHON=... to pick the interpreter; default .venv/bin/python)
# Prints the GPU, the two-stream per-frame latencies (CPU and CUDA), serving latency fp32 vs AMP,
# training throughput fp32 / fp16 + GradScaler / bf16, and runs tests/train/test_cuda.py.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
status=0
step() { echo; echo "=== $*"; "$@" || status=1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
step "$PYTHON" bench/two_stream.py --repeats 20
step "$PYTHON" bench/cuda_amp.py
step "$PYTHON" bench/cuda_amp_train.py
step "$PYTHON" -m pytest tests/train/test_cuda.py -q -p no:cacheprovider
exit $status
