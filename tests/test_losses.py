import math

import pytest
import torch
import torch.nn.functional as F

from infogan.latent import LatentSpec
from infogan.losses import (
    code_log_q,
    code_weights,
    d_adversarial,
    g_adversarial,
    info_loss,
    mi_bound,
)
from infogan.nets import QOutput

SPEC = LatentSpec.parse("cat:10,cont:2", 4)


def _q(logits, mean, log_std):
    return QOutput(cat_logits=[logits], cont_mean=mean, cont_log_std=log_std)


def test_perfect_categorical_q_reaches_entropy():
    lat = SPEC.sample(512, generator=torch.Generator().manual_seed(0))
    logits = 50.0 * F.one_hot(lat.cat[:, 0], 10).float()  # certain and right
    q = _q(logits, torch.zeros(512, 2), torch.zeros(512, 2))
    bound = mi_bound(code_log_q(q, lat, SPEC), SPEC)
    assert bound[0].item() == pytest.approx(math.log(10), abs=1e-6)


def test_constant_q_gives_about_zero():
    lat = SPEC.sample(512, generator=torch.Generator().manual_seed(0))
    q = _q(torch.zeros(512, 10), torch.zeros(512, 2), torch.zeros(512, 2))
    bound = mi_bound(code_log_q(q, lat, SPEC), SPEC)
    assert bound[0].item() == pytest.approx(0.0, abs=1e-6)
    # the best x-independent Gaussian for U(-1,1) has std 1/sqrt(3): bound = ln2 - 0.5ln(2pi e/3) < 0
    best = _q(torch.zeros(512, 10), torch.zeros(512, 2), torch.full((512, 2), -0.5 * math.log(3)))
    cont = mi_bound(code_log_q(best, lat, SPEC), SPEC)[1:]
    expected = math.log(2) - 0.5 * math.log(2 * math.pi * math.e / 3)
    assert cont.mean().item() == pytest.approx(expected, abs=0.05)


def test_continuous_log_q_matches_normal_log_prob():
    lat = SPEC.sample(64, generator=torch.Generator().manual_seed(2))
    mean, log_std = torch.randn(64, 2), torch.randn(64, 2) * 0.3
    lq = code_log_q(_q(torch.zeros(64, 10), mean, log_std), lat, SPEC)
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(lat.cont).mean(0)
    assert torch.allclose(lq[1:], ref, atol=1e-5)


def test_log_q_is_reported_in_spec_order():
    spec = LatentSpec.parse("cont:1,cat:4", 2)
    lat = spec.sample(32, generator=torch.Generator().manual_seed(3))
    q = QOutput(
        [50.0 * F.one_hot(lat.cat[:, 0], 4).float()], torch.zeros(32, 1), torch.zeros(32, 1)
    )
    lq = code_log_q(q, lat, spec)
    assert lq[1].item() == pytest.approx(0.0, abs=1e-6)  # the categorical one, second in spec
    assert lq[0].item() < -0.9


def test_adversarial_losses_match_bce():
    real, fake = torch.randn(16), torch.randn(16)
    ref_d = F.binary_cross_entropy_with_logits(
        real, torch.ones(16)
    ) + F.binary_cross_entropy_with_logits(fake, torch.zeros(16))
    assert torch.allclose(d_adversarial(real, fake), ref_d)
    assert torch.allclose(
        g_adversarial(fake), F.binary_cross_entropy_with_logits(fake, torch.ones(16))
    )


def test_info_loss_weights_codes():
    w = code_weights(SPEC, 1.0, 0.1)
    assert w.tolist() == pytest.approx([1.0, 0.1, 0.1])
    lq = torch.tensor([-1.0, -2.0, -3.0], requires_grad=True)
    loss = info_loss(lq, w)
    assert loss.item() == pytest.approx(1.0 + 0.2 + 0.3)
    loss.backward()
    assert lq.grad.tolist() == pytest.approx([-1.0, -0.1, -0.1])  # gradients are not detached


def test_cr_loss_is_minus_log_the_shared_codes_probability():
    from infogan.losses import cr_loss

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    k = torch.tensor([0, 2])
    by_hand = -(torch.log_softmax(logits, 1)[torch.arange(2), k]).mean()
    torch.testing.assert_close(cr_loss(logits, k), by_hand)
    assert abs(cr_loss(torch.zeros(4, 5), torch.arange(4)).item() - math.log(5)) < 1e-6
