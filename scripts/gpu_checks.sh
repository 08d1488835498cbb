#!/usr/bin/env bash
# The GPU measurements this project still owes, as one script for a session lent a GPU
# (run from the repo root; writes everything under ${OUT:-gpu_out}). About 10 minutes on an H100
# if the CUDA-graph path works; each block is independent, so a failure does not stop the rest.
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())" | tee "$out/device.txt"
python3 -m pip install -q -e . 2>&1 | tail -1
# 1. correctness: the CUDA test (graphed == eager over 100 steps) and the whole suite on a GPU box
python3 -m pytest -q tests/test_fastpath.py 2>&1 | tail -3 | tee "$out/pytest_fastpath.txt"
# 2. speed: eager vs graphed, fp32 / tf32 / bf16, batch scaling (issue 4)
for g in off on; do
  python3 -m infogan.cli bench --device cuda --batch 64,256,1024,4096 --steps 200 --warmup 20 \
    --json "$out/bench_graph_$g.json" 2>&1 | tail -6
done
# 3. time to accuracy with the default recipe, test digits (issue 4)
python3 -m infogan.cli bench --device cuda --time-to-acc 0.90 --eval-data ../shared/data/mnist \
  --eval-every 500 --max-steps 12000 --json "$out/time_to_acc.json" 2>&1 | tail -4
# 4. quality: 5 seeds x 12,000 steps, evaluated on the test digits (issues 2 and 3)
python3 -m infogan.cli sweep --preset paper --seeds 0-4 --steps 12000 --device cuda \
  --eval-data ../shared/data/mnist --out "$out/sweep_paper" --no-progress 2>&1 | tail -12
python3 -m infogan.cli sweep --preset paper --candidates 4 --select-steps 1000 --seeds 0-4 \
  --steps 12000 --device cuda --eval-data ../shared/data/mnist --out "$out/sweep_select" \
  --no-progress 2>&1 | tail -12
for s in paper select; do cp "$out/sweep_$s/sweep.json" "$out/sweep_$s.json" 2>/dev/null; done
