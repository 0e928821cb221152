"""Benchmark of `bkd detect --features` at scale: wall time and peak memory on synthetic embeddings (not a test).

Synthetic float32 embeddings, `--rows` x `--dim` (default 1,000,000 x 512), of `--classes` Gaussian blobs, with
`--noise` (default 20 %) of the labels moved to another class at random (`bkd.noise.symmetric_noise`). The features are
generated in chunks straight into one float32 matrix, then found wrong labels in one training run the way the command
line does (`features_dataset(..., inplace=True)`, then `detect` with `features="given"`: MLP heads, 60 epochs at most,
stopping at the tipping point). With `--from-file` the matrix is saved as .npy and `detect_embeddings` reads it back,
as `bkd detect --features FILE --labels FILE --out DIR` does (the write is not timed; the folder needs the space).

It prints one line per phase and a JSON summary (also written to `--out`): wall seconds of each phase, peak resident
memory of the process (`resource.getrusage`, ru_maxrss), that peak over the size of the feature matrix itself and over
the memory held before the matrix was made, the peak of NumPy's allocations during detection (`tracemalloc`), and the
detection's precision/recall/F1 and precision at k = number of wrong labels.

    python scripts/bench_embeddings.py --rows 50000          # a small run (minutes on two busy cores)
    python scripts/bench_embeddings.py                       # the 1,000,000 x 512 run
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bkd.core import resolve_device                                    # noqa: E402
from bkd.noise import symmetric_noise                                  # noqa: E402
from bkd.detect import detect, detect_config                           # noqa: E402
from bkd.embeddings import detect_embeddings, features_dataset         # noqa: E402
from bkd.config import GIVEN_FEATURES                                   # noqa: E402


def peak_rss_bytes() -> int:
    "The peak resident set size of this process so far (ru_maxrss: KiB on Linux, bytes on macOS)."
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if sys.platform == "darwin" else r * 1024)


def current_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024
    except OSError: pass
    return peak_rss_bytes()


def synthetic(rows: int, dim: int, classes: int, noise: float, seed: int, chunk: int = 65536):
    "Float32 embeddings of `classes` blobs (written chunk by chunk into one matrix), the true and the noisy labels."
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4 / np.sqrt(2), (classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, rows)
    x = np.empty((rows, dim), np.float32)
    for i in range(0, rows, chunk):
        b = x[i:i + chunk]
        rng.standard_normal(b.shape, dtype=np.float32, out=b)
        b += centres[y[i:i + chunk]]
    return x, y, symmetric_noise(y, noise, classes, seed=seed)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="number of embeddings (default %(default)s)")
    p.add_argument("--dim", type=int, default=512, help="embedding dimension (default %(default)s)")
    p.add_argument("--classes", type=int, default=10, help="default %(default)s")
    p.add_argument("--noise", type=float, default=0.2, help="share of labels moved to another class (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128, help="training batch size (default %(default)s, as bkd detect)")
    p.add_argument("--epochs", type=int, help="most epochs (default: bkd detect's, 60, stopping at the tipping point)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core); 1 is faster on cores "
                   "that other work keeps busy")
    p.add_argument("--from-file", action="store_true", help="save the matrix as .npy and run detect_embeddings on it")
    p.add_argument("--tmp", help="folder for --from-file (default: the system's temporary folder)")
    p.add_argument("--out", default="bench_embeddings.json", help="JSON summary (default %(default)s)")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)

    base = current_rss_bytes()
    t0 = time.perf_counter()
    x, y, yn = synthetic(a.rows, a.dim, a.classes, a.noise, a.seed)
    t_gen = time.perf_counter() - t0
    feat_bytes = x.nbytes
    wrong = yn != y
    print(f"generated {a.rows} x {a.dim} float32 ({feat_bytes / 2**30:.2f} GiB), {wrong.mean():.1%} wrong labels "
          f"in {t_gen:.1f} s", flush=True)
    cfg = detect_config(features=GIVEN_FEATURES, batch_size=a.batch_size, epochs=a.epochs, seed=a.seed, device=a.device)
    tracemalloc.start()
    t1 = time.perf_counter()
    if a.from_file:
        with tempfile.TemporaryDirectory(dir=a.tmp) as d:
            np.save(Path(d) / "f.npy", x); np.save(Path(d) / "y.npy", yn)
            del x
            t1 = time.perf_counter()
            s = detect_embeddings(Path(d) / "f.npy", Path(d) / "y.npy", Path(d) / "report", cfg=cfg, progress=False,
                                  log=lambda *m: print(*m, flush=True))
            rep = __import__("pandas").read_csv(Path(d) / "report" / "label_issues.csv")
            ranked = rep["index"].to_numpy()
            flagged = np.zeros(a.rows, bool); flagged[ranked[rep["is_label_issue"].to_numpy()]] = True
            groups = np.zeros(a.rows, np.int8); groups[ranked] = rep["group"].to_numpy()
            info = dict(tipping_found=s["tipping_found"], epoch=s["detection_epoch"], epochs_trained=s["epochs_trained"])
    else:
        data = features_dataset(x, yn, inplace=True)             # the matrix is ours: standardised in place, no copy
        res = detect(data, cfg, progress=False, log=lambda *m: print(*m, flush=True))
        ranked, flagged, groups = res.ranked(), res.is_label_issue, res.groups
        info = dict(tipping_found=res.tipping_found, epoch=res.epoch, epochs_trained=res.epochs_trained)
    t_detect = time.perf_counter() - t1
    _, np_peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
    peak = peak_rss_bytes()
    k = int(wrong.sum())
    tp = int((flagged & wrong).sum())
    out = dict(
        machine=dict(cores=os.cpu_count(), torch_threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine(),
                     torch=torch.__version__, python=platform.python_version(), device=str(resolve_device(a.device))),
        config=dict(rows=a.rows, dim=a.dim, classes=a.classes, noise=a.noise, seed=a.seed, batch_size=cfg.batch_size,
                    from_file=a.from_file),
        seconds=dict(generate=round(t_gen, 1), detect=round(t_detect, 1)),
        memory_mb=dict(features=round(feat_bytes / 2**20), peak_rss=round(peak / 2**20), before=round(base / 2**20),
                       peak_over_features=round((peak - feat_bytes) / 2**20),
                       peak_over_features_and_before=round((peak - feat_bytes - base) / 2**20),
                       numpy_peak_during_detect=round(np_peak / 2**20)),
        detection=dict(**info, n_wrong=k, n_flagged=int(flagged.sum()), precision=tp / max(int(flagged.sum()), 1),
                       recall=tp / max(k, 1), precision_at_k=float(wrong[ranked[:k]].mean())),
    )
    d = out["detection"]; d["f1"] = 2 * d["precision"] * d["recall"] / max(d["precision"] + d["recall"], 1e-12)
    below = groups >= 3                        # every label below the Otsu threshold (--noisy-groups 3,4)
    tp3 = int((below & wrong).sum())
    d["groups_3_4"] = dict(n_flagged=int(below.sum()), precision=tp3 / max(int(below.sum()), 1), recall=tp3 / max(k, 1))
    print(f"detect: {t_detect:.1f} s ({info['epochs_trained']} epochs, detection at epoch {info['epoch']}); peak RSS "
          f"{peak / 2**20:.0f} MiB = features {feat_bytes / 2**20:.0f} MiB + {(peak - feat_bytes) / 2**20:.0f} MiB "
          f"(of which {base / 2**20:.0f} MiB before the matrix); precision@{k} {d['precision_at_k']:.3f}, "
          f"F1 {d['f1']:.3f} (group 4; groups 3 and 4: precision {d['groups_3_4']['precision']:.3f}, recall "
          f"{d['groups_3_4']['recall']:.3f})", flush=True)
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
