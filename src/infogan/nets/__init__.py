"""Networks: generator, discriminator body, D head and Q head, grouped in :class:`InfoGANNets`.

Q shares the discriminator's body and has its own head (Chen et al. 2016, section 5): the extra cost
of estimating ``q(c | x)`` on top of a GAN is one small MLP.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.utils import parametrize

from infogan.archs import BUILT_IN, CustomArch, custom_arch
from infogan.config import ModelConfig
from infogan.errors import InfoGANError, SpecError, brief
from infogan.latent import LatentSpec
from infogan.nets.conv32 import Conv32Body, Conv32Generator
from infogan.nets.conv64 import Conv64Body, Conv64Generator
from infogan.nets.conv64s import LEAK_CR, Conv64SmallBody, Conv64SmallGenerator
from infogan.nets.mnist import IMAGE_SHAPE as MNIST_SHAPE
from infogan.nets.mnist import LEAK, MnistBody, MnistGenerator

__all__ = [
    "InfoGANNets",
    "QOutput",
    "QHead",
    "UserBody",
    "build_nets",
    "check_channels_last",
    "image_shape",
]


@dataclass
class QOutput:
    """Q's estimate of ``q(c | x)``, in code-family order.

    Attributes:
        cat_logits: one ``[N, K_j]`` tensor of logits per categorical code.
        cont_mean: ``[N, n_cont]`` Gaussian means of the continuous codes.
        cont_log_std: ``[N, n_cont]`` log standard deviations (constant when the std is fixed).
    """

    cat_logits: list[torch.Tensor]
    cont_mean: torch.Tensor
    cont_log_std: torch.Tensor


class QHead(nn.Module):
    """Q head: body features -> code parameters (paper: FC 128 -> BN -> lReLU -> FC)."""

    def __init__(
        self,
        feature_dim: int,
        latent: LatentSpec,
        cfg: ModelConfig,
        batch_norm: bool = True,
        leak: float = LEAK,
    ) -> None:
        """``batch_norm``/``leak``: the hidden layer's normalisation and slope (the paper's: batch
        norm, 0.1; InfoGAN-CR's 64x64 Q: none, 0.2)."""
        super().__init__()
        self.cat_sizes = latent.cat_sizes
        self.n_cont = latent.n_cont
        self.learn_std = cfg.fixed_std is None
        self.fixed_log_std = (
            0.0 if cfg.fixed_std is None else float(torch.tensor(cfg.fixed_std).log())
        )
        self.log_std_range = (cfg.log_std_min, cfg.log_std_max)
        hidden = max(1, round(128 * cfg.width))
        out = sum(self.cat_sizes) + self.n_cont * (2 if self.learn_std else 1)
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden),
            nn.BatchNorm1d(hidden) if batch_norm else nn.Identity(),
            nn.LeakyReLU(leak),
            nn.Linear(hidden, out),
        )

    def forward(self, features: torch.Tensor) -> QOutput:
        raw = self.net(features)  # [N, sum(K) + n_cont * (1 or 2)]
        logits = list(raw[:, : sum(self.cat_sizes)].split(self.cat_sizes, dim=1))
        rest = raw[:, sum(self.cat_sizes) :]
        mean = rest[:, : self.n_cont]
        if self.learn_std:
            # Clamped so one confident wrong guess cannot send log q to -inf and blow up training.
            log_std = rest[:, self.n_cont :].clamp(*self.log_std_range)
        else:
            log_std = torch.full_like(mean, self.fixed_log_std)
        return QOutput(cat_logits=logits, cont_mean=mean, cont_log_std=log_std)


class InfoGANNets(nn.Module):
    """The four parts of an InfoGAN.

    Attributes:
        generator: G(latent) -> images in [-1, 1].
        body: discriminator body, images -> features (shared by D and Q).
        d_head: features -> real/fake logit ``[N]``.
        q_head: features -> :class:`QOutput`.
        generator_ema: an exponential moving average of G's weights (only when built with
            ``ema=True``); :attr:`sampler` is the generator to draw images from.
    """

    def __init__(self, cfg: ModelConfig, contrastive: bool = False, ema: bool = False) -> None:
        super().__init__()
        cfg.validate()
        self.latent = cfg.latent()
        self.arch = cfg.arch
        self.image_shape = image_shape(cfg)
        mine: CustomArch | None = None
        self.generator: nn.Module
        self.body: Body
        if cfg.arch == "mnist":
            self.generator = MnistGenerator(self.latent.input_dim, cfg.width)
            self.body = MnistBody(cfg.width)
        elif cfg.arch in ("conv32", "conv32paper"):
            c = self.image_shape[0]
            self.generator = Conv32Generator(self.latent.input_dim, cfg.width, c)
            self.body = Conv32Body(cfg.width, c, fc=cfg.arch == "conv32")
        elif cfg.arch == "conv64":
            self.generator = Conv64Generator(self.latent.input_dim, cfg.width, self.image_shape[0])
            self.body = Conv64Body(cfg.width, self.image_shape[0])
        elif cfg.arch == "conv64s":
            c = self.image_shape[0]
            self.generator = Conv64SmallGenerator(self.latent.input_dim, cfg.width, c)
            self.body = Conv64SmallBody(cfg.width, c)
        else:
            mine = custom_arch(cfg.arch)
            if mine is None:  # pragma: no cover - validate() already rejects others
                raise SpecError(f"arch: unknown {cfg.arch!r}")
            self.generator = _user_generator(
                mine, self.latent.input_dim, cfg.width, self.image_shape
            )
            self.body = _user_body(mine, cfg.width, self.image_shape)
        self.d_head = nn.Linear(self.body.feature_dim, 1)
        small = cfg.arch == "conv64s"  # InfoGAN-CR's Q: no batch norm, slope 0.2
        self.q_head = QHead(
            self.body.feature_dim,
            self.latent,
            cfg,
            batch_norm=mine.q_batch_norm if mine else not small,
            leak=LEAK_CR if small else LEAK,
        )
        if mine is None or mine.dcgan_init:
            self.apply(_init_weights)
        else:  # the user's own layers keep their initialisation; the heads are ours
            self.d_head.apply(_init_weights)
            self.q_head.apply(_init_weights)
        sn = cfg.spectral_norm
        # After the init: spectral norm divides the initialised weight by its largest singular
        # value (one power iteration per training forward). Scope "d": the critic whose slope
        # SN bounds (body + D head); the Q head, a code estimator, is left alone. Scope "all"
        # adds the Q head and the CR classifier bar its output layer, as InfoGAN-CR's released
        # networks have them.
        if sn:
            _spectral_norm(
                [self.body, self.d_head, *([self.q_head] if cfg.sn_scope == "all" else [])]
            )
        # InfoGAN-CR (Lin et al. 2020): a classifier of image *pairs* that tells which code the
        # two images share. Same body architecture as D, reading the pair stacked as channels.
        # Built (and its random draws made) after everything else, so that a run with it starts
        # from the very weights of the same seed's run without it: the two are one run until
        # the regulariser starts.
        self.cr: nn.Module | None = None
        if contrastive:
            c, h, w = self.image_shape
            body_cls: dict[str, Callable[..., Body]] = {
                "mnist": MnistBody,
                "conv32": Conv32Body,
                "conv32paper": partial(Conv32Body, fc=False),
                "conv64": Conv64Body,
                "conv64s": Conv64SmallBody,
            }
            cr_body = (
                _user_body(mine, cfg.width, (2 * c, h, w), pairs=True)
                if mine is not None
                else body_cls[cfg.arch](cfg.width, 2 * c)
            )
            cr_out = nn.Linear(cr_body.feature_dim, len(self.latent.codes))
            self.cr = nn.Sequential(cr_body, cr_out)
            (self.cr if mine is None or mine.dcgan_init else cr_out).apply(_init_weights)
            if sn and cfg.sn_scope == "all":
                _spectral_norm([cr_body])
        # EMA of G (Yazici et al. 2019): an average of the generator's recent weights draws
        # smoother, steadier samples than the last iterate of a GAN's oscillating game. No
        # gradients: it is written only by update_ema, never by an optimiser.
        self.generator_ema: nn.Module | None = None
        if ema:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self._layout = self._layout_now()

    def layout(self) -> str | None:
        """For a user's registered networks (None for the built-in ones): a digest of what
        they are, layer by layer (their ``repr``), which checkpoints record, so that loading a
        run after its registration changed says so instead of naming a size mismatch as
        damage, or silently running other layers on the saved weights."""
        return self._layout

    def _layout_now(self) -> str | None:
        # Taken when built: a data-parallel run's SyncBatchNorm (or any later conversion) is
        # how it runs, not what was registered.
        if self.arch in BUILT_IN:
            return None
        parts = [self.generator, self.body, *([self.cr] if self.cr is not None else [])]
        side = self.image_shape[1]
        text = f"image_size {side}\n" + "\n".join(map(repr, parts))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def layout_differs(self, state: dict[str, Any], path: object) -> str | None:
        """A one-line note when ``state`` (a checkpoint) recorded another :meth:`layout`."""
        saved, now = state.get("layout"), self.layout()
        if now is None or not isinstance(saved, str) or saved == now:
            return None
        return (
            f"the networks registered as {self.arch!r} are not those {path} was trained with "
            "(its registration changed since)"
        )

    @property
    def sampler(self) -> nn.Module:
        """The generator to draw images from: the EMA copy when there is one, else G."""
        return self.generator if self.generator_ema is None else self.generator_ema

    @torch.no_grad()
    def update_ema(self, weight: torch.Tensor) -> None:
        """``ema += weight * (G - ema)`` for every parameter; batch-norm statistics are copied.

        ``weight`` (``1 - decay``) is a 0-dim tensor on the device, so a captured CUDA graph
        reads the current value on each replay; the foreach ops are one launch per dtype.
        """
        assert self.generator_ema is not None, "built without ema=True"
        ema: list[torch.Tensor] = list(self.generator_ema.parameters())
        now: list[torch.Tensor] = list(self.generator.parameters())
        # Not _foreach_lerp_: it takes the weight as a Python scalar (a .item() sync per step,
        # which a CUDA graph cannot capture); _foreach_mul_ has a 0-dim-tensor overload.
        step = list(torch._foreach_sub(now, ema))
        torch._foreach_mul_(step, weight)
        torch._foreach_add_(ema, step)
        buffers = list(self.generator_ema.buffers())
        if buffers:  # a generator without batch norm (a user's, with group norm) has none
            torch._foreach_copy_(buffers, list(self.generator.buffers()))

    def discriminate(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        """D's real/fake logits ``[N]``; ``groups`` > 1: ``x`` stacks that many batches, each
        batch-normalised on its own (one pass instead of ``groups``)."""
        return self.d_head(self.body(x, groups)).squeeze(1)

    def recognise(self, x: torch.Tensor) -> QOutput:
        """Q's code estimate for images ``x``."""
        return self.q_head(self.body(x))

    def pair_logits(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """InfoGAN-CR: logits ``[N, n_codes]`` of which code the pair (x1, x2) shares."""
        assert self.cr is not None, "built without contrastive=True"
        return self.cr(torch.cat([x1, x2], dim=1))  # pair stacked as channels [N, 2C, H, W]


def _spectral_norm(modules: list[nn.Module]) -> None:
    for module in modules:
        for layer in module.modules():
            # A user's layer whose weight is normalised already (spectral or weight norm, new or
            # old style) keeps its own: a second parametrisation of it fails or doubles it.
            if isinstance(layer, _ConvNd | nn.Linear) and _plain_weight(layer):
                nn.utils.parametrizations.spectral_norm(layer)


def _plain_weight(m: nn.Module) -> bool:
    """Whether ``m.weight`` is a parameter of its own, not computed from others by a
    parametrisation or an old-style hook (spectral or weight norm)."""
    return not (
        parametrize.is_parametrized(m, "weight")
        or hasattr(m, "weight_orig")  # nn.utils.spectral_norm (the old hook)
        or hasattr(m, "weight_v")  # nn.utils.weight_norm (the old hook)
    )


def _raw_weight(m: nn.Module) -> torch.Tensor | None:
    """The parameter a layer's weight is made from: ``weight`` itself, the original under a
    spectral-norm parametrisation (new or old style), or None where there is no single one
    (weight norm's magnitude and direction). Writing into ``m.weight`` of a parametrised layer
    changes a tensor that is computed afresh at the next forward pass."""
    weight: object
    if _plain_weight(m):
        weight = m.weight
    elif parametrize.is_parametrized(m, "weight"):
        weight = getattr(m.parametrizations.weight, "original", None)  # type: ignore[union-attr]
    else:
        weight = getattr(m, "weight_orig", None)
    return weight if isinstance(weight, torch.Tensor) else None


def _init_weights(m: nn.Module) -> None:
    # DCGAN initialisation (Radford et al. 2015), the common choice for these conv/BN stacks.
    # (The built-in networks hold only 2-d convolutions, linear layers and 1-d/2-d batch norm;
    # a user's may hold others, and weight-normalised ones, which keep their own.)
    if isinstance(m, _ConvNd | nn.Linear):
        weight = _raw_weight(m)
        if weight is not None:
            nn.init.normal_(weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, _BatchNorm) and m.affine:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_nets(cfg: ModelConfig, contrastive: bool = False, ema: bool = False) -> InfoGANNets:
    """Networks for a model config (weights drawn from torch's global RNG: seed it first).

    ``contrastive`` adds InfoGAN-CR's pair classifier (``nets.cr``); ``ema`` an EMA copy of the
    generator (``nets.generator_ema``).
    """
    return InfoGANNets(cfg, contrastive, ema)


def nets_to_load(cfg: ModelConfig, contrastive: bool = False, ema: bool = False) -> InfoGANNets:
    """:func:`build_nets` for weights about to be loaded over: drawn on a fork of torch's CPU RNG,
    so loading a model leaves the caller's random stream as it was (``load_run`` after
    ``torch.manual_seed(0)`` changed what the caller drew next)."""
    with torch.random.fork_rng(devices=[]):
        return InfoGANNets(cfg, contrastive, ema)


def image_shape(cfg: ModelConfig) -> tuple[int, int, int]:
    """(C, H, W) of the images an architecture reads and writes (``channels`` None, "as the
    data", counts as 1 where there is no data to follow)."""
    if cfg.arch == "mnist":
        return MNIST_SHAPE
    mine = custom_arch(cfg.arch) if cfg.arch not in BUILT_IN else None
    if mine is not None:
        return (cfg.channels or 1, mine.image_size, mine.image_size)
    side = 32 if cfg.arch.startswith("conv32") else 64
    return (cfg.channels or 1, side, side)


class UserBody(nn.Module):
    """A registered body (:func:`infogan.register_arch`) as the heads and D's step use it.

    ``feature_dim`` is measured, not declared. With ``groups`` > 1 (D's step stacks the real and
    the fake batch) each group runs on its own: a user's network may hold batch norm or other
    layers that mix samples, and mixing real and fake there would let D tell them apart by
    batch statistics alone (see :mod:`infogan.nets.grouped`).
    """

    def __init__(self, net: nn.Module, feature_dim: int) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
        if groups == 1:
            return self.net(x)
        return torch.cat([self.net(part) for part in x.chunk(groups)])


# Every discriminator body has ``feature_dim``, the width of the features it hands the heads.
Body = MnistBody | Conv32Body | Conv64Body | Conv64SmallBody | UserBody


def _built(mine: CustomArch, what: str, make: Callable[[], object]) -> nn.Module:
    try:
        net = make()
    except InfoGANError:
        raise
    except Exception as e:  # the user's code: name it and its reason in one line
        raise SpecError(f"arch {mine.name!r}: its {what} factory failed: {brief(e)}") from e
    if not isinstance(net, nn.Module):
        raise SpecError(
            f"arch {mine.name!r}: its {what} factory returned {type(net).__name__}, "
            "not a torch.nn.Module"
        )
    return net


def _trial(mine: CustomArch, what: str, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One forward pass of two samples in eval mode (no statistics or power iterations
    change): checks the shapes before training, and sizes lazy layers (nn.LazyLinear) before
    the weights are initialised and the optimisers made."""
    was = net.training
    try:
        with torch.no_grad():
            out = net.eval()(x)
    except Exception as e:
        raise SpecError(
            f"arch {mine.name!r}: its {what} fails on input of shape {list(x.shape)}: {brief(e)}"
        ) from e
    finally:
        net.train(was)
    # Once more in training mode, which training runs (batch statistics, dropout, a branch on
    # self.training), with every buffer and the RNG put back: the networks start as they
    # would without the trial.
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            net.train()(x)
    except Exception as e:
        raise SpecError(
            f"arch {mine.name!r}: its {what} fails in training mode on input of shape "
            f"{list(x.shape)}: {brief(e)}"
        ) from e
    finally:
        net.load_state_dict(saved)
        net.train(was)
    if not isinstance(out, torch.Tensor):
        raise SpecError(
            f"arch {mine.name!r}: its {what} returned {type(out).__name__}, not a tensor"
        )
    return out


def _user_generator(
    mine: CustomArch, input_dim: int, width: float, shape: tuple[int, int, int]
) -> nn.Module:
    net = _built(mine, "generator", lambda: mine.generator(input_dim, width, shape[0]))
    # A latent drawn from a generator of its own: the global RNG, which draws the weights, is
    # left as the built-in networks leave it.
    latent = torch.randn(2, input_dim, generator=torch.Generator().manual_seed(0))
    out = _trial(mine, "generator", net, latent)
    if tuple(out.shape) != (2, *shape):
        raise SpecError(
            f"arch {mine.name!r}: its generator turned a latent of shape [2, {input_dim}] into "
            f"{list(out.shape)}; images of [2, {', '.join(map(str, shape))}] are needed "
            "(channels, then image_size as registered)"
        )
    top = float(out.abs().max()) if out.is_floating_point() else float("inf")
    if not top <= 1.0 + 1e-6:
        # Real images reach D in [-1, 1]; values outside tell D at once which are fake, and
        # encode() refuses them as images.
        raise SpecError(
            f"arch {mine.name!r}: its generator drew values up to {top:.3g} in magnitude on a "
            "trial latent; images in [-1, 1] are needed (end it with nn.Tanh())"
        )
    return net


def _user_body(
    mine: CustomArch, width: float, shape: tuple[int, int, int], pairs: bool = False
) -> UserBody:
    """``pairs``: the body of InfoGAN-CR's pair classifier, which reads two images stacked as
    channels (``shape[0]`` is twice the images')."""
    role = (
        "body (as InfoGAN-CR's pair classifier: two images stacked as channels)"
        if pairs
        else "body"
    )
    net = _built(mine, role, lambda: mine.body(width, shape[0]))
    out = _trial(mine, role, net, torch.zeros(2, *shape))
    if out.dim() != 2 or out.shape[0] != 2 or out.shape[1] < 1:
        raise SpecError(
            f"arch {mine.name!r}: its {role} turned images of shape [2, "
            f"{', '.join(map(str, shape))}] into {list(out.shape)}; features [2, F] are needed "
            "(flatten them)"
        )
    return UserBody(net, int(out.shape[1]))


def check_channels_last(nets: InfoGANNets) -> None:
    """A user's networks, converted to channels_last, tried on two samples: a ``view`` that
    needs contiguous memory fails here in one line, not in the middle of training."""
    device = next(nets.parameters()).device
    latent = torch.randn(2, nets.latent.input_dim, generator=torch.Generator().manual_seed(0))
    parts = [("generator", nets.generator), ("body", nets.body)]
    x: torch.Tensor = latent.to(device)
    was = nets.training
    try:
        nets.eval()
        with torch.no_grad():
            for what, net in parts:
                try:
                    x = net(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)
                except Exception as e:
                    raise SpecError(
                        f"arch {nets.arch!r}: its {what} fails in the channels_last memory "
                        f"format ({brief(e)}); train with --memory-format contiguous, or use "
                        ".reshape where it uses .view"
                    ) from e
    finally:
        nets.train(was)
