"""Every notebook in nbs/ is a test: its cells run top to bottom and its assertions must hold.

One pytest item per notebook, so a failure names the notebook and the cell (nbdev's own runner executes it).
"""
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook   # renamed: pytest would collect a `test_nb` as a test

NBS = Path(__file__).resolve().parents[1] / "nbs"
NOTEBOOKS = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith("_"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(notebook):
    ok, seconds = run_notebook(notebook, skip_flags=["notest"])
    assert ok, f"{notebook.name} failed (traceback above)"
