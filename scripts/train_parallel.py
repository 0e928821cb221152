"""Train one scale's runs in several processes at once (what `paper/00_train` trains one after another).

Each (label set, seed) is one `bkd.experiments.train_one` call writing the same result folder the paper notebooks
read, so `make paper SCALE=...` afterwards finds every result cached and only draws the figures and tables. Small
networks (the MLP heads of the cpu scale) use two cores better as two single-threaded processes than as one
two-threaded one.

Usage: python scripts/train_parallel.py --scale cpu [--data DIR] [--runs DIR] [--jobs 2] [--noises worst,aggre,rand1]
       [--seeds 0,1,2] [--variants unswitched,detached] [--parts bkd,variants,ce,kfold]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _one(args):
    scale, data, runs, si, noise, seed, threads, variants, parts = args
    import torch
    torch.set_num_threads(threads)
    from bkd.experiments import scale_settings, train_one
    s = scale_settings(scale)[si]
    t0 = time.time()
    train_one(s, noise, data, runs, progress=False, log=lambda m: print(f"[pid {os.getpid()}] {m}", flush=True), seed=seed,
              variants=variants, parts=parts)
    return s.key(noise, seed), time.time() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", required=True)
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--runs", help="default paper/runs/<scale>")
    p.add_argument("--jobs", type=int, default=2, help="processes at once (default 2), each with cores/jobs threads")
    p.add_argument("--noises", help="label sets, comma-separated, in the order to train them (default: the setting's)")
    p.add_argument("--seeds", help="seeds, comma-separated (default: the setting's)")
    p.add_argument("--variants", help="BKD variants to train, comma-separated ('' for none; default: the setting's)")
    p.add_argument("--threads", type=int, help="threads per process (default: cores / jobs; 1 when other work shares the cores)")
    p.add_argument("--parts", help="what to train, comma-separated, of bkd, variants, ce, kfold (default: all)")
    a = p.parse_args(argv)
    os.chdir(ROOT)
    from bkd.experiments import paper_paths, scale_settings
    P = paper_paths(a.scale, a.data, a.runs)
    threads = a.threads if a.threads is not None else max(1, (os.cpu_count() or 1) // a.jobs)
    if threads < 1: p.error("--threads must be at least 1")
    pick = lambda arg, have: list(have) if arg is None else [x for x in arg.split(",") if x]
    variants = None if a.variants is None else pick(a.variants, ())
    parts = None if a.parts is None else pick(a.parts, ())
    from bkd.experiments import TRAIN_PARTS
    if parts is not None and (bad := [x for x in parts if x not in TRAIN_PARTS]):
        p.error(f"unknown part(s) {', '.join(bad)}: use {', '.join(TRAIN_PARTS)}")
    # seed by seed, so that the first seed of every label set is done first
    todo = [(a.scale, str(P.data), str(P.runs), si, n, seed, threads, variants, parts)
            for si, s in enumerate(scale_settings(a.scale))
            for seed in [int(x) for x in pick(a.seeds, s.seeds)] if seed in s.seeds
            for n in pick(a.noises, s.noises) if n in s.noises]
    if not todo: p.error("no run left: --noises and --seeds name none of the scale's label sets and seeds")
    t0 = time.time()
    with ProcessPoolExecutor(a.jobs) as ex:
        for key, sec in ex.map(_one, todo):
            print(f"{key}: {sec:.0f} s (total {time.time() - t0:.0f} s)", flush=True)
    print(f"all {len(todo)} runs in {time.time() - t0:.0f} s with {a.jobs} processes of {threads} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
