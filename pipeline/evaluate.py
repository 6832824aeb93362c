"""Stage ``evaluate@<source>``: the paper's protocols for coarse, refined and lifter.

Reads params: ``evaluate``. Writes ``${paths.metrics}/<source>.json`` (flat, units in
keys; declared under ``metrics:`` in dvc.yaml), ``${paths.eval}/<source>/tables.json``
(per-action Protocol 1/2), ``${paths.eval}/<source>/examples.npz`` (attention maps,
kept tokens and crops of a few samples, for the report's figures) and
``${paths.eval}/<source>/records.jsonl`` (the pipeline's run records: LBI, the lifter).
Work: :func:`lbi.stages.evaluate`.
"""

from __future__ import annotations

from pipeline._cli import parse, paths, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi import stages

    flat = {k: v for m in stages.evaluate(p, args.source, paths(p)).values() for k, v in m.items()}
    for k in sorted(flat):
        print(f"evaluate@{args.source}: {k} = {flat[k]:.2f}")


if __name__ == "__main__":
    run(main)
