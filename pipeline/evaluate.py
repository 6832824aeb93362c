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
    import torch

    from lbi.evaluate import evaluate_source
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
        flat, tables, outputs = evaluate_source(
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
                "retention": st2["model_args"].get("retention"),
                # "stage2": stage 1 frozen (the paper); "e2e_both": stage 1 trained on with it
                "stage2_phase": st2.get("phase"),
            }
        )
        # Figures: attention maps / kept tokens of a few samples, joint-to-joint-area matrix.
        examples: dict[str, np.ndarray] = {}
        radius = e.attention_radius_px or default_radius(ds.test.crop_hw)
        for split, d in (("test", ds.test), ("cross", ds.cross)):
            att = outputs[split]["stage1"].attention  # (N, J, HW), already computed
            kept = outputs[split]["lbi"].kept_idx  # (N, K)
            idx = np.linspace(0, len(d) - 1, num=min(8, len(d))).astype(int)
            examples[f"{split}_index"] = idx
            examples[f"{split}_crops"] = np.asarray(d.crops[idx])
            examples[f"{split}_pose2d_px"] = d.pose2d_px[idx]
            examples[f"{split}_attention"] = att[idx]
            examples[f"{split}_kept_idx"] = kept[idx]
            h, w = d.crop_hw
            mat = joint_area_attention(
                torch.from_numpy(att),
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


if __name__ == "__main__":
    run(main)
