#!/usr/bin/env python3
"""Side-by-side benchmarks: wasserflow vs PyTorch, same machine, same run.

Runs a suite's Rust benches (JSON mode) and its PyTorch twin with the same
thread count, back to back, and prints a Markdown table with the ratio for
every workload:

* ``engine``: ``cargo bench --bench gemm`` and ``--bench mlp`` vs
  ``benches/torch_engine.py``;
* ``cnf``: ``cargo bench --bench cnf`` vs ``benches/torch_cnf.py``;
* ``jko``: ``cargo bench --bench jko_block`` vs ``benches/torch_jko.py``
  (one JKO-iFlow block training iteration).
* ``fm``: ``cargo bench --bench fm`` vs ``benches/torch_fm.py`` (one
  flow-matching training iteration).

    PY=$(bash benches/setup_torch.sh | tail -n1)      # once: PyTorch venv
    python3 benches/compare.py --torch-python "$PY" --threads 2 --suite engine

Only the standard library is needed to run this script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


SUITES = {
    "engine": (["gemm", "mlp"], "benches/torch_engine.py"),
    "cnf": (["cnf"], "benches/torch_cnf.py"),
    "jko": (["jko_block"], "benches/torch_jko.py"),
    "fm": (["fm"], "benches/torch_fm.py"),
}


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def run(cmd: list[str], env: dict) -> str:
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", "target/torchenv/bin/python"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--suite", choices=sorted(SUITES), default="engine")
    args = p.parse_args()
    benches, torch_script = SUITES[args.suite]

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    ours: dict[str, dict] = {}
    for b in benches:
        for r in json_lines(run(["cargo", "bench", "--quiet", "--bench", b, "--", "--json"], env)):
            ours[r["workload"]] = r
    theirs = {r["workload"]: r for r in json_lines(
        run([args.torch_python, torch_script, "--json", "--threads", str(args.threads)], env))}

    torch_version = next(iter(theirs.values()), {}).get("torch", "?")
    print(f"threads: {args.threads}, torch {torch_version}\n")
    print("| workload | wasserflow ms | GFLOP/s | PyTorch ms | GFLOP/s | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in ours.items():
        t = theirs.get(name)
        if t is None:
            print(f"| {name} | {r['median_ms']:.4f} | {r['gflops']:.1f} | – | – | – |")
            continue
        tg = f"{t['gflops']:.1f}" if "gflops" in t else "–"
        print(f"| {name} | {r['median_ms']:.4f} | {r['gflops']:.1f} | {t['median_ms']:.4f} | "
              f"{tg} | {t['median_ms'] / r['median_ms']:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
