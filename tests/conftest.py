import os

# Two cores in CI: keep torch from oversubscribing them, and draw plots without a display.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
