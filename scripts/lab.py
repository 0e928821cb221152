"""Open the notebooks in JupyterLab: what `make lab` runs.

Registers this environment as the Jupyter kernel `bkd` (inside the environment, `--sys-prefix`: nothing is written to
the home folder), takes the first free port on 127.0.0.1 from --port on (saying so in one line when that one is taken),
and starts JupyterLab in the repository root with this checkout first on the kernels' PYTHONPATH. Prints the URL.

Usage: python scripts/lab.py [--port 8888] [--no-kernel]
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parents[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(start: int, tries: int = 100) -> int:
    "The first port from `start` on that nothing listens on (127.0.0.1)."
    for port in range(start, min(start + tries, 65536)):
        if port_is_free(port):
            return port
    raise SystemExit(f"lab: no free port on 127.0.0.1 between {start} and {start + tries - 1}; pass another with --port")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Start JupyterLab on 127.0.0.1 in the repository root.")
    p.add_argument("--port", type=int, default=8888, help="first port to try (default 8888)")
    p.add_argument("--no-kernel", action="store_true", help="do not (re)register the kernel 'bkd'")
    args = p.parse_args(argv)
    if not args.no_kernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "bkd",
                        "--display-name", "Python 3 (bkd)"], check=True, stdout=subprocess.DEVNULL)
    port = free_port(args.port)
    if port != args.port:
        print(f"lab: port {args.port} is taken, using {port}", flush=True)
    token = secrets.token_hex(16)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    print(f"lab: JupyterLab on http://127.0.0.1:{port}/lab?token={token} (open nbs/ to read the notebooks; "
          f"Ctrl-C to stop)", flush=True)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
           f"--ServerApp.root_dir={ROOT}", f"--IdentityProvider.token={token}"]
    if zmq.has("curve"):   # CurveZMQ-encrypted kernel sockets: no "running over TCP without encryption" per kernel
        cmd.append("--KernelManager.transport_encryption=auto")
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # e.g. in a container
        cmd.append("--allow-root")
    os.chdir(ROOT)
    os.execve(sys.executable, cmd, env)   # JupyterLab takes over this process (and its Ctrl-C)


if __name__ == "__main__":
    sys.exit(main())
