#!/usr/bin/env bash
# Builds everything the GPU checks need on a machine without a GPU and puts
# stripped copies in .gpu/ (git-ignored; carry it to the GPU machine, which
# has no Rust toolchain): the CUDA test binaries and the GPU bench.
# On the GPU machine, `bash cuda/on_gpu.sh` runs them all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=/dev/null
source cuda/toolchain.sh
export CARGO_TARGET_DIR="$ROOT/target/cuda"
rm -rf .gpu && mkdir -p .gpu
json="$(cargo build --release --features cuda --tests --benches --message-format=json 2>/dev/null)"
for name in cuda gradcheck cnf fm fields divergence nn gpu; do
    exe="$(printf '%s\n' "$json" | python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name and m.get("executable"):
        print(m["executable"])' "$name" | tail -1)"
    [ -n "$exe" ] && strip -o ".gpu/$name" "$exe"
done
ls -la .gpu
