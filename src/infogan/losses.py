"""Pure loss functions: adversarial terms, per-code log q, the mutual-information lower bound.

Nothing here owns parameters or optimisers; which parameters each term updates is decided in one
place, :mod:`infogan.train` (``Routing``). Equation numbers refer to Chen et al. 2016.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from infogan.latent import Latent, LatentSpec
from infogan.nets import QOutput

__all__ = [
    "d_adversarial",
    "g_adversarial",
    "code_log_q",
    "gaussian_log_density",
    "mi_bound",
    "info_loss",
    "code_weights",
    "real_code_information",
    "r1_penalty",
    "cr_loss",
    "mode_seeking",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def d_adversarial(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator's GAN loss: ``-log D(x) - log(1 - D(G(z, c)))`` (eq. 1), from logits.

    ``softplus(-l) = -log sigmoid(l)`` and ``softplus(l) = -log(1 - sigmoid(l))``: the same as
    binary cross-entropy with float targets, but with no label tensors to get wrong.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_adversarial(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator's non-saturating GAN loss ``-log D(G(z, c))`` (Goodfellow et al. 2014)."""
    return F.softplus(-fake_logits).mean()


def gaussian_log_density(err: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``log N(c; mu, sigma^2)`` elementwise, from ``err = c - mu`` and ``log sigma``."""
    return -_HALF_LOG_2PI - log_std - 0.5 * (err * torch.exp(-log_std)).square()


def code_log_q(q: QOutput, latent: Latent, spec: LatentSpec) -> torch.Tensor:
    """Monte-Carlo estimate of ``E[log q(c_i | x)]`` for every code, in spec order: ``[n_codes]``.

    Categorical: ``log softmax(logits)[c]`` (the negative cross-entropy on raw logits; no softmax is
    applied before it). Continuous: the factored Gaussian log density
    ``-0.5 log 2pi - log sigma - (c - mu)^2 / (2 sigma^2)``.
    """
    cat_terms = [
        -F.cross_entropy(logits, latent.cat[:, j], reduction="mean")
        for j, logits in enumerate(q.cat_logits)
    ]
    if spec.n_cont:
        cont = gaussian_log_density(latent.cont - q.cont_mean, q.cont_log_std).mean(dim=0)
        cont_terms = list(cont.unbind())
    else:
        cont_terms = []
    # Re-interleave into spec order: codes are stored per family, reported in the user's order.
    out, ci, ki = [], iter(cat_terms), iter(cont_terms)
    for code_index in range(len(spec.codes)):
        kind, _ = spec.slot(code_index)
        out.append(next(ci) if kind == "cat" else next(ki))
    return torch.stack(out)


def mi_bound(log_q: torch.Tensor, spec: LatentSpec) -> torch.Tensor:
    """The variational lower bound per code, ``L_I = E[log q(c|x)] + H(c)`` (eq. 4), nats.

    A perfect categorical Q gives ``ln K``; a Q that ignores x gives about 0 (or less).
    """
    return log_q + torch.tensor(spec.entropies, dtype=log_q.dtype, device=log_q.device)


def code_weights(spec: LatentSpec, lambda_cat: float, lambda_cont: float) -> torch.Tensor:
    """Per-code lambda in spec order ``[n_codes]``."""
    return torch.tensor(
        [lambda_cat if spec.slot(i)[0] == "cat" else lambda_cont for i in range(len(spec.codes))]
    )


def info_loss(log_q: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``-sum_i lambda_i * E[log q(c_i|x)]``: minimising it maximises ``lambda * L_I`` (eq. 5).

    H(c) is a constant and is left out of the gradient's objective.
    """
    return -(weights.to(log_q.device, log_q.dtype) * log_q).sum()


def real_code_information(
    cat_logits: list[torch.Tensor],
    batch_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``I(x; c_j)`` under Q on a batch of (real) images, per categorical code: ``[n_cat]``, nats.

    ``H(mean_x q(c|x)) - mean_x H(q(c|x))`` (Krause et al. 2010, "regularized information
    maximization"): high when Q reads each image confidently (low conditional entropy) and uses
    every class across the batch (high marginal entropy). It is the same quantity as the
    unsupervised selection score, and at InfoGAN's optimum it is ``H(c)`` on real data too: Q is
    then the posterior of a generator whose images match the data, so its average over real
    images is the uniform prior and it is as certain on them as on the generator's.

    ``batch_mean`` maps ``q(c|x)`` ([n, K]) to its mean over the batch ([K]) when the batch is
    spread over several processes (:func:`infogan.distributed.mean_over_processes`): the
    marginal entropy is not a mean over rows, so it needs the whole batch's average.
    """
    out = []
    for logits in cat_logits:
        # at least fp32 (bf16 autocast logits), float64 kept (the selection score reads it)
        log_p = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=1)
        conditional = -(log_p.exp() * log_p).sum(dim=1).mean()
        if batch_mean is None:
            log_mean = torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])  # log mean_x q
        else:
            log_mean = batch_mean(log_p.exp()).clamp_min(torch.finfo(log_p.dtype).tiny).log()
        marginal = -(log_mean.exp() * log_mean).sum()
        out.append(marginal - conditional)
    return torch.stack(out)


def r1_penalty(real_logits: torch.Tensor, x_real: torch.Tensor) -> torch.Tensor:
    """``E_x ||grad_x D(x)||^2`` on real images (Mescheder et al. 2018, eq. 9, without the
    gamma / 2 factor), from D's logits on ``x_real`` (which must require grad).

    Built with ``create_graph=True`` so that its own gradient reaches D's parameters. The sum
    over the batch differentiates each logit by its own image (and, through batch norm, by the
    batch's others, which the real batch shares in D's loss as well).
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), x_real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def cr_loss(pair_logits: torch.Tensor, shared_code: torch.Tensor) -> torch.Tensor:
    """InfoGAN-CR's contrastive term (Lin et al. 2020): cross-entropy of the pair classifier's
    logits ``[B, n_codes]`` against the index of the code each pair of images shares.

    The classifier minimises it on detached pairs; G minimises it too, through the classifier,
    so that which code a pair shares is visible in the images (a disentangled code is).
    """
    return F.cross_entropy(pair_logits, shared_code)


def mode_seeking(
    x1: torch.Tensor, x2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """MSGAN's mode-seeking term (Mao et al. 2019, eq. 3) for images ``x1 = G(z1, c)`` and
    ``x2 = G(z2, c)`` of the same codes: the ratio ``r`` of their mean absolute pixel distance
    to that of their noises (batch mean of per-row ratios), and the loss ``1 / (r + eps)``
    that G minimises, large when G ignores z (``r`` near 0). Returns ``(loss, r)``."""
    d_img = (x1.float() - x2.float()).abs().flatten(1).mean(1)
    d_z = (z1.float() - z2.float()).abs().mean(1)
    ratio = (d_img / d_z).mean()
    return 1.0 / (ratio + eps), ratio
