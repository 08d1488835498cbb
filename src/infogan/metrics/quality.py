"""Sample-quality scores between a real and a generated feature set.

All functions take two feature matrices, ``real [N, D]`` and ``fake [M, D]`` (numpy arrays or
CPU tensors; see :mod:`infogan.metrics.features` for where features come from), and compute in
float64:

- :func:`fid`: Fréchet distance between Gaussians fitted to the two sets (Heusel et al. 2017,
  "GANs trained by a two time-scale update rule converge to a local Nash equilibrium"). Biased
  upwards at small sample sizes, so compare FIDs only at equal ``M``.
- :func:`kid`: unbiased squared MMD with a cubic polynomial kernel, averaged over random subsets
  (Binkowski et al. 2018, "Demystifying MMD GANs"; defaults as in torch-fidelity).
- :func:`precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al. 2019,
  "Improved precision and recall metric for assessing generative models"). Precision: share of
  fakes that look real (fidelity); recall: share of reals the model can produce (diversity).
- :func:`density_coverage`: the outlier-robust variants of Naeem et al. 2020, "Reliable fidelity
  and diversity metrics for generative models".
- :func:`quality_scores`: all of the above in one dict (one pass of pairwise distances).
- :func:`real_vs_real`: the same scores between two real sets, the floor to print beside the
  model's numbers, since in a project-trained feature space there is no published scale.

The k-NN metrics need all pairwise distances; they are computed in row chunks of at most
``_CHUNK_BYTES`` so 10,000 x 10,000 stays within a few hundred MB.
"""

from __future__ import annotations

import warnings
from typing import Any, TypedDict

import numpy as np
import scipy.linalg

from infogan.errors import DataError

__all__ = [
    "density_coverage",
    "fid",
    "frechet_distance",
    "kid",
    "precision_recall",
    "QualityScores",
    "quality_scores",
    "real_vs_real",
]

_CHUNK_BYTES = 64 * 2**20  # one float64 distance block; a few temporaries of this size coexist


def _as_features(x: Any, what: str, min_rows: int = 2) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise DataError(f"quality: {what} features must be a 2-D array [N, D], got shape {a.shape}")
    if a.shape[0] < min_rows or a.shape[1] < 1:
        raise DataError(
            f"quality: {what} features need at least {min_rows} rows and 1 column, "
            f"got shape {a.shape}"
        )
    if not np.isfinite(a).all():
        raise DataError(f"quality: {what} features contain NaN or infinity")
    return a


def _pair(real: Any, fake: Any, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    r = _as_features(real, "real", min_rows)
    f = _as_features(fake, "fake", min_rows)
    if r.shape[1] != f.shape[1]:
        raise DataError(
            f"quality: real and fake features differ in width ({r.shape[1]} vs {f.shape[1]}); "
            "were they made by the same extractor?"
        )
    return r, f


# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))`` (Dowson & Landau 1982;
    used as FID by Heusel et al. 2017). Precomputed reference statistics can be passed here.

    Numerics, as in pytorch-fid / torchmetrics: ``scipy.linalg.sqrtm`` of the product; if that is
    not finite (a singular product, e.g. fewer samples than dimensions), retry with ``eps * I``
    added to both covariances; keep the real part (round-off gives tiny imaginary parts, since
    the product of two PSD matrices is not symmetric). A slightly negative result (round-off
    when the sets are identical) is returned as 0.
    """
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    s1, s2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise DataError(
            f"quality: mismatched Gaussian statistics: means {mu1.shape} / {mu2.shape}, "
            f"covariances {s1.shape} / {s2.shape}"
        )
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # sqrtm warns about singular / ill-conditioned input; that case is handled below.
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3 * max(1.0, np.abs(np.diagonal(covmean).real).max()):
            warnings.warn(
                f"quality: FID matrix square root has an imaginary part of {imag:.3g}; "
                "the covariances are badly conditioned, the value is approximate",
                RuntimeWarning,
                stacklevel=2,
            )
        covmean = covmean.real
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def fid(real: Any, fake: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

    Means and unbiased (``N - 1``) covariances of ``real [N, D]`` and ``fake [M, D]``, then
    :func:`frechet_distance`. ``fid(x, x) == 0``. The estimator is biased upwards by roughly
    ``O(D / M)``: compare values only at equal sample sizes, and against :func:`real_vs_real`
    at the same size.
    """
    r, f = _pair(real, fake)
    return frechet_distance(
        r.mean(0), np.cov(r, rowvar=False), f.mean(0), np.cov(f, rowvar=False), eps=eps
    )


# --------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # k(x, y) = (x.y / D + 1)^3: the kernel of Binkowski et al. 2018, which needs no bandwidth.
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = x.shape[0]
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    # Within-set terms leave out the diagonal k(x_i, x_i) (that is what makes it unbiased); the
    # cross term keeps all m^2 pairs since x_i and y_i are independent (torch-fidelity's
    # "unbiased" estimator).
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))


def kid(
    real: Any, fake: Any, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float | None]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std of MMD^2 over subsets.

    Each of ``subsets`` draws ``min(subset_size, N, M)`` rows without replacement from each set
    (``numpy.random.default_rng(seed)``) and computes the unbiased MMD^2 with the polynomial
    kernel ``k(x, y) = (x.y / D + 1)^3``. Unlike FID the estimate is unbiased, so it can be
    slightly negative when the two distributions are the same, and values at different sample
    sizes are comparable. The std is over subsets (``ddof=0``, as torch-fidelity); it is None
    when both sets are no larger than ``subset_size``: every subset is then the whole of both,
    the MMD^2 is computed once, and a spread over identical subsets (0 up to round-off) would
    pass for a precise estimate. (torch-fidelity refuses such sets; the mean is exact here.)
    """
    r, f = _pair(real, fake)
    if subsets < 1:
        raise DataError(f"quality: kid needs subsets >= 1, got {subsets}")
    m = min(int(subset_size), r.shape[0], f.shape[0])
    if m < 2:
        raise DataError(f"quality: kid needs subset_size >= 2, got {subset_size}")
    if m == r.shape[0] == f.shape[0]:
        return float(_mmd2_unbiased(r, f)), None
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = r[rng.choice(r.shape[0], m, replace=False)]
        y = f[rng.choice(f.shape[0], m, replace=False)]
        values[i] = _mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------------------------
# k-NN manifold metrics
# --------------------------------------------------------------------------------------------


def _chunk_rows(n_cols: int) -> int:
    return max(1, _CHUNK_BYTES // (8 * max(1, n_cols)))


def _sq_dists(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``[len(a), len(b)]`` by |a|^2 + |b|^2 - 2ab (BLAS, float64)."""
    d = a @ b.T
    d *= -2.0
    d += a_sq[:, None]
    d += b_sq[None, :]
    return np.maximum(d, 0.0, out=d)  # round-off can make tiny distances negative


def _knn_sq_radii(x: np.ndarray, ks: list[int]) -> dict[int, np.ndarray]:
    """Squared distance from each row of ``x`` to its k-th nearest *other* row, for each k."""
    n = x.shape[0]
    if max(ks) >= n:
        raise DataError(f"quality: k = {max(ks)} nearest neighbours need more than {n} samples")
    x_sq = np.einsum("ij,ij->i", x, x)
    out = {k: np.empty(n) for k in ks}
    kth = sorted({k - 1 for k in ks})
    step = _chunk_rows(n)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        d = _sq_dists(x[i0:i1], x, x_sq[i0:i1], x_sq)
        # Exclude the point itself exactly; with duplicates in the set a copy still counts as a
        # neighbour at distance 0, as in the reference implementations.
        d[np.arange(i1 - i0), np.arange(i0, i1)] = np.inf
        d = np.partition(d, kth, axis=1)
        for k in ks:
            out[k][i0:i1] = d[:, k - 1]
    return out


def _manifold_scores(
    real: np.ndarray, fake: np.ndarray, k_pr: int | None, k_dc: int | None
) -> dict[str, float]:
    """Precision/recall (k_pr) and/or density/coverage (k_dc) in one pass over real x fake.

    Inequalities follow each paper's reference code: ``<=`` for precision/recall (NVlabs'
    implementation of Kynkäänniemi et al.), strict ``<`` for density/coverage (clovaai/generative-
    evaluation-prdc of Naeem et al.). Radii and distances are compared squared.
    """
    # Centre both sets on the real mean: distances are unchanged, and smaller norms make the
    # |a|^2 + |b|^2 - 2ab expansion lose fewer digits.
    centre = real.mean(0)
    real, fake = real - centre, fake - centre
    ks = [k for k in (k_pr, k_dc) if k is not None]
    for k in ks:
        if k < 1:
            raise DataError(f"quality: k must be >= 1, got {k}")
    r_real = _knn_sq_radii(real, ks)
    r_fake = _knn_sq_radii(fake, [k_pr])[k_pr] if k_pr is not None else None
    n, m = real.shape[0], fake.shape[0]
    r_sq, f_sq = np.einsum("ij,ij->i", real, real), np.einsum("ij,ij->i", fake, fake)
    fake_in_real = np.zeros(m, bool)  # precision: fake j inside some real k-NN ball
    real_in_fake = np.zeros(n, bool)  # recall: real i inside some fake k-NN ball
    density_count = np.zeros(m)  # density: number of real balls holding fake j
    covered = np.zeros(n, bool)  # coverage: real ball i holds at least one fake
    step = _chunk_rows(m)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        d = _sq_dists(real[i0:i1], fake, r_sq[i0:i1], f_sq)  # [chunk, M]
        if k_pr is not None and r_fake is not None:  # one condition: r_fake exists with k_pr
            fake_in_real |= (d <= r_real[k_pr][i0:i1, None]).any(axis=0)
            real_in_fake[i0:i1] = (d <= r_fake[None, :]).any(axis=1)
        if k_dc is not None:
            inside = d < r_real[k_dc][i0:i1, None]
            density_count += inside.sum(axis=0)
            covered[i0:i1] = inside.any(axis=1)
    out: dict[str, float] = {}
    if k_pr is not None:
        out["precision"] = float(fake_in_real.mean())
        out["recall"] = float(real_in_fake.mean())
    if k_dc is not None:
        out["density"] = float(density_count.mean() / k_dc)
        out["coverage"] = float(covered.mean())
    return out


def precision_recall(real: Any, fake: Any, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points reaching their k-th nearest
    neighbour in the same set. Precision: fraction of fakes inside the real manifold. Recall:
    fraction of reals inside the fake manifold. Both in ``[0, 1]``; a model that drops modes keeps
    its precision and loses recall. ``k=3`` is the paper's choice.
    """
    r, f = _pair(real, fake)
    s = _manifold_scores(r, f, k_pr=k, k_dc=None)
    return s["precision"], s["recall"]


def density_coverage(real: Any, fake: Any, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), robust to outliers in either set.

    Density: average over fakes of (number of real k-NN balls that contain it) / k; about 1 when
    the two distributions match, above 1 when fakes crowd the dense regions of the real data.
    Coverage: fraction of real balls that contain at least one fake, in ``[0, 1]``. Only real
    radii are used, so a few outlying fakes cannot inflate them. ``k=5`` is the paper's choice.
    """
    r, f = _pair(real, fake)
    s = _manifold_scores(r, f, k_pr=None, k_dc=k)
    return s["density"], s["coverage"]


class QualityScores(TypedDict):
    """What :func:`quality_scores` returns (a plain dict, JSON-ready)."""

    fid: float
    kid: float
    kid_std: float | None  # None where :func:`kid` says: every subset was the whole of both sets
    precision: float
    recall: float
    density: float
    coverage: float


def quality_scores(
    real_feats: Any,
    fake_feats: Any,
    *,
    k_pr: int = 3,
    k_dc: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    eps: float = 1e-6,
) -> QualityScores:
    """All sample-quality scores between ``real [N, D]`` and ``fake [M, D]`` features.

    Returns a dict with keys ``"fid"``, ``"kid"``, ``"kid_std"``, ``"precision"``, ``"recall"``,
    ``"density"``, ``"coverage"`` (plain floats, JSON-ready; ``kid_std`` is None where
    :func:`kid` says). Lower is better for FID and KID; precision / recall / coverage are best
    at 1; density is ~1 for matching distributions. The k-NN scores share one pass over the
    real x fake distances.
    """
    r, f = _pair(real_feats, fake_feats)
    kid_mean, kid_std = kid(r, f, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    fid_value = fid(r, f, eps=eps)
    knn = _manifold_scores(r, f, k_pr=k_pr, k_dc=k_dc)
    return QualityScores(
        fid=fid_value,
        kid=kid_mean,
        kid_std=kid_std,
        precision=knn["precision"],
        recall=knn["recall"],
        density=knn["density"],
        coverage=knn["coverage"],
    )


def real_vs_real(reference: Any, other: Any, *, extractor: Any = None, **kw: Any) -> QualityScores:
    """The same scores as :func:`quality_scores` between two *real* sets: the best a model can do.

    In a feature space trained in the project there is no published scale, so print this beside
    the model's scores. FID (and the k-NN radii) depend on the sample sizes, and features of
    images the feature classifier was trained on are not those of unseen ones, so compare sets
    of one size, none of them the classifier's training set: for MNIST, two disjoint halves of
    the 10,000 test digits (``real_vs_real(t10k[:5000], t10k[5000:])``), with the model's
    5,000 samples scored against the first half, which is what
    :func:`infogan.evaluate.quality_block` does.

    Args:
        reference: the real set playing "real": a feature matrix ``[N, D]``, or images (an
            :class:`~infogan.data.ImageDataset` or an image tensor ``[N, C, H, W]``).
        other: the real set playing "fake", in the same form.
        extractor: used when images are given; default
            :func:`~infogan.metrics.features.features_for` of the reference's image shape.
        **kw: passed to :func:`quality_scores`.
    """

    def as_feats(x: Any) -> Any:
        nonlocal extractor
        if getattr(x, "ndim", None) == 2:
            return x  # already features
        from infogan.metrics.features import extract_features, features_for

        if extractor is None:
            shape = getattr(x, "shape", None)
            extractor = features_for(tuple(shape) if shape is not None else x)
        return extract_features(extractor, x)

    return quality_scores(as_feats(reference), as_feats(other), **kw)
