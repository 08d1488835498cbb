"""Can InfoGAN-CR's pair classifier learn on a frozen generator?

Loads a run's checkpoint into a trainer built from a CR config (``--cr-weight`` > 0; the
classifier's weights, absent from a plain run's checkpoint, start fresh), then runs only the
trainer's own CR step (pairs drawn as in training, G in train mode, G never updated) and prints
the classifier's mean loss and accuracy every 50 steps. Chance: loss ln(n_codes), accuracy
1/n_codes.

    python scripts/cr_probe.py CR_RUN/config.json PLAIN_RUN/checkpoints/step_0005500.pt [STEPS]
"""

from __future__ import annotations

import argparse

import torch

from infogan.config import TrainConfig
from infogan.data import load_dataset
from infogan.train import Trainer


def main(config: str, checkpoint: str, steps: int = 400) -> None:
    cfg = TrainConfig.load(config)
    if cfg.cr_weight <= 0:
        raise SystemExit(f"{config}: not a CR config (cr_weight is 0)")
    cfg.device = "cpu"
    tr = Trainer(cfg, "/tmp/cr_probe_unused", dataset=load_dataset(cfg.data))
    state = torch.load(checkpoint, weights_only=True)
    missing = tr.nets.load_state_dict(state["nets"], strict=False).missing_keys
    assert all(k.startswith("cr.") for k in missing), missing  # only the classifier is fresh
    losses, accs = [], []
    for s in range(steps):
        _, _, _, loss, acc = tr.cr_step(tr.sample_inputs(s))
        losses.append(loss.item())
        accs.append(acc.item())
        if (s + 1) % 50 == 0:
            print(f"step {s + 1}: loss {sum(losses[-50:]) / 50:.3f} acc {sum(accs[-50:]) / 50:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", help="a CR run's config.json")
    ap.add_argument("checkpoint", help="a plain run's checkpoint (step_*.pt)")
    ap.add_argument("steps", type=int, nargs="?", default=400, help="CR steps (400)")
    a = ap.parse_args()
    main(a.config, a.checkpoint, a.steps)
