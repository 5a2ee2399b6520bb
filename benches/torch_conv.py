#!/usr/bin/env python3
"""PyTorch twin of ``benches/conv.rs``: the U-Net velocity field's forward + backward.

Network (the same as ``wasserflow::nn::UNet`` with widths 32,64 on 1x28x28):
time embedding = sinusoids of 16 frequencies geometric in [1, 100] of each
row's t -> Linear(32, 64) -> SiLU -> Linear(64, 64) -> SiLU; a block is
SiLU(GroupNorm(conv3x3(h, no bias)) + Linear(64, C)(e)) with up to 8
groups; down: block(1->32) @28, avg-pool 2, block(32->64) @14; up: nearest
upsample 2, concat with the 28x28 skip, block(96->32); out: conv3x3(32->1)
with bias. Batch 128, float32, loss sum |v - u|^2 / B, forward + backward
(no optimizer step), one time per row.

Timing: ``--warmup`` calls (default 3), then ``--iters`` (default 10) timed
one by one; the median is reported. Threads: ``--threads`` (default 2).

Usage::

    /opt/torchenv/bin/python benches/torch_conv.py --threads 2 [--json] [--channels-last]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH, SIDE, WIDTHS, TIME_DIM, FREQS = 128, 28, (32, 64), 64, 16


class Block(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        groups = max(g for g in range(1, 9) if cout % g == 0)
        self.norm = nn.GroupNorm(groups, cout)
        self.time = nn.Linear(TIME_DIM, cout)

    def forward(self, h, e):
        return F.silu(self.norm(self.conv(h)) + self.time(e)[:, :, None, None])


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        w0, w1 = WIDTHS
        self.register_buffer("omega", torch.tensor([100.0 ** (j / (FREQS - 1)) for j in range(FREQS)]))
        self.t0 = nn.Linear(2 * FREQS, TIME_DIM)
        self.t1 = nn.Linear(TIME_DIM, TIME_DIM)
        self.down0 = Block(1, w0)
        self.down1 = Block(w0, w1)
        self.up0 = Block(w1 + w0, w0)
        self.out = nn.Conv2d(w0, 1, 3, padding=1)

    def forward(self, x, t):
        a = t * self.omega[None, :]
        e = F.silu(self.t1(F.silu(self.t0(torch.cat([a.sin(), a.cos()], 1)))))
        h0 = self.down0(x, e)
        h1 = self.down1(F.avg_pool2d(h0, 2), e)
        h = torch.cat([F.interpolate(h1, scale_factor=2, mode="nearest"), h0], 1)
        return self.out(self.up0(h, e))


def flops() -> float:
    p0, p1, b = SIDE * SIDE, SIDE * SIDE / 4, BATCH
    w0, w1 = WIDTHS
    convs = [(p0, 1, w0), (p1, w0, w1), (p0, w0 + w1, w0), (p0, w0, 1)]
    fwd = sum(2 * b * p * 9 * ci * co for p, ci, co in convs)
    return 3 * fwd - 2 * b * p0 * 9 * w0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = UNet()
    x = torch.randn(BATCH, 1, SIDE, SIDE)
    u = torch.randn(BATCH, 1, SIDE, SIDE)
    t = torch.rand(BATCH, 1)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x, u = x.to(memory_format=torch.channels_last), u.to(memory_format=torch.channels_last)

    def step():
        net.zero_grad(set_to_none=True)
        loss = ((net(x, t) - u) ** 2).sum() / BATCH
        loss.backward()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.iters):
        s = time.perf_counter()
        step()
        times.append((time.perf_counter() - s) * 1e3)
    med = statistics.median(times)
    name = "unet_28x28_w32-64_b128_fwd_bwd" + ("_channels_last" if args.channels_last else "")
    if args.json:
        print(json.dumps({"workload": name, "median_ms": med, "gflops": flops() / (med * 1e6),
                          "threads": args.threads, "torch": torch.__version__}))
    else:
        print(f"threads: {args.threads}  torch {torch.__version__}")
        print(f"{name:<48} median {med:9.2f} ms  min {min(times):9.2f} ms  {flops() / (med * 1e6):7.2f} GFLOP/s")


if __name__ == "__main__":
    main()
