"""What the PyTorch twins of our benchmarks share: the 8gaussians toy
(ffjord's definition) and its own log-density."""

from __future__ import annotations

import json
import math

import numpy as np
import torch


def sample_8gaussians(n: int, rng: np.random.RandomState) -> torch.Tensor:
    """ffjord's 8gaussians: centres at radius 4 every 45 degrees, std 0.5, all / 1.414."""
    s = 1.0 / math.sqrt(2.0)
    centres = 4.0 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)])
    x = (rng.randn(n, 2) * 0.5 + centres[rng.randint(8, size=n)]) / 1.414
    return torch.from_numpy(x.astype(np.float32))


def eight_gaussians_logp(x: np.ndarray) -> np.ndarray:
    """The data's own log-density (the NLL floor)."""
    s = 1.0 / math.sqrt(2.0)
    means = 4.0 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]) / 1.414
    sd = 0.5 / 1.414
    d2 = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    comp = -0.5 * d2 / sd**2 - math.log(2 * math.pi * sd**2)
    m = comp.max(1, keepdims=True)
    return (m[:, 0] + np.log(np.exp(comp - m).mean(1))).astype(np.float64)


def report_quality(workload: str, test: torch.Tensor, nll: float, train_s: float, args, ms_digits: int) -> None:
    """Prints a quality run's test NLL beside the data's own density (JSON with ``--json``)."""
    floor = -float(eight_gaussians_logp(test.numpy().astype(np.float64)).mean())
    ms = 1e3 * train_s / args.iterations
    if args.json:
        print(json.dumps({"workload": workload, "nll": nll, "floor": floor, "seed": args.seed,
                          "iterations": args.iterations, "ms_per_iter": ms, "threads": args.threads,
                          "torch": torch.__version__}))
    else:
        print(f"seed {args.seed}: test NLL {nll:.4f} nats (data's own density {floor:.4f}); "
              f"{args.iterations} iterations in {train_s:.1f} s ({ms:.{ms_digits}f} ms/iter)")
