"""Generation speed of the embedded benchmark: prints crops/s and seconds.

python benchmarks/bench_embedded.py                # the default config (~7,400 crops)
python benchmarks/bench_embedded.py --tiny
python benchmarks/bench_embedded.py --crop 256 192 --fps 5   # the paper's crop size
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
from pathlib import Path

import lbi  # noqa: F401  (first: torchvision shim)
from lbi.data.embedded import EmbeddedConfig, generate_embedded, tiny_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), default=None)
    p.add_argument("--fps", type=float, default=None)
    p.add_argument("--supersample", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="keep the stores here (default: temp)")
    args = p.parse_args()
    cfg = tiny_config() if args.tiny else EmbeddedConfig()
    changes = {
        k: v
        for k, v in (("crop_hw", tuple(args.crop) if args.crop else None), ("fps", args.fps),
                     ("supersample", args.supersample))
        if v is not None
    }  # fmt: skip
    cfg = dataclasses.replace(cfg, **changes)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        s = generate_embedded(cfg, out / "lab", out / "wild", progress=False)
    n = s["lab_train"] + s["lab_test"] + s["wild_test"]
    print(
        f"embedded generation: crop {cfg.crop_hw[0]}x{cfg.crop_hw[1]}, ss {cfg.supersample}, "
        f"fps {cfg.fps}, {os.cpu_count()} CPUs visible"
    )
    print(
        f"  lab train {s['lab_train']}, lab test {s['lab_test']}, wild test {s['wild_test']} "
        f"= {n} crops in {s['seconds']:.1f} s -> {s['crops_per_s']:.1f} crops/s"
    )


if __name__ == "__main__":
    main()
