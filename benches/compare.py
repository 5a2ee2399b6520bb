#!/usr/bin/env python3
"""Side-by-side benchmarks: wasserflow vs PyTorch, same machine, same run.

Runs a suite's Rust benches (JSON mode) and its PyTorch twin with the same
thread count, back to back, and prints a Markdown table with the ratio for
every workload:

* ``engine``: ``cargo bench --bench gemm`` and ``--bench mlp`` vs
  ``benches/torch_engine.py``;
* ``cnf``: ``cargo bench --bench cnf`` vs ``benches/torch_cnf.py``;
* ``jko``: ``cargo bench --bench jko_block`` vs ``benches/torch_jko.py``
  (one JKO-iFlow block training iteration);
* ``fm``: ``cargo bench --bench fm`` vs ``benches/torch_fm.py`` (one
  flow-matching training iteration);
* ``gpu``: ``cargo bench --features cuda --bench gpu`` vs
  ``benches/torch_gpu.py`` (only where ``nvidia-smi`` finds a GPU).

``--suite all --write BENCHMARKS.md`` is the harness: it installs the
PyTorch side from PyPI into a local venv (``benches/setup_torch.sh``) unless
``--torch-python`` is given, runs every suite at 1 and 2 threads (the GPU
suite once), and rewrites the block between ``<!-- harness:begin -->`` and
``<!-- harness:end -->`` in the file with the tables, the machine, the
versions and the commit.

    python3 benches/compare.py --suite all --write BENCHMARKS.md     # everything, on this machine
    python3 benches/compare.py --torch-python "$PY" --threads 2 --suite engine
    python3 benches/compare.py --torch-python "$PY" --threads 2 --suite engine --rounds 5   # noisy host

On a shared host whose speed drifts within seconds, ``--rounds N`` alternates
the two sides N times and reports medians over the rounds, with the range of
the rounds' own ratios, so that one slow spell cannot decide a ratio.

Only the standard library is needed to run this script itself.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

SUITES = {
    "engine": (["gemm", "mlp"], "benches/torch_engine.py"),
    "cnf": (["cnf"], "benches/torch_cnf.py"),
    "jko": (["jko_block"], "benches/torch_jko.py"),
    "fm": (["fm"], "benches/torch_fm.py"),
    "gpu": (["gpu"], "benches/torch_gpu.py"),
}
BEGIN, END = "<!-- harness:begin -->", "<!-- harness:end -->"


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in (raw.strip() for raw in text.splitlines()) if line.startswith("{")]


def run(cmd: list[str], env: dict | None = None) -> str:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout


def has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None and subprocess.run(
        ["nvidia-smi", "-L"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2


def one_round(suite: str, threads: int, torch_python: str) -> tuple[dict[str, dict], dict[str, dict]]:
    """Our and PyTorch's results by workload, from one run of each side."""
    benches, torch_script = SUITES[suite]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    features = ["--features", "cuda"] if suite == "gpu" else []
    ours: dict[str, dict] = {}
    for b in benches:
        for r in json_lines(run(["cargo", "bench", "--quiet", *features, "--bench", b, "--", "--json"], env)):
            ours[r["workload"]] = r
    torch_args = [] if suite == "gpu" else ["--threads", str(threads)]
    theirs = {r["workload"]: r for r in json_lines(run([torch_python, torch_script, "--json", *torch_args], env))}
    return ours, theirs


def merge(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    """One result per workload: the median over rounds of each round's median
    time (GFLOP/s rescaled to it), with the per-round medians kept."""
    out: dict[str, dict] = {}
    for name, r in rounds[0].items():
        times = [rd[name]["median_ms"] for rd in rounds if name in rd]
        m = median(times)
        out[name] = dict(r, median_ms=m, rounds_ms=times)
        if "gflops" in r:
            out[name]["gflops"] = r["gflops"] * r["median_ms"] / m
    return out


def compare(suite: str, threads: int, torch_python: str, rounds: int = 1) -> tuple[str, list[str]]:
    """The suite's table as Markdown lines, and the torch version.

    With several rounds the two sides alternate (ours, PyTorch, ours, ...),
    so that a slow spell of a shared host hits both; each time is the median
    over rounds of a round's median, and the last column gives the range of
    the rounds' own speed-ups."""
    results = [one_round(suite, threads, torch_python) for _ in range(rounds)]
    ours, theirs = merge([o for o, _ in results]), merge([t for _, t in results])
    version = next(iter(theirs.values()), {}).get("torch", "?")
    spread = rounds > 1
    lines = ["| workload | wasserflow ms | GFLOP/s | PyTorch ms | GFLOP/s | speed-up |" + (" rounds' speed-ups |" if spread else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---|" if spread else "")]
    for name, r in ours.items():
        t = theirs.get(name)
        if t is None:
            lines.append(f"| {name} | {r['median_ms']:.4f} | {r['gflops']:.1f} | – | – | – |" + (" |" if spread else ""))
            continue
        tg = f"{t['gflops']:.1f}" if "gflops" in t else "–"
        row = (f"| {name} | {r['median_ms']:.4f} | {r['gflops']:.1f} | {t['median_ms']:.4f} | "
               f"{tg} | {t['median_ms'] / r['median_ms']:.2f}× |")
        if spread:
            ratios = [b / a for a, b in zip(r["rounds_ms"], t["rounds_ms"])]
            row += f" {min(ratios):.2f}–{max(ratios):.2f}× |"
        lines.append(row)
    for name, t in theirs.items():
        if name not in ours:  # PyTorch-only rows (torch.compile variants)
            lines.append(f"| {name} | – | – | {t['median_ms']:.4f} | {t.get('gflops', '–')} | – |" + (" |" if spread else ""))
    return version, lines


def machine() -> list[str]:
    def first(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    if os.path.exists("/proc/cpuinfo"):
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    out = [f"- CPU: {cpu}, {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
           f"- {first(['rustc', '--version'])}; commit {first(['git', 'rev-parse', '--short', 'HEAD'])}",
           f"- run {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"]
    if has_gpu():
        out.insert(1, f"- GPU: {first(['nvidia-smi', '--query-gpu=name,driver_version', '--format=csv,noheader'])}")
    return out


def write_block(path: str, block: list[str]) -> None:
    text = open(path).read() if os.path.exists(path) else ""
    new = "\n".join([BEGIN, *block, END])
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + new + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n## All workloads (generated by `benches/compare.py --suite all`)\n\n" + new + "\n"
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"))
    p.add_argument("--threads", type=int, default=None, help="one thread count (default: 2, or 1 and 2 with --suite all)")
    p.add_argument("--suite", choices=sorted(SUITES) + ["all"], default="engine")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate the two sides this many times and report medians over rounds (noisy hosts)")
    p.add_argument("--write", metavar="FILE", help="rewrite the harness block of FILE (e.g. BENCHMARKS.md)")
    args = p.parse_args()
    torch_python = args.torch_python
    if torch_python is None:
        torch_python = run(["bash", "benches/setup_torch.sh"]).strip().splitlines()[-1]
    suites = [s for s in SUITES if s != "gpu" or has_gpu()] if args.suite == "all" else [args.suite]
    counts = [args.threads] if args.threads else ([1, 2] if args.suite == "all" else [2])
    block = [*machine(), ""]
    for suite in suites:
        for threads in ([1] if suite == "gpu" else counts):
            version, lines = compare(suite, threads, torch_python, args.rounds)
            title = f"### {suite}" + ("" if suite == "gpu" else f", {threads} thread(s)") + f" (torch {version})"
            print(title + "\n\n" + "\n".join(lines) + "\n", flush=True)
            block += [title, "", *lines, ""]
    if args.write:
        write_block(args.write, block)
        print(f"rewrote the harness block of {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
