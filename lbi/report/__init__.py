"""The report: the paper's tables and figures regenerated from our tracked runs.

- :mod:`~lbi.report.paper`: the paper's numbers (reference only, labelled "paper");
- :mod:`~lbi.report.collect`: reading the pipeline's outputs and the sweeps' runs;
- :mod:`~lbi.report.tables`, :mod:`~lbi.report.stage1_tables`,
  :mod:`~lbi.report.ablations`, :mod:`~lbi.report.sweep_tables`: the tables, with the
  row-matching rules in :mod:`~lbi.report.rows` and data labels in :mod:`~lbi.report.labels`;
- :mod:`~lbi.report.render`: Markdown / LaTeX; :mod:`~lbi.report.figures`: PNGs;
- :mod:`~lbi.report.build`: writes ``reports/generated/`` and ``reports/README.md``.
"""
