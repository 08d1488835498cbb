"""Unsupervised selection among short candidate runs ("restarts"), then continue the best one.

GAN training is seed-fragile: on MNIST the same recipe ends anywhere between 0.60 and 0.95
accuracy (DESIGN.md section 4), and the failures are visible early as a categorical code that
merges two classes or splits one. This trains ``candidates`` short runs from different seeds,
scores each *without labels*, and continues only the best to the full length.

The score is the mutual information between the real images and Q's categorical code,

    I(x; c) = H( E_x q(c|x) ) - E_x H( q(c|x) ),   x over the (unlabelled) training images,

the clustering objective of IMSAT (Hu et al. 2017) and IIC (Ji et al. 2019), read off Q instead
of trained for. It is high when Q assigns real images to its code values confidently (low
conditional entropy) and uses all values about equally (high marginal entropy); a code that
merges two classes loses marginal entropy, one that is unsure between classes gains conditional
entropy. ``L_I`` on generated samples cannot see either: G and Q can agree on a code the real
data does not follow. Per code it is divided by ``ln K`` (so 1 = a perfect, balanced partition);
codes are averaged. Without categorical codes the score falls back to the mean ``L_I`` bound.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from infogan import checkpoint as ckpt
from infogan.atomic import atomic_write_bytes
from infogan.config import TrainConfig
from infogan.data import ImageDataset, load_dataset
from infogan.model import InfoGAN, load_run
from infogan.train import Trainer, TrainResult

__all__ = ["real_code_mi", "selection_score", "train_selected", "candidate_seed"]


def real_code_mi(model: InfoGAN, images: torch.Tensor) -> dict[str, float]:
    """``I(x; c) / ln K`` per categorical code on real ``images`` (no labels involved)."""
    enc = model.encode(images)
    out = {}
    for i, name in enumerate(model.spec.names):
        kind, j = model.spec.slot(i)
        if kind != "cat":
            continue
        p = enc.cat_probs[j].double().clamp_min(1e-12)  # [N, K]
        marginal = p.mean(dim=0)
        h_marginal = -(marginal * marginal.log()).sum()
        h_conditional = -(p * p.log()).sum(dim=1).mean()
        out[name] = float((h_marginal - h_conditional) / math.log(p.shape[1]))
    return out


def selection_score(model: InfoGAN, dataset: ImageDataset, n: int = 5000) -> dict[str, Any]:
    """The unsupervised score of one candidate (higher is better) and its parts."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(dataset), generator=g)[:n]
    per_code = real_code_mi(model, dataset.images[idx])
    if per_code:
        return {"score": sum(per_code.values()) / len(per_code), "real_mi": per_code}
    bounds = model.mi_bound(n=2000)
    return {"score": sum(bounds.values()) / len(bounds), "mi_bound": bounds}


def candidate_seed(seed: int, i: int) -> int:
    """Seed of candidate ``i`` of a run with seed ``seed`` (disjoint across run seeds)."""
    return seed * 1000 + i


def train_selected(
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    dataset: ImageDataset | None = None,
) -> TrainResult:
    """Train with candidate selection when ``cfg.candidates > 1``, else plainly.

    Candidates train for ``cfg.select_steps`` in ``run_dir/candidates/<i>``; the winner's
    checkpoint and metrics become the run's, its seed the run's seed, and training continues
    to ``cfg.steps`` from there. ``selection.json`` records every candidate's score. Interrupted
    selections resume where they stopped; a finished selection is never redone.
    """
    run_dir = Path(run_dir)
    if cfg.candidates <= 1 or (run_dir / "selection.json").exists():
        if (run_dir / "selection.json").exists():
            resume = True
        return Trainer(cfg, run_dir, dataset=dataset, resume=resume).run()
    dataset = dataset if dataset is not None else load_dataset(cfg.data, split="train")
    steps = min(cfg.select_steps, cfg.steps)
    scores = []
    for i in range(cfg.candidates):
        cdir = run_dir / "candidates" / str(i)
        ccfg = replace(cfg, seed=candidate_seed(cfg.seed, i), steps=steps, candidates=1)
        done = ckpt.list_checkpoints(cdir)
        if not done or done[-1][0] < steps:
            print(
                f"candidate {i + 1}/{cfg.candidates} (seed {ccfg.seed}): {steps} steps", flush=True
            )
            Trainer(ccfg, cdir, dataset=dataset, resume=bool(done)).run(finish=False)
        s = selection_score(
            load_run(cdir, device=cfg.device if cfg.device != "auto" else "cpu"), dataset
        )
        scores.append({"candidate": i, "seed": ccfg.seed, **s})
        print(f"candidate {i + 1}: score {s['score']:.4f}", flush=True)
    best = max(scores, key=lambda r: r["score"])
    wdir = run_dir / "candidates" / str(best["candidate"])
    path, _ = ckpt.latest_checkpoint(wdir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, run_dir / "checkpoints" / path.name)
    if (wdir / "metrics.jsonl").exists():
        shutil.copyfile(wdir / "metrics.jsonl", run_dir / "metrics.jsonl")
    record = {
        "rule": "max mean I(x; c)/ln K of Q's categorical codes on unlabelled training "
        "images (mean L_I bound without categorical codes)",
        "select_steps": steps,
        "candidates": scores,
        "winner": best["candidate"],
        "winner_seed": best["seed"],
    }
    # Written last: its presence means "selection finished", so a crash before it redoes it.
    atomic_write_bytes(run_dir / "selection.json", (json.dumps(record, indent=2) + "\n").encode())
    # The winner's checkpoint now lives in run_dir/checkpoints; the candidates' own (each with
    # its optimiser state: ~150 MB at the paper's width) are no longer needed by anything.
    for i in range(cfg.candidates):
        shutil.rmtree(run_dir / "candidates" / str(i) / "checkpoints", ignore_errors=True)
    print(
        f"selected candidate {best['candidate'] + 1} (seed {best['seed']}); continuing to "
        f"{cfg.steps} steps",
        flush=True,
    )
    final = replace(cfg, seed=best["seed"])
    return Trainer(final, run_dir, dataset=dataset, resume=True).run()
