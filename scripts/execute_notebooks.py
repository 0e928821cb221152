"""Run notebooks in nbs/ top to bottom and save them with their outputs (what readers and the docs site show).

Usage: python scripts/execute_notebooks.py [NAME ...]   (default: every notebook in nbs/ not starting with "_")
Cells flagged `#| notest` are run too: they are the examples a reader should see.
"""
import os
import sys
import time
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

ROOT = Path(__file__).resolve().parents[1]


def execute(path: Path) -> float:
    t0 = time.time()
    nb = read_nb(path)
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        CaptureShell(path).run_all(nb, exc_stop=True, preproc=lambda c: c.cell_type == "code" and "nbdev_export(" in c.source)
    finally:
        os.chdir(cwd)
    write_nb(nb, path)
    return time.time() - t0


def main(names) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    nbs = ROOT / "nbs"
    paths = [nbs / (n if n.endswith(".ipynb") else n + ".ipynb") for n in names] or \
        sorted(p for p in nbs.glob("*.ipynb") if not p.name.startswith("_"))
    for p in paths:
        print(f"{p.name}: {execute(p):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
