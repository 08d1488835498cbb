"""Disentanglement metrics: known answers on a small synthetic factor grid.

The dataset's observation *is* its factor vector, so each test picks the representation directly:
the factors themselves (ideal), noise (worthless), a permuted / rescaled / shifted copy (as good
as the factors), and one code mixing two factors (entangled).
"""

from __future__ import annotations

import numpy as np
import pytest
from joblib import parallel_config

from infogan.errors import DataError, SpecError
from infogan.metrics import disentanglement as D

VALUES = [3, 5, 4, 6]
N_FACTORS = len(VALUES)
SCALE = 0.1  # 1000 train / 500 eval-test points, 1000 variance-estimate points
PERM = np.array([2, 0, 3, 1])
RESCALE = np.array([0.5, 3.0, 1.7, 10.0])
SHIFT = np.array([5.0, -2.0, 0.3, 100.0])


class Grid:
    """Independent uniform discrete factors; the observation is the factor vector as floats."""

    def __init__(self, values: list[int]):
        self.factors_num_values = list(values)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(v, size=n) for v in self.factors_num_values], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        return factors.astype(np.float64)


def identity(x: np.ndarray) -> np.ndarray:
    return x


def transformed(x: np.ndarray) -> np.ndarray:
    return (x * RESCALE + SHIFT)[:, PERM]


def permuted(x: np.ndarray) -> np.ndarray:
    return x[:, PERM]


def mixed(x: np.ndarray) -> np.ndarray:
    # code 0 carries factors 0 and 1 at once; factor 1 is also alone in code 1.
    return np.column_stack([x[:, 0] + VALUES[0] * x[:, 1], x[:, 1:]])


def make_noise():
    noise_rng = np.random.default_rng(123)
    return lambda x: noise_rng.normal(size=(len(x), N_FACTORS))


def scores(rep_fn, seed: int = 0, **kw) -> dict[str, float]:
    return D.all_scores(Grid(VALUES), rep_fn, np.random.default_rng(seed), scale=SCALE, **kw)


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, float]]:
    # One run per representation, shared by the tests below; the same seed means the same
    # factor samples, so differences come from the representation only.
    return {
        "truth": scores(identity, model="fast"),
        "noise": scores(make_noise(), model="fast"),
        "transformed": scores(transformed, model="fast"),
        "permuted": scores(permuted, model="fast"),
        "mixed": scores(mixed, model="fast"),
    }


ALL_KEYS = {
    "beta_vae",
    "beta_vae_train",
    "factorvae",
    "factorvae_train",
    "num_active_dims",
    "mig",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness_train",
    "dci_informativeness_test",
    "sap",
    "modularity",
    "explicitness_train",
    "explicitness_test",
}


# ---- helpers ---------------------------------------------------------------------------------


def test_discretize_equal_width_bins_and_affine_invariance():
    row = np.arange(10, dtype=float)
    np.testing.assert_array_equal(D.discretize(row[None], 5)[0], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    x = np.random.default_rng(0).normal(size=(3, 500))
    d = D.discretize(x, 20)
    assert d.dtype == np.int64 and d.min() == 1 and d.max() == 20
    assert (d[:, x.argmax(axis=1)].diagonal() == 20).all()  # the maximum is in the last bin
    np.testing.assert_array_equal(D.discretize(3.0 * x - 7.0, 20), d)


def test_entropy_and_mutual_information():
    y = np.repeat(np.arange(4), 25)[None]  # uniform over 4 values
    np.testing.assert_allclose(D.discrete_entropy(y), [np.log(4)])
    other = np.tile(np.arange(5), 20)[None]  # independent of y by construction
    m = D.discrete_mutual_info(np.vstack([y, other]), y)
    assert m.shape == (2, 1)
    np.testing.assert_allclose(m[:, 0], [np.log(4), 0.0], atol=1e-12)


def test_generate_batch_factor_code_layout():
    rng = np.random.default_rng(0)
    codes, factors = D.generate_batch_factor_code(Grid(VALUES), transformed, 50, rng, 16)
    assert codes.shape == (N_FACTORS, 50) and factors.shape == (N_FACTORS, 50)
    np.testing.assert_allclose(codes.T, transformed(factors.T.astype(float)))
    assert all(factors[j].max() < v for j, v in enumerate(VALUES))


def test_dci_scores_of_known_importance_matrices():
    assert D.disentanglement(np.eye(3)) == pytest.approx(1.0)
    assert D.completeness(np.eye(3)) == pytest.approx(1.0)
    assert D.disentanglement(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    assert D.completeness(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    # One code explains every factor: complete (each factor in one code) but not disentangled.
    one_code = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert D.disentanglement(one_code) == pytest.approx(0.0, abs=1e-9)
    assert D.completeness(one_code) == pytest.approx(1.0)
    # Code weights: an unimportant code barely counts even if it is fully entangled.
    r = np.array([[1.0, 0.0], [0.01, 0.01]])
    assert D.disentanglement(r) == pytest.approx(1.0 / 1.02, abs=1e-6)


def test_modularity_of_known_mi_matrices():
    assert D.modularity(np.eye(4)) == pytest.approx(1.0)
    assert D.modularity(np.ones((2, 4))) == pytest.approx(0.0)
    # Second code: MI (2, 1, 1, 0) -> 1 - (1 + 1 + 0) / (4 * 3) = 5/6; silent code scores 0.
    m = np.array([[1.0, 0, 0, 0], [2.0, 1.0, 1.0, 0.0], [0.0, 0, 0, 0]])
    assert D.modularity(m) == pytest.approx((1.0 + 5.0 / 6.0 + 0.0) / 3)


# ---- known answers on the synthetic grid -------------------------------------------------------


def test_all_scores_keys_and_ranges(results):
    for r in results.values():
        assert set(r) == ALL_KEYS
        for k, v in r.items():
            assert np.isfinite(v), k
            if k != "num_active_dims":
                assert -1e-9 <= v <= 1 + 1e-9, (k, v)


def test_ground_truth_factors_score_near_one(results):
    r = results["truth"]
    assert r["beta_vae"] > 0.99
    assert r["factorvae"] > 0.99
    assert r["num_active_dims"] == N_FACTORS
    assert r["mig"] > 0.95  # < 1 only by the plug-in estimator's bias
    assert r["dci_disentanglement"] > 0.95
    assert r["dci_completeness"] > 0.95
    assert r["dci_informativeness_test"] > 0.99
    assert r["modularity"] > 0.99
    assert r["explicitness_test"] > 0.95
    # A 1-D linear one-vs-rest SVM recovers only the extreme values of an ordinal factor, so a
    # perfect code scores well below 1 (0.45-0.49 observed over seeds); still far above noise.
    assert r["sap"] > 0.3


def test_noise_scores_near_zero_or_chance(results):
    r = results["noise"]
    chance = 1.0 / N_FACTORS
    assert r["mig"] < 0.05
    assert r["dci_disentanglement"] < 0.1
    assert r["sap"] < 0.05
    assert abs(r["factorvae"] - chance) < 0.1
    assert abs(r["beta_vae"] - chance) < 0.1
    assert abs(r["explicitness_test"] - 0.5) < 0.05
    assert r["dci_informativeness_test"] < 0.4


def test_permuted_rescaled_shifted_copy_scores_the_same(results):
    plain, copy = results["truth"], results["transformed"]
    # Affine-invariant by construction: variance ratios, per-row histogram bins, trees on
    # monotone features, standardised inputs.
    for k in [
        "factorvae",
        "num_active_dims",
        "mig",
        "dci_disentanglement",
        "dci_completeness",
        "dci_informativeness_test",
        "modularity",
        "explicitness_test",
    ]:
        assert copy[k] == pytest.approx(plain[k], abs=1e-6), k
    # BetaVAE's default LogisticRegression is regularised, so only its accuracy (here 1) is
    # stable, not its exact decision function.
    assert copy["beta_vae"] == pytest.approx(plain["beta_vae"], abs=0.01)


def test_sap_is_permutation_invariant_but_not_scale_invariant(results):
    # Per-code classifiers: reordering codes cannot matter.
    assert results["permuted"]["sap"] == pytest.approx(results["truth"]["sap"], abs=1e-9)
    # The reference's LinearSVC(C=0.01) regularises weight and intercept, so rescaling or
    # shifting a code moves its score; this documents that property of the metric.
    assert results["transformed"]["sap"] != pytest.approx(results["truth"]["sap"], abs=1e-3)


def test_mixing_two_factors_in_one_code_is_penalised(results):
    plain, ent = results["truth"], results["mixed"]
    assert ent["mig"] < plain["mig"] - 0.15  # factor 1's MI is shared by two codes
    assert ent["dci_disentanglement"] < plain["dci_disentanglement"] - 0.1
    assert ent["modularity"] < plain["modularity"] - 0.02
    # Nothing is lost, only entangled: the factors stay decodable.
    assert ent["dci_informativeness_test"] > 0.99


# ---- individual metric behaviour ---------------------------------------------------------------


def test_reference_gbt_model_on_small_sample():
    r = D.dci(Grid(VALUES), identity, np.random.default_rng(1), num_train=300, num_test=200)
    assert r["dci_disentanglement"] > 0.9 and r["dci_completeness"] > 0.9
    assert r["dci_informativeness_test"] > 0.99


def test_dci_accepts_a_model_factory():
    from sklearn.ensemble import RandomForestClassifier

    r = D.dci(
        Grid(VALUES),
        identity,
        np.random.default_rng(1),
        num_train=300,
        num_test=100,
        model=lambda: RandomForestClassifier(n_estimators=10, max_features=None, random_state=0),
    )
    assert r["dci_disentanglement"] > 0.8


def test_factor_vae_prunes_collapsed_codes():
    def with_dead_code(x):
        return np.column_stack([x, np.full(len(x), 0.3), 0.001 * x[:, :1]])

    rng = np.random.default_rng(0)
    r = D.factor_vae_score(Grid(VALUES), with_dead_code, rng, 64, 200, 200, 500)
    assert r["num_active_dims"] == N_FACTORS  # the constant and the tiny code are dropped
    assert r["factorvae"] > 0.99
    dead = D.factor_vae_score(Grid(VALUES), lambda x: 0.0 * x, rng, 64, 50, 50, 100)
    assert dead == {"factorvae": 0.0, "factorvae_train": 0.0, "num_active_dims": 0}


def test_same_seed_same_scores():
    a = scores(identity, seed=3, model="fast", metrics=["beta_vae", "dci"])
    b = scores(identity, seed=3, model="fast", metrics=["beta_vae", "dci"])
    assert a == b


def test_all_scores_routes_arguments_and_scales():
    seen: dict[str, int] = {}

    def counting(x):
        seen["n"] = seen.get("n", 0) + len(x)
        return x

    r = D.all_scores(Grid(VALUES), counting, np.random.default_rng(0), scale=0.01, metrics=["mig"])
    assert set(r) == {"mig"}
    assert seen["n"] == 100  # 10000 * 0.01
    # An explicit value wins over the scaled default; a metric subset runs only those.
    r = D.all_scores(
        Grid(VALUES),
        identity,
        np.random.default_rng(0),
        metrics=["mig", "sap"],
        num_train=200,
        num_test=100,
    )
    assert set(r) == {"mig", "sap"}
    with pytest.raises(SpecError):
        D.all_scores(Grid(VALUES), identity, np.random.default_rng(0), metrics=["nope"])
    with pytest.raises(SpecError):  # `model` belongs to dci, which is not selected
        D.all_scores(Grid(VALUES), identity, np.random.default_rng(0), metrics=["mig"], model="x")
    with pytest.raises(SpecError):
        D.all_scores(Grid(VALUES), identity, np.random.default_rng(0), scale=0.0)


def test_bad_inputs_fail_with_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="at least 2 values"):
        D.mig(Grid([3, 1]), identity, rng, num_train=50)
    with pytest.raises(DataError, match=r"\[n, n_codes\]"):
        D.mig(Grid(VALUES), lambda x: x[:, 0], rng, num_train=50)
    with pytest.raises(DataError, match="NaN"):
        D.mig(Grid(VALUES), lambda x: np.full(x.shape, np.nan), rng, num_train=50)
    with pytest.raises(SpecError):
        D.dci(Grid(VALUES), identity, rng, num_train=50, num_test=50, model="nope")
    with pytest.raises(SpecError):
        D.mig(Grid(VALUES), identity, rng, num_train=0)
    # Wrong kinds of argument: named, not AttributeErrors/TypeErrors from inside.
    for bad_rng in (3, None, np.random.RandomState(0)):
        with pytest.raises(SpecError, match="rng: expected a numpy Generator"):
            D.mig(Grid(VALUES), identity, bad_rng, num_train=50)
    with pytest.raises(SpecError, match="data: expected ground-truth data"):
        D.factor_vae_score(None, identity, rng)
    with pytest.raises(SpecError, match="num_train: expected a whole number"):
        D.mig(Grid(VALUES), identity, rng, num_train=None)
    with pytest.raises(DataError, match="NaN or inf"):
        D.discretize(np.array([[0.0, np.nan, 1.0]]))
    with pytest.raises(SpecError, match="scale must be a number > 0"):
        D.all_scores(Grid(VALUES), identity, rng, scale=None)
    # Two points of a 40-value factor grid: some factor takes one value (its entropy is 0; MIG
    # came back NaN with a RuntimeWarning, modularity/explicitness as scikit-learn's error).
    many = Grid([3, 6, 40, 32, 32])
    for metric in (D.mig, D.modularity_explicitness, D.dci):
        kw = {} if metric is D.mig else {"num_test": 2}
        with pytest.raises(DataError, match="took a single value in 2 training points"):
            for seed in range(20):
                metric(many, identity, np.random.default_rng(seed), num_train=2, **kw)


def test_grid_satisfies_protocol():
    assert isinstance(Grid(VALUES), D.GroundTruthData)


def test_dci_n_jobs_does_not_change_the_result():
    args = dict(num_train=200, num_test=100, model="fast")
    serial = D.dci(Grid(VALUES), identity, np.random.default_rng(4), **args)
    # Threads instead of joblib's default processes: same code path, no worker start-up cost.
    with parallel_config(backend="threading"):
        parallel = D.dci(Grid(VALUES), identity, np.random.default_rng(4), n_jobs=2, **args)
    assert serial == parallel


# ----- speed-ups that must not change a score --------------------------------------------------


def _per_batch_reference(data, rep_fn, num_points, rng, batch_size):
    """The reference's loop: one representation call per sampling batch."""
    codes, factors = [], []
    for start in range(0, num_points, batch_size):
        n = min(batch_size, num_points - start)
        f = data.sample_factors(n, rng)
        codes.append(rep_fn(data.sample_observations_from_factors(f, rng)))
        factors.append(f)
    return np.concatenate(codes).T, np.concatenate(factors).T


class NoisyGrid(Grid):
    """Observations that draw from ``rng`` too: the sampling order must be the reference's."""

    def sample_observations_from_factors(self, factors, rng):
        return factors + rng.normal(size=factors.shape)


@pytest.mark.parametrize("data", [Grid(VALUES), NoisyGrid(VALUES)])
def test_batched_representation_calls_equal_per_batch_calls(data):
    sizes: list[int] = []

    def recording(x):
        sizes.append(len(x))
        return transformed(x)

    n = D._MAX_CALL + 1000  # more than one big call
    codes, factors = D.generate_batch_factor_code(data, recording, n, np.random.default_rng(7), 16)
    ref_codes, ref_factors = _per_batch_reference(
        data, transformed, n, np.random.default_rng(7), 16
    )
    np.testing.assert_array_equal(factors, ref_factors)
    np.testing.assert_array_equal(codes, ref_codes)
    assert sum(sizes) == n and max(sizes) <= D._MAX_CALL and len(sizes) == 2


class IndexedGrid(Grid):
    """A noise-free grid with flat indices, as dSprites: eligible for memoisation."""

    deterministic_observations = True

    def __len__(self) -> int:
        return int(np.prod(self.factors_num_values))

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        return np.ravel_multi_index(tuple(np.asarray(factors).T), self.factors_num_values)

    def factors_of(self, index: np.ndarray) -> np.ndarray:
        return np.stack(np.unravel_index(index, self.factors_num_values), axis=1)


def test_memoized_representation_gives_the_same_scores_from_distinct_observations():
    seen: list[np.ndarray] = []

    def recording(x):
        seen.append(np.asarray(x).copy())
        return transformed(x)

    data = IndexedGrid(VALUES)
    kw = dict(scale=SCALE, model="fast")
    plain = D.all_scores(data, transformed, np.random.default_rng(5), memoize_codes=False, **kw)
    memo = D.all_scores(data, recording, np.random.default_rng(5), **kw)
    assert memo == plain
    rows = np.concatenate(seen)
    # Each of the 360 grid points was represented once, although ~60,000 were drawn.
    assert len(rows) == len(np.unique(rows, axis=0)) == len(data)
    # Not applied where an observation is not a function of its factors alone.
    assert D.memoize(Grid(VALUES), identity)[0].__class__ is Grid
    assert D.memoize(NoisyGrid(VALUES), identity)[1] is identity


def test_parallel_metrics_give_the_same_scores_and_timings():
    kw = dict(scale=SCALE, model="fast")
    serial_t: dict[str, float] = {}
    serial = D.all_scores(
        IndexedGrid(VALUES), transformed, np.random.default_rng(6), timings=serial_t, **kw
    )
    parallel_t: dict[str, float] = {}
    parallel = D.all_scores(
        IndexedGrid(VALUES),
        transformed,
        np.random.default_rng(6),
        concurrent=True,
        n_jobs=2,  # DCI's factors in two threads as well
        timings=parallel_t,
        **kw,
    )
    assert parallel == serial
    assert list(parallel) == list(serial)  # keys in METRICS order either way
    assert set(serial_t) == set(parallel_t) == set(D.METRICS)
    assert all(t >= 0 for t in parallel_t.values())


def test_serialized_representation_runs_one_call_at_a_time():
    import threading
    import time

    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(x):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return x

    rep = D._Serialized(slow)
    threads = [threading.Thread(target=rep, args=(np.zeros((2, 2)),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1


def test_code_factor_matrix_says_which_code_holds_which_factor():
    """The matrix MIG reads: for the permuted factors, code PERM^-1[k] holds factor k alone;
    for the mixed code, code 0 holds factor 0 and part of factor 1, which code 1 holds too."""
    rng = np.random.default_rng(0)
    m = D.code_factor_mi(Grid(VALUES), permuted, rng, num_train=2000)
    assert m.shape == (N_FACTORS, N_FACTORS)
    for code, factor in enumerate(PERM):  # code j is factor PERM[j]
        assert m[code, factor] == pytest.approx(1.0)
        assert np.delete(m[:, factor], code).max() < 0.05
    mixed_m = D.code_factor_mi(Grid(VALUES), mixed, np.random.default_rng(0), num_train=2000)
    assert mixed_m[0, 0] > 0.9 and mixed_m[0, 1] > 0.5 and mixed_m[1, 1] > 0.9


def test_mig_breakdown_is_migs_own_sample(results):
    """Mean gap of the breakdown = all_scores' MIG for the same seed and scale, exactly."""
    for name, rep_fn in (("mixed", mixed), ("permuted", permuted)):
        b = D.mig_breakdown(Grid(VALUES), rep_fn, seed=0, scale=SCALE)
        assert np.mean(b["gap"]) == pytest.approx(results[name]["mig"], abs=1e-12)
        assert len(b["normalized_mi"]) == N_FACTORS and len(b["top_code"]) == N_FACTORS
    b = D.mig_breakdown(Grid(VALUES), permuted, seed=0, scale=SCALE)
    assert b["top_code"] == np.argsort(PERM).tolist()


def test_logistic_regressions_are_the_references_liblinear_one_vs_rest():
    """disentanglement_lib's LogisticRegression() was liblinear one-vs-rest; today's default
    (lbfgs multinomial) scores an ordinal factor's explicitness higher. The explicitness of
    one noisy ordinal factor must be the one-vs-rest AUC computed here by hand."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    k = 20
    y, yt = rng.integers(0, k, 3000), rng.integers(0, k, 2000)

    def codes(f):
        return np.hstack(
            [(f / k + rng.normal(0, 0.075, len(f)))[:, None], rng.normal(size=(len(f), 2))]
        )

    x, xt = codes(y), codes(yt)
    mean, std = x.mean(0), x.std(0)
    x, xt = (x - mean) / std, (xt - mean) / std
    ours = D._explicitness_per_factor(x, y, xt, yt, seed=0)[1]
    probs = np.stack(
        [
            LogisticRegression(solver="liblinear").fit(x, y == c).predict_proba(xt)[:, 1]
            for c in range(k)
        ],
        axis=1,
    )
    probs /= probs.sum(axis=1, keepdims=True)
    by_hand = np.mean([roc_auc_score(yt == c, probs[:, c]) for c in range(k)])
    assert ours == pytest.approx(by_hand, abs=1e-9)
    softmax = LogisticRegression().fit(x, y).predict_proba(xt)
    today = np.mean([roc_auc_score(yt == c, softmax[:, c]) for c in range(k)])
    assert today > ours + 0.02  # the difference the reference's classifier makes
    beta = D._reference_logistic(0).fit(x, y)
    assert type(beta.estimators_[0]).__name__ == "LogisticRegression"
    assert beta.estimators_[0].solver == "liblinear" and len(beta.estimators_) == k
