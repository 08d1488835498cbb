"""The paper's MNIST networks (Chen et al. 2016, appendix C, table 1), for 28x28x1 images.

Generator G(z, c)::

    input (noise + codes, 74 for the paper's latent)
    FC 1024 -> BN -> ReLU
    FC 7*7*128 -> BN -> ReLU                      # reshaped to [N, 128, 7, 7]
    upconv 4x4, 64, stride 2 -> BN -> ReLU        # [N, 64, 14, 14]
    upconv 4x4, 1, stride 2 -> tanh               # [N, 1, 28, 28], in [-1, 1] like the data

Discriminator body (shared by D and Q)::

    conv 4x4, 64, stride 2 -> leaky ReLU(0.1)     # [N, 64, 14, 14]
    conv 4x4, 128, stride 2 -> BN -> leaky ReLU   # [N, 128, 7, 7]
    FC 1024 -> BN -> leaky ReLU                   # [N, 1024]

D head: FC -> 1 logit. Q head: FC 128 -> BN -> leaky ReLU -> FC (code parameters).

``width`` scales every hidden size (1.0 = the paper's); the image size and channel count are fixed.
"""

from __future__ import annotations

import torch
from torch import nn

from infogan.nets.grouped import run_grouped

__all__ = ["MnistGenerator", "MnistBody", "IMAGE_SHAPE"]

#: (C, H, W) these networks read and write.
IMAGE_SHAPE = (1, 28, 28)
#: Leaky-ReLU slope of the discriminator (paper: 0.1).
LEAK = 0.1


def _w(n: int, width: float) -> int:
    return max(1, round(n * width))


class MnistGenerator(nn.Module):
    """G: latent ``[N, input_dim]`` -> images ``[N, 1, 28, 28]`` in [-1, 1]."""

    def __init__(self, input_dim: int, width: float = 1.0) -> None:
        super().__init__()
        self.c1, self.c2 = _w(128, width), _w(64, width)
        fc = _w(1024, width)
        self.fc = nn.Sequential(
            nn.Linear(input_dim, fc),
            nn.BatchNorm1d(fc),
            nn.ReLU(),
            nn.Linear(fc, 7 * 7 * self.c1),
            nn.BatchNorm1d(7 * 7 * self.c1),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(self.c1, self.c2, 4, stride=2, padding=1),
            nn.BatchNorm2d(self.c2),
            nn.ReLU(),
            nn.ConvTranspose2d(self.c2, 1, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.c1, 7, 7)  # [N, 128, 7, 7]
        return self.up(h)  # [N, 1, 28, 28]


class MnistBody(nn.Module):
    """The discriminator body shared by D and Q: images -> features ``[N, feature_dim]``."""

    def __init__(self, width: float = 1.0, channels: int = 1) -> None:
        super().__init__()
        c1, c2 = _w(64, width), _w(128, width)
        self.feature_dim = _w(1024, width)
        self.conv = nn.Sequential(
            nn.Conv2d(channels, c1, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(LEAK),
        )
        self.fc = nn.Sequential(
            nn.Linear(c2 * 7 * 7, self.feature_dim),
            nn.BatchNorm1d(self.feature_dim),
            nn.LeakyReLU(LEAK),
        )

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``groups`` > 1: ``x`` stacks that many batches, batch-normalised separately
        (:func:`~infogan.nets.grouped.run_grouped`)."""
        h = run_grouped(self.conv, x, groups)  # [N, 128, 7, 7]
        return run_grouped(self.fc, h.flatten(1), groups)  # [N, 1024]
