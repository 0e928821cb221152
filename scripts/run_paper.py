"""Regenerate the paper's figures and tables: run every notebook in `paper/` with papermill at one scale.

Each notebook `paper/NN_name.ipynb` is executed with the parameters `scale`, `data`, `runs`, `figures` and `tables`;
its executed copy is kept as `<runs>/NN_name.ipynb` (default `paper/runs/<scale>/`), also when it fails: then the copy
holds the error, the remaining notebooks are not run, and this script exits with status 1. Before anything runs,
the scale's requirements are checked (a CUDA GPU for the paper scale; the data files below --data); when something
is missing it is named and the script exits with status 2. At the end `<tables>/run_info.json` and `run_info.md`
record the command, date, wall time per notebook and the machine.

The scale `paper-rehearsal` is the paper scale in miniature on the CPU (bkd.experiments.rehearsal_settings); its
--data is a folder that scripts/paper_miniature.py builds (`make paper SCALE=paper REHEARSE=1` does both).

Usage: python scripts/run_paper.py --scale smoke|cpu|paper|paper-rehearsal [--data DIR] [--runs DIR] [--figures DIR]
                                   [--tables DIR] [--notebooks DIR] [--only NAME ...] [--seeds 0,1] [--readme FILE]
                                   [--quiet]
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Run the paper notebooks with papermill at one scale.")
    p.add_argument("--scale", required=True, help="smoke, cpu, paper or paper-rehearsal")
    p.add_argument("--data", default="../shared/data", help="folder with the offline data (default ../shared/data)")
    p.add_argument("--runs", help="results and executed notebooks (default paper/runs/<scale>)")
    p.add_argument("--figures", help="figures (default figures/<scale>)")
    p.add_argument("--tables", help="tables (default paper/tables/<scale>)")
    p.add_argument("--notebooks", default=str(ROOT / "paper"), help="folder of the notebooks to run (default paper/)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks (e.g. 04_cifarn)")
    p.add_argument("--readme", help="the README whose run_info:<scale> block records this run (default: paper/README.md, "
                                    "and only when figures and tables go to their default folders)")
    p.add_argument("--quiet", action="store_true", help="do not stream the notebooks' output")
    p.add_argument("--seeds", help="comma-separated seeds for the notebooks that take a `seeds` parameter (06, 07): read "
                   "only these seeds' runs (default: every seed of the scale)")
    return p.parse_args(argv)


def machine() -> str:
    import torch
    cpu = f"{os.cpu_count()} CPU cores" + (f" ({len(os.sched_getaffinity(0))} usable)" if hasattr(os, "sched_getaffinity") else "")
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{platform.system()} {platform.machine()}, {cpu}{gpu}, Python {platform.python_version()}, torch {torch.__version__}"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_info_block(scale: str, info: dict) -> str:
    "The lines of paper/README.md's `run_info:<scale>` block for one run (its command, date, times and machine)."
    rehearsal = scale == "paper-rehearsal"
    make = "make paper SCALE=paper REHEARSE=1" if rehearsal else f"make paper SCALE={scale} DATA=..."
    return (f"- command: `{info['command']}` (what `{make}` runs)\n"
            + ("- data: MINIATURE archives and CIFAR-N files (scripts/paper_miniature.py), read with miniature=True: "
               "checksums not checked; these numbers say only that the pipeline runs\n" if rehearsal else "")
            + f"- date: {info['date']}; commit: {info['commit']}\n"
            f"- wall time: {info['wall_seconds'] / 60:.1f} min (" +
            ", ".join(f"{k} {v:.0f} s" for k, v in info["notebook_seconds"].items()) + ")\n"
            f"- machine: {info['machine']}\n")


def record_in_readme(scale: str, info: dict, readme=None) -> bool:
    "Rewrite the `run_info:<scale>` block of `readme` (default paper/README.md), if it has one, with this run's info."
    from bkd.core import atomic_write
    readme = Path(readme) if readme is not None else ROOT / "paper" / "README.md"
    begin, end = f"<!-- run_info:{scale}:begin -->\n", f"<!-- run_info:{scale}:end -->"
    text = readme.read_text() if readme.is_file() else ""
    if begin not in text or end not in text: return False
    head, rest = text.split(begin, 1)
    with atomic_write(readme, "w") as f: f.write(head + begin + run_info_block(scale, info) + end + rest.split(end, 1)[1])
    return True


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)
    from bkd.core import BkdError, save_json, atomic_write
    from bkd.experiments import paper_paths, missing_requirements
    try:
        P = paper_paths(args.scale, args.data, args.runs, args.figures, args.tables, root=ROOT)
    except BkdError as e:
        print(f"run_paper: error: {e}", file=sys.stderr)
        return 2
    missing = missing_requirements(args.scale, P.data)
    if missing:
        print(f"run_paper: the {args.scale} scale cannot run on this machine; missing:", file=sys.stderr)
        for m in missing: print(f"  - {m}", file=sys.stderr)
        print(f"(data folder: {P.data}; pass another with --data / make paper DATA=...)", file=sys.stderr)
        return 2
    nb_dir = Path(args.notebooks).resolve()
    notebooks = sorted(p for p in nb_dir.glob("[0-9]*.ipynb"))
    if args.only:
        unknown = sorted(set(args.only) - {p.stem for p in notebooks})
        if unknown:
            print(f"run_paper: error: no notebook {', '.join(unknown)} in {nb_dir}", file=sys.stderr)
            return 2
        notebooks = [p for p in notebooks if p.stem in args.only]
    if not notebooks:
        print(f"run_paper: error: no notebooks NN_*.ipynb in {nb_dir}", file=sys.stderr)
        return 2

    import papermill as pm
    import zmq
    from traitlets.config import Config
    # the kernel ("python3") is started as `python`: make it this environment's Python
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    # CurveZMQ-encrypted kernel sockets (the kernel declares support): no "running over TCP without encryption" warning
    kernel_config = Config(KernelManager=dict(transport_encryption="auto")) if zmq.has("curve") else Config()
    if not args.quiet:
        logging.basicConfig(format="%(message)s")
        logging.getLogger("papermill").setLevel(logging.INFO)
    params = dict(scale=args.scale, data=str(P.data), runs=str(P.runs), figures=str(P.figures), tables=str(P.tables))
    if args.seeds:
        try: params["seeds"] = [int(x) for x in args.seeds.split(",") if x.strip()]
        except ValueError:
            print(f"run_paper: error: --seeds takes comma-separated integers, not {args.seeds!r}", file=sys.stderr)
            return 2
    P.runs.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    t_all, timings, failed = time.time(), {}, None
    print(f"run_paper: {len(notebooks)} notebooks at scale {args.scale}; executed copies in {P.runs}", flush=True)
    for nb in notebooks:
        out = P.runs / nb.name
        t0 = time.time()
        print(f"run_paper: {nb.name} ...", flush=True)
        try:
            pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name="python3", cwd=str(ROOT),
                                log_output=not args.quiet, progress_bar=False, config=kernel_config)
        except pm.PapermillExecutionError as e:
            failed = (nb.name, f"{e.ename}: {e.evalue}", out)
        except Exception as e:  # the kernel died, the notebook is unreadable, ...
            failed = (nb.name, f"{type(e).__name__}: {e}", out)
        timings[nb.stem] = round(time.time() - t0, 1)
        if failed:
            break
        print(f"run_paper: {nb.name} done in {timings[nb.stem]:.1f} s", flush=True)
    wall = round(time.time() - t_all, 1)
    if failed:
        name, msg, out = failed
        print(f"run_paper: {name} FAILED after {timings[Path(name).stem]:.1f} s: {msg}", file=sys.stderr)
        print(f"run_paper: the executed copy with the error is {out}", file=sys.stderr)
        return 1
    command = "python scripts/run_paper.py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    info = dict(scale=args.scale, command=command, date=started.strftime("%Y-%m-%d %H:%M UTC"), wall_seconds=wall,
                notebook_seconds=timings, machine=machine(), commit=git_commit())
    old = P.tables / "run_info.json"
    partial = bool(args.only) and old.is_file()
    if partial:     # --only: the full run's record stays; these notebooks' reruns are added to it
        rerun = {k: info[k] for k in ("command", "date", "notebook_seconds", "machine", "commit")}
        info = json.loads(old.read_text())
        info["notebook_seconds"] = {**info.get("notebook_seconds", {}), **timings}
        info["reruns"] = info.get("reruns", []) + [rerun]
    save_json(info, P.tables / "run_info.json")
    with atomic_write(P.tables / "run_info.md", "w") as f:
        f.write(f"# How these tables were made ({args.scale} scale)\n\n"
                f"- command: `{info['command']}`\n- date: {info['date']}\n"
                f"- wall time: {info['wall_seconds']:.0f} s ({info['wall_seconds'] / 60:.1f} min)\n"
                f"- per notebook: " + ", ".join(f"{k} {v:.0f} s" for k, v in info["notebook_seconds"].items()) + "\n"
                f"- machine: {info['machine']}\n- commit: {info['commit']}\n")
        for r in info.get("reruns", []):
            f.write(f"- rerun of " + ", ".join(r["notebook_seconds"]) + f" on {r['date']} (commit {r['commit']}): "
                    f"`{r['command']}`, " + ", ".join(f"{k} {v:.0f} s" for k, v in r["notebook_seconds"].items()) + "\n")
    if args.readme:
        if not record_in_readme(args.scale, info, args.readme):
            print(f"run_paper: {args.readme} has no run_info:{args.scale} block; nothing recorded there", file=sys.stderr)
    elif not partial and P.tables == (ROOT / "paper" / "tables" / args.scale).resolve() \
            and P.figures == (ROOT / "figures" / args.scale).resolve():
        record_in_readme(args.scale, info)
    print(f"run_paper: all {len(notebooks)} notebooks done in {wall:.0f} s; figures in {P.figures}, tables in {P.tables}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
