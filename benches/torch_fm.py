#!/usr/bin/env python3
"""PyTorch twin of one flow-matching training iteration, for side-by-side timing with ``benches/fm.rs``.

Workload (the same as the Rust bench): 8gaussians (ffjord's ``toy_data``
definition, drawn with NumPy, vectorized), an MLP 3 -> 64 -> 64 -> 64 -> 2
with tanh on ``[x, t]`` (``t`` as the last column, one time per row), batch
1024, float32, Adam with lr 1e-3. The loss is eq. (16) of the tutorial with
the linear interpolant: ``x1 ~ N(0, I)``, ``t ~ U[0, 1)``,
``I_t = (1 - t) x0 + t x1``, ``mean_i |v(I_t, t) - (x1 - x0)|^2``.

One iteration = sample a batch, draw noise and times, forward, backward,
Adam step.

Timing: ``--warmup`` iterations (default 20), then ``--iters`` (default 200)
timed one by one with ``time.perf_counter``; the median is reported.

``--train`` runs the quality reference instead: 1000 iterations, then the
test NLL of 10,000 fresh samples by the instantaneous change of variables
(exact trace) with torchdiffeq's ``rk4`` at step 0.05 (``--step``).

Usage::

    /opt/torchenv/bin/python benches/torch_fm.py --threads 2 [--json]
    /opt/torchenv/bin/python benches/torch_fm.py --train --seed 0

With ``--json``, stdout carries one JSON object per line
(``{"workload", "median_ms", "gflops", "threads", "torch"}``; for ``--train``
``{"workload": "fm_train_nll", "nll", ...}``); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
from torch_common import report_quality, sample_8gaussians

DIM = 2
WIDTHS = (DIM + 1, 64, 64, 64, DIM)
BATCH = 1024
LR = 1e-3


def gemm_flops() -> float:
    """The GEMM FLOPs counted by ``benches/fm.rs``: ``3 fwd - 2 B in0 out0``."""
    fwd = sum(2 * BATCH * a * b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
    return float(3 * fwd - 2 * BATCH * WIDTHS[0] * WIDTHS[1])


class TimeMlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        layers: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
            if i > 0:
                layers.append(torch.nn.Tanh())
            layers.append(torch.nn.Linear(a, b))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``t`` is a scalar (ODE solves) or a column ``[batch, 1]`` (training)."""
        if t.dim() < 2:
            t = t.reshape(1, 1).to(x).expand(x.shape[0], 1)
        return self.net(torch.cat([x, t], dim=1))


class Trainer:
    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.rng = np.random.RandomState(seed)
        self.field = TimeMlp()
        self.opt = torch.optim.Adam(self.field.parameters(), lr=LR)

    def step(self) -> float:
        x0 = sample_8gaussians(BATCH, self.rng)
        x1 = torch.randn_like(x0)
        t = torch.rand(BATCH, 1)
        xt = (1 - t) * x0 + t * x1
        self.opt.zero_grad(set_to_none=True)
        loss = (self.field(t, xt) - (x1 - x0)).square().sum(1).mean()
        loss.backward()
        self.opt.step()
        return loss.item()


def time_iteration(warmup: int, iters: int) -> float:
    tr = Trainer(seed=0)
    for _ in range(warmup):
        tr.step()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        tr.step()
        samples.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(samples)


def log_prob(field: TimeMlp, x: torch.Tensor, step: float) -> torch.Tensor:
    """``log N(z; 0, I) + int_0^1 div v dt`` with the exact trace, torchdiffeq ``rk4``."""
    from torchdiffeq import odeint

    def dynamics(t, state):
        z = state[0]
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            v = field(t, z)
            div = torch.zeros(z.shape[0], dtype=z.dtype)
            for i in range(z.shape[1]):
                div = div + torch.autograd.grad(v[:, i].sum(), z, retain_graph=True)[0][:, i]
        return v.detach(), div.detach().unsqueeze(1)

    ts = torch.tensor([0.0, 1.0], dtype=x.dtype)
    zs, ls = odeint(dynamics, (x, torch.zeros(x.shape[0], 1, dtype=x.dtype)), ts, method="rk4",
                    options=dict(step_size=step))
    z = zs[-1]
    return -0.5 * (z * z).sum(1) - 0.5 * DIM * math.log(2 * math.pi) + ls[-1][:, 0]


def train(args: argparse.Namespace) -> None:
    tr = Trainer(args.seed)
    t0 = time.perf_counter()
    for it in range(args.iterations):
        loss = tr.step()
        if it % 100 == 0 or it + 1 == args.iterations:
            print(f"seed {args.seed} iter {it:>5} loss {loss:.4f}", file=sys.stderr)
    train_s = time.perf_counter() - t0
    test = sample_8gaussians(10_000, np.random.RandomState(1_000_000 + args.seed))
    total = 0.0
    for s in range(0, test.shape[0], 2000):
        total += log_prob(tr.field, test[s : s + 2000], args.step).double().sum().item()
    nll = -total / test.shape[0]
    report_quality("fm_train_nll", test, nll, train_s, args, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--iters", type=int, default=200, help="timed iterations (at least 20)")
    ap.add_argument("--train", action="store_true", help="run the 1000-iteration quality reference instead")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--step", type=float, default=0.05, help="rk4 step of the test NLL")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    if args.train:
        train(args)
        return
    ms = time_iteration(args.warmup, max(args.iters, 20))
    gflops = gemm_flops() / (ms * 1e6)
    if args.json:
        print(json.dumps({"workload": "fm_linear_b1024", "median_ms": round(ms, 4), "gflops": round(gflops, 3),
                          "threads": args.threads, "torch": torch.__version__}), flush=True)
    else:
        print(f"fm_linear_b1024 {ms:9.3f} ms/iteration (median, {args.threads} threads), {gflops:.1f} GFLOP/s",
              flush=True)


if __name__ == "__main__":
    main()
