"""Reading the user's video frames and cutting them into the store's crop arrays.

Real datasets arrive as folders of extracted frames (JPEG or PNG). A dataset's
``frames_pattern`` is a ``str.format`` pattern, relative to its ``frames_root``, with
the placeholders

    ``{subject}``  subject id as in the annotation files (``S9``, ``TS3``)
    ``{action}``   the raw sequence name as in the annotation files (``Directions 1``)
    ``{camera}``   camera id (``54138969``)
    ``{frame}``    0-based frame index in the original (un-subsampled) sequence
    ``{frame1}``   the same index + 1, for 1-based extractions (``img_000001.jpg``)

e.g. ``"{subject}/{action}.{camera}/{frame:06d}.jpg"``.

Crops are written into a scratch ``.npy`` file memory-mapped next to the store (so a
Human3.6M-sized split never sits in RAM), then handed to
:func:`lbi.data.store.write_split`; the scratch file is removed afterwards, also on
error. JPEG frames are decoded at 1/2, 1/4 or 1/8 resolution (the decoder's DCT
scaling) when the crop shrinks the image at least that much: faster, and a better
low-pass than bilinear sampling of the full image.
"""

from __future__ import annotations

import multiprocessing
import os
import string
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from lbi.camera import warp_crop
from lbi.data.store import StoreError, write_split

PLACEHOLDERS: tuple[str, ...] = ("subject", "action", "camera", "frame", "frame1")


class DatasetError(StoreError):
    """A user-supplied dataset file is missing, unreadable or inconsistent."""


class FrameSourceConfig:
    """Fields and checks the real-data configs share (:class:`lbi.data.h36m.H36MConfig`,
    :class:`lbi.data.mpi3dhp.MPI3DHPConfig`): root, frames pattern, crop box, workers."""

    root: str
    frames_pattern: str
    crop_hw: tuple[int, int]
    box: str
    box_extent_mm: float
    box_margin: float
    workers: int
    cameras_file: str | None
    frames_root: str | None

    def check_crop_fields(self) -> None:
        """Raise ValueError naming the first bad crop/box/frames field."""
        from lbi.config import check_choice, check_range

        check_choice("box", self.box, ("3d", "2d"))
        check_range("box_extent_mm", self.box_extent_mm, 0, lo_open=True)
        check_range("box_margin", self.box_margin, 0, lo_open=True)
        check_range("workers", self.workers, 0)
        if len(self.crop_hw) != 2 or min(self.crop_hw) < 8:
            raise ValueError(f"'crop_hw' = {self.crop_hw} must be two sizes >= 8 px")
        check_pattern(self.frames_pattern)

    def path(self, p: str) -> Path:
        """``p`` resolved against ``root`` (absolute paths unchanged)."""
        return Path(p) if Path(p).is_absolute() else Path(self.root) / p

    def optional_inputs(self) -> list[Path]:
        """The camera file and frames folder, where the config names them."""
        files = [self.path(self.cameras_file)] if self.cameras_file else []
        if self.frames_root is not None:
            files.append(self.path(self.frames_root))
        return files


def first_missing(paths: Sequence[Path]) -> Path | None:
    """The first of ``paths`` that does not exist, or None."""
    return next((p for p in paths if not p.exists()), None)


def check_pattern(pattern: str, name: str = "frames_pattern") -> None:
    """Raise ValueError if ``pattern`` uses unknown placeholders or no frame placeholder."""
    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    unknown = sorted(fields - set(PLACEHOLDERS))
    if unknown:
        raise ValueError(
            f"'{name}' = {pattern!r} uses unknown placeholders {unknown}; valid: {list(PLACEHOLDERS)}"
        )
    if not fields & {"frame", "frame1"}:
        raise ValueError(f"'{name}' = {pattern!r} needs a {{frame}} or {{frame1}} placeholder")
    try:
        frame_path(pattern, subject="S1", action="A", camera="0", frame=0)
    except (ValueError, IndexError) as e:
        raise ValueError(f"'{name}' = {pattern!r} is not a valid format pattern ({e})") from e


def frame_path(pattern: str, *, subject: str, action: str, camera: str, frame: int) -> str:
    """``pattern`` filled in for one frame (``frame`` 0-based)."""
    return pattern.format(
        subject=subject, action=action, camera=camera, frame=int(frame), frame1=int(frame) + 1
    )


@dataclass(frozen=True)
class CropJob:
    """One crop to cut: image file, affine image px -> crop px, expected image size."""

    path: Path
    affine: np.ndarray  # (2, 3) float
    image_wh: tuple[int, int]  # px
    where: str  # "subject S9, action Directions 1, camera 54138969, frame 120"


def _dct_reduction(affine: np.ndarray) -> int:
    """Largest JPEG decode reduction k in {1, 2, 4, 8} that keeps >= 1 image px per crop px."""
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(affine, np.float64)[:, :2]))))
    k = 1
    while k < 8 and scale * 2 * k <= 1.0:
        k *= 2
    return k


def read_frame(
    path: str | Path, expected_wh: tuple[int, int] | None = None, where: str = "", reduce: int = 1
) -> tuple[np.ndarray, int]:
    """Read an RGB frame -> (``(H', W', 3)`` uint8, k) with ``H' ~ H / k``.

    ``reduce`` asks a JPEG decoder for a 1/k-size image (other formats ignore it; the
    returned ``k`` is what was obtained). Errors name the file, ``where`` and the fix.
    """
    path = Path(path)
    ctx = f" ({where})" if where else ""
    if not path.exists():
        raise DatasetError(
            f"{path}: frame not found{ctx}; extract the videos' frames to match "
            "'frames_root'/'frames_pattern' in params.yaml"
        )
    try:
        with Image.open(path) as img:
            if expected_wh is not None and tuple(img.size) != tuple(expected_wh):
                raise DatasetError(
                    f"{path}: frame is {img.size[0]}x{img.size[1]} px{ctx}, the camera "
                    f"calibration expects {expected_wh[0]}x{expected_wh[1]}; frames must be "
                    "extracted at full resolution"
                )
            full_w = img.size[0]
            if reduce > 1 and img.format == "JPEG":
                img.draft("RGB", (max(1, img.size[0] // reduce), max(1, img.size[1] // reduce)))
            rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(
            f"{path}: unreadable or corrupt image{ctx} ({type(e).__name__}: {e}); "
            "re-extract this frame"
        ) from e
    k = max(1, round(full_w / rgb.shape[1]))
    return rgb, k


def cut_crop(job: CropJob, out_hw: tuple[int, int], fast_decode: bool = True) -> np.ndarray:
    """Read ``job.path`` and warp it into an ``(H, W, 3)`` uint8 crop."""
    want = _dct_reduction(job.affine) if fast_decode else 1
    image, k = read_frame(job.path, job.image_wh, job.where, reduce=want)
    A = np.asarray(job.affine, np.float64)
    if k > 1:
        # Reduced pixel i covers full pixels [k i, k i + k - 1]: x_full = k x + (k - 1) / 2.
        S = np.array([[k, 0.0, (k - 1) / 2], [0.0, k, (k - 1) / 2], [0.0, 0.0, 1.0]])
        A = A @ S
    return warp_crop(image, A, out_hw)


def _fill_chunk(npy_path: str, start: int, jobs: Sequence[CropJob], fast_decode: bool) -> int:
    """Worker: cut ``jobs`` into rows ``start..`` of the ``.npy`` memmap at ``npy_path``."""
    out = np.load(npy_path, mmap_mode="r+")
    out_hw = (int(out.shape[1]), int(out.shape[2]))
    for i, job in enumerate(jobs):
        out[start + i] = cut_crop(job, out_hw, fast_decode)
    out.flush()
    return len(jobs)


def fill_crops(
    jobs: Sequence[CropJob],
    out: np.ndarray,
    *,
    workers: int = 0,
    progress: bool = True,
    desc: str = "crops",
    fast_decode: bool = True,
    chunk: int = 64,
) -> None:
    """Cut ``jobs[i]`` into ``out[i]`` (``(N, H, W, 3)`` uint8).

    With ``workers`` > 1 (0 = one per CPU) and ``out`` a memmap of an ``.npy`` file
    (:func:`scratch_crops`), ``chunk``-sized runs of jobs go to worker processes that
    write straight into the file (PIL holds the GIL while decoding, so threads would
    not scale); otherwise the crops are cut in this process.
    """
    if len(jobs) != len(out):
        raise ValueError(f"{len(jobs)} crop jobs for an output of {len(out)} crops")
    n_workers = min(workers or (os.cpu_count() or 1), -(-len(jobs) // chunk))
    path = getattr(out, "filename", None)
    bar = tqdm(total=len(jobs), desc=desc, unit="crop", disable=not progress)
    try:
        if n_workers <= 1 or path is None:
            out_hw = (int(out.shape[1]), int(out.shape[2]))
            for i, job in enumerate(jobs):
                out[i] = cut_crop(job, out_hw, fast_decode)
                bar.update()
            return
        if isinstance(out, np.memmap):
            out.flush()
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["lbi.data.frames"])  # import once, fork workers cheaply
        with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
            futures = [
                pool.submit(_fill_chunk, str(path), s, list(jobs[s : s + chunk]), fast_decode)
                for s in range(0, len(jobs), chunk)
            ]
            try:
                for f in as_completed(futures):
                    bar.update(f.result())
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        bar.close()


def check_frames_exist(jobs: Sequence[CropJob]) -> None:
    """Fail before any decoding if frames are missing: name the first and count them all."""
    missing = [j for j in jobs if not j.path.is_file()]
    if missing:
        j = missing[0]
        raise DatasetError(
            f"{j.path}: frame not found ({j.where}; {len(missing)} of {len(jobs)} frames "
            "missing); extract the videos' frames to match 'frames_root'/'frames_pattern' "
            "in params.yaml, or set 'frames_root: null' to write a store without images"
        )


@contextmanager
def scratch_crops(
    store_dir: str | Path, split: str, n: int, crop_hw: tuple[int, int]
) -> Iterator[np.ndarray]:
    """A zero-filled ``(n, H, W, 3)`` uint8 memmap in a scratch file, removed on exit."""
    store_dir = Path(store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    path = store_dir / f".{split}_crops.scratch.npy"
    try:
        crops = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, *crop_hw, 3))
        yield crops
        del crops
    finally:
        path.unlink(missing_ok=True)


def write_split_from_frames(
    store_dir: str | Path,
    split: str,
    arrays: dict[str, np.ndarray],
    jobs: Sequence[CropJob] | None,
    crop_hw: tuple[int, int],
    *,
    workers: int = 0,
    progress: bool = True,
) -> int:
    """Cut the crops of ``jobs`` (black crops when ``jobs`` is None) and write the split."""
    n = len(arrays["pose3d"])
    if jobs is not None:
        if len(jobs) != n:
            raise ValueError(f"{len(jobs)} crop jobs for {n} samples in split '{split}'")
        check_frames_exist(jobs)
    with scratch_crops(store_dir, split, n, crop_hw) as crops:
        if jobs is not None:
            fill_crops(jobs, crops, workers=workers, progress=progress, desc=f"{split} crops")
        crops.flush()
        return write_split(store_dir, split, arrays, crops)
