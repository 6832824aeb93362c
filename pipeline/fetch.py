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


def _describe(files: list[Path]) -> list[dict[str, object]]:
    return [
        {
            "path": str(f),
            "bytes": f.stat().st_size,
            "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
        }
        for f in files
    ]


def main() -> None:
    _args, p = parse(__doc__.splitlines()[0])
    from lbi.io import save_json

    if p.data.dataset == "embedded":
        from lbi.data.mocap import CLIPS, pybullet_data_dir

        root = pybullet_data_dir()
        files = [root / "humanoid" / "humanoid.urdf"]
        files += [root / "data" / "motions" / f"humanoid3d_{c}.txt" for c in CLIPS]
        manifest = {"dataset": "embedded", "synthetic": True, "files": _describe(files)}
    else:
        from lbi.data.h36m import required_files as h36m_files
        from lbi.data.mpi3dhp import required_files as mpi_files

        files = [*h36m_files(p.h36m), *mpi_files(p.mpi3dhp)]
        manifest = {
            "dataset": "h36m",
            "synthetic": False,
            "files": [{"path": str(f), "bytes": f.stat().st_size} for f in files if f.is_file()],
        }
    save_json(out_dir(p.paths.raw) / "manifest.json", manifest)
    print(f"fetch: {len(files)} raw files checked for dataset '{p.data.dataset}'")


if __name__ == "__main__":
    run(main)
