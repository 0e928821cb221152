"""The measured effect of each of bkd's alternatives to the authors' choices, one option switched at a time.

By default at the smoke scale: the embedded digits with 40 % symmetric noise, `tiny_cnn`, three seeds. `--dataset
folder --data-root ../shared/data/cifar10-jpeg.tar.gz --labels ../shared/data/cifar-n/CIFAR-10_human.pt --noise worst`
(with `--epochs`, `--subset`) measures the same on CIFAR-10N; `--variants` picks some of them (the network and
augmentation variants only matter there). Every run starts from the authors' defaults (`TrainConfig()`); each
variant changes one setting. Reported per variant, mean and standard
deviation over the seeds: the tipping epoch, the detection F1 on the training split (`detection.npy`) and on every
training image (`detection_full.npy`, the authors' format), and the clean test accuracy at the last epoch (what the
authors' code reports) and at the epoch chosen on the noisy validation split.

    python scripts/faithful_effects.py --out paper/faithful_effects.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bkd.datasets import load_dataset, split_indices  # noqa: E402
from bkd.config import TrainConfig  # noqa: E402
from bkd.train import Trainer  # noqa: E402

VARIANTS = {
    "authors (default)": {},
    "--detach-target": dict(detach_target=True),
    "--agreement-pass eval": dict(agreement_pass="eval"),
    "--tipping-rule bkd": dict(tipping_rule="bkd"),
    "--otsu bkd": dict(otsu="bkd"),
    "--augment bkd": dict(augment="bkd"),
    "--arch preact_resnet18_standard": dict(arch="preact_resnet18_standard"),
}
SMOKE = ["authors (default)", "--detach-target", "--agreement-pass eval", "--tipping-rule bkd", "--otsu bkd"]


def one(cfg: TrainConfig, data) -> dict:
    tr_idx, va_idx = split_indices(data.y_noisy, cfg.val_fraction, cfg.subset, cfg.seed)
    tr = Trainer(data, cfg, tr_idx, va_idx)
    while tr.epoch < tr.cfg.epochs: tr.run_epoch()
    det, full = tr.detection(), tr.detection_full()
    return dict(tipping_epoch=det["epoch"] if det["tipping_found"] else None, forced=bool(tr.tipping.forced),
                f1_train_split=det["scores"]["f1"], f1_full=full["scores"]["f1"],
                acc_last=tr.history[-1].test_accuracy, acc_best_val=tr.best["test_accuracy"], best_epoch=tr.best["epoch"],
                student_weights=torch.cat([p.detach().flatten() for p in tr.student.parameters()]))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--noise", default="sym:0.4")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root", default=None)
    p.add_argument("--labels", default=None)
    p.add_argument("--arch", default="tiny_cnn")
    p.add_argument("--subset", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--variants", default=",".join(SMOKE), help="comma-separated names from VARIANTS")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    names = [v.strip() for v in a.variants.split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or names[0] != "authors (default)":
        p.error(f"variants must start with 'authors (default)' and come from: {', '.join(VARIANTS)}")
    data = load_dataset(a.dataset, a.noise, data_root=a.data_root, labels=a.labels, seed=0)
    runs = {}
    t0 = time.time()
    for name in names:
        change = VARIANTS[name]
        for seed in range(a.seeds):
            cfg = dataclasses.replace(TrainConfig(dataset=a.dataset, noise=a.noise, data_root=a.data_root, labels=a.labels,
                                                  arch=a.arch, epochs=a.epochs, subset=a.subset, device=a.device,
                                                  amp=False if a.device == "cpu" else None, seed=seed), **change)
            runs[(name, seed)] = one(cfg, data)
            print(f"{name} seed {seed}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                  for k, v in runs[(name, seed)].items() if k != "student_weights"), f"({time.time() - t0:.0f} s)", flush=True)
    rows = {}
    for name in names:
        rs = [runs[(name, s)] for s in range(a.seeds)]
        row = {}
        for k in ("f1_train_split", "f1_full", "acc_last", "acc_best_val"):
            v = np.array([r[k] for r in rs]); row[k] = [float(v.mean()), float(v.std())]
        row["tipping_epochs"] = [r["tipping_epoch"] for r in rs]
        row["forced"] = [r["forced"] for r in rs]
        row["max_student_weight_difference_vs_default"] = [
            float((r["student_weights"] - runs[("authors (default)", s)]["student_weights"]).abs().max()) for s, r in enumerate(rs)]
        rows[name] = row
    res = dict(setting=dict(dataset=a.dataset, noise=a.noise, arch=a.arch, epochs=a.epochs, seeds=a.seeds, subset=a.subset,
                            torch=torch.__version__), variants=rows, seconds=round(time.time() - t0, 1))
    if a.out: Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
