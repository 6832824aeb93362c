"""Stage ``detect2d@<source>``: 2D detections for both stores, one named file per store.

- ``gt``: the ground-truth 2D projection stored with the poses.
- ``cpn``/``sh`` on ``embedded``: a documented synthetic detector noise model
  (:mod:`lbi.data.synth_detections`); its name and settings go into the file's meta and
  every report that shows the source.
- real data: the published detection files converted at preprocess (3DHP: gt only).
Reads params: ``data.dataset``, ``detect2d``. Writes ``${paths.detections}/<source>/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lbi  # noqa: F401  (pins CPU floating point before NumPy/torch load)

# isort: split
import numpy as np

from pipeline._cli import out_dir, parse, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.data.store import detections_path, open_store, save_detections

    dst = out_dir(Path(p.paths.detections) / args.source)
    for store_dir in (p.paths.store_in, p.paths.store_cross):
        store = open_store(store_dir)
        target = detections_path(dst, store.dataset, args.source)
        if args.source == "gt":
            kps = {s: store.arrays(s)["pose2d"] for s in store.splits}
            meta = {
                "dataset": store.dataset,
                "detector": "gt",
                "method": "ground-truth 2D projection",
                "layout": "h36m17",
                "synthetic": store.synthetic,
                "settings": {},
            }
            save_detections(target, kps, meta)
        elif store.synthetic:
            from lbi.data.synth_detections import synthesize_detections

            kps, meta = synthesize_detections(store, args.source, seed=p.detect2d.seed)
            save_detections(target, kps, meta)
        else:
            published = detections_path(
                Path(store_dir) / "published_2d", store.dataset, args.source
            )
            if not published.exists():
                print(
                    f"detect2d: no published '{args.source}' detections for {store.dataset} ({published}); skipped"
                )
                continue
            shutil.copyfile(published, target)
        with np.load(target) as z:
            errs = [
                f"{s}: {np.linalg.norm(z[s][:, :, :] - store.arrays(s)['pose2d'][:, _idx(z[s].shape[1])], axis=-1).mean():.2f} px"
                for s in store.splits
            ]
        print(f"detect2d: {target} ({', '.join(errs)} mean error vs GT)")


def _idx(num_joints: int) -> list[int]:
    from lbi.skeleton import SH16_TO_17

    return list(SH16_TO_17) if num_joints == 16 else list(range(17))


if __name__ == "__main__":
    run(main)
