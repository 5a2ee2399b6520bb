#!/usr/bin/env python3
"""PyTorch twin of ``benches/gpu.rs`` on the same GPU, for side-by-side timing.

Workloads (names as in the Rust bench):

* ``gemm_f32_nN`` / ``gemm_tf32_nN``: an N×N×N float32 product through cuBLAS
  (``torch.matmul``) with TF32 off / on, N = 1024, 4096, 8192;
* ``gpu_cnf_exact_bB``: one CNF training iteration of ``torch_cnf.py``'s
  exact/direct variant (MLP 3→64→64→64→2 tanh, torchdiffeq ``rk4`` with
  step 0.1, exact trace by autograd, Adam), batch B = 1024 and 65536, eager;
* ``gpu_fm_linear_b1024``: one flow-matching iteration of ``torch_fm.py``
  (linear interpolant, uniform times), eager and under ``torch.compile``.

The batches are drawn on the host with NumPy and copied over, as the Rust
bench draws them on the host. Every timed call ends with
``torch.cuda.synchronize()``; the median of the timed calls is reported.

Usage: ``python3 benches/torch_gpu.py [--json] [--filter gemm]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import torch_cnf  # noqa: E402
import torch_fm  # noqa: E402
from torch_common import sample_8gaussians  # noqa: E402

DEV = torch.device("cuda")


def timed(fn, warmup: int = 3, min_samples: int = 10, budget_s: float = 1.0) -> tuple[float, int]:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_samples or (time.perf_counter() - start < budget_s and len(samples) < 200):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(samples), len(samples)


def gemm(n: int, tf32: bool):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    pairs = [(torch.randn(n, n, device=DEV), torch.randn(n, n, device=DEV)) for _ in range(2)]
    i = [0]

    def fn():
        a, b = pairs[i[0] % 2]
        i[0] += 1
        torch.matmul(a, b)

    ms, iters = timed(fn)
    torch.backends.cuda.matmul.allow_tf32 = False
    return ms, iters, 2 * n**3


def cnf(batch: int):
    torch.manual_seed(0)
    rng = np.random.RandomState(0)
    func = torch_cnf.CnfFunc(torch_cnf.TimeMlp()).to(DEV)
    opt = torch.optim.Adam(func.parameters(), lr=1e-3)

    def fn():
        x = sample_8gaussians(batch, rng).to(DEV)
        opt.zero_grad(set_to_none=True)
        loss = -torch_cnf.log_prob(func, x, 0.1, adjoint=False).mean()
        loss.backward()
        opt.step()
        loss.item()

    widths = (2, 64, 64, 64, 2)
    fwd = sum(2 * batch * a * b for a, b in zip(widths[:-1], widths[1:]))
    ms, iters = timed(fn)
    return ms, iters, 40 * 3 * fwd * 3


def fm(batch: int, compiled: bool):
    torch.manual_seed(0)
    rng = np.random.RandomState(0)
    field = torch_fm.TimeMlp().to(DEV)
    opt = torch.optim.Adam(field.parameters(), lr=1e-3)

    def loss_fn(x0, x1, t):
        xt = (1 - t) * x0 + t * x1
        return (field(t, xt) - (x1 - x0)).square().sum(1).mean()

    loss_c = torch.compile(loss_fn) if compiled else loss_fn

    def fn():
        x0 = sample_8gaussians(batch, rng).to(DEV)
        x1 = torch.randn_like(x0)
        t = torch.rand(batch, 1, device=DEV)
        opt.zero_grad(set_to_none=True)
        loss = loss_c(x0, x1, t)
        loss.backward()
        opt.step()
        loss.item()

    widths = (3, 64, 64, 64, 2)
    fwd = sum(2 * batch * a * b for a, b in zip(widths[:-1], widths[1:]))
    ms, iters = timed(fn, warmup=10, min_samples=20)
    return ms, iters, 3 * fwd - 2 * batch * 3 * 64


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    jobs = []
    for n in (1024, 4096, 8192):
        jobs.append((f"gemm_f32_n{n}", lambda n=n: gemm(n, False)))
        jobs.append((f"gemm_tf32_n{n}", lambda n=n: gemm(n, True)))
    for b in (1024, 65536):
        jobs.append((f"gpu_cnf_exact_b{b}", lambda b=b: cnf(b)))
    jobs.append(("gpu_fm_linear_b1024", lambda: fm(1024, False)))
    jobs.append(("gpu_fm_linear_b1024_compiled", lambda: fm(1024, True)))
    if not args.json:
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
        print(f"{'workload':<40} {'iters':>7} {'median ms':>11} {'GFLOP/s':>9}")
    for name, job in jobs:
        if args.filter not in name:
            continue
        try:
            ms, iters, flops = job()
        except Exception as e:  # torch.compile may be unavailable; say so and go on
            print(f"{name}: failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}", file=sys.stderr)
            continue
        gf = flops / (ms * 1e6)
        if args.json:
            print(json.dumps({"workload": name, "median_ms": round(ms, 4), "gflops": round(gf, 2),
                              "impl": "torch", "torch": torch.__version__}), flush=True)
        else:
            print(f"{name:<40} {iters:>7} {ms:>11.4f} {gf:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
