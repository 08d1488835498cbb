"""Shared fixtures: tiny, seeded, CPU-only configurations and datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infogan.config import ModelConfig, TrainConfig
from infogan.data import ImageDataset

# Tiny networks gain nothing from threads, and spinning OpenMP workers slow a busy machine.
torch.set_num_threads(1)


def tiny_images(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Blobs whose position depends on the label: cheap, structured, 28x28 uint8."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n)
    yy, xx = np.mgrid[0:28, 0:28]
    images = np.zeros((n, 1, 28, 28), dtype=np.uint8)
    for i, lab in enumerate(labels):
        cy, cx = 7 + 14 * (lab // 2), 7 + 14 * (lab % 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
        images[i, 0] = np.clip(255 * blob + rng.normal(0, 8, blob.shape), 0, 255).astype(np.uint8)
    return images, labels


@pytest.fixture
def tiny_dataset() -> ImageDataset:
    images, labels = tiny_images()
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels).long(), "tiny")


@pytest.fixture
def tiny_npz(tmp_path) -> str:
    images, labels = tiny_images()
    path = tmp_path / "tiny.npz"
    np.savez(path, images=images, labels=labels)
    return str(path)


#: CLI flags for the same tiny model (1/8 width, noise 8, batch 8) in subprocess and CLI tests.
TINY_FLAGS = [
    "--batch",
    "8",
    "--width",
    "0.125",
    "--noise",
    "8",
    "--candidates",
    "1",
    "--no-progress",
]


def tiny_config(**kw) -> TrainConfig:
    """Paper recipe at 1/8 width and batch 8: the same code paths, ~100x cheaper."""
    model = ModelConfig(
        codes=kw.pop("codes", "cat:4,cont:2"),
        noise_dim=8,
        width=0.125,
        spectral_norm=kw.pop("spectral_norm", False),
    )
    base = dict(
        model=model,
        data="tiny",
        batch=8,
        steps=6,
        candidates=1,
        log_every=2,
        ckpt_every=3,
        sample_every=3,
        progress=False,
        device="cpu",
    )
    base.update(kw)
    return TrainConfig(**base)
