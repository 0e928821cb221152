"""The paper pipeline end to end at the smoke scale (`scripts/run_paper.py --scale smoke`), and its failure modes.

The smoke scale trains BKD and the baselines on the digits with three synthetic noise rates and reads the real
CIFAR-N label files from the offline data folder; every paper notebook runs with papermill.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
SCRIPT = ROOT / "scripts" / "run_paper.py"
NOISES = ["sym:0.1", "sym:0.2", "sym:0.4"]
METHODS = ["BKD (Otsu at tipping point)", "CE low confidence (selected epoch)", "CE low confidence (last epoch)",
           "Confident learning (K-fold CE + cleanlab)", "Small-loss GMM (CE loss at tipping point)",
           "Small-loss GMM (CE loss at selected epoch)"]
# the smoke scale: the tiny CNN on the digits at three noise rates (one seed), and MLP heads on the label-free
# k-means features of the digits at 40 % noise with two seeds (the frozen-feature path of the cpu scale, in miniature)
FEAT, FEAT_SEEDS = "digits-kmeans", [0, 1]


def run_paper(*args, timeout=600):
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    dirs = {k: out / k for k in ("runs", "figures", "tables")}
    r = run_paper("--scale", "smoke", "--data", str(DATA), "--quiet",
                  *[a for k, v in dirs.items() for a in (f"--{k}", str(v))])
    assert r.returncode == 0, f"run_paper failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return dirs


def test_every_notebook_executed(smoke):
    for nb in sorted((ROOT / "paper").glob("[0-9]*.ipynb")):
        executed = json.loads((smoke["runs"] / nb.name).read_text())
        assert executed["metadata"]["papermill"]["exception"] is None or executed["metadata"]["papermill"]["exception"] is False
        params = executed["metadata"]["papermill"]["parameters"]
        assert params["scale"] == "smoke" and Path(params["figures"]) == smoke["figures"]


def test_figures(smoke):
    stems = ["dynamics", "dynamics_bands", "f1_per_epoch", "cifarn_transitions", "agreement_digitskmeans-sym0p4-s0",
             "tipping_signals", "detect_vs_cleanlab"] + \
            [f"agreement_digits-sym0p{r}" for r in (1, 2, 4)]
    for stem in stems:
        png, pdf = smoke["figures"] / f"{stem}.png", smoke["figures"] / f"{stem}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, png
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000, pdf


def test_tables_have_all_formats(smoke):
    for name in ("detection", "accuracy", "tipping", "comparison", "cifarn_noise", "detection_summary",
                 "accuracy_summary", "tipping_summary", "agreement", "tipping_signals", "tipping_signals_summary",
                 "tipping_signals_vs_baselines", "tipping_signals_vs_baselines_summary", "faithful_effects",
                 "faithful_effects_summary", "detect_vs_cleanlab", "detect_vs_cleanlab_summary"):
        for ext in (".csv", ".md", ".tex"):
            assert (smoke["tables"] / f"{name}{ext}").stat().st_size > 100, f"{name}{ext}"
        assert "\\begin{tabular}" in (smoke["tables"] / f"{name}.tex").read_text()
        assert (smoke["tables"] / f"{name}.md").read_text().startswith("| dataset")


def test_detection_table_values(smoke):
    det_all = pd.read_csv(smoke["tables"] / "detection.csv")
    det = det_all[det_all.dataset == "digits"]
    assert det.method.tolist() == METHODS * 3 and det.noise.tolist() == [n for n in NOISES for _ in METHODS]
    for col in ("precision", "recall", "f1", "noise_estimate", "noise_true"):
        assert det[col].between(0, 1).all(), col
    # the true noise rates of the training split are the synthetic rates
    true = det.groupby("noise", sort=False).noise_true.first()
    np.testing.assert_allclose(true.values, [0.1, 0.2, 0.4], atol=0.02)
    # every detector works on the digits: far better than flagging at random (F1 = noise rate)
    assert (det.f1 > det.noise_true + 0.3).all(), det[["noise", "method", "f1"]]
    bkd = det[det.method.str.startswith("BKD")]
    np.testing.assert_allclose(bkd.noise_estimate.values, bkd.noise_true.values, atol=0.12)
    # the feature path: one row per seed and method, and every detector well above chance
    feat = det_all[det_all.dataset == FEAT]
    assert feat.seed.tolist() == [s for s in FEAT_SEEDS for _ in METHODS] and feat.method.tolist() == METHODS * 2
    assert (feat.f1 > feat.noise_true + 0.2).all(), feat[["seed", "method", "f1"]]
    # the summary over seeds: the mean and std of those rows
    summ = pd.read_csv(smoke["tables"] / "detection_summary.csv")
    s = summ[summ.dataset == FEAT].set_index("method")
    assert (s.n_seeds == 2).all()
    for m, g in feat.groupby("method"):
        assert abs(s.loc[m, "f1_mean"] - g.f1.mean()) < 1e-9 and abs(s.loc[m, "f1_std"] - g.f1.std(ddof=1)) < 1e-9


def test_accuracy_and_comparison(smoke):
    acc = pd.read_csv(smoke["tables"] / "accuracy.csv")
    assert acc.method.tolist() == ["BKD (agreement)", "CE"] * 5
    acc = acc[acc.dataset == "digits"]
    assert acc.test_acc_last.between(0.85, 1).all() and acc.test_acc_selected.between(0.85, 1).all()
    assert acc.selected_epoch.between(1, 8).all()
    cmp = pd.read_csv(smoke["tables"] / "comparison.csv")
    det = pd.read_csv(smoke["tables"] / "detection.csv")
    for r in cmp.itertuples():
        d = det[(det.noise == r.noise) & (det.dataset == r.dataset)].groupby("method", sort=False).f1.mean()
        assert abs(r.best_baseline_f1 - d[~d.index.str.startswith("BKD")].max()) < 1e-12
        assert abs(r.f1_diff - (r.bkd_f1 - r.best_baseline_f1)) < 1e-9
    lines = (smoke["tables"] / "differences.md").read_text().splitlines()
    assert sum(l.startswith("- digits sym:") for l in lines) == 3 and sum(l.startswith(f"- {FEAT} sym:") for l in lines) == 1
    assert all(("wins" in l or "loses" in l or "tie" in l) for l in lines if l.startswith("- "))


def test_claims(smoke):
    md = (smoke["tables"] / "claims.md").read_text()
    assert md.startswith("# The paper's claims at the smoke scale")
    for c in ("C1", "C2", "C3", "C4"):
        line = next(l for l in md.splitlines() if l.startswith(f"## {c}:"))
        assert any(f"**{v}**" in line for v in ("confirmed", "refuted", "mixed")), line
    assert md.count("- digits-kmeans sym:0.4:") == 4 and " ± " in md      # two seeds: mean ± std
    assert not (ROOT / "paper" / "CLAIMS.md").exists() or "smoke scale" not in (ROOT / "paper" / "CLAIMS.md").read_text()


def test_tipping_table(smoke):
    tt = pd.read_csv(smoke["tables"] / "tipping.csv")
    assert tt.noise.tolist() == NOISES + ["sym:0.4"] * 2 and tt.seed.tolist() == [0, 0, 0] + FEAT_SEEDS
    assert tt.detection_epoch.between(1, 8).all() and tt.best_f1_epoch.between(1, 8).all()
    assert (tt.best_f1 >= tt.f1_at_detection).all() and (tt.f1_gap >= 0).all()


def test_tipping_signals(smoke):
    "The signals are replayed on the unswitched variant of the feature path (the only setting that trains it)."
    ts = pd.read_csv(smoke["tables"] / "tipping_signals.csv")
    n = ts.signal.nunique()
    assert n == 2 + 4 * 3 and len(ts) == n * len(FEAT_SEEDS)    # the paper's rule twice, four signals with P = 3, 5, 8
    assert (ts.dataset == FEAT).all() and ts.seed.tolist() == [s for s in FEAT_SEEDS for _ in range(n)]
    assert ts.epoch.between(1, 8).all() and ts.best_epoch.between(1, 8).all()
    assert (ts.gap >= 0).all() and np.allclose(ts.gap, ts.best_f1 - ts.f1)
    assert ts.exact.all() and ts.switch_epoch.isna().all() and np.allclose(ts.gap_unswitched, ts.gap)   # never switched
    # the paper's rule replayed on the unswitched runs gives the default runs' detection epochs
    tt = pd.read_csv(smoke["tables"] / "tipping.csv")
    rep = ts[ts.signal == "confidence (authors)"]
    assert rep.epoch.tolist() == tt[tt.noise == "sym:0.4"].detection_epoch.tolist()[-2:]
    # no CIFAR-10N at the smoke scale: the first seed selects, seed 1 is held out
    assert (ts.role == "held out").sum() == n and (ts[ts.role == "held out"].seed == 1).all()
    choice = pd.read_csv(smoke["tables"] / "tipping_signals_choice.csv")
    assert choice.chosen.sum() == 1 and choice.chosen.iloc[0] and (choice.runs == 1).all()
    assert sorted(choice.signal) == sorted(ts.signal.unique())
    # the chosen signal's F1 beside the baselines' at their own label-free epochs, from the detection table
    vs = pd.read_csv(smoke["tables"] / "tipping_signals_vs_baselines.csv")
    det = pd.read_csv(smoke["tables"] / "detection.csv")
    assert vs.seed.tolist() == FEAT_SEEDS and (vs.chosen_signal == choice.signal.iloc[0]).all()
    for r in vs.itertuples():
        d = det[(det.dataset == FEAT) & (det.seed == r.seed)].set_index("method")
        assert abs(r.f1_cleanlab - d.loc["Confident learning (K-fold CE + cleanlab)", "f1"]) < 1e-12
        assert abs(r.f1_gmm - d.loc["Small-loss GMM (CE loss at selected epoch)", "f1"]) < 1e-12
        assert abs(r.f1_chosen - ts[(ts.seed == r.seed) & (ts.signal == r.chosen_signal)].f1.iloc[0]) < 1e-12


def test_detect_vs_cleanlab(smoke):
    "bkd detect --features against cleanlab's K-fold recipe on the digits' k-means features, 40 % symmetric noise."
    t = pd.read_csv(smoke["tables"] / "detect_vs_cleanlab.csv")
    methods = ["BKD (bkd detect --features)", "cleanlab + MLP (3-fold)", "cleanlab + logistic regression (3-fold)"]
    assert t.method.tolist() == methods * len(FEAT_SEEDS) and t.seed.tolist() == [s for s in FEAT_SEEDS for _ in methods]
    assert (t.dataset == FEAT).all() and (t.noise == "sym:0.4").all()
    assert np.allclose(t.f1, 2 * t.precision * t.recall / (t.precision + t.recall))
    for c in ("p_at_100", "p_at_500", "p_at_1000", "precision", "recall", "f1"): assert t[c].between(0, 1).all(), c
    # every method finds the wrong labels far better than a random flag (F1 = noise rate, about 0.4); the head of each
    # ranking is nearly all wrong labels
    assert (t.f1 > 0.7).all() and (t.p_at_100 >= 0.95).all(), t[["method", "f1", "p_at_100"]]
    # the MLP's folds train exactly as many epochs as BKD did (compute-matched); the time ratio is against BKD's time
    bkd, mlp = t[t.method == methods[0]], t[t.method == methods[1]]
    assert (bkd.epochs.values == mlp.epochs.values).all() and (bkd.time_ratio == 1).all()
    assert np.allclose(mlp.time_ratio.values, mlp.seconds.values / bkd.seconds.values, rtol=1e-6)
    s = pd.read_csv(smoke["tables"] / "detect_vs_cleanlab_summary.csv")
    assert (s.n_seeds == len(FEAT_SEEDS)).all() and np.allclose(s.f1_mean, t.groupby("method", sort=False).f1.mean())


def test_faithful_effects(smoke):
    "Each option's effect against the authors' default, from the variants of the feature path."
    eff = pd.read_csv(smoke["tables"] / "faithful_effects.csv")
    assert sorted(eff.option.unique()) == ["--agreement-pass eval", "--detach-target", "--tipping-rule bkd",
                                           "--tipping-signal val_accuracy --tipping-patience 8"]
    assert (eff.dataset == FEAT).all() and sorted(eff.seed.unique()) == FEAT_SEEDS
    assert np.allclose(eff.effect, eff.option_value - eff.default)
    det = pd.read_csv(smoke["tables"] / "detection.csv")
    bkd_f1 = det[(det.dataset == FEAT) & det.method.str.startswith("BKD")].set_index("seed").f1
    # the default of every detection row is the default run's F1 (replayed from the unswitched run: the same number)
    for r in eff[eff.metric == "detection F1"].itertuples():
        assert abs(r.default - bkd_f1[r.seed]) < 1e-12
    # the detection is taken before the switch: detaching the target cannot change it
    assert (eff[(eff.option == "--detach-target") & (eff.metric == "detection F1")].effect == 0).all()
    acc = pd.read_csv(smoke["tables"] / "accuracy.csv")
    bkd_acc = acc[(acc.dataset == FEAT) & acc.method.str.startswith("BKD")].set_index("seed")
    for r in eff[eff.metric == "test_acc_last"].itertuples():
        assert abs(r.default - bkd_acc.test_acc_last[r.seed]) < 1e-12
    summ = pd.read_csv(smoke["tables"] / "faithful_effects_summary.csv")
    assert (summ.n_seeds == 2).all() and len(summ) == 8


def test_cifarn_table_matches_the_data(smoke):
    ct = pd.read_csv(smoke["tables"] / "cifarn_noise.csv").set_index("label_set")
    # the rates published with the data (README of the offline data folder)
    for ls, rate in {"aggre": 0.0901, "rand1": 0.1723, "rand2": 0.1812, "rand3": 0.1764, "worst": 0.4021}.items():
        assert abs(ct.loc[ls, "noise_rate"] - rate) < 1e-4, ls
    assert (ct.n == 50_000).all()


def test_run_info(smoke):
    info = json.loads((smoke["tables"] / "run_info.json").read_text())
    assert info["scale"] == "smoke" and "--scale smoke" in info["command"]
    assert set(info["notebook_seconds"]) == {p.stem for p in (ROOT / "paper").glob("[0-9]*.ipynb")}
    assert 0 < info["wall_seconds"] < 600


def test_second_run_reuses_the_training(smoke):
    "Results are cached in the runs folder: running again trains nothing."
    r = run_paper("--scale", "smoke", "--data", str(DATA), "--only", "00_train", "--quiet",
                  *[a for k, v in smoke.items() for a in (f"--{k}", str(v))])
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads((smoke["runs"] / "00_train.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", []))
    assert text.count("(cached)") == 10 and "3-fold cross-entropy\n" not in text
    # --only keeps the full run's record and adds the rerun to it
    info = json.loads((smoke["tables"] / "run_info.json").read_text())
    assert "--only" not in info["command"] and set(info["notebook_seconds"]) == {p.stem for p in (ROOT / "paper").glob("[0-9]*.ipynb")}
    assert [list(r["notebook_seconds"]) for r in info["reruns"]] == [["00_train"]] and "--only 00_train" in info["reruns"][0]["command"]
    assert "rerun of 00_train" in (smoke["tables"] / "run_info.md").read_text()


def test_failing_notebook_keeps_its_copy_and_fails(tmp_path):
    nbs = tmp_path / "nbs"; nbs.mkdir()
    nb = json.loads((ROOT / "paper" / "04_cifarn.ipynb").read_text())
    nb["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                        "source": ["raise ValueError('deliberate failure')"]})
    (nbs / "01_broken.ipynb").write_text(json.dumps(nb))
    (nbs / "02_never.ipynb").write_text(json.dumps(nb))
    r = run_paper("--scale", "smoke", "--data", str(DATA), "--notebooks", str(nbs), "--quiet", "--runs",
                  str(tmp_path / "runs"), "--figures", str(tmp_path / "fig"), "--tables", str(tmp_path / "tab"))
    assert r.returncode == 1
    assert "01_broken.ipynb FAILED" in r.stderr and "deliberate failure" in r.stderr
    executed = (tmp_path / "runs" / "01_broken.ipynb").read_text()
    assert "deliberate failure" in executed and "ValueError" in executed
    assert not (tmp_path / "runs" / "02_never.ipynb").exists()      # the run stops at the first failure
    assert not (tmp_path / "tab" / "run_info.json").exists()


def test_missing_requirements_are_named(tmp_path):
    r = run_paper("--scale", "paper", "--data", str(tmp_path), "--runs", str(tmp_path / "runs"))
    assert r.returncode == 2
    assert "cannot run on this machine" in r.stderr
    assert "cifar-100-python.tar.gz" in r.stderr and "CIFAR-10_human.pt" in r.stderr
    import torch
    assert ("CUDA GPU" in r.stderr) == (not torch.cuda.is_available())
    r = run_paper("--scale", "cpu", "--data", str(tmp_path))
    assert r.returncode == 2 and "cifar10-jpeg.tar.gz" in r.stderr
    r = run_paper("--scale", "huge", "--data", str(tmp_path))
    assert r.returncode == 2 and "unknown scale" in r.stderr


def test_seeds_limit_the_variant_notebooks(smoke, tmp_path):
    "--seeds: 07_faithful reads only those seeds' runs and finds the same numbers for them."
    r = run_paper("--scale", "smoke", "--data", str(DATA), "--only", "07_faithful", "--seeds", "1", "--quiet",
                  "--runs", str(smoke["runs"]), "--figures", str(tmp_path / "fig"), "--tables", str(tmp_path / "tab"))
    assert r.returncode == 0, r.stderr[-3000:]
    eff, full = (pd.read_csv(d / "faithful_effects.csv") for d in (tmp_path / "tab", smoke["tables"]))
    assert sorted(eff.seed.unique()) == [1]
    pd.testing.assert_frame_equal(eff.reset_index(drop=True), full[full.seed == 1].reset_index(drop=True))
    r = run_paper("--scale", "smoke", "--data", str(DATA), "--seeds", "0,one", "--runs", str(tmp_path / "r2"))
    assert r.returncode == 2 and "--seeds takes comma-separated integers" in r.stderr and not (tmp_path / "r2").exists()
