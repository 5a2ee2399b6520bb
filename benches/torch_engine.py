#!/usr/bin/env python3
"""PyTorch CPU baseline for the wasserflow engine benchmarks.

Times, in PyTorch on the CPU in float32, the same workloads that the Rust
benches (`benches/gemm.rs`, `benches/mlp.rs`) time on wasserflow's own engine,
so the two can be put side by side by workload name:

* ``sgemm_n{64,256,512,1024,2048}``: ``torch.mm(a, b)`` of two n x n matrices,
  both plain and with a preallocated ``out=``; the faster of the two is
  reported.  FLOPs = 2 n^3.
* ``mlp_3-64-64-64-2_tanh_b1024`` and ``mlp_2-128-128-128-2_softplus_b2000``:
  one training step of an ``nn.Sequential`` MLP (zero grads with
  ``set_to_none=True``, forward, ``loss = (y**2).mean()``, ``loss.backward()``
  for all parameters).  FLOPs: see :func:`mlp_flops`.

Timing: warm-up (at least ``--warmup`` = 20 iterations -- 10 for
sgemm_n1024, 3 for sgemm_n2048 -- and at least ``--warmup-time`` seconds),
then each iteration is timed on its own with ``time.perf_counter`` and the
median is reported.  A workload stops sampling once it has run for
``--min-time`` seconds (default 1 s) or ``--max-iters`` iterations (default
200), whichever comes first, but never with fewer than 20 samples (10 for
sgemm_n1024 and sgemm_n2048).  Seeded with ``torch.manual_seed(0)``.

Usage (set up a venv first with ``benches/setup_torch.sh``)::

    PY=$(bash benches/setup_torch.sh | tail -n1)
    $PY benches/torch_engine.py --threads 2           # human-readable table
    $PY benches/torch_engine.py --threads 1 --json    # JSON lines on stdout

With ``--json``, stdout carries only one JSON object per workload
(``{"workload", "median_ms", "gflops", "threads", "torch"}``) and the machine
summary and table go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

SGEMM_SIZES = (64, 256, 512, 1024, 2048)

# (name, widths, activation, batch)
MLP_CONFIGS = (
    ("mlp_3-64-64-64-2_tanh_b1024", (3, 64, 64, 64, 2), "tanh", 1024),
    ("mlp_2-128-128-128-2_softplus_b2000", (2, 128, 128, 128, 2), "softplus", 2000),
)


@dataclass
class Result:
    workload: str
    variant: str
    iters: int
    median_ms: float
    min_ms: float
    gflops: float


def mlp_flops(widths: Sequence[int], batch: int) -> int:
    """FLOPs of one training step of an MLP with the given layer widths.

    Only the Linear layers' matrix products are counted (biases, activations
    and the loss are ignored):

        fwd   = 2 * B * sum_l(in_l * out_l)
        total = fwd                               (forward)
              + fwd                               (weight grads, every layer)
              + fwd - 2 * B * in_0 * out_0        (input grads, all but layer 0:
                                                   the network input needs none)
              = 3 * fwd - 2 * B * in_0 * out_0

    The Rust side uses the same formula.
    """
    pairs = list(zip(widths[:-1], widths[1:]))
    fwd = 2 * batch * sum(i * o for i, o in pairs)
    return 3 * fwd - 2 * batch * pairs[0][0] * pairs[0][1]


def time_fn(
    fn: Callable[[], object],
    *,
    warmup: int,
    warmup_time: float,
    min_iters: int,
    max_iters: int,
    min_time: float,
) -> list[float]:
    """Per-call wall times in seconds.

    Warm-up runs at least `warmup` untimed calls and at least `warmup_time`
    seconds; then calls are timed one by one until `min_iters` samples exist
    and either `max_iters` samples or `min_time` seconds are reached.
    """
    clock = time.perf_counter
    start = clock()
    done = 0
    while done < warmup or clock() - start < warmup_time:
        fn()
        done += 1
    samples: list[float] = []
    start = clock()
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        samples.append(t1 - t0)
        n = len(samples)
        if n >= min_iters and (n >= max_iters or t1 - start >= min_time):
            return samples


def bench_sgemm(torch, n: int, args: argparse.Namespace) -> Result:
    a = torch.randn(n, n, dtype=torch.float32)
    b = torch.randn(n, n, dtype=torch.float32)
    c = torch.empty(n, n, dtype=torch.float32)
    big = n >= 1024
    timing = dict(
        warmup=3 if n >= 2048 else (10 if big else args.warmup),
        warmup_time=args.warmup_time,
        min_iters=10 if big else 20,
        max_iters=args.max_iters,
        min_time=args.min_time,
    )
    variants = {
        "mm": lambda: torch.mm(a, b),
        "mm(out=)": lambda: torch.mm(a, b, out=c),
    }
    flops = 2.0 * n**3
    best: Result | None = None
    for label, fn in variants.items():
        s = time_fn(fn, **timing)
        med = statistics.median(s)
        r = Result(f"sgemm_n{n}", label, len(s), med * 1e3, min(s) * 1e3, flops / med / 1e9)
        if best is None or r.median_ms < best.median_ms:
            best = r
    assert best is not None
    return best


def bench_mlp(torch, name: str, widths: Sequence[int], act: str, batch: int,
              args: argparse.Namespace) -> Result:
    nn = torch.nn
    make_act = {"tanh": nn.Tanh, "softplus": lambda: nn.Softplus(beta=1.0)}[act]
    layers: list = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        if i > 0:
            layers.append(make_act())
        layers.append(nn.Linear(fan_in, fan_out))
    model = nn.Sequential(*layers).to(torch.float32)
    x = torch.randn(batch, widths[0], dtype=torch.float32)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        y = model(x)
        loss = (y**2).mean()
        loss.backward()

    s = time_fn(step, warmup=args.warmup, warmup_time=args.warmup_time, min_iters=20,
                max_iters=args.max_iters, min_time=args.min_time)
    med = statistics.median(s)
    flops = mlp_flops(widths, batch)
    return Result(name, "fwd+bwd", len(s), med * 1e3, min(s) * 1e3, flops / med / 1e9)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_isa_flags() -> str:
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return " ".join(w for w in wanted if w in have) or "-"
    except OSError:
        pass
    return "unknown"


def machine_summary(torch, threads: int) -> list[str]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    lines = [
        f"cpu: {cpu_model()} (nproc {affinity}, os.cpu_count {os.cpu_count()}; "
        f"isa: {cpu_isa_flags()})",
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {_numpy_version()}",
        f"torch cpu capability: {torch.backends.cpu.get_cpu_capability()}; "
        f"mkl available: {torch.backends.mkl.is_available()}; "
        f"mkldnn (oneDNN) available: {torch.backends.mkldnn.is_available()}; "
        f"cuda available: {torch.cuda.is_available()}",
        f"threads: torch.set_num_threads({threads}), set_num_interop_threads(1) "
        f"-> get_num_threads()={torch.get_num_threads()}, "
        f"get_num_interop_threads()={torch.get_num_interop_threads()}",
        "parallel_info:",
    ]
    keep = ("at::get_num", "OpenMP", "omp_get_max_threads", "Math Kernel Library",
            "mkl_get_max_threads", "MKL-DNN", "oneDNN", "parallel backend",
            "_NUM_THREADS")
    for raw in torch.__config__.parallel_info().splitlines():
        if any(k in raw for k in keep):
            lines.append("  " + raw.strip())
    return lines


def _numpy_version() -> str:
    try:
        import numpy

        return numpy.__version__
    except ImportError:
        return "n/a"


def format_table(results: Sequence[Result], threads: int) -> list[str]:
    head = (f"{'workload':<36} {'variant':<9} {'iters':>5} {'median ms':>11} "
            f"{'min ms':>10} {'GFLOP/s':>9}")
    out = [f"== torch CPU float32, {threads} thread(s) ==", head, "-" * len(head)]
    for r in results:
        out.append(f"{r.workload:<36} {r.variant:<9} {r.iters:>5} {r.median_ms:>11.4f} "
                   f"{r.min_ms:>10.4f} {r.gflops:>9.2f}")
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="PyTorch CPU float32 baseline for the wasserflow engine benches.")
    p.add_argument("--threads", type=int, default=2,
                   help="intra-op threads, torch.set_num_threads (default: 2)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per workload on stdout; "
                        "machine summary and table go to stderr")
    p.add_argument("--filter", default="",
                   help="only run workloads whose name contains this substring")
    p.add_argument("--warmup", type=int, default=20,
                   help="warm-up iterations for small workloads (default: 20)")
    p.add_argument("--warmup-time", type=float, default=0.5,
                   help="minimum warm-up seconds per workload and variant (default: 0.5)")
    p.add_argument("--min-time", type=float, default=1.0,
                   help="stop sampling a workload after this many seconds (default: 1.0)")
    p.add_argument("--max-iters", type=int, default=200,
                   help="stop sampling a workload after this many iterations (default: 200)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    import torch

    # Interop threads can only be set before any inter-op work has started.
    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.set_grad_enabled(True)

    human = sys.stderr if args.json else sys.stdout
    for line in machine_summary(torch, args.threads):
        print(line, file=human)
    print(file=human, flush=True)

    jobs: list[tuple[str, Callable[[], Result]]] = []
    for n in SGEMM_SIZES:
        jobs.append((f"sgemm_n{n}", lambda n=n: bench_sgemm(torch, n, args)))
    for name, widths, act, batch in MLP_CONFIGS:
        jobs.append((name, lambda c=(name, widths, act, batch): bench_mlp(torch, *c, args)))

    results: list[Result] = []
    for name, job in jobs:
        if args.filter and args.filter not in name:
            continue
        r = job()
        results.append(r)
        if args.json:
            print(json.dumps({
                "workload": r.workload,
                "median_ms": round(r.median_ms, 6),
                "gflops": round(r.gflops, 3),
                "threads": args.threads,
                "torch": torch.__version__,
            }), flush=True)

    for line in format_table(results, args.threads):
        print(line, file=human)
    human.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
