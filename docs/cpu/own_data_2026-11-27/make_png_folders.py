"""Write MNIST as folders of PNG files, the way a user's own data usually lies on disk.

    python docs/cpu/own_data_2026-11-27/make_png_folders.py OUT [MNIST_IDX_DIR]

OUT/mnist5k/00000.png ...: the 5,000 embedded training digits, flat (no labels: training
never sees any); OUT/t10k/<digit>/<index>.png: the 10,000 test digits in one folder per class
(labels for evaluation, named after the folders). MNIST_IDX_DIR defaults to ../shared/data/mnist.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from infogan.data import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write mnist5k/ and t10k/ into")
    ap.add_argument("mnist_idx_dir", nargs="?", default="../shared/data/mnist")
    a = ap.parse_args()
    out, idx_dir = a.out, a.mnist_idx_dir
    train = load_dataset("mnist5k")
    (out / "mnist5k").mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(train.images[:, 0].numpy()):
        Image.fromarray(img).save(out / "mnist5k" / f"{i:05d}.png")
    test = load_dataset(idx_dir, split="test")
    for i, (img, label) in enumerate(
        zip(test.images[:, 0].numpy(), test.labels.tolist(), strict=True)
    ):
        folder = out / "t10k" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:05d}.png")


if __name__ == "__main__":
    main()
