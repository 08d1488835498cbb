"""The paper's 64x64 networks (Chen et al. 2016, appendix C, the 3D chairs table), e.g. for dSprites.

Source: the InfoGAN paper's table for 3D chairs (64x64 grey images, 1 continuous + 3 x Cat(20)
codes, noise 128). The layer list below is that table as transcribed by two independent public
reimplementations of the chairs experiment (GitHub cemilcengiz/InfoGAN,
``Chairs_exp/infogan_Chairs_lambda1.jl`` in Julia/Knet, and a PyTorch chairs script), which agree
layer for layer; the paper gives no padding, so stride-2 layers use padding 1 (exact halving / doubling, as in
:mod:`infogan.nets.mnist`) and stride-1 layers use TensorFlow's "SAME" padding (1 before, 2 after
for a 4x4 kernel), which keeps 8x8 as the table's FC 8x8x256 implies.

Generator G(z, c)::

    input (noise + codes)
    FC 1024 -> BN -> ReLU
    FC 8*8*256 -> BN -> ReLU                      # reshaped to [N, 256, 8, 8]
    upconv 4x4, 256, stride 1 -> BN -> ReLU       # [N, 256, 8, 8]
    upconv 4x4, 256, stride 1 -> BN -> ReLU       # [N, 256, 8, 8]
    upconv 4x4, 128, stride 2 -> BN -> ReLU       # [N, 128, 16, 16]
    upconv 4x4, 64, stride 2 -> BN -> ReLU        # [N, 64, 32, 32]
    upconv 4x4, C, stride 2 -> tanh               # [N, C, 64, 64], in [-1, 1] like the data

(The paper ends in a sigmoid for [0, 1] pixels; tanh matches this project's [-1, 1] data range.)
A stride-1 transposed convolution is a plain convolution with a flipped kernel, so those two
layers are ``Conv2d`` with "SAME" padding: the same function class, and exact 8x8 output, which
``ConvTranspose2d`` cannot give with an even kernel and symmetric padding.

Discriminator body (shared by D and Q)::

    conv 4x4, 64, stride 2 -> leaky ReLU(0.1)     # [N, 64, 32, 32]
    conv 4x4, 128, stride 2 -> BN -> leaky ReLU   # [N, 128, 16, 16]
    conv 4x4, 256, stride 2 -> BN -> leaky ReLU   # [N, 256, 8, 8]
    conv 4x4, 256, stride 1 -> BN -> leaky ReLU   # [N, 256, 8, 8]
    conv 4x4, 256, stride 1 -> BN -> leaky ReLU   # [N, 256, 8, 8]
    FC 1024 -> BN -> leaky ReLU                   # [N, 1024]

D head: FC -> 1 logit. Q head: FC 128 -> BN -> leaky ReLU -> FC (code parameters), as for MNIST.

Parameter counts at width 1, one channel (the FC layers to and from 8x8x256 dominate)::

    Conv64Generator(input_dim)      = 19,585,089 + 1,024 * input_dim   (19,596,353 for 11)
    Conv64Body()                    = 19,536,576                       (feature_dim 1024)

Compute: about 0.22 GMAC per image for each of G and the body, ~17x the paper's MNIST networks
(0.013 GMAC each); about 60 % of it is in the stride-1 256-channel layers.

``width`` scales every hidden size (1.0 = the paper's); ``channels`` is the image's channel count.
"""

from __future__ import annotations

import torch
from torch import nn

from infogan.nets.grouped import run_grouped
from infogan.nets.mnist import LEAK, _w  # one rounding rule for every width

__all__ = ["Conv64Generator", "Conv64Body", "IMAGE_SHAPE"]

#: (C, H, W) these networks read and write (with the default ``channels=1``).
IMAGE_SHAPE = (1, 64, 64)


def _same_conv(c_in: int, c_out: int) -> nn.Sequential:
    """4x4 stride-1 convolution with TensorFlow "SAME" padding: H x W in, H x W out."""
    # PyTorch's padding="same" does the same but warns on every call for even kernels; padding
    # explicitly (left/top 1, right/bottom 2, as TensorFlow does) is the identical computation.
    return nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(c_in, c_out, 4))


class Conv64Generator(nn.Module):
    """G: latent ``[N, input_dim]`` -> images ``[N, channels, 64, 64]`` in [-1, 1]."""

    def __init__(self, input_dim: int, width: float = 1.0, channels: int = 1) -> None:
        super().__init__()
        self.c0 = _w(256, width)
        c1, c2, c3 = _w(256, width), _w(128, width), _w(64, width)
        fc = _w(1024, width)
        self.fc = nn.Sequential(
            nn.Linear(input_dim, fc),
            nn.BatchNorm1d(fc),
            nn.ReLU(),
            nn.Linear(fc, 8 * 8 * self.c0),
            nn.BatchNorm1d(8 * 8 * self.c0),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            _same_conv(self.c0, c1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            _same_conv(c1, c1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c3, 4, stride=2, padding=1),
            nn.BatchNorm2d(c3),
            nn.ReLU(),
            nn.ConvTranspose2d(c3, channels, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.c0, 8, 8)  # [N, 256, 8, 8]
        return self.up(h)  # [N, C, 64, 64]


class Conv64Body(nn.Module):
    """The discriminator body shared by D and Q: images ``[N, channels, 64, 64]`` -> features
    ``[N, feature_dim]``."""

    def __init__(self, width: float = 1.0, channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = _w(64, width), _w(128, width), _w(256, width)
        self.c_out = c3
        self.feature_dim = _w(1024, width)
        self.conv = nn.Sequential(
            nn.Conv2d(channels, c1, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1),
            nn.BatchNorm2d(c3),
            nn.LeakyReLU(LEAK),
            _same_conv(c3, c3),
            nn.BatchNorm2d(c3),
            nn.LeakyReLU(LEAK),
            _same_conv(c3, c3),
            nn.BatchNorm2d(c3),
            nn.LeakyReLU(LEAK),
        )
        self.fc = nn.Sequential(
            nn.Linear(c3 * 8 * 8, self.feature_dim),
            nn.BatchNorm1d(self.feature_dim),
            nn.LeakyReLU(LEAK),
        )

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """``groups`` > 1: ``x`` stacks that many batches, batch-normalised separately
        (:func:`~infogan.nets.grouped.run_grouped`)."""
        h = run_grouped(self.conv, x, groups)  # [N, 256, 8, 8]
        return run_grouped(self.fc, h.flatten(1), groups)  # [N, 1024]
