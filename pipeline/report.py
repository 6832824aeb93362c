"""Stage ``report``: the paper's tables and figures regenerated from our tracked runs.

Reads params: ``paths``, ``data.train_sources``; ``model``, ``prune``, ``baseline.model``
(which ablation rows the pipeline's own model is). Reads the pipeline's metrics, eval,
plots and prune outputs and the sweeps' MLflow runs (CSV fallback: ``data/sweeps``).
Writes ``${paths.reports}/generated/`` (tables .md/.tex, figures .png) and
``${paths.reports}/README.md``.
"""

from __future__ import annotations

from pipeline._cli import parse, run


def main() -> None:
    _, p = parse(__doc__.splitlines()[0])
    from lbi.report.build import build_report, config_from_params

    rep = build_report(p.paths, config_from_params(p))
    print(f"report: {len(rep.tables)} tables, {len(rep.figures)} figures -> {rep.readme}")


if __name__ == "__main__":
    run(main)
