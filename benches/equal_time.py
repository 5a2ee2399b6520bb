#!/usr/bin/env python3
"""Trainers compared at equal wall time: CNF, FM, Local FM and JKO-iFlow on
the same data with the same velocity field, each given the same training
budget in seconds, then evaluated alike (test NLL, MMD², W2).

No trainer takes a time budget, so each configuration is first timed in two
short pilot runs (``a`` and ``2a`` iterations per block); the fit
``seconds = fixed + per_iteration · iterations`` then gives the iteration
count that spends the budget. The fixed part matters for the progressive
methods, which push the whole training set through each finished block.
The table reports the training time each run actually took.

    cargo build --release
    chrt -f 50 python3 benches/equal_time.py --budget 60 --threads 2 \\
        --out runs/equal-time --table runs/equal-time/table.md

(``chrt -f 50``, as root, keeps other work on the machine off the cores.)
Run it from the repository root: rose and tree are read from
``../shared/datasets``.
"""

import argparse
import json
import os
import subprocess
import sys
import time

BIN = os.path.join("target", "release", "wasserflow")

# One field per dataset, shared by every method: the paper's rose/tree
# network (MLP 128×3, softplus β = 20), the 64×3 tanh network on the
# toys, 128×3 tanh on the 64-dimensional digits.
FIELDS = {
    "rose": ["--hidden", "128,128,128", "--act", "softplus", "--softplus-beta", "20"],
    "tree": ["--hidden", "128,128,128", "--act", "softplus", "--softplus-beta", "20"],
    "checkerboard": ["--hidden", "64,64,64", "--act", "tanh"],
    "8gaussians": ["--hidden", "64,64,64", "--act", "tanh"],
    "2spirals": ["--hidden", "64,64,64", "--act", "tanh"],
    "digits": ["--hidden", "128,128,128", "--act", "tanh", "--standardize", "true"],
}

# Per-method settings (iterations are set by the budget).
METHODS = {
    "cnf": ["--method", "cnf", "--solver", "rk4_38", "--step-size", "0.1", "--lr", "1e-3"],
    "fm": ["--method", "fm", "--interpolant", "linear", "--lr", "1e-3"],
    # The best Local FM schedule on 8gaussians (RESULTS.md): 2 OU blocks of
    # h 0.5 and 0.75, then a free block.
    "lfm": ["--method", "lfm", "--blocks", "3", "--h0", "0.5", "--rho", "1.5", "--final-free-block", "true", "--lr", "1e-3"],
    # 6 blocks of h 0.25·1.4^k (total time 3.0), 3 RK4 steps each, warm-started.
    "jko": [
        "--method", "jko", "--blocks", "6", "--h0", "0.25", "--rho", "1.4", "--steps-per-block", "3",
        "--warm-start", "true", "--lr", "1e-3",
    ],
    # The same trained on the log-determinant of its discrete map, and
    # evaluated as that map (the training grid, where its density is exact).
    "jko-jacobian": [
        "--method", "jko", "--blocks", "6", "--h0", "0.25", "--rho", "1.4", "--steps-per-block", "3",
        "--warm-start", "true", "--lr", "1e-3", "--divergence", "jacobian", "--eval-step", "0",
    ],
}


def planned_blocks(method):
    """Blocks a method's settings ask for (the speed guard may keep fewer)."""
    args = METHODS[method]
    return int(args[args.index("--blocks") + 1]) if "--blocks" in args else 1


def common(data, method, threads, seed):
    high_dim = data == "digits"
    own = METHODS[method]
    args = ["--data", data, "--seed", str(seed), "--threads", str(threads), "--batch", "1024", "--no-figures"]
    args += ["--n-test", "360"] if high_dim else ["--n-test", "10000"]
    if not high_dim and "--eval-step" not in own:
        args += ["--eval-step", "0.05"]
    # Exact divergence in 2-D; one Rademacher probe in 64-D (training only:
    # the evaluation is exact in 2-D, Hutchinson in 64-D), unless the method
    # names its own.
    if "--divergence" not in own:
        args += ["--divergence", "hutchinson" if high_dim else "exact"]
    return args + FIELDS[data]


def run(data, method, iterations, out, threads, seed):
    cmd = [BIN, "train", *common(data, method, threads, seed), *METHODS[method], "--iterations", str(iterations), "--out", out]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    evals = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"kind":"eval"' in l]
    rec = evals[-1]
    rec["wall_s"] = time.time() - start
    rec["command"] = " ".join(cmd)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=60.0, help="training seconds per run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=",".join(FIELDS), help="comma-separated datasets")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    ap.add_argument("--pilot", type=int, default=20, help="iterations per block of the shorter pilot")
    ap.add_argument("--out", default="runs/equal-time")
    ap.add_argument("--table", help="also write the Markdown table here")
    args = ap.parse_args()

    rows = []
    for data in args.data.split(","):
        for method in args.methods.split(","):
            base = os.path.join(args.out, f"{data}-{method}")
            # Pilots at a, 2a, 4a, ... iterations per block until doubling adds
            # at least 1/20 of the budget, so that neither timer noise nor the
            # fixed part (pushing the training set through each block) can
            # swamp the fit.
            a = args.pilot
            t1 = run(data, method, a, base + "-pilot", args.threads, args.seed)["train_s"]
            while True:
                t2 = run(data, method, 2 * a, base + "-pilot", args.threads, args.seed)["train_s"]
                if t2 - t1 >= args.budget / 20 or a >= 1 << 20:
                    break
                a, t1 = 2 * a, t2
            per_it = max(t2 - t1, 1e-9) / a
            fixed = max(t1 - per_it * a, 0.0)
            iterations = max(int((args.budget - fixed) / per_it), a)
            rec = run(data, method, iterations, base, args.threads, args.seed)
            rec.update(method=method, iterations=iterations, per_it_ms=per_it * 1e3, fixed_s=fixed)
            rows.append(rec)
            print(
                f"{data:13s} {method:4s} {iterations:6d} it/block  train {rec['train_s']:6.1f} s  "
                f"NLL {rec['nll_nats']:.4f}  MMD² {rec['mmd2']['value']:.5f}  W2 {rec['w2']['value']:.4f}",
                flush=True,
            )
            with open(os.path.join(args.out, "results.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")

    lines = [
        f"Budget {args.budget:g} s of training per run, {args.threads} threads, seed {args.seed}.",
        "",
        "| data | method | iterations × blocks | ms / block iteration | train s | test NLL (nats) | MMD² | W2 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['method']} | {r['iterations']} × {r['blocks']} | {r['per_it_ms'] / planned_blocks(r['method']):.2f} | "
            f"{r['train_s']:.1f} | {r['nll_nats']:.4f} | {r['mmd2']['value']:.5f} | {r['w2']['value']:.4f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
