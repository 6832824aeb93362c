"""Stage ``prune@<source>``: Adaptive Feature Selection statistics at ``prune.retention``.

Runs the trained stage 1 on the in-domain and cross-domain test sets, ranks image tokens
by the last stage-1 layer's attention summed over joints and heads, and records the
kept-token indices (paper Fig. 6, Fig. 9) and the background share of the kept tokens.
Reads params: ``prune``. Writes ``${paths.prune}/<source>/afsm.json`` (retention, kept
tokens, statistics: for the report) and ``kept.npz``.
Work: :func:`lbi.stages.prune`.
"""

from __future__ import annotations

from pipeline._cli import parse, paths, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi import stages

    print(f"prune@{args.source}: {stages.prune(p, args.source, paths(p))}")


if __name__ == "__main__":
    run(main)
