"""The documentation site, as a reader sees it in a browser.

Builds `_docs/` with `scripts/build_docs.py` (nbdev's processors, then MkDocs Material with mkdocs-jupyter; no
network), serves it from
127.0.0.1 on a free port, and walks it in headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium): every notebook has its page, every internal link, anchor and image resolves, no page logs a
JavaScript error, every name in the `__all__` of every `bkd` module is documented, search finds an API name,
and a screenshot of the home page lands in `_docs/screenshot.png`. A last test breaks a copy of the site on
purpose and checks that the same checker reports each break.
"""
from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
SITE = ROOT / "_docs"
BUILD = ROOT / "scripts" / "build_docs.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900"]


# ---------------------------------------------------------------------------------------------------------------
# What the site must contain, worked out from nbs/ and bkd/ independently of the build script
# ---------------------------------------------------------------------------------------------------------------

def expected_pages() -> dict[str, str]:
    "Page (nbdev's name: nbs/00_core.ipynb -> core.html) -> notebook path relative to nbs/, index first."
    pages = {"index.html": "index.ipynb"}
    for p in sorted(NBS.rglob("*.ipynb")):
        rel = p.relative_to(NBS)
        if any(part.startswith(("_", ".")) for part in rel.parts):
            continue
        name = re.sub(r"^\d+[a-zA-Z0-9]*_", "", rel.name.lower())
        pages[rel.with_name(name).with_suffix(".html").as_posix()] = rel.as_posix()
    return pages


def exported_names() -> dict[str, list[str]]:
    "Module -> its __all__, for every module of the bkd package (imported by walking it)."
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import bkd
    mods = {"bkd": bkd}
    for info in pkgutil.walk_packages(bkd.__path__, prefix="bkd."):
        mods[info.name] = importlib.import_module(info.name)
    return {name: list(getattr(m, "__all__", []) or []) for name, m in mods.items()}


# ---------------------------------------------------------------------------------------------------------------
# A local web server and a headless browser
# ---------------------------------------------------------------------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output for failures
        pass


@contextmanager
def serve(directory: Path):
    "Serve `directory` on 127.0.0.1 (a free port) from a thread; yields the base URL; shuts down after."
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def start_browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("headless Chromium is needed for the docs test: "
                    "apt-get install -y chromium chromium-driver (.ci/run does this)")
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="bkd-chromium-")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.profile_dir_ = profile
    return driver


def stop_browser(driver):
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile_dir_, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# The checker: visit every page, follow every internal link, look at every image, read the console
# ---------------------------------------------------------------------------------------------------------------

_PAGE_JS = """
const abs = (u) => { try { return new URL(u, document.baseURI).href } catch (e) { return null } };
return {
  links: Array.from(document.querySelectorAll('a[href]')).map(a => abs(a.getAttribute('href'))).filter(Boolean),
  resources: Array.from(document.querySelectorAll('link[href], script[src]'))
               .map(e => abs(e.getAttribute('href') || e.getAttribute('src'))).filter(Boolean),
  images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, complete: i.complete,
                                                  width: i.naturalWidth})),
  ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
  headings: Array.from(document.querySelectorAll('article h1, article h2, article h3, article h4, article h5, article h6'))
               .map(h => ({id: h.id, text: h.textContent.replace(/\\u00b6/g, '').trim()})),
  nav: Array.from(document.querySelectorAll('nav.md-nav--primary a[href]')).map(a => abs(a.getAttribute('href'))),
  title: document.title,
};
"""


@dataclass
class Report:
    base: str
    visited: dict = field(default_factory=dict)   # page path -> what _PAGE_JS found
    problems: list = field(default_factory=list)
    external: set = field(default_factory=set)

    def headings(self) -> set[str]:
        return {h["text"] for info in self.visited.values() for h in info["headings"]}


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=10) as r:
            r.read(1)
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def check_site(driver, base: str, pages: list[str]) -> Report:
    "Visit `pages` (paths under `base`) and every internal page they link to; report every problem found."
    rep = Report(base)
    origin = urllib.parse.urlsplit(base)[:2]
    queue, seen, checked = list(pages), set(pages), {}
    anchors: list[tuple[str, str, str]] = []   # (from page, target page, fragment)

    def internal(url):
        return urllib.parse.urlsplit(url)[:2] == origin

    def path_of(url):
        return urllib.parse.unquote(urllib.parse.urlsplit(url).path).lstrip("/") or "index.html"

    def offline_miss(entry) -> bool:
        "A failed load of something outside the site (a badge, a remote image): expected, as the test is offline."
        url = (entry.get("message") or "").split(" ", 1)[0]
        return entry.get("source") == "network" and url.startswith(("http:", "https:")) and not internal(url)

    def exists(url) -> bool:
        key = urllib.parse.urldefrag(url)[0]
        if key not in checked:
            checked[key] = _status(key)
        return checked[key] == 200

    driver.get_log("browser")  # start from an empty console
    while queue:
        page = queue.pop(0)
        url = base + page
        if not exists(url):
            rep.problems.append(f"missing page: {page} (HTTP {checked[url]})")
            continue
        driver.get(url)
        for _ in range(50):
            if driver.execute_script("return document.readyState") == "complete":
                break
            time.sleep(0.1)
        time.sleep(0.15)  # let deferred scripts run
        info = driver.execute_script(_PAGE_JS)
        rep.visited[page] = info
        for entry in driver.get_log("browser"):
            if entry.get("level") == "SEVERE" and not offline_miss(entry):
                rep.problems.append(f"console error on {page}: {entry.get('message')}")
        for img in info["images"]:
            if not internal(img["src"]):
                rep.external.add(img["src"])   # e.g. a README badge: not loadable offline, not our problem
            elif not exists(img["src"]):
                rep.problems.append(f"missing image on {page}: {img['src']}")
            elif img["complete"] and img["width"] == 0:
                rep.problems.append(f"broken image on {page}: {img['src']}")
        for res in info["resources"]:
            if internal(res) and not exists(res):
                rep.problems.append(f"missing stylesheet/script on {page}: {res}")
        for link in info["links"]:
            if not link.startswith(("http:", "https:")):
                continue   # mailto:, javascript:, ...
            if not internal(link):
                rep.external.add(link)   # never followed: the test runs offline
                continue
            target, frag = urllib.parse.urldefrag(link)
            if not exists(target):
                rep.problems.append(f"broken link on {page}: {link} (HTTP {checked[target]})")
                continue
            tpath = path_of(target)
            if tpath.endswith(".html"):
                if tpath not in seen:
                    seen.add(tpath)
                    queue.append(tpath)
                if frag and not frag.startswith("__"):
                    anchors.append((page, tpath, urllib.parse.unquote(frag)))
    for page, tpath, frag in anchors:
        if tpath in rep.visited and frag not in rep.visited[tpath]["ids"]:
            rep.problems.append(f"broken anchor on {page}: {tpath}#{frag}")
    # errors that surface late (the search worker starts after load)
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE" and not offline_miss(entry):
            rep.problems.append(f"console error: {entry.get('message')}")
    return rep


# ---------------------------------------------------------------------------------------------------------------
# Fixtures: one build, one server, one browser, one crawl for the whole module
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site():
    t = time.time()
    res = subprocess.run([sys.executable, str(BUILD)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"scripts/build_docs.py failed:\n{res.stdout}\n{res.stderr}"
    print(f"docs built in {time.time() - t:.1f}s")
    return SITE


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    stop_browser(driver)


@pytest.fixture(scope="module")
def base_url(site):
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def crawl(browser, base_url):
    return check_site(browser, base_url, list(expected_pages()))


# ---------------------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------------------

def test_every_notebook_has_a_page(crawl):
    missing = [f"{page} (from nbs/{nb})" for page, nb in expected_pages().items() if page not in crawl.visited]
    assert not missing, "pages missing from the site: " + ", ".join(missing) + "\n" + "\n".join(crawl.problems)


def test_no_broken_link_image_or_javascript_error(crawl):
    assert len(crawl.visited) >= len(expected_pages())
    assert not crawl.problems, "problems on the docs site:\n" + "\n".join(crawl.problems)


def test_every_exported_name_is_documented(crawl):
    shown = crawl.headings()
    missing = [f"{mod}.{name}" for mod, names in exported_names().items() for name in names if name not in shown]
    assert not missing, "names in __all__ with no documentation heading on any page: " + ", ".join(missing)


def test_api_docs_come_from_show_doc(crawl):
    "Each documented function shows nbdev's signature block and has nbdev's anchor (lower-cased name)."
    core = crawl.visited["core.html"]
    ids = set(core["ids"])
    for name in exported_names()["bkd.core"]:
        assert name.lower() in ids, f"no #{name.lower()} anchor on core.html"


def test_pages_link_to_their_notebooks_and_each_other(crawl, base_url):
    pages = expected_pages()
    for page, nb in pages.items():
        if page not in crawl.visited:
            continue   # reported by test_every_notebook_has_a_page
        links = crawl.visited[page]["links"]
        if not (NBS / nb).exists():
            continue   # no nbs/index.ipynb yet: the home page is generated
        nb_url = urllib.parse.urljoin(base_url, "nbs/" + nb)
        assert nb_url in links, f"{page} has no link to its notebook {nb}"
        nav = {urllib.parse.urldefrag(u)[0] for u in crawl.visited[page]["nav"]}
        for other in pages:
            if other in crawl.visited:
                assert base_url + other in nav, f"the navigation of {page} has no link to {other}"


def test_search_finds_an_api_name(browser, base_url, crawl):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
    name = next(n for names in exported_names().values() for n in names)
    browser.get(base_url + "index.html")
    box = WebDriverWait(browser, 10).until(EC.element_to_be_clickable((By.CSS_SELECTOR,
                                                                      "input.md-search__input")))
    box.click()
    box.send_keys(name)
    # the result list is re-rendered while the index loads and as each key arrives: read the links in one script
    # call (no element handle can go stale) and wait until the list holds the name's anchor
    read = "return [...document.querySelectorAll('.md-search-result__item a[href]')].map(a => a.href);"
    seen = []
    def found(d):
        seen[:] = d.execute_script(read)
        return any(f"#{name.lower()}" in h for h in seen)
    try: WebDriverWait(browser, 20).until(found)
    except TimeoutException: pass
    assert any(f"#{name.lower()}" in h for h in seen), f"searching {name!r} found {seen}"
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, f"console errors while searching: {errors}"


_SOURCE_LINK_JS = """
const h = document.getElementById(arguments[0]);
let e = h && h.previousElementSibling;
while (e && e.tagName !== 'HR' && !e.querySelector('a.nb-doc-source')) e = e.previousElementSibling;
const a = e && e.querySelector('a.nb-doc-source');
return a ? a.href : null;
"""


def test_api_source_link_opens_the_defining_notebook(browser, base_url, crawl):
    "An API entry's source link opens the notebook that defines the name; no link on the site is nbdev's `#LNone`."
    import json
    browser.get(base_url + "otsu.html")
    href = browser.execute_script(_SOURCE_LINK_JS, "otsu_split")
    assert href == base_url + "nbs/06_otsu.ipynb", href
    with urllib.request.urlopen(href, timeout=10) as r:
        nb = json.loads(r.read())
    assert any("def otsu_split(" in "".join(c["source"]) for c in nb["cells"]), "06_otsu.ipynb does not define otsu_split"
    links = [u for info in crawl.visited.values() for u in info["links"]]
    bad = sorted({u for u in links if "#LNone" in u or u.startswith("https://github.com/bkd/bkd/")})
    assert not bad, f"source links to nowhere: {bad[:5]}"


def _build_docs_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_docs_under_test", BUILD)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_source_link_goes_to_the_defining_line_when_a_repository_is_configured():
    bd = _build_docs_module()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bkd.otsu import otsu_split
    assert bd.source_url(otsu_split, "06_otsu.ipynb") == "nbs/06_otsu.ipynb"
    url = bd.source_url(otsu_split, "06_otsu.ipynb", "https://example.org/team/bkd")
    m = re.fullmatch(r"https://example\.org/team/bkd/blob/main/bkd/otsu\.py#L(\d+)", url or "")
    assert m, url
    line = (ROOT / "bkd" / "otsu.py").read_text(encoding="utf-8").splitlines()[int(m.group(1)) - 1]
    assert line.startswith("def otsu_split("), line


def test_start_here_commands_need_no_horizontal_scrolling(browser, base_url, crawl):
    "At 1400 px, every code block of the home page (the README) shows its whole width: nothing hides behind a scroll bar."
    browser.set_window_size(1400, 900)
    try:
        browser.get(base_url + "index.html")
        time.sleep(0.2)
        blocks = browser.execute_script(
            "return Array.from(document.querySelectorAll('article pre')).map(c => "
            "({text: c.textContent.slice(0, 60), scroll: c.scrollWidth, client: c.clientWidth}))")
    finally:
        browser.set_window_size(1280, 900)
    assert blocks and "make demo" in blocks[0]["text"], blocks[:1]
    cut = [b for b in blocks if b["scroll"] > b["client"]]
    assert not cut, f"code blocks that scroll sideways at 1400 px: {cut}"


def test_home_page_screenshot(browser, base_url, site):
    browser.get(base_url + "index.html")
    time.sleep(0.3)
    shot = site / "screenshot.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000, "the home page screenshot is (nearly) blank"


def test_checker_reports_a_broken_site(browser, site, tmp_path):
    "The checker must fail on what it is meant to catch: break a copy of the site in five ways."
    broken = tmp_path / "site"
    shutil.copytree(site, broken, ignore=shutil.ignore_patterns("screenshot.png"))
    pages = [p for p in expected_pages() if (broken / p).exists()]
    victim, dropped = pages[0], pages[-1]
    (broken / dropped).unlink()   # a missing page (still linked from the navigation)
    html = (broken / victim).read_text(encoding="utf-8")
    sabotage = ('<p><a href="no-such-page.html">dead link</a> <a href="index.html#no-such-anchor">dead anchor</a>'
                '<img src="no-such-figure.png" alt="missing"></p>'
                '<script>throw new Error("deliberate docs-test error")</script>')
    (broken / victim).write_text(html.replace("</article>", sabotage + "</article>", 1), encoding="utf-8")
    with serve(broken) as url:
        rep = check_site(browser, url, pages)
    text = "\n".join(rep.problems)
    assert f"missing page: {dropped}" in text or f"{dropped} (HTTP 404)" in text, text
    assert "no-such-page.html" in text, text
    assert "no-such-anchor" in text, text
    assert "no-such-figure.png" in text, text
    assert "deliberate docs-test error" in text, text


def test_build_fails_on_a_broken_link_in_a_notebook(tmp_path):
    "The builder itself refuses a notebook whose prose links to a missing file, and names the notebook."
    import json
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    cell = {"cell_type": "markdown", "metadata": {}, "id": "c0",
            "source": ["# Broken\n", "\n", "> A page with a dead link.\n", "\n",
                       "See ![a figure](no-such-figure.png) and [a page](no_such_notebook.ipynb)."]}
    nb = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (nbs / "01_broken.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    res = subprocess.run([sys.executable, str(BUILD), "--nbs", str(nbs),
                          "--out", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"the build passed despite a broken link:\n{out}"
    assert "no-such-figure.png" in out and "no_such_notebook.ipynb" in out, out
    assert "nbs/01_broken.ipynb" in out, out
    assert not (tmp_path / "site").exists(), "a failed build left a site behind"
