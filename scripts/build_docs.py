#!/usr/bin/env python
"""Build the documentation site in `_docs/` from `nbs/`: nbdev's processors -> processed notebooks -> mkdocs-jupyter.

One page per notebook (index first, then by file name; `_`/`.` names skipped), named as nbdev names them
(`nbs/00_core.ipynb` -> `core.html`, so `bkd/_modidx.py`'s links hold). Each notebook goes through nbdev's own
processors (`add_show_docs`, `#| hide`, `#| export`, `hide_line`, `filter_stream_`, `add_links`, ...); the API entries
are nbdev's `show_doc` (signature, docstring) plus fastcore's parameter table, rendered here from the imported `bkd`
(no notebook is executed: they are committed with their outputs), and the exported constants of `__all__` get an entry
with their definition. The processed notebooks go to `_proc/docs/` and MkDocs Material with mkdocs-jupyter renders them
(stored outputs, figures, math with the MathJax of jupyter-server-mathjax, built-in search), `--strict`, with the link
check of `docs_src/hooks.py`. An API entry's "source" link opens the defining notebook (carried under `nbs/`), or with
`--repo-url URL` (or $BKD_REPO_URL) the defining line of the exported module in that repository.

Usage: python scripts/build_docs.py [--nbs DIR] [--out DIR] [--repo-url URL]
"""
from __future__ import annotations

import argparse, ast, importlib, inspect, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS_SRC = ROOT / "docs_src"
_re_num = re.compile(r"^\d+[a-zA-Z0-9]*_")


def page_name(rel: Path) -> str:
    "nbdev's page name of a notebook (path relative to nbs/): `00_core.ipynb` -> `core` (`core.html`)."
    return rel.with_name(_re_num.sub("", rel.name.lower())).with_suffix("").as_posix()


def find_notebooks(nbs: Path) -> list[Path]:
    "Notebooks under `nbs` (relative paths) in reading order: index first, then by path; `_`/`.` names skipped."
    found = [p.relative_to(nbs) for p in nbs.rglob("*.ipynb")]
    found = [r for r in found if not any(part.startswith(("_", ".")) for part in r.parts)]
    return sorted(found, key=lambda r: (r.parent.parts, r.stem != "index", r.name))


def source_url(obj, nb: str, repo_url: str = "", branch: str = "main") -> str:
    "Where an API entry's source link goes: the defining line in the repository, else the notebook `nb` (under nbs/)."
    if repo_url:
        try:
            target = inspect.unwrap(obj)
            rel = Path(inspect.getsourcefile(target)).resolve().relative_to(ROOT).as_posix()
            return f"{repo_url.rstrip('/')}/blob/{branch}/{rel}#L{max(inspect.getsourcelines(target)[1], 1)}"
        except (TypeError, OSError, ValueError):
            return f"{repo_url.rstrip('/')}/blob/{branch}/nbs/{nb}"
    return f"nbs/{nb}"


def param_table(obj) -> str:
    "fastcore's docments table (type, default, details), with `|` (as in `int | None`) escaped."
    from fastcore.docments import DocmentTbl, _maybe_nm
    try:
        tbl = DocmentTbl(obj)
        assert tbl.has_docment
    except Exception:  # noqa: BLE001 - no signature (a builtin) or no documented parameters
        return ""
    rows = [tbl._hdr_list, ["---"] * len(tbl._hdr_list), *tbl._row_list]
    if tbl.has_return:
        rows.append(["**Returns**"] + [tbl.dm["return"][c] for c in tbl._columns])
    return "\n\n" + "\n".join("| " + " | ".join(str(_maybe_nm(c)).replace("|", "\\|").replace("\n", " ")
                                              for c in r) + " |" for r in rows)


def doc_md(name: str, obj, url: str, value_src: str | None = None) -> str:
    "The Markdown of one API entry: nbdev's show_doc (its source link replaced by `url`) and the parameter table."
    from nbdev.showdoc import show_doc
    head = f'<a class="nb-doc-source" href="{url}">source</a>\n\n### {name}\n\n'
    if value_src is not None:  # an exported constant: its definition
        return head + "```python\n" + value_src + "\n```"
    md = show_doc(obj, name=name)._repr_markdown_()
    return head + md.split(f"### {name}\n\n", 1)[-1] + param_table(obj)


class Site:
    "Process the notebooks with nbdev's processors into `docs` (one notebook per page), ready for MkDocs."

    def __init__(self, nbs: Path, docs: Path, repo_url: str):
        from nbdev.config import get_config
        self.nbs, self.docs, self.repo_url, self.cfg = nbs, docs, repo_url, get_config(path=ROOT)
        self.rels = find_notebooks(nbs)
        self.pages = {r.as_posix(): page_name(r) for r in self.rels}
        host = (self.cfg.get("doc_host", "") + self.cfg.get("doc_baseurl", "")).rstrip("/")
        self.own = re.compile(re.escape(host + "/")) if host else None

    def process(self, rel: Path) -> tuple:
        from execnb.nbio import read_nb
        from nbdev import processors as P
        from nbdev.process import NBProcessor
        nb = read_nb(self.nbs / rel)
        mod = P._default_exp(nb)
        module = importlib.import_module(f"{self.cfg.lib_name}.{mod}") if mod else None
        site = self

        class add_docs(P.Processor):
            "After nbdev's add_show_docs: each show_doc cell and exported constant becomes a Markdown API entry."
            def begin(self):
                cells, names = self.nb.cells, set(getattr(module, "__all__", []))
                for i in reversed(range(len(cells))):
                    c = cells[i]
                    if getattr(c, "has_sd", False):
                        name = c.source[len("show_doc("):-1]
                        c.update(cell_type="markdown", outputs=[], source=site.entry(name, module, rel))
                    elif P._want_doc(c):
                        consts = [(t.id, ast.get_source_segment(c.source, n)) for n in ast.parse(c.source).body
                                  if isinstance(n, (ast.Assign, ast.AnnAssign))
                                  for tt in (n.targets if isinstance(n, ast.Assign) else [n.target])
                                  for t in (tt.elts if isinstance(tt, ast.Tuple) else [tt])
                                  if isinstance(t, ast.Name) and t.id in names]
                        cells[i + 1:i + 1] = [P.mk_cell(site.entry(n, module, rel, src), "markdown")
                                              for n, src in consts]

        def links(cell):
            """Links to notebooks go to their pages; nbdev's links into this site (`add_links`) become relative, those to
            a method go to its class (only show_doc's names have entries)."""
            if cell.cell_type == "markdown":
                src = re.sub(r"(\.html#\w+)\.[\w.]+\)", r"\1)", self.own.sub("", cell.source) if self.own else cell.source)
                cell.source = re.sub(r"\]\(([^)\s#]+\.ipynb)", lambda m: "](" + self.page_link(m.group(1)), src)

        procs = [P.populate_language, P.add_show_docs, add_docs, P.strip_ansi, P.hide_line, P.filter_stream_,
                 P.rm_header_dash, P.rm_export, P.clean_magics, P.hide_, P.add_links, links,
                 P.strip_hidden_metadata]
        NBProcessor(nb=nb, procs=procs).process()
        i = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and re.match(r"\s*# ", c.source)), -1)
        nb.cells.insert(i + 1, P.mk_cell(f"Source notebook: [nbs/{rel.as_posix()}](nbs/{rel.as_posix()})", "markdown"))
        nb.metadata["bkd_source"] = f"nbs/{rel.as_posix()}"   # the hook's messages name the notebook
        return nb, re.match(r"\s*# (.+)", nb.cells[i].source).group(1) if i >= 0 else rel.stem

    def page_link(self, target: str) -> str:
        rel = (self.nbs / target).resolve()
        rel = rel.relative_to(self.nbs.resolve()).as_posix() if rel.is_relative_to(self.nbs.resolve()) else target
        return self.pages[rel] + ".html" if rel in self.pages else target   # else: the link check reports it

    def entry(self, name: str, module, rel: Path, value_src: str | None = None) -> str:
        try:
            obj = eval(name, vars(module))  # noqa: S307 - a (dotted) name nbdev found in this notebook
        except Exception as e:  # noqa: BLE001
            raise SystemExit(f"build_docs: error: nbs/{rel}: {name} is not in {module.__name__} "
                             f"({type(e).__name__}: {e}); is bkd/ up to date? Run `make export`.") from e
        return doc_md(name, obj, source_url(obj, rel.as_posix(), self.repo_url, self.cfg.get("branch", "main")),
                      value_src)

    def write(self) -> list:
        from execnb.nbio import write_nb
        nav = []
        for rel in self.rels:
            nb, title = self.process(rel)
            write_nb(nb, self.docs / (self.pages[rel.as_posix()] + ".ipynb"))
            (self.docs / "nbs" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.nbs / rel, self.docs / "nbs" / rel)
            nav.append({"Home" if rel.stem == "index" else title: self.pages[rel.as_posix()] + ".ipynb"})
        if "index.ipynb" not in self.pages:
            (self.docs / "index.md").write_text(f"# {self.cfg.get('title')}\n\n{self.cfg.get('description')}\n")
            nav.insert(0, {"Home": "index.md"})
        return nav


def build(nbs: Path, out: Path, repo_url: str = "") -> int:
    import yaml
    import jupyter_server_mathjax
    t0 = time.time()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory(prefix="bkd-docs-") as tmp:
        own = nbs.resolve() == (ROOT / "nbs").resolve()   # only nbs/ keeps _proc/ (mkdocs-jupyter's cache too)
        docs = ROOT / "_proc" / "docs" if own else Path(tmp) / "docs"
        shutil.rmtree(docs, ignore_errors=True)
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", docs / "assets" / "mathjax")
        shutil.copytree(DOCS_SRC / "assets", docs / "assets", dirs_exist_ok=True)
        site = Site(nbs, docs, repo_url)
        cfg = yaml.safe_load((DOCS_SRC / "mkdocs.yml").read_text(encoding="utf-8"))
        cfg.update(site_name=site.cfg.get("title"), site_description=site.cfg.get("description"),
                   copyright=f"Copyright {site.cfg.get('copyright', '')}", nav=site.write(),
                   docs_dir=str(docs), site_dir=str(Path(tmp) / "site"), hooks=[str(DOCS_SRC / "hooks.py")])
        (Path(tmp) / "mkdocs.yml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        print(f"build_docs: {len(site.rels)} notebook(s) processed in {time.time() - t0:.1f}s; mkdocs build --strict")
        res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(Path(tmp) / "mkdocs.yml")],
                             env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), capture_output=True, text=True,
                             cwd=ROOT if own else tmp)
        print("".join(ln for ln in (res.stdout + res.stderr).splitlines(True) if not ln.startswith("INFO")), end="")
        if res.returncode:
            print("build_docs: error: mkdocs build failed (see above)", file=sys.stderr)
            return 1
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(str(Path(tmp) / "site"), str(out))
    print(f"build_docs: {len(site.rels)} page(s) in {out} in {time.time() - t0:.1f}s")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="notebook folder (default: nbs/)")
    ap.add_argument("--out", type=Path, default=ROOT / "_docs", help="site folder (default: _docs/)")
    ap.add_argument("--repo-url", default=os.environ.get("BKD_REPO_URL", ""),
                    help="the public repository (https://github.com/OWNER/NAME): source links go to the defining "
                         "line there (default $BKD_REPO_URL; without one they open the defining notebook)")
    args = ap.parse_args(argv)
    if not find_notebooks(args.nbs):
        print(f"build_docs: error: no notebooks in {args.nbs}", file=sys.stderr)
        return 1
    return build(args.nbs.resolve(), args.out.resolve(), args.repo_url)


if __name__ == "__main__":
    sys.exit(main())
