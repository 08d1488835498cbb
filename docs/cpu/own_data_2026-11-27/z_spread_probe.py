"""Does G use z? Pixel std across 64 draws of z (and of the continuous codes) for c1 = 3.

    python docs/cpu/own_data_2026-11-27/z_spread_probe.py ARCH STEPS [DATA]

The paper recipe (one start), ARCH in mnist / conv32 / conv32paper, DATA a folder of images
(default /work/pngs/mnist5k, made by make_png_folders.py), one CPU thread. Prints the spread
with G in eval mode (running batch-norm statistics, as every figure draws) and in training mode.
"""

from __future__ import annotations

import argparse

import torch

from infogan.config import preset
from infogan.train import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arch", choices=["mnist", "conv32", "conv32paper"])
    ap.add_argument("steps", type=int, help="training steps (0: the untrained G)")
    ap.add_argument("data", nargs="?", default="/work/pngs/mnist5k", help="a folder of images")
    a = ap.parse_args()
    arch, steps = a.arch, a.steps
    torch.set_num_threads(1)
    cfg = preset("paper")
    cfg.model.arch = arch
    cfg.data = a.data
    cfg.steps, cfg.device, cfg.progress = steps, "cpu", False
    cfg.log_every, cfg.ckpt_every, cfg.sample_every = 100, 10**6, 10**6
    trainer = Trainer(cfg, f"/tmp/z_spread_{arch}_{steps}")
    if steps:
        trainer.run(finish=False)
    model = trainer.model
    lat = model.latent(64, {"c1": 3}, 1)
    x_eval = model.generate(latent=lat)
    model.nets.generator.train()
    with torch.no_grad():
        x_train = model.nets.generator(model.spec.assemble(lat))
    print(
        f"{arch} step {steps}: spread eval {x_eval.std(0).mean():.3f} "
        f"train {x_train.std(0).mean():.3f}"
    )


if __name__ == "__main__":
    main()
