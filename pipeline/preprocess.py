"""Stage ``preprocess``: raw data -> the canonical stores (in-domain and cross-domain).

- ``embedded``: render the lab store (train/test) and the wild store (test, and val for
  per-epoch validation) from mocap.
- ``h36m``: Human3.6M -> in-domain store (train/test, 5 fps, crops) and its published 2D
  detections; MPI-INF-3DHP test set -> cross-domain store (test; val = mpi3dhp.val_sequences).
Reads params: ``data.dataset``, ``embedded``, ``h36m``, ``mpi3dhp``.
Writes ``${paths.store_in}``, ``${paths.store_cross}``.
"""

from __future__ import annotations

from pathlib import Path

from pipeline._cli import parse, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0])
    store_in, store_cross = Path(p.paths.store_in), Path(p.paths.store_cross)
    if p.data.dataset == "embedded":
        from lbi.data.embedded import generate_embedded

        summary = generate_embedded(
            p.embedded, store_in, store_cross, progress=not args.no_progress
        )
    else:
        from lbi.data.h36m import preprocess_h36m
        from lbi.data.mpi3dhp import preprocess_3dhp

        summary = {
            "h36m": preprocess_h36m(
                p.h36m, store_in, store_in / "published_2d", progress=not args.no_progress
            ),
            "3dhp": preprocess_3dhp(p.mpi3dhp, store_cross, store_cross / "published_2d"),
        }
    print(f"preprocess: {summary}")


if __name__ == "__main__":
    run(main)
