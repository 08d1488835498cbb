"""The paper's 64x64 networks: shapes, output range, parameter counts, gradients.

Parameter counts at width 1, one channel (also in the module docstring)::

    Conv64Generator(11)  19,596,353   (19,585,089 + 1,024 per input dimension)
    Conv64Body()         19,536,576   (feature_dim 1024)
"""

from __future__ import annotations

import pytest
import torch

from infogan.nets.conv64 import IMAGE_SHAPE, Conv64Body, Conv64Generator
from infogan.nets.mnist import LEAK


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_paper_width_shapes_and_parameter_counts():
    torch.manual_seed(0)
    g, body = Conv64Generator(11), Conv64Body()
    assert IMAGE_SHAPE == (1, 64, 64)
    assert n_params(g) == 19_596_353
    assert n_params(Conv64Generator(12)) - n_params(g) == 1024
    assert n_params(body) == 19_536_576
    assert body.feature_dim == 1024
    x = g(torch.randn(3, 11))
    assert x.shape == (3, *IMAGE_SHAPE)
    assert body(x).shape == (3, 1024)
    # The discriminator's leaky ReLUs use the paper's slope, shared with the MNIST networks.
    slopes = {m.negative_slope for m in body.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {LEAK}


@pytest.mark.parametrize("channels", [1, 3])
def test_reduced_width_shapes_and_tanh_range(channels):
    torch.manual_seed(1)
    g = Conv64Generator(7, width=0.125, channels=channels)
    body = Conv64Body(width=0.125, channels=channels)
    assert body.feature_dim == 128
    # Large latents push the pre-activation far out: the output must still stay in [-1, 1].
    x = g(10 * torch.randn(5, 7))
    assert x.shape == (5, channels, 64, 64)
    assert x.abs().max() <= 1.0 and x.std() > 0
    assert body(x).shape == (5, 128)


def test_backward_reaches_every_parameter():
    torch.manual_seed(2)
    g, body = Conv64Generator(6, width=0.125), Conv64Body(width=0.125)
    head = torch.nn.Linear(body.feature_dim, 1)
    loss = head(body(g(torch.randn(4, 6)))).square().mean()
    loss.backward()
    for net in (g, body):
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, name


def test_eval_mode_is_deterministic_per_sample():
    # In eval mode BatchNorm uses running statistics, so an image's output does not depend on
    # the rest of its batch (what sampling and Q's code estimates at evaluation rely on).
    torch.manual_seed(3)
    g, body = Conv64Generator(6, width=0.125).eval(), Conv64Body(width=0.125).eval()
    z = torch.randn(4, 6)
    with torch.no_grad():
        torch.testing.assert_close(g(z)[:1], g(z[:1]))
        x = g(z)
        torch.testing.assert_close(body(x)[:1], body(x[:1]))
