#!/usr/bin/env python3
"""PyTorch twin of one JKO-iFlow block training iteration, for side-by-side timing with ``benches/jko_block.rs``.

Workload (the same as the Rust bench): an MLP 3 -> 128 -> 128 -> 128 -> 2
with softplus (beta = 20) on ``[x, t]`` (``t`` as the last column), one block
on ``[0, h]`` with h = 0.25 integrated by the classic RK4 with 3 equal steps,
carrying ``(x, l)`` with ``dl/dt = div v`` (exact trace: one autograd pass per
dimension, with ``create_graph``), float32, Adam with lr 1e-4. The loss is
JKO-iFlow's (24),

    mean(|x(h)|^2 / 2) - mean(l(h)) + mean(|x(h) - x(0)|^2) / (2h),

on a minibatch of 2000 drawn (with replacement) from 50,000 cached particles
of 8gaussians. One iteration = draw the batch, forward, backward, Adam step.

Timing: ``--warmup`` iterations (default 3), then ``--iters`` (default 20)
timed one by one with ``time.perf_counter``; the median is reported with the
achieved GFLOP/s, counted as ``benches/jko_block.rs`` counts them.

Usage::

    /opt/torchenv/bin/python benches/torch_jko.py --threads 2 [--json]

With ``--json``, stdout carries one JSON object per line
(``{"workload", "median_ms", "gflops", "threads", "torch"}``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from torch_common import sample_8gaussians

DIM = 2
WIDTHS = (DIM + 1, 128, 128, 128, DIM)
BATCH = 2000
PARTICLES = 50_000
H = 0.25
STEPS = 3
LR = 1e-4
WORKLOAD = "jko_block_exact_direct"


def flops() -> float:
    """GEMM FLOPs of one iteration, as the Rust bench counts them."""
    widths = (DIM,) + WIDTHS[1:]
    fwd = sum(2 * BATCH * a * b for a, b in zip(widths[:-1], widths[1:]))
    evals = STEPS * 4
    return 3.0 * evals * fwd * (1 + DIM)


class TimeMlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        layers: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
            if i > 0:
                layers.append(torch.nn.Softplus(beta=20.0))
            layers.append(torch.nn.Linear(a, b))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, t: float, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, torch.full((x.shape[0], 1), t, dtype=x.dtype)], dim=1))


def velocity_and_divergence(field: TimeMlp, t: float, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        if not x.requires_grad:
            x = x.requires_grad_(True)
        v = field(t, x)
        div = torch.zeros(x.shape[0], dtype=x.dtype)
        for i in range(x.shape[1]):
            g = torch.autograd.grad(v[:, i].sum(), x, create_graph=True, retain_graph=True)[0]
            div = div + g[:, i]
    return v, div.unsqueeze(1)


def rk4_block(field: TimeMlp, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Classic RK4 on (x, l) over [0, H] in STEPS equal steps."""
    dt = H / STEPS
    l = torch.zeros(x.shape[0], 1, dtype=x.dtype)
    for s in range(STEPS):
        t = s * dt
        k1x, k1l = velocity_and_divergence(field, t, x)
        k2x, k2l = velocity_and_divergence(field, t + dt / 2, x + dt / 2 * k1x)
        k3x, k3l = velocity_and_divergence(field, t + dt / 2, x + dt / 2 * k2x)
        k4x, k4l = velocity_and_divergence(field, t + dt, x + dt * k3x)
        x = x + dt / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
        l = l + dt / 6 * (k1l + 2 * k2l + 2 * k3l + k4l)
    return x, l


class Trainer:
    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.rng = np.random.RandomState(seed)
        self.particles = sample_8gaussians(PARTICLES, self.rng)
        self.field = TimeMlp()
        self.opt = torch.optim.Adam(self.field.parameters(), lr=LR)

    def step(self) -> float:
        x0 = self.particles[torch.from_numpy(self.rng.randint(PARTICLES, size=BATCH))]
        self.opt.zero_grad(set_to_none=True)
        z, l = rk4_block(self.field, x0)
        loss = 0.5 * (z * z).sum(1).mean() - l.mean() + ((z - x0) ** 2).sum(1).mean() / (2 * H)
        loss.backward()
        self.opt.step()
        return loss.item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    tr = Trainer(seed=0)
    for _ in range(args.warmup):
        tr.step()
    samples = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        loss = tr.step()
        samples.append(time.perf_counter() - t0)
        if not math.isfinite(loss):
            raise SystemExit(f"non-finite loss {loss}")
    ms = 1e3 * statistics.median(samples)
    gflops = flops() / (ms * 1e6)
    if args.json:
        print(json.dumps({"workload": WORKLOAD, "median_ms": round(ms, 3), "gflops": round(gflops, 3),
                          "threads": args.threads, "torch": torch.__version__}), flush=True)
    else:
        print(f"{WORKLOAD:<24} {ms:9.2f} ms/iteration (median, {args.threads} threads), {gflops:.1f} GFLOP/s",
              flush=True)


if __name__ == "__main__":
    main()
