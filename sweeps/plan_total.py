"""The plans of several sweeps as one, a shared model counted once: what ``make sweeps``
has left to train. Usage::

    python sweeps/ablate_layers.py --plan --plan-out plan.jsonl   # each driver, appending
    python sweeps/plan_total.py plan.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lbi.sweep.runner import plan_total


def main(argv: list[str] | None = None) -> list[str]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plan", type=Path, help="JSON lines written by the drivers' --plan-out")
    args = ap.parse_args(argv)
    lines = args.plan.read_text(encoding="utf-8").splitlines() if args.plan.is_file() else []
    out = plan_total([json.loads(x) for x in lines if x.strip()])
    print("\n".join(out))
    return out


if __name__ == "__main__":
    main()
