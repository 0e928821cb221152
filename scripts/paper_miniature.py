"""Build the miniature data folder of the paper-scale rehearsal (`make paper SCALE=paper REHEARSE=1`).

The paper scale reads the official CIFAR-10/100 python archives and the CIFAR-N label files. This script writes the
same files in the same format, in miniature, so that the whole paper pipeline runs on a CPU in minutes:

- `cifar-10-python.tar.gz`: `cifar-10-batches-py/` with `data_batch_1..5`, `test_batch` and `batches.meta`, pickled
  dicts with the official keys (`data` uint8 rows of 3072 = 3 x 32 x 32 planes, `labels`, `batch_label`,
  `filenames`; `label_names`), the images taken from the JPEG copy of CIFAR-10 (`cifar10-jpeg.tar.gz`), in the
  original training order, and one test image per class;
- `cifar-100-python.tar.gz`: `cifar-100-python/` with `train`, `test` (`fine_labels`, `coarse_labels`) and `meta`
  (`fine_label_names`, `coarse_label_names`): synthetic images (a class colour plus noise), since no CIFAR-100 images
  are in the offline data; its labels are those of real CIFAR-100N images; one test image per fine class that the
  training labels use;
- `cifar-n/CIFAR-10_human.pt`, `cifar-n/CIFAR-100_human.pt`: the real CIFAR-N label files cut to the miniature's
  images (a dict of int64 NumPy arrays, written with torch.save like the originals).

Which images: `--group` images (default 4) of each of a few *label patterns*, a pattern being an image's clean label
together with its label in every noisy label set of the file: the two most frequent noise-free patterns, then, for
each noisy label set that no pattern so far is noisy in, the most frequent pattern that is (CIFAR-10N: 16 images, a
quarter of them mislabelled in aggre, rand1, rand2 and rand3, half in worst; CIFAR-100N: 16 images, half mislabelled).
Every noisy label of every label set is thereby shared by a multiple of `--group` images, so that after the
validation split each class keeps the three samples that 3-fold CE needs, with as few images as PreAct ResNet-18
can be trained on in seconds.

None of these files has the published checksums or the 50,000 training images: the rehearsal scale reads them with
`miniature=True` (a warning says so, and every run's config.json records it). `manifest.json` lists what was built.

Usage: python scripts/paper_miniature.py --out DIR [--data ../shared/data] [--group 4]
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


def _patterns(labels: np.ndarray, group: int, cover, noisy: int = 2) -> list[tuple]:
    """Label patterns (rows of `labels`: column 0 the clean label, the others noisy label sets) to take `group` images
    of: the two most frequent patterns without noise; then, for each column in `cover` that no chosen pattern is noisy
    in, the most frequent pattern noisy there; then more of the most frequent noisy patterns until `noisy` are chosen.
    Only patterns shared by at least `group` images count; ties go to the smaller labels."""
    pats, counts = np.unique(labels, axis=0, return_counts=True)
    pats = [tuple(int(v) for v in pats[i]) for i in np.argsort(-counts, kind="stable") if counts[i] >= group]
    is_noisy = lambda p: len(set(p)) > 1
    chosen = [p for p in pats if not is_noisy(p)][:2]
    for col in cover:
        if not any(p[col] != p[0] for p in chosen): chosen.append(next(p for p in pats if p[col] != p[0]))
    chosen += [p for p in pats if is_noisy(p) and p not in chosen][:max(0, noisy - sum(map(is_noisy, chosen)))]
    return chosen


def _take(labels: np.ndarray, patterns, group: int) -> np.ndarray:
    "Sorted original indices: the first `group` images (in the original order) of each label pattern."
    return np.sort(np.concatenate([np.flatnonzero((labels == p).all(1))[:group] for p in patterns]))


CIFAR10N_SETS = ["clean_label", "aggre_label", "random_label1", "random_label2", "random_label3", "worse_label"]
CIFAR100N_SETS = ["clean_label", "noisy_label"]


def build(data, out, group: int = 4, seed: int = 0) -> dict:
    "Write the miniature archives and CIFAR-N files below `out` from the offline data in `data`; returns the manifest."
    from bkd.noise import load_cifarn_labels
    data, out = Path(data), Path(out)
    # CIFAR-10: training file k of class c in the JPEG copy is the k-th image of class c in the original order (the
    # offline data's README), i.e. original index i is train/<class>/<number of earlier images of its class>.jpg
    c10 = load_cifarn_labels(data / "cifar-n" / "CIFAR-10_human.pt")
    clean = c10["clean_label"]
    labels10 = np.stack([c10[k] for k in CIFAR10N_SETS], 1)
    patterns10 = _patterns(labels10, group, range(1, len(CIFAR10N_SETS)))
    idx = _take(labels10, patterns10, group)
    train_names = [f"train/{CIFAR10_CLASSES[clean[i]]}/{int(np.sum(clean[:i] == clean[i])):04d}.jpg" for i in idx]
    test_names = [f"test/{c}/0000.jpg" for c in CIFAR10_CLASSES]
    img = _jpegs(data / "cifar10-jpeg.tar.gz", set(train_names) | set(test_names))
    x, y = np.stack([img[n] for n in train_names]), clean[idx]
    xt, yt = np.stack([img[n] for n in test_names]), np.arange(10)
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
    # CIFAR-100: the labels of real CIFAR-100N images (fine labels choose the patterns; coarse ones follow), synthetic
    # pixels; the test set: one image per fine class of the training labels, its coarse label the one CIFAR-100N gives
    c100 = load_cifarn_labels(data / "cifar-n" / "CIFAR-100_human.pt")
    labels100 = np.stack([c100[k] for k in CIFAR100N_SETS], 1)
    patterns100 = _patterns(labels100, group, [1])
    idx100 = _take(labels100, patterns100, group)
    rng = np.random.default_rng(seed)
    colour = rng.integers(0, 256, size=(100, 1, 1, 3))

    def synth(labels):
        noise = rng.normal(0, 40, size=(len(labels), 32, 32, 3))
        return np.clip(colour[labels] + noise, 0, 255).astype(np.uint8)
    fine, coarse = c100["clean_label"][idx100], c100["clean_coarse_label"][idx100]
    coarse_of = {int(f): int(c) for f, c in zip(c100["clean_label"], c100["clean_coarse_label"])}
    yt100 = np.unique(labels100[idx100])
    _write_archive(out / "cifar-100-python.tar.gz", {
        "cifar-100-python/train": dict(batch_label="training batch 1 of 1 (miniature)", fine_labels=[int(v) for v in fine],
                                       coarse_labels=[int(v) for v in coarse], data=_rows(synth(fine)),
                                       filenames=[f"mini_{int(i)}.png" for i in idx100]),
        "cifar-100-python/test": dict(batch_label="testing batch 1 of 1 (miniature)", fine_labels=[int(v) for v in yt100],
                                      coarse_labels=[coarse_of[int(v)] for v in yt100], data=_rows(synth(yt100)),
                                      filenames=[f"mini_test_{i}.png" for i in range(len(yt100))]),
        "cifar-100-python/meta": dict(fine_label_names=[f"synthetic_{i:02d}" for i in range(100)],
                                      coarse_label_names=[f"synthetic_super_{i:02d}" for i in range(20)]),
    })
    _save_labels({k: v[idx100] for k, v in c100.items()}, out / "cifar-n" / "CIFAR-100_human.pt")
    manifest = dict(what="miniature of the paper scale's data (scripts/paper_miniature.py); NOT the official files",
                    source=str(data), group=group, cifar10_train=len(idx), cifar10_test=len(yt),
                    cifar100_train=len(idx100), cifar100_test=len(yt100),
                    cifar10_patterns=dict(labels=CIFAR10N_SETS, patterns=[list(p) for p in patterns10]),
                    cifar100_patterns=dict(labels=CIFAR100N_SETS, patterns=[list(p) for p in patterns100]),
                    cifar10_original_indices=idx.tolist(), cifar100_original_indices=idx100.tolist())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Build the miniature CIFAR-10/100 and CIFAR-N files of the paper-scale rehearsal.")
    p.add_argument("--out", required=True, help="folder to write (the rehearsal's --data)")
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"), help="the offline data folder")
    p.add_argument("--group", type=int, default=4, help="training images per label pattern (default 4)")
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    m = build(a.data, a.out, a.group)
    print(f"paper_miniature: {m['cifar10_train']} + {m['cifar10_test']} CIFAR-10 and {m['cifar100_train']} + "
          f"{m['cifar100_test']} CIFAR-100 images with their CIFAR-N labels in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
