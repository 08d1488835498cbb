"""InfoGAN-CR's small 64x64 networks (``conv64s``): shapes, range, counts, gradients, wiring."""

from __future__ import annotations

import pytest
import torch

from infogan.config import ARCHES, ModelConfig
from infogan.nets import build_nets
from infogan.nets.conv64 import Conv64Body, Conv64Generator
from infogan.nets.conv64s import LEAK_CR, Conv64SmallBody, Conv64SmallGenerator


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_counts_shapes_and_size_against_the_chairs_networks():
    torch.manual_seed(0)
    g, body = Conv64SmallGenerator(10), Conv64SmallBody()
    assert n_params(g) == 251_393 and n_params(Conv64SmallGenerator(11)) - n_params(g) == 128
    assert n_params(body) == 246_592 and body.feature_dim == 128
    x = g(torch.randn(3, 10))
    assert x.shape == (3, 1, 64, 64) and body(x).shape == (3, 128)
    # the point of these networks: ~80x fewer weights than the paper's chairs ones
    assert n_params(Conv64Generator(10)) + n_params(Conv64Body()) > 75 * (
        n_params(g) + n_params(body)
    )
    # InfoGAN-CR's discriminator: leaky ReLU 0.2 and no batch norm
    slopes = {m.negative_slope for m in body.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {LEAK_CR} and not any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in body.modules()
    )


@pytest.mark.parametrize("channels", [1, 3])
def test_tanh_range_and_channels(channels):
    torch.manual_seed(1)
    g = Conv64SmallGenerator(7, width=0.5, channels=channels)
    x = g(10 * torch.randn(5, 7))
    assert x.shape == (5, channels, 64, 64) and x.abs().max() <= 1.0 and x.std() > 0
    assert Conv64SmallBody(width=0.5, channels=channels)(x).shape == (5, 64)


def test_backward_reaches_every_parameter_and_grouped_bn_matches():
    torch.manual_seed(2)
    g, body = Conv64SmallGenerator(6), Conv64SmallBody()
    head = torch.nn.Linear(body.feature_dim, 1)
    head(body(g(torch.randn(4, 6)))).square().mean().backward()
    for net in (g, body):
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # two batches in one grouped pass == two separate passes
    a, b = torch.randn(4, 1, 64, 64), torch.randn(4, 1, 64, 64)
    body2 = Conv64SmallBody()
    body2.load_state_dict(body.state_dict())
    torch.testing.assert_close(body(torch.cat([a, b]), groups=2), torch.cat([body2(a), body2(b)]))


def test_built_as_an_infogan_with_cr_and_selectable_from_the_cli():
    from infogan.cli import build_parser

    torch.manual_seed(3)
    nets = build_nets(ModelConfig(codes="cont:5", noise_dim=5, arch="conv64s"), contrastive=True)
    assert isinstance(nets.generator, Conv64SmallGenerator) and nets.image_shape == (1, 64, 64)
    x = nets.generator(torch.randn(4, 10))
    assert nets.discriminate(x).shape == (4,) and nets.recognise(x).cont_mean.shape == (4, 5)
    assert nets.pair_logits(x, x).shape == (4, 5)
    arch = next(
        a
        for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
        if a.dest == "arch"
    )
    # Any name is parsed (a user's registered networks too); the help names every built-in one
    # and the config check refuses an unknown one (tests/test_custom_arch.py).
    assert all(name in arch.help for name in ARCHES)
