"""Smoke run of scripts/faithful_effects.py: one seed, a few epochs, two variants; the JSON has every field."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_faithful_effects_quick(tmp_path):
    out = tmp_path / "effects.json"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "faithful_effects.py"), "--seeds", "1", "--epochs", "3",
                        "--variants", "authors (default),--otsu bkd", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["setting"]["dataset"] == "digits" and r["setting"]["epochs"] == 3
    assert list(r["variants"]) == ["authors (default)", "--otsu bkd"]
    d, o = r["variants"]["authors (default)"], r["variants"]["--otsu bkd"]
    assert d["max_student_weight_difference_vs_default"] == [0.0]
    assert d["tipping_epochs"] == [None] and d["forced"] == [False]        # 3 epochs: fewer than the 6 values looked at
    assert o["max_student_weight_difference_vs_default"] == [0.0]          # the split is only reported without a tipping point
    for v in (d, o):
        for k in ("f1_train_split", "f1_full", "acc_last", "acc_best_val"):
            mean, sd = v[k]
            assert 0 <= mean <= 1 and sd == 0.0


def test_faithful_effects_refuses_unknown_variant():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "faithful_effects.py"), "--variants", "authors (default),--magic"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "variants must" in p.stderr
