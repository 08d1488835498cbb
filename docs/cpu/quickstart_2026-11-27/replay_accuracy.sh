#!/usr/bin/env bash
# When does the README's first command first reach 0.90 on the test digits? Replays its winner
# bit for bit and scores a checkpoint every 500 steps (seventeenth session, 2-core CPU).
# RUN: the first command's run folder (runs/quickstart); the winner was start 2 (seed 1).
set -eu
RUN=${1:-runs/quickstart}; W=${2:-/tmp/t90}; MNIST=${MNIST:-../shared/data/mnist}
mkdir -p "$W"
# 1. The winning start as it ran among the candidates (one thread), to 10,000 planned steps,
#    a checkpoint every 500 (keep_ckpts has no flag: through --config).
python - "$RUN" "$W" <<'PY'
import json, sys
d = json.load(open(f"{sys.argv[1]}/candidates/1/config.json"))
d.update(steps=10000, ckpt_every=500, keep_ckpts=40, parallel=1)
json.dump(d, open(f"{sys.argv[2]}/cfg.json", "w"), indent=1)
PY
OMP_NUM_THREADS=1 infogan train --config "$W/cfg.json" --out "$W/seed1" --steps 3000 --no-progress
# 2. The continuation as the command ran it (two threads) from the step-3,000 checkpoint.
mkdir -p "$W/cont2/checkpoints"
cp "$W/seed1/config.json" "$W/cont2/"; cp "$W/seed1/checkpoints/step_0003000.pt" "$W/cont2/checkpoints/"
OMP_NUM_THREADS=2 infogan train --resume "$W/cont2" --steps 6000 --no-progress
# 3. Same losses as the run's own rows? Then score each checkpoint on the test digits.
python - "$RUN" "$W" "$MNIST" <<'PY'
import json, sys
from infogan.data import load_dataset
from infogan.evaluate import cluster_codes
from infogan.model import load_run
run, w, mnist = sys.argv[1:]
q = {r["step"]: r for r in map(json.loads, open(f"{run}/metrics.jsonl"))}
c = {r["step"]: r for r in map(json.loads, open(f"{w}/cont2/metrics.jsonl"))}
keys = ("d_loss", "g_loss", "mi/c1", "mi/c2", "mi/c3")
same = all(c[s][k] == q[s][k] for s in c for k in keys)
test = load_dataset(mnist, split="test")
acc = {}
for step in range(3000, 6001, 500):
    path = f"{w}/cont2/checkpoints/step_{step:07d}.pt" if step > 3000 else f"{w}/seed1/checkpoints/step_0003000.pt"
    acc[step] = next(iter(cluster_codes(load_run(path), test).values()))["accuracy"]
out = {"rows_equal_to_the_run": same, "rows_compared": len(c), "test_accuracy": acc,
       "run_wall_s_at_step": {s: q[s]["wall_s"] for s in acc if s > 3000}}
print(json.dumps(out, indent=1))
PY
