#!/usr/bin/env bash
# The GPU benchmark suite on a CUDA box; results (with machine info) go to benchmarks/results/.
# Usage: scripts/bench_gpu.sh [full|quick] [extra archetype bench options...]
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:-full}"; shift || true
archetype bench --suite "$suite" --device cuda --json "benchmarks/results/gpu-$(hostname -s)-${suite}.json" "$@"
