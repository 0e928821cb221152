"""Training-throughput benchmark: bkd's engine against a reference pipeline written like the authors' code.

Three pipelines train the same teacher + blind student (same network, same SGD optimiser, same batch size) on the same
real CIFAR-10 images, interleaved within one process, for several repetitions after a warm-up:

* ``bkd``: `bkd.train.Trainer.train_epoch`, the engine the command line uses: uint8 images on the training device,
  augmentation, normalisation and shuffling per batch on that device, sums kept on the device.
* ``reference``: a `torch.utils.data.DataLoader` over a Dataset that returns PIL images, with per-sample
  `RandomHorizontalFlip`, `RandomCrop(32, padding=4, padding_mode="reflect")`, `ToTensor`, `Normalize`,
  `num_workers` = number of cores, fp32, default memory format and a `.item()` per batch for the running losses,
  as the original training script does.
* ``compute_only``: the engine's own step on batches that are already augmented and on the device: the compute-only
  limit of the network on this machine. With ``--compile`` the engine's step is compiled (in ``bkd`` and
  ``compute_only``) and ``bkd_eager`` times the engine without compilation as well; the reference stays eager.
* ``bkd_fp32``: only where the engine resolves to bf16 autocast (CUDA, or a CPU with bf16 arithmetic): the same
  engine in fp32 (channels-last, no autocast), whose arithmetic is the reference's to float rounding.

It prints a table and writes JSON (``--out``, default ``bench.json``). With CUDA (or ``--paper on``) it also runs the
paper configuration (PreAct ResNet-18, CIFAR-10N worst, 90/10 split) for whole epochs: seconds per epoch, the projection
to 300 epochs and the fraction of the GPU's bf16 peak that the arithmetic reaches.

    python scripts/bench.py                 # the real run (minutes on a CPU)
    python scripts/bench.py --quick         # seconds-long smoke run
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import threading
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bkd.core import BkdError, resolve_device, save_json, timed  # noqa: E402
from bkd.datasets import load_dataset, split_indices  # noqa: E402
from bkd.config import TrainConfig  # noqa: E402
from bkd.train import Trainer, bkd_step, make_optimizer  # noqa: E402
from bkd.models import make_model  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from the vendors' data sheets, matched on the device name.
BF16_PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("GH200", 989.0), ("H200", 989.0), ("H100", 989.0),
                    ("A100", 312.0), ("L40S", 362.0), ("L4", 121.0), ("A10", 125.0), ("RTX 4090", 165.0)]
PAPER_EPOCHS = 300


# ---- machine ---------------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()

def n_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

def machine(device: torch.device) -> dict:
    import torchvision
    m = dict(cpu=cpu_model(), cores=n_cores(), torch_threads=torch.get_num_threads(), python=platform.python_version(),
             torch=torch.__version__, torchvision=torchvision.__version__, platform=platform.platform(),
             device=str(device), device_name=None, bf16_peak_tflops=None,
             load_average_start=list(os.getloadavg()) if hasattr(os, "getloadavg") else None)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        m.update(device_name=name, cuda=torch.version.cuda, device_memory_gb=round(
            torch.cuda.get_device_properties(device).total_memory / 2**30, 1))
        m["bf16_peak_tflops"] = next((p for k, p in BF16_PEAK_TFLOPS if k in name), None)
    return m


# ---- memory ----------------------------------------------------------------------------------------------------
def _pss_mb(pid: int) -> float:
    "Proportional set size of one process (shared pages split between sharers), in MiB; RSS where PSS is unknown."
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"): return int(line.split()[1]) / 1024
    except OSError: pass
    try:
        import psutil
        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception: return 0.0

class HostMemory:
    "Peak PSS of this process plus its children (the DataLoader workers), sampled by a thread while active."
    def __init__(self, every: float = 0.25):
        self.every, self.peak, self._stop = every, 0.0, threading.Event()
    def sample(self) -> float:
        import psutil
        pids = [os.getpid()] + [c.pid for c in psutil.Process().children(recursive=True)]
        return sum(_pss_mb(p) for p in pids)
    def _run(self):
        while not self._stop.wait(self.every): self.peak = max(self.peak, self.sample())
    def __enter__(self):
        self.peak = self.sample(); self._stop.clear()
        self._t = threading.Thread(target=self._run, daemon=True); self._t.start()
        return self
    def __exit__(self, *exc):
        self._stop.set(); self._t.join(); self.peak = max(self.peak, self.sample())


# ---- the reference pipeline, written like the authors' code ----------------------------------------------------
class PILDataset(torch.utils.data.Dataset):
    "Images kept as an `(N, H, W, C)` uint8 array and turned into a PIL image per sample, as torchvision's CIFAR10 does."
    def __init__(self, x_uint8_nchw: torch.Tensor, labels, transform):
        self.data = x_uint8_nchw.permute(0, 2, 3, 1).contiguous().numpy()
        self.targets, self.transform = [int(v) for v in labels], transform
    def __len__(self): return len(self.data)
    def __getitem__(self, index):
        from PIL import Image
        img = self.transform(Image.fromarray(self.data[index]))
        return img, self.targets[index], index

def reference_loader(x, y, mean, std, batch_size, workers, pin, seed):
    import torchvision.transforms as T
    size = x.shape[-1]
    tf = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(size, padding=size // 8, padding_mode="reflect"),
                    T.ToTensor(), T.Normalize(mean, std)])
    return torch.utils.data.DataLoader(PILDataset(x, y, tf), batch_size=batch_size, shuffle=True, num_workers=workers,
                                       pin_memory=pin, drop_last=True, persistent_workers=workers > 0,
                                       generator=torch.Generator().manual_seed(seed))

class Reference:
    "Teacher + student trained from the DataLoader: fp32, default memory format, a `.item()` per batch for logging."
    def __init__(self, arch, num_classes, cfg, loader, device):
        torch.manual_seed(cfg.seed)
        self.teacher = make_model(arch, num_classes).to(device)
        self.student = make_model(arch, num_classes).to(device)
        self.opt, _ = make_optimizer(self.teacher, self.student, cfg, len(loader))
        self.loader, self.device = loader, device
    def epoch(self) -> int:
        self.teacher.train(); self.student.train()
        seen, train_loss = 0, 0.0
        for x, y, _ in self.loader:
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            ce, bl, *_ = bkd_step(self.teacher, self.student, self.opt, x, y)
            train_loss += ce.item() + bl.item()
            seen += len(y)
        return seen


# ---- the compute-only limit ------------------------------------------------------------------------------------
class ComputeOnly:
    "The engine's step (same networks, format, autocast and compilation) on batches made once, before timing."
    def __init__(self, trainer: Trainer, n_batches: int = 4):
        self.tr, cfg = trainer, trainer.cfg
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        g = torch.Generator().manual_seed(cfg.seed + 1)
        B = cfg.batch_size
        self.batches = [(trainer.aug(trainer.x_train[i * B:(i + 1) * B], g).contiguous(memory_format=fmt),
                         trainer.y_train[i * B:(i + 1) * B]) for i in range(min(n_batches, trainer.steps_per_epoch))]
    def epoch(self) -> int:
        tr = self.tr
        tr.teacher.train(); tr.student.train()
        for b in range(tr.steps_per_epoch):
            x, y = self.batches[b % len(self.batches)]
            tr.step(tr.teacher, tr.student, tr.optimizer, x, y, None, tr.cfg.amp)
        return tr.steps_per_epoch * tr.cfg.batch_size


# ---- FLOPs -----------------------------------------------------------------------------------------------------
def step_flops(arch, num_classes, in_ch, size, batch, cfg, device) -> tuple[float, float]:
    "FLOPs of one teacher+student training step per image, and of one teacher+student forward per image."
    t, s = make_model(arch, num_classes, in_ch).to(device), make_model(arch, num_classes, in_ch).to(device)
    opt, _ = make_optimizer(t, s, cfg, 1)
    x = torch.randn(batch, in_ch, size, size, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    with FlopCounterMode(display=False) as fc: bkd_step(t, s, opt, x, y)
    train = fc.get_total_flops() / batch
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        t.eval(); s.eval(); t(x); s(x)
    return train, fc.get_total_flops() / batch


# ---- timing ----------------------------------------------------------------------------------------------------
# `timed` (bkd.core): wall-clock seconds of a call, with the CUDA work waited for on both sides.
def make_trainer(data, train_idx, cfg) -> Trainer:
    return Trainer(data, cfg, train_idx, np.empty(0, np.int64))

def throughput(args, data, device, log) -> dict:
    "Interleaved repetitions of the three pipelines; images per second and peak memory of each."
    train_idx, _ = split_indices(data.y_noisy, val_fraction=0.0, subset=args.images, seed=0)
    cfg = TrainConfig(dataset="folder", arch=args.arch, batch_size=args.batch_size, epochs=10**6,
                      device=str(device), compile=args.compile, seed=0)
    tr = make_trainer(data, train_idx, cfg)
    co = ComputeOnly(make_trainer(data, train_idx, cfg))
    eager = make_trainer(data, train_idx, dataclasses.replace(cfg, compile=False)) if args.compile else None
    # where the engine resolves to bf16, also the engine in fp32 (channels-last, no autocast): the exact arithmetic
    fp32 = make_trainer(data, train_idx, dataclasses.replace(cfg, amp=False, compile=False)) if tr.cfg.amp else None
    workers = args.workers if args.workers is not None else n_cores()
    loader = reference_loader(data.x_train[torch.from_numpy(train_idx)], data.y_noisy[train_idx], data.mean, data.std,
                              args.batch_size, workers, device.type == "cuda", seed=0)
    ref = Reference(args.arch, data.num_classes, tr.cfg, loader, device)
    pipes = {"bkd": lambda: (tr.train_epoch(), tr.steps_per_epoch * tr.cfg.batch_size)[1],
             "reference": ref.epoch, "compute_only": co.epoch}
    if eager is not None:       # with --compile, also the engine without compilation
        pipes["bkd_eager"] = lambda: (eager.train_epoch(), eager.steps_per_epoch * eager.cfg.batch_size)[1]
    if fp32 is not None:
        pipes["bkd_fp32"] = lambda: (fp32.train_epoch(), fp32.steps_per_epoch * fp32.cfg.batch_size)[1]
    load = []
    times = {k: [] for k in pipes}; imgs = {}
    host = {k: 0.0 for k in pipes}; dev = {k: 0.0 for k in pipes}
    for rep in range(-args.warmup, args.reps):           # negative reps: warm-up (compilation, worker start, caches)
        k = rep % len(pipes)    # rotate the order from one repetition to the next
        order = list(pipes)[k:] + list(pipes)[:k] if rep >= 0 else list(pipes)
        for name in order:
            if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
            with HostMemory() as hm: sec, n = timed(pipes[name], device)
            host[name] = max(host[name], hm.peak)
            if device.type == "cuda": dev[name] = max(dev[name], torch.cuda.max_memory_allocated(device) / 2**20)
            if rep >= 0: times[name].append(sec); imgs[name] = n
        if rep >= 0:
            load.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else None)
            log(f"rep {rep + 1}/{args.reps}: " + "  ".join(f"{k} {imgs[k] / times[k][-1]:.1f} img/s" for k in pipes))
    res = {}
    for k in pipes:
        ips = [imgs[k] / t for t in times[k]]
        res[k] = dict(images_per_epoch=imgs[k], seconds=times[k], images_per_second=ips,
                      images_per_second_median=statistics.median(ips), peak_host_mb=round(host[k], 1),
                      peak_device_mb=round(dev[k], 1) if device.type == "cuda" else None)
    res["workers"], res["engine"] = workers, dict(amp=tr.cfg.amp, channels_last=tr.cfg.channels_last,
                                                  compile=tr.cfg.compile)
    res["train_images"], res["load_average_1min_per_rep"] = len(train_idx), load
    return res

def paper_run(args, data, device, log) -> dict:
    "Whole epochs (train, agreement pass over the training split, validation, test) of the paper configuration."
    n_test = args.paper_test_images or len(data.x_test)
    if n_test < len(data.x_test):
        data = dataclasses.replace(data, x_test=data.x_test[:n_test], y_test=data.y_test[:n_test])
    train_idx, val_idx = split_indices(data.y_noisy, val_fraction=0.1, subset=args.paper_images, seed=0)
    cfg = TrainConfig(dataset="folder", arch=args.paper_arch, batch_size=128, epochs=PAPER_EPOCHS, device=str(device),
                      compile=args.compile, seed=0)
    tr = Trainer(data, cfg, train_idx, val_idx)
    log(f"paper configuration: {cfg.arch}, {len(train_idx)} training images, 1 warm-up epoch + {args.paper_epochs} timed")
    tr.run_epoch()                                    # warm-up: compilation, autotuning, allocator
    secs, train_secs = [], []
    for _ in range(args.paper_epochs):
        t_train, _ = timed(lambda: (tr.train_epoch(), 0)[1], device)
        t_epoch, _ = timed(lambda: (tr.run_epoch(), 0)[1], device)   # a whole epoch as training runs it
        secs.append(t_epoch); train_secs.append(t_train)
    sec = statistics.median(secs)
    train_f, eval_f = step_flops(cfg.arch, data.num_classes, data.x_train.shape[1], data.x_train.shape[-1], 128,
                                 tr.cfg, device)
    n_train = tr.steps_per_epoch * 128
    n_eval = len(train_idx) + len(val_idx) + len(data.x_test)
    epoch_flops = n_train * train_f + n_eval * eval_f
    out = dict(arch=cfg.arch, train_images=len(train_idx), val_images=len(val_idx), test_images=len(data.x_test),
               engine=dict(amp=tr.cfg.amp, channels_last=tr.cfg.channels_last, compile=tr.cfg.compile),
               seconds_per_epoch=secs, seconds_per_epoch_median=sec,
               train_seconds_per_epoch_median=statistics.median(train_secs),
               projected_minutes_300_epochs=sec * PAPER_EPOCHS / 60, flops_train_step_per_image=train_f,
               flops_eval_per_image=eval_f, flops_per_epoch=epoch_flops,
               achieved_tflops_epoch=epoch_flops / sec / 1e12,
               achieved_tflops_training=n_train * train_f / statistics.median(train_secs) / 1e12)
    peak = args.peak_tflops or (machine(device)["bf16_peak_tflops"] if device.type == "cuda" else None)
    out["bf16_peak_tflops"] = peak
    out["fraction_of_bf16_peak_epoch"] = out["achieved_tflops_epoch"] / peak if peak else None
    out["fraction_of_bf16_peak_training"] = out["achieved_tflops_training"] / peak if peak else None
    out["meets_15_minute_target"] = out["projected_minutes_300_epochs"] < 15
    return out


# ---- report ----------------------------------------------------------------------------------------------------
def table(res: dict) -> str:
    rows = [("pipeline", "img/s (median)", "min..max", "peak host MiB", "peak device MiB", "vs reference",
             "of compute-only")]
    ref, lim = res["reference"]["images_per_second_median"], res["compute_only"]["images_per_second_median"]
    for k in [k for k in ("bkd", "bkd_eager", "bkd_fp32", "reference", "compute_only") if k in res]:
        r = res[k]; ips = r["images_per_second"]
        rows.append((k, f"{r['images_per_second_median']:.1f}", f"{min(ips):.1f}..{max(ips):.1f}",
                     f"{r['peak_host_mb']:.0f}", "-" if r["peak_device_mb"] is None else f"{r['peak_device_mb']:.0f}",
                     f"{r['images_per_second_median'] / ref:.2f}x", f"{r['images_per_second_median'] / lim:.1%}"))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "| " + " | ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)) + " |"
    return "\n".join([line(rows[0]), "|" + "|".join("-" * (x + 2) for x in w) + "|"] + [line(r) for r in rows[1:]])

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run: tiny network, few images, 2 repetitions")
    p.add_argument("--arch", default=None, help="network (default: preact_resnet18 on CUDA, small_cnn on CPU)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--images", type=int, default=None, help="training images per epoch (default: 640 CPU, 16384 CUDA)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions of each pipeline (default 7; quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs of each pipeline before timing")
    p.add_argument("--workers", type=int, default=None, help="reference DataLoader workers (default: number of cores)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile bkd's step (the reference stays eager)")
    p.add_argument("--paper", choices=("auto", "on", "off"), default="auto",
                   help="time whole epochs of the paper configuration (auto: only on CUDA)")
    p.add_argument("--paper-epochs", type=int, default=2, help="timed epochs of the paper configuration")
    p.add_argument("--paper-arch", default="preact_resnet18", help=argparse.SUPPRESS)
    p.add_argument("--paper-images", type=int, default=None, help=argparse.SUPPRESS)     # a subset, for smoke runs
    p.add_argument("--paper-test-images", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, if not in the table")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"),
                   help="folder with cifar10-jpeg.tar.gz and cifar-n/CIFAR-10_human.pt")
    p.add_argument("--cache-dir", default=None, help="where the decoded images are cached (default: bkd's cache)")
    p.add_argument("--out", default=str(ROOT / "bench.json"), help="where to write the JSON results")
    a = p.parse_args(argv)
    if a.quick:
        a.arch = a.arch or "tiny_cnn"; a.images = a.images or 128; a.reps = a.reps or 2
        if a.batch_size == 128: a.batch_size = 32
        if a.paper == "on":
            a.paper_arch, a.paper_epochs = "tiny_cnn", 1
            a.paper_images, a.paper_test_images = a.paper_images or 300, a.paper_test_images or 64
    return a

def main(argv=None) -> dict:
    a = parse_args(argv)
    log = lambda *m: print(*m, file=sys.stderr, flush=True)
    device = resolve_device(a.device)
    cuda = device.type == "cuda"
    a.arch = a.arch or ("preact_resnet18" if cuda else "small_cnn")
    a.images = a.images or (16384 if cuda else 640)
    a.reps = a.reps or 7
    if a.images < a.batch_size: raise BkdError(f"--images ({a.images}) must be at least one batch ({a.batch_size})")
    data_root = Path(a.data)
    tar, labels = data_root / "cifar10-jpeg.tar.gz", data_root / "cifar-n" / "CIFAR-10_human.pt"
    if not tar.is_file() or not labels.is_file():
        raise BkdError(f"{data_root} must hold cifar10-jpeg.tar.gz and cifar-n/CIFAR-10_human.pt (see --data)")
    mach = machine(device)
    log(f"bkd benchmark on {mach['cpu']} ({mach['cores']} cores), torch {mach['torch']}, device {device}"
        + (f" ({mach['device_name']})" if cuda else ""))
    data = load_dataset("folder", "worst", data_root=tar, labels=labels, cache_dir=a.cache_dir, progress=not a.quick)
    res = throughput(a, data, device, log)
    load_per_rep = res.pop("load_average_1min_per_rep")
    C, ch, size = data.num_classes, data.x_train.shape[1], data.x_train.shape[-1]
    train_f, _ = step_flops(a.arch, C, ch, size, a.batch_size, TrainConfig(device=str(device)).resolve(), device)
    bkd_ips, ref_ips = res["bkd"]["images_per_second_median"], res["reference"]["images_per_second_median"]
    lim_ips = res["compute_only"]["images_per_second_median"]
    out = dict(
        command=" ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
        machine=mach,
        config=dict(arch=a.arch, batch_size=a.batch_size, train_images=res.pop("train_images"), reps=a.reps,
                    warmup=a.warmup, reference_workers=res.pop("workers"), engine=res.pop("engine"), quick=a.quick,
                    data=str(tar)),
        load_average_1min_per_rep=load_per_rep,
        results=res, ratio_bkd_over_reference=bkd_ips / ref_ips, bkd_fraction_of_compute_only=bkd_ips / lim_ips,
        flops_train_step_per_image=train_f,
        achieved_tflops={k: v["images_per_second_median"] * train_f / 1e12 for k, v in res.items()
                         if isinstance(v, dict) and "images_per_second_median" in v})
    for k in ("bkd_eager", "bkd_fp32"):
        if k in res: out[f"ratio_{k}_over_reference"] = res[k]["images_per_second_median"] / ref_ips
    not_measured = []
    if a.paper == "on" or (a.paper == "auto" and cuda):
        out["paper"] = paper_run(a, data, device, log)
        if out["paper"]["bf16_peak_tflops"] is None:
            not_measured.append("fraction of the bf16 peak: no known peak for this device (pass --peak-tflops)")
    else:
        out["paper"] = None
        not_measured.append("paper configuration (PreAct ResNet-18, whole CIFAR-10N epochs, 300-epoch projection, "
                            "fraction of the bf16 peak): no CUDA device" if not cuda else
                            "paper configuration: skipped with --paper off")
    if not cuda: not_measured.append("GPU throughput and GPU memory: no CUDA device")
    out["not_measured"] = not_measured
    out["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    save_json(out, a.out)
    print(f"\n{a.arch}, batch {a.batch_size}, {out['config']['train_images']} images per epoch, {a.reps} repetitions "
          f"(median), device {device}, reference workers {out['config']['reference_workers']}\n")
    print(table(res))
    print(f"\nbkd / reference: {out['ratio_bkd_over_reference']:.2f}x;  bkd / compute-only: "
          f"{out['bkd_fraction_of_compute_only']:.1%};  {train_f / 1e9:.3f} GFLOP per image per step")
    if out["paper"]:
        pp = out["paper"]
        frac = pp["fraction_of_bf16_peak_training"]
        print(f"paper configuration ({pp['arch']}, {pp['train_images']} training images): "
              f"{pp['seconds_per_epoch_median']:.1f} s per epoch, {pp['projected_minutes_300_epochs']:.1f} min for 300 "
              f"epochs; training arithmetic at {pp['achieved_tflops_training']:.1f} TFLOP/s"
              + (f" = {frac:.1%} of the bf16 peak" if frac is not None else ""))
    for m in not_measured: print(f"not measured: {m}")
    print(f"\nwrote {a.out}")
    return out

if __name__ == "__main__":
    try: main()
    except BkdError as e:
        print(f"bench: error: {e}", file=sys.stderr); sys.exit(2)
