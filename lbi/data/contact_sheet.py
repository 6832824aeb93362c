"""Contact sheet: a grid of crops per store with the ground-truth 2D skeleton drawn on.

``python -m lbi.data.contact_sheet <store_dir>... -o sheet.png [--n 8] [--seed 0]``

One row per store (domain), ``n_per_domain`` random samples drawn from all its splits;
right-side bones red, left-side blue, centre white. Synthetic stores are titled
"SYNTHETIC".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lbi.camera import apply_affine
from lbi.data.store import open_store
from lbi.io import atomic_path
from lbi.skeleton import BONES, JOINTS_LEFT, JOINTS_RIGHT


def _bone_color(child: int) -> str:
    if child in JOINTS_RIGHT:
        return "#ff3030"
    if child in JOINTS_LEFT:
        return "#3080ff"
    return "#ffffff"


def make_contact_sheet(
    store_dirs: list[Path], out_png: Path, n_per_domain: int = 8, seed: int = 0
) -> Path:
    """Write a PNG grid (one row per store) of crops with GT 2D joints; return its path."""
    rng = np.random.default_rng(seed)
    stores = [open_store(d) for d in store_dirs]
    fig, axes = plt.subplots(
        len(stores), n_per_domain, figsize=(1.6 * n_per_domain, 2.6 * len(stores)), squeeze=False
    )
    for row, store in zip(axes, stores, strict=True):
        picks = [(s, i) for s in store.splits for i in range(store.meta["splits"][s])]
        chosen = [
            picks[i] for i in rng.choice(len(picks), min(n_per_domain, len(picks)), replace=False)
        ]
        chosen.sort()
        arrays = {s: store.arrays(s) for s in store.splits}
        for ax, (split, i) in zip(row, chosen, strict=False):
            a = arrays[split]
            crop = np.asarray(store.crops(split)[i])
            kp = apply_affine(a["pose2d"][i].astype(np.float64), a["crop_affine"][i])  # (17, 2)
            ax.imshow(crop, interpolation="nearest")
            for child, parent in BONES:
                xs, ys = kp[[child, parent], 0], kp[[child, parent], 1]
                ax.plot(xs, ys, "-", color=_bone_color(child), lw=1.0, alpha=0.9)
            ax.scatter(kp[:, 0], kp[:, 1], s=4, c="#ffff00", zorder=3)
            ax.set_title(
                f"{split} {a['action'][i]}\n{a['subject'][i]} {a['camera'][i]}", fontsize=6
            )
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        tag = "SYNTHETIC" if store.synthetic else "real"
        row[0].set_ylabel(f"{store.dataset}\n{tag}", fontsize=8)
    names = ", ".join(s.dataset for s in stores)
    synthetic = any(s.synthetic for s in stores)
    fig.suptitle(
        f"{'SYNTHETIC - ' if synthetic else ''}{names}: crops with GT 2D joints", fontsize=9
    )
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out_png


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Contact sheet of store crops with GT 2D joints")
    p.add_argument("stores", nargs="+", type=Path, help="store folders (one row each)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output PNG")
    p.add_argument("--n", type=int, default=8, help="crops per store")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(make_contact_sheet(args.stores, args.out, args.n, args.seed))


if __name__ == "__main__":
    main()
