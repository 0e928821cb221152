"""The notebooks as a reader runs them: JupyterLab in a real (headless) browser.

Starts JupyterLab from this environment on a free port of 127.0.0.1, with a token and its own temporary config,
data, runtime, settings and workspace folders (nothing from the home folder is read or written), and this checkout
first on the kernels' PYTHONPATH. A short notebook written into a temporary folder imports `bkd`, finds a tipping
point on a hand-made curve and draws it; headless Chromium (Debian's `chromium` + `chromium-driver`, driven by
selenium) opens it, runs it with JupyterLab's own menu (Run > Run All Cells), waits until the kernel is idle, and
checks that no cell shows an error and that the figure is on the page; a screenshot is saved next to the notebook.
The same test on a copy with a failing cell must find that error: the check can fail.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import zmq

from test_docs_site import start_browser, stop_browser

ROOT = Path(__file__).resolve().parents[1]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
FAILURE = "deliberate failure in the browser test"


def notebook(failing: bool) -> dict:
    "A short notebook: import bkd (from this checkout), find the tipping point of a hand-made m_e curve, draw it."
    cells = [
        ("markdown", "# A tipping point, drawn\n\nThe blind student's confidence $m_e$ peaks at epoch 4."),
        ("code", "import bkd, numpy as np, matplotlib.pyplot as plt\nfrom bkd.tipping import TippingPoint\n"
                 f"assert bkd.__file__.startswith({str(ROOT)!r}), bkd.__file__   # the checkout under test"),
        ("code", "m_e = [0.30, 0.45, 0.58, 0.66, 0.70, 0.69, 0.66, 0.64, 0.65]\ntp = TippingPoint(window=2)\n"
                 "for v in m_e: tp.update(v)\nassert tp.epoch == 4, tp.epoch\ntp.epoch"),
        ("code", "fig, ax = plt.subplots(figsize=(5, 3))\nax.plot(m_e, marker='o', label='$m_e$')\n"
                 "ax.axvline(tp.epoch, color='C3', ls='--', label=f'tipping point (epoch {tp.epoch})')\n"
                 "ax.set(xlabel='epoch', ylabel='$m_e$'); ax.legend()\nplt.show()"),
    ]
    if failing:
        cells.append(("code", f"raise ValueError({FAILURE!r})"))
    return {"cells": [{"cell_type": t, "id": f"c{i}", "metadata": {}, "source": s,
                       **({"outputs": [], "execution_count": None} if t == "code" else {})}
                      for i, (t, s) in enumerate(cells)],
            "metadata": {"kernelspec": KERNELSPEC}, "nbformat": 4, "nbformat_minor": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, token: str, path: str, method: str = "GET"):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "JupyterLab serving a temporary folder; yields (base URL, token, folder); shuts the server down after."
    tmp = tmp_path_factory.mktemp("lab")
    home = {k: tmp / k for k in ("config", "data", "runtime", "settings", "workspaces", "ipython", "notebooks")}
    for d in home.values():
        d.mkdir()
    # no news or update checks (the test is offline), no toast over the notebook
    note = home["settings"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}   # the kernel's inline backend draws figures
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               JUPYTER_CONFIG_DIR=str(home["config"]), JUPYTER_DATA_DIR=str(home["data"]),
               JUPYTER_RUNTIME_DIR=str(home["runtime"]), JUPYTERLAB_SETTINGS_DIR=str(home["settings"]),
               JUPYTERLAB_WORKSPACES_DIR=str(home["workspaces"]), IPYTHONDIR=str(home["ipython"]))
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
           f"--ServerApp.root_dir={home['notebooks']}", f"--IdentityProvider.token={token}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if zmq.has("curve"):   # as `make lab` starts it: encrypted kernel sockets
        cmd.append("--KernelManager.transport_encryption=auto")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=home["notebooks"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{(tmp / 'server.log').read_text()[-3000:]}")
            try:
                api(base, token, "/api/status")
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"JupyterLab did not answer within 30 s:\n{(tmp / 'server.log').read_text()[-3000:]}")
        yield base, token, home["notebooks"]
    finally:
        try:
            api(base, token, "/api/shutdown", method="POST")   # also shuts its kernels down
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)
        log.close()
    assert proc.returncode is not None


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    stop_browser(driver)


# JupyterLab's own view of the open notebook (the app is exposed as window.jupyterapp for tests)
_STATE_JS = """
const app = window.jupyterapp;
if (!app) return null;
const w = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === arguments[0]);
if (!w || !w.content || !w.content.model || !w.sessionContext) return null;
const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
const cells = [];
for (const c of w.content.model.cells) {
  if (c.type !== 'code') continue;
  const outs = [];
  for (let i = 0; i < c.outputs.length; i++) {
    const o = c.outputs.get(i).toJSON();
    outs.push({type: o.output_type, ename: o.ename || null, evalue: o.evalue || null});
  }
  cells.push({count: c.executionCount, outputs: outs});
}
return {path: w.context.path, kernel: kernel ? kernel.status : null, kernelName: kernel ? kernel.name : null,
        cells: cells};
"""

# what the page shows: prompts, error tracebacks (rendered as stderr text) and images in output areas
_PAGE_JS = """
const q = (s) => Array.from(document.querySelectorAll(s));
return {
  busy: q('.jp-InputArea-prompt').filter(p => p.textContent.includes('*')).length,
  errors: q('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .map(e => e.textContent).filter(t => /Traceback|Error:/.test(t)),
  images: q('.jp-OutputArea-output img').map(i => ({w: i.naturalWidth, h: i.naturalHeight, ok: i.complete})),
};
"""


def wait_for(what: str, fn, timeout: float, driver):
    t0, last = time.time(), None
    while time.time() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last state: {last}); "
                f"console: {driver.get_log('browser')[-5:]}")


def run_all_in_browser(driver, base: str, token: str, name: str, shot: Path) -> tuple[dict, dict]:
    "Open nbs `name` in JupyterLab, Run > Run All Cells, wait for the idle kernel; return (model state, page)."
    from selenium.webdriver.common.by import By
    t0 = time.time()
    driver.get(f"{base}/lab/workspaces/{Path(name).stem}/tree/{name}?reset&token={token}")
    state = lambda: driver.execute_script(_STATE_JS, name)
    wait_for("the notebook with an idle kernel", lambda: (s := state()) and s["path"] == name and s["kernel"] == "idle"
             and s, 60, driver)
    t_open = time.time() - t0
    menu = next(m for m in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item") if m.text.strip() == "Run")
    menu.click()
    wait_for("the Run menu", lambda: driver.find_elements(
        By.CSS_SELECTOR, '.lm-Menu-item[data-command="runmenu:run-all"]'), 10, driver)[0].click()
    # done: the kernel went busy and is idle again, no cell waits ([*]), and the last cell ran or an error stopped the run
    def done():
        s, p = state(), driver.execute_script(_PAGE_JS)
        ran = [c for c in s["cells"] if c["count"] is not None]
        errored = any(o["type"] == "error" for c in s["cells"] for o in c["outputs"])
        return (s["kernel"] == "idle" and p["busy"] == 0 and ran and (s["cells"][-1]["count"] is not None or errored)
                and (s, p))
    s, p = wait_for("Run All Cells to finish", done, 60, driver)
    driver.execute_script("const c = document.querySelectorAll('.jp-Notebook .jp-Cell'); "
                          "c[c.length - 1].scrollIntoView({block: 'end'});")   # the last output in the screenshot
    time.sleep(0.5)   # let the last image load
    s, p = state(), driver.execute_script(_PAGE_JS)
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000, "blank screenshot"
    print(f"{name}: opened with an idle kernel in {t_open:.1f} s, ran in {time.time() - t0 - t_open:.1f} s")
    return s, p


def problems(state: dict, page: dict) -> list[str]:
    """What a reader would object to after Run All Cells: errors (in JupyterLab's model or on the page), cells that
    did not run, no figure."""
    out = [f"cell {i} has an error output: {o['ename']}: {o['evalue']}"
           for i, c in enumerate(state["cells"]) for o in c["outputs"] if o["type"] == "error"]
    out += [f"the page shows an error: {t[:300]}" for t in page["errors"]]
    out += [f"cell {i} did not run" for i, c in enumerate(state["cells"]) if c["count"] is None]
    if not [i for i in page["images"] if i["ok"] and i["w"] >= 200 and i["h"] >= 100]:
        out.append(f"no figure in any output area: {page['images']}")
    return out


@pytest.mark.parametrize("failing", [False, True], ids=["clean", "failing-cell"])
def test_run_all_cells_in_jupyterlab(lab, browser, failing):
    base, token, folder = lab
    name = f"tipping_{'failing' if failing else 'clean'}.ipynb"
    (folder / name).write_text(json.dumps(notebook(failing), indent=1), encoding="utf-8")
    state, page = run_all_in_browser(browser, base, token, name, folder / f"{Path(name).stem}.png")
    assert state["kernelName"] == "python3"
    found = problems(state, page)
    if not failing:
        assert not found, "\n".join(found)
        assert state["cells"][1]["outputs"] == [{"type": "execute_result", "ename": None, "evalue": None}]
    else:   # the same check must catch the failing cell, both in the model and on the page
        assert f"cell 3 has an error output: ValueError: {FAILURE}" in found, found
        assert any(FAILURE in p and p.startswith("the page shows an error") for p in found), found
        assert len(found) == 2, found   # the figure above the failing cell is still there
