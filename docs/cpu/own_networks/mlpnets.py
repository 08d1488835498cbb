"""A user's own networks for 28x28 digits, registered as 'mlp28': an MLP generator (no
convolutions) and a small convolutional body, to show `--import`/`--arch` on real data.
Not tuned; the measured run is in README ("Your own networks on MNIST")."""

from torch import nn

import infogan


def generator(input_dim: int, width: float, channels: int) -> nn.Module:
    h = max(16, round(1024 * width))
    return nn.Sequential(
        nn.Linear(input_dim, h),
        nn.BatchNorm1d(h),
        nn.ReLU(),
        nn.Linear(h, h),
        nn.BatchNorm1d(h),
        nn.ReLU(),
        nn.Linear(h, channels * 28 * 28),
        nn.Tanh(),
        nn.Unflatten(1, (channels, 28, 28)),
    )


def body(width: float, channels: int) -> nn.Module:
    c = max(4, round(64 * width))
    return nn.Sequential(
        nn.Conv2d(channels, c, 4, 2, 1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(c, 2 * c, 4, 2, 1),
        nn.BatchNorm2d(2 * c),
        nn.LeakyReLU(0.1),
        nn.Flatten(),
        nn.Linear(2 * c * 7 * 7, 512),
        nn.BatchNorm1d(512),
        nn.LeakyReLU(0.1),
    )


infogan.register_arch("mlp28", generator=generator, body=body, image_size=28)
