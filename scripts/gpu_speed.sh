#!/usr/bin/env bash
# Issue 4's GPU speed check for `--compile` (torch.compile of the step body, then captured in the
# CUDA graph), one call (under 600 s): the compiled+graphed == eager test (100 steps), then
# steps/s of the paper's MNIST networks at batch 64 for graph vs compile+graph (tf32), then the
# data-parallel (--ddp) step on CUDA tensors, then batch scaling of compile+graph in the time left. Run from the
# repo root on the GPU machine; outputs in ${OUT:-gpu_out} (3 files). DEV/PREC/BENCH_STEPS
# exist for a dry run on a CPU (DEV=cpu runs the eager/compile paths instead).
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"
DEV=${DEV:-cuda}; PREC=${PREC:-tf32}; BENCH_STEPS=${BENCH_STEPS:-600}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD/.gpu/site"
py=python3
paths="graph,compile+graph"; scale_path="compile+graph"
[ "$DEV" = cpu ] && { paths="eager,compile"; scale_path="compile"; PREC=fp32; }
{
$py -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
echo "== 1. compiled + graphed == eager on CUDA, 100 steps [t=${SECONDS}s]"
timeout 170 $py -m pytest -s -p no:cacheprovider tests/test_fastpath.py -k "compiled and cuda" 2>&1 | tail -6
echo "== 2. batch 64: $paths, $PREC [t=${SECONDS}s]"
timeout 170 $py -m infogan.cli bench --device "$DEV" --path "$paths" --precision "$PREC" \
  --batch 64 --steps "$BENCH_STEPS" --warmup 30 --json "$out/bench_compile_b64.json" 2>&1 | grep -v "^W1\|record_function"
echo "== 3. data-parallel step on CUDA tensors (two gloo processes on one GPU) [t=${SECONDS}s]"
timeout 60 $py -m pytest -p no:cacheprovider tests/test_distributed.py -k "gpu" 2>&1 | tail -4
echo "== 4. batch scaling, $scale_path, one call per batch in the time left [t=${SECONDS}s]"
# Each Trainer compiles afresh (dynamo is reset per Trainer), so each batch is its own call with
# its own JSON: a timeout loses one batch's row, not all three.
rm -f /tmp/scale_*.json
for b in 256 1024 4096; do
  left=$(( 585 - SECONDS )); [ "$left" -gt 150 ] && left=150
  [ "$left" -lt 30 ] && { echo "batch $b: skipped, ${left}s left"; continue; }
  timeout "$left" $py -m infogan.cli bench --device "$DEV" --path "$scale_path" --precision "$PREC" \
    --batch "$b" --steps $(( BENCH_STEPS / 6 )) --warmup 10 \
    --json "/tmp/scale_$b.json" 2>&1 | grep -v "^W1\|record_function"
done
$py - "$out/bench_compile_scale.json" <<'EOF'
import glob, json, sys
files = sorted(glob.glob("/tmp/scale_*.json"), key=lambda f: int(f[11:-5]))
rows = [r for f in files for r in json.load(open(f))]
json.dump(rows, open(sys.argv[1], "w"), indent=2)
print(len(rows), "batch sizes timed")
EOF
echo "done at t=${SECONDS}s"
} 2>&1 | tee "$out/log_speed.txt"
