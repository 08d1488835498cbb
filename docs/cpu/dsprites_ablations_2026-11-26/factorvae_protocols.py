"""FactorVAE under disentanglement_lib's protocol vs InfoGAN-CR's (L=100, 500 votes scored on
themselves, no pruning) on trained dsprites runs."""

import json
import sys

import numpy as np
import torch

from infogan.data import load_dataset
from infogan.evaluate import representation_fn
from infogan.metrics.disentanglement import factor_vae_score, memoize
from infogan.model import load_run

torch.set_num_threads(1)
ds = load_dataset("dsprites", split="train")
gt = ds.ground_truth
for run in sys.argv[1:]:
    model = load_run(run, device="cpu")
    model.nets.eval()
    data, rep = memoize(gt, representation_fn(model))
    out = {"run": run, "step": model.step}
    for seed in (0, 1, 2):
        a = factor_vae_score(data, rep, np.random.default_rng(seed))
        b = factor_vae_score(
            data,
            rep,
            np.random.default_rng(seed),
            batch_size=100,
            num_train=500,
            num_eval=500,
            num_variance_estimate=73728,
            prune_threshold=0.0,
        )
        out[seed] = (
            round(a["factorvae"], 3),
            round(b["factorvae_train"], 3),
            round(b["factorvae"], 3),
        )
    print(json.dumps(out), flush=True)
