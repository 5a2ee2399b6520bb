#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, after cuda/bundle.sh
# made .gpu/ here: every CUDA test (their CPU halves too), then the GPU bench
# and its PyTorch twin. Logs go to ${OUT:-/tmp}.
set -uo pipefail
LOG="${OUT:-/tmp}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in .gpu/*; do
    [ "$(basename "$t")" = gpu ] && continue
    timeout 300 "$t" >"$LOG/test_$(basename "$t").log" 2>&1
    echo "tests $(basename "$t"): rc=$? $(grep -E '^test result' "$LOG/test_$(basename "$t").log" | tail -1)"
    grep -E "panicked|FAILED" "$LOG/test_$(basename "$t").log" | head -5
done
timeout 200 .gpu/gpu --bench 2>&1 | tee "$LOG/bench_gpu.log"
PYTHONUNBUFFERED=1 timeout 250 python3 benches/torch_gpu.py 2>&1 | tee "$LOG/bench_torch_gpu.log"
