"""Build the miniature data folder of the paper-scale rehearsal (`make paper SCALE=paper REHEARSE=1`).

The paper scale reads the official CIFAR-10/100 python archives and the CIFAR-N label files. This script writes the
same files in the same format, in miniature, so that the whole paper pipeline can run on a CPU in minutes:

- `cifar-10-python.tar.gz`: `cifar-10-batches-py/` with `data_batch_1..5`, `test_batch` and `batches.meta`, pickled
  dicts with the official keys (`data` uint8 rows of 3072 = 3 x 32 x 32 planes, `labels`, `batch_label`,
  `filenames`; `label_names`), the images taken from the JPEG copy of CIFAR-10 (`cifar10-jpeg.tar.gz`): the first
  `--per-class` training images of every class, in the original training order, and `--test-per-class` test images;
- `cifar-100-python.tar.gz`: `cifar-100-python/` with `train`, `test` (`fine_labels`, `coarse_labels`) and `meta`
  (`fine_label_names`, `coarse_label_names`): synthetic images (a class colour plus noise), since no CIFAR-100 images
  are in the offline data; its labels are those of real CIFAR-100N images, `--per-class-100` per noisy fine label;
- `cifar-n/CIFAR-10_human.pt`, `cifar-n/CIFAR-100_human.pt`: the real CIFAR-N label files cut to the miniature's
  images (a dict of int64 NumPy arrays, written with torch.save like the originals).

None of these files has the published checksums or the 50,000 training images: the rehearsal scale reads them with
`miniature=True` (a warning says so, and every run's config.json records it). `manifest.json` lists what was built.

Usage: python scripts/paper_miniature.py --out DIR [--data ../shared/data] [--per-class 10] [--test-per-class 5]
"""
from __future__ import annotations

import argparse
import io
import json
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _add(tar: tarfile.TarFile, name: str, obj) -> None:
    data = pickle.dumps(obj, protocol=2)
    info = tarfile.TarInfo(name); info.size = len(data); info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _rows(x: np.ndarray) -> np.ndarray:
    "(N, 32, 32, 3) uint8 -> the official (N, 3072) rows: the red, green and blue planes one after the other."
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), -1))


def _write_archive(path: Path, members: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items(): _add(tar, name, obj)


def _jpegs(tar_path: Path, wanted: set[str]) -> dict[str, np.ndarray]:
    "Decode the members named in `wanted` of the JPEG tarball (one sequential pass)."
    from PIL import Image
    out = {}
    with tarfile.open(tar_path, "r:gz") as tar:
        for m in tar:
            if m.name in wanted:
                out[m.name] = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"), np.uint8)
                if len(out) == len(wanted): break
    missing = wanted - set(out)
    if missing: raise SystemExit(f"paper_miniature: {tar_path} lacks {sorted(missing)[:3]} ...")
    return out


def _save_labels(d: dict, path: Path) -> None:
    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: np.asarray(v, np.int64) for k, v in d.items()}, path)


def build(data, out, per_class: int = 10, test_per_class: int = 5, per_class_100: int = 4, seed: int = 0) -> dict:
    "Write the miniature archives and CIFAR-N files below `out` from the offline data in `data`; returns the manifest."
    import torch
    from bkd.data import load_cifarn_labels
    data, out = Path(data), Path(out)
    # CIFAR-10: the first `per_class` training images of each class; folder file k of class c is the k-th image of
    # class c in the original order (the offline data's README), i.e. original index flatnonzero(clean == c)[k]
    c10 = load_cifarn_labels(data / "cifar-n" / "CIFAR-10_human.pt")
    clean = c10["clean_label"]
    picks = {int(i): (c, k) for c in range(10) for k, i in enumerate(np.flatnonzero(clean == c)[:per_class])}
    idx = np.array(sorted(picks))                       # the miniature keeps the original order
    names = {f"train/{CIFAR10_CLASSES[c]}/{k:04d}.jpg" for c, k in picks.values()}
    test_names = [f"test/{CIFAR10_CLASSES[c]}/{k:04d}.jpg" for k in range(test_per_class) for c in range(10)]
    img = _jpegs(data / "cifar10-jpeg.tar.gz", names | set(test_names))
    x = np.stack([img[f"train/{CIFAR10_CLASSES[picks[i][0]]}/{picks[i][1]:04d}.jpg"] for i in idx])
    y = clean[idx]
    xt = np.stack([img[n] for n in test_names]); yt = np.array([CIFAR10_CLASSES.index(n.split("/")[1]) for n in test_names])
    batches = np.array_split(np.arange(len(idx)), 5)
    members = {f"cifar-10-batches-py/data_batch_{b + 1}": dict(batch_label=f"training batch {b + 1} of 5 (miniature)",
               labels=[int(v) for v in y[rows]], data=_rows(x[rows]), filenames=[f"mini_{int(i)}.png" for i in idx[rows]])
               for b, rows in enumerate(batches)}
    members["cifar-10-batches-py/test_batch"] = dict(batch_label="testing batch 1 of 1 (miniature)",
                                                    labels=[int(v) for v in yt], data=_rows(xt),
                                                    filenames=[n.replace("/", "_") for n in test_names])
    members["cifar-10-batches-py/batches.meta"] = dict(label_names=CIFAR10_CLASSES, num_cases_per_batch=len(batches[0]),
                                                      num_vis=3072)
    _write_archive(out / "cifar-10-python.tar.gz", members)
    _save_labels({k: v[idx] for k, v in c10.items()}, out / "cifar-n" / "CIFAR-10_human.pt")
    # CIFAR-100: labels of real CIFAR-100N images, `per_class_100` per noisy fine label (so that every class keeps
    # enough samples for the 3-fold CE after the validation split), synthetic pixels
    c100 = load_cifarn_labels(data / "cifar-n" / "CIFAR-100_human.pt")
    noisy = c100["noisy_label"]
    idx100 = np.sort(np.concatenate([np.flatnonzero(noisy == c)[:per_class_100] for c in range(100)]))
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 256, size=(100, 1, 1, 3))

    def synth(labels):
        noise = rng.normal(0, 40, size=(len(labels), 32, 32, 3))
        return np.clip(colour[labels] + noise, 0, 255).astype(np.uint8)
    fine, coarse = c100["clean_label"][idx100], c100["clean_coarse_label"][idx100]
    # the test set: one image per fine class, its coarse label the one CIFAR-100N gives that fine class
    coarse_of = {int(f): int(c) for f, c in zip(c100["clean_label"], c100["clean_coarse_label"])}
    yt100 = np.arange(100)
    _write_archive(out / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": dict(batch_label="training batch 1 of 1 (miniature)", fine_labels=[int(v) for v in fine],
                                       coarse_labels=[int(v) for v in coarse], data=_rows(synth(fine)),
                                       filenames=[f"mini_{int(i)}.png" for i in idx100]),
        "cifar-100-python/test": dict(batch_label="testing batch 1 of 1 (miniature)", fine_labels=[int(v) for v in yt100],
                                      coarse_labels=[coarse_of[int(v)] for v in yt100], data=_rows(synth(yt100)),
                                      filenames=[f"mini_test_{i}.png" for i in range(100)]),
        "cifar-100-python/meta": dict(fine_label_names=[f"synthetic_{i:02d}" for i in range(100)],
                                      coarse_label_names=[f"synthetic_super_{i:02d}" for i in range(20)]),
    })
    _save_labels({k: v[idx100] for k, v in c100.items()}, out / "cifar-n" / "CIFAR-100_human.pt")
    manifest = dict(what="miniature of the paper scale's data (scripts/paper_miniature.py); NOT the official files",
                    source=str(data), cifar10_train=len(idx), cifar10_test=len(yt), cifar100_train=len(idx100),
                    cifar100_test=100, cifar10_original_indices=idx.tolist(), cifar100_original_indices=idx100.tolist())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Build the miniature CIFAR-10/100 and CIFAR-N files of the paper-scale rehearsal.")
    p.add_argument("--out", required=True, help="folder to write (the rehearsal's --data)")
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"), help="the offline data folder")
    p.add_argument("--per-class", type=int, default=10, help="CIFAR-10 training images per class (default 10)")
    p.add_argument("--test-per-class", type=int, default=5, help="CIFAR-10 test images per class (default 5)")
    p.add_argument("--per-class-100", type=int, default=4, help="CIFAR-100 training images per noisy label (default 4)")
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    m = build(a.data, a.out, a.per_class, a.test_per_class, a.per_class_100)
    print(f"paper_miniature: {m['cifar10_train']} + {m['cifar10_test']} CIFAR-10 and {m['cifar100_train']} + "
          f"{m['cifar100_test']} CIFAR-100 images with their CIFAR-N labels in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
