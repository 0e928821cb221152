"""Render nbs/index.ipynb to README.md (markdown cells as they are, code cells as Python blocks with their text output).

nbdev's own `nbdev_readme` needs Quarto, which is not installable offline; this keeps the README generated from the
notebook all the same. `--check` exits 1 when README.md is out of date.
"""
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def render(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    parts = ["<!-- generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, not this file -->"]
    for cell in nb.cells:
        src = cell.source.strip()
        if cell.cell_type == "markdown":
            parts.append(src)
        elif cell.cell_type == "code":
            lines = [l for l in src.splitlines() if not l.startswith("#|")]
            if any(l.startswith("#| hide") for l in src.splitlines()) or not lines:
                continue
            parts.append("```python\n" + "\n".join(lines) + "\n```")
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            if text.strip():
                parts.append("```\n" + text.rstrip() + "\n```")
    return "\n\n".join(parts) + "\n"


def main() -> int:
    text = render(ROOT / "nbs" / "index.ipynb")
    readme = ROOT / "README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            print("README.md is out of date: run `make readme` (it is rendered from nbs/index.ipynb)", file=sys.stderr)
            return 1
        return 0
    readme.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
