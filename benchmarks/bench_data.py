"""Data-path throughput: crop extraction while preprocessing, and batch loading from a store.

1. ``crops/s``: cut 256x192 crops out of synthetic 1000x1000 JPEG frames (textured, so
   decoding costs what a real frame costs) with :func:`lbi.data.frames.fill_crops`,
   in this process and with one worker process per CPU, with and without reduced JPEG decoding.
2. ``samples/s``: a torch DataLoader over a memory-mapped store split (``num_workers``
   0 and 2), each batch of 128 one sorted fancy-indexed read of ``<split>_crops.npy``
   plus the per-sample arrays - the access pattern of training.

Prints figures only (no assertions). ``python benchmarks/bench_data.py --help``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import lbi  # noqa: F401  (pins CPU floating point before NumPy/torch load)

# isort: split
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, RandomSampler

from lbi.camera import crop_affine
from lbi.data.frames import CropJob, fill_crops, scratch_crops
from lbi.data.store import open_store, write_meta, write_split

CROP_HW = (256, 192)


def make_frames(folder: Path, n: int, size: int = 1000) -> list[Path]:
    """``n`` textured ``size x size`` JPEGs (blurred noise + gradients), quality 90."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    paths = []
    for i in range(n):
        small = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR))
        img = (
            (img.astype(np.int32) + ((xx + yy + 7 * i) % 64)[..., None])
            .clip(0, 255)
            .astype(np.uint8)
        )
        path = folder / f"{i:06d}.jpg"
        Image.fromarray(img).save(path, quality=90)
        paths.append(path)
    return paths


def bench_crops(folder: Path, n: int) -> None:
    paths = make_frames(folder, n)
    rng = np.random.default_rng(1)
    # Human3.6M-like boxes: a 2 m square at 4-6 m depth with f ~ 1145 px -> 380-570 px.
    size = 1145 * 2000 / rng.uniform(4000, 6000, n)
    center = rng.uniform(350, 650, (n, 2))
    A = crop_affine(center, np.stack([size, size], 1), CROP_HW)
    jobs = [CropJob(p, A[i], (1000, 1000), f"frame {i}") for i, p in enumerate(paths)]
    cpus = os.cpu_count() or 1
    for fast in (True, False):
        for workers in sorted({1, cpus}):
            with scratch_crops(folder, "bench", n, CROP_HW) as out:
                t = time.perf_counter()  # includes worker start-up (~2 s, once per split)
                fill_crops(jobs, out, workers=workers, progress=False, fast_decode=fast, chunk=16)
                dt = time.perf_counter() - t
            print(
                f"preprocess crops: {n / dt:8.1f} crops/s  (workers={workers}, reduced_jpeg_decode={fast})"
            )


class _BatchedStore(Dataset):
    """Random-index batched reads of a store split (crops memory-mapped)."""

    def __init__(self, store_dir: Path, split: str) -> None:
        store = open_store(store_dir)
        self.arrays = {k: v for k, v in store.arrays(split).items() if v.dtype.kind != "U"}
        self.store_dir, self.split = store_dir, split
        self.crops: np.ndarray | None = None  # opened lazily, per worker process
        self.n = len(self.arrays["pose3d"])

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, idx: list[int]) -> dict[str, torch.Tensor]:
        if self.crops is None:
            self.crops = open_store(self.store_dir).crops(self.split)
        order = np.sort(np.asarray(idx))
        batch = {k: torch.from_numpy(v[order]) for k, v in self.arrays.items()}
        batch["image"] = torch.from_numpy(np.ascontiguousarray(self.crops[order])).permute(
            0, 3, 1, 2
        )
        return batch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])


def _identity(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return batch


def make_store(store_dir: Path, n: int) -> None:
    rng = np.random.default_rng(2)
    arrays = {
        "pose3d": rng.normal(0, 300, (n, 17, 3)).astype(np.float32),
        "root3d": rng.normal(0, 300, (n, 3)).astype(np.float32),
        "pose2d": rng.uniform(0, 1000, (n, 17, 2)).astype(np.float32),
        "crop_affine": np.tile(np.eye(2, 3, dtype=np.float32), (n, 1, 1)),
        "intrinsics": np.tile(np.float32([1145, 1145, 500, 500, 0, 0, 0, 0, 0]), (n, 1)),
        "image_wh": np.tile(np.int32([1000, 1000]), (n, 1)),
        "subject": np.full(n, "S1"),
        "action": np.full(n, "Walking"),
        "camera": np.full(n, "54138969"),
        "frame": np.arange(n, dtype=np.int32),
    }
    crops = rng.integers(0, 255, (n, *CROP_HW, 3), dtype=np.uint8)
    write_split(store_dir, "train", arrays, crops)
    write_meta(
        store_dir,
        dataset="bench",
        synthetic=True,
        crop_hw=CROP_HW,
        splits={"train": n},
        fps=5.0,
        provenance={},
    )


def bench_loading(store_dir: Path, n: int, batches: int, batch_size: int = 128) -> None:
    make_store(store_dir, n)
    ds = _BatchedStore(store_dir, "train")
    for workers in (0, 2):
        sampler = RandomSampler(ds, replacement=True, num_samples=batches * batch_size)
        loader = DataLoader(
            ds, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=_identity
        )
        it = iter(loader)
        next(it)  # worker start-up and first page-ins are not throughput
        t = time.perf_counter()
        count = sum(len(b["image"]) for b in it)
        dt = time.perf_counter() - t
        print(
            f"store loading:    {count / dt:8.1f} samples/s  (DataLoader num_workers={workers}, batch={batch_size}, N={n})"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=64, help="synthetic frames to crop")
    ap.add_argument("--samples", type=int, default=2048, help="samples in the benchmark store")
    ap.add_argument("--batches", type=int, default=20, help="batches to time per setting")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "frames").mkdir()
        bench_crops(Path(tmp) / "frames", args.frames)
        bench_loading(Path(tmp) / "store", args.samples, args.batches)


if __name__ == "__main__":
    main()
