"""EMA generator: the average's update rule, where it is used, and that it survives resume."""

import pytest
import torch
from conftest import tiny_config

from infogan.errors import SpecError
from infogan.model import load_run
from infogan.nets import build_nets
from infogan.train import Trainer


def test_update_rule_and_batch_norm_statistics():
    nets = build_nets(tiny_config().model, ema=True)
    before = {k: v.clone() for k, v in nets.generator_ema.state_dict().items()}
    with torch.no_grad():
        for p in nets.generator.parameters():
            p.add_(1.0)
        for b in nets.generator.buffers():
            b.add_(3)
    nets.update_ema(torch.tensor(0.25))
    for (k, p), (_, g) in zip(
        nets.generator_ema.named_parameters(), nets.generator.named_parameters(), strict=True
    ):
        assert torch.allclose(p, before[k] + 0.25 * (g - before[k]), atol=1e-6), k
        assert not p.requires_grad
    for (_, b), (_, g) in zip(
        nets.generator_ema.named_buffers(), nets.generator.named_buffers(), strict=True
    ):
        assert torch.equal(b, g)
    assert nets.sampler is nets.generator_ema
    assert build_nets(tiny_config().model).sampler is not None


def test_training_keeps_an_average_and_the_model_draws_from_it(tiny_dataset, tmp_path):
    cfg = tiny_config(ema_decay=0.9, steps=6)
    tr = Trainer(cfg, tmp_path / "run", dataset=tiny_dataset)
    tr.run(finish=False)
    nets = tr.nets
    # G moved, and the average lags behind it (it is not a copy, nor stuck at the init)
    g = torch.cat([p.flatten() for p in nets.generator.parameters()])
    e = torch.cat([p.flatten() for p in nets.generator_ema.parameters()])
    assert not torch.equal(g, e)
    init = torch.cat([p.detach().flatten() for p in build_nets(cfg.model).generator.parameters()])
    assert (e - g).abs().sum() < (init - g).abs().sum()
    # Q is still trained on G's own images: routing puts no EMA weight in any optimiser
    ema_ids = {id(p) for p in nets.generator_ema.parameters()}
    for opt in (tr.opt_d, tr.opt_g):
        assert not ema_ids & {id(p) for grp in opt.param_groups for p in grp["params"]}
    model = load_run(tmp_path / "run")
    lat = model.latent(5, seed=3)
    with torch.no_grad():
        model.nets.eval()
        want = model.nets.generator_ema(model.spec.assemble(lat))
        other = model.nets.generator(model.spec.assemble(lat))
    got = model.generate(latent=lat)
    assert torch.equal(got, want) and not torch.equal(got, other)


def test_exact_resume_with_ema(tmp_path, tiny_dataset):
    def run(steps, d, resume=False):
        tr = Trainer(
            tiny_config(steps=steps, ckpt_every=3, ema_decay=0.99), d, tiny_dataset, resume
        )
        tr.run(finish=False)
        return tr

    one = run(6, tmp_path / "one")
    run(3, tmp_path / "two")
    two = run(6, tmp_path / "two", resume=True)
    for k, v in one.nets.generator_ema.state_dict().items():
        assert torch.equal(v, two.nets.generator_ema.state_dict()[k]), k


def test_decay_out_of_range_is_refused():
    with pytest.raises(SpecError, match="ema_decay"):
        tiny_config(ema_decay=1.0).validate()


def test_update_never_reads_the_weight_on_the_host():
    # A CUDA graph cannot capture a device->host read (.item()), and eagerly it would stall the
    # GPU every step. On the meta device any such read raises, so this runs the update as a
    # graph would, without a GPU.
    with torch.device("meta"):
        nets = build_nets(tiny_config().model, ema=True)
        weight = torch.tensor(0.1)
    nets.update_ema(weight)
    with pytest.raises(RuntimeError, match="item"):  # the check has teeth: lerp reads it
        torch._foreach_lerp_(
            list(nets.generator_ema.parameters()), list(nets.generator.parameters()), weight
        )
