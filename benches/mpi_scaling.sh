#!/usr/bin/env bash
# Training-time scaling of the MPI data parallelism (issue 12) on this machine:
# 1 process × 1 thread, 1 process × 2 threads, 2 ranks × 1 thread, for the CNF,
# FM, JKO-iFlow and Local FM trainers at their reference network (MLP 64,64,64,
# batch 1024; one block of 32,768 particles for JKO and LFM). Prints a Markdown
# table: milliseconds per training iteration with, in parentheses, the end of
# the block (pushing the particles and diagnostics, JKO and LFM), and for the
# 2-rank runs rank 0's communication time per iteration (waiting for the other
# rank included).
#
#   cargo build --release --features mpi && bash benches/mpi_scaling.sh [iterations]
#
# Each cell is the fastest of REPS runs (default 3): the machine may be shared.
#
# Needs mpirun (Debian: openmpi-bin). Runs as root need the OMPI_ALLOW_RUN_AS_ROOT
# variables, set below.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${WASSERFLOW:-target/release/wasserflow}
ITER=${1:-40}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# Steady-state ms per iteration (between the first and the last iteration's
# records), the end of the block (pushing the particles, diagnostics; JKO and
# LFM), and rank 0's communication per iteration (waiting included).
measure() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
run, iters = sys.argv[1], int(sys.argv[2])
recs = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if l.strip()]
its = [r for r in recs if r.get("kind") == "iteration"]
per_it = (its[-1]["elapsed_s"] - its[0]["elapsed_s"]) / (its[-1]["iteration"] - its[0]["iteration"])
block = [r for r in recs if r.get("kind") == "block"][0]
if "push_s" in block:
    push = f" ({block['push_s']:.2f} s)"
elif "wall_s" in block:
    push = f" ({block['wall_s'] - its[-1]['elapsed_s']:.2f} s)"
else:
    push = ""
dp = [r for r in recs if r.get("kind") == "data_parallel"]
comm = f"{1e3 * dp[0]['communication_s'] / iters:.2f} ms" if dp else "–"
print(f"{1e3 * per_it:.1f} ms{push} | {comm}")
EOF
}

REPS=${REPS:-3}
# mpirun options. Unbound by default: Open MPI pins each of 2 ranks to a core,
# and on a machine shared with other busy processes a pinned rank stalls its
# peer at every collective (measured: 10 CNF iterations in 12.1 s bound, 2.8 s
# unbound, while two other programs kept the cores busy).
read -r -a MPIRUN_FLAGS <<<"${MPIRUN_FLAGS:---bind-to none}"

# The fastest of $REPS runs of one configuration ("1x1", "1x2" or "2x1").
best() {
    local method=$1 config=$2 args=("${@:3}") out lines=""
    for rep in $(seq "$REPS"); do
        out="$TMP/$method-$config-$rep"
        case $config in
            1x1) "$BIN" --threads 1 "${args[@]}" --out "$out" >/dev/null ;;
            1x2) "$BIN" --threads 2 "${args[@]}" --out "$out" >/dev/null ;;
            2x1) mpirun -n 2 --oversubscribe "${MPIRUN_FLAGS[@]}" "$BIN" --threads 1 "${args[@]}" --out "$out" >/dev/null ;;
        esac
        lines+="$(measure "$out" "$ITER")"$'\n'
    done
    printf '%s' "$lines" | sort -n | head -1
}

echo "| method | 1 × 1 thread | 1 × 2 threads | 2 ranks × 1 thread | rank 0 communication per iteration |"
echo "|---|---:|---:|---:|---:|"
for method in ${METHODS:-cnf fm jko lfm}; do
    args=(train --method "$method" --data 8gaussians --hidden 64,64,64 --batch 1024 --iterations "$ITER"
        --blocks 1 --n-train 32768 --n-test 500 --eval-n 500 --no-figures)
    one=$(best "$method" 1x1 "${args[@]}" | cut -d'|' -f1)
    two=$(best "$method" 1x2 "${args[@]}" | cut -d'|' -f1)
    ranks=$(best "$method" 2x1 "${args[@]}")
    echo "| $method | $one | $two | $ranks |"
done
