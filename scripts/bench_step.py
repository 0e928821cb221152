"""Where the engine's speed comes from: one teacher+student step (`bkd.train.bkd_step`) in each memory layout,
precision and compilation, on a batch made once (no data work), interleaved within one process.

Variants are named by their parts joined with ``+``: ``nchw`` or ``cl`` (channels-last images and weights), optionally
``bf16`` (bf16 autocast) and ``compile`` (`torch.compile` of the step). ``nchw`` is the reference's step: fp32 in
PyTorch's default layout. Prints a table (median images/s and the ratio to ``nchw``) and writes JSON with ``--out``.

    python scripts/bench_step.py                                   # small_cnn, nchw / cl / nchw+bf16 / cl+bf16
    python scripts/bench_step.py --variants nchw,cl+bf16,cl+bf16+compile --arch tiny_cnn
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bkd.core import BkdError, resolve_device, save_json, timed  # noqa: E402
from bkd.models import make_model  # noqa: E402
from bkd.config import TrainConfig  # noqa: E402
from bkd.train import bkd_step, make_optimizer  # noqa: E402

PARTS = {"nchw", "cl", "bf16", "compile"}


def parse_variant(name: str) -> dict:
    "'cl+bf16' -> dict(channels_last=True, amp=True, compile=False); exactly one of nchw / cl."
    parts = name.split("+")
    if not set(parts) <= PARTS or len(set(parts)) != len(parts) or ("nchw" in parts) == ("cl" in parts):
        raise BkdError(f"unknown variant {name!r}: join nchw or cl with optional bf16 and compile, e.g. cl+bf16")
    return dict(channels_last="cl" in parts, amp="bf16" in parts, compile="compile" in parts)


class Variant:
    "Teacher, student, optimiser and one batch, in the variant's layout; `run(n)` takes n steps."
    def __init__(self, name, arch, batch_size, size, device, seed=0):
        self.name, v = name, parse_variant(name)
        fmt = torch.channels_last if v["channels_last"] else torch.contiguous_format
        torch.manual_seed(seed)
        self.t = make_model(arch, 10).to(device, memory_format=fmt)
        self.s = make_model(arch, 10).to(device, memory_format=fmt)
        self.opt, _ = make_optimizer(self.t, self.s, TrainConfig(device=str(device)).resolve(), 1)
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(batch_size, 3, size, size, generator=g).to(device).contiguous(memory_format=fmt)
        self.y = torch.randint(0, 10, (batch_size,), generator=g).to(device)
        self.step, self.amp, self.device = torch.compile(bkd_step) if v["compile"] else bkd_step, v["amp"], device

    def _steps(self, n: int) -> int:
        for _ in range(n): ce, bl, *_ = self.step(self.t, self.s, self.opt, self.x, self.y, None, self.amp)
        if not torch.isfinite(ce + bl): raise BkdError(f"{self.name}: non-finite loss")
        return n

    def run(self, n: int) -> float:
        "Seconds for n steps."
        return timed(lambda: self._steps(n), self.device)[0]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--size", type=int, default=32, help="image side (default 32, as CIFAR)")
    p.add_argument("--variants", default="nchw,cl,nchw+bf16,cl+bf16", help="comma-separated (see above)")
    p.add_argument("--steps", type=int, default=8, help="steps per timed repetition")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant (compilation happens here)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    device = resolve_device(a.device)
    names = [v.strip() for v in a.variants.split(",") if v.strip()]
    for n in names: parse_variant(n)                         # every name checked before anything is built
    variants = [Variant(n, a.arch, a.batch_size, a.size, device) for n in names]
    for v in variants: v.run(a.warmup)
    ips = {v.name: [] for v in variants}
    for rep in range(a.reps):                                 # interleaved, order rotated from one repetition to the next
        k = rep % len(variants)
        for v in variants[k:] + variants[:k]: ips[v.name].append(a.steps * a.batch_size / v.run(a.steps))
    med = {n: statistics.median(x) for n, x in ips.items()}
    base = med.get("nchw")
    print(f"{a.arch}, batch {a.batch_size}, {a.size}x{a.size}, device {device}, {torch.get_num_threads()} threads, "
          f"{a.reps} repetitions of {a.steps} steps (median)\n")
    print("| variant | img/s | min..max | vs nchw |\n|---|---|---|---|")
    for n in names:
        print(f"| {n} | {med[n]:.0f} | {min(ips[n]):.0f}..{max(ips[n]):.0f} | "
              + (f"{med[n] / base:.2f}x |" if base else "- |"))
    out = dict(arch=a.arch, batch_size=a.batch_size, size=a.size, device=str(device), threads=torch.get_num_threads(),
               torch=torch.__version__, reps=a.reps, steps=a.steps, images_per_second=ips, median=med,
               ratio_to_nchw={n: m / base for n, m in med.items()} if base else None)
    if a.out: save_json(out, a.out)
    return out


if __name__ == "__main__":
    try: main()
    except BkdError as e:
        print(f"bench_step: error: {e}", file=sys.stderr); sys.exit(2)
