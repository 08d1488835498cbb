"""The sample-quality floor before and after 2026-11-27, on one model.

Before: 10,000 generated vs the 10,000 test digits; floor = test digits vs the 5,000 mnist5k
digits (other sizes, and the feature classifier's own training images). After: 5,000 vs 5,000
vs 5,000 (two halves of the test digits). Also: the model at the old floor's sizes.
Usage: python compare.py RUN [--json OUT]
"""

import argparse
import json

import torch

from infogan.data import load_dataset
from infogan.metrics.features import extract_features, features_for
from infogan.metrics.quality import quality_scores
from infogan.model import load_run

ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("--json")
a = ap.parse_args()
model = load_run(a.run)
test = load_dataset("../shared/data/mnist", split="test")
train = load_dataset("mnist5k")
ext = features_for(test.shape)
g = torch.Generator().manual_seed(0)
perm = torch.randperm(len(test), generator=g)
t = extract_features(ext, test.images[perm])
m5 = extract_features(ext, train.images)
fake = extract_features(
    ext, torch.cat([model.generate(n=1000, seed=1 + i).cpu() for i in range(0, 10_000, 1000)])
)
rows = {
    "model 10k vs test 10k (old model row)": quality_scores(t, fake),
    "mnist5k 5k vs test 10k (old floor)": quality_scores(t, m5),
    "model 5k vs test 10k (old floor's sizes)": quality_scores(t, fake[:5000]),
    "model 5k vs test half 5k (new model row)": quality_scores(t[:5000], fake[:5000]),
    "test half vs test half, 5k each (new floor)": quality_scores(t[:5000], t[5000:]),
    "mnist5k 5k vs test half 5k": quality_scores(t[:5000], m5),
}
keys = ("fid", "kid", "precision", "recall", "density", "coverage")
print(f"{'':46s}" + "".join(f"{k:>11s}" for k in keys))
for name, r in rows.items():
    print(f"{name:46s}" + "".join(f"{r[k]:11.4f}" for k in keys))
if a.json:
    with open(a.json, "w") as f:
        json.dump({"run": a.run, "rows": rows}, f, indent=1)
