#!/usr/bin/env bash
# The CUDA-marked tests (skipped on machines without a GPU); fails if torch sees no CUDA.
# Usage: scripts/run_gpu_tests.sh [extra pytest options...]
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA device')"
python -m pytest -m cuda -ra "$@"
