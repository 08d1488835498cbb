"""Small 64x64 networks: InfoGAN-CR's dSprites networks (Lin et al. 2020, appendix).

InfoGAN-CR's published dSprites scores (FactorVAE 0.88, MIG 0.37, the targets this project
measures against) were made with these networks, not with the paper's 3D-chairs ones
(:mod:`infogan.nets.conv64`). They are about 100x cheaper per image, which is what lets a
dSprites run see hundreds of thousands of images in minutes.

Generator G(z, c), as InfoGAN-CR's ``Decoder``: activation *before* batch norm, leaky ReLU
0.2 in the up-convolutions::

    input (noise + codes)
    FC 128 -> ReLU -> BN
    FC 4*4*64 -> ReLU -> BN                       # reshaped to [N, 64, 4, 4]
    upconv 4x4, 64, stride 2 -> leaky ReLU -> BN  # [N, 64, 8, 8]
    upconv 4x4, 32, stride 2 -> leaky ReLU -> BN  # [N, 32, 16, 16]
    upconv 4x4, 32, stride 2 -> leaky ReLU -> BN  # [N, 32, 32, 32]
    upconv 4x4, C, stride 2 -> tanh               # [N, C, 64, 64], in [-1, 1] like the data

(InfoGAN-CR ends in a sigmoid for [0, 1] pixels; tanh matches this project's [-1, 1] range.
Until the seventh session (2026-11-26) this generator used the DCGAN order, BN -> ReLU
everywhere; since batch norm now comes after the nonlinearity, the biases are not cancelled.)

Discriminator body (shared by D and Q), as InfoGAN-CR's ``InfoGANDiscriminator``: no batch
norm anywhere, leaky ReLU 0.2 (its ``op.lrelu``), spectral normalisation of every weight layer
(``ModelConfig.spectral_norm``, which the ``dsprites`` preset turns on)::

    conv 4x4, 32, stride 2 -> leaky ReLU(0.2)     # [N, 32, 32, 32]
    conv 4x4, 32, stride 2 -> leaky ReLU          # [N, 32, 16, 16]
    conv 4x4, 64, stride 2 -> leaky ReLU          # [N, 64, 8, 8]
    conv 4x4, 64, stride 2 -> leaky ReLU          # [N, 64, 4, 4]
    FC 128 -> leaky ReLU                          # [N, 128]

D head: FC -> 1 logit. Q head: FC 128 -> leaky ReLU -> FC, without batch norm, like InfoGAN-CR's.
(Until 2026-11-26 this body had batch norm after layers 2-5 and leaky ReLU 0.1, as the MNIST
one; InfoGAN-CR's released networks have neither, and with them every 64x64 probe on the CPU
failed.)

Parameter counts at width 1, one channel::

    Conv64SmallGenerator(input_dim) = 250,113 + 128 * input_dim   (251,393 for 10)
    Conv64SmallBody()               = 246,592                     (feature_dim 128)

``width`` scales every hidden size; ``channels`` is the image's channel count.
"""

from __future__ import annotations

import torch
from torch import nn

from infogan.nets.grouped import run_grouped
from infogan.nets.mnist import _w  # one rounding rule for every width

#: Leaky ReLU slope of InfoGAN-CR's discriminators (its ``op.lrelu``; the MNIST nets use 0.1).
LEAK_CR = 0.2

__all__ = ["Conv64SmallGenerator", "Conv64SmallBody", "LEAK_CR"]


def _up(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)  # exact doubling


class Conv64SmallGenerator(nn.Module):
    """G: latent ``[N, input_dim]`` -> images ``[N, channels, 64, 64]`` in [-1, 1]."""

    def __init__(self, input_dim: int, width: float = 1.0, channels: int = 1) -> None:
        super().__init__()
        fc = _w(128, width)
        self.c0 = _w(64, width)
        c1, c2, c3 = _w(64, width), _w(32, width), _w(32, width)
        # Activation, then batch norm (InfoGAN-CR's order): BN sees the rectified features.
        self.fc = nn.Sequential(
            nn.Linear(input_dim, fc),
            nn.ReLU(),
            nn.BatchNorm1d(fc),
            nn.Linear(fc, 4 * 4 * self.c0),
            nn.ReLU(),
            nn.BatchNorm1d(4 * 4 * self.c0),
        )
        self.up = nn.Sequential(
            _up(self.c0, c1),
            nn.LeakyReLU(LEAK_CR),
            nn.BatchNorm2d(c1),
            _up(c1, c2),
            nn.LeakyReLU(LEAK_CR),
            nn.BatchNorm2d(c2),
            _up(c2, c3),
            nn.LeakyReLU(LEAK_CR),
            nn.BatchNorm2d(c3),
            _up(c3, channels),
            nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.c0, 4, 4)  # [N, 64, 4, 4]
        return self.up(h)  # [N, C, 64, 64]


class Conv64SmallBody(nn.Module):
    """The discriminator body shared by D and Q: images ``[N, channels, 64, 64]`` -> features
    ``[N, feature_dim]``."""

    def __init__(self, width: float = 1.0, channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3, c4 = _w(32, width), _w(32, width), _w(64, width), _w(64, width)
        self.feature_dim = _w(128, width)
        self.conv = nn.Sequential(
            nn.Conv2d(channels, c1, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK_CR),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK_CR),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK_CR),
            nn.Conv2d(c3, c4, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK_CR),
        )
        self.fc = nn.Sequential(nn.Linear(c4 * 4 * 4, self.feature_dim), nn.LeakyReLU(LEAK_CR))

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``groups`` > 1: ``x`` stacks that many batches, batch-normalised separately
        (:func:`~infogan.nets.grouped.run_grouped`)."""
        h = run_grouped(self.conv, x, groups)  # [N, 64, 4, 4]
        return run_grouped(self.fc, h.flatten(1), groups)  # [N, 128]
