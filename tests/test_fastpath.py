"""The fast path computes what the plain path computes.

On CPU: the pieces of the graphed stepper that can run without CUDA (the warm-up snapshot and
in-place restore, the shared step body and statistics). With CUDA: graphed vs eager over 100 steps.
"""

import pytest
import torch
from conftest import tiny_config

from infogan.fastpath import EagerStepper, _restore, _snapshot, make_stepper
from infogan.train import Trainer


def _states_equal(a: Trainer, b: Trainer) -> bool:
    sa, sb = a.nets.state_dict(), b.nets.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_snapshot_restore_makes_warmup_invisible(tiny_dataset):
    ref = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    warm = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    saved = _snapshot(warm)
    for i in range(3):  # what GraphedStepper's warm-up does: real updates, lazy Adam state
        warm.train_step(100 + i)
    assert not _states_equal(ref, warm)
    _restore(warm, saved)
    assert _states_equal(ref, warm)
    for step in range(5):  # a fresh Adam and a restored-to-fresh Adam must step identically
        ref.train_step(step)
        warm.train_step(step)
    assert _states_equal(ref, warm)


def test_snapshot_restore_mid_run(tiny_dataset):
    # after a resume the optimiser already has state: restore must put those values back
    a = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    b = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    for step in range(2):
        a.train_step(step)
        b.train_step(step)
    saved = _snapshot(b)
    for i in range(3):
        b.train_step(50 + i)
    _restore(b, saved)
    for step in range(2, 6):
        a.train_step(step)
        b.train_step(step)
    assert _states_equal(a, b)


def test_cpu_uses_eager_stepper_and_stats_match(tiny_dataset):
    tr = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    stepper = make_stepper(tr)
    assert type(stepper) is EagerStepper
    ref = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    stats = [ref.train_step(s) for s in range(4)]
    for s in range(4):
        stepper.step(s)
    mean, count = stepper.read()
    assert count == 4
    assert mean["d_loss"] == pytest.approx(sum(x["d_loss"].item() for x in stats) / 4, rel=1e-6)


def test_graphed_stepper_code_path_on_cpu(tiny_dataset):
    # The graphed stepper with a stand-in "capture" that records the body without running it and
    # replays it eagerly: warm-up, in-place restore, static buffers, in-graph statistics and the
    # CR weight plumbing all run exactly as on CUDA, and must reproduce the eager run bit for bit.
    from infogan.fastpath import GraphedStepper

    cfg = tiny_config(
        cr_weight=1.0,
        cr_start=2,
        lambda_real=0.5,
        instance_noise=0.3,
        r1_gamma=1.0,
        spectral_norm=True,
        ema_decay=0.9,
        lambda_cont_start=1,
        lambda_cont_ramp=2,
        d_translate=2,
        g_steps=2,
    )
    eager = Trainer(cfg, "unused", dataset=tiny_dataset)
    graphed = Trainer(cfg, "unused", dataset=tiny_dataset)
    se = EagerStepper(eager)
    captures = []

    def capture(fn, device):
        captures.append(graphed._cr_live)
        return fn

    sg = GraphedStepper(graphed, capture=capture)
    for s in range(2):  # before cr_start: no CR work, so no CR statistics either
        se.step(s)
        sg.step(s)
    me, mg = se.read()[0], sg.read()[0]
    assert me == mg and "cr_loss" not in mg and "real_mi" in me and "r1" in me
    for s in range(2, 5):  # from cr_start: the body captured again, with the CR work
        se.step(s)
        sg.step(s)
    assert captures == [False, True]
    assert _states_equal(eager, graphed)
    me, mg = se.read()[0], sg.read()[0]
    assert me == mg and "cr_loss" in mg


def _cuda_loss_rows(cfg, dataset, steps: int = 100):
    """The stepper ``cfg`` trains with, and its logged losses (D, G, L_I per code) of every one
    of ``steps`` steps, ``[steps, 2 + n_codes]`` float64."""
    tr = Trainer(cfg, "unused", dataset=dataset)
    # the same convolution algorithms in every run (benchmark mode may time its way to
    # different ones), so that a difference is the fast path's, not cuDNN's choice
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    stepper = make_stepper(tr)
    rows = []
    for s in range(steps):
        stepper.step(s)
        r = stepper.read()[0]
        rows.append([r["d_loss"], r["g_loss"], *r["mi"]])
    return stepper, torch.tensor(rows, dtype=torch.float64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    "precision, regularised", [("fp32", False), ("bf16", False), ("fp32", True)]
)
def test_graphed_matches_eager_on_cuda(tiny_dataset, precision, regularised):
    """The paper's networks (full width, batch 64), 100 steps from one seed: every logged loss of
    the graphed run equals the eager run's to within 1e-3 relative (fp32; bf16 autocast 2e-2).
    ``regularised``: with spectral norm, R1 (a double backward), the EMA generator,
    DiffAugment translation, two G updates per step and InfoGAN-CR from step 50 (the graph
    captured again there) too."""
    from infogan.config import ModelConfig
    from infogan.fastpath import GraphedStepper

    extra = {}
    if regularised:
        extra = dict(r1_gamma=1.0, ema_decay=0.999, d_translate=2, g_steps=2)
        extra.update(cr_weight=1.0, cr_start=50)
    stats = {}
    for graph in ("off", "on"):
        cfg = tiny_config(
            model=ModelConfig(spectral_norm=regularised),
            device="cuda",
            graph=graph,
            batch=64,
            precision=precision,
            **extra,
        )
        stepper, stats[graph] = _cuda_loss_rows(cfg, tiny_dataset)
        assert isinstance(stepper, GraphedStepper) == (graph == "on")
    # same kernels in the same order; only fused-kernel scheduling may differ in the last bits,
    # and 100 steps of GAN dynamics amplify those a little
    rtol = 1e-3 if precision == "fp32" else 2e-2
    diff = (stats["off"] - stats["on"]).abs().max().item()
    torch.backends.cudnn.deterministic = False
    print(f"max |eager - graphed| over 100 steps ({precision}): {diff:.3g}")
    assert torch.isfinite(stats["on"]).all()
    assert torch.allclose(stats["off"], stats["on"], rtol=rtol, atol=rtol / 10), diff


def test_compile_routes_every_step_through_the_compiled_body(tiny_dataset, monkeypatch):
    """``compile=True``: both steppers run what torch.compile returned (a stand-in here, so
    that this stays fast; the real compiler is checked by the slow test below)."""
    from infogan.fastpath import GraphedStepper

    calls = []

    def fake_compile(fn):
        def compiled(inputs):
            calls.append(1)
            return fn(inputs)

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    tr = Trainer(tiny_config(compile=True), "unused", dataset=tiny_dataset)
    ref = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    assert tr.step_fn is not tr.step_body and ref.step_fn == ref.step_body
    EagerStepper(tr).step(0)
    ref.train_step(0)
    assert len(calls) == 1 and _states_equal(tr, ref)
    GraphedStepper(tr, warmup=1, capture=lambda fn, device: fn).step(1)
    assert len(calls) == 3  # one warm-up, one replay


@pytest.mark.slow
def test_compiled_step_matches_eager_on_cpu(tiny_dataset):
    """torch.compile (inductor, CPU) of the whole step body, CR switched on at step 3 (a
    recompile): the same losses as eager to 1e-4 relative for 6 steps. ~1-2 min of compiling."""
    cfg = dict(cr_weight=1.0, cr_start=3, g_steps=2, spectral_norm=True)
    eager = Trainer(tiny_config(**cfg), "unused", dataset=tiny_dataset)
    comp = Trainer(tiny_config(compile=True, **cfg), "unused", dataset=tiny_dataset)
    for step in range(6):
        a, b = eager.train_step(step), comp.train_step(step)
        assert set(a) == set(b)
        for k in a:
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=f"{k}, step {step}")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compiled_graphed_matches_eager_on_cuda(tiny_dataset):
    """torch.compile, then captured in a CUDA graph (``--compile`` on a GPU): the paper's
    networks at batch 64, 100 steps from one seed, losses as the eager run's to 1e-3."""
    from infogan.config import ModelConfig

    stats = {}
    for mode in ("eager", "compile+graph"):
        fast = mode != "eager"
        cfg = tiny_config(
            model=ModelConfig(),
            device="cuda",
            batch=64,
            graph="on" if fast else "off",
            compile=fast,
        )
        stats[mode] = _cuda_loss_rows(cfg, tiny_dataset)[1]
    torch.backends.cudnn.deterministic = False
    diff = (stats["eager"] - stats["compile+graph"]).abs().max().item()
    print(f"max |eager - compiled+graphed| over 100 steps: {diff:.3g}")
    assert torch.allclose(stats["eager"], stats["compile+graph"], rtol=1e-3, atol=1e-4), diff
