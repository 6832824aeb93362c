"""Stage ``fetch``: check the raw data is there (we never download licensed data).

- ``embedded``: the DeepMimic motion-capture clips shipped inside the pybullet wheel;
  writes their sizes and SHA-256 to the manifest.
- ``h36m``: the user's local Human3.6M and MPI-INF-3DHP copies (paths in params.yaml);
  a missing file stops the stage with its name and where to obtain it.
Reads params: ``data.dataset``, ``embedded``, ``h36m``, ``mpi3dhp``. Writes
``${paths.raw}/manifest.json``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline._cli import out_dir, parse, run


def _describe(files: list[Path], root: Path, *, sha256: bool = True) -> list[dict[str, object]]:
    """Size (and SHA-256) of each file, its path relative to ``root``: the manifest (a
    DVC output) must hash the same wherever the data or the repo lives."""
    out: list[dict[str, object]] = []
    for f in files:
        rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else f.name
        d: dict[str, object] = {"path": rel, "bytes": f.stat().st_size}
        if sha256:
            d["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
        out.append(d)
    return out


def main() -> None:
    _args, p = parse(__doc__.splitlines()[0])
    from lbi.io import save_json

    if p.data.dataset == "embedded":
        from lbi.data.mocap import CLIPS, pybullet_data_dir

        root = pybullet_data_dir()
        files = [root / "humanoid" / "humanoid.urdf"]
        files += [root / "data" / "motions" / f"humanoid3d_{c}.txt" for c in CLIPS]
        manifest = {
            "dataset": "embedded",
            "synthetic": True,
            "root": "pybullet_data (the pybullet wheel's data folder)",
            "files": _describe(files, root),
        }
    else:
        from lbi.data.h36m import required_files as h36m_files
        from lbi.data.mpi3dhp import required_files as mpi_files

        h36m = [f for f in h36m_files(p.h36m) if f.is_file()]
        mpi = [f for f in mpi_files(p.mpi3dhp) if f.is_file()]
        files = [*h36m, *mpi]
        manifest = {
            "dataset": "h36m",
            "synthetic": False,
            "files": {  # relative to h36m.root and mpi3dhp.root
                "h36m": _describe(h36m, Path(p.h36m.root), sha256=False),
                "mpi3dhp": _describe(mpi, Path(p.mpi3dhp.root), sha256=False),
            },
        }
    save_json(out_dir(p.paths.raw) / "manifest.json", manifest)
    print(f"fetch: {len(files)} raw files checked for dataset '{p.data.dataset}'")


if __name__ == "__main__":
    run(main)
