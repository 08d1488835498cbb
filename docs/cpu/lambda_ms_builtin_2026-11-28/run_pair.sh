#!/bin/bash
# Seeds side by side, one thread each, the first command's configuration plus --lambda-ms 0.1.
cd /tmp/ms/repo
for pair in "4 0" "1 2" "3 5" "6 7"; do
  for s in $pair; do
    ( OMP_NUM_THREADS=1 PYTHONPATH=src /usr/bin/time -v python -m infogan.cli train --steps 10000 --width 0.5 --device cpu --seed $s --lambda-ms 0.1 --eval-data ../../../work/shared/data/mnist --no-progress --out /tmp/ms/runs/seed$s > /tmp/ms/seed$s.log 2>&1 ) &
  done
  wait
done
