#!/usr/bin/env bash
# Issue 5's GPU target as one script: 3 seeds of the dsprites preset with InfoGAN-CR's regulariser,
# trained side by side for at most TRAIN_S seconds each (SIGTERM then stops a run cleanly with a
# checkpoint), then FactorVAE, MIG and the rest of the disentanglement block with the oracle beside
# (`infogan evaluate --metrics disentanglement`). Also one plain-InfoGAN seed for comparison.
# Run from the repo root on the GPU machine; outputs in ${OUT:-gpu_out} (<= 8 files).
set -u
out=${OUT:-gpu_out}; mkdir -p "$out"
DEV=${DEV:-cuda}; TRAIN_S=${TRAIN_S:-300}; STEPS=${STEPS:-1000000}; CR=${CR:-2.0}
# InfoGAN-CR switches its regulariser on after plain InfoGAN training; 15,000 steps is a guess at
# a third of what a run gets in TRAIN_S=300 s with four runs sharing one GPU (untested).
CR_START=${CR_START:-15000}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD/.gpu/site" INFOGAN_DATA=/tmp/infogan_data
py=python3
{
echo "== draw the dSprites-like set once (cached) [t=${SECONDS}s]"
$py -c "from infogan.data import load_dataset; d = load_dataset('dsprites'); print(len(d))"
echo "== train: 3 seeds with CR (weight $CR), 1 without, ${TRAIN_S}s each, side by side [t=${SECONDS}s]"
for s in 0 1 2; do
  timeout -s TERM "$TRAIN_S" $py -m infogan.cli train --preset dsprites --cr-weight "$CR" --cr-start "$CR_START" \
    --seed $s --steps "$STEPS" --device "$DEV" --out /tmp/ds/cr_s$s --no-progress \
    --ckpt-every 2000 > /tmp/ds_cr_s$s.log 2>&1 &
done
timeout -s TERM "$TRAIN_S" $py -m infogan.cli train --preset dsprites --seed 0 --steps "$STEPS" \
  --device "$DEV" --out /tmp/ds/plain_s0 --no-progress --ckpt-every 2000 > /tmp/ds_plain.log 2>&1 &
wait
tail -n 2 /tmp/ds_*.log
echo "== evaluate [t=${SECONDS}s]"
for r in /tmp/ds/*; do
  $py -m infogan.cli evaluate "$r" --data dsprites --metrics disentanglement,mi --device "$DEV" \
    --scale "${SCALE:-1}" --json "$out/$(basename "$r").json" 2>&1 | tail -25 &
done
wait
ls -la "$out"; echo "done at t=${SECONDS}s"
} 2>&1 | tee "$out/log_dsprites.txt"
