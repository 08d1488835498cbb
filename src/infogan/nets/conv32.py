"""The paper's 32x32 networks (Chen et al. 2016, appendix C, the SVHN and CelebA tables).

The paper trains SVHN (4 x Cat(10) + 4 continuous codes, noise 124) and CelebA (10 x Cat(10),
noise 128) at 32x32 in colour with one pair of networks; this module is that pair, for any
32x32 images with 1 or 3 channels.

Generator G(z, c)::

    input (noise + codes)
    FC 2*2*448 -> BN -> ReLU                      # reshaped to [N, 448, 2, 2]
    upconv 4x4, 256, stride 2 -> BN -> ReLU       # [N, 256, 4, 4]
    upconv 4x4, 128, stride 2 -> ReLU             # [N, 128, 8, 8]   (no BN in the table)
    upconv 4x4, 64, stride 2 -> ReLU              # [N, 64, 16, 16]  (no BN in the table)
    upconv 4x4, C, stride 2 -> tanh               # [N, C, 32, 32], in [-1, 1] like the data

Discriminator body (shared by D and Q)::

    conv 4x4, 64, stride 2 -> leaky ReLU(0.1)     # [N, 64, 16, 16]
    conv 4x4, 128, stride 2 -> BN -> leaky ReLU   # [N, 128, 8, 8]
    conv 4x4, 256, stride 2 -> BN -> leaky ReLU   # [N, 256, 4, 4]
    FC 1024 -> BN -> leaky ReLU                   # [N, 1024]  (not in the table; see below)

D head: FC -> 1 logit. Q head: FC 128 -> BN -> leaky ReLU -> FC (code parameters), as for MNIST.

One departure, measured. The SVHN table has no FC layer in D: its D head and Q head read the
4x4x256 conv features directly (``fc=False``, ``--arch conv32paper``). With that body G learnt
to ignore z: on MNIST's 5,000 digits resized to 32x32 (paper recipe, CPU, 2026-11-27) the
images of one code value varied across z by a pixel std of 0.021 at step 1,000 (0.088 in
training mode), and a 6,000-step default-recipe run ended with one image per value of c1 (test
accuracy 0.442). With the FC 1024 -> BN -> leaky ReLU layer that the paper's MNIST and chairs
discriminators both have, the same run's spread was 0.253 (0.314), as the MNIST networks' (0.275
at step 400). So ``conv32`` has it, and ``conv32paper`` is the table exactly.

The paper gives no padding; stride-2 layers use padding 1 (exact halving and doubling), as
:mod:`infogan.nets.mnist` and :mod:`infogan.nets.conv64` do, so the features are 4x4x256.
(A public Julia transcription of the CelebA experiment pads by 0 and reaches 2x2x256.)

Parameter counts at width 1::

    Conv32Generator(input_dim, C)   = 2,496,704 + 1,792 * input_dim + 1,025 * C
                                      (2,800,835 for SVHN's 168 inputs and C = 3)
    Conv32Body(C)                   = 4,853,952 + 1,024 * C           (feature_dim 1,024)
    Conv32Body(C, fc=False)         = 656,576 + 1,024 * C             (feature_dim 4,096)

Compute (torch's FLOP counter): 25 MMAC per image for G, 18 for the body (22 with the FC
layer), about twice and 1.3-1.7 times the paper's MNIST networks (13 and 13).

``width`` scales every hidden size (1.0 = the paper's); ``channels`` is the image's channel count.
"""

from __future__ import annotations

import torch
from torch import nn

from infogan.nets.grouped import run_grouped
from infogan.nets.mnist import LEAK, _w  # one rounding rule for every width

__all__ = ["Conv32Generator", "Conv32Body", "IMAGE_SIZE"]

#: Height and width of the images these networks read and write.
IMAGE_SIZE = 32


def _up(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)  # exact doubling


class Conv32Generator(nn.Module):
    """G: latent ``[N, input_dim]`` -> images ``[N, channels, 32, 32]`` in [-1, 1]."""

    def __init__(self, input_dim: int, width: float = 1.0, channels: int = 3) -> None:
        super().__init__()
        self.c0 = _w(448, width)
        c1, c2, c3 = _w(256, width), _w(128, width), _w(64, width)
        self.fc = nn.Sequential(
            nn.Linear(input_dim, 2 * 2 * self.c0),
            nn.BatchNorm1d(2 * 2 * self.c0),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            _up(self.c0, c1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            _up(c1, c2),
            nn.ReLU(),
            _up(c2, c3),
            nn.ReLU(),
            _up(c3, channels),
            nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.c0, 2, 2)  # [N, 448, 2, 2]
        return self.up(h)  # [N, C, 32, 32]


class Conv32Body(nn.Module):
    """The discriminator body shared by D and Q: images ``[N, channels, 32, 32]`` -> features
    ``[N, feature_dim]`` (the last conv layer's activations, flattened)."""

    def __init__(self, width: float = 1.0, channels: int = 3, fc: bool = True) -> None:
        """``fc``: the FC 1024 layer after the convolutions (False = the paper's SVHN table)."""
        super().__init__()
        c1, c2, c3 = _w(64, width), _w(128, width), _w(256, width)
        self.feature_dim = _w(1024, width) if fc else c3 * 4 * 4
        self.conv = nn.Sequential(
            nn.Conv2d(channels, c1, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1),
            nn.BatchNorm2d(c3),
            nn.LeakyReLU(LEAK),
        )
        self.fc = (
            nn.Sequential(
                nn.Linear(c3 * 4 * 4, self.feature_dim),
                nn.BatchNorm1d(self.feature_dim),
                nn.LeakyReLU(LEAK),
            )
            if fc
            else nn.Sequential()  # empty: passes the conv features through
        )

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``groups`` > 1: ``x`` stacks that many batches, batch-normalised separately
        (:func:`~infogan.nets.grouped.run_grouped`)."""
        h = run_grouped(self.conv, x, groups).flatten(1)  # [N, 4096]
        return run_grouped(self.fc, h, groups)  # [N, 1024] (fc=False: [N, 4096])
