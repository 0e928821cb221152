"""Smoke run of `scripts/compare_cleanlab.py` (the measurement behind `paper/detect_vs_cleanlab.md`) on a small subset."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def test_compare_cleanlab_small(tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "compare_cleanlab.py"), "--data", str(DATA),
                        "--subset", "600", "--epochs", "2", "--folds", "2", "--ks", "10,50", "--threads", "2",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((tmp_path / "results.json").read_text())
    assert r["n"] == 600 and r["noise"] == "worst" and 0.3 < r["noise_rate"] < 0.5     # CIFAR-10N worst: about 40 %
    for m in (r["bkd"], r["cleanlab"]):
        f = m["flagged"]
        assert set(m["precision_at_k"]) == {"10", "50"} and all(0 <= v <= 1 for v in m["precision_at_k"].values())
        assert f["n"] == 600 and f["n_noisy"] == round(r["noise_rate"] * 600) and 0 < f["n_flagged"] < 600
        # F1 is the harmonic mean of the precision and recall it reports
        assert abs(f["f1"] - 2 * f["precision"] * f["recall"] / (f["precision"] + f["recall"])) < 1e-9
    assert r["bkd"]["epochs_trained"] == 2 and r["cleanlab"]["folds"] == 2
    assert "| cleanlab (2-fold CE) |" in p.stdout and "| BKD (p_agree, group 4) |" in p.stdout
