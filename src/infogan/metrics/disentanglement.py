"""Supervised disentanglement metrics against a ground-truth factor dataset.

This module is a numpy + scikit-learn port of disentanglement_lib's definitions
(google-research/disentanglement_lib, Apache-2.0; Locatello et al., "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations", ICML 2019), written
afresh without TensorFlow or gin. Defaults are the values of that library's study configs:

==========================  ====================================================================
metric                      reference setting reproduced here
==========================  ====================================================================
BetaVAE score               batch 64, 10 000 train / 5 000 eval points, default LogisticRegression
FactorVAE score             batch 64, 10 000 train / 5 000 eval votes, 10 000 points for the global
                            variances, codes with std < 0.05 pruned
MIG                         10 000 points, 20 equal-width bins, ``mutual_info_score``
DCI                         10 000 train / 5 000 test, default GradientBoostingClassifier
SAP                         10 000 train / 5 000 test, LinearSVC(C=0.01, balanced) per code/factor
modularity/explicitness     10 000 train / 5 000 test, 20 bins, default LogisticRegression
==========================  ====================================================================

A dataset is anything with ``factors_num_values``, ``sample_factors`` and
``sample_observations_from_factors`` (:class:`GroundTruthData`); a representation is any function
from a batch of observations to a float array ``[n, n_codes]``. For an InfoGAN that function is
the mean of Q's code posterior. It must be deterministic and per-sample (a network in eval mode):
the metrics call it on batches of different sizes and assume the answer does not depend on that.

Speed, none of which changes a score: :func:`generate_batch_factor_code` draws in the reference's
batches but represents thousands of observations per call; on noise-free indexed data (dSprites)
:func:`all_scores` represents each distinct observation once (:func:`memoize`) - the reference
sizes draw ~2.9 million observations, at most 737,280 of them distinct; ``n_jobs`` fits DCI's
per-factor boosted trees in parallel threads; and ``concurrent=True`` runs the metrics at once in
threads around one serialised ``rep_fn``, so that scikit-learn's fitting on the CPU overlaps a
network's work on a GPU.

Array layout follows the reference for the helpers: :func:`generate_batch_factor_code`,
:func:`discretize`, :func:`discrete_mutual_info` and :func:`discrete_entropy` take and return
*dimension-major* arrays (``[n_codes, n_points]`` / ``[n_factors, n_points]``), while the
representation function itself is sample-major (``[n_points, n_codes]``).

Deliberate differences from the reference, none of which changes what a score measures:

* randomness comes from a ``numpy.random.Generator``; the reference used ``RandomState``, so the
  same seed does not give the same numbers, only the same distribution;
* BetaVAE / FactorVAE training points are sampled many groups at a time (one big
  ``representation_fn`` call per chunk instead of one or two per point) - same distribution,
  ~100x fewer calls;
* FactorVAE's ``num_active_dims`` is the number of codes kept by pruning (the reference returned
  the length of the mask, i.e. always the total number of codes);
* explicitness scores each factor's classes against the fitted classifier's own classes, so a test
  set that lacks a class does not crash; a class with no positive (or no negative) test point is
  left out of that factor's mean AUC (the reference would raise);
* Convergence warnings of the fixed-budget estimators are silenced: the metric *is* the
  estimator at its default budget.

Where scikit-learn's defaults have moved since the reference was written, the reference's are
kept, because they change the scores: BetaVAE's and explicitness' ``LogisticRegression()`` was
liblinear one-vs-rest in scikit-learn 0.19-0.21 (:func:`_reference_logistic`; today's default,
lbfgs multinomial, scored explicitness 0.02-0.05 higher, since a softmax can single out the
middle values of an ordinal factor where one-vs-rest sigmoids cannot, and BetaVAE up to 0.01
higher). SAP's ``LinearSVC`` uses ``dual="auto"``, which finds the same optimum as the
reference's ``dual=True`` (scores agree to 1e-3) far faster.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from infogan.errors import DataError, SpecError, whole_number

__all__ = [
    "GroundTruthData",
    "RepresentationFn",
    "METRICS",
    "all_scores",
    "beta_vae_score",
    "code_factor_mi",
    "completeness",
    "dci",
    "disentanglement",
    "discrete_entropy",
    "discrete_mutual_info",
    "discretize",
    "factor_vae_score",
    "generate_batch_factor_code",
    "memoize",
    "mig",
    "mig_breakdown",
    "modularity",
    "modularity_explicitness",
    "sap",
]

RepresentationFn = Callable[[np.ndarray], np.ndarray]
"""observations -> float array ``[n, n_codes]``."""

# Most observations passed to one representation_fn call (by every metric, and by memoize).
# 4096 64x64 float images are ~64 MiB: big enough to amortise a network's per-call overhead,
# small enough for any machine.
_MAX_CALL = 4096


@runtime_checkable
class GroundTruthData(Protocol):
    """A dataset generated by known discrete factors (dSprites, 3D shapes, a synthetic grid)."""

    factors_num_values: list[int]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` independent factor vectors, int ``[n, n_factors]``, factor i in [0, values[i])."""
        ...

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """One observation per row of ``factors``; any array the representation accepts."""
        ...


# --------------------------------------------------------------------------------------------
# Helpers (reference: disentanglement_lib/evaluation/metrics/utils.py)
# --------------------------------------------------------------------------------------------


def _num_factors(data: GroundTruthData) -> int:
    """Number of factors, after checking every factor can vary (else MI / entropy are 0/0)."""
    if not isinstance(data, GroundTruthData):
        raise SpecError(
            "data: expected ground-truth data (factors_num_values, sample_factors, "
            f"sample_observations_from_factors), got {type(data).__name__}"
        )
    values = [int(v) for v in data.factors_num_values]
    if len(values) < 2:
        raise DataError(f"need at least 2 ground-truth factors, got {len(values)}")
    if min(values) < 2:
        raise DataError(
            f"every factor must take at least 2 values (drop constant ones), got {values}"
        )
    return len(values)


def _represent(rep_fn: RepresentationFn, observations: np.ndarray, n: int) -> np.ndarray:
    """Call ``rep_fn`` and check it returned ``[n, n_codes]`` finite floats."""
    z = np.asarray(rep_fn(observations), dtype=np.float64)
    if z.ndim != 2 or z.shape[0] != n:
        raise DataError(
            f"representation function must return [n, n_codes] for n={n} observations, "
            f"got shape {z.shape}"
        )
    if not np.all(np.isfinite(z)):
        raise DataError("representation function returned NaN or inf")
    return z


def _represent_factors(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    factors: np.ndarray,
    rng: np.random.Generator,
    max_call: int = _MAX_CALL,
) -> np.ndarray:
    """Representations of the observations of ``factors`` (sample-major), in bounded calls."""
    out = []
    for start in range(0, len(factors), max_call):
        f = factors[start : start + max_call]
        out.append(_represent(rep_fn, data.sample_observations_from_factors(f, rng), len(f)))
    return np.concatenate(out, axis=0)


def _check_factors_vary(ys: np.ndarray, num_train: int, metric: str) -> None:
    """Refuse a sample in which a factor took one value: MIG divides by its entropy (0, so
    NaN came back with only a warning) and a classifier cannot be fitted to one class."""
    for j in range(ys.shape[0]):
        if len(np.unique(ys[j])) < 2:
            raise DataError(
                f"{metric}: factor {j} took a single value in {num_train} training points; raise "
                "num_train (infogan evaluate: a larger --scale)"
            )


def _check_num(name: str, value: int, minimum: int = 1) -> int:
    # whole_number: None or "10" (a raw TypeError before) and 2.5 are named, not cut or crashed
    return whole_number(name, value, minimum)


def generate_batch_factor_code(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    num_points: int,
    rng: np.random.Generator,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``num_points`` i.i.d. factors and represent their observations.

    Factors and observations are drawn ``batch_size`` at a time, in the reference's order (so
    ``batch_size`` fixes which random numbers go where), but the observations of many batches
    go to ``rep_fn`` together, up to ``_MAX_CALL`` at a time: a network is called ~250 times
    less often than once per reference batch of 16, with the same result for a per-sample
    representation.

    Returns:
        ``(codes, factors)``: float ``[n_codes, num_points]`` and int ``[n_factors,
        num_points]`` - dimension-major, as in the reference.
    """
    num_points = _check_num("num_points", num_points)
    batch_size = _check_num("batch_size", batch_size)
    _check_rng(rng)
    codes: list[np.ndarray] = []
    factors: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    n_pending = 0

    def flush() -> None:
        nonlocal pending, n_pending
        if pending:
            obs = pending[0] if len(pending) == 1 else np.concatenate(pending)
            codes.append(_represent(rep_fn, obs, n_pending))
            pending, n_pending = [], 0

    for start in range(0, num_points, batch_size):
        n = min(batch_size, num_points - start)
        f = np.asarray(data.sample_factors(n, rng))
        obs = np.asarray(data.sample_observations_from_factors(f, rng))
        if len(obs) != n:
            raise DataError(f"sample_observations_from_factors returned {len(obs)} rows for {n}")
        factors.append(f)
        if n_pending + n > _MAX_CALL:
            flush()
        pending.append(obs)
        n_pending += n
    flush()
    return np.concatenate(codes).T, np.concatenate(factors).T


def discretize(target: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Equal-width histogram binning of each row of ``target`` ``[n_dims, n_points]``.

    Row i is cut into ``num_bins`` bins of equal width spanning its own min..max
    (``np.histogram`` edges) and each value is replaced by its bin number 1..num_bins
    (``np.digitize`` against the left edges, so the maximum lands in the last bin). Because the
    bins follow each row's range, the result is unchanged by a positive affine rescaling of a row.
    """
    target = np.asarray(target, dtype=np.float64)
    if target.ndim != 2:
        raise DataError(f"discretize expects [n_dims, n_points], got shape {target.shape}")
    num_bins = _check_num("num_bins", num_bins)
    if not np.isfinite(target).all():  # np.histogram's "autodetected range ... is not finite"
        raise DataError("discretize: the values hold NaN or inf")
    out = np.zeros(target.shape, dtype=np.int64)
    for i, row in enumerate(target):
        edges = np.histogram(row, bins=num_bins)[1]
        out[i] = np.digitize(row, edges[:-1])
    return out


def discrete_mutual_info(mus: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Matrix ``m[i, j] = I(mus_i; ys_j)`` in nats between discrete rows (``mutual_info_score``).

    Args:
        mus: discrete codes ``[n_codes, n_points]`` (e.g. from :func:`discretize`).
        ys: discrete factors ``[n_factors, n_points]``.

    Returns:
        ``[n_codes, n_factors]`` mutual information.
    """
    mus, ys = np.asarray(mus), np.asarray(ys)
    m = np.zeros((mus.shape[0], ys.shape[0]))
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = mutual_info_score(ys[j], mus[i])
    return m


def discrete_entropy(ys: np.ndarray) -> np.ndarray:
    """Entropy ``H(ys_j) = I(ys_j; ys_j)`` in nats of each discrete row of ``ys``."""
    ys = np.asarray(ys)
    return np.array([mutual_info_score(y, y) for y in ys], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Representing each distinct observation once
# --------------------------------------------------------------------------------------------


class _Memoized:
    """A noise-free indexed dataset whose "observations" are flat indices, and the matching
    representation function, which represents each index's real observation at most once.

    The reference metrics draw observations with replacement: at default sizes on dSprites
    (737,280 images) BetaVAE and FactorVAE alone ask for ~2.9 million representations of what
    are at most 737,280 distinct images. For a representation that is a function of the
    observation (the module's contract) and data whose observation is a function of the factor
    row (:func:`memoize`), looking the answer up is the same number computed once.
    """

    def __init__(self, data: Any, rep_fn: RepresentationFn) -> None:
        self.data, self.rep_fn = data, rep_fn
        self.factors_num_values = list(data.factors_num_values)
        self._done = np.zeros(len(data), dtype=bool)
        self._codes: np.ndarray | None = None  # [len(data), n_codes], allocated on first use
        self._lock = threading.Lock()

    # GroundTruthData, with flat indices as observations -------------------------------------

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.data.sample_factors(n, rng)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        del rng  # noise-free: the observation of a factor row is fixed (see memoize)
        return np.asarray(self.data.index_of(factors), dtype=np.int64)

    # RepresentationFn ------------------------------------------------------------------------

    def represent(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        with self._lock:  # one table: callers in several threads fill it in turn
            todo = np.unique(index[~self._done[index]])
            for start in range(0, len(todo), _MAX_CALL):
                chunk = todo[start : start + _MAX_CALL]
                obs = self.data.sample_observations_from_factors(
                    self.data.factors_of(chunk), np.random.default_rng(0)
                )
                z = _represent(self.rep_fn, obs, len(chunk))
                if self._codes is None:
                    self._codes = np.zeros((len(self._done), z.shape[1]))
                elif z.shape[1] != self._codes.shape[1]:
                    raise DataError(
                        f"representation function returned {z.shape[1]} codes, "
                        f"earlier {self._codes.shape[1]}"
                    )
                self._codes[chunk] = z
                self._done[chunk] = True
            if self._codes is None:  # nothing asked yet
                return np.zeros((len(index), 0))
            return self._codes[index]


def memoize(data: Any, rep_fn: RepresentationFn) -> tuple[GroundTruthData, RepresentationFn]:
    """``(data, rep_fn)`` as a pair that represents every distinct observation once, or
    unchanged where that cannot be done exactly.

    Applies to data with ``deterministic_observations = True`` (an observation is a function of
    its factor row alone: no noise, ``rng`` unused), ``index_of(factors) -> [n]`` flat indices,
    ``factors_of(indices)`` and ``len()`` - e.g. :class:`infogan.data.dsprites.DSpritesLike`.
    The returned data draws factors exactly as ``data`` does (same random numbers) and passes
    flat indices as observations to the returned function, which looks each one up in a table
    filled, on first request, by rendering the observation and calling ``rep_fn`` (in sorted,
    de-duplicated batches of up to ``_MAX_CALL``). Every metric result is unchanged for a
    representation that is deterministic and per-sample, which the metrics already require.
    """
    if not (
        getattr(data, "deterministic_observations", False)
        and all(hasattr(data, a) for a in ("index_of", "factors_of", "__len__"))
    ):
        return data, rep_fn
    memo = _Memoized(data, rep_fn)
    return memo, memo.represent


class _Serialized:
    """``rep_fn`` called by one thread at a time, first come first served: metrics running in
    parallel threads share one network (and one device) without oversubscribing it, and a metric
    that needs only a few thousand representations is not starved by one that needs millions."""

    def __init__(self, rep_fn: RepresentationFn) -> None:
        self.rep_fn = rep_fn
        self._cv = threading.Condition()
        self._next = self._serving = 0

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        with self._cv:
            ticket = self._next
            self._next += 1
            self._cv.wait_for(lambda: self._serving == ticket)
        try:
            return self.rep_fn(observations)
        finally:
            with self._cv:
                self._serving += 1
                self._cv.notify_all()


@contextmanager
def _no_convergence_warnings() -> Iterator[None]:
    """Ignore sklearn ConvergenceWarning inside: the reference estimators run at their default
    iteration budget, so not converging is part of the metric's definition, not an error.

    The filter list is process-wide, so threads that each enter and leave this would restore
    one another's lists: code that runs metrics in threads holds it around all of them (each
    thread's own entry then only ever restores a list that still ignores the warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _check_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):  # an int or a RandomState: AttributeErrors
        raise SpecError(
            f"rng: expected a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )


def _seed(rng: np.random.Generator) -> int:
    """A seed for an sklearn estimator, drawn from ``rng`` so runs are reproducible."""
    _check_rng(rng)
    return int(rng.integers(2**31 - 1))


# --------------------------------------------------------------------------------------------
# BetaVAE score (reference: beta_vae.py)
# --------------------------------------------------------------------------------------------


def _group_chunks(num_groups: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(start, count) of group chunks whose observations fit in one representation call."""
    per_chunk = max(1, _MAX_CALL // batch_size)
    for start in range(0, num_groups, per_chunk):
        yield start, min(per_chunk, num_groups - start)


def _beta_vae_points(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    batch_size: int,
    num_points: int,
) -> tuple[np.ndarray, np.ndarray]:
    """BetaVAE training points: (mean |z1 - z2| over a pair batch sharing factor k, label k)."""
    n_factors = _num_factors(data)
    labels = rng.integers(n_factors, size=num_points)
    features = []
    for start, g in _group_chunks(num_points, batch_size):
        n = g * batch_size
        f1 = np.asarray(data.sample_factors(n, rng)).copy()
        f2 = np.asarray(data.sample_factors(n, rng)).copy()
        # Every pair in group p agrees on factor labels[p]; the others are independent.
        fixed = np.repeat(labels[start : start + g], batch_size)
        rows = np.arange(n)
        f2[rows, fixed] = f1[rows, fixed]
        z1 = _represent_factors(data, rep_fn, f1, rng)
        z2 = _represent_factors(data, rep_fn, f2, rng)
        features.append(np.abs(z1 - z2).reshape(g, batch_size, -1).mean(axis=1))
    return np.concatenate(features), labels


def _reference_logistic(seed: int) -> OneVsRestClassifier:
    """disentanglement_lib's ``linear_model.LogisticRegression()`` as it ran (scikit-learn
    0.19-0.21): liblinear, L2 with C=1, the intercept penalised too, one binary model per class
    (one-vs-rest; predictions by the largest decision value, probabilities each model's sigmoid
    normalised over classes). scikit-learn >= 1.8 no longer runs liblinear on many classes
    itself, hence the explicit one-vs-rest wrapper, which computes the same thing."""
    return OneVsRestClassifier(LogisticRegression(solver="liblinear", random_state=seed))


def beta_vae_score(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict[str, float]:
    """BetaVAE disentanglement score (Higgins et al., "beta-VAE", ICLR 2017, openreview Sy2fzU9gl).

    Each point: pick a factor ``k`` uniformly, draw ``batch_size`` pairs of factor vectors that
    agree on ``k`` only, and take ``z_diff = mean_b |r(x1_b) - r(x2_b)|``. A linear classifier
    (default scikit-learn LogisticRegression, as the reference) learns ``k`` from ``z_diff``; the
    score is its accuracy on fresh points. Chance is ``1 / n_factors``.

    Returns:
        ``{"beta_vae": eval accuracy, "beta_vae_train": train accuracy}``.
    """
    batch_size = _check_num("batch_size", batch_size, 2)
    num_train = _check_num("num_train", num_train)
    num_eval = _check_num("num_eval", num_eval)
    x_train, y_train = _beta_vae_points(data, rep_fn, rng, batch_size, num_train)
    if len(np.unique(y_train)) < 2:
        # Only one factor drawn (tiny num_train): a constant classifier is all one can fit.
        x_eval, y_eval = _beta_vae_points(data, rep_fn, rng, batch_size, num_eval)
        return {"beta_vae": float(np.mean(y_eval == y_train[0])), "beta_vae_train": 1.0}
    with _no_convergence_warnings():
        model = _reference_logistic(_seed(rng)).fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = _beta_vae_points(data, rep_fn, rng, batch_size, num_eval)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return {"beta_vae": eval_acc, "beta_vae_train": train_acc}


# --------------------------------------------------------------------------------------------
# FactorVAE score (reference: factor_vae.py)
# --------------------------------------------------------------------------------------------


def _factor_vae_votes(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    batch_size: int,
    num_points: int,
    global_var: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Vote matrix ``[n_factors, n_codes]``: (factor held fixed, code of least normalised var)."""
    n_factors = _num_factors(data)
    votes = np.zeros((n_factors, global_var.shape[0]), dtype=np.int64)
    active_idx = np.flatnonzero(active)
    labels = rng.integers(n_factors, size=num_points)
    for start, g in _group_chunks(num_points, batch_size):
        k = labels[start : start + g]
        f = np.asarray(data.sample_factors(g * batch_size, rng)).copy()
        f = f.reshape(g, batch_size, n_factors)
        # Hold factor k[p] at the value of the group's first sample across all of group p.
        groups = np.arange(g)
        f[groups[:, None], np.arange(batch_size)[None, :], k[:, None]] = f[groups, 0, k][:, None]
        z = _represent_factors(data, rep_fn, f.reshape(-1, n_factors), rng)
        local_var = z.reshape(g, batch_size, -1).var(axis=1, ddof=1)[:, active_idx]
        code = active_idx[np.argmin(local_var / global_var[active_idx], axis=1)]
        np.add.at(votes, (k, code), 1)
    return votes


def factor_vae_score(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """FactorVAE disentanglement score (Kim & Mnih, "Disentangling by Factorising", ICML 2018,
    arXiv:1802.05983).

    Codes whose global standard deviation (over ``num_variance_estimate`` random observations,
    ``ddof=1``) is below ``prune_threshold`` are dropped as collapsed. Each vote: fix a random
    factor ``k`` over a batch of ``batch_size`` observations, and find the active code ``d`` with
    the smallest ``Var_batch(z_d) / Var_global(z_d)``. The majority-vote classifier maps each
    code to the factor it was most often chosen for; the score is that classifier's accuracy on
    fresh votes. It is invariant to rescaling each code (while no code gets pruned). Chance is
    about ``1 / n_factors``.

    Returns:
        ``{"factorvae": eval accuracy, "factorvae_train": train accuracy,
        "num_active_dims": number of codes kept}`` (all 0 when every code is pruned).
    """
    batch_size = _check_num("batch_size", batch_size, 2)
    num_train = _check_num("num_train", num_train)
    num_eval = _check_num("num_eval", num_eval)
    num_variance_estimate = _check_num("num_variance_estimate", num_variance_estimate, 2)
    _num_factors(data)
    factors = np.asarray(data.sample_factors(num_variance_estimate, rng))
    global_var = _represent_factors(data, rep_fn, factors, rng).var(axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"factorvae": 0.0, "factorvae_train": 0.0, "num_active_dims": 0}
    train_votes = _factor_vae_votes(data, rep_fn, rng, batch_size, num_train, global_var, active)
    classifier = np.argmax(train_votes, axis=0)  # code -> factor; ties go to the lower factor
    codes = np.arange(train_votes.shape[1])
    train_acc = train_votes[classifier, codes].sum() / train_votes.sum()
    eval_votes = _factor_vae_votes(data, rep_fn, rng, batch_size, num_eval, global_var, active)
    eval_acc = eval_votes[classifier, codes].sum() / eval_votes.sum()
    return {
        "factorvae": float(eval_acc),
        "factorvae_train": float(train_acc),
        "num_active_dims": int(active.sum()),
    }


# --------------------------------------------------------------------------------------------
# MIG (reference: mig.py)
# --------------------------------------------------------------------------------------------


def mig(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """Mutual Information Gap (Chen et al., "Isolating Sources of Disentanglement in VAEs",
    NeurIPS 2018, arXiv:1802.04942), discrete estimator as in disentanglement_lib.

    ``MIG = 1/K sum_k (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k)`` where ``z_(1)``, ``z_(2)`` are
    the codes with the largest and second-largest mutual information with factor ``v_k``. Codes
    are discretised into ``num_bins`` equal-width bins (:func:`discretize`) and MI is the plug-in
    ``mutual_info_score``. With a single code the gap is that code's normalised MI.

    Returns:
        ``{"mig": score}``, in [0, 1].
    """
    m = code_factor_mi(data, rep_fn, rng, num_train, batch_size, num_bins)
    return {"mig": float(np.mean(_mig_gaps(m)))}


def code_factor_mi(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> np.ndarray:
    """The matrix MIG reads: ``I(code_j; factor_k) / H(factor_k)``, ``[n_codes, n_factors]``,
    each entry in [0, 1], estimated as :func:`mig` does (``num_train`` points, codes in
    ``num_bins`` equal-width bins, plug-in MI). Row ``j`` says what code ``j`` captured; a
    column with two large entries is a factor split over two codes."""
    num_train = _check_num("num_train", num_train)
    _num_factors(data)
    mus, ys = generate_batch_factor_code(data, rep_fn, num_train, rng, batch_size)
    _check_factors_vary(ys, num_train, "mig")
    m = discrete_mutual_info(discretize(mus, num_bins), ys)
    return m / discrete_entropy(ys)[None, :]


def _mig_gaps(normalized_mi: np.ndarray) -> np.ndarray:
    """Per factor (column): largest minus second-largest normalised MI over codes."""
    top = np.sort(normalized_mi, axis=0)[::-1]
    second = top[1] if top.shape[0] > 1 else np.zeros(top.shape[1])
    return top[0] - second


def mig_breakdown(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    seed: int,
    scale: float = 1.0,
    **kw: Any,
) -> dict[str, list[Any]]:
    """Per factor, what :func:`mig` averages, on the very sample that
    ``all_scores(data, rep_fn, np.random.default_rng(seed), scale, **kw)`` draws for MIG (same
    child generator, same sizes), so the mean of ``gap`` is that run's ``mig``.

    Returns:
        ``normalized_mi`` (:func:`code_factor_mi`, nested lists ``[code][factor]``), ``gap``
        (per factor), ``top_code`` (per factor, the index of the code that holds it most).
    """
    child = np.random.default_rng(seed).spawn(len(METRICS))[list(METRICS).index("mig")]
    params = inspect.signature(code_factor_mi).parameters
    args: dict[str, Any] = dict(_scaled_defaults(mig, scale))
    args.update({k: v for k, v in kw.items() if k in params})
    m = code_factor_mi(data, rep_fn, child, **args)
    return {
        "normalized_mi": m.tolist(),
        "gap": _mig_gaps(m).tolist(),
        "top_code": [int(i) for i in np.argmax(m, axis=0)],
    }


# --------------------------------------------------------------------------------------------
# DCI (reference: dci.py)
# --------------------------------------------------------------------------------------------


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy (log base ``base``) of each row of non-negative ``p`` after normalising it."""
    p = p / p.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1) / math.log(base)


def disentanglement(importance: np.ndarray) -> float:
    """DCI disentanglement of an importance matrix ``R [n_codes, n_factors]`` (Eastwood &
    Williams 2018, Sec. 2): ``sum_i rho_i (1 - H_K(P_i.))`` with ``P_ij = R_ij / sum_j R_ij``,
    ``H_K`` the entropy in base ``K = n_factors`` and ``rho_i = sum_j R_ij / sum R`` (uniform
    weights if ``R`` is all zero). The 1e-11 added to ``R`` follows the reference."""
    importance = np.asarray(importance, dtype=np.float64)
    n_factors = importance.shape[1]
    if n_factors < 2:
        return 1.0  # one factor: every code is trivially about a single factor
    per_code = 1.0 - _entropy_rows(importance + 1e-11, n_factors)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    code_weight = weights.sum(axis=1) / weights.sum()
    return float(np.sum(per_code * code_weight))


def completeness(importance: np.ndarray) -> float:
    """DCI completeness of ``R [n_codes, n_factors]``: :func:`disentanglement` of ``R``
    transposed - each factor's importance spread over codes, entropy in base ``n_codes``,
    weighted by the factor's share of total importance."""
    return disentanglement(np.asarray(importance).T)


def _make_dci_model(model: str | Callable[[], Any], rng: np.random.Generator) -> Any:
    if callable(model):
        return model()
    if model == "gbt":
        # The reference: GradientBoostingClassifier() at sklearn defaults (100 depth-3 trees per
        # class). Only the seed is added, so the feature-tie breaking is reproducible.
        return GradientBoostingClassifier(random_state=_seed(rng))
    if model == "fast":
        # Same model family at ~1/10 the cost: for tests and quick looks, not for reporting.
        return GradientBoostingClassifier(
            n_estimators=10, learning_rate=0.5, random_state=_seed(rng)
        )
    raise SpecError(f"unknown DCI model {model!r}; use 'gbt', 'fast' or a factory callable")


def _fit_dci_factor(
    clf: Any, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Fit one factor's classifier: (|feature importances|, train accuracy, test accuracy)."""
    clf.fit(x_train, y_train)
    return (
        np.abs(np.asarray(clf.feature_importances_, dtype=np.float64)),
        float(np.mean(clf.predict(x_train) == y_train)),
        float(np.mean(clf.predict(x_test) == y_test)),
    )


def dci(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    model: str | Callable[[], Any] = "gbt",
    n_jobs: int | None = None,
) -> dict[str, float]:
    """Disentanglement, Completeness, Informativeness (Eastwood & Williams, ICLR 2018,
    openreview By-7dz-AZ), with gradient-boosted trees as in disentanglement_lib.

    For each factor a classifier predicts it from all codes; its (absolute) impurity-based
    ``feature_importances_`` form column ``j`` of the importance matrix ``R [n_codes,
    n_factors]``. Disentanglement and completeness are :func:`disentanglement` and
    :func:`completeness` of ``R``; informativeness is the classifiers' mean accuracy (the
    reference's "informativeness" is an accuracy, higher is better, not an error).

    Args:
        model: ``"gbt"`` (default, the reference's ``GradientBoostingClassifier()``; slow: 100
            trees per class per factor), ``"fast"`` (10 boosting stages at learning rate 0.5;
            for tests), or a zero-argument factory of any classifier with ``fit``, ``predict``
            and ``feature_importances_``.
        n_jobs: fit the per-factor classifiers in parallel (joblib, threads by default;
            ``-1`` = all cores). The result does not depend on it. At reference sizes on
            dSprites (113 classes in all) the default model takes about two minutes
            single-threaded, of which the 40-class orientation factor alone is about 40 %.

    Returns:
        ``{"dci_disentanglement", "dci_completeness", "dci_informativeness_train",
        "dci_informativeness_test"}``.
    """
    num_train = _check_num("num_train", num_train)
    num_test = _check_num("num_test", num_test)
    _num_factors(data)
    x_train, y_train = generate_batch_factor_code(data, rep_fn, num_train, rng, batch_size)
    x_test, y_test = generate_batch_factor_code(data, rep_fn, num_test, rng, batch_size)
    _check_factors_vary(y_train, num_train, "dci")
    # Build every model (and draw its seed) up front, so n_jobs cannot change the result.
    models = [_make_dci_model(model, rng) for _ in range(y_train.shape[0])]
    # Threads: tree building (~90 % of a fit) runs without the GIL, and threads need no worker
    # start-up or copies. A parallel_config(backend=...) still overrides it.
    fits = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_dci_factor)(clf, x_train.T, y_train[j], x_test.T, y_test[j])
        for j, clf in enumerate(models)
    )
    importance = np.stack([f[0] for f in fits], axis=1)  # [n_codes, n_factors]
    acc_train = [f[1] for f in fits]
    acc_test = [f[2] for f in fits]
    return {
        "dci_disentanglement": disentanglement(importance),
        "dci_completeness": completeness(importance),
        "dci_informativeness_train": float(np.mean(acc_train)),
        "dci_informativeness_test": float(np.mean(acc_test)),
    }


# --------------------------------------------------------------------------------------------
# SAP (reference: sap_score.py)
# --------------------------------------------------------------------------------------------


def _sap_matrix(
    mus: np.ndarray,
    ys: np.ndarray,
    mus_test: np.ndarray,
    ys_test: np.ndarray,
    continuous_factors: bool,
) -> np.ndarray:
    """Score matrix ``S [n_codes, n_factors]`` of Kumar et al. Sec. 3."""
    score = np.zeros((mus.shape[0], ys.shape[0]))
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            if continuous_factors:
                # R^2 of a linear fit of factor j on code i: Cov^2 / (Var z * Var v).
                c = np.cov(mus[i], ys[j], ddof=1)
                score[i, j] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
            elif len(np.unique(ys[j])) < 2:
                score[i, j] = 1.0  # nothing to separate: any code predicts it
            else:
                # Plain test accuracy of a class-balanced 1-D linear SVM, as in the reference
                # (C=0.01). dual="auto" picks the primal for n_points >> 1 feature: same
                # optimum, no dual warnings.
                clf = LinearSVC(C=0.01, class_weight="balanced", dual="auto")
                clf.fit(mus[i][:, None], ys[j])
                score[i, j] = np.mean(clf.predict(mus_test[i][:, None]) == ys_test[j])
    return score


def sap(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan, "Variational
    Inference of Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018, Sec. 3).

    For every (code i, factor j) a predictor of factor j from code i alone is scored: for
    discrete factors the test accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` trained
    on code i; for continuous ones the squared correlation. SAP is the mean over factors of the
    gap between the best and second-best code's score. A 1-D linear one-vs-rest SVM cannot carve
    out middle values of an ordinal factor, so even a perfect code scores well below 1 for
    factors with many values; and the regularised SVM is only approximately invariant to
    rescaling a code.

    Returns:
        ``{"sap": score}``.
    """
    num_train = _check_num("num_train", num_train)
    num_test = _check_num("num_test", num_test)
    _num_factors(data)
    mus, ys = generate_batch_factor_code(data, rep_fn, num_train, rng, batch_size)
    mus_test, ys_test = generate_batch_factor_code(data, rep_fn, num_test, rng, batch_size)
    with _no_convergence_warnings():
        s = _sap_matrix(mus, ys, mus_test, ys_test, continuous_factors)
    s = np.sort(s, axis=0)
    second = s[-2] if s.shape[0] > 1 else np.zeros(s.shape[1])
    return {"sap": float(np.mean(s[-1] - second))}


# --------------------------------------------------------------------------------------------
# Modularity and explicitness (reference: modularity_explicitness.py)
# --------------------------------------------------------------------------------------------


def modularity(mutual_information: np.ndarray) -> float:
    """Modularity (Ridgeway & Mozer, "Learning Deep Disentangled Embeddings with the F-Statistic
    Loss", NeurIPS 2018, arXiv:1802.05312, Sec. 3) of an MI matrix ``m [n_codes, n_factors]``.

    Per code i with ``theta_i = max_j m_ij``: ``1 - sum_{j != argmax} m_ij^2 / (theta_i^2 (K-1))``
    - 1 when the code carries information about one factor only, 0 when it is spread evenly.
    A code with no information at all scores 0. The result is the mean over codes.
    """
    sq = np.square(np.asarray(mutual_information, dtype=np.float64))
    k = sq.shape[1]
    peak = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - peak) / (peak * (k - 1)) if k > 1 else np.zeros_like(peak)
    score = np.where(peak == 0.0, 0.0, 1.0 - delta)
    return float(np.mean(score))


def _explicitness_per_factor(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, seed: int
) -> tuple[float, float]:
    """Mean one-vs-rest ROC-AUC (train, test) of a LogisticRegression predicting one factor."""
    clf = _reference_logistic(seed).fit(x_train, y_train)

    def macro_auc(x: np.ndarray, y: np.ndarray) -> float:
        proba = clf.predict_proba(x)
        aucs = []
        for c, cls in enumerate(clf.classes_):
            positive = y == cls
            if 0 < positive.sum() < len(y):  # AUC needs both classes present
                aucs.append(roc_auc_score(positive, proba[:, c]))
        return float(np.mean(aucs)) if aucs else float("nan")

    return macro_auc(x_train, y_train), macro_auc(x_test, y_test)


def modularity_explicitness(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """Modularity and explicitness (Ridgeway & Mozer 2018, Sec. 3).

    Modularity is :func:`modularity` of the discretised-code / factor MI matrix (as in
    :func:`mig`). Explicitness: codes are standardised with the training mean and std, one
    default LogisticRegression per factor predicts the factor from all codes, and the score is
    its one-vs-rest ROC-AUC averaged over classes, then over factors (1 = perfectly linearly
    decodable, 0.5 = chance).

    Returns:
        ``{"modularity", "explicitness_train", "explicitness_test"}``.
    """
    num_train = _check_num("num_train", num_train)
    num_test = _check_num("num_test", num_test)
    _num_factors(data)
    mus, ys = generate_batch_factor_code(data, rep_fn, num_train, rng, batch_size)
    mus_test, ys_test = generate_batch_factor_code(data, rep_fn, num_test, rng, batch_size)
    _check_factors_vary(ys, num_train, "modularity_explicitness")
    mi = discrete_mutual_info(discretize(mus, num_bins), ys)
    mean = mus.mean(axis=1, keepdims=True)
    std = mus.std(axis=1, keepdims=True)
    std = np.where(std > 0, std, 1.0)  # a constant code stays 0 instead of becoming NaN
    x_train, x_test = ((mus - mean) / std).T, ((mus_test - mean) / std).T
    train, test = [], []
    with _no_convergence_warnings():
        for j in range(ys.shape[0]):
            a, b = _explicitness_per_factor(x_train, ys[j], x_test, ys_test[j], _seed(rng))
            train.append(a)
            test.append(b)
    return {
        "modularity": modularity(mi),
        "explicitness_train": float(np.nanmean(train)),
        "explicitness_test": float(np.nanmean(test)),
    }


# --------------------------------------------------------------------------------------------
# All of them
# --------------------------------------------------------------------------------------------

METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
    "mig": mig,
    "dci": dci,
    "sap": sap,
    "modularity_explicitness": modularity_explicitness,
}
"""Name -> metric function, in the order :func:`all_scores` runs them."""


def _scaled_defaults(fn: Callable[..., Any], scale: float) -> dict[str, int]:
    """The function's ``num_*`` defaults times ``scale`` (at least 2 points each)."""
    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name.startswith("num_") and name != "num_bins" and isinstance(p.default, int):
            out[name] = max(2, round(p.default * scale))
    return out


def all_scores(
    data: GroundTruthData,
    rep_fn: RepresentationFn,
    rng: np.random.Generator,
    scale: float = 1.0,
    metrics: Sequence[str] | None = None,
    concurrent: bool = False,
    memoize_codes: bool = True,
    timings: dict[str, float] | None = None,
    **kw: Any,
) -> dict[str, float]:
    """Run every metric (or those named in ``metrics``) and merge their dicts into one.

    Args:
        scale: multiplies every ``num_*`` default (train / eval / test / variance-estimate
            sizes, not ``num_bins``), e.g. 0.1 for a quick look. Values given in ``kw`` are used
            as given.
        metrics: subset of :data:`METRICS` names; default all.
        concurrent: run the selected metrics at once, one thread each, calling ``rep_fn`` one
            at a time, in turn, while the others fit their scikit-learn models. Worth it when
            ``rep_fn`` runs on a GPU; on the CPU a network already uses every core, and sharing
            them slowed a run down (401 s one by one, 506 s at once, on 2 cores). The scores do
            not depend on it.
        memoize_codes: represent each distinct observation once, shared by all metrics, where
            the data allows it exactly (:func:`memoize`; no effect on the scores).
        timings: if given, filled with each metric's wall-clock seconds (concurrent ones
            overlap, and include waiting for ``rep_fn``).
        **kw: passed to every selected metric that has a parameter of that name (e.g.
            ``model="fast"`` or ``n_jobs=-1`` reach :func:`dci` only; ``num_train=2000`` reaches
            all). A name no selected metric accepts is an error.

    Each metric gets its own child generator spawned from ``rng`` by its position in
    :data:`METRICS`, so a metric's result does not depend on which others run (nor on the
    order they run in).

    Returns:
        Flat dict with the keys of all selected metrics.
    """
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < math.inf:
        raise SpecError(f"scale must be a number > 0, got {scale!r}")
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise SpecError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    accepted = {n: set(inspect.signature(METRICS[n]).parameters) for n in names}
    stray = [k for k in kw if not any(k in a for a in accepted.values())]
    if stray:
        raise SpecError(f"no selected metric takes argument(s) {stray}")
    children = dict(zip(METRICS, rng.spawn(len(METRICS)), strict=True))
    if memoize_codes:
        data, rep_fn = memoize(data, rep_fn)
    if concurrent:
        rep_fn = _Serialized(rep_fn)
    seconds: dict[str, float] = {}

    def run(name: str) -> dict[str, float]:
        fn = METRICS[name]
        args = _scaled_defaults(fn, scale)
        args.update({k: v for k, v in kw.items() if k in accepted[name]})
        start = time.perf_counter()
        out = fn(data, rep_fn, children[name], **args)
        seconds[name] = time.perf_counter() - start
        return out

    if concurrent:
        with _no_convergence_warnings(), ThreadPoolExecutor(max(1, len(names))) as pool:
            futures = [pool.submit(run, name) for name in names]
            results = [f.result() for f in futures]
    else:
        results = [run(name) for name in names]
    scores: dict[str, float] = {}
    for out in results:
        scores.update(out)
    if timings is not None:
        timings.update({name: seconds[name] for name in names})
    return scores
