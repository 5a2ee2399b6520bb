#!/usr/bin/env python3
"""Cross-framework check of wasserflow's CNF log-likelihoods against PyTorch + torchdiffeq.

Reads what ``cargo run --release --example export_cnf`` writes (default
directory ``target/crosscheck``):

* ``weights.safetensors``: the time-MLP's parameters ``v.{i}.weight`` stored
  ``[in, out]`` (``x @ W + b``; PyTorch's ``Linear`` holds the transpose) and
  ``v.{i}.bias``, the first layer's input being ``[x, t]`` with ``t`` as the
  last column; tanh between layers, none after the last;
* ``points.safetensors``: the points ``x``;
* ``ours.safetensors``: ``log_prob_h{h}``, ``z_h{h}`` and ``grid_h{h}`` for each
  step size in its ``step_sizes`` metadata.

It rebuilds the field in PyTorch (float64) and computes

    log p(x) = log N(z; 0, I) + int_0^1 div v(x(t), t) dt

with ``torchdiffeq.odeint(func, (x, 0), [0, 1], method='rk4',
options=dict(step_size=h))`` (torchdiffeq's ``rk4`` is the 3/8 rule) and the
exact divergence (autograd, one pass per dimension). It also integrates with a
plain 3/8-rule loop on wasserflow's own grid, which separates a grid
difference from a stage-layout difference if the two frameworks disagree.

Prints, per step size, the max relative difference of log p (relative to
``max(|log p|, 1)``, i.e. absolute where ``|log p| < 1``), the max absolute
difference of ``z``, and the largest difference between the two time grids,
then exits 1 if a relative difference exceeds ``--tol`` (default 1e-4). In
float64 the frameworks should agree to round-off (~1e-13); anything above
1e-10 is flagged as a convention mismatch to investigate.

Usage::

    cargo run --release --example export_cnf
    /opt/torchenv/bin/python benches/torch_cnf_crosscheck.py [--dir target/crosscheck] [--tol 1e-4]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file
from torchdiffeq import odeint

ROUNDOFF = 1e-10


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
    return load_file(str(path)), meta


class TimeMlp(torch.nn.Module):
    """wasserflow's ``TimeMlp``: an MLP on ``[x, t]``."""

    def __init__(self, weights: dict[str, np.ndarray], activation: str):
        super().__init__()
        if activation != "tanh":
            raise SystemExit(f"only tanh fields are supported, the checkpoint has {activation!r}")
        layers = []
        i = 0
        while f"v.{i}.weight" in weights:
            w, b = weights[f"v.{i}.weight"], weights[f"v.{i}.bias"]
            lin = torch.nn.Linear(w.shape[0], w.shape[1], dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            i += 1
        unused = set(weights) - {f"v.{j}.{p}" for j in range(i) for p in ("weight", "bias")}
        if not layers or unused:
            raise SystemExit(f"not a time-MLP checkpoint (layers: {i}, unexpected tensors: {sorted(unused)})")
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, t.reshape(1, 1).to(x).expand(x.shape[0], 1)], dim=1)
        for i, lin in enumerate(self.layers):
            h = lin(h)
            if i + 1 < len(self.layers):
                h = torch.tanh(h)
        return h


class Augmented(torch.nn.Module):
    """``(x, l) -> (v(x, t), div v(x, t))`` with the exact divergence."""

    def __init__(self, net: TimeMlp):
        super().__init__()
        self.net = net

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        x = state[0]
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            v = self.net(t, x)
            d = x.shape[1]
            div = torch.zeros(x.shape[0], dtype=x.dtype)
            for i in range(d):
                g = torch.autograd.grad(v[:, i].sum(), x, retain_graph=i + 1 < d)[0]
                div = div + g[:, i]
        return v.detach(), div.detach().unsqueeze(1)


def std_normal_logp(z: torch.Tensor) -> torch.Tensor:
    d = z.shape[1]
    return -0.5 * (z * z).sum(1) - 0.5 * d * math.log(2 * math.pi)


def torchdiffeq_logp(func: Augmented, x: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with torch.no_grad():
        zs, ls = odeint(func, (x, torch.zeros(x.shape[0], 1, dtype=x.dtype)), t, method="rk4",
                        options=dict(step_size=h))
    z, l = zs[-1], ls[-1]
    return std_normal_logp(z) + l[:, 0], z


def torchdiffeq_grid(func: Augmented, x: torch.Tensor, h: float) -> np.ndarray | None:
    """The grid torchdiffeq's fixed-grid solvers step on (internal API; None if it moved)."""
    try:
        from torchdiffeq._impl.solvers import FixedGridODESolver

        t = torch.tensor([0.0, 1.0], dtype=torch.float64)
        return FixedGridODESolver._grid_constructor_from_step_size(h)(func, x, t).numpy()
    except Exception as e:  # internal API: report, do not fail the check
        print(f"  (could not read torchdiffeq's grid: {e})", file=sys.stderr)
        return None


def rk38_on_grid(func: Augmented, x: torch.Tensor, grid: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The 3/8 rule stepped on a given grid, written out (wasserflow's stage layout)."""
    y = (x, torch.zeros(x.shape[0], 1, dtype=x.dtype))

    def axpy(y, terms):
        return tuple(yi + sum(c * k[i] for c, k in terms) for i, yi in enumerate(y))

    for t0, t1 in zip(grid[:-1], grid[1:]):
        hs = float(t1 - t0)
        tt = lambda s: torch.tensor(s, dtype=torch.float64)  # noqa: E731
        k1 = func(tt(t0), y)
        k2 = func(tt(t0 + hs / 3), axpy(y, [(hs / 3, k1)]))
        k3 = func(tt(t0 + 2 * hs / 3), axpy(y, [(-hs / 3, k1), (hs, k2)]))
        k4 = func(tt(t1), axpy(y, [(hs, k1), (-hs, k2), (hs, k3)]))
        y = axpy(y, [(hs / 8, k1), (3 * hs / 8, k2), (3 * hs / 8, k3), (hs / 8, k4)])
    z, l = y
    return std_normal_logp(z) + l[:, 0], z


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("target/crosscheck"))
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--explain", action="store_true",
                    help="also compare with a written-out 3/8 rule on our grid when within round-off")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))

    weights, wmeta = read(args.dir / "weights.safetensors")
    points, _ = read(args.dir / "points.safetensors")
    ours, ometa = read(args.dir / "ours.safetensors")
    if wmeta.get("field") != "time-mlp":
        raise SystemExit(f"only the time-MLP field is supported, the checkpoint has {wmeta.get('field')!r}")
    print(f"checkpoint: {wmeta}")
    net = TimeMlp(weights, wmeta.get("activation", "tanh"))
    func = Augmented(net)
    x = torch.from_numpy(points["x"].astype(np.float64))
    print(f"{x.shape[0]} points; torch {torch.__version__}, torchdiffeq rk4 (3/8 rule), float64, exact trace")

    worst = 0.0
    for hs in ometa["step_sizes"].split(","):
        h = float(hs)
        lp_ours, z_ours, grid_ours = ours[f"log_prob_h{hs}"], ours[f"z_h{hs}"], ours[f"grid_h{hs}"]
        lp_td, z_td = torchdiffeq_logp(func, x, h)
        lp_td, z_td = lp_td.numpy(), z_td.numpy()
        r = rel(lp_ours, lp_td)
        worst = max(worst, r)
        print(f"h = {hs}: {len(grid_ours) - 1} steps")
        print(f"  log p  max rel diff (ours vs torchdiffeq) {r:.3e}   max abs {np.max(np.abs(lp_ours - lp_td)):.3e}")
        print(f"  z      max abs diff                       {np.max(np.abs(z_ours - z_td)):.3e}")
        grid_td = torchdiffeq_grid(func, x, h)
        if grid_td is not None:
            if len(grid_td) != len(grid_ours):
                print(f"  grids differ in length: ours {len(grid_ours)}, torchdiffeq {len(grid_td)}")
            else:
                print(f"  grid   max abs diff                       {np.max(np.abs(grid_ours - grid_td)):.3e}")
        if r > ROUNDOFF or args.explain:
            lp_ref, _ = rk38_on_grid(func, x, grid_ours)
            lp_ref = lp_ref.numpy()
            print(f"  written-out 3/8 rule on our grid vs ours {rel(lp_ours, lp_ref):.3e}, "
                  f"vs torchdiffeq {rel(lp_td, lp_ref):.3e}")
    status = "PASS" if worst <= args.tol else "FAIL"
    note = "" if worst <= ROUNDOFF else f" (above f64 round-off {ROUNDOFF:.0e}: a convention differs)"
    print(f"{status}: max relative difference {worst:.3e} (tolerance {args.tol:.0e}){note}")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
