"""Thin CLIs, one per DVC stage: each parses its arguments and calls :mod:`lbi.stages`."""
