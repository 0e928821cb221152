#!/usr/bin/env python
"""BKD's label-issue detection next to cleanlab's on CIFAR-10N (real human labels), same network and epoch budget.

On a seeded, stratified subset of the CIFAR-10 training images with the CIFAR-10N *worst* labels (about 40 % wrong):

* BKD: `bkd.detect.detect` trains teacher and blind student on every image and stops at the tipping point; the
  ranking is `p_agree` ascending, the flagged set is Otsu group 4.
* cleanlab: out-of-sample probabilities from K-fold cross-entropy training of the same network with the same
  settings (`bkd.baselines.cross_val_pred_probs`), for as many epochs as BKD trained (default), then
  `cleanlab.filter.find_label_issues` (`bkd.baselines.cleanlab_issues`) for the flagged set and cleanlab's
  self-confidence label-quality score (`cleanlab.rank.get_label_quality_scores`) for the ranking.

Compute is matched: BKD trains two networks on N images per epoch, K-fold CE trains K networks on (K-1)/K * N
images each, i.e. 2 * N image-passes per epoch for K = 3. Reported: precision of the k most suspicious labels
(k = 100, 500, 1000) and precision/recall/F1 of each flagged set, against the true CIFAR-10 labels.

Usage: python scripts/compare_cleanlab.py [--data ../shared/data] [--subset 5000] [--epochs 16] [--seed 0] [--out DIR]
(about 10 to 20 minutes on a 2-core CPU with the defaults)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bkd.baselines import cleanlab_issues, cross_val_pred_probs
from bkd.core import save_json
from bkd.data import load_dataset, split_indices
from bkd.detect import detect, detect_config, images_dataset
from bkd.metrics import detection_scores


def precision_at(ranking: np.ndarray, is_noisy: np.ndarray, ks) -> dict:
    "Share of truly wrong labels among the first k of `ranking`, for each k."
    return {int(k): float(is_noisy[ranking[:k]].mean()) for k in ks if k <= len(ranking)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data", help="folder with cifar10-jpeg.tar.gz and cifar-n/CIFAR-10_human.pt")
    p.add_argument("--noise", default="worst", help="CIFAR-10N label set (default %(default)s)")
    p.add_argument("--subset", type=int, default=5000, help="seeded stratified subset of the 50,000 training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch", default="tiny_cnn")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=16, help="BKD's epoch budget; the learning rate drops x0.1 after half of it, and BKD stops at the tipping point (default %(default)s)")
    p.add_argument("--ce-epochs", type=int, help="epochs of each K-fold CE network (default: the epochs BKD trained)")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--ks", default="100,500,1000")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's, all cores)")
    p.add_argument("--cache-dir", help="cache for the decoded tarball (default $BKD_CACHE or ~/.cache/bkd)")
    p.add_argument("--out", default="paper/runs/detect_vs_cleanlab", help="folder for results.json")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    ks = [int(k) for k in a.ks.split(",")]
    data = Path(a.data)
    t0 = time.time()
    c10 = load_dataset("folder", a.noise, data_root=data / "cifar10-jpeg.tar.gz", labels=data / "cifar-n/CIFAR-10_human.pt",
                       cache_dir=a.cache_dir, progress=False)
    sub, _ = split_indices(c10.y_noisy, 0.0, subset=a.subset, seed=a.seed)
    wrong = c10.is_noisy[sub]
    y = c10.y_noisy[sub]
    print(f"CIFAR-10N {a.noise}: {len(sub)} images, {100 * wrong.mean():.2f} % wrong labels (loaded in {time.time() - t0:.0f} s)",
          flush=True)

    # BKD, on the subset, with CIFAR-10's normalisation (as the CE networks below)
    cfg = detect_config(arch=a.arch, batch_size=a.batch_size, lr=a.lr, epochs=a.epochs, seed=a.seed, device="cpu")
    ds = dataclasses.replace(images_dataset(c10.x_train[sub], y, c10.classes, y_clean=c10.y_clean[sub]),
                             mean=c10.mean, std=c10.std)
    t0 = time.time()
    res = detect(ds, cfg, progress=True)
    t_bkd = time.time() - t0
    bkd = dict(precision_at_k=precision_at(res.ranked(), wrong, ks), flagged=detection_scores(res.is_label_issue, wrong),
               tipping_found=res.tipping_found, detection_epoch=res.epoch, epochs_trained=res.epochs_trained,
               seconds=round(t_bkd, 1))
    print("BKD:", json.dumps(bkd), flush=True)

    # cleanlab on K-fold out-of-sample CE probabilities, same network and settings, same number of epochs
    ce_epochs = a.ce_epochs or res.epochs_trained
    ce_cfg = dataclasses.replace(cfg.resolve(), epochs=ce_epochs)      # the same lr schedule (lr_step) as BKD's
    t0 = time.time()
    probs = cross_val_pred_probs(c10, sub, ce_cfg, folds=a.folds, seed=a.seed, progress=True)
    mask = cleanlab_issues(y, probs)
    from cleanlab.rank import get_label_quality_scores
    quality = get_label_quality_scores(y, probs / probs.sum(1, keepdims=True))     # self-confidence
    t_cl = time.time() - t0
    cl = dict(precision_at_k=precision_at(np.argsort(quality, kind="stable"), wrong, ks),
              flagged=detection_scores(mask, wrong), epochs=ce_epochs, folds=a.folds,
              oos_accuracy_vs_true=float((probs.argmax(1) == c10.y_clean[sub]).mean()), seconds=round(t_cl, 1))
    print("cleanlab:", json.dumps(cl), flush=True)

    import cleanlab
    out = dict(command=" ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
               machine=f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, "
                       f"cleanlab {cleanlab.__version__}",
               n=int(len(sub)), noise=a.noise, noise_rate=float(wrong.mean()), config=cfg.resolve().to_dict(),
               bkd=bkd, cleanlab=cl)
    save_json(out, Path(a.out) / "results.json")
    print("\n| method | " + " | ".join(f"precision@{k}" for k in ks) + " | flagged | precision | recall | F1 | seconds |")
    print("|---|" + "---|" * (len(ks) + 5))
    for name, r in [("BKD (p_agree, group 4)", bkd), (f"cleanlab ({a.folds}-fold CE)", cl)]:
        f = r["flagged"]
        print(f"| {name} | " + " | ".join(f"{r['precision_at_k'].get(k, float('nan')):.3f}" for k in ks)
              + f" | {f['n_flagged']} | {f['precision']:.3f} | {f['recall']:.3f} | {f['f1']:.3f} | {r['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
