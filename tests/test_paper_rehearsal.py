"""The paper scale rehearsed end to end on the CPU (`scripts/run_paper.py --scale paper-rehearsal`).

The rehearsal runs the paper scale's code path (CIFAR-10 and CIFAR-100 through `load_cifar` from archives in the
official python format, the five CIFAR-10N label sets and CIFAR-100N, PreAct ResNet-18, every method and every
notebook in `paper/`) with only the sizes shrunk, on miniature data that `scripts/paper_miniature.py` builds here from
the offline data: the JPEG copy of CIFAR-10 and the real CIFAR-N label files (CIFAR-100's pixels are synthetic).
Everything is written to temporary folders; the run-info block goes to a copy of `paper/README.md`.
"""
import importlib.util
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
SCRIPT = ROOT / "scripts" / "run_paper.py"
SCALE = "paper-rehearsal"
LABEL_SETS = [("CIFAR-10N", n) for n in ("aggre", "rand1", "rand2", "rand3", "worst")] + [("CIFAR-100N", "noisy")]
KEYS = ["cifar10n-aggre", "cifar10n-rand1", "cifar10n-rand2", "cifar10n-rand3", "cifar10n-worst", "cifar100n-noisy"]
METHODS = ["BKD (Otsu at tipping point)", "CE low confidence (selected epoch)", "CE low confidence (last epoch)",
           "Confident learning (K-fold CE + cleanlab)", "Small-loss GMM (CE loss at tipping point)",
           "Small-loss GMM (CE loss at selected epoch)"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}


def _miniature_module():
    spec = importlib.util.spec_from_file_location("paper_miniature", ROOT / "scripts" / "paper_miniature.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    out = tmp_path_factory.mktemp("miniature")
    manifest = _miniature_module().build(DATA, out)
    return out, manifest


def _drop_checkpoints(folder):
    "The checkpoints (268 MB each, two per BKD run) are not needed once a test has read its results."
    for f in Path(folder).rglob("checkpoint*.pt"): f.unlink()


@pytest.fixture(scope="module")
def rehearsal(mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("rehearsal")
    dirs = {k: out / k for k in ("runs", "figures", "tables")}
    readme = out / "README.md"
    committed = (ROOT / "paper" / "README.md").read_text()
    readme.write_text(committed)
    t0 = time.time()
    r = subprocess.run([sys.executable, str(SCRIPT), "--scale", SCALE, "--data", str(mini[0]), "--quiet",
                        "--readme", str(readme), *[a for k, v in dirs.items() for a in (f"--{k}", str(v))]],
                       cwd=ROOT, capture_output=True, text=True, timeout=1500, env=ENV)
    assert r.returncode == 0, f"run_paper failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    yield dict(dirs, readme=readme, committed=committed, seconds=time.time() - t0, stderr=r.stderr)
    _drop_checkpoints(out)


# ---- the miniature data -------------------------------------------------------------------------------------------
def _members(archive):
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: pickle.load(tar.extractfile(m), encoding="latin1") for m in tar if m.isfile()}


def test_miniature_is_in_the_official_format(mini):
    out, manifest = mini
    c10 = _members(out / "cifar-10-python.tar.gz")
    assert sorted(c10) == sorted([f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] +
                                 ["cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"])
    assert c10["cifar-10-batches-py/batches.meta"]["label_names"][:3] == ["airplane", "automobile", "bird"]
    train = [c10[f"cifar-10-batches-py/data_batch_{i}"] for i in range(1, 6)]
    for b in train + [c10["cifar-10-batches-py/test_batch"]]:
        assert {"data", "labels", "batch_label", "filenames"} <= set(b)
        assert b["data"].dtype == np.uint8 and b["data"].shape == (len(b["labels"]), 3072)
    y = np.concatenate([b["labels"] for b in train])
    assert len(y) == manifest["cifar10_train"] == 16 and np.bincount(y, minlength=10).tolist() == [0, 4, 0, 0, 0, 0, 0, 4, 4, 4]
    test = c10["cifar-10-batches-py/test_batch"]
    assert test["labels"] == list(range(10)) and manifest["cifar10_test"] == 10
    # four label patterns (clean, aggre, rand1, rand2, rand3, worst) of four images each: two without noise, then
    # the most frequent one noisy in aggre (noisy in rand1, rand2, worst too), then the most frequent noisy in rand3
    assert manifest["cifar10_patterns"]["patterns"] == [[7] * 6, [8] * 6, [9, 1, 1, 1, 9, 1], [1, 1, 1, 1, 9, 9]]
    c100 = _members(out / "cifar-100-python.tar.gz")
    assert sorted(c100) == ["cifar-100-python/meta", "cifar-100-python/test", "cifar-100-python/train"]
    assert {"data", "fine_labels", "coarse_labels"} <= set(c100["cifar-100-python/train"])
    assert len(c100["cifar-100-python/meta"]["fine_label_names"]) == 100
    assert len(c100["cifar-100-python/meta"]["coarse_label_names"]) == 20
    import torch
    from bkd.noise import load_cifarn_labels
    real10, mini10 = load_cifarn_labels(DATA / "cifar-n/CIFAR-10_human.pt"), load_cifarn_labels(out / "cifar-n/CIFAR-10_human.pt")
    idx = np.array(manifest["cifar10_original_indices"])
    assert sorted(mini10) == sorted(real10) and all(np.array_equal(mini10[k], real10[k][idx]) for k in real10)
    assert np.array_equal(mini10["clean_label"], y)              # the archive's labels are the label file's clean ones
    noise = {k: float(np.mean(mini10[k] != y)) for k in mini10 if k != "clean_label"}
    assert noise == dict(aggre_label=.25, random_label1=.25, random_label2=.25, random_label3=.25, worse_label=.5)
    for k in mini10:        # every class of every label set: a multiple of four images, three left after validation
        assert all(c % 4 == 0 for c in np.bincount(mini10[k])), k
    raw = torch.load(out / "cifar-n/CIFAR-10_human.pt", weights_only=False)    # written like the originals
    assert all(isinstance(v, np.ndarray) and v.dtype == np.int64 for v in raw.values())
    mini100 = load_cifarn_labels(out / "cifar-n/CIFAR-100_human.pt")
    assert sorted(mini100) == ["clean_coarse_label", "clean_label", "noisy_coarse_label", "noisy_label"]
    assert np.array_equal(mini100["clean_label"], c100["cifar-100-python/train"]["fine_labels"])
    assert manifest["cifar100_patterns"]["patterns"] == [[82, 82], [20, 20], [81, 13], [32, 46]]
    counts = np.bincount(mini100["noisy_label"], minlength=100)
    assert np.flatnonzero(counts).tolist() == [13, 20, 46, 82] and set(counts[counts > 0]) == {4}
    assert np.mean(mini100["noisy_label"] != mini100["clean_label"]) == .5
    assert c100["cifar-100-python/test"]["fine_labels"] == [13, 20, 32, 46, 81, 82]    # the training labels' classes


def test_miniature_images_are_the_jpeg_copy(mini):
    "Training image k of the miniature is the original CIFAR-10 image idx[k], read from its class folder."
    from PIL import Image
    out, manifest = mini
    idx = np.array(manifest["cifar10_original_indices"])
    from bkd.noise import load_cifarn_labels
    clean = load_cifarn_labels(DATA / "cifar-n/CIFAR-10_human.pt")["clean_label"]
    first = _members(out / "cifar-10-python.tar.gz")["cifar-10-batches-py/data_batch_1"]
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with tarfile.open(DATA / "cifar10-jpeg.tar.gz", "r:gz") as tar:
        for k in (0, 3):
            c = int(clean[idx[k]]); pos = int(np.sum(clean[:idx[k]] == c))
            m = tar.getmember(f"train/{names[c]}/{pos:04d}.jpg")
            img = np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"))
            assert np.array_equal(first["data"][k].reshape(3, 32, 32).transpose(1, 2, 0), img)


def test_the_miniature_is_refused_on_a_users_path(mini):
    "Without miniature=True the published checksums and the 50,000-label check apply and refuse the miniature."
    from bkd.core import BkdError
    from bkd.datasets import load_cifar, load_dataset
    from bkd.noise import cifarn_labels, load_cifarn_labels
    out = mini[0]
    with pytest.raises(BkdError, match="md5"):
        load_cifar(out, "cifar10", download=False)
    with pytest.raises(BkdError, match="md5"):
        load_dataset("cifar100", "noisy", out, out / "cifar-n/CIFAR-100_human.pt", download=False)
    with pytest.raises(BkdError, match="has 16 labels, but cifar10 has 50000"):
        cifarn_labels(load_cifarn_labels(out / "cifar-n/CIFAR-10_human.pt"), "cifar10", "worst")
    with pytest.raises(BkdError, match="not 'digits'"):
        load_dataset("digits", "sym:0.2", miniature=True)
    with pytest.raises(BkdError, match="needs labels="):
        load_dataset("cifar10", "worst", out, miniature=True)
    with pytest.warns(UserWarning, match="MINIATURE DATA"):
        d = load_dataset("cifar10", "worst", out, out / "cifar-n/CIFAR-10_human.pt", miniature=True)
    assert d.x_train.shape == (16, 3, 32, 32) and d.x_test.shape == (10, 3, 32, 32) and d.name == "cifar10"
    assert d.noise_rate == .5 and d.num_classes == 10


# ---- the rehearsal ------------------------------------------------------------------------------------------------
def test_every_notebook_executed(rehearsal):
    nbs = sorted((ROOT / "paper").glob("[0-9]*.ipynb"))
    assert len(nbs) >= 7
    for nb in nbs:
        executed = json.loads((rehearsal["runs"] / nb.name).read_text())
        assert executed["metadata"]["papermill"]["exception"] in (None, False)
        assert executed["metadata"]["papermill"]["parameters"]["scale"] == SCALE
    print(f"\nrehearsal: {rehearsal['seconds']:.0f} s for every notebook")


def test_runs_are_the_paper_configuration_and_marked_miniature(rehearsal):
    for key, (name, noise) in zip(KEYS, LABEL_SETS):
        folder = rehearsal["runs"] / key
        summary = json.loads((folder / "bkd" / "summary.json").read_text())
        cfg = summary["config"]
        assert (cfg["dataset"], cfg["noise"], cfg["arch"]) == ("cifar100" if name == "CIFAR-100N" else "cifar10", noise,
                                                               "preact_resnet18")
        assert (cfg["epochs"], cfg["lr_step"], cfg["lr"], cfg["weight_decay"], cfg["momentum"]) == (2, 1, 0.02, 5e-4, 0.9)
        assert cfg["miniature"] is True and summary["device"] == "cpu" and summary["epochs"] == 2
        for sub in ("bkd", "ce", "kfold"):
            assert json.loads((folder / sub / "config.json").read_text())["miniature"] is True, (key, sub)
        assert (summary["n_train"], summary["n_val"]) == (14, 2)
        assert cfg["batch_size"] == 8
    executed = (rehearsal["runs"] / "00_train.ipynb").read_text()
    assert "MINIATURE DATA (paper-scale rehearsal)" in executed          # the printed warning


def test_figures(rehearsal):
    stems = ["dynamics", "dynamics_bands", "f1_per_epoch", "cifarn_transitions", "tipping_signals"] + \
            [f"agreement_{k}" for k in KEYS]
    for stem in stems:
        png, pdf = rehearsal["figures"] / f"{stem}.png", rehearsal["figures"] / f"{stem}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000, pdf


def test_tables_one_row_per_label_set_and_method(rehearsal):
    T = rehearsal["tables"]
    for name in ("detection", "accuracy", "tipping", "comparison", "cifarn_noise", "detection_summary",
                 "accuracy_summary", "tipping_summary", "agreement", "tipping_signals", "tipping_signals_summary",
                 "tipping_signals_choice"):
        for ext in (".csv", ".md", ".tex"):
            assert (T / f"{name}{ext}").stat().st_size > 100, f"{name}{ext}"
    pairs = lambda df: list(zip(df.dataset, df.noise))
    det = pd.read_csv(T / "detection.csv")
    assert pairs(det) == [p for p in LABEL_SETS for _ in METHODS] and det.method.tolist() == METHODS * 6
    assert det[["precision", "recall", "f1", "noise_estimate", "noise_true"]].apply(lambda c: c.between(0, 1)).all().all()
    acc = pd.read_csv(T / "accuracy.csv")
    assert pairs(acc) == [p for p in LABEL_SETS for _ in range(2)] and acc.method.tolist() == ["BKD (agreement)", "CE"] * 6
    assert acc.selected_epoch.between(1, 2).all()
    for name in ("tipping", "agreement", "comparison"):
        assert pairs(pd.read_csv(T / f"{name}.csv")) == LABEL_SETS, name
    summ = pd.read_csv(T / "detection_summary.csv")
    assert pairs(summ) == [p for p in LABEL_SETS for _ in METHODS] and (summ.n_seeds == 1).all()
    ts = pd.read_csv(T / "tipping_signals.csv")
    n = ts.signal.nunique()
    assert len(ts) == n * 6 and pairs(ts.drop_duplicates(["dataset", "noise"])) == LABEL_SETS
    assert set(ts[ts.role == "selection"].noise) == {"worst", "aggre"}    # the CIFAR-10N selection sets of the paper scale
    claims = (T / "claims.md").read_text()
    assert claims.startswith(f"# The paper's claims at the {SCALE} scale")
    for c in ("C1", "C2", "C3", "C4"):
        block = claims.split(f"## {c}:")[1].split("## ")[0]
        assert sum(l.startswith(("- CIFAR-10N ", "- CIFAR-100N ")) for l in block.splitlines()) == 6, c
    lines = (T / "differences.md").read_text().splitlines()
    assert sum(l.startswith(("- CIFAR-10N ", "- CIFAR-100N ")) for l in lines) == 6


def test_cifarn_table_matches_the_miniature(rehearsal, mini):
    from bkd.noise import load_cifarn_labels
    ct = pd.read_csv(rehearsal["tables"] / "cifarn_noise.csv")
    assert list(zip(ct.dataset, ct.label_set)) == [("CIFAR-10N", n) for n in ("aggre", "rand1", "rand2", "rand3", "worst")] + \
        [("CIFAR-100N", "noisy (fine)"), ("CIFAR-100N", "noisy (coarse)")]
    m10 = load_cifarn_labels(mini[0] / "cifar-n/CIFAR-10_human.pt")
    worst = ct[(ct.dataset == "CIFAR-10N") & (ct.label_set == "worst")].iloc[0]
    assert worst.n == 16 and worst.noise_rate == np.mean(m10["worse_label"] != m10["clean_label"]) == .5
    c100 = ct[ct.dataset == "CIFAR-100N"]
    assert (c100.n == 16).all() and c100.noise_rate.tolist() == [.5, .5]
    assert c100.classes.tolist() == [83, 20]         # the table counts classes up to the largest label (82 fine here)


def test_run_info_block_written_for_the_rehearsal(rehearsal):
    info = json.loads((rehearsal["tables"] / "run_info.json").read_text())
    assert info["scale"] == SCALE and f"--scale {SCALE}" in info["command"]
    assert set(info["notebook_seconds"]) == {p.stem for p in (ROOT / "paper").glob("[0-9]*.ipynb")}
    text = rehearsal["readme"].read_text()
    block = text.split(f"<!-- run_info:{SCALE}:begin -->\n")[1].split(f"<!-- run_info:{SCALE}:end -->")[0]
    assert f"--scale {SCALE}" in block and "make paper SCALE=paper REHEARSE=1" in block and "MINIATURE" in block
    assert f"{info['wall_seconds'] / 60:.1f} min" in block and "not run yet" not in block
    # only that block changed in the copy; the committed README was not touched
    committed = rehearsal["committed"]
    assert text.split(f"<!-- run_info:{SCALE}:begin -->")[0] == committed.split(f"<!-- run_info:{SCALE}:begin -->")[0]
    assert text.split(f"<!-- run_info:{SCALE}:end -->")[1] == committed.split(f"<!-- run_info:{SCALE}:end -->")[1]
    assert (ROOT / "paper" / "README.md").read_text() == committed
    assert "## What only a GPU can show (not yet run)" in committed


# ---- resume at the paper scale ------------------------------------------------------------------------------------
_TRAIN = """
import sys, torch
from bkd.experiments import scale_settings
from bkd.run import run
s = scale_settings("paper-rehearsal")[0]
torch.set_num_threads(s.threads)
run(s.config("worst", sys.argv[1]), sys.argv[2], progress=False, log=lambda *a: None)
"""


def test_killed_run_resumes_to_identical_outputs(rehearsal, mini, tmp_path):
    "A rehearsal BKD run killed (SIGKILL) after its first epoch, then started again, ends as the uninterrupted run."
    out = tmp_path / "bkd"
    p = subprocess.Popen([sys.executable, "-c", _TRAIN, str(mini[0]), str(out)], cwd=ROOT, env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics, t0 = out / "metrics.jsonl", time.time()
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
        assert p.poll() is None, f"the run ended before its first epoch:\n{p.stderr.read()[-3000:]}"
        assert time.time() - t0 < 300, "no epoch within 300 s"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait(); p.stderr.close()
    assert not (out / "summary.json").exists() and metrics.read_text().count("\n") == 1    # killed inside epoch 2
    r = subprocess.run([sys.executable, "-c", _TRAIN, str(mini[0]), str(out)], cwd=ROOT, env=ENV, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    ref = rehearsal["runs"] / "cifar10n-worst" / "bkd"
    strip = lambda f: [{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in f.read_text().splitlines()]
    assert strip(out / "metrics.jsonl") == strip(ref / "metrics.jsonl") and len(strip(ref / "metrics.jsonl")) == 2
    for name in ("detection.npy", "p_agree.npy", "groups.npy", "detection_full.npy"):
        assert np.array_equal(np.load(out / name), np.load(ref / name), equal_nan=True), name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (out, ref))
    a.pop("seconds"); b.pop("seconds")
    assert a == b
    _drop_checkpoints(out)
