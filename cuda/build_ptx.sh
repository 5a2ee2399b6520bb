#!/usr/bin/env bash
# Compiles every cuda/*.cu to PTX with the pinned nvcc into cuda/ptx/ (or
# the folder given), where the library embeds it. The PTX is committed; CI
# regenerates it and compares. Target: compute_80 PTX, JIT-compiled by the
# driver for the GPU at hand (sm_80 and newer).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/ptx}"
: "${NVCC:?source cuda/toolchain.sh first}"
"$NVCC" --version | grep -q "V13.0.88" || { echo "nvcc 13.0.88 required (source cuda/toolchain.sh)" >&2; exit 1; }
mkdir -p "$OUT"
for cu in "$HERE"/*.cu; do
    name="$(basename "$cu" .cu)"
    "$NVCC" --ptx -arch=compute_80 -O3 -std=c++17 -o "$OUT/$name.ptx" "$cu"
done
