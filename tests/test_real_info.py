"""The real-image information term, I(x; c) of Q's categorical codes on a batch."""

import math

import pytest
import torch
from conftest import tiny_config

from infogan.errors import SpecError
from infogan.losses import real_code_information


def test_confident_and_balanced_reading_gives_log_k():
    k, n = 10, 50
    logits = torch.full((n, k), -30.0)
    logits[torch.arange(n), torch.arange(n) % k] = 30.0  # each image sure, classes even
    assert real_code_information([logits]).item() == pytest.approx(math.log(k), abs=1e-5)


def test_collapsed_or_unsure_reading_gives_zero():
    k, n = 10, 40
    one_class = torch.zeros(n, k)
    one_class[:, 3] = 30.0  # confident but always the same class: no information
    unsure = torch.zeros(n, k)  # uniform for every image: no information either
    assert real_code_information([one_class]).item() == pytest.approx(0.0, abs=1e-5)
    assert real_code_information([unsure]).item() == pytest.approx(0.0, abs=1e-6)


def test_one_value_per_categorical_code_and_a_useful_gradient():
    a = torch.randn(32, 10, requires_grad=True)
    b = torch.randn(32, 4, requires_grad=True)
    info = real_code_information([a, b])
    assert info.shape == (2,)
    assert (info >= -1e-6).all() and info[0] <= math.log(10) + 1e-6
    info.sum().backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_needs_a_categorical_code():
    cfg = tiny_config(lambda_real=1.0)
    cfg.model.codes = "cont:2"
    with pytest.raises(SpecError, match="lambda_real"):
        cfg.validate()
