#!/usr/bin/env bash
# Sweep trials on a lent GPU host that has torch but no Ray, MLflow or DVC (the device
# tool's machine): the same sweep drivers with --no-ray --no-mlflow (lbi/sweep/local.py),
# several trials sharing the GPU. Three steps:
#
#   bash sweeps/device.sh pack     # here: the stores a trial reads -> data/carry/stores.tar.xz
#   run(command="PYTHONUNBUFFERED=1 bash sweeps/device.sh run", carry=["data/carry"],
#       timeout_s=570)             # there: trains until DEADLINE_S, records under $OUT/results
#   bash sweeps/device.sh merge <files_at>/results    # here: into results/*.jsonl
#
# `run` copies results/ first, so cells that have records are skipped there too; a trial
# still running at the deadline is lost (its folder is on the device), finished ones are
# kept. Its records say numerics `cuda`: the report and the ledger keep them apart from the
# CPU runs (a cell or claim never mixes numerics). Environment of `run`: DEADLINE_S (480),
# GPUS_PER_TRIAL (0.125: eight at once), SWEEPS (the sweep commands, one per line, below;
# the order puts the most claims per trial first). It samples the GPU's utilisation.
set -uo pipefail
CARRY=data/carry/stores.tar.xz
STORES=(data/store/indomain data/store/cross data/detections data/models/pretrain2d)
PY=${PY:-python3}
DEFAULT_SWEEPS="ablate_layers.py --stage2-layers
ablate_progressive.py
ablate_retention.py
ablate_normalization.py
compare_lifter.py
ablate_pretraining.py"

case "${1:-}" in
pack)
  for s in "${STORES[@]}"; do [ -e "$s" ] || { echo "$s: missing; run \`dvc repro detect2d\` first" >&2; exit 2; }; done
  mkdir -p "$(dirname $CARRY)"
  tar -cJf "$CARRY.tmp" "${STORES[@]}" && mv "$CARRY.tmp" "$CARRY"
  ls -l "$CARRY" ;;
run)
  OUT=${OUT:-device_out}
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  mkdir -p "$OUT/results"
  end=$(( $(date +%s) + ${DEADLINE_S:-480} ))
  "$PY" -c "import tarfile; tarfile.open('$CARRY').extractall('.', filter='data')" || exit 2
  cp results/*.jsonl "$OUT/results/" 2>/dev/null
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 \
    > "$OUT/gpu_utilization.csv" 2>/dev/null & sampler=$!
  while IFS= read -r cmd; do
    [ -z "$cmd" ] && continue
    left=$(( end - $(date +%s) ))
    [ "$left" -lt 30 ] && { echo "deadline: not started: $cmd"; continue; }
    echo "== $(date +%T) $cmd (${left} s left)"
    # shellcheck disable=SC2086  # a sweep command's own arguments
    timeout -s INT -k 20 "$left" "$PY" sweeps/$cmd --no-ray --no-mlflow --quiet \
      --gpus-per-trial "${GPUS_PER_TRIAL:-0.125}" --cpus-per-trial 1 \
      --results-dir "$OUT/results" --out /tmp/lbi-sweeps
  done <<< "${SWEEPS:-$DEFAULT_SWEEPS}"
  kill "$sampler" 2>/dev/null
  echo "== $(date +%T) done; records: $OUT/results, GPU utilisation every 10 s: $OUT/gpu_utilization.csv" ;;
merge)
  [ -d "${2:-}" ] || { echo "usage: bash sweeps/device.sh merge <folder of *.jsonl>" >&2; exit 2; }
  .venv/bin/python - "$2" <<'EOF'
import sys
from pathlib import Path

from lbi.record import merge_records, read_records, write_summary
from lbi.sweep.trial import CUDA

for f in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    new = [r for r in read_records(f) if r.numerics == CUDA]  # ours are here already
    if new:
        merge_records(Path("results") / f.name, new)
        print(f"{f.name}: {len(new)} cuda records merged")
write_summary("results")
EOF
  ;;
*)
  echo "usage: bash sweeps/device.sh pack | run | merge <folder>" >&2; exit 2 ;;
esac
