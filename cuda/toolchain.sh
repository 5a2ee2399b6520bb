#!/usr/bin/env bash
# The pinned CUDA toolchain for machines without a GPU or a CUDA install:
# nvcc/ptxas 13.0 from PyPI (the lent GPUs' driver is CUDA 13.0, and PTX
# newer than the driver does not load), and a stub libcuda.so.1 generated
# from cust's driver bindings so that `--features cuda` builds link here.
# At run time the real driver library is loaded instead of the stub.
#
#   source cuda/toolchain.sh        # installs once into $WASSERFLOW_CUDA_TOOLS, exports
#                                   # NVCC, PTXAS and CUDA_LIBRARY_PATH
# No `set -e` here: this file is sourced into the caller's shell.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${WASSERFLOW_CUDA_TOOLS:-$ROOT/target/cuda-tools}"
WHEELS="nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85"

if [ ! -x "$TOOLS/nvidia/cu13/bin/nvcc" ]; then
    mkdir -p "$TOOLS/wheels"
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
        --platform manylinux_2_12_x86_64 --platform manylinux2014_x86_64 -d "$TOOLS/wheels" $WHEELS
    for w in "$TOOLS"/wheels/*.whl; do python3 -m zipfile -e "$w" "$TOOLS"; done
    chmod +x "$TOOLS"/nvidia/cu13/bin/* "$TOOLS"/nvidia/cu13/nvvm/bin/*
fi

STUB="$TOOLS/stub"
if [ ! -e "$STUB/lib64/libcuda.so" ]; then
    mkdir -p "$STUB/lib64"
    (cd "$ROOT" && cargo fetch -q)
    BINDINGS="$(cd "$ROOT" && cargo metadata -q --format-version 1 --features cuda |
        python3 -c 'import json,sys,os; m=json.load(sys.stdin); p=[x for x in m["packages"] if x["name"]=="cust_raw"][0]; print(os.path.join(os.path.dirname(p["manifest_path"]), "src", "cuda.rs"))')"
    # Every driver entry point cust can call, as a function that fails.
    grep -oE 'pub fn cu[A-Za-z0-9_]+' "$BINDINGS" | sed 's/pub fn //' | sort -u |
        awk '{ print "int " $1 "(void) { return 3; /* CUDA_ERROR_NOT_INITIALIZED */ }" }' >"$STUB/libcuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$STUB/lib64/libcuda.so.1" "$STUB/libcuda_stub.c"
    ln -sf libcuda.so.1 "$STUB/lib64/libcuda.so"
fi

export NVCC="$TOOLS/nvidia/cu13/bin/nvcc"
export PTXAS="$TOOLS/nvidia/cu13/bin/ptxas"
export CUDA_LIBRARY_PATH="$STUB"
