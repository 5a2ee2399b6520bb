#!/usr/bin/env python3
"""PyTorch twin of one CNF training iteration, for side-by-side timing with ``benches/cnf.rs``.

Workload (the same as the Rust bench): 8gaussians (ffjord's ``toy_data``
definition), an MLP 3 -> 64 -> 64 -> 64 -> 2 with tanh on ``[x, t]`` (``t``
as the last column), batch 1024, torchdiffeq's ``rk4`` (the 3/8 rule) with
step 0.1 on [0, 1] (10 steps), float32, Adam with lr 1e-3. The loss is the
minibatch NLL, ``-mean(log N(z; 0, I) + int_0^1 div v dt)``.

One iteration = sample a batch, forward solve, backward, Adam step. Variants:

* ``cnf_exact_direct``: exact trace (one autograd pass per dimension),
  backprop through the solver (``odeint``);
* ``cnf_hutch_direct``: Hutchinson's estimator with one Rademacher probe,
  drawn once per solve and held fixed along it, backprop through the solver;
* ``cnf_exact_adjoint``, ``cnf_hutch_adjoint``: the same with the continuous
  adjoint (``odeint_adjoint``, whose backward solve inherits ``rk4`` and the
  step size).

The batch is drawn with NumPy, vectorized (the same distribution as
ffjord's per-point loop, which would dominate the iteration time otherwise).

Timing: ``--warmup`` iterations (default 3), then ``--iters`` (default 20)
timed one by one with ``time.perf_counter``; the median is reported.

``--train`` runs the quality reference instead: 1000 iterations exact/direct,
then the test NLL of 10,000 fresh samples with step 0.05 (compare with
``cargo run --release --example cnf_8gaussians``).

Usage::

    /opt/torchenv/bin/python benches/torch_cnf.py --threads 2 [--json] [--variants exact_direct,hutch_direct]
    /opt/torchenv/bin/python benches/torch_cnf.py --train --seed 0

With ``--json``, stdout carries one JSON object per line
(``{"workload", "median_ms", "threads", "torch"}``; for ``--train``
``{"workload": "cnf_train_nll", "nll", ...}``); progress goes to stderr.
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
from torchdiffeq import odeint, odeint_adjoint

DIM = 2
WIDTHS = (DIM + 1, 64, 64, 64, DIM)
BATCH = 1024
STEP = 0.1
LR = 1e-3
VARIANTS = ("exact_direct", "hutch_direct", "exact_adjoint", "hutch_adjoint")


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
        return self.net(torch.cat([x, t.reshape(1, 1).to(x).expand(x.shape[0], 1)], dim=1))


class CnfFunc(torch.nn.Module):
    """``(x, l) -> (v, div v)``; ``probe`` set means Hutchinson with that fixed probe."""

    def __init__(self, field: TimeMlp):
        super().__init__()
        self.field = field
        self.probe: torch.Tensor | None = None
        self.create_graph = True

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        x = state[0]
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            v = self.field(t, x)
            if self.probe is None:
                div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
                for i in range(x.shape[1]):
                    g = torch.autograd.grad(v[:, i].sum(), x, create_graph=self.create_graph, retain_graph=True)[0]
                    div = div + g[:, i]
            else:
                vjp = torch.autograd.grad(v, x, self.probe, create_graph=self.create_graph)[0]
                div = (vjp * self.probe).sum(1)
        return v, div.unsqueeze(1)


def log_prob(func: CnfFunc, x: torch.Tensor, step: float, adjoint: bool) -> torch.Tensor:
    t = torch.tensor([0.0, 1.0], dtype=x.dtype, device=x.device)
    state = (x, torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device))
    opts = dict(step_size=step)
    if adjoint:
        zs, ls = odeint_adjoint(func, state, t, method="rk4", options=opts, adjoint_params=tuple(func.parameters()))
    else:
        zs, ls = odeint(func, state, t, method="rk4", options=opts)
    z = zs[-1]
    return -0.5 * (z * z).sum(1) - 0.5 * DIM * math.log(2 * math.pi) + ls[-1][:, 0]


class Trainer:
    def __init__(self, variant: str, seed: int):
        torch.manual_seed(seed)
        self.rng = np.random.RandomState(seed)
        self.hutch = variant.startswith("hutch")
        self.adjoint = variant.endswith("adjoint")
        self.func = CnfFunc(TimeMlp())
        self.opt = torch.optim.Adam(self.func.parameters(), lr=LR)

    def step(self) -> float:
        x = sample_8gaussians(BATCH, self.rng)
        self.func.probe = torch.randint(0, 2, x.shape).to(x) * 2 - 1 if self.hutch else None
        self.opt.zero_grad(set_to_none=True)
        loss = -log_prob(self.func, x, STEP, self.adjoint).mean()
        loss.backward()
        self.opt.step()
        return loss.item()


def time_variant(variant: str, warmup: int, iters: int) -> float:
    tr = Trainer(variant, seed=0)
    for _ in range(warmup):
        tr.step()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter()
        tr.step()
        samples.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(samples)


def test_nll(func: CnfFunc, x: torch.Tensor, step: float, chunk: int = 2000) -> float:
    func.probe, func.create_graph = None, False
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        with torch.no_grad():
            total += log_prob(func, x[s : s + chunk], step, adjoint=False).double().sum().item()
    func.create_graph = True
    return -total / x.shape[0]


def train(args: argparse.Namespace) -> None:
    tr = Trainer("exact_direct", args.seed)
    t0 = time.perf_counter()
    for it in range(args.iterations):
        loss = tr.step()
        if it % 100 == 0 or it + 1 == args.iterations:
            print(f"seed {args.seed} iter {it:>5} loss {loss:.4f}", file=sys.stderr)
    train_s = time.perf_counter() - t0
    test = sample_8gaussians(10_000, np.random.RandomState(1_000_000 + args.seed))
    nll = test_nll(tr.func, test, 0.05)
    report_quality("cnf_train_nll", test, nll, train_s, args, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20, help="timed iterations per variant (at least 20)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--train", action="store_true", help="run the 1000-iteration quality reference instead")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    if args.train:
        train(args)
        return
    for v in args.variants.split(","):
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r} (known: {', '.join(VARIANTS)})")
        ms = time_variant(v, args.warmup, max(args.iters, 20))
        if args.json:
            print(json.dumps({"workload": f"cnf_{v}", "median_ms": round(ms, 3), "threads": args.threads,
                              "torch": torch.__version__}), flush=True)
        else:
            print(f"cnf_{v:<16} {ms:9.2f} ms/iteration (median, {args.threads} threads)", flush=True)


if __name__ == "__main__":
    main()
