"""Which parameters each loss term updates (the routing table in infogan/train.py)."""

import pytest
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


@pytest.mark.parametrize("ema", [False, True])
def test_param_groups_partition_the_model(ema):
    nets = build_nets(tiny_config().model, ema=ema)
    g = param_groups(nets)
    ids = [id(p) for p in g["d"] + g["g"]]
    trainable = [p for p in nets.parameters() if p.requires_grad]
    assert len(ids) == len(set(ids)) == len(trainable)
    # the EMA copy is the only thing left out, and nothing of it needs a gradient
    assert len(list(nets.parameters())) - len(trainable) == (
        len(list(nets.generator.parameters())) if ema else 0
    )


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


def test_cr_pairs_share_exactly_the_chosen_code(tiny_dataset):
    tr = Trainer(tiny_config(cr_weight=1.0, batch=32), "unused", dataset=tiny_dataset)
    inp = tr.sample_inputs(0)
    k = inp["k"]
    for i in range(len(tr.spec.codes)):
        kind, j = tr.spec.slot(i)
        a, b = inp[f"{kind}_1"][:, j], inp[f"{kind}_2"][:, j]
        assert torch.equal(a[k == i], b[k == i])
        if kind == "cont":  # independent elsewhere
            assert not torch.equal(a[k != i], b[k != i])
    # InfoGAN-CR's pairs share their noise too (its sample_cr); the option turns that off
    assert torch.equal(inp["z_1"], inp["z_2"])
    tr = Trainer(
        tiny_config(cr_weight=1.0, batch=32, cr_share_noise=False), "unused", dataset=tiny_dataset
    )
    inp2 = tr.sample_inputs(0)
    assert not torch.equal(inp2["z_1"], inp2["z_2"])
    for key in ("z_1", "cat_1", "cont_1", "cat_2", "cont_2", "k"):  # the rest drawn as before
        assert torch.equal(inp[key], inp2[key]), key


def test_cr_routing(tiny_dataset):
    tr = Trainer(tiny_config(cr_weight=1.0), "unused", dataset=tiny_dataset)
    inp = tr.sample_inputs(0)
    before = _snapshot(tr.nets)
    pair = tr.cr_step(inp)
    changed = _changed(before, tr.nets)
    assert changed and all(k.startswith("cr.") for k in changed)
    # G step: the CR loss reaches G, never the classifier or D
    x_fake = tr.nets.generator(tr.spec.assemble(tr._latent(0)))
    before = _snapshot(tr.nets)
    tr._cr_coef.fill_(1.0)
    tr.g_step(x_fake, tr._latent(0), pair)
    changed = _changed(before, tr.nets)
    assert not any(k.startswith(("cr.", "body.", "d_head.")) for k in changed)
    assert any(k.startswith("generator.") for k in changed)


def test_cr_weight_changes_generator_gradient(tiny_dataset):
    grads = {}
    for coef in (0.0, 1.0):
        tr = Trainer(tiny_config(cr_weight=1.0), "unused", dataset=tiny_dataset)
        inp = tr.sample_inputs(0)
        lat = tr._latent(0)
        pair = tr.cr_step(inp)
        tr._cr_coef.fill_(coef)
        tr.opt_g.step = lambda: None
        tr.g_step(tr.nets.generator(tr.spec.assemble(lat)), lat, pair)
        grads[coef] = torch.cat([p.grad.flatten() for p in tr.nets.generator.parameters()])
    assert not torch.allclose(grads[0.0], grads[1.0])


def test_real_info_term_trains_only_the_q_head(tiny_dataset):
    # lambda_real > 0: the real-image term adds gradient to the Q head and to nothing else
    # (the real features are detached, so G, the body and D's head get none of it).
    grads = {}
    for lam in (0.0, 1.0):
        tr = Trainer(tiny_config(lambda_real=lam), "unused", dataset=tiny_dataset)
        x_real, latent, x_fake = _step_inputs(tr)
        tr.opt_d.step = lambda: None
        _, real_features, _ = tr.d_step(x_real, x_fake, latent)
        assert not real_features.requires_grad
        tr.opt_g.step = lambda: None
        _, _, real_info = tr.g_step(x_fake, latent, None, real_features)
        assert (real_info is None) == (lam == 0.0)
        grads[lam] = {
            n: p.grad.clone() for n, p in tr.nets.named_parameters() if p.grad is not None
        }
    differs = {n for n in grads[1.0] if not torch.equal(grads[0.0][n], grads[1.0][n])}
    assert differs and all(n.startswith("q_head.") for n in differs), differs


def test_continuous_weight_schedule(tiny_dataset):
    # cat:4,cont:2 -> weights [cat, cont, cont]; continuous weight 0 before the start, then a
    # linear ramp to lambda_cont, categorical untouched throughout
    cfg = tiny_config(lambda_cont=0.5, lambda_cont_start=4, lambda_cont_ramp=4)
    tr = Trainer(cfg, "unused", dataset=tiny_dataset)
    seen = {}
    for step in (0, 3, 4, 5, 7, 50):
        tr.set_schedules(step)
        seen[step] = tr.weights.tolist()
    assert seen[0] == seen[3] == [1.0, 0.0, 0.0]
    assert seen[4] == pytest.approx([1.0, 0.125, 0.125])
    assert seen[5] == pytest.approx([1.0, 0.25, 0.25])
    assert seen[7] == seen[50] == pytest.approx([1.0, 0.5, 0.5])
    # off (the default): the weights stay the constant lambdas
    plain = Trainer(tiny_config(lambda_cont=0.5), "unused", dataset=tiny_dataset)
    plain.set_schedules(0)
    assert plain.weights.tolist() == pytest.approx([1.0, 0.5, 0.5])


@pytest.mark.parametrize("cr", [0.0, 1.0])
def test_g_steps_updates_g_more_often_than_d(tiny_dataset, cr):
    """g_steps=2: two G/Q updates per step on the same inputs, D (and the CR classifier) one."""
    from infogan.train import Trainer

    tr = Trainer(
        tiny_config(g_steps=2, cr_weight=cr, d_translate=1), "unused", dataset=tiny_dataset
    )
    tr._cr_coef.fill_(cr)
    before = {k: v.clone() for k, v in tr.nets.state_dict().items()}
    tr.train_step(0)

    def adam_steps(opt):
        return {int(st["step"]) for st in opt.state.values()}

    assert adam_steps(tr.opt_g) == {2} and adam_steps(tr.opt_d) == {1}
    if cr:
        assert adam_steps(tr.opt_cr) == {1}
    one = Trainer(tiny_config(cr_weight=cr, d_translate=1), "unused", dataset=tiny_dataset)
    one.train_step(0)
    after_two, after_one = tr.nets.state_dict(), one.nets.state_dict()
    # the first G update is the g_steps=1 step; the second moves G further
    for k, v in before.items():
        if k.startswith("generator.") and v.is_floating_point():
            assert not torch.equal(after_two[k], after_one[k]), k
            break
    d = [k for k in before if k.startswith("d_head.") and before[k].is_floating_point()]
    assert all(torch.equal(after_two[k], after_one[k]) for k in d)  # D's one update: the same


def test_configs_saved_before_cr_share_noise_keep_independent_noise():
    from infogan.config import TrainConfig

    old = TrainConfig(cr_weight=1.0).to_dict()
    del old["cr_share_noise"]  # as written before the field existed
    assert TrainConfig.from_dict(old).cr_share_noise is False
    assert TrainConfig.from_dict(TrainConfig().to_dict()).cr_share_noise is True


def test_q_head_step_d_moves_the_q_head_into_ds_update(tiny_dataset):
    """InfoGAN-CR's routing: the D-step info loss trains body and Q head; G's step only G."""
    cfg = tiny_config(info_in_d_step=True, q_head_step="d")
    tr = Trainer(cfg, "unused", dataset=tiny_dataset)
    groups = param_groups(tr.nets, "d")
    q = {id(p) for p in tr.nets.q_head.parameters()}
    assert q <= {id(p) for p in groups["d"]} and not q & {id(p) for p in groups["g"]}
    x_real, latent, x_fake = _step_inputs(tr)
    before = _snapshot(tr.nets)
    tr.d_step(x_real, x_fake, latent)
    changed = _changed(before, tr.nets)
    assert {k for k in before if k.startswith(("body.", "d_head.", "q_head."))} == changed
    before = _snapshot(tr.nets)
    q_grads = [p.grad.clone() for p in tr.nets.q_head.parameters()]  # left by D's step
    tr.g_step(tr.nets.generator(tr.spec.assemble(latent)), latent)
    changed = _changed(before, tr.nets)
    assert {k for k in before if k.startswith("generator.")} == changed
    # G's info loss added no gradient to the Q head (D's step zeroes it before its own)
    for p, g in zip(tr.nets.q_head.parameters(), q_grads, strict=True):
        assert torch.equal(p.grad, g)
    # without the D-step info loss nothing would train the Q head: refused
    from infogan.errors import SpecError

    with pytest.raises(SpecError, match="q_head_step"):
        tiny_config(q_head_step="d").validate()


@pytest.mark.parametrize("pretrain", [False, True])
def test_cr_classifier_trains_from_cr_start_unless_pretrained(tiny_dataset, pretrain):
    """InfoGAN-CR re-initialises its classifier where the CR weight rises; here it simply
    starts there (cr_pretrain=False), untouched and unpaid-for before."""
    cfg = tiny_config(cr_weight=1.0, cr_start=2, cr_pretrain=pretrain)
    tr = Trainer(cfg, "unused", dataset=tiny_dataset)
    before = {k: v.clone() for k, v in tr.nets.cr.state_dict().items()}
    stats = [tr.train_step(s) for s in range(2)]
    moved = any(not torch.equal(v, tr.nets.cr.state_dict()[k]) for k, v in before.items())
    assert moved == pretrain and ("cr_loss" in stats[0]) == pretrain
    assert "cr_loss" in tr.train_step(2)
    assert any(not torch.equal(v, tr.nets.cr.state_dict()[k]) for k, v in before.items())


def test_configs_saved_before_cr_pretrain_keep_the_pretraining():
    from infogan.config import TrainConfig

    d = tiny_config(cr_weight=1.0).to_dict()
    assert d["cr_pretrain"] is False
    del d["cr_pretrain"]
    assert TrainConfig.from_dict(d).cr_pretrain is True


def test_a_cr_run_is_the_plain_run_until_cr_start(tiny_dataset):
    """Same seed, with and without InfoGAN-CR: the same weights at init (the classifier is
    drawn last) and the same training up to cr_start, so the plain run is the CR run's past."""
    plain = Trainer(tiny_config(spectral_norm=True), "unused", dataset=tiny_dataset)
    cr = Trainer(
        tiny_config(spectral_norm=True, cr_weight=1.0, cr_start=3), "unused", dataset=tiny_dataset
    )
    for s in range(3):
        plain.train_step(s)
        cr.train_step(s)
    ps, cs = plain.nets.state_dict(), cr.nets.state_dict()
    assert set(cs) - set(ps) and all(k.startswith("cr.") for k in set(cs) - set(ps))
    for k, v in ps.items():
        assert torch.equal(v, cs[k]), k
    plain.train_step(3)
    cr.train_step(3)  # the CR loss now reaches G
    g_plain, g_cr = plain.nets.generator.state_dict(), cr.nets.generator.state_dict()
    assert any(not torch.equal(v, g_cr[k]) for k, v in g_plain.items())


def test_the_mode_seeking_term_trains_only_the_generator(tiny_dataset):
    # lambda_ms > 0: the term is a function of G's images alone, so it adds gradient to G's
    # parameters and to nothing else (D's and Q's get none of it).
    grads = {}
    for lam in (0.0, 1.0):
        tr = Trainer(tiny_config(lambda_ms=1.0), "unused", dataset=tiny_dataset)
        inputs = tr.sample_inputs(0)
        _, latent, x_fake = _step_inputs(tr)
        ms = tr._mode_seeking(x_fake, latent, inputs)
        assert ms is not None and ms[0].requires_grad and not ms[1].requires_grad
        tr.opt_g.step = lambda: None
        tr.g_step(x_fake, latent, None, None, None, ms[0] if lam else None)
        grads[lam] = {
            n: p.grad.clone() for n, p in tr.nets.named_parameters() if p.grad is not None
        }
    differs = {n for n in grads[1.0] if not torch.equal(grads[0.0][n], grads[1.0][n])}
    assert differs and all(n.startswith("generator.") for n in differs), differs
