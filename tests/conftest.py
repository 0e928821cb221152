import os

import pytest

# `make test` runs the suite in one pytest-xdist worker per core (`-n auto --dist loadgroup`). Each worker gets one
# torch thread (two workers with two threads each would oversubscribe two cores); a plain `pytest` gets two. Plots are
# drawn without a display.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("OMP_NUM_THREADS", "1" if _WORKERS > 1 else "2")
os.environ.setdefault("MPLBACKEND", "Agg")

# Modules whose tests share a module-scoped fixture (a pipeline run, a built site, a running JupyterLab): each one runs
# in a single worker, so the fixture is built once. They are also the longest units, so they are handed out first.
SHARED = ("test_paper_rehearsal", "test_paper_smoke", "test_docs_site", "test_jupyterlab")
# the longest single tests after them (seconds on two cores), so that no long test is left for the end
LONG_NOTEBOOKS = ("08_train", "15_experiments", "16_features", "17_embeddings", "14_detect", "10_run", "11_cli")


def _rank(item) -> tuple:
    mod = item.module.__name__.rsplit(".", 1)[-1]
    if mod in SHARED: return (0, SHARED.index(mod))
    nb = getattr(item, "callspec", None) and item.callspec.id
    if mod == "test_notebooks" and nb in LONG_NOTEBOOKS: return (1, LONG_NOTEBOOKS.index(nb))
    return (2, 0)


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook, which turns the group marks into node ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        mod = item.module.__name__.rsplit(".", 1)[-1]
        if mod in SHARED: item.add_marker(pytest.mark.xdist_group(mod))
    items.sort(key=_rank)    # stable: the order within a module is kept



@pytest.fixture(autouse=True)
def _kept_in_its_group(request):
    "Under `--dist loadgroup`, a grouped test that lost its group fails: its module's fixture would be built twice at once."
    if getattr(request.config.option, "loadgroup", False) and request.node.get_closest_marker("xdist_group") \
            and "@" not in request.node.nodeid:   # pytest-xdist 3.8 writes the group into `item._nodeid`; pytest 9.2 ignores it
        pytest.fail("--dist loadgroup lost this test's xdist_group: this pytest and pytest-xdist do not work together "
                    "(pins in requirements.lock)", pytrace=False)
