#!/usr/bin/env bash
# Issue 3's GPU check in one call. Everything runs side by side on one GPU (time-sliced, so the
# GPU's total step rate is what bounds it), each block cut at END_S:
#   1. the CUDA fast-path tests (graph == eager, incl. SN + R1 + EMA + translation), short bench;
#   2. the default recipe (+ SWEEP_FLAGS), seeds SWEEP_SEEDS (default "0 1 2 3 4"), as a user
#      runs it (`infogan sweep`, real
#      candidate selection), one process per seed;
#   3. plain runs of the paper recipe + STUDY_A (default: --set d_translate=2), seeds A_SEEDS (0-4);
#      with A_CANDS=K > 0, instead of the seeds themselves, candidates 0..K-1 of each (seeds
#      s*1000+i: every selection rule, halving and consensus included, simulated exactly from
#      them by seed_study.py --analyse / selection_rules.py; Q's partitions ship in assign.tgz);
#   4. plain runs of the paper recipe + STUDY_B (default: nothing, the same-machine baseline),
#      seeds B_SEEDS (B_SEEDS=none skips it); 3 and 4 scored every EVERY steps.
# T2A_S>0 first times the default recipe to 0.95 test accuracy (tf32, GPU alone) for at most
# T2A_S seconds (issue 4's time-to-accuracy).
# The H100 session of 2026-11-26 ran it with SWEEP_FLAGS="--fixed-std 1",
# STUDY_A="--set fixed_std=1.0", STUDY_B="--set batch=256", B_SEEDS=0-2.
# Outputs in ${OUT:-gpu_out}, at most 8 files. STEPS/SEL/EVERY/DEV exist for a CPU dry run.
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"
END_S=${END_S:-540}; DEV=${DEV:-cuda}; STEPS=${STEPS:-12000}; EVERY=${EVERY:-1000}
SEL=${SEL:-1000,3000}; B_SEEDS=${B_SEEDS:-0-2}; A_SEEDS=${A_SEEDS:-0-4}
SWEEP_SEEDS=${SWEEP_SEEDS:-0 1 2 3 4}; BENCH_STEPS=${BENCH_STEPS:-200}
T2A_S=${T2A_S:-0}; A_CANDS=${A_CANDS:-0}; SWEEP_FLAGS=${SWEEP_FLAGS:-}; STUDY_A=${STUDY_A:---set d_translate=2}; STUDY_B=${STUDY_B:-}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD/.gpu/site" INFOGAN_DATA=/tmp/infogan_data
py=python3
# A rerun on the same (warm) machine starts clean: train refuses folders that hold a run, and
# the seed study would append to its old rows.
rm -rf /tmp/swf /tmp/st_a /tmp/st_b /tmp/swf_s*.log /tmp/st_a.log /tmp/st_b.log \
  /tmp/sweep_summary.json /tmp/centrality_mnist.json
{
$py -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,memory.total --format=csv 2>/dev/null

echo "== 1. fast path == plain path on CUDA; short bench [t=${SECONDS}s]"
timeout 80 $py -m pytest -s -p no:cacheprovider tests/test_fastpath.py -k "cuda and not compiled" 2>&1 | tail -8
timeout 45 $py -m infogan.cli bench --device "$DEV" --path both --precision fp32,tf32 \
  --batch 64 --steps "$BENCH_STEPS" --warmup 20 --json "$out/bench_b64.json" 2>&1 | tail -8

if [ "$T2A_S" -gt 0 ]; then
  echo "== 1b. time to 0.95, default recipe, tf32 [t=${SECONDS}s]"
  timeout "$T2A_S" $py -m infogan.cli bench --device "$DEV" --preset default --time-to-acc 0.95 \
    --eval-data .gpu/mnist --eval-every 250 --max-steps 8000 --precision tf32 \
    --json "$out/t2a_default_tf32.json" 2>&1 | grep -v "it/s" | tail -6
fi
echo "== 2-4. side by side until t=${END_S}s [t=${SECONDS}s]"
left=$(( END_S - SECONDS - 15 ))
for s in $SWEEP_SEEDS; do
  timeout "$left" $py -m infogan.cli sweep --preset default $SWEEP_FLAGS --seeds $s \
    --steps "$STEPS" --select-steps "$SEL" --device "$DEV" --eval-data .gpu/mnist \
    --out /tmp/swf/s$s --no-progress > /tmp/swf_s$s.log 2>&1 &
done
a_jobs="--candidates 0"; [ "$A_CANDS" -gt 0 ] && a_jobs="--candidates $A_CANDS --no-plain"
timeout $(( left + 10 )) $py scripts/seed_study.py --seeds "$A_SEEDS" $a_jobs --steps "$STEPS" \
  --every "$EVERY" --device "$DEV" --eval-data .gpu/mnist --workers "${A_WORKERS:-5}" --budget-s "$left" \
  --min-job-s 10 --out /tmp/st_a $STUDY_A > /tmp/st_a.log 2>&1 &
if [ "$B_SEEDS" != none ]; then
  timeout $(( left + 10 )) $py scripts/seed_study.py --seeds "$B_SEEDS" --candidates 0 \
    --steps "$STEPS" --every "$EVERY" --device "$DEV" --eval-data .gpu/mnist --workers 3 \
    --budget-s "$left" --min-job-s 10 --out /tmp/st_b $STUDY_B > /tmp/st_b.log 2>&1 &
fi
wait
echo "== results [t=${SECONDS}s]"
for s in $SWEEP_SEEDS; do echo "-- sweep seed $s"; grep -i "score\|selected\|accuracy\|error" /tmp/swf_s$s.log | tail -12; done
$py - <<'EOF' 2>&1
import json, glob
rows = {}
for f in sorted(glob.glob("/tmp/swf/s*/sweep.json")):
    j = json.load(open(f))
    for s, v in j["per_seed"].items():
        rows[s] = v
json.dump(rows, open("/tmp/sweep_summary.json", "w"), indent=1)
for s, v in rows.items():
    print("sweep default seed", s, {k: x for k, x in v.items() if "acc" in k or "c1" in k})
EOF
cp /tmp/sweep_summary.json "$out/" 2>/dev/null
# Everything measured is in OUT before the optional centrality, which gets what time is left.
cat /tmp/st_a/rows.jsonl > "$out/rows_a.jsonl" 2>/dev/null
[ "$B_SEEDS" != none ] && cat /tmp/st_b/rows.jsonl > "$out/rows_b.jsonl" 2>/dev/null
tail -n 4 /tmp/st_a.log /tmp/st_b.log 2>/dev/null
# the sweep's run directories without checkpoints: figures, logs, reports (one small archive)
tar czf "$out/sweep_runs.tgz" --exclude='*.safetensors' --exclude='*.pt' --exclude='ckpt*' --exclude='candidates/*/samples' \
  -C /tmp swf 2>/dev/null
[ "$A_CANDS" -gt 0 ] && tar czf "$out/assign.tgz" -C /tmp/st_a $(cd /tmp/st_a && ls -d runs/*/assign) 2>/dev/null
# ModelCentrality over the finished seeds (no labels): which seed it would keep, beside accuracy
done_runs=$(ls -d /tmp/swf/s*/seed* 2>/dev/null)
c_left=$(( ${END_S} + 30 - SECONDS ))
if [ "$(echo $done_runs | wc -w)" -gt 1 ] && [ "$c_left" -gt 15 ]; then
  timeout "$c_left" $py -m infogan.cli centrality $done_runs \
    --device "$DEV" --json /tmp/centrality_mnist.json --force 2>&1 | tail -n 10
  cp /tmp/centrality_mnist.json "$out/" 2>/dev/null
fi
ls -la "$out"; echo "done at t=${SECONDS}s"
} 2>&1 | tee "$out/log.txt"
