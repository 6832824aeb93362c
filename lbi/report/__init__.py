"""The report: the paper's tables and figures regenerated from typed run records
(:mod:`~lbi.report.build` writes ``reports/generated/`` and ``reports/README.md``)."""
