"""DiffAugment translation of what D and Q read (``--d-translate``)."""

import pytest
import torch
from conftest import tiny_config

from infogan.augment import translate
from infogan.errors import SpecError
from infogan.train import Trainer


def test_translate_moves_content_and_fills_background():
    x = torch.full((2, 1, 5, 5), -1.0)
    x[:, :, 2, 2] = 1.0  # one lit pixel in the centre
    shift = torch.tensor([[1, -2], [0, 0]])
    out = translate(x, shift, max_shift=2)
    assert out.shape == x.shape
    assert out[0, 0, 3, 0] == 1.0 and out[0].sum() == x[0].sum()  # down 1, left 2
    assert torch.equal(out[1], x[1])  # no shift: unchanged
    edge = translate(torch.ones(1, 1, 4, 4), torch.tensor([[2, 0]]), max_shift=2)
    assert torch.equal(edge[0, 0, :2], torch.full((2, 4), -1.0))  # uncovered rows = background


def test_translate_is_differentiable_and_off_at_zero():
    x = torch.randn(3, 1, 6, 6, requires_grad=True)
    out = translate(x, torch.tensor([[1, 1], [-1, 0], [0, 1]]), max_shift=1)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert translate(x, torch.zeros(3, 2, dtype=torch.long), max_shift=0) is x


def test_d_translate_draws_shifts_and_changes_training(tiny_dataset):
    plain = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    aug = Trainer(tiny_config(d_translate=2), "unused", dataset=tiny_dataset)
    inputs = aug.sample_inputs(0)
    assert inputs["shift"].shape == (3 * aug.cfg.batch, 2)
    assert inputs["shift"].abs().max() <= 2 and "shift" not in plain.sample_inputs(0)
    assert torch.equal(inputs["shift"], aug.sample_inputs(0)["shift"])  # (seed, step) counters
    a, b = plain.train_step(0), aug.train_step(0)
    assert a["d_loss"].item() != b["d_loss"].item()  # D read different (shifted) images


def test_d_translate_too_large_is_a_clear_error(tiny_dataset):
    with pytest.raises(SpecError, match="d_translate"):
        Trainer(tiny_config(d_translate=14), "unused", dataset=tiny_dataset)
    with pytest.raises(SpecError, match="d_translate"):
        tiny_config(d_translate=-1).validate()
