"""Stage ``report``: the paper's tables and figures from run records and pipeline outputs.

Reads params ``paths.metrics``, ``paths.eval``, ``paths.plots``, ``paths.prune``,
``paths.models``, ``paths.reports``; reads ``results/*.jsonl`` and the pipeline's outputs
(see :mod:`lbi.report.inputs`). Writes ``${paths.reports}/generated/`` and
``${paths.reports}/README.md``; logs both to the pipeline's MLflow run (``report/``).
"""

from __future__ import annotations

from pipeline._cli import parse, run


def main() -> None:
    _, p = parse(__doc__.splitlines()[0])
    from lbi.report.build import build_report

    rep = build_report(p.paths)
    from lbi.tracking import log_report

    log_report(rep.readme, rep.readme.parent / "generated", rep.synthetic)  # the pipeline run's
    print(f"report: {len(rep.tables)} tables, {len(rep.figures)} figures -> {rep.readme}")


if __name__ == "__main__":
    run(main)
