"""Which parameters each loss term updates (the routing table in infogan/train.py)."""

import torch
from conftest import tiny_config

from infogan.nets import build_nets
from infogan.train import Trainer, param_groups


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v.detach())}


def _step_inputs(tr: Trainer):
    x_real = tr._batch(0)
    latent = tr._latent(0)
    x_fake = tr.nets.generator(tr.spec.assemble(latent))
    return x_real, latent, x_fake


def test_param_groups_partition_the_model():
    nets = build_nets(tiny_config().model)
    g = param_groups(nets)
    ids = [id(p) for p in g["d"] + g["g"]]
    assert len(ids) == len(set(ids)) == len(list(nets.parameters()))


def test_d_step_moves_only_body_and_d_head(tiny_dataset):
    tr = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    x_real, latent, x_fake = _step_inputs(tr)
    before = _snapshot(tr.nets)
    tr.d_step(x_real, x_fake, latent)
    changed = _changed(before, tr.nets)
    assert changed, "D step changed nothing"
    assert all(k.startswith(("body.", "d_head.")) for k in changed), changed
    assert {k for k in before if k.startswith(("body.", "d_head."))} == changed
    # no gradient even reached G or Q's head (not merely: they were not stepped)
    assert all(p.grad is None for p in tr.nets.generator.parameters())
    assert all(p.grad is None for p in tr.nets.q_head.parameters())


def test_g_step_never_changes_discriminator(tiny_dataset):
    tr = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    _, latent, x_fake = _step_inputs(tr)
    before = _snapshot(tr.nets)
    tr.g_step(x_fake, latent)
    changed = _changed(before, tr.nets)
    assert {k for k in before if k.startswith(("generator.", "q_head."))} == changed
    assert all(p.grad is None for p in tr.nets.body.parameters())
    assert all(p.grad is None for p in tr.nets.d_head.parameters())


def test_info_loss_reaches_generator_and_q_head(tiny_dataset):
    # With the adversarial term's gradient isolated, Q's loss alone must reach G and the Q head.
    tr = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    _, latent, x_fake = _step_inputs(tr)
    from infogan.losses import code_log_q, info_loss

    loss = info_loss(code_log_q(tr.nets.recognise(x_fake), latent, tr.spec), tr.weights)
    params = param_groups(tr.nets)["g"]
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for name, g in zip(_names(tr.nets, params), grads, strict=True):
        assert g is not None and g.abs().sum() > 0, f"info loss does not reach {name}"
    assert len(params) > len(list(tr.nets.generator.parameters()))  # the Q head is in there


def _names(module, params):
    by_id = {id(p): n for n, p in module.named_parameters()}
    return [by_id[id(p)] for p in params]


def test_info_in_d_step_routes_q_loss_into_body(tiny_dataset):
    grads = {}
    for flag in (False, True):
        tr = Trainer(tiny_config(info_in_d_step=flag), "unused", dataset=tiny_dataset)
        x_real, latent, x_fake = _step_inputs(tr)
        tr.opt_d.step = lambda: None  # keep the gradients, skip the update
        tr.d_step(x_real, x_fake, latent)
        grads[flag] = [p.grad.clone() for p in tr.nets.body.parameters()]
        assert all(p.grad is None for p in tr.nets.q_head.parameters())
        assert all(p.grad is None for p in tr.nets.generator.parameters())
    diff = sum((a - b).abs().sum() for a, b in zip(grads[False], grads[True], strict=True))
    assert diff > 0, "info_in_d_step did not change the body's gradient"
