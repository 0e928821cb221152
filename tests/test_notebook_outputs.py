"""The committed notebooks as a reader finds them: with their outputs, pictures included, and a kernel to run them.

`make execute` runs every notebook in `nbs/` in place and stores its outputs; this checks that it was done: each
notebook has outputs, and each code cell that draws a figure (by its code: a pyplot figure or a `plot_*`/`show_*`
function called at the top level of the cell, not closed again unless shown) holds an image, of a size fit for git.
Every notebook in `nbs/` and `paper/` names its kernel, so that papermill and JupyterLab start the right one.
"""
from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))  # what `make execute` runs
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
MAX_IMAGE_BYTES = 400_000      # one PNG output, decoded (a figure at a modest DPI is well under 200 kB)
MAX_NOTEBOOK_BYTES = 4_000_000

_MAKERS = {"subplots", "figure", "subplot_mosaic", "imshow", "matshow"}   # also plt.<anything> and plot_*/show_*
_SHOWS = {"show", "display"}


class _Calls(ast.NodeVisitor):
    "Names of the functions a cell calls at its top level (not inside the functions or classes it defines)."
    def __init__(self):
        self.names: list[tuple[str | None, str]] = []   # (object name for obj.f(...), function name)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name):
            self.names.append((None, f.id))
        elif isinstance(f, ast.Attribute):
            self.names.append((f.value.id if isinstance(f.value, ast.Name) else None, f.attr))
        self.generic_visit(node)

    def visit_FunctionDef(self, node):   # a definition draws nothing until it is called
        for d in node.decorator_list:
            self.visit(d)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        for d in node.decorator_list:
            self.visit(d)

    def visit_Lambda(self, node):
        pass


def draws_figure(source: str) -> bool:
    "Does this code cell leave a figure to display (judged from its code)?"
    lines = [l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    v = _Calls()
    v.visit(tree)
    makes = any(obj == "plt" and name not in {"close", "rc", "rcdefaults", "style", "ioff", "ion"}
                or name in _MAKERS or name.startswith("plot_") or obj == "ax" and name == "plot"
                or (name.startswith("show_") and name != "show_doc") for obj, name in v.names)
    closes = any(name == "close" for _, name in v.names)
    shows = any(name in _SHOWS for _, name in v.names)
    return makes and (shows or not closes)


def _directives(source: str) -> set[str]:
    return {l[3:].strip().replace(" ", "") for l in source.splitlines() if l.startswith("#|")}


def output_problems(nb: dict) -> list[str]:
    "What is missing from a notebook's stored outputs (empty: nothing)."
    problems = []
    code = [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    ran = [(i, c) for i, c in code if "nbdev_export(" not in "".join(c["source"])
           and "eval:false" not in _directives("".join(c["source"]))]
    if ran and not any(c.get("outputs") for _, c in ran):
        return [f"no outputs at all in its {len(ran)} code cells"]
    for i, c in ran:
        src = "".join(c["source"])
        images = [o["data"][k] for o in c.get("outputs", []) for k in ("image/png", "image/svg+xml")
                  if k in o.get("data", {})]
        first = next((l for l in src.splitlines() if l.strip() and not l.startswith("#|")), "")[:70]
        if draws_figure(src) and not images:
            problems.append(f"cell {i} ({first!r}) draws a figure but has no image output")
        for img in images:
            size = len(base64.b64decode("".join(img))) if isinstance(img, (str, list)) else 0
            if size > MAX_IMAGE_BYTES:
                problems.append(f"cell {i} ({first!r}) holds a {size / 1e3:.0f} kB image (at most "
                                f"{MAX_IMAGE_BYTES / 1e3:.0f} kB: lower the figure's DPI or size)")
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            problems.append(f"cell {i} ({first!r}) stores an error: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_with_its_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = output_problems(nb)
    assert not problems, (f"nbs/{path.name}: " + "; ".join(problems) +
                          " -- run `make execute` (or scripts/execute_notebooks.py " + path.stem + ") and commit it")
    size = path.stat().st_size
    assert size <= MAX_NOTEBOOK_BYTES, f"nbs/{path.name} is {size / 1e6:.1f} MB: too big for git"


def test_every_notebook_names_its_kernel():
    wrong = [f"{p.relative_to(ROOT)}: {json.loads(p.read_text(encoding='utf-8'))['metadata'].get('kernelspec')}"
             for p in NOTEBOOKS + sorted((ROOT / "paper").glob("*.ipynb"))
             if json.loads(p.read_text(encoding="utf-8"))["metadata"].get("kernelspec") != KERNELSPEC]
    assert not wrong, f"notebooks without the kernelspec {KERNELSPEC}:\n" + "\n".join(wrong)


def _nb(*cells):
    return {"cells": [{"cell_type": "code", "metadata": {}, "source": s, "outputs": o, "execution_count": None}
                      for s, o in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


PNG = {"output_type": "display_data", "metadata": {},
       "data": {"image/png": base64.b64encode(b"\x89PNG" + bytes(100)).decode(), "text/plain": "<Figure>"}}
TEXT = {"output_type": "stream", "name": "stdout", "text": "4\n"}


def test_the_check_finds_what_is_missing():
    "The check above must fail on notebooks without outputs or without their figures, and pass on correct ones."
    assert output_problems(_nb(("x = 1", []), ("print(x)", []))) == ["no outputs at all in its 2 code cells"]
    assert output_problems(_nb(("print(4)", [TEXT]), ("fig, ax = plt.subplots()\nax.plot([1, 2])", [PNG]))) == []
    missing = output_problems(_nb(("print(4)", [TEXT]), ("fig = plot_dynamics(recs)", []),
                                  ("#| notest\nplot_label_issues(x, res, n=20);", []), ("plt.show()", [])))
    assert [m.split(" (")[0] for m in missing] == ["cell 1", "cell 2", "cell 3"], missing
    assert all("draws a figure but has no image output" in m for m in missing), missing
    # not figures: a definition, a figure closed without being shown, show_doc, the export cell
    assert output_problems(_nb(("print(4)", [TEXT]), ("#| export\ndef plot_x(a):\n    fig, ax = plt.subplots()\n"
                                                      "    return fig", []),
                               ("fig = plot_x(1); assert len(fig.axes) == 1; plt.close(fig)", []),
                               ("show_doc(plot_x)", []), ("import nbdev; nbdev.nbdev_export()", []))) == []
    big = dict(PNG, data={"image/png": base64.b64encode(bytes(MAX_IMAGE_BYTES + 1)).decode()})
    assert "kB image" in output_problems(_nb(("plt.figure()", [big])))[0]
    err = {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}
    assert output_problems(_nb(("print(4)", [TEXT]), ("f()", [err]))) == ["cell 1 ('f()') stores an error: ValueError: boom"]
