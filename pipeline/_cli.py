"""Shared argument handling for the stage CLIs (each stage stays a thin ``main``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import lbi  # noqa: F401 - installs the torchvision shim before anything imports timm
from lbi.params import Params, check_output_paths, load_params


def parse(description: str, *, source: bool = False) -> tuple[argparse.Namespace, Params]:
    """``--params`` (default params.yaml) and, for per-source stages, ``--source``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if source:
        ap.add_argument("--source", required=True, choices=("gt", "cpn", "sh"), help="2D source")
    ap.add_argument("--no-progress", action="store_true", help="disable progress bars")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    params = load_params(args.params)
    check_output_paths(params.paths, args.params)  # every stage writes under them
    if source and args.source not in params.data.sources:
        ap.error(
            f"--source {args.source} is not in data.sources {list(params.data.sources)} of {args.params}"
        )
    return args, params


class Terminated(KeyboardInterrupt):
    """SIGTERM: the stage was stopped, or the ``dvc repro`` that ran it is gone.

    A ``KeyboardInterrupt``, so it unwinds like Ctrl-C: ``finally`` blocks run (an atomic
    write drops its temporary file, the checkpoint lock is released) and the stage's
    MLflow run ends KILLED (:func:`lbi.tracking.stage_run`).
    """


def _terminate(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up runs to its end
    raise Terminated


SHELLS = ("sh", "dash", "bash", "zsh", "ksh", "fish")
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _ppid_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (comm) state"


def die_with_parent(poll_s: float = 0.5) -> None:
    """Under ``dvc repro`` (``DVC_STAGE`` set) on Linux, stop this stage (SIGTERM) when DVC
    dies, even by ``kill -9``, instead of training on as an orphan.

    DVC runs the command through ``$SHELL -c``: bash execs it (DVC is the parent), dash
    does not (``sh`` is the parent, DVC the grandparent). The kernel signals the death of
    the parent (``PR_SET_PDEATHSIG``); a watcher thread covers a shell in between. A stage
    run by hand is left alone (``nohup python -m pipeline...`` outlives its terminal).
    """
    if sys.platform != "linux" or "DVC_STAGE" not in os.environ:
        return
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    try:
        shell = Path(f"/proc/{parent}/comm").read_text().strip() in SHELLS
    except OSError:
        shell = False
    grandparent = _ppid_of(parent) if shell else None

    def gone() -> bool:  # init (1) adopts orphans: DVC is never pid 1
        return (
            os.getppid() != parent
            or parent == 1
            or (shell and (grandparent == 1 or _ppid_of(parent) != grandparent))
        )

    def watch() -> None:  # the shell outlives DVC: its parent changes
        while not gone():
            threading.Event().wait(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)

    if gone():  # DVC died before the kernel was told (the race prctl leaves)
        os.kill(os.getpid(), signal.SIGTERM)
    elif shell:
        threading.Thread(target=watch, name="die-with-dvc", daemon=True).start()


def run(main_fn) -> None:  # type: ignore[no-untyped-def]
    """Run a stage; known errors print one clear line and exit 1 (no traceback noise).

    SIGTERM (or the death of the ``dvc repro`` running it, :func:`die_with_parent`)
    unwinds the stage cleanly (:class:`Terminated`) and exits 143.
    """
    from lbi.config import ConfigError
    from lbi.data.store import StoreError
    from lbi.model.encoder import WeightFileError
    from lbi.train import CheckpointError

    known = (ConfigError, StoreError, CheckpointError, WeightFileError, FileNotFoundError,
             ConnectionError)  # fmt: skip
    signal.signal(signal.SIGTERM, _terminate)
    try:
        die_with_parent()
        main_fn()
    except known as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except Terminated:
        print("error: stopped by SIGTERM (or its `dvc repro` died); rerun to resume from "
              "the last checkpoint", file=sys.stderr)  # fmt: skip
        sys.exit(128 + signal.SIGTERM)


def out_dir(path: str | Path) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def paths(p: Params):  # type: ignore[no-untyped-def]
    """The pipeline's :class:`lbi.experiment.StagePaths` (from ``params.paths``)."""
    from lbi.experiment import StagePaths

    return StagePaths.from_params(p.paths)


def trained(stage: str, source: str, res) -> None:  # type: ignore[no-untyped-def]
    """The one line a training stage prints: its last epoch."""
    last = {k: round(v, 4) for k, v in res.history[-1].items()}
    print(f"{stage}@{source}: {last} in {res.seconds:.0f} s")
