"""Smoke run of the benchmark script (`make bench`): it runs, prints its table and writes JSON with sane values."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--paper", "on",
                        "--out", str(out), "--data", str(DATA)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "| bkd " in p.stdout and "| reference " in p.stdout and "| compute_only " in p.stdout
    b = json.loads(out.read_text())
    m = b["machine"]
    assert m["cores"] >= 1 and m["torch"] and m["cpu"] and m["device"] in ("cpu", "cuda", "cuda:0")
    c = b["config"]
    assert c["quick"] and c["arch"] == "tiny_cnn" and c["train_images"] == 128 and c["reps"] == 2
    assert c["reference_workers"] == m["cores"]
    for k in ("bkd", "reference", "compute_only"):
        r = b["results"][k]
        assert len(r["images_per_second"]) == 2 and r["images_per_epoch"] == 128    # 4 full batches of 32
        assert all(v > 0 for v in r["images_per_second"])
        assert min(r["images_per_second"]) <= r["images_per_second_median"] <= max(r["images_per_second"])
        assert r["peak_host_mb"] > 50                   # the process holds torch and the images
    res = b["results"]
    assert b["ratio_bkd_over_reference"] == pytest.approx(
        res["bkd"]["images_per_second_median"] / res["reference"]["images_per_second_median"])
    # a sanity bound, not a speed claim: two quick repetitions beside the suite's other worker (measured 1.75 once)
    assert 0 < b["bkd_fraction_of_compute_only"] < 3
    # where the engine resolves to bf16 (this machine's CPU if it has bf16 arithmetic), the fp32 engine is timed too
    assert ("bkd_fp32" in res) == c["engine"]["amp"] == ("ratio_bkd_fp32_over_reference" in b)
    assert c["engine"]["channels_last"]
    # tiny_cnn on 32x32 RGB: 14.6 M multiply-adds forward per image and network; a step is about 3x forward, 2 networks
    assert 0.12e9 < b["flops_train_step_per_image"] < 0.25e9
    pp = b["paper"]                                     # forced on: the paper section's code path, at smoke scale
    assert pp["arch"] == "tiny_cnn" and pp["train_images"] == 270 and pp["val_images"] == 30 and pp["test_images"] == 64
    assert pp["seconds_per_epoch_median"] > 0
    assert pp["projected_minutes_300_epochs"] == pytest.approx(pp["seconds_per_epoch_median"] * 5)
    assert pp["flops_per_epoch"] > 256 * pp["flops_train_step_per_image"]   # 2 training steps of 128 and the evals
    if m["device"] == "cpu":
        assert pp["fraction_of_bf16_peak_training"] is None and any("GPU" in s for s in b["not_measured"])


def test_bench_user_error(tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--data", str(tmp_path),
                        "--out", str(tmp_path / "b.json")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("bench: error:") and "Traceback" not in p.stderr
    assert not (tmp_path / "b.json").exists()


def test_bench_step_quick(tmp_path):
    "The step micro-benchmark times every variant it is given and says why a variant name is wrong."
    out = tmp_path / "step.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_step.py"), "--arch", "tiny_cnn", "--batch-size", "8",
           "--size", "16", "--reps", "2", "--steps", "1", "--warmup", "1", "--device", "cpu"]
    p = subprocess.run(cmd + ["--variants", "nchw,cl,cl+bf16", "--out", str(out)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    b = json.loads(out.read_text())
    assert set(b["images_per_second"]) == {"nchw", "cl", "cl+bf16"} and b["ratio_to_nchw"]["nchw"] == 1.0
    assert all(len(v) == 2 and min(v) > 0 for v in b["images_per_second"].values())
    assert "| cl+bf16 |" in p.stdout
    for bad in ("cl+nchw", "bf16", "cl+fp8"):
        p = subprocess.run(cmd + ["--variants", bad], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stderr.startswith("bench_step: error: unknown variant") and "Traceback" not in p.stderr


def test_scripts_do_not_import_each_other():
    "What two scripts share lives in the library (e.g. `bkd.core.timed`), not in one script imported by another."
    import ast
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    found = []
    for p in sorted((ROOT / "scripts").glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{p.name} imports {n}" for n in names if n.split(".")[0] in scripts]
    assert not found, found
