#!/bin/bash
cd /tmp/ms/repo
for s in 3 5; do
  ( OMP_NUM_THREADS=1 PYTHONPATH=src /usr/bin/time -v python -m infogan.cli train --steps 10000 --width 0.5 --device cpu --seed $s --lambda-ms 0.1 --eval-data /work/shared/data/mnist --no-progress --out /tmp/ms/runs/seed$s > /tmp/ms/seed$s.log 2>&1 ) &
done
wait
