"""Sample quality of a run's EMA generator against its last iterate, on the same run.

The EMA copy does not change training (Q, D and G follow the same trajectory with or without
it), so one run gives a paired comparison: the same Q, the same data, two generators.

    python scripts/ema_quality.py RUN_DIR [RUN_DIR ...] --reference ../shared/data/mnist \
        --json ema_quality.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from infogan import load_run
from infogan.data import load_dataset
from infogan.evaluate import quality_block

KEYS = ("fid", "kid", "precision", "recall", "density", "coverage")


@torch.no_grad()
def standing_statistics(model, batches: int = 100, batch: int = 64, seed: int = 777) -> None:
    """Re-estimate the EMA generator's batch-norm statistics on its own activations (BigGAN's
    "standing statistics"): the copied ones belong to G's weights, not to the average's."""
    gen = model.nets.generator_ema
    norms = [m for m in gen.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    gen.train()
    g = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        gen(model.spec.assemble(model.spec.sample(batch, generator=g)))
    gen.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--reference", default="../shared/data/mnist", help="real images (test set)")
    ap.add_argument(
        "--other-real",
        default=None,
        help="real-vs-real floor's second set (default: the reference's other half; the "
        "2026-11-26 table used mnist5k, the feature classifier's own training digits)",
    )
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    reference = load_dataset(a.reference, split="test")
    other = load_dataset(a.other_real, split="train") if a.other_real else None
    rows = []
    for run in a.runs:
        model = load_run(run)
        if model.nets.generator_ema is None:
            raise SystemExit(f"{run}: trained without --ema-decay; nothing to compare")
        ema = model.nets.generator_ema
        out = {"run": str(run), "step": model.step, "ema_decay": model.cfg.ema_decay}
        variants = (("ema", ema), ("last", None), ("ema_standing", ema))
        for name, gen in variants:
            model.nets.generator_ema = gen  # None: generate() falls back to G itself
            if name == "ema_standing":
                standing_statistics(model)
            q = quality_block(model, reference, other, n=a.n)
            out[name] = {k: q[k] for k in KEYS}
            out[name]["mi_bound"] = model.mi_bound(n=a.n)
            out["real_vs_real"] = {k: q["real_vs_real"][k] for k in KEYS}
        model.nets.generator_ema = ema
        rows.append(out)
        print(f"{run} (step {out['step']}):")
        for name in ("last", "ema", "ema_standing", "real_vs_real"):
            vals = " ".join(f"{k}={out[name][k]:.4g}" for k in KEYS)
            print(f"  {name:>12}: {vals}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
