"""Stage ``evaluate@<source>``: the paper's protocols for coarse, refined and baseline.

Reads params: ``evaluate``. Writes ``${paths.metrics}/<source>.json`` (flat, units in
keys; declared under ``metrics:`` in dvc.yaml), ``${paths.eval}/<source>/tables.json``
(per-action Protocol 1/2) and ``${paths.eval}/<source>/examples.npz`` (attention maps,
kept tokens and crops of a few samples, for the report's figures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline._cli import out_dir, parse, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.evaluate import evaluate_source, run_model
    from lbi.experiment import DataPaths, make_datasets
    from lbi.io import save_json, save_npz
    from lbi.model.analysis import default_radius, joint_area_attention
    from lbi.tracking import stage_run
    from lbi.train import load_model

    models = Path(p.paths.models) / args.source
    lbi_model, st2 = load_model(models / "stage2.pt")
    baseline, _ = load_model(models / "baseline.pt")
    ds = make_datasets(DataPaths.from_params(p.paths), args.source, flip=False)
    e = p.evaluate
    with stage_run(
        "evaluate",
        dataset=ds.dataset,
        synthetic=ds.synthetic,
        source=args.source,
        params={"evaluate.flip_test": e.flip_test},
        run_name=f"evaluate@{args.source}",
    ) as mlf:
        flat, tables = evaluate_source(
            lbi_model,
            baseline,
            ds.test,
            ds.cross,
            flip_test=e.flip_test,
            batch_size=e.batch_size,
            radius_px=e.attention_radius_px,
        )
        tables.update(
            {
                "source": args.source,
                "dataset": ds.dataset,
                "synthetic": ds.synthetic,
                "source_method": ds.test.source_meta.get("method"),
                "retention": st2.get("retention"),
            }
        )
        # Figures: attention maps / kept tokens of a few samples, joint-to-joint-area matrix.
        examples: dict[str, np.ndarray] = {}
        radius = e.attention_radius_px or default_radius(ds.test.crop_hw)
        for split, d in (("test", ds.test), ("cross", ds.cross)):
            idx = np.linspace(0, len(d) - 1, num=min(8, len(d))).astype(int)
            sub = torch_subset(d, idx)
            pr = run_model(lbi_model, sub, stage=2, flip_test=False, with_attention=True)
            examples[f"{split}_index"] = idx
            examples[f"{split}_crops"] = np.asarray(d.crops[idx])
            examples[f"{split}_pose2d_px"] = d.pose2d_px[idx]
            examples[f"{split}_attention"] = pr.attention
            examples[f"{split}_kept_idx"] = pr.kept_idx
            full = run_model(
                lbi_model, d, stage=1, flip_test=False, with_attention=True, batch_size=e.batch_size
            )
            import torch

            h, w = d.crop_hw
            mat = joint_area_attention(
                torch.from_numpy(full.attention),
                torch.from_numpy(d.pose2d_px),
                (h // 4, w // 4),
                d.crop_hw,
                radius,
            )
            examples[f"{split}_joint_area"] = np.asarray(mat)
        mlf.log_metrics(flat)
        dst = out_dir(Path(p.paths.eval) / args.source)
        save_json(dst / "tables.json", tables)
        save_npz(dst / "examples.npz", **examples)
        mlf.log_artifact(str(dst / "tables.json"))
    save_json(Path(out_dir(p.paths.metrics)) / f"{args.source}.json", flat)
    for k in sorted(flat):
        print(f"evaluate@{args.source}: {k} = {flat[k]:.2f}")


class torch_subset:  # noqa: N801 - tiny view used like a dataset
    """A view of a PoseDataset restricted to ``idx`` (same attributes the evaluator reads)."""

    def __init__(self, ds, idx):  # type: ignore[no-untyped-def]
        self.ds, self.idx = ds, np.asarray(idx)
        self.crop_hw, self.num_joints_in = ds.crop_hw, ds.num_joints_in

    def __len__(self) -> int:
        return len(self.idx)

    def __getitems__(self, indices):  # type: ignore[no-untyped-def]
        return self.ds.__getitems__([int(self.idx[i]) for i in indices])

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self.ds[int(self.idx[i])]


if __name__ == "__main__":
    run(main)
