#!/usr/bin/env bash
# CI's check of the CUDA path on a machine without a GPU: the committed PTX
# is what the pinned nvcc makes from cuda/*.cu, ptxas accepts it for sm_80
# and sm_90, and `--features cuda` type-checks every target against the
# stub driver library.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=/dev/null
source "$ROOT/cuda/toolchain.sh"
FRESH="$(mktemp -d)"
trap 'rm -rf "$FRESH"' EXIT
bash "$ROOT/cuda/build_ptx.sh" "$FRESH"
if ! diff -r "$ROOT/cuda/ptx" "$FRESH" >/dev/null; then
    echo "cuda/ptx is stale: run 'source cuda/toolchain.sh && bash cuda/build_ptx.sh' and commit" >&2
    diff -r "$ROOT/cuda/ptx" "$FRESH" | head -20 >&2
    exit 1
fi
for ptx in "$ROOT"/cuda/ptx/*.ptx; do
    for sm in sm_80 sm_90; do "$PTXAS" -arch=$sm "$ptx" -o /dev/null; done
done
echo "PTX: $(ls "$ROOT"/cuda/ptx | wc -l) modules current, ptxas OK for sm_80 and sm_90"
(cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/cuda" cargo clippy -q --features cuda --all-targets -- -D warnings)
echo "cargo clippy --features cuda --all-targets (type-checks every target against the stub libcuda): OK"
