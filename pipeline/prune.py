"""Stage ``prune@<source>``: Adaptive Feature Selection statistics at retention r.

Runs the trained stage 1 on the in-domain and cross-domain test sets, ranks image tokens
by the last stage-1 layer's attention summed over joints and heads, and records the
kept-token indices at r (paper Fig. 6, Fig. 9) and the background share of the kept
tokens. Reads params: ``prune``. Writes ``${paths.prune}/<source>/afsm.json`` (r, k,
statistics; stage 2 reads r from it) and ``kept.npz``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline._cli import out_dir, parse, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.evaluate import fg_background_share, run_model
    from lbi.experiment import DataPaths, make_datasets, stage2_model_from_stage1
    from lbi.io import save_json, save_npz
    from lbi.tracking import stage_run

    r = p.prune.r
    model = stage2_model_from_stage1(Path(p.paths.models) / args.source / "stage1.pt", r)
    ds = make_datasets(DataPaths.from_params(p.paths), args.source, flip=False)
    dst = out_dir(Path(p.paths.prune) / args.source)
    stats: dict[str, object] = {"r": r, "source": args.source}
    kept_arrays = {}
    with stage_run(
        "prune",
        dataset=ds.dataset,
        synthetic=ds.synthetic,
        source=args.source,
        params={"prune.r": r},
        run_name=f"prune@{args.source}",
    ) as mlf:
        for split, d in (("test", ds.test), ("cross", ds.cross)):
            pred = run_model(model, d, stage=2, flip_test=False, batch_size=p.evaluate.batch_size)
            kept = pred.kept_idx  # (N, K)
            assert kept is not None
            kept_arrays[split] = kept.astype(np.int32)
            h, w = d.crop_hw
            hw_tokens = (h // 4) * (w // 4)
            stats[f"{split}_kept_tokens"] = int(kept.shape[1])
            stats["hw_tokens"] = hw_tokens
            mask = d.store.fgmask(d.split)
            if mask is not None:
                # Share of kept tokens that are background (uniform attention over kept).
                onehot = np.zeros((len(kept), 1, hw_tokens), dtype=np.float32)
                np.put_along_axis(onehot[:, 0], kept, 1.0, axis=1)
                bg = fg_background_share(onehot, mask, (h // 4, w // 4))
                stats[f"{split}_kept_background_pct"] = 100.0 * float(bg.mean())
                allbg = fg_background_share(np.ones_like(onehot), mask, (h // 4, w // 4))
                stats[f"{split}_all_tokens_background_pct"] = 100.0 * float(allbg.mean())
        mlf.log_metrics(
            {k: float(v) for k, v in stats.items() if isinstance(v, int | float) and k != "r"}
        )
    save_npz(dst / "kept.npz", **kept_arrays)
    save_json(dst / "afsm.json", stats)
    print(f"prune@{args.source}: {stats}")


if __name__ == "__main__":
    run(main)
