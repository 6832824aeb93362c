#!/usr/bin/env bash
# Issue 19's GPU measurements as one prepared script for a lent device (see the device
# tool's README): run from the repo root with a python that has CUDA torch and timm, e.g.
#   run(command="PYTHONUNBUFFERED=1 PYTHONPATH=$PWD bash benchmarks/gpu_check.sh", timeout_s=540)
# Writes its logs under $OUT (default: gpu_check/). Each step has its own time limit, so a
# slow compile cannot eat the others. Nothing here needs Ray, MLflow or DVC; the sweeps'
# fractional-GPU trials do (Ray's wheel is larger than what a device call may carry).
set -uo pipefail
OUT=${OUT:-gpu_check}
PY=${PY:-python3}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)" | tee -a "$OUT/gpu.txt"
MODEL=(benchmarks/bench_model.py --device cuda --amp --channels-last --preset paper
       --cases stage1 --batch 128 --steps 30 --warmup 5 --peak)
# 1. the paper preset's stage-1 training step in bf16: samples/s, FLOP/s and % of the bf16 peak
timeout 120 "$PY" "${MODEL[@]}" 2>&1 | tee "$OUT/stage1_eager.txt"
# 2. the same with torch.compile: the warmup's seconds are the compile time
timeout 240 "$PY" "${MODEL[@]}" --compile 2>&1 | tee "$OUT/stage1_compile.txt"
# 3. the data path alone: samples/s from memory-mapped uint8 256x192 crops (0 and 2 workers)
timeout 120 "$PY" benchmarks/bench_data.py 2>&1 | tee "$OUT/data_path.txt"
