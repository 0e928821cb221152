# One environment (.venv) serves every target; it is (re)built when the pins change.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
BKD    := $(VENV)/bin/bkd
STAMP  := $(VENV)/.installed
SCALE  ?= smoke
DATA   ?= ../shared/data
REHEARSE ?=
REHEARSAL_DATA := paper/runs/paper-rehearsal-data

.PHONY: demo demo-figures lab test export check-export readme docs execute bench bench-step paper clean

$(STAMP): requirements.lock setup.py settings.ini
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

## Run the whole method on the embedded digits dataset with 40 % symmetric label noise (no download); all it writes,
## plots included, goes to runs/demo/ (not tracked by git).
demo: $(STAMP)
	$(BKD) train --dataset digits --noise sym:0.4 --out runs/demo --overwrite

## Refresh the committed demo plots in figures/demo/ (the same run as `make demo`, its plots written there).
demo-figures: $(STAMP)
	$(BKD) train --dataset digits --noise sym:0.4 --out runs/demo --figures figures/demo --overwrite

## Read and run the notebooks: JupyterLab on 127.0.0.1 (first free port from PORT=8888) in the repository root, kernel "bkd".
lab: $(STAMP)
	$(PY) scripts/lab.py $(if $(PORT),--port $(PORT))

## Export bkd/ from nbs/ and render README.md from nbs/index.ipynb.
export: $(STAMP)
	$(VENV)/bin/nbdev_export
	$(PY) scripts/make_readme.py

readme: $(STAMP)
	$(PY) scripts/make_readme.py

## Fail when bkd/ is not exactly what nbs/ exports, or README.md not what nbs/index.ipynb renders to.
check-export: $(STAMP)
	$(VENV)/bin/nbdev_export
	$(PY) scripts/make_readme.py --check
	@git diff --exit-code --stat -- bkd && test -z "$$(git ls-files --others --exclude-standard bkd)" \
	  || (echo "bkd/ differs from what nbs/ exports: edit nbs/, run 'make export' and commit both." >&2; exit 1)

## Whole test suite: export check, every notebook's tests, and the tests under tests/.
test: $(STAMP) check-export
	$(PY) -m pytest -q -n auto --dist loadgroup --durations=15 tests

## Static docs site in _docs/ from nbs/: nbdev's processors, then MkDocs Material with mkdocs-jupyter (offline, --strict).
docs: $(STAMP)
	$(PY) scripts/build_docs.py

## Run every notebook in place so the committed notebooks (and the docs) carry their outputs.
execute: $(STAMP)
	$(PY) scripts/execute_notebooks.py

## Training-throughput benchmark: bkd's engine against a reference per-sample DataLoader pipeline (writes bench.json).
bench: $(STAMP)
	$(PY) scripts/bench.py

## One teacher+student step per memory layout, precision and compilation, without data work (where the speed comes from).
bench-step: $(STAMP)
	$(PY) scripts/bench_step.py

## Regenerate the paper's figures and tables with papermill: SCALE=smoke|cpu|paper, DATA=folder with the offline data.
## SCALE=paper REHEARSE=1: the paper scale in miniature on the CPU (minutes): miniature CIFAR archives and CIFAR-N
## files are built from DATA into $(REHEARSAL_DATA), then every notebook runs at the scale paper-rehearsal.
paper: $(STAMP)
ifeq ($(REHEARSE),1)
	@test "$(SCALE)" = paper || (echo "REHEARSE=1 rehearses the paper scale: use SCALE=paper" >&2; exit 2)
	$(PY) scripts/paper_miniature.py --data $(DATA) --out $(REHEARSAL_DATA)
	$(PY) scripts/run_paper.py --scale paper-rehearsal --data $(REHEARSAL_DATA)
else
	$(PY) scripts/run_paper.py --scale $(SCALE) --data $(DATA)
endif

clean:
	rm -rf $(VENV) _docs _proc runs .pytest_cache
