"""The training step and loop. Owns optimisers, parameter routing, checkpoints and logging.

Parameter routing (the one place that says which loss updates what; ``test_routing.py`` checks it):

==========================  ===========================================  ======================
loss term                   reaches (``backward(inputs=...)``)           optimiser
==========================  ===========================================  ======================
D's GAN loss                body + D head                                ``opt_d`` (lr_d)
G's GAN loss                generator                                    ``opt_g`` (lr_g)
info loss, G step           generator + Q head                           ``opt_g`` (lr_g)
info loss, D step (opt-in)  body (+ D head gets none: it is not in it)   ``opt_d`` (lr_d)
``q_head_step="d"``         moves the Q head from G's step to D's: the   ``opt_d`` (lr_d)
                            D-step info loss trains it, G's does not
real-image info (opt-in)    Q head (body features of the real batch      ``opt_g`` (lr_g)
                            are detached)
R1 penalty (opt-in)         body + D head (with D's GAN loss)            ``opt_d`` (lr_d)
CR classifier's loss        the pair classifier (pairs detached)         ``opt_cr`` (lr_cr)
CR term in G's loss         generator (through the frozen classifier)    ``opt_g`` (lr_g)
==========================  ===========================================  ======================

Gradients are only accumulated into the parameters a term is meant to update (``inputs=``), so G's
adversarial loss cannot leak into D through a shared body and Q's loss reaches the body only when
``info_in_d_step`` asks for it. In the paper Q is "trained with G" (appendix C: Q's head uses G's
learning rate); DESIGN.md section 4 measured both body routings, and head-only had the better median.

Randomness is counter-based: the latent draws of step ``t`` come from a generator seeded with
``(seed, t)`` and the data order of epoch ``e`` from ``(seed, e)``. So a resumed run draws exactly
what an uninterrupted one would, and resuming needs no RNG bookkeeping beyond the step counter
(torch's global RNG state is saved and restored too, for anything outside the library).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

import numpy as np
import torch

from infogan import archs, tblog
from infogan import checkpoint as ckpt
from infogan.atomic import atomic_write_bytes
from infogan.augment import translate
from infogan.config import ARCHES, EXECUTION_FIELDS, TrainConfig, recipe_differences
from infogan.data import ImageDataset, to_float
from infogan.data.npz import ARRAY_NAME
from infogan.devices import resolve_device
from infogan.distributed import (
    Group,
    any_process,
    average_gradients,
    mean_over_processes,
    mean_stats,
    shard,
    sync_batch_norm,
)
from infogan.errors import CheckpointError, SpecError, TrainingError, as_path, brief
from infogan.fastpath import EagerStepper, make_stepper
from infogan.latent import Latent, LatentSpec
from infogan.losses import (
    code_log_q,
    code_weights,
    cr_loss,
    d_adversarial,
    g_adversarial,
    info_loss,
    mode_seeking,
    r1_penalty,
    real_code_information,
)
from infogan.model import InfoGAN, first_non_finite
from infogan.nets import InfoGANNets, build_nets, check_channels_last
from infogan.prepare import check_machine, check_new_run_dir, prepare
from infogan.progress import Progress
from infogan.runinfo import report_problem
from infogan.runlock import run_lock

__all__ = [
    "Trainer",
    "TrainResult",
    "train",
    "run_one",
    "resolve_device",
    "param_groups",
    "wants_channels_last",
]

log = logging.getLogger("infogan")
_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: spreads (seed, counter) pairs apart
_STOP_EVERY = 10  # data-parallel runs agree on stopping every this many steps


def _seeded(seed: int, counter: int, stream: int, device: torch.device) -> torch.Generator:
    """The generator of draw ``stream`` (data order, latents, CR pairs, ...) at ``counter``
    (a step or an epoch) of run ``seed``. The counter's multiplier, a prime above any stream
    number, keeps (counter, stream) pairs from colliding within one seed."""
    g = torch.Generator(device=device)
    g.manual_seed((seed * _MIX + counter * 1_000_003 + stream) % (2**63 - 1))
    return g


def param_groups(nets: InfoGANNets, q_head_step: str = "g") -> dict[str, list[torch.nn.Parameter]]:
    """The parameter sets of the routing table above.

    ``d``: body + D head (updated by ``opt_d``). ``g``: generator + Q head (updated by ``opt_g``).
    With ``q_head_step="d"`` the Q head is in ``d`` instead (InfoGAN-CR's routing: its Q head is
    part of the discriminator and its optimiser).
    ``body``: the shared body alone (what the opt-in D-step info loss reaches).
    ``cr``: InfoGAN-CR's pair classifier (updated by ``opt_cr``), empty when it is off.
    """
    q = list(nets.q_head.parameters())
    return {
        "d": [
            *nets.body.parameters(),
            *nets.d_head.parameters(),
            *(q if q_head_step == "d" else []),
        ],
        "g": [*nets.generator.parameters(), *(q if q_head_step == "g" else [])],
        "body": list(nets.body.parameters()),
        "cr": list(nets.cr.parameters()) if nets.cr is not None else [],
    }


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run's folder.
        step: the step it ended at.
        seconds: wall time of the training loop of this call's last leg: with candidates, the
            winner's continuation only (not the candidates, the choice or the evaluation).
        report: what ``report.json`` holds.
    """

    run_dir: Path
    step: int
    seconds: float
    report: dict[str, Any]


class CRPair(NamedTuple):
    """One step's InfoGAN-CR pairs, as :meth:`Trainer.cr_step` leaves them for G's step."""

    x1: torch.Tensor
    """G's first image of each pair, with its graph to G."""
    x2: torch.Tensor
    """G's second image of each pair, with its graph to G."""
    k: torch.Tensor
    """Index of the code each pair shares."""
    loss: torch.Tensor
    """The classifier's loss on the detached pairs (detached)."""
    acc: torch.Tensor
    """The classifier's accuracy on them."""


class Trainer:
    """One InfoGAN training run in ``run_dir``.

    Use :func:`train` unless you need the pieces: ``Trainer(cfg, run_dir).run()``.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: str | Path,
        dataset: ImageDataset | None = None,
        resume: bool = False,
        group: Group | None = None,
    ) -> None:
        """``group``: this process's place in a data-parallel run (``cfg.ddp`` > 1), as
        :func:`infogan.distributed.launch` makes it; None trains in this one process."""
        cfg.validate()
        self.run_dir = Path(run_dir)
        self.group = group if group is not None and group.world > 1 else None
        # Rank 0 (or the only process) writes the run's files.
        self.leader = self.group is None or self.group.leader
        if cfg.tensorboard and self.leader:
            tblog.require()
            tblog.check_dir(self.run_dir)
        self.device = resolve_device(cfg.device)
        _check_device_fits(cfg, self.device)
        self.spec: LatentSpec = cfg.latent()
        # The evaluation data is read now too: a wrong path should fail before training, not
        # after it.
        self.cfg, self.dataset, self.eval_dataset = prepare(cfg, dataset)
        self._data_fingerprint = self.dataset.fingerprint()
        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # weight init draws from the global RNG
        self.contrastive = cfg.cr_weight > 0
        self.nets = build_nets(cfg.model, contrastive=self.contrastive, ema=cfg.ema_decay > 0).to(
            self.device
        )
        if self.group is not None:
            # Whole-batch statistics in every batch-norm layer: same state-dict keys, so the
            # checkpoints are ordinary ones.
            sync_batch_norm(self.nets)
        if wants_channels_last(cfg.memory_format, self.device, cfg.model.arch):
            # Before the optimisers exist, so their state is made in the same layout.
            # (torch 2.13's stubs lack Module.to's memory_format, which it has taken for years;
            # newer stubs have it, hence unused-ignore.)
            self.nets.to(memory_format=torch.channels_last)  # type: ignore[call-overload, unused-ignore]
            if cfg.model.arch not in ARCHES:  # a user's networks, tried in that layout now
                check_channels_last(self.nets)
        groups = param_groups(self.nets, cfg.q_head_step)
        # Data-parallel steps run eagerly: their collectives are not captured in a graph.
        self.use_graph = self.group is None and _want_graph(cfg.graph, self.device)
        # What runs a step's device work: step_body itself, or its compiled form (fullgraph
        # off: the backward passes and optimiser steps split it into several compiled pieces).
        self.step_fn = self.step_body
        if cfg.compile:
            # One step_body code object serves every Trainer of a process (the candidates, the
            # bench's configurations); dynamo keeps a few compiled variants per code object and
            # beyond them silently runs it eagerly, so each compiled trainer starts afresh.
            torch._dynamo.reset()
            self.step_fn = torch.compile(self.step_body)
        _set_precision(cfg.precision, self.device, cfg.deterministic)
        # Fused Adam: one pass over each parameter instead of a dozen elementwise ops per tensor
        # (on a 2-core CPU the unfused update was 16 % of a step); on CUDA also capturable, so
        # its step counter lives on the GPU, as a CUDA graph needs.
        opt_kw: dict[str, Any] = {"betas": (cfg.beta1, cfg.beta2), "fused": True}
        if self.device.type == "cuda":
            opt_kw["capturable"] = self.use_graph
        self.opt_d = torch.optim.Adam(groups["d"], lr=cfg.lr_d, **opt_kw)
        self.opt_g = torch.optim.Adam(groups["g"], lr=cfg.lr_g, **opt_kw)
        self.opt_cr = (
            torch.optim.Adam(groups["cr"], lr=cfg.lr_cr, **opt_kw) if self.contrastive else None
        )
        # The CR weight lives on the device so that switching it on at cr_start needs no new
        # CUDA graph: the captured step reads it like any other input.
        self._cr_coef = torch.zeros((), device=self.device)
        # Whether the step body runs the CR work (see cr_live); set per step by train_step and
        # per captured graph by the graphed stepper.
        self._cr_live = self.cr_live(0)
        # Likewise the instance-noise std of the current step (a schedule, so a tensor).
        self._noise_std = torch.zeros((), device=self.device)
        self._ema_weight = torch.zeros((), device=self.device)  # 1 - decay of this step
        self._groups = groups
        self.weights = code_weights(self.spec, cfg.lambda_cat, cfg.lambda_cont).to(self.device)
        if cfg.lambda_cont_start or cfg.lambda_cont_ramp:  # parts of the scheduled weights
            self._cat_weights = code_weights(self.spec, cfg.lambda_cat, 0.0).to(self.device)
            self._cont_mask = code_weights(self.spec, 0.0, 1.0).to(self.device)
        # H(c) per code, made once: L_I = E[log q] + H(c) (a per-step host->device copy would
        # stall the GPU and cannot be captured in a CUDA graph).
        self._entropies = torch.tensor(self.spec.entropies, device=self.device)
        self.images = self.dataset.images.to(self.device)  # uint8, resident: no loader per step
        self.step_count = 0
        self._perm_epoch = -1  # no epoch's order drawn yet: the first batch draws one
        self._perm = torch.empty(0, dtype=torch.long, device=self.device)
        # The loop's stepper (its pending statistics go into checkpoints), and those a resumed
        # checkpoint brought back for it.
        self._stepper: EagerStepper | None = None
        self._restored_log: dict[str, Any] | None = None
        self._checkpoint_config: TrainConfig | None = None  # the recipe a restored step ran
        # Seconds of training before this process's loop (a resumed checkpoint's), and when the
        # loop started: metrics.jsonl's wall_s counts the run's training time across resumes,
        # not each process's from 0 (curves against time jumped back at every resume).
        self._wall_before = 0.0
        self._loop_t0: float | None = None
        if resume and self._stopped_before_first_checkpoint():
            # Killed (OOM, power, kill -9) before its first checkpoint: nothing to restore, and
            # the run's config is there, so "resume" means start it again, as a user expects
            # (it was refused, and so was a new run in the same folder).
            log.info("no checkpoint in %s yet: training it from step 0", self.run_dir)
        elif resume:
            self._restore()
            if self.step_count > cfg.steps:
                raise SpecError(
                    f"resume: {self.run_dir} is at step {self.step_count}, past --steps "
                    f"{cfg.steps}; give --steps {self.step_count} or more (nothing was changed)"
                )
        if cfg.instance_noise > 0 and not cfg.instance_noise_end:
            # Instance noise anneals to 0 over the run's length as first planned, resolved once
            # and saved in config.json: a resume that extends the run (--steps N) must not
            # raise the noise again part-way through an annealing already done.
            self.cfg = cfg = replace(cfg, instance_noise_end=self._planned_noise_end(cfg))
        self.model = InfoGAN(self.nets, cfg, device=self.device)  # inference view for samples

    # ---- data -----------------------------------------------------------------------------
    def _batch_u8(self, step: int) -> torch.Tensor:
        """Real images (uint8) of step ``step``: epoch-wise shuffling, last partial batch dropped."""
        n = len(self.images)
        per_epoch = n // self.cfg.batch
        epoch, pos = divmod(step, per_epoch)
        if epoch != self._perm_epoch:
            g = _seeded(self.cfg.seed, epoch, 1, torch.device("cpu"))
            self._perm = torch.randperm(n, generator=g).to(self.device)
            self._perm_epoch = epoch
        idx = self._perm[pos * self.cfg.batch : (pos + 1) * self.cfg.batch]
        return self.images[idx]  # [B, C, H, W] uint8

    def _batch(self, step: int) -> torch.Tensor:
        """Real images of step ``step`` in [-1, 1]."""
        return to_float(self._batch_u8(step))

    def _latent(self, step: int) -> Latent:
        g = _seeded(self.cfg.seed, step, 2, self.device)
        return self.spec.sample(self.cfg.batch, generator=g, device=self.device)

    # ---- one step ---------------------------------------------------------------------------
    def sample_inputs(self, step: int) -> dict[str, torch.Tensor]:
        """All the randomness of step ``step``, as a flat dict of tensors with static shapes:
        the real batch ``x`` (uint8), the latent ``z, cat, cont`` and, with InfoGAN-CR, a pair of
        latents ``*_1, *_2`` sharing the code ``k`` (one per row) and, with ``cr_share_noise``,
        the noise ``z``."""
        lat = self._latent(step)
        out = {"x": self._batch_u8(step), "z": lat.z, "cat": lat.cat, "cont": lat.cont}
        if self.contrastive:
            g = _seeded(self.cfg.seed, step, 3, self.device)
            a = self.spec.sample(self.cfg.batch, generator=g, device=self.device)
            b = self.spec.sample(self.cfg.batch, generator=g, device=self.device)
            k = torch.randint(
                len(self.spec.codes), (self.cfg.batch,), generator=g, device=self.device
            )
            for i in range(len(self.spec.codes)):  # row r of b copies code k[r] from a
                kind, j = self.spec.slot(i)
                part_a, part_b = (a.cat, b.cat) if kind == "cat" else (a.cont, b.cont)
                part_b[:, j] = torch.where(k == i, part_a[:, j], part_b[:, j])
            # InfoGAN-CR's released code draws the pair's noise once for both images (its
            # sample_cr), so that the pair differs only in the codes other than k.
            z_2 = a.z if self.cfg.cr_share_noise else b.z
            out.update(
                z_1=a.z, cat_1=a.cat, cont_1=a.cont, z_2=z_2, cat_2=b.cat, cont_2=b.cont, k=k
            )
        if self.cfg.lambda_ms > 0:  # mode seeking: a second noise for the batch's own codes
            g = _seeded(self.cfg.seed, step, 6, self.device)
            out["z_ms"] = self.spec.sample(self.cfg.batch, generator=g, device=self.device).z
        if self.cfg.d_translate > 0:  # one (dy, dx) per D/Q input image: real, fake, G-step fake
            g = _seeded(self.cfg.seed, step, 5, self.device)
            s = self.cfg.d_translate
            out["shift"] = torch.randint(
                -s, s + 1, (3 * self.cfg.batch, 2), generator=g, device=self.device
            )
        if self.cfg.instance_noise > 0:  # one noise image per D/Q input: real, fake, G-step fake
            g = _seeded(self.cfg.seed, step, 4, self.device)
            shape = (3 * self.cfg.batch, *self.images.shape[1:])
            out["eps"] = torch.randn(shape, generator=g, device=self.device)
        if self.group is not None:  # drawn for the whole batch; this process keeps its rows
            out = shard(out, self.cfg.batch, self.group)
        return out

    def cr_live(self, step: int) -> bool:
        """Whether step ``step`` runs InfoGAN-CR's work (the classifier's update, the pairs in
        G's step): with the regulariser on, from ``cr_start`` (from step 0 with
        ``cr_pretrain``). A Python bool: the step body's shape, fixed in a captured graph."""
        return self.contrastive and (self.cfg.cr_pretrain or step >= self.cfg.cr_start)

    def set_schedules(self, step: int) -> None:
        """Write step ``step``'s scheduled coefficients (CR weight, instance-noise std,
        continuous codes' lambda, EMA weight) into the
        device scalars the step body reads (so a captured CUDA graph sees them change)."""
        cfg = self.cfg
        self._cr_coef.fill_(cfg.cr_weight if step >= cfg.cr_start else 0.0)
        if cfg.instance_noise > 0:
            end = cfg.instance_noise_end or cfg.steps
            self._noise_std.fill_(cfg.instance_noise * max(0.0, 1.0 - step / max(end, 1)))
        if cfg.lambda_cont_start or cfg.lambda_cont_ramp:
            rise = (step - cfg.lambda_cont_start + 1) / max(cfg.lambda_cont_ramp, 1)
            lam = cfg.lambda_cont * min(1.0, max(0.0, rise))
            # On the device, from a mask made once: no host-to-device copy per step.
            self.weights.copy_(self._cat_weights).add_(self._cont_mask, alpha=lam)
        if cfg.ema_decay > 0:
            # Warm-up (as in TensorFlow's ExponentialMovingAverage with num_updates): early on
            # the average follows G closely instead of dragging in the random init for ~1/(1-d)
            # steps.
            self._ema_weight.fill_(1.0 - min(cfg.ema_decay, (1 + step) / (10 + step)))

    def step_body(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One D update, one CR-classifier update (if on), one G/Q update (Chen et al. 2016,
        eq. 5; Lin et al. 2020, eq. 4) on given inputs.

        Pure device work with static shapes: the fast path captures exactly this in a CUDA graph.
        """
        latent = Latent(inputs["z"], inputs["cat"], inputs["cont"])
        with self._autocast():
            x_real = to_float(inputs["x"])  # [B, C, H, W] in [-1, 1]
            # 1. c ~ p(c), z ~ p(z) were drawn by sample_inputs; generate x = G(z, c).
            x_fake = self.nets.generator(self.spec.assemble(latent))
            x_fake_g = self._g_view(x_fake, inputs)
            # On G's own images, before any shift or noise: the term asks G, not D's view.
            ms_loss, ms_ratio = self._mode_seeking(x_fake, latent, inputs)
            if "shift" in inputs:  # DiffAugment: D and Q read shifted images, real and fake
                s, shifts = self.cfg.d_translate, inputs["shift"].chunk(3)
                x_real = translate(x_real, shifts[0], s)
                # D's copy is detached by d_step anyway; detaching first keeps its shift off
                # the autograd graph.
                x_fake = translate(x_fake.detach(), shifts[1], s)
            noise = None
            if "eps" in inputs:  # instance noise: D and Q read x + std * eps, real and fake
                noise = (self._noise_std * inputs["eps"]).chunk(3)
            loss_d, real_features, r1 = self.d_step(x_real, x_fake, latent, noise)
            pair = self.cr_step(inputs) if self._cr_live else None
            g_noise = None if noise is None else noise[2]
            loss_adv, log_q, real_info = self.g_step(
                x_fake_g, latent, pair, real_features, g_noise, ms_loss
            )
            for _ in range(self.cfg.g_steps - 1):
                # More G/Q updates on the same inputs (InfoGAN-CR's code runs its G update
                # twice per step): G's images, shifts and CR pairs recomputed with G's new
                # weights; D and the CR classifier stay as they are. Statistics: the first.
                x_new = self.nets.generator(self.spec.assemble(latent))
                x_g = self._g_view(x_new, inputs)
                more = None
                if pair is not None:
                    more = (*self.cr_pair(inputs), inputs["k"])
                ms_more = self._mode_seeking(x_new, latent, inputs)[0]
                self.g_step(x_g, latent, more, real_features, g_noise, ms_more)
        if self.nets.generator_ema is not None:
            self.nets.update_ema(self._ema_weight)
        stats = {"d_loss": loss_d, "g_loss": loss_adv, "mi": log_q.float() + self._entropies}
        if r1 is not None:
            stats["r1"] = r1
        if real_info is not None:
            stats["real_mi"] = real_info.sum()  # nats, all categorical codes together
        if ms_ratio is not None:
            stats["ms_ratio"] = ms_ratio
        if pair is not None:
            stats["cr_loss"], stats["cr_acc"] = pair.loss, pair.acc
        return stats

    def _mode_seeking(
        self, x_fake: torch.Tensor, latent: Latent, inputs: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """MSGAN's term for G's images ``x_fake`` of ``latent``: ``(lambda_ms * loss, ratio
        (detached))`` against G's images of the same codes with the step's second noise;
        ``(None, None)`` when off."""
        if "z_ms" not in inputs:
            return None, None
        z2 = inputs["z_ms"]
        x2 = self.nets.generator(self.spec.assemble(Latent(z2, latent.cat, latent.cont)))
        loss, ratio = mode_seeking(x_fake, x2, latent.z, z2)
        return self.cfg.lambda_ms * loss, ratio.detach()

    def _g_view(self, x_fake: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """G's images as the G/Q step's D and Q read them: with DiffAugment, shifted by the
        step's third set of shifts (differentiably, so G gets D's gradient)."""
        if "shift" not in inputs:
            return x_fake
        return translate(x_fake, inputs["shift"].chunk(3)[2], self.cfg.d_translate)

    def train_step(self, step: int) -> dict[str, torch.Tensor]:
        """Draw step ``step``'s inputs and run :meth:`step_body` (compiled if ``compile``)
        eagerly. Returns detached stats."""
        self.set_schedules(step)
        self._cr_live = self.cr_live(step)
        return self.step_fn(self.sample_inputs(step))

    def _autocast(self) -> contextlib.AbstractContextManager[None]:
        if self.cfg.precision == "bf16":
            # No weight-cast cache: a CUDA graph must re-cast the (updated) weights every replay.
            return torch.autocast(self.device.type, dtype=torch.bfloat16, cache_enabled=False)
        return contextlib.nullcontext()

    def d_step(
        self,
        x_real: torch.Tensor,
        x_fake: torch.Tensor,
        latent: Latent,
        noise: tuple[torch.Tensor, ...] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """2. D step: max_D V(D, G) on real vs fake (+ R1 on real); fakes detached so nothing
        reaches G.

        Returns D's loss, the body's features of the real batch (detached), which the
        real-image info term of the G/Q step reads instead of running the body again, and the
        R1 penalty (detached; None when ``r1_gamma`` is 0).
        """
        nets = self.nets
        self.opt_d.zero_grad(set_to_none=True)
        # Real and fake in one stacked pass, batch norm still per batch (real first, as two
        # passes would run): the same function as two passes, with 2x-taller matmuls.
        x_fake = x_fake.detach()
        if noise is not None:
            x_real, x_fake = x_real + noise[0], x_fake + noise[1]
        r1 = self.cfg.r1_gamma > 0
        if r1:  # the penalty differentiates D's real logits by the images D read
            x_real = x_real.detach().requires_grad_(True)
        features = nets.body(torch.cat([x_real, x_fake]), 2)
        d_real, d_fake = nets.d_head(features).squeeze(1).chunk(2)
        loss_d = d_adversarial(d_real, d_fake)
        penalty = None
        if r1:
            penalty = r1_penalty(d_real, x_real)
            loss_d = loss_d + 0.5 * self.cfg.r1_gamma * penalty
        if self.cfg.info_in_d_step:
            # Opt-in: Q's loss also shapes the shared body (the original code's routing).
            log_q_d = code_log_q(nets.recognise(x_fake), latent, self.spec)
            loss_d = loss_d + info_loss(log_q_d, self.weights)
        # inputs=: only the body and D head accumulate gradients from this loss.
        loss_d.backward(inputs=self._groups["d"])
        self._average(self._groups["d"])
        self.opt_d.step()
        real_features = features[: len(x_real)].detach()
        return loss_d.detach(), real_features, None if penalty is None else penalty.detach()

    def cr_pair(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """G's two images of each InfoGAN-CR pair (with their graph to G)."""
        nets = self.nets
        x1 = nets.generator(
            self.spec.assemble(Latent(inputs["z_1"], inputs["cat_1"], inputs["cont_1"]))
        )
        x2 = nets.generator(
            self.spec.assemble(Latent(inputs["z_2"], inputs["cat_2"], inputs["cont_2"]))
        )
        return x1, x2

    def cr_step(self, inputs: dict[str, torch.Tensor]) -> CRPair:
        """2b. InfoGAN-CR: train the pair classifier to tell which code a pair of fakes shares.

        Returns the pair images (with their graph to G, for the G step), the shared-code labels,
        and the classifier's loss and accuracy on the detached pair.
        """
        nets, k = self.nets, inputs["k"]
        x1, x2 = self.cr_pair(inputs)
        opt = self.opt_cr
        assert opt is not None, "built with InfoGAN-CR (cr_weight > 0)"
        opt.zero_grad(set_to_none=True)
        logits = nets.pair_logits(x1.detach(), x2.detach())
        loss = cr_loss(logits, k)
        # inputs=: the classifier's own loss updates the classifier only.
        loss.backward(inputs=self._groups["cr"])
        self._average(self._groups["cr"])
        opt.step()
        acc = (logits.detach().argmax(1) == k).float().mean()
        return CRPair(x1, x2, k, loss.detach(), acc)

    def g_step(
        self,
        x_fake: torch.Tensor,
        latent: Latent,
        pair: tuple[torch.Tensor, ...] | None = None,
        real_features: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        ms_loss: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """3. G/Q step: min_{G,Q} V(D, G) - lambda L_I(G, Q) (+ alpha L_CR), through the freshly
        updated D (and CR classifier); with ``lambda_real`` > 0 also
        ``- lambda_real * I(x_real; c)`` under Q's head on the real batch's features, and with
        ``ms_loss`` (``lambda_ms`` > 0) MSGAN's weighted mode-seeking term, made by
        :meth:`_mode_seeking` on G's unshifted images (its second pass of G in training mode
        moves G's batch-norm running statistics too: two batches a step instead of one).

        Returns G's adversarial loss, log q(c | x) per code (both detached) and the real-image
        information per categorical code (detached; None when off)."""
        nets = self.nets
        self.opt_g.zero_grad(set_to_none=True)
        features = nets.body(x_fake if noise is None else x_fake + noise)
        loss_adv = g_adversarial(nets.d_head(features).squeeze(1))
        log_q = code_log_q(nets.q_head(features), latent, self.spec)
        loss_g = loss_adv + info_loss(log_q, self.weights)
        if ms_loss is not None:  # lambda_ms / (r + eps), weighted in _mode_seeking
            loss_g = loss_g + ms_loss
        if pair is not None:
            # G cooperates with the classifier: pairs sharing code k should be recognisably so.
            x1, x2, k = pair[:3]
            loss_g = loss_g + self._cr_coef * cr_loss(nets.pair_logits(x1, x2), k)
        real_info = None
        if self.cfg.lambda_real > 0 and real_features is not None:
            # Q is trained on G's images only; this asks its head to read the real images the
            # way the prior says codes are used: each confidently, all classes evenly. The
            # features are detached, so only the Q head learns from it (body stays D's). They
            # are the body's output from D's step, before D's update of this step: one step
            # older than the fake images' features here (at lr_d 2e-4 a small lag), and no
            # second pass of the body over the real batch.
            real_info = real_code_information(
                nets.q_head(real_features).cat_logits,
                batch_mean=mean_over_processes if self.group is not None else None,
            )
            loss_g = loss_g - self.cfg.lambda_real * real_info.sum()
            real_info = real_info.detach()
        # inputs=: G's losses flow *through* D's body and head (and the CR classifier) but only
        # G and the Q head accumulate gradients, so G's losses can never move D.
        loss_g.backward(inputs=self._groups["g"])
        self._average(self._groups["g"])
        self.opt_g.step()
        return loss_adv.detach(), log_q.detach(), real_info

    def _average(self, params: list[torch.nn.Parameter]) -> None:
        """Data-parallel: the gradients of ``params`` averaged over the processes (each one's
        are of the mean loss over its share of the batch; their mean is the whole batch's)."""
        if self.group is not None:
            average_gradients(params, self.group.world)

    # ---- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimisers, step, config, RNG."""
        return {
            "step": self.step_count,
            "config": self.cfg.to_dict(),
            "nets": self.nets.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            **({"opt_cr": self.opt_cr.state_dict()} if self.opt_cr is not None else {}),
            "torch_rng": torch.get_rng_state(),
            # A user's registered networks: what they were (nets.layout), checked on loading,
            # and the modules imported (a hint, if a later process has not imported them).
            **(
                {"layout": layout, "imports": archs.imported_modules()}
                if (layout := self.nets.layout())
                else {}
            ),
            # What it trained on, so that a resume on other data says so (the data order and
            # every epoch depend on the number of images).
            "data": {
                "name": self.dataset.name,
                "n": len(self.dataset),
                "shape": list(self.dataset.shape),
                "fingerprint": self._data_fingerprint,
            },
            # Statistics of the steps since the last logged row (a stop between two rows).
            **({"log_pending": pending} if (pending := self._log_pending()) else {}),
            "wall_s": self._wall_s(),
        }

    def _wall_s(self, now: float | None = None) -> float:
        """Seconds this run has trained, over every process that trained it."""
        if self._loop_t0 is None:
            return self._wall_before
        return self._wall_before + ((time.perf_counter() if now is None else now) - self._loop_t0)

    def _log_pending(self) -> dict[str, Any] | None:
        if self._stepper is None or self.group is not None:
            return None
        return self._stepper.pending()

    def save(self) -> Path:
        """Write a checkpoint of the current step (rank 0 of a data-parallel run only: the
        others hold the same state); returns its path."""
        path = ckpt.checkpoint_path(self.run_dir, self.step_count)
        if not self.leader:
            return path
        # Weights (or batch-norm statistics) gone non-finite between two logged rows must not
        # become the newest checkpoint (pruning would then push the last good ones out), nor
        # one that loading refuses. One sync per checkpoint.
        if first_non_finite(self.nets) is not None:
            self._fail_non_finite()
        ckpt.save_checkpoint(path, self.state())
        ckpt.prune_checkpoints(self.run_dir, self.cfg.keep_ckpts, upto=self.step_count)
        return path

    #: Fields in which a run's checkpoints may differ from its config: the winner's first
    #: checkpoint is a candidate's (one candidate, the schedule's end spelled out; its seed is
    #: the one the winner goes on with), and how the steps are executed may change between
    #: sessions (a checkpoint resumes in another memory layout, with or without CUDA graphs, at
    #: another matmul precision). The seed may not: another seed draws other data orders and
    #: latents from the checkpoint's step on, silently another run.
    _CHECKPOINT_MAY_DIFFER = (
        "candidates ",
        "select_",
        "instance_noise_end ",
        *(f"{name} " for name in sorted(EXECUTION_FIELDS)),
    )

    def _check_same_recipe(self, path: Path, theirs: TrainConfig | None) -> None:
        """Refuse a checkpoint of another recipe than the run's (a file copied in from another
        run trained silently on under this run's name), naming the fields, before its tensors
        meet the networks (whose shape errors said less)."""
        if theirs is None:
            return
        diffs = [
            d
            for d in recipe_differences(theirs, self.cfg)
            if not d.startswith(self._CHECKPOINT_MAY_DIFFER)
        ]
        if diffs:
            raise CheckpointError(
                f"checkpoint: {path} is not of this run's recipe ({self.run_dir / 'config.json'})"
                f": {'; '.join(diffs[:3])}{'; ...' if len(diffs) > 3 else ''}"
            )

    def _stopped_before_first_checkpoint(self) -> bool:
        """A run that was started here (its ``config.json`` is written first) but holds no
        checkpoint file at all; a folder whose checkpoints are damaged is not one."""
        return (self.run_dir / "config.json").is_file() and not ckpt.list_checkpoints(self.run_dir)

    def _planned_noise_end(self, cfg: TrainConfig) -> int:
        """The step instance noise reaches 0: the run's length when it was started, which a
        checkpoint of a run saved before the end was written down records as its ``steps``."""
        saved = self._checkpoint_config
        if saved is not None and saved.instance_noise > 0:
            return saved.instance_noise_end or saved.steps
        return cfg.steps

    def _restore(self) -> None:
        path, state = ckpt.latest_checkpoint(self.run_dir, map_location=self.device)
        self._checkpoint_config = _saved_config(state)
        self._check_same_recipe(path, self._checkpoint_config)
        changed = self.nets.layout_differs(state, path)
        try:
            self.nets.load_state_dict(state["nets"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.opt_g.load_state_dict(state["opt_g"])
            if self.opt_cr is not None:
                self.opt_cr.load_state_dict(state["opt_cr"])
            torch.set_rng_state(state["torch_rng"].cpu())
            self.step_count = int(state["step"])
            self._restored_log = state.get("log_pending")
            wall = state.get("wall_s", 0.0)  # absent from checkpoints written before it was
            if isinstance(wall, float) and math.isfinite(wall) and wall >= 0:
                self._wall_before = wall
            for opt in (self.opt_d, self.opt_g, self.opt_cr):
                if opt is not None:
                    _match_layout(opt)
                    _keep_own_execution_flags(opt)
        except (KeyError, RuntimeError, ValueError) as e:
            reason = brief(e)
            if changed:
                raise CheckpointError(f"resume: {changed} ({reason})") from None
            raise CheckpointError(
                f"checkpoint: {path} does not fit this config ({reason})"
            ) from None
        if changed:
            log.warning("warning: %s; its weights fit, but what they compute may differ", changed)
        # Training writes neither; a file edited by hand (or from elsewhere) would train on from
        # a step that is no step, or from weights that only turn every loss NaN.
        bad = first_non_finite(self.nets)
        if self.step_count < 0 or bad is not None:
            what = f"step {self.step_count}" if bad is None else f"non-finite values in {bad}"
            raise CheckpointError(
                f"checkpoint: {path} is damaged ({what}); remove it to go on from an earlier one"
            )
        # Neutral wording: a new run with candidates continues its winner from here too.
        log.info("continuing from %s (step %d)", path, self.step_count)
        self._warn_if_other_data(path, state.get("data"))

    def _warn_if_other_data(self, path: Path, saved: Any) -> None:
        """Say so when the resumed run reads other data than its checkpoint trained on (a
        folder whose files changed, a dataset passed from Python the first time only): it
        trains on, but no longer as the uninterrupted run would. Refused instead where the
        checkpoint trained on images passed from Python and the resume reads a dataset by
        name or path (the run's recorded ``data``, which such a run leaves as it was)."""
        if not isinstance(saved, dict):
            return  # a checkpoint from before this was recorded
        now: dict[str, Any] = {"n": len(self.dataset), "shape": list(self.dataset.shape)}
        # Checkpoints before the fingerprint was recorded are compared by count and size.
        other_images = saved.get("fingerprint", self._data_fingerprint) != self._data_fingerprint
        same_size = saved.get("n") == now["n"] and saved.get("shape") == now["shape"]
        if same_size and not other_images:
            return
        shape = "x".join(map(str, saved.get("shape") or [])) or "?"
        here = f"{now['n']} images of {'x'.join(map(str, now['shape']))}"
        if saved.get("name") == ARRAY_NAME and self.dataset.name != ARRAY_NAME:
            # Images passed from Python leave cfg.data as it was (the default mnist5k, often):
            # going on with it would train a user's model on other images.
            raise CheckpointError(
                f"resume: {path.name} trained on {saved.get('n')} images of {shape} passed from "
                f"Python, not on {self.dataset.name} ({here}); resume from Python with those "
                "images, infogan.train(cfg, run_dir, resume=True, dataset=images) (other "
                "images given that way go on with a warning)"
            )
        log.warning(
            "resume: %s trained on %s images of %s (%s); this data, %s, has %s%s: training "
            "goes on with it, no longer as the uninterrupted run would",
            path.name,
            saved.get("n"),
            shape,
            saved.get("name"),
            self.dataset.name,
            here,
            " (other images of the same count and size)" if same_size else "",
        )

    # ---- the loop ---------------------------------------------------------------------------
    def run(self, finish: bool = True) -> TrainResult:
        """Train up to ``cfg.steps``, checkpointing, logging and sampling; then write the report.

        Holds the run directory's lock (:mod:`infogan.runlock`) throughout: a second process
        training in the same directory is refused at once."""
        lead = self.leader
        if lead:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        # Data-parallel ranks are covered by the lock their launching process holds.
        with run_lock(self.run_dir) if self.group is None else contextlib.nullcontext():
            return self._run(finish)

    def _run(self, finish: bool) -> TrainResult:
        from infogan import report as report_mod

        cfg = self.cfg
        lead = self.leader
        metrics_path = self.run_dir / "metrics.jsonl"
        if lead:
            # A selected run's winner trains on under its own seed; config.json keeps the seed
            # the selection started from, the recipe `--config` re-runs (selection.json has it).
            run_seed = _selection_run_seed(self.run_dir)
            (cfg if run_seed is None else replace(cfg, seed=run_seed)).save(
                self.run_dir / "config.json"
            )
            _truncate_metrics(metrics_path, self.step_count)
        names = self.spec.names
        stepper = make_stepper(self)
        if self._restored_log and self.group is None:
            stepper.load_pending(self._restored_log)
        self._stepper = stepper
        t0 = self._loop_t0 = time.perf_counter()
        t_last, step_last = t0, self.step_count
        started_at = self.step_count
        self.nets.train()
        board = (
            tblog.TensorBoardLog(self.run_dir, self.step_count)
            if lead and cfg.tensorboard
            else None
        )
        bar = Progress(cfg.steps, self.step_count, enabled=cfg.progress and lead)
        try:
            # Unbuffered: each row reaches the file at once, and a write that fails (a full
            # disk) fails there, naming the file, with no buffer left to fail again on close.
            rows = metrics_path.open("ab", buffering=0) if lead else contextlib.nullcontext()
            with rows as mf, _GracefulStop() as stop:
                while self.step_count < cfg.steps:
                    if self._stop_agreed(stop.requested):
                        # Ctrl-C / SIGTERM: finish cleanly between steps, keep all the work done.
                        path = self.save()
                        raise KeyboardInterrupt(
                            f"stopped at step {self.step_count}; checkpoint {path}; continue "
                            f"with: infogan train --resume {shlex.quote(str(self.run_dir))}"
                        )
                    stepper.step(self.step_count)
                    self.step_count += 1
                    bar.update(1)
                    at_end = self.step_count == cfg.steps
                    if self.step_count % cfg.log_every == 0 or at_end:
                        now = time.perf_counter()
                        # A leg's end off the log_every grid (a selection point, a length
                        # extended later) gets its row without cutting the window short.
                        vals = stepper.read(keep=self.step_count % cfg.log_every != 0)[0]
                        if self.group is not None:  # each process's are of its share
                            vals = mean_stats(vals, self.device)
                        row = _row(self.step_count, vals, names)
                        row["steps_per_s"] = (self.step_count - step_last) / max(now - t_last, 1e-9)
                        row["wall_s"] = self._wall_s(now)
                        if not all(math.isfinite(v) for k, v in row.items() if k != "step"):
                            self._fail_non_finite()
                        if lead:
                            _append(mf, (json.dumps(row) + "\n").encode(), metrics_path)
                        if board is not None:
                            board.row(row)
                        bar.note(_postfix(row, names))
                        t_last, step_last = now, self.step_count
                    if lead and (self.step_count % cfg.sample_every == 0 or at_end):
                        grid = report_mod.save_sample_grid(
                            self.model, cfg.seed, self._sample_path()
                        )
                        if board is not None:
                            board.image("samples", grid, self.step_count)
                    if self.step_count % cfg.ckpt_every == 0 or at_end:
                        self.save()
                if stop.requested and self.group is None:
                    # Ctrl-C during the last step or its checkpoint: the loop ended before it
                    # looked again, and the run went on to its evaluation (or, for a candidate
                    # trained here, to the next start) as if no signal had come.
                    raise KeyboardInterrupt(
                        f"stopped at step {self.step_count}, the last; checkpoint "
                        f"{ckpt.checkpoint_path(self.run_dir, self.step_count)}; continue with: "
                        f"infogan train --resume {shlex.quote(str(self.run_dir))}"
                    )
        except Exception:
            # Out of memory at the first step, a full disk, diverged losses: with no checkpoint
            # there is nothing to resume (a resume would repeat what failed), so --out is freed
            # for the corrected command instead of being refused as "already holds a run".
            if lead and not ckpt.list_checkpoints(self.run_dir):
                (self.run_dir / "config.json").unlink(missing_ok=True)
            raise
        finally:
            bar.close()
            if board is not None:
                board.close()
        seconds = time.perf_counter() - t0
        if self.step_count == 0 or not ckpt.list_checkpoints(self.run_dir):
            self.save()  # steps=0 or a run that ended exactly on an existing checkpoint
        rep: dict[str, Any] = {}
        kept = self._report_of_step() if finish and lead and started_at == self.step_count else None
        new_eval = self.eval_dataset
        if kept is not None and new_eval is not None and new_eval.name not in kept["evaluations"]:
            # A finished run resumed with another --eval-data (which config.json now names):
            # scored on it, as the end of training scores it, so that info's "scored on" holds.
            print(
                f"{self.run_dir} is already at step {self.step_count}; scoring it on "
                f"{new_eval.name}",
                flush=True,
            )
            self.model.step = self.step_count
            rep = report_mod.score_run(self.run_dir, self.model, [self.dataset, new_eval])
        elif kept is not None:
            # Nothing trained (a resume of a finished run): keep its report, which may hold a
            # labelled evaluation `infogan evaluate` added and the labels commands read.
            print(
                f"{self.run_dir} is already at step {self.step_count}; its report is kept "
                "('infogan evaluate' scores it again)",
                flush=True,
            )
            self.model.step = self.step_count
            redrawn = report_mod.restore_artefacts(self.run_dir, self.model, kept)
            if redrawn:
                # All are redrawn together (one page, one mapping), not only the missing ones.
                print(
                    f"redrew the figures and report.html ({', '.join(redrawn)} missing)",
                    flush=True,
                )
            rep = kept
        elif finish and lead:
            self.model.step = self.step_count
            try:
                rep = report_mod.finish_run(
                    self.run_dir,
                    self.model,
                    [self.dataset, self.eval_dataset],
                    seconds,
                    wall_s=self._wall_before + seconds,
                )
            except OSError as e:
                # A full or read-only folder at the very end: the training is not lost, and the
                # bare "Operation not permitted" did not say so.
                where = e.filename or self.run_dir
                raise TrainingError(
                    f"{where}: {e.strerror or e}; all {self.step_count} steps are checkpointed: "
                    f"infogan train --resume {shlex.quote(str(self.run_dir))} writes the report "
                    "and figures once that is fixed"
                ) from None
        return TrainResult(self.run_dir, self.step_count, seconds, rep)

    def _report_of_step(self) -> dict[str, Any] | None:
        """``report.json`` if it exists, reads, holds a report (:func:`report_problem`) and is
        of this step; else None."""
        try:
            rep = json.loads((self.run_dir / "report.json").read_text())
        except (OSError, ValueError):
            return None
        if report_problem(rep) is not None or rep.get("step") != self.step_count:
            return None
        rep.setdefault("evaluations", {})
        return dict(rep)

    def _fail_non_finite(self) -> None:
        """Raise the error of a run whose losses or weights became NaN/inf, saying what is kept.

        With no checkpoint there is nothing to resume, so the run's ``config.json`` is removed
        (by :meth:`_run`, as for any error before the first checkpoint; ``metrics.jsonl`` stays,
        showing where it diverged): the same ``--out`` can be used again instead of being
        blocked as "already holds a run"."""
        kept = ckpt.list_checkpoints(self.run_dir)
        why = "try lower learning rates or another seed"
        if kept:
            raise TrainingError(
                f"train: losses or weights became non-finite by step {self.step_count}; "
                f"checkpoints up to step {kept[-1][0]} are kept ({why})"
            )
        raise TrainingError(
            f"train: losses or weights became non-finite by step {self.step_count}, before the "
            f"first checkpoint; nothing to resume, {self.run_dir} may be used again ({why})"
        )

    def _stop_agreed(self, requested: bool) -> bool:
        """Whether to stop before this step. Data-parallel processes must stop at the same
        step, so they compare their flags every ``_STOP_EVERY`` steps (one tiny collective, which
        waits for the step's device work: not every step)."""
        if self.group is None:
            return requested
        return self.step_count % _STOP_EVERY == 0 and any_process(requested, self.device)

    def _sample_path(self) -> Path:
        return self.run_dir / "samples" / f"step_{self.step_count:07d}.png"


def _append(f: Any, data: bytes, path: Path) -> None:
    """Write all of ``data`` to the unbuffered file ``f``; an OSError names ``path`` (the
    OS's own error for a full disk names no file)."""
    view = memoryview(data)
    try:
        while view:
            view = view[f.write(view) :]
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None


def mark_worker_process() -> None:
    """In a worker process (a parallel candidate, a data-parallel rank): a SIGTERM after the
    first, while the loop stops at its next step, is ignored (see ``_GracefulStop.worker``)."""
    _GracefulStop.worker = True


class _GracefulStop:
    """Turn the first SIGINT/SIGTERM/SIGHUP into a flag checked between steps (a second one
    kills).

    A signal landing inside a step would leave D updated and G not; deferring it to the step
    boundary lets the loop write a consistent checkpoint before exiting. SIGHUP (the terminal
    closed, an ssh session dropped) killed the run with up to ``ckpt_every`` steps lost; it is
    left alone where it is ignored (under ``nohup``).
    """

    #: Set in a worker process (:func:`mark_worker_process`): there SIGTERM comes from the
    #: parent, and a parent killed outright (SIGKILL) sends its death signal once per thread
    #: its children are passed on through as its threads exit, so the second SIGTERM, a few
    #: milliseconds later, killed the workers of a ``--ddp`` run before their checkpoint.
    worker = False

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # second signal: the user means it
            raise KeyboardInterrupt
        self.requested = True
        for sig, old in self._old.items():
            repeat = self.worker and sig == signal.SIGTERM
            signal.signal(sig, signal.SIG_IGN if repeat else old)

    def __enter__(self) -> _GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
            hup = getattr(signal, "SIGHUP", None)  # POSIX only
            # Ignored (nohup) stays ignored; default, or the CLI's stop-between-loops handler,
            # becomes this graceful one for the steps.
            if hup is not None and signal.getsignal(hup) != signal.SIG_IGN:
                self._old[hup] = signal.signal(hup, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _row(step: int, vals: dict[str, Any], names: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"step": step}
    row.update({k: v for k, v in vals.items() if k != "mi"})  # d_loss, g_loss (cr_loss, cr_acc)
    for name, mi in zip(names, vals["mi"], strict=True):
        row[f"mi/{name}"] = mi
    return row


@torch.no_grad()
def _match_layout(opt: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor its parameter's memory layout.

    A checkpoint written by a run in the other layout (say NCHW, resumed NHWC) loads its Adam
    moments with their old strides; fused Adam walks parameter and state memory in lockstep, so
    mismatched strides would silently pair the wrong elements.
    """
    for p, st in opt.state.items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _saved_config(state: dict[str, Any]) -> TrainConfig | None:
    """The recipe a checkpoint was written under (None: none recorded, or unreadable)."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        return None
    try:
        return TrainConfig.from_dict(saved)
    except SpecError:
        return None


def _selection_run_seed(run_dir: Path) -> int | None:
    """The seed a finished selection in ``run_dir`` started from (None: no selection, or
    one recorded before the seed was)."""
    try:
        seed = json.loads((run_dir / "selection.json").read_text())["run_seed"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _keep_own_execution_flags(opt: torch.optim.Optimizer) -> None:
    """Give every parameter group back this process's ``fused`` / ``capturable`` / ``foreach``.

    ``load_state_dict`` takes each group's settings from the checkpoint, and those flags say how
    the writing process ran, not what the run is: a checkpoint of a CPU, data-parallel or
    ``--graph off`` run (capturable off) resumed where a CUDA graph is captured would fail the
    capture (and ``graph=auto`` fall back to eager steps, ~10x slower).
    """
    for group in opt.param_groups:
        for key in ("fused", "capturable", "foreach", "differentiable"):
            if key in opt.defaults:
                group[key] = opt.defaults[key]


def wants_channels_last(mode: str, device: torch.device, arch: str = "mnist") -> bool:
    """Whether the networks run NHWC: asked for, or ``auto`` on a CPU (measured faster there
    for the built-in networks: README, "Speed on the CPU"). A user's registered networks stay
    contiguous under ``auto``: the common ``x.view(n, -1)`` fails on channels_last tensors."""
    return mode == "channels_last" or (mode == "auto" and device.type == "cpu" and arch in ARCHES)


def _check_device_fits(cfg: TrainConfig, device: torch.device) -> None:
    """Refuse, all in one line, the settings ``device`` cannot run: a GPU run's config resumed
    with ``--device cpu`` named its problems one per try."""
    problems = []
    if cfg.graph == "on" and device.type != "cuda":
        problems.append("graph: CUDA graphs need a CUDA device; use --graph auto or off on CPU")
    if cfg.precision == "bf16" and device.type == "cpu":
        problems.append(
            "precision: bf16 on this CPU is hundreds of times slower than fp32; use fp32 on CPU"
        )
    if problems:
        raise SpecError("; ".join(problems))


def _want_graph(mode: str, device: torch.device) -> bool:
    return device.type == "cuda" and mode in ("on", "auto")


def _set_precision(precision: str, device: torch.device, deterministic: bool = False) -> None:
    if device.type == "cuda":
        # tf32 (and bf16, whose autocast leaves some matmuls in fp32) use tensor cores for fp32.
        torch.backends.cuda.matmul.allow_tf32 = precision in ("tf32", "bf16")
        torch.backends.cudnn.allow_tf32 = precision in ("tf32", "bf16")
        # Autotuning picks the fastest kernel by timing, which can differ from run to run and
        # with it the numerics; deterministic mode trades that speed for repeatable runs.
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


def _postfix(row: dict[str, Any], names: list[str]) -> str:
    mi = " ".join(f"{n}={row[f'mi/{n}']:.2f}" for n in names)
    return f"D={row['d_loss']:.3f} G={row['g_loss']:.3f} L_I: {mi}"


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop rows logged after ``step`` (a resumed run re-logs them) and any half-written line."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= step:
            keep.append(line)
    atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


def run_one(
    cfg: TrainConfig,
    run_dir: str | Path,
    dataset: ImageDataset | None = None,
    resume: bool = False,
    finish: bool = True,
) -> TrainResult:
    """One run without candidate selection: :class:`Trainer` in this process, or with
    ``cfg.ddp`` > 1 over that many data-parallel processes (:func:`infogan.distributed.launch`).
    Config and data are checked here first, so a wrong combination fails before any process
    starts."""
    if cfg.ddp <= 1:
        return Trainer(cfg, run_dir, dataset=dataset, resume=resume).run(finish=finish)
    from infogan.distributed import launch

    cfg.validate()
    check_machine(cfg)
    cfg, dataset, _ = prepare(cfg, dataset)
    return launch(cfg, run_dir, dataset=dataset, resume=resume, finish=finish)


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    dataset: ImageDataset | np.ndarray | torch.Tensor | None = None,
) -> TrainResult:
    """Train an InfoGAN, writing checkpoints, metrics, samples, figures and ``report.json``.

    With ``cfg.candidates > 1`` (the default recipe) the run first trains that many short
    candidates and continues the best by an unsupervised score (:func:`infogan.select.train_selected`).

    Args:
        cfg: the recipe (see :class:`infogan.config.TrainConfig`).
        run_dir: output directory (created). A new run refuses a folder that holds a run or
            other files (:func:`check_new_run_dir`); pass ``resume=True`` to continue one.
        resume: continue from the newest readable checkpoint in ``run_dir``.
        dataset: images to train on; default ``load_dataset(cfg.data)``. An
            :class:`~infogan.data.ImageDataset`, or an image array or tensor as
            :func:`infogan.data.from_arrays` reads it. Labels are never used in training, only
            by the final evaluation. The run still records ``cfg.data`` as its data, which a
            resume or ``evaluate`` reads unless given the images again: set it to where these
            images can be read (a warning says when the names differ).
    """
    # select builds on this module
    from infogan.select import refuse_candidate_folder, require_config, train_selected

    require_config(cfg)  # first: the checks below read its fields
    run_dir = as_path(run_dir, "run_dir")
    if isinstance(resume, str) or resume not in (True, False):  # "no" is truthy: it resumed
        raise SpecError(f"resume: expected True or False, got {resume!r}")
    # The checks normalise fields in place (a Path to str, numpy numbers to Python ones): on
    # a copy, so the caller's config is theirs to reuse as they set it.
    cfg = copy.deepcopy(cfg)
    if dataset is not None and not isinstance(dataset, ImageDataset):
        from infogan.data import from_arrays

        dataset = from_arrays(dataset)
    if not resume:
        check_new_run_dir(run_dir)
    else:
        refuse_candidate_folder(run_dir)
    if dataset is not None and dataset.name != cfg.data:
        log.warning(
            "train: the run records data=%r (cfg.data), not the dataset given (%s); a resume "
            "or evaluate reads cfg.data unless given these images again: set cfg.data to "
            "where they lie",
            cfg.data,
            dataset.name,
        )
    with _callers_state():
        return train_selected(cfg, run_dir, resume=resume, dataset=dataset)


@contextlib.contextmanager
def _callers_state() -> Iterator[None]:
    """Give the caller back torch's random streams and the process-wide CUDA settings a run
    changes: the run seeds the global RNG for its weights (``torch.manual_seed(cfg.seed)``)
    and sets cuDNN autotuning and TF32 for its precision. Without this, a script that seeded
    torch before ``train`` drew the same numbers after it whatever seed it had set. (A CUDA
    stream not yet used when ``train`` began has no state to give back.)"""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    flags = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
        ) = flags
