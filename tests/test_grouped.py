"""The stacked real+fake pass of D equals two separate passes (outputs, grads, BN statistics)."""

import copy

import pytest
import torch

from infogan.nets.conv64 import Conv64Body
from infogan.nets.mnist import MnistBody


@pytest.mark.parametrize(
    "make,size", [(lambda: MnistBody(0.25), 28), (lambda: Conv64Body(0.125), 64)]
)
def test_grouped_pass_equals_separate_passes(make, size):
    torch.manual_seed(0)
    a = make().double().train()  # float64: the two orders of summation agree to 1e-10
    b = copy.deepcopy(a)
    real, fake = torch.randn(2, 8, 1, size, size, dtype=torch.float64).unbind(0)
    fake = fake * 2 + 0.5  # different statistics, so mixing them would show
    sep = torch.cat([a(real), a(fake)])
    sep.square().sum().backward()
    both = b(torch.cat([real, fake]), groups=2)
    both.square().sum().backward()
    torch.testing.assert_close(both, sep, rtol=1e-9, atol=1e-9)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-9, atol=1e-9, msg=name)
    for (name, ba), bb in zip(a.named_buffers(), b.buffers(), strict=True):
        torch.testing.assert_close(bb, ba, rtol=1e-9, atol=1e-9, msg=name)
    # a pooled pass (one batch norm over both) is a different function: the test can tell
    pooled = copy.deepcopy(a)(torch.cat([real, fake]))
    assert not torch.allclose(pooled, sep, atol=1e-3)


def test_eval_mode_ignores_groups():
    body = MnistBody(0.25).eval()
    x = torch.randn(6, 1, 28, 28)
    torch.testing.assert_close(body(x, groups=2), body(x))
