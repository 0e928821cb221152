#!/usr/bin/env python
"""Build the documentation site in `_docs/` (settings.ini `doc_path`) from the notebooks in `nbs/`.

One page per notebook, in reading order: `index.ipynb` first, then by file name; notebooks and folders whose
name starts with `_` or `.` are skipped, as nbdev does. Page names follow nbdev: `nbs/00_core.ipynb` becomes
`core.html`, so the links in `bkd/_modidx.py` (`core.html#save_json`) hold on this site too.

Renderers:

* `quarto` -- nbdev's own `nbdev_docs` (needs Quarto on the PATH). `--renderer auto` (the default) picks it
  when `quarto` is on the PATH.
* `offline` -- everything from PyPI, no network: nbdev's notebook processors (frontmatter, `add_show_docs`,
  `#| hide`, `#| export`, `hide_line`, `filter_stream`, ...), the API documentation rendered in this process
  by nbdev's `show_doc` with `BasicMarkdownRenderer` (plus fastcore's parameter table) from the imported `bkd`
  modules, the outputs stored in the notebooks (text, tables, PNG/JPEG/SVG figures, Markdown, HTML), math as
  MathML (latex2mathml), then MkDocs with Material for MkDocs (navigation, built-in search), `--strict` so
  a broken link or image fails the build.

Each API entry's "source" link opens the notebook that defines the name (the site carries the notebooks beside
their pages); with `--repo-url URL` (or $BKD_REPO_URL) it goes to the defining line of the exported module in that
repository instead. settings.ini's git_url is a placeholder until the project has a public repository.

Notebooks are never executed here: commit them with their outputs (`make execute`).

Usage: python scripts/build_docs.py [--renderer auto|offline|quarto] [--nbs DIR] [--out DIR] [--keep-md DIR]
                                   [--repo-url URL]
"""
from __future__ import annotations

import argparse
import ast
import base64
import functools
import html
import importlib
import inspect
import os
import pkgutil
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS_SRC = ROOT / "docs_src"


class BuildError(Exception):
    "A problem the person building the docs must fix; the message says what and where."


def log(msg: str) -> None:
    print(f"build_docs: {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Configuration and notebooks
# ---------------------------------------------------------------------------------------------------------------

def load_config():
    from nbdev.config import get_config
    try:
        return get_config(path=ROOT)
    except Exception as e:  # noqa: BLE001
        raise BuildError(f"cannot read nbdev's settings.ini in {ROOT}: {e}") from e


_re_num_prefix = re.compile(r"^\d+[a-zA-Z0-9]*_")


def page_name(rel: Path) -> Path:
    "nbdev's page name for a notebook path relative to nbs/: `00_core.ipynb` -> `core.md` (nbdev: `core.html`)."
    return rel.with_name(_re_num_prefix.sub("", rel.name.lower())).with_suffix(".md")


def find_notebooks(nbs: Path) -> list[Path]:
    "Notebooks under `nbs` (relative paths) in reading order: index first, then by path; `_`/`.` names skipped."
    found = []
    for p in nbs.rglob("*.ipynb"):
        rel = p.relative_to(nbs)
        if any(part.startswith(("_", ".")) for part in rel.parts):
            continue
        if ".ipynb_checkpoints" in rel.parts:
            continue
        found.append(rel)

    def key(rel: Path):
        return (rel.parent.parts, 0 if rel.stem == "index" else 1, rel.name)
    return sorted(found, key=key)


# ---------------------------------------------------------------------------------------------------------------
# The library: its modules, their __all__, and nbdev's show_doc
# ---------------------------------------------------------------------------------------------------------------

def import_library(lib_name: str) -> dict:
    "Import every module of the package (walking it), so show_doc documents the code as it is now."
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        pkg = importlib.import_module(lib_name)
    except Exception as e:  # noqa: BLE001
        raise BuildError(f"cannot import the package {lib_name!r}: {type(e).__name__}: {e}") from e
    mods = {lib_name: pkg}
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{lib_name}."):
        if info.name.rsplit(".", 1)[-1] == "_modidx":
            continue
        try:
            mods[info.name] = importlib.import_module(info.name)
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"cannot import {info.name} (documented from bkd/): {type(e).__name__}: {e}") from e
    return mods


def anchor_for(name: str) -> str:
    "The anchor nbdev (and Quarto) give a documented symbol: `BkdError` -> `bkderror`, `Foo.bar` -> `foo.bar`."
    return re.sub(r"[^\w.\-]", "", name.lower()) or "symbol"


def _md_escape(s: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", s)


# Where "source" links point. settings.ini's git_url (https://github.com/bkd/bkd) is a placeholder until the project
# has a public repository, so it is not used for links: without a repository URL (`--repo-url`, or $BKD_REPO_URL),
# an API entry's source link opens the notebook that defines it, which the site carries beside its page.
REPO_URL_ENV = "BKD_REPO_URL"
repo_url: str = ""

_re_cell_marker = re.compile(r"^# %% (\S+\.ipynb)")


def source_location(obj) -> tuple[str, int, str | None] | None:
    """`(file, line, notebook)` of the definition of `obj`: the exported file and line relative to the repository, and
    the notebook that cell was exported from (nbdev's `# %% ../nbs/08_train.ipynb` marker above it), or None."""
    try:
        target = inspect.unwrap(obj)
        path = Path(inspect.getsourcefile(target)).resolve()
        _, line = inspect.getsourcelines(target)
        rel = path.relative_to(ROOT).as_posix()
    except Exception:  # noqa: BLE001 - builtins, C extensions, constants, objects defined elsewhere
        return None
    line = max(line, 1)
    nb = None
    for text in reversed(path.read_text(encoding="utf-8").splitlines()[:line]):
        m = _re_cell_marker.match(text)
        if m:
            nb = posixpath.normpath(posixpath.join(posixpath.dirname(rel), m.group(1)))
            break
    return rel, line, nb


def source_url(obj, cfg, page_dir: str = ".", page_nb: str | None = None, nbs_name: str = "nbs",
               notebooks=None) -> str | None:
    """The "source" link of an API entry. With a repository URL: the line that defines `obj` in the exported module
    (or the page's notebook when the line is unknown). Without: the notebook that defines `obj` (`notebooks`: those the
    site carries, relative to nbs/), linked relative to `page_dir`, else the page's own notebook `page_nb`."""
    loc = source_location(obj)
    nb = page_nb
    if loc and loc[2] and loc[2].startswith(nbs_name + "/"):
        defined_in = loc[2][len(nbs_name) + 1:]
        if notebooks is None or defined_in in notebooks:
            nb = defined_in
    if repo_url:
        base = f"{repo_url.rstrip('/')}/blob/{cfg.get('branch', 'main')}"
        if loc:
            return f"{base}/{loc[0]}#L{loc[1]}"
        return f"{base}/{nbs_name}/{nb}" if nb else None
    return posixpath.relpath(nb, page_dir or ".") if nb else None


_re_showdoc_source = re.compile(r"\[source\]\([^)]*\)(\{[^}]*\})?[ \t]*\n*")


def render_doc(obj, name: str, cfg, title_level: int = 3, value_src: str | None = None, source=None) -> str:
    """Markdown API documentation of `obj` made by nbdev's show_doc (BasicMarkdownRenderer), in this process.
    `source(obj)` gives the "source" link (nbdev's own, made from `_modidx`, has no line number: `#LNone`)."""
    from nbdev.showdoc import BasicMarkdownRenderer, show_doc
    md = None
    if inspect.isclass(obj) or inspect.isroutine(obj) or callable(obj) and hasattr(obj, "__wrapped__"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = show_doc(obj, renderer=BasicMarkdownRenderer, name=name, title_level=title_level)
            if r is not None:
                md = r._repr_markdown_()
                md += param_table(obj)
    if md is None:  # a constant, a dict of factories, an instance: its definition, or its type and value
        if value_src:
            lines = value_src.splitlines()
            code = "\n".join(lines[:40] + (["..."] if len(lines) > 40 else []))
        else:
            val = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))
            code = f"{name}: {type(obj).__name__} = {val[:300] + ' ...' if len(val) > 300 else val}"
        md = f"---\n\n{'#' * title_level} {name}\n\n```python\n{code}\n```"
    md = _re_showdoc_source.sub("", md, count=1)
    url = source(obj) if source else None
    if url:
        attrs = ' target="_blank"' if url.startswith(("http:", "https:")) else ""
        md = md.replace("---\n\n", f'---\n\n[source]({url}){{ .nb-doc-source{attrs} }}\n\n', 1)
    return md


def param_table(obj) -> str:
    "nbdev's parameter table (fastcore's DocmentTbl: type, default, details) when the parameters are documented."
    try:
        from fastcore.docments import DocmentTbl, _maybe_nm
        tbl = DocmentTbl(obj)
        if not tbl.has_docment:
            return ""

        def row(cells):  # DocmentTbl's rows, with `|` (as in `int | None`) and newlines escaped
            return "| " + " | ".join(str(_maybe_nm(c)).replace("|", "\\|").replace("\n", "<br>")
                                     for c in cells) + " |"
        hdr = tbl._hdr_list
        lines = [row(hdr), "| " + " | ".join("-" * max(3, len(h)) for h in hdr) + " |"]
        lines += [row(r) for r in tbl._row_list]
        if tbl.has_return:
            ret = tbl.dm["return"]
            lines.append(row(["**Returns**"] + [ret[c] for c in tbl._columns]))
        return "\n\n" + "\n".join(lines)
    except Exception:  # noqa: BLE001 - the table is a bonus; the signature and docstring are already there
        return ""


_re_heading = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*$", re.MULTILINE)


def finish_doc_md(md: str, used_ids: set) -> tuple[str, str | None, str | None]:
    "Give the first heading of a show_doc block nbdev's anchor and a class; escape its Markdown."
    m = _re_heading.search(md)
    if not m:
        return md, None, None
    level, text = m.group(1), m.group(2)
    if re.search(r"\{[^}]*\}\s*$", text):  # already has attributes
        return md, None, None
    name = text.strip().strip("`")
    aid = anchor_for(name)
    base, i = aid, 1
    while aid in used_ids:
        aid, i = f"{base}-{i}", i + 1
    used_ids.add(aid)
    new = f"{level} {_md_escape(name)} {{ #{aid} .nb-doc }}"
    return md[:m.start()] + new + md[m.end():], name, aid


# ---------------------------------------------------------------------------------------------------------------
# Markdown helpers: fenced code, links, math
# ---------------------------------------------------------------------------------------------------------------

_re_fence = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


def split_fences(md: str) -> list[tuple[bool, str]]:
    "Split Markdown into (is_code, text) segments, code being fenced blocks."
    out, buf, fence = [], [], None
    for line in md.splitlines(keepends=True):
        m = _re_fence.match(line)
        if fence is None and m:
            if buf:
                out.append((False, "".join(buf)))
            buf, fence = [line], m.group(1)
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line.strip()[len(m.group(1)):].strip():
            buf.append(line)
            out.append((True, "".join(buf)))
            buf, fence = [], None
        else:
            buf.append(line)
    if buf:
        out.append((fence is not None, "".join(buf)))
    return out


def map_text(md: str, fn) -> str:
    "Apply `fn` to the Markdown outside fenced code blocks."
    return "".join(seg if code else fn(seg) for code, seg in split_fences(md))


_re_code_span = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def map_outside_code_spans(text: str, fn) -> str:
    out, pos = [], 0
    for m in _re_code_span.finditer(text):
        out.append(fn(text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(fn(text[pos:]))
    return "".join(out)


_math_warned: set = set()


def _mathml(tex: str, display: bool) -> str:
    try:
        from latex2mathml.converter import convert
        ml = convert(tex.strip(), display="block" if display else "inline")
        ml = ml.replace("\n", " ")
    except Exception as e:  # noqa: BLE001
        if tex not in _math_warned:
            _math_warned.add(tex)
            log(f"note: math left as LaTeX (latex2mathml: {type(e).__name__}: {e}): {tex[:80]!r}")
        return f'<code class="nb-math-tex">{html.escape(tex)}</code>'
    cls = "nb-math-display" if display else "nb-math"
    return f'<span class="{cls}">{ml}</span>'


_re_display_math = re.compile(r"(?<![\\$])\$\$(.+?)(?<!\\)\$\$", re.DOTALL)
# Pandoc's rule: `$` opens when followed by a non-space, closes after a non-space and before no digit.
_re_inline_math = re.compile(r"(?<![\\$\w])\$(?=[^\s$])((?:\\.|[^$\\\n])+?)(?<=[^\s\\])\$(?![\d$])")


def convert_math(md: str) -> str:
    "`$...$` and `$$...$$` (outside code) to MathML, which browsers render without any script."
    if "$" not in md:
        return md

    def fn(text: str) -> str:
        text = _re_display_math.sub(lambda m: _mathml(m.group(1), True), text)
        return _re_inline_math.sub(lambda m: _mathml(m.group(1), False), text)
    return map_text(md, lambda seg: map_outside_code_spans(seg, fn))


_re_md_link = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()(<[^>]*>|[^)\s]+)((?:\s+\"[^\"]*\")?\))")
_re_html_attr = re.compile(r"""(\b(?:src|href)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE)


def rewrite_targets(md: str, fn) -> str:
    "Apply `fn` to every link/image target in Markdown and inline HTML (outside code; link text may hold code)."
    def one(text):
        spans = [m.span() for m in _re_code_span.finditer(text)]

        def in_code(pos):
            return any(a <= pos < b for a, b in spans)

        def md_link(m):
            if in_code(m.start()) or in_code(m.start(2)):
                return m.group(0)
            return m.group(1) + fn(m.group(2).strip("<>")) + m.group(3)

        def html_attr(m):
            if in_code(m.start()):
                return m.group(0)
            return m.group(1) + m.group(2) + fn(m.group(3)) + m.group(2)
        text = _re_md_link.sub(md_link, text)
        spans = [m.span() for m in _re_code_span.finditer(text)]
        return _re_html_attr.sub(html_attr, text)
    return map_text(md, one)


_callout_types = {"note": "note", "tip": "tip", "warning": "warning", "important": "danger", "caution": "warning"}
_re_div_open = re.compile(r"^:::+\s*(\{[^}]*\}|[\w-]+)?\s*$")


def quarto_divs(md: str) -> str:
    "Quarto callouts (`::: {.callout-note}`) to admonitions; other fenced divs are dropped, their text kept."
    if ":::" not in md:
        return md
    lines, out, stack = md.splitlines(), [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _re_div_open.match(line.strip()) if line.lstrip().startswith(":::") else None
        if m and m.group(1):
            attrs = m.group(1)
            c = re.search(r"\.callout-(\w+)", attrs)
            if c:
                kind = _callout_types.get(c.group(1), "note")
                t = re.search(r'title\s*=\s*"([^"]*)"', attrs)
                title = t.group(1) if t else None
                # A first `## Heading` inside a callout is its title, as in Quarto.
                if title is None and i + 1 < len(lines) and re.match(r"^#{1,6}\s+\S", lines[i + 1]):
                    i += 1
                    title = re.sub(r"^#{1,6}\s+", "", lines[i]).strip()
                out.append(f'!!! {kind} "{title}"' if title else f"!!! {kind}")
                out.append("")
                stack.append("callout")
            else:
                stack.append("div")
        elif m and not m.group(1) and stack:
            stack.pop()
            out.append("")
        elif stack and "callout" in stack:
            out.append("    " + line if line.strip() else "")
        else:
            out.append(line)
        i += 1
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# One notebook -> one Markdown page
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Page:
    rel_nb: Path            # notebook path relative to nbs/
    md_path: Path           # page path relative to the docs dir (core.md)
    title: str = ""
    description: str = ""
    blocks: list = field(default_factory=list)   # Markdown blocks
    documented: dict = field(default_factory=dict)  # symbol name -> anchor
    modules: list = field(default_factory=list)  # modules this notebook exports to (default_exp first)
    files: dict = field(default_factory=dict)    # path relative to docs dir -> bytes or source Path
    used_ids: set = field(default_factory=set)

    @property
    def html_name(self) -> str:
        return self.md_path.with_suffix(".html").as_posix()

    @property
    def files_dir(self) -> Path:
        return self.md_path.with_name(self.md_path.stem + "_files")


def _fence(code: str, lang: str = "", classes: str = "") -> str:
    n = max([3] + [len(m) + 1 for m in re.findall(r"`{3,}", code)])
    ticks = "`" * n
    info = lang
    if classes:
        info = "{ " + (f".{lang} " if lang else "") + classes + " }"
    return f"{ticks}{(' ' + info) if info else ''}\n{code.rstrip()}\n{ticks}"


_re_ansi = re.compile(r"\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])")


def clean_stream(text: str) -> str:
    "Strip ANSI colours and replay carriage returns (progress bars) as a terminal would."
    text = _re_ansi.sub("", text)
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(line)
    return "\n".join(lines)


def _text(x) -> str:
    return "".join(x) if isinstance(x, list) else (x or "")


_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/svg+xml": "svg"}
_WIDGET = "application/vnd.jupyter.widget-view+json"


class NotebookRenderer:
    "Turn one notebook (processed by nbdev's processors, outputs kept) into a `Page`."

    def __init__(self, nbs: Path, rel: Path, page_md: Path, cfg, mods: dict, lib_name: str):
        self.nbs, self.rel, self.cfg, self.mods, self.lib = nbs, rel, cfg, mods, lib_name
        self.path = nbs / rel
        self.page = Page(rel_nb=rel, md_path=page_md)
        self.page_dir = page_md.parent

    notebooks = None      # the notebooks the site carries (relative to nbs/), set by the builder
    nbs_name = "nbs"      # the notebook folder relative to the repository, set by the builder

    def source(self, obj) -> str | None:
        return source_url(obj, self.cfg, self.page_dir.as_posix(), self.rel.as_posix(), self.nbs_name, self.notebooks)

    def where(self, idx=None) -> str:
        return f"nbs/{self.rel.as_posix()}" + (f", cell {idx}" if idx is not None else "")

    # -- nbdev processing --------------------------------------------------------------------------------------
    def process(self):
        from execnb.nbio import read_nb
        from nbdev import processors as P
        from nbdev.process import NBProcessor
        try:
            nb = read_nb(self.path)
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"cannot read {self.where()}: {type(e).__name__}: {e}") from e
        for i, c in enumerate(nb.cells):
            c.orig_idx_ = i
        self.default_exp = P._default_exp(nb)
        # nbdev's processors, in nbdev's order, minus the ones that execute code (exec_show_docs), need Quarto
        # (fenced divs, code-fold), or do what this script does itself (frontmatter, links, show_doc cells).
        procs = [P.populate_language, self.add_show_docs(), P.strip_ansi, P.hide_line, P.filter_stream_,
                 P.rm_header_dash, self.mark_show_docs, P.rm_export, P.ai_magics, P.clean_magics, P.hide_,
                 self.mv_exports, P.strip_hidden_metadata]
        try:
            proc = NBProcessor(nb=nb, procs=procs)
            proc.process()
        except BuildError:
            raise
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"nbdev could not process {self.where()}: {type(e).__name__}: {e}") from e
        return proc.nb

    def module_for(self, cell) -> str | None:
        "The module an exported cell goes to: `#| export NAME` or the notebook's `#| default_exp`."
        d = getattr(cell, "directives_", {}) or {}
        for k in ("export", "exports", "exporti"):
            if d.get(k):
                return d[k][0]
        return self.default_exp

    def qual(self, mod: str | None) -> str | None:
        if not mod:
            return None
        return mod if mod.startswith(self.lib + ".") or mod == self.lib else f"{self.lib}.{mod}"

    def add_show_docs(self):
        "nbdev's add_show_docs (a show_doc after each exported definition), plus exported constants in __all__."
        from nbdev import processors as P

        class _Proc:
            def __init__(s, nb): s.nb = nb

            def begin(s):
                cells = s.nb.cells
                trees = [t for c in cells for t in (c.parsed_() or [])]
                shown = {P._get_nm(t) for t in P._show_docs(trees)}
                fm = {}
                for c in cells:  # frontmatter may say `skip_showdoc: true`
                    if c.cell_type == "raw":
                        from nbdev.frontmatter import _fm2dict
                        fm.update(_fm2dict(c.source) or {})
                if str(fm.get("skip_showdoc", "")).lower() in ("true", "1", "yes"):
                    return
                mods = []
                for cell in [c for c in cells if P._want_doc(c)]:
                    mod = self.qual(self.module_for(cell))
                    if mod and mod not in mods:
                        mods.append(mod)
                    names = P._def_names(cell, shown)
                    m = self.mods.get(mod)
                    exported = set(getattr(m, "__all__", []) or [])
                    value_src = {}
                    for node in (cell.parsed_() or []):
                        targets = []
                        if isinstance(node, ast.Assign):
                            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
                        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                            targets = [node.target.id]
                        for t in targets:
                            if t in exported and t not in shown and t not in names:
                                names.append(t)
                                value_src[t] = ast.get_source_segment(cell.source, node)
                    # definitions first (source order), then the constants
                    new = []
                    for nm in names:
                        nc = P.mk_cell(f"show_doc({nm})")
                        nc.has_sd, nc.sd_name, nc.sd_module = True, nm, mod
                        nc.sd_source = value_src.get(nm)
                        nc.orig_idx_ = getattr(cell, "orig_idx_", None)
                        new.append(nc)
                    pos = cells.index(cell) + 1
                    cells[pos:pos] = new
                self.page.modules = mods
        return _Proc

    class mv_exports:
        "nbdev's mv_exports (the docs of an `#| exports` cell go before its folded source), safe at the end."
        def __init__(self, nb):
            self.nb = nb

        def begin(self):
            cells = self.nb.cells
            exports = [c for c in cells if c.cell_type == "code" and "exports" in (c.get("directives_") or {})]
            for cell in reversed(exports):
                i = j = cells.index(cell)
                while j + 1 < len(cells) and getattr(cells[j + 1], "has_sd", False):
                    j += 1
                if j > i:
                    cells[i:j + 1] = cells[i + 1:j + 1] + [cell]

    def mark_show_docs(self, cell):
        "Cells with show_doc calls written by the author: rendered in this process (stored outputs as fallback)."
        if cell.cell_type == "code" and not getattr(cell, "has_sd", False) and is_show_doc_cell(cell):
            cell.user_sd = True

    # -- show_doc in this process -----------------------------------------------------------------------------
    def namespace(self, mod: str | None) -> dict:
        ns = {}
        for name, m in self.mods.items():
            ns[name.rsplit(".", 1)[-1]] = m
            for n in getattr(m, "__all__", []) or []:
                if hasattr(m, n):
                    ns.setdefault(n, getattr(m, n))
        for m in [self.mods.get(self.qual(self.default_exp)), self.mods.get(mod)]:
            if m is not None:
                ns.update(vars(m))
        return ns

    def lookup(self, name: str, mod: str | None):
        ns = self.namespace(mod)
        try:
            return eval(name, ns)  # noqa: S307 - a dotted name from the notebook's own show_doc cell
        except Exception as e:  # noqa: BLE001
            raise BuildError(
                f"{self.where()}: cannot find {name!r} (exported to {mod or 'no module'}) in the imported "
                f"package: {type(e).__name__}: {e}. Is bkd/ up to date? Run `make export`.") from e

    def doc_block(self, obj, name: str, value_src: str | None = None) -> str:
        try:
            md = render_doc(obj, name, self.cfg, value_src=value_src, source=self.source)
        except Exception as e:  # noqa: BLE001
            raise BuildError(f"{self.where()}: nbdev's show_doc failed for {name}: {type(e).__name__}: {e}") from e
        md, shown, aid = finish_doc_md(md, self.page.used_ids)
        if shown:
            self.page.documented.setdefault(shown, aid)
        return md

    def user_show_doc(self, cell) -> list[str]:
        "Render `show_doc(X, ...)` calls of a cell in this process; fall back to its stored Markdown outputs."
        blocks = []
        try:
            trees = ast.parse(cell.source).body
        except SyntaxError:
            trees = []
        calls = [t for t in trees if isinstance(t, ast.Expr) and isinstance(t.value, ast.Call)
                 and getattr(t.value.func, "id", None) == "show_doc"]
        ns = self.namespace(self.qual(self.default_exp))
        try:
            for t in calls:
                call = t.value
                if not call.args:
                    continue
                obj = eval(compile(ast.Expression(call.args[0]), "<show_doc>", "eval"), ns)  # noqa: S307
                kw = {k.arg: eval(compile(ast.Expression(k.value), "<show_doc>", "eval"), ns)  # noqa: S307
                      for k in call.keywords if k.arg in ("name", "title_level")}
                name = kw.get("name") or ast.unparse(call.args[0])
                md = render_doc(obj, name, self.cfg, title_level=kw.get("title_level", 3), source=self.source)
                md, shown, aid = finish_doc_md(md, self.page.used_ids)
                if shown:
                    self.page.documented.setdefault(shown, aid)
                blocks.append(md)
            if calls:
                return blocks
        except Exception as e:  # noqa: BLE001
            stored = [o for o in cell.get("outputs", []) if "text/markdown" in (o.get("data") or {})]
            if not stored:
                raise BuildError(f"{self.where(getattr(cell, 'orig_idx_', None))}: cannot render "
                                 f"{cell.source.strip()!r} here ({type(e).__name__}: {e}) and the cell has no "
                                 "stored output") from e
        for o in cell.get("outputs", []):
            md = _text((o.get("data") or {}).get("text/markdown"))
            if md:
                md, shown, aid = finish_doc_md(md, self.page.used_ids)
                if shown:
                    self.page.documented.setdefault(shown, aid)
                blocks.append(md)
        return blocks

    # -- cells -> Markdown -------------------------------------------------------------------------------------
    def render(self) -> Page:
        nb = self.process()
        fm = {}
        cells = list(nb.cells)
        from nbdev.frontmatter import _fm2dict
        # YAML frontmatter in a raw cell
        for c in cells:
            if c.cell_type == "raw" and _fm2dict(c.source or ""):
                fm.update(_fm2dict(c.source))
                c.drop_ = True
        # nbdev's title cell: `# Title`, `> description`, `- key: value` lines; the rest of that cell is kept.
        if "title" not in fm:
            for c in cells:
                if getattr(c, "drop_", False) or c.cell_type != "markdown":
                    continue
                m = re.search(r"^#\s+(\S.*?)\s*$", c.source, flags=re.M)
                if m:
                    fm["title"] = m.group(1)
                    rest = c.source[:m.start()] + c.source[m.end():]
                    d = re.search(r"^>\s+(\S.*?)\s*$", rest, flags=re.M)
                    if d and "description" not in fm:
                        fm["description"] = d.group(1)
                        rest = rest[:d.start()] + rest[d.end():]
                    kv = re.compile(r"\A\s*(?:^-\s+[\w-]+:\s*\S.*$\n?)+", flags=re.M)
                    k = kv.match(rest)
                    if k:
                        import yaml
                        try:
                            fm.update(yaml.safe_load("\n".join(x.lstrip("- ") for x in k.group(0).splitlines()
                                                               if x.strip())) or {})
                            rest = rest[k.end():]
                        except Exception:  # noqa: BLE001
                            pass
                    c.source = rest.strip()
                    if not c.source:
                        c.drop_ = True
                break
        p = self.page
        p.title = str(fm.get("title") or self.rel.stem)
        p.description = str(fm.get("description") or "")
        for c in cells:
            if getattr(c, "drop_", False):
                continue
            try:
                p.blocks += self.render_cell(c)
            except BuildError:
                raise
            except Exception as e:  # noqa: BLE001
                raise BuildError(f"{self.where(getattr(c, 'orig_idx_', None))}: cannot render this cell: "
                                 f"{type(e).__name__}: {e}") from e
        return p

    def render_cell(self, c) -> list[str]:
        if c.cell_type == "markdown":
            return [self.markdown(c.source, c)] if c.source.strip() else []
        if c.cell_type == "raw":
            fmt = (c.get("metadata") or {}).get("format") or (c.get("metadata") or {}).get("raw_mimetype") or ""
            if fmt in ("text/html", "html", "text/markdown", "markdown"):
                return [c.source]
            return []
        if c.cell_type != "code":
            return []
        if getattr(c, "has_sd", False):
            obj = self.lookup(c.sd_name, c.sd_module)
            return [self.doc_block(obj, c.sd_name, getattr(c, "sd_source", None))]
        opts = {k[:-1]: (v[0] if v else "") for k, v in (getattr(c, "directives_", {}) or {}).items()
                if k.endswith(":")}
        src_lines = (c.source or "").splitlines()
        while src_lines and re.match(r"^\s*#\|\s*[\w-]+\s*:", src_lines[0]):
            k, _, v = re.sub(r"^\s*#\|\s*", "", src_lines.pop(0)).partition(":")
            opts.setdefault(k.strip(), v.strip())
        opts = {k: str(v).strip().strip('"').strip("'") for k, v in opts.items()}
        if "exports" in (getattr(c, "directives_", {}) or {}):  # nbdev shows `#| exports` code folded
            opts.setdefault("code-fold", "show")
            opts.setdefault("code-summary", "Exported source")
        if opts.get("include", "").lower() == "false":
            return []
        if getattr(c, "user_sd", False):
            return self.user_show_doc(c)
        blocks = []
        src = "\n".join(src_lines).strip("\n")
        if src.strip() and opts.get("echo", "").lower() != "false":
            lang = code_lang(c)
            code = _fence(src, lang)
            fold = opts.get("code-fold", "").lower()
            if fold in ("true", "show"):
                summary = opts.get("code-summary") or "Code"
                code = (f'???{"+" if fold == "show" else ""} abstract "{summary}"\n\n'
                        + "\n".join("    " + ln if ln else "" for ln in code.splitlines()))
            blocks.append(code)
        if opts.get("output", "").lower() != "false" and opts.get("eval", "").lower() != "false":
            blocks += self.outputs(c, asis=opts.get("output", "").lower() == "asis")
        return blocks

    def outputs(self, c, asis=False) -> list[str]:
        blocks, idx = [], getattr(c, "orig_idx_", 0)
        outs = list(c.get("outputs", []) or [])
        # merge consecutive stream outputs of the same stream
        merged = []
        for o in outs:
            if o.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                    and merged[-1].get("name") == o.get("name"):
                merged[-1] = dict(merged[-1], text=_text(merged[-1].get("text")) + _text(o.get("text")))
            else:
                merged.append(o)
        for j, o in enumerate(merged):
            t = o.get("output_type")
            if t == "stream":
                text = clean_stream(_text(o.get("text"))).strip("\n")
                if text.strip():
                    cls = "nb-stderr" if o.get("name") == "stderr" else "nb-stdout"
                    blocks.append(self.wrap(_fence(text, "text"), cls))
            elif t == "error":
                tb = clean_stream("\n".join(o.get("traceback") or [f"{o.get('ename')}: {o.get('evalue')}"]))
                blocks.append(self.wrap(_fence(tb, "text"), "nb-error"))
            elif t in ("display_data", "execute_result"):
                b = self.rich_output(o, f"cell{idx}_out{j}", asis)
                if b:
                    blocks.append(b)
        return blocks

    def wrap(self, md: str, cls: str) -> str:
        return f'<div class="nb-output {cls}" markdown="1">\n\n{md}\n\n</div>'

    def rich_output(self, o, stem: str, asis: bool) -> str | None:
        data = o.get("data") or {}
        meta = o.get("metadata") or {}
        if _WIDGET in data:
            return None  # interactive widgets need a kernel; their text form says nothing useful
        for mime, ext in _IMAGE_TYPES.items():
            if mime in data:
                raw = _text(data[mime])
                blob = raw.encode() if mime == "image/svg+xml" else base64.b64decode(raw)
                rel = self.page.files_dir / f"{stem}.{ext}"
                self.page.files[rel.as_posix()] = blob
                alt = _text(data.get("text/plain", "")).strip() or "figure"
                alt = re.sub(r"[\[\]<>\n]", " ", alt).strip()[:120] or "figure"
                attrs = []
                m = meta.get(mime) or {}
                if isinstance(m, dict):
                    for k in ("width", "height"):
                        if m.get(k):
                            attrs.append(f'{k}="{int(m[k])}"')
                link = posixpath.relpath(rel.as_posix(), self.page_dir.as_posix() or ".")
                img = f"![{alt}]({link})" + (f"{{ {' '.join(attrs)} }}" if attrs else "")
                return self.wrap(img, "nb-figure")
        if "text/markdown" in data:
            md = _text(data["text/markdown"])
            return md if asis else self.wrap(self.markdown(md, None), "nb-markdown")
        if "text/html" in data:
            h = _text(data["text/html"]).strip()
            return f'<div class="nb-output nb-html" markdown="0">\n{h}\n</div>'
        if "text/latex" in data and "text/plain" not in data:
            return self.wrap(convert_math(_text(data["text/latex"])), "nb-latex")
        if "text/plain" in data:
            return self.wrap(_fence(clean_stream(_text(data["text/plain"])), "text"), "nb-result")
        return None

    # -- Markdown cells -----------------------------------------------------------------------------------------
    def markdown(self, md: str, cell) -> str:
        atts = (cell.get("attachments") if cell is not None else None) or {}

        def target(t: str) -> str:
            return self.local_target(t, atts, getattr(cell, "orig_idx_", 0) if cell is not None else 0)
        md = quarto_divs(md)
        md = rewrite_targets(md, target)
        return md

    def local_target(self, t: str, atts: dict, idx) -> str:
        "Rewrite a link target: attachments and files beside the notebook are copied, notebooks become pages."
        if not t or t.startswith(("#", "mailto:", "data:", "javascript:")) or re.match(r"^[a-zA-Z][\w+.-]*://", t):
            return t
        if t.startswith("attachment:"):
            name = t[len("attachment:"):]
            att = atts.get(name)
            if not att:
                raise BuildError(f"{self.where(idx)}: the attachment {name!r} is missing from the cell")
            mime, b64 = next(iter(att.items()))
            rel = self.page.files_dir / f"att{idx}_{re.sub(r'[^A-Za-z0-9._-]', '_', name)}"
            self.page.files[rel.as_posix()] = base64.b64decode(_text(b64))
            return posixpath.relpath(rel.as_posix(), self.page_dir.as_posix() or ".")
        path, sep, frag = t.partition("#")
        path, qsep, query = path.partition("?")
        if not path or path.startswith("/"):
            return t
        from urllib.parse import unquote
        src = (self.path.parent / unquote(path)).resolve()
        tail = (qsep + query if qsep else "") + (sep + frag if sep else "")
        nbs = self.nbs.resolve()
        # a link to another notebook, or to its nbdev page name (`core.html`), goes to its page
        if src.suffix in (".ipynb", ".html", ".md"):
            try:
                rel_nb = src.relative_to(nbs)
            except ValueError:
                rel_nb = None
            if rel_nb is not None:
                target_md = self.resolve_page(rel_nb)
                if target_md is not None:
                    return posixpath.relpath(target_md.as_posix(), self.page_dir.as_posix() or ".") + tail
        if src.is_file():
            try:
                dest = src.relative_to(nbs)
            except ValueError:
                try:
                    dest = Path("_assets") / src.relative_to(ROOT)
                except ValueError:
                    dest = Path("_assets/ext") / src.name
            self.page.files[dest.as_posix()] = src
            return posixpath.relpath(dest.as_posix(), self.page_dir.as_posix() or ".") + tail
        return t  # left alone: MkDocs --strict reports it if it is broken

    resolve_page = staticmethod(lambda rel_nb: None)  # set by the builder


def code_lang(c) -> str:
    lang = ((c.get("metadata") or {}).get("language") or "python").lower()
    return {"js": "javascript", "sh": "bash"}.get(lang, lang)


def is_show_doc_cell(cell) -> bool:
    from nbdev import processors as P
    return bool(P._is_showdoc(cell))


# ---------------------------------------------------------------------------------------------------------------
# Symbol links (nbdev's linkify with this site's relative URLs)
# ---------------------------------------------------------------------------------------------------------------

def make_linker(symbols: dict, page: Page, cfg):
    "nbdev's NbdevLookup.linkify, with `bkd` symbols pointing at this site's pages (relative links)."
    global _Linker
    from nbdev.doclinks import NbdevLookup
    if _Linker is None:
        _Linker = _linker_class()
    try:
        ext = NbdevLookup().syms
    except Exception:  # noqa: BLE001
        ext = {}
    own = (cfg.get("doc_host", "") + cfg.get("doc_baseurl", "")).rstrip("/")
    syms = {}
    for k, v in ext.items():  # other nbdev libraries' docs (absolute URLs); skip this library's deployed site
        url = v[0] if isinstance(v, tuple) else v
        if "." in k and isinstance(url, str) and not (own and url.startswith(own)):
            syms[k] = url
    here = page.md_path.parent.as_posix() or "."
    for name, (md_path, aid) in symbols.items():
        syms[name] = posixpath.relpath(md_path.as_posix(), here) + "#" + aid
    lk = _Linker.__new__(_Linker)
    lk.syms, lk.aliases = syms, {}
    return lk


def _linker_class():
    from nbdev.doclinks import NbdevLookup

    class Linker(NbdevLookup):
        "nbdev's linkify, except for names that already are the text of a link (`[`name`](url)`)."
        _re = re.compile(r"(?<!\[)`([^`\s]+?)(?:\(\))?`(?!\]\()")

        def link_line(self, line):
            return self._re.sub(self._link_sym, line)
    return Linker


_Linker = None


# ---------------------------------------------------------------------------------------------------------------
# The offline build
# ---------------------------------------------------------------------------------------------------------------

def build_offline(nbs: Path, out: Path, keep_md: Path | None = None) -> None:
    t0 = time.time()
    cfg = load_config()
    lib = cfg.get("lib_name", "bkd")
    lib_path = cfg.get("lib_path", lib)
    if not nbs.is_dir():
        raise BuildError(f"no notebook folder at {nbs}")
    rels = find_notebooks(nbs)
    if not rels:
        raise BuildError(f"no notebooks in {nbs} (names starting with '_' are skipped)")
    pages_for = {}
    for rel in rels:
        md = page_name(rel)
        if md in pages_for.values():
            other = next(r for r, m in pages_for.items() if m == md)
            raise BuildError(f"nbs/{rel.as_posix()} and nbs/{other.as_posix()} would both become "
                             f"{md.with_suffix('.html')}: rename one of them")
        pages_for[rel] = md
    log(f"{len(rels)} notebook(s): " + ", ".join(r.as_posix() for r in rels))
    nbs_name = nbs.resolve().relative_to(ROOT).as_posix() if nbs.resolve().is_relative_to(ROOT) else nbs.name
    notebooks = {r.as_posix() for r in rels}

    mods = import_library(Path(str(lib_path)).name if lib_path else lib)
    log(f"imported {len(mods)} module(s) of {lib} in {time.time() - t0:.1f}s")

    def resolve_page(rel_nb: Path):
        rel_nb = Path(rel_nb)
        if rel_nb.suffix == ".ipynb":
            return pages_for.get(rel_nb)
        for r, m in pages_for.items():  # `core.html` / `core.md` -> the page of 00_core.ipynb
            if m.with_suffix(rel_nb.suffix) == rel_nb:
                return m
        return None

    # pass 1: every notebook to Markdown blocks, and what each page documents
    pages = []
    for rel in rels:
        r = NotebookRenderer(nbs, rel, pages_for[rel], cfg, mods, lib)
        r.resolve_page = resolve_page
        r.notebooks, r.nbs_name = notebooks, nbs_name
        pages.append(r.render())

    # every name in a module's __all__ must be documented somewhere: add the missing ones to the page of the
    # notebook that exports the module (or to an extra page for modules no notebook exports)
    documented = {n for p in pages for n in p.documented}
    owner = {}
    for p in pages:
        for m in p.modules:
            owner.setdefault(m, p)
    extra_page = None
    for mod_name, mod in mods.items():
        missing = [n for n in (getattr(mod, "__all__", None) or []) if n not in documented and hasattr(mod, n)]
        if not missing:
            continue
        page = owner.get(mod_name)
        if page is None:
            if extra_page is None:
                extra_page = Page(rel_nb=Path(), md_path=Path("api_other.md"), title="Other modules",
                                  description=f"Modules of {lib} that no notebook exports.")
                pages.append(extra_page)
            page = extra_page
            page.blocks.append(f"## {mod_name}")
        else:
            page.blocks.append(f"## Other names exported by `{mod_name}`")
        for n in missing:
            src = functools.partial(source_url, cfg=cfg, page_dir=page.md_path.parent.as_posix(),
                                    page_nb=page.rel_nb.as_posix() if page.rel_nb != Path() else None,
                                    nbs_name=nbs_name, notebooks=notebooks)
            md, shown, aid = finish_doc_md(render_doc(getattr(mod, n), n, cfg, source=src), page.used_ids)
            if shown:
                page.documented.setdefault(shown, aid)
            documented.add(n)
            page.blocks.append(md)
        log(f"note: {mod_name}: {', '.join(missing)} documented at the end of {page.html_name} "
            "(no show_doc for them in a notebook)")
    undocumented = [f"{m}.{n}" for m, mod in mods.items() for n in (getattr(mod, "__all__", None) or [])
                    if n not in documented]
    if undocumented:
        raise BuildError("these names are in __all__ but not in their module (stale bkd/? run `make export`): "
                         + ", ".join(undocumented))

    # symbol -> (page, anchor), under the bare name and the module-qualified one (as nbdev's lookup has them)
    symbols = {}
    for p in pages:
        for name, aid in p.documented.items():
            symbols.setdefault(name, (p.md_path, aid))
    for mod_name, mod in mods.items():
        for n in getattr(mod, "__all__", None) or []:
            if n in symbols:
                symbols.setdefault(f"{mod_name}.{n}", symbols[n])

    # pass 2: write the Markdown tree and the MkDocs configuration
    with tempfile.TemporaryDirectory(prefix="bkd-docs-") as tmp:
        tmp = Path(tmp)
        docs = keep_md if keep_md else tmp / "docs"
        if docs.exists():
            shutil.rmtree(docs)
        docs.mkdir(parents=True)
        (docs / "assets").mkdir()
        shutil.copy(DOCS_SRC / "nbdocs.css", docs / "assets" / "nbdocs.css")
        git_url = repo_url.rstrip("/")      # not settings.ini's git_url, a placeholder (see REPO_URL_ENV)
        branch = cfg.get("branch", "main")
        for p in pages:
            lk = make_linker(symbols, p, cfg)
            body = []
            for b in p.blocks:
                if not b.startswith('<div class="nb-output nb-html"'):
                    b = lk.linkify(convert_math(b))
                body.append(b)
            head = [f"# {p.title}"]
            if p.description:
                head.append(lk.linkify(convert_math(p.description)) + "\n{: .nb-description }")
            if p.rel_nb != Path():
                nb_copy = p.rel_nb
                link = posixpath.relpath(nb_copy.as_posix(), p.md_path.parent.as_posix() or ".")
                src = f"Source notebook: [`{nbs_name}/{p.rel_nb.as_posix()}`]({link})"
                if git_url:
                    src += f" · [view on GitHub]({git_url}/blob/{branch}/{nbs_name}/{p.rel_nb.as_posix()})"
                head.append(src + "\n{: .nb-source }")
                p.files.setdefault(nb_copy.as_posix(), nbs / p.rel_nb)
            text = "\n\n".join(head + body) + "\n"
            (docs / p.md_path).parent.mkdir(parents=True, exist_ok=True)
            (docs / p.md_path).write_text(text, encoding="utf-8")
            for rel, content in p.files.items():
                dest = docs / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    shutil.copyfile(content, dest)
                else:
                    dest.write_bytes(content)
        if not any(p.md_path == Path("index.md") for p in pages):
            lines = [f"# {cfg.get('title', lib)}", ""]
            if cfg.get("description"):
                lines += [cfg["description"], "{: .nb-description }", ""]
            lines += ["## Contents", ""]
            lines += [f"- [{p.title}]({p.md_path.as_posix()})" + (f": {p.description}" if p.description else "")
                      for p in pages]
            (docs / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
            log("note: no nbs/index.ipynb yet: the home page lists the pages")

        nav = nav_tree(pages)
        if not any(p.md_path == Path("index.md") for p in pages):
            nav.insert(0, {"Home": "index.md"})
        import yaml
        mk = yaml.safe_load((DOCS_SRC / "mkdocs.yml").read_text(encoding="utf-8"))
        mk.update({
            "site_name": cfg.get("title", lib),
            "site_description": cfg.get("description", ""),
            "site_author": cfg.get("author", ""),
            "copyright": f"Copyright {cfg.get('copyright', '')}".strip(),
            "docs_dir": str(docs),
            "site_dir": str(tmp / "site"),
            "nav": nav,
        })
        (tmp / "mkdocs.yml").write_text(yaml.safe_dump(mk, sort_keys=False, allow_unicode=True), encoding="utf-8")
        log("running mkdocs build --strict ...")
        t1 = time.time()
        res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                              "--config-file", str(tmp / "mkdocs.yml")],
                             cwd=tmp, capture_output=True, text=True,
                             env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
        if res.returncode != 0:
            out_lines = _re_ansi.sub("", res.stdout + res.stderr).splitlines()
            keep = [ln for ln in out_lines if re.match(r"^(WARNING|ERROR|CRITICAL|Aborted|Error|Traceback|\s)", ln)
                    and "│" not in ln]
            msg = "\n".join(keep or out_lines).strip()
            for p in pages:  # name the notebook behind each generated page
                if p.rel_nb != Path():
                    msg = msg.replace(f"'{p.md_path.as_posix()}'",
                                      f"'{p.md_path.as_posix()}' (from nbs/{p.rel_nb.as_posix()})")
            raise BuildError("mkdocs build failed:\n" + msg)
        log(f"mkdocs build took {time.time() - t1:.1f}s")
        out = out.resolve()
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(tmp / "site"), str(out))
    n_syms = sum(len(p.documented) for p in pages)
    log(f"built {len(pages)} page(s), {n_syms} documented name(s) into {out} in {time.time() - t0:.1f}s")


def nav_tree(pages: list[Page]) -> list:
    "MkDocs nav: pages in reading order, notebooks in sub-folders of nbs/ as sections (`01_tutorials` -> tutorials)."
    nav: list = []
    sections: dict = {}
    for p in pages:
        parts = p.rel_nb.parent.parts if p.rel_nb != Path() else ()
        items = nav
        key = ()
        for part in parts:
            key += (part,)
            if key not in sections:
                sec: list = []
                sections[key] = sec
                items.append({re.sub(r"^\d+_", "", part): sec})
            items = sections[key]
        label = "Home" if p.md_path == Path("index.md") else p.title
        items.append({label: p.md_path.as_posix()})
    return nav


# ---------------------------------------------------------------------------------------------------------------

def build_quarto() -> None:
    exe = shutil.which("nbdev_docs", path=str(Path(sys.executable).parent)) or shutil.which("nbdev_docs")
    if not exe:
        raise BuildError("nbdev_docs not found (is nbdev installed in this environment?)")
    log(f"quarto found: running {exe}")
    res = subprocess.run([exe], cwd=ROOT)
    if res.returncode != 0:
        raise BuildError(f"nbdev_docs failed with exit code {res.returncode}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--renderer", choices=["auto", "offline", "quarto"], default="auto",
                    help="auto: nbdev_docs when `quarto` is on the PATH, else the offline renderer")
    ap.add_argument("--nbs", type=Path, default=None, help="notebook folder (default: settings.ini nbs_path)")
    ap.add_argument("--out", type=Path, default=None, help="site folder (default: settings.ini doc_path)")
    ap.add_argument("--keep-md", type=Path, default=None, help="also keep the generated Markdown in this folder")
    ap.add_argument("--repo-url", default=os.environ.get(REPO_URL_ENV, ""),
                    help="the public repository (https://github.com/OWNER/NAME): API source links then go to the "
                         f"defining line there; default ${REPO_URL_ENV}, else they open the defining notebook")
    args = ap.parse_args(argv)
    global repo_url
    repo_url = args.repo_url
    os.chdir(ROOT)
    try:
        renderer = args.renderer
        if renderer == "auto":
            renderer = "quarto" if shutil.which("quarto") else "offline"
        if renderer == "quarto":
            if args.nbs or args.out or args.keep_md:
                raise BuildError("--nbs/--out/--keep-md only apply to the offline renderer")
            if not shutil.which("quarto"):
                raise BuildError("--renderer quarto needs `quarto` on the PATH")
            build_quarto()
            return 0
        cfg = load_config()
        nbs = (args.nbs or Path(cfg.get("nbs_path", "nbs"))).resolve()
        out = (args.out or Path(cfg.get("doc_path", "_docs"))).resolve()
        keep = args.keep_md.resolve() if args.keep_md else None
        build_offline(nbs, out, keep)
        return 0
    except BuildError as e:
        print(f"build_docs: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
