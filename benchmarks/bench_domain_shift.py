"""Where does the cross-domain error come from? The lab -> wild shift taken apart.

The embedded wild test set differs from the lab in three ways at once: the motion (held-out
clips and subjects), the camera geometry (random heights, distances, focal lengths) and the
appearance (procedural backgrounds, random light, tint, noise; no floor). This script
renders the wild takes (same clips, subjects, poses) four ways, cameras x appearance:

============  ===================  =====================================================
variant       cameras              appearance
============  ===================  =====================================================
wild/wild     random wild cameras  wild (the ``embedded_wild`` test store itself)
wild/lab      random wild cameras  lab: the room, its floor and shadow, the studio light
lab/wild      the lab rig          wild
lab/lab       the lab rig          lab  (only the motion is new)
============  ===================  =====================================================

then, on the lab rig in the lab's appearance, changes one wild appearance factor at a time
(``lab/light``: the wild key-light direction and intensities; ``lab/background``: the
procedural backgrounds, no floor or contact shadow; ``lab/sensor``: colour tint and sensor
noise), and evaluates the pipeline's trained models (coarse = ``stage1.pt``, refined =
``stage2.pt``, whose stage 1 was trained on with it under ``train_stage2.finetune_stage1``; the 2D
lifter) on each with ground-truth 2D and flip test: MPJPE (mm), frame-wise. Differences
between rows isolate one factor at a time. All data are SYNTHETIC.

    python benchmarks/bench_domain_shift.py                 # after `dvc repro`
    python benchmarks/bench_domain_shift.py --source gt --models data/models
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lbi  # noqa: F401  (pins CPU floating point before NumPy/torch load)

# isort: split
import numpy as np

from lbi.data import embedded as E
from lbi.data.dataset import PoseDataset
from lbi.data.store import write_meta
from lbi.evaluate import cross_metrics, run_model
from lbi.params import load_params
from lbi.train import load_model

VARIANTS = (("wild", "wild"), ("wild", "lab"), ("lab", "wild"), ("lab", "lab"))
FACTORS = ("light", "background", "sensor")  # one wild appearance factor on lab/lab


def render_variant(cfg: E.EmbeddedConfig, cameras: str, appearance: str, out: Path) -> Path:
    """The wild takes through ``cameras`` ("wild" | "lab") in ``appearance``: "wild", "lab",
    or the lab with one wild factor (:data:`FACTORS`: "light", "background", "sensor").

    Takes, wild cameras and wild appearance draw from the wild store's random streams, so
    ``wild/wild`` reproduces the ``embedded_wild`` test store; a factor variant draws the
    same values as ``wild`` and uses only its own.
    """
    split = E._Split()
    for take, cam_id, view, rng in E.wild_views(cfg):
        cam = E.wild_camera(rng, take.centre, cam_id)  # drawn always: keeps rng in step
        key = cam.key_light
        if cameras == "lab":
            cam = E.lab_cameras()[view % len(E.LAB_RIG)]
        if appearance == "wild":
            split.add(*E.render_wild_appearance(cfg, take, cam, rng))
            continue
        # the studio: fixed light from the lab's key direction, the room ...
        lab_cam = E.Camera(cam.id, cam.R, cam.C, cam.intrinsics, cam.image_wh)
        light = E.lab_light(cfg.look, cfg.light_falloff)
        bg = E.lab_background(cfg, lab_cam)
        # ... with the wild draws of render_wild_appearance, in its order
        wild_light = E.wild_light(cfg.look, cfg.light_falloff, rng)
        scene_seed, tint = int(rng.integers(2**31)), rng.uniform(0.9, 1.1, 3)
        noise_seed = int(rng.integers(2**31))
        if appearance == "light":  # the wild key direction and intensities
            lab_cam = E.Camera(cam.id, cam.R, cam.C, cam.intrinsics, cam.image_wh, key)
            light = wild_light
        elif appearance == "background":  # procedural texture: no floor, no contact shadow
            bg = _texture(scene_seed, cam.image_wh)
        arrays, img, mask = E.render_view(cfg, take, lab_cam, light, bg)
        if appearance == "sensor":  # colour tint and sensor noise
            noise = np.random.default_rng(noise_seed).normal(0, cfg.wild_noise / 255, img.shape)
            img = img * tint + noise
        split.add(arrays, img, mask)
    n = split.write(out, "test")
    write_meta(out, dataset=f"embedded_shift_{cameras}cam_{appearance}app", synthetic=True,
               crop_hw=cfg.crop_hw, fps=cfg.fps, splits={"test": n},
               provenance={"generator": "benchmarks/bench_domain_shift.py", "synthetic": True})  # fmt: skip
    return out


def _texture(seed: int, wh: tuple[int, int]) -> E.Background:
    def bg(xy: np.ndarray, root_w: np.ndarray) -> np.ndarray:
        return E.texture_background(np.random.default_rng(seed), xy, wh)

    return bg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--source", default="gt", help="2D source the models were trained on")
    ap.add_argument("--models", type=Path, default=None, help="default: params paths.models")
    args = ap.parse_args()
    p = load_params(args.params)
    if p.data.dataset != "embedded":
        raise SystemExit(
            "bench_domain_shift renders the embedded benchmark: data.dataset: embedded"
        )
    folder = (args.models or Path(p.paths.models)) / args.source
    models = {}
    for name, file, stage, key in (("coarse", "stage1.pt", 1, "coarse"),
                                   ("refined", "stage2.pt", 2, "refined"),
                                   ("lifter", "lifter.pt", 1, "coarse")):  # fmt: skip
        if not (folder / file).exists():
            raise SystemExit(f"{folder / file}: missing; run `dvc repro` first")
        models[name] = (load_model(folder / file)[0], stage, key)
    print(f"SYNTHETIC embedded benchmark, models from {folder}; MPJPE mm (GT 2D, flip test)")
    print(
        f"{'cameras/appearance':20s} {'N':>5s} {'render s':>9s} "
        + " ".join(f"{k:>8s}" for k in models)
    )
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cams, app in (*VARIANTS, *(("lab", f) for f in FACTORS)):
            t0 = time.perf_counter()
            d = render_variant(p.embedded, cams, app, Path(tmp) / f"{cams}_{app}")
            secs = time.perf_counter() - t0
            ds = PoseDataset(d, "test")
            errs = {}
            for name, (model, stage, key) in models.items():
                if model.cfg.num_joints_in != ds.num_joints_in:
                    ds = PoseDataset(d, "test", joints_in=model.cfg.num_joints_in)
                pred = run_model(model, ds, stage=stage, flip_test=p.evaluate.flip_test).poses[key]
                errs[name] = cross_metrics(pred, ds)["mpjpe_mm"]
            rows[(cams, app)] = errs
            print(f"{cams + '/' + app:20s} {len(ds):5d} {secs:9.1f} "
                  + " ".join(f"{errs[k]:8.1f}" for k in models))  # fmt: skip
    ww, wl, lw, ll = (rows[v] for v in VARIANTS)
    print("\nshare of the gap, coarse minus lifter (mm):")
    for label, r in (("motion only (lab/lab)", ll), ("+ appearance (lab/wild)", lw),
                     ("+ cameras (wild/lab)", wl), ("all (wild/wild)", ww)):  # fmt: skip
        print(f"  {label:26s} {r['coarse'] - r['lifter']:+7.1f}")
    print(f"appearance costs the coarse pose {np.mean([lw['coarse'] - ll['coarse'], ww['coarse'] - wl['coarse']]):+.1f} mm, "
          f"the lifter {np.mean([lw['lifter'] - ll['lifter'], ww['lifter'] - wl['lifter']]):+.1f} mm; "
          f"cameras cost {np.mean([wl['coarse'] - ll['coarse'], ww['coarse'] - lw['coarse']]):+.1f} / "
          f"{np.mean([wl['lifter'] - ll['lifter'], ww['lifter'] - lw['lifter']]):+.1f} mm")  # fmt: skip
    print("one wild appearance factor on lab/lab (lab cameras), cost in mm (coarse / lifter):")
    for f in FACTORS:
        r = rows[("lab", f)]
        print(f"  {f:12s} {r['coarse'] - ll['coarse']:+7.1f} / {r['lifter'] - ll['lifter']:+.1f}")


if __name__ == "__main__":
    main()
