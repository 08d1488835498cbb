"""Instance noise: D (and Q through the shared body) read x + std * eps, std decayed to 0."""

import pytest
import torch
from conftest import tiny_config

from infogan.errors import SpecError
from infogan.train import Trainer


def test_schedule_decays_linearly_to_zero(tiny_dataset):
    tr = Trainer(tiny_config(instance_noise=0.4, steps=10), "unused", dataset=tiny_dataset)
    stds = []
    for step in (0, 5, 10, 20):
        tr.set_schedules(step)
        stds.append(tr._noise_std.item())
    assert stds == pytest.approx([0.4, 0.2, 0.0, 0.0])
    tr = Trainer(
        tiny_config(instance_noise=0.4, instance_noise_end=4, steps=10), "u", dataset=tiny_dataset
    )
    tr.set_schedules(2)
    assert tr._noise_std.item() == pytest.approx(0.2)


def test_noise_is_drawn_per_step_from_the_seed(tiny_dataset):
    tr = Trainer(tiny_config(instance_noise=0.4), "unused", dataset=tiny_dataset)
    a, b, a2 = tr.sample_inputs(3)["eps"], tr.sample_inputs(4)["eps"], tr.sample_inputs(3)["eps"]
    assert a.shape == (3 * tr.cfg.batch, *tr.images.shape[1:])
    assert torch.equal(a, a2) and not torch.equal(a, b)
    assert "eps" not in Trainer(tiny_config(), "unused", dataset=tiny_dataset).sample_inputs(3)


def test_noise_changes_training_and_zero_std_does_not(tiny_dataset):
    def d_loss(**kw):
        tr = Trainer(tiny_config(**kw), "unused", dataset=tiny_dataset)
        return tr.train_step(0)["d_loss"].item()

    plain = d_loss()
    assert d_loss(instance_noise=0.5) != plain
    # at the end of its schedule the noise is zero: the step is the plain step
    tr = Trainer(tiny_config(instance_noise=0.5, steps=6), "unused", dataset=tiny_dataset)
    tr.set_schedules(6)
    inputs = tr.sample_inputs(0)
    assert tr.step_body(inputs)["d_loss"].item() == pytest.approx(plain, abs=1e-6)


def test_negative_noise_is_refused():
    with pytest.raises(SpecError, match="instance_noise"):
        tiny_config(instance_noise=-0.1).validate()
