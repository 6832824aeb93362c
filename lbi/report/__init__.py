"""The report: the paper's tables and figures regenerated from typed run records.

- :mod:`~lbi.report.inputs`: what it reads (``results/*.jsonl``, the pipeline's outputs);
- :mod:`~lbi.report.stats`: means over seeds and what keeps runs apart (:class:`Variant`);
- :mod:`~lbi.report.ablations`: tables from sweep records; :mod:`~lbi.report.main_tables`:
  Tables 2, 3 and 8 from the pipeline; :mod:`~lbi.report.paper`: the paper's numbers;
- :mod:`~lbi.report.table`: Markdown / LaTeX; :mod:`~lbi.report.figures`: PNGs;
- :mod:`~lbi.report.build`: writes ``reports/generated/`` and ``reports/README.md``.
"""
