"""What training reads, as a digest: when a store variant's trial may take the default's model.

A sweep on a store variant (:mod:`lbi.sweep.stores`) keys its records by the variant's
data, so it would train its own models. A variant that changes only what models are
*tested* on (``bigtest``: more test subjects) trains them on the same bytes as the default
stores: the train split, its 2D input and the pretrained encoder. With the same params,
code and numerics, training is deterministic (pinned numerics; validation draws from its
own RNG, ``tests/test_train.py::test_validation_never_changes_the_weights``), so the model
is the default sweep's model of the same (cell, seed) bit for bit.
:func:`lbi.sweep.trial.twin_model` finds that model (its *twin*) when it is on this
machine and :func:`train_digest` is equal on both sides; the trial then copies it and
evaluates it on the variant's test sets instead of training it again.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from lbi import experiment as ex
from lbi.data.store import open_store
from lbi.experiment import StagePaths

TRAIN_SPLIT = "train"


def train_digest(p: Any, mode: str, source: str, paths: StagePaths) -> str:
    """sha256 (16 hex) of what training a ``mode`` model on ``source`` reads: the in-domain
    store's train split (arrays, crops, foreground masks) and its ``meta.json`` but for the
    provenance and the other splits' sizes; the train split of the ``source`` detections and
    their meta; the encoder's initial weights (their tensors; none for the lifter)."""
    init = None if mode == "lifter" else ex.encoder_init(p, paths)
    det = paths.detections_file(paths.store_in, source)
    return _digest(str(paths.store_in), str(det), init)


@functools.lru_cache(maxsize=16)
def _digest(store_in: str, detections: str, init: str | None) -> str:
    h = hashlib.sha256()
    meta = dict(open_store(store_in).meta)
    meta.pop("provenance", None)
    meta["splits"] = {TRAIN_SPLIT: meta["splits"][TRAIN_SPLIT]}
    h.update(repr(sorted(meta.items())).encode())
    for suffix in (".npz", "_crops.npy", "_fgmask.npy"):
        f = Path(store_in) / f"{TRAIN_SPLIT}{suffix}"
        h.update(f.name.encode() + (f.read_bytes() if f.is_file() else b"<absent>"))
    with np.load(detections, allow_pickle=False) as d:
        for k in ("meta", TRAIN_SPLIT):
            h.update(k.encode() + np.ascontiguousarray(d[k]).tobytes())
    if init is not None:
        ex.update_with_weights(h, Path(init))  # the data fingerprint's weights digest
    return h.hexdigest()[:16]
