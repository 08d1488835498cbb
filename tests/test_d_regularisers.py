"""Regularisers: spectral normalisation of D's layers, the R1 penalty and G's mode-seeking term."""

import json
import math

import pytest
import torch
from conftest import tiny_config

from infogan import load_run
from infogan.errors import CheckpointError, SpecError
from infogan.losses import r1_penalty
from infogan.train import Trainer, train


def _sigma(weight: torch.Tensor) -> float:
    return torch.linalg.matrix_norm(weight.detach().flatten(1), ord=2).item()


def test_spectral_norm_bounds_d_layers_and_leaves_q_head(tiny_dataset):
    tr = Trainer(tiny_config(spectral_norm=True), "unused", dataset=tiny_dataset)
    for s in range(3):  # power iterations run in training forwards
        tr.train_step(s)
    nets = tr.nets
    # the effective weights D uses have largest singular value ~1 (one power step per forward)
    assert _sigma(nets.d_head.weight) == pytest.approx(1.0, abs=0.05)
    assert _sigma(nets.body.fc[0].weight) == pytest.approx(1.0, abs=0.1)
    assert not hasattr(nets.q_head.net[0], "parametrizations")
    plain = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    assert _sigma(plain.nets.d_head.weight) < 0.5  # DCGAN init: far below 1, so SN did change it


def test_sn_scope_all_also_normalises_q_head_and_cr_classifier_but_not_its_output():
    from infogan.config import ModelConfig
    from infogan.nets import build_nets

    def normalised(m: torch.nn.Module) -> bool:
        return hasattr(m, "parametrizations")

    for scope, q_and_cr in (("d", False), ("all", True)):
        cfg = ModelConfig(codes="cont:3", noise_dim=2, arch="conv64s", width=0.25)
        cfg.spectral_norm, cfg.sn_scope = True, scope
        nets = build_nets(cfg, contrastive=True)
        assert normalised(nets.d_head) and normalised(nets.body.fc[0])
        q_layers = [m for m in nets.q_head.modules() if isinstance(m, torch.nn.Linear)]
        assert len(q_layers) == 2 and all(normalised(m) == q_and_cr for m in q_layers)
        cr_body, cr_out = nets.cr
        assert normalised(cr_body.conv[0]) == q_and_cr and normalised(cr_body.fc[0]) == q_and_cr
        assert not normalised(cr_out)  # InfoGAN-CR's classifier output layer has none
    with pytest.raises(SpecError, match="sn_scope"):
        ModelConfig(sn_scope="q").validate()


def test_spectral_norm_run_saves_and_loads(tiny_dataset, tmp_path):
    train(tiny_config(spectral_norm=True), tmp_path / "run", dataset=tiny_dataset)
    model = load_run(tmp_path / "run")
    assert model.cfg.model.spectral_norm
    assert model.generate(n=3).shape == (3, 1, 28, 28)
    # The same weights under a config without SN do not fit: a one-line error, not a crash.
    newest = sorted((tmp_path / "run" / "checkpoints").glob("step_*.pt"))[-1]
    state = torch.load(newest, weights_only=True)
    state["config"]["model"]["spectral_norm"] = False
    torch.save(state, tmp_path / "mismatched.pt")
    with pytest.raises(CheckpointError, match="usable model"):
        load_run(tmp_path / "mismatched.pt")


def test_r1_penalty_of_a_linear_critic_is_its_weight_norm():
    w = torch.randn(1, 6)
    x = torch.randn(5, 6, requires_grad=True)
    logits = (x @ w.T).squeeze(1)  # grad_x D(x) = w for every x
    assert r1_penalty(logits, x).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)


def test_r1_penalty_changes_d_step_only_when_on(tiny_dataset):
    def after_d_step(**kw):
        tr = Trainer(tiny_config(**kw), "unused", dataset=tiny_dataset)
        x_real = tr._batch(0)
        latent = tr._latent(0)
        x_fake = tr.nets.generator(tr.spec.assemble(latent))
        loss, _, r1 = tr.d_step(x_real, x_fake, latent)
        params = torch.cat([p.detach().flatten() for p in tr.nets.body.parameters()])
        gen_grads = [p.grad for p in tr.nets.generator.parameters()]
        return loss.item(), r1, params, gen_grads

    l0, r0, p0, _ = after_d_step()
    l1, r1, p1, g1 = after_d_step(r1_gamma=10.0)
    assert r0 is None and r1 is not None and r1.item() > 0
    assert l1 == pytest.approx(l0 + 5.0 * r1.item(), rel=1e-4)
    assert not torch.equal(p0, p1)  # the penalty's gradient reached D's parameters
    assert all(g is None for g in g1)  # and nothing reached G


def test_negative_r1_is_refused():
    with pytest.raises(SpecError, match="r1_gamma"):
        tiny_config(r1_gamma=-1.0).validate()


def test_mode_seeking_known_answers():
    from infogan.losses import mode_seeking

    x1, x2 = torch.zeros(4, 1, 2, 2), torch.full((4, 1, 2, 2), 0.5)
    z1, z2 = torch.zeros(4, 3), torch.ones(4, 3)
    loss, ratio = mode_seeking(x1, x2, z1, z2)
    assert ratio.item() == pytest.approx(0.5) and loss.item() == pytest.approx(1 / (0.5 + 1e-5))
    # a generator that ignores z: the same image for both noises, the largest loss
    loss, ratio = mode_seeking(x1, x1.clone(), z1, z2)
    assert ratio.item() == 0 and loss.item() == pytest.approx(1e5)


def test_lambda_ms_trains_logs_its_ratio_and_needs_noise(tiny_dataset, tmp_path):
    from dataclasses import replace

    cfg = tiny_config(lambda_ms=1.0)
    tr = Trainer(cfg, "unused", dataset=tiny_dataset)
    assert "z_ms" in tr.sample_inputs(0) and "z_ms" not in Trainer(
        tiny_config(), "unused", dataset=tiny_dataset
    ).sample_inputs(0)
    stats = tr.train_step(0)
    assert math.isfinite(float(stats["ms_ratio"])) and float(stats["ms_ratio"]) > 0
    # the term reaches G: one step from the same start moves G otherwise than without it
    plain = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    plain.train_step(0)
    g_ms = torch.cat([p.flatten() for p in tr.nets.generator.parameters()])
    g_plain = torch.cat([p.flatten() for p in plain.nets.generator.parameters()])
    assert not torch.allclose(g_ms, g_plain)
    train(cfg, tmp_path / "run", dataset=tiny_dataset)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["ms_ratio"]) for r in rows)
    with pytest.raises(SpecError, match="lambda_ms: needs noise z"):
        no_z = replace(cfg, model=replace(cfg.model, noise_dim=0))
        no_z.validate()
    with pytest.raises(SpecError, match="lambda_ms: must be >= 0"):
        replace(cfg, lambda_ms=-1.0).validate()
