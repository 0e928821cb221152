"""MkDocs hooks of the docs site: each page's table of contents from its headings, and the strict link check.

mkdocs-jupyter makes the table of contents from a copy of the notebook with code spans removed, so a heading with code
in it (`find_label_issues`: ...) gets an anchor there that the page lacks; here it is read off the page's headings.

mkdocs-jupyter's pages are HTML made by nbconvert, which MkDocs' own link validation does not read. Here every relative
link, image and script of every page must be a file of the site and every `#anchor` an id of its page; a miss is a
warning naming the notebook, which `mkdocs build --strict` turns into a failed build.
"""
import html, json, logging, posixpath, re
from urllib.parse import unquote, urlsplit

from mkdocs.structure.toc import get_toc

log = logging.getLogger("mkdocs.hooks.links")
_re_target = re.compile(r'<(?:a|img|script|link)\b[^>]*?\b(?:href|src)="([^"]*)"', re.I)
_re_id = re.compile(r'\bid="([^"]+)"')
_re_heading = re.compile(r'<h([1-6])\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)


def on_page_content(content, page, config, files):
    root = {"level": 0, "children": []}
    stack = [root]
    for level, aid, inner in _re_heading.findall(content):
        name = html.unescape(re.sub(r"<[^>]+>", "", inner)).replace("\u00b6", "").strip()
        while stack[-1]["level"] >= int(level):
            stack.pop()
        stack[-1]["children"].append(tok := {"level": int(level), "id": aid, "name": name, "children": []})
        stack.append(tok)
    page.toc = get_toc(root["children"])
    return content


def on_env(env, config, files):
    pages = {unquote(f.url): f.page for f in files if f.page is not None}
    urls = {unquote(f.url) for f in files} | set(pages)
    ids = {u: set(_re_id.findall(p.content or "")) for u, p in pages.items()}
    for url, page in pages.items():
        try:
            where = json.load(open(page.file.abs_src_path, encoding="utf-8"))["metadata"]["bkd_source"]
        except Exception:  # noqa: BLE001 - a Markdown page
            where = page.file.src_uri
        for t in _re_target.findall(page.content or ""):
            s = urlsplit(t.replace("&amp;", "&"))
            if s.scheme or s.netloc or t.startswith(("data:", "mailto:")):
                continue
            path = posixpath.normpath(posixpath.join(posixpath.dirname(url), unquote(s.path))) if s.path else url
            if path not in urls:
                log.warning(f"{where} (page {url}): {t} is not a file of the site")
            elif s.fragment and path in ids and unquote(s.fragment) not in ids[path]:
                log.warning(f"{where} (page {url}): no anchor #{s.fragment} on {path} ({t})")
    return env
