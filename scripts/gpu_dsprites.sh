#!/usr/bin/env bash
# Issue 5's GPU target as one script: 3 seeds of the dsprites preset (InfoGAN-CR's released
# dSprites settings) with its contrastive regulariser switched on for the last ~11 % of STEPS, as
# its configuration does (step 288,000 of ~322,000), trained side by side for at most TRAIN_S
# seconds each (SIGTERM then stops a run cleanly with a checkpoint), then FactorVAE, MIG and the
# rest of the disentanglement block with the oracle beside (`infogan evaluate --metrics
# disentanglement,mi`). Plain InfoGAN for comparison: seed 0's checkpoint at CR_START (the same
# run before the regulariser reaches G). Run from the repo root on the GPU machine; outputs in
# ${OUT:-gpu_out} (<= 8 files).
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"
DEV=${DEV:-cuda}; TRAIN_S=${TRAIN_S:-300}; STEPS=${STEPS:-30000}; CR=${CR:-2.0}
CR_START=${CR_START:-$(( STEPS * 89 / 100 ))}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD/.gpu/site" INFOGAN_DATA=${INFOGAN_DATA:-/tmp/infogan_data}
py=python3
{
echo "== draw the dSprites-like set once (cached) [t=${SECONDS}s]"
$py -c "from infogan.data import load_dataset; d = load_dataset('dsprites'); print(len(d))"
echo "== train: 3 seeds, CR (weight $CR) from step $CR_START of $STEPS, <= ${TRAIN_S}s each [t=${SECONDS}s]"
for s in 0 1 2; do
  timeout -s TERM "$TRAIN_S" $py -m infogan.cli train --preset dsprites --cr-weight "$CR" \
    --cr-start "$CR_START" --seed $s --steps "$STEPS" --device "$DEV" --out /tmp/ds/cr_s$s \
    --no-progress --ckpt-every "$CR_START" > /tmp/ds_cr_s$s.log 2>&1 &
done
wait
tail -n 3 /tmp/ds_cr_s*.log
grep -h '"step"' /tmp/ds/cr_s*/metrics.jsonl | tail -n 3
ck=/tmp/ds/cr_s0/checkpoints/step_$(printf %07d "$CR_START").pt
if [ -f "$ck" ]; then
  mkdir -p /tmp/ds/plain_s0/checkpoints && cp /tmp/ds/cr_s0/config.json /tmp/ds/plain_s0/ && cp "$ck" /tmp/ds/plain_s0/checkpoints/
fi
echo "== evaluate [t=${SECONDS}s]"
for r in /tmp/ds/*; do
  $py -m infogan.cli evaluate "$r" --data dsprites --metrics disentanglement,mi --device "$DEV" \
    --scale "${SCALE:-1}" --json "$out/$(basename "$r").json" 2>&1 | tail -25 &
done
wait
ls -la "$out"; echo "done at t=${SECONDS}s"
} 2>&1 | tee "$out/log_dsprites.txt"
