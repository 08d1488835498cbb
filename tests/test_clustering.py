"""Cluster accuracy: known identities of the Hungarian-matched accuracy, NMI and ARI."""

import json

import numpy as np
import pytest

from infogan.errors import DataError
from infogan.metrics import ClusterResult, apply_mapping, cluster_accuracy, contingency


def test_contingency_counts():
    m = contingency(np.array([0, 0, 1, 2, 2, 2]), np.array([1, 1, 0, 0, 1, 1]), 3, 2)
    assert m.shape == (3, 2)
    np.testing.assert_array_equal(m, [[0, 2], [1, 0], [1, 2]])
    assert m.sum() == 6


def test_contingency_rejects_out_of_range():
    with pytest.raises(DataError):
        contingency(np.array([0, 3]), np.array([0, 1]), 3, 2)
    with pytest.raises(DataError):
        contingency(np.array([0, 1]), np.array([0, 2]), 3, 2)


def test_permuted_labels_are_perfect():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=2000)
    perm = rng.permutation(10)
    codes = perm[labels]  # code value = permuted label
    r = cluster_accuracy(codes, labels, n_codes=10)
    assert r.accuracy == 1.0
    assert r.nmi == pytest.approx(1.0)
    assert r.ari == pytest.approx(1.0)
    assert r.n == 2000
    assert all(r.mapping[int(perm[y])] == y for y in range(10))


def test_random_codes_near_chance():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, size=20000)
    codes = rng.integers(0, 10, size=20000)
    r = cluster_accuracy(codes, labels)
    # Matching picks the best of 10! assignments, so it sits slightly above 1/K.
    assert 0.09 < r.accuracy < 0.13
    assert r.nmi < 0.01
    assert abs(r.ari) < 0.01


def test_more_codes_than_labels():
    # 20 code values, each label split over two of them (code 2y and 2y+1).
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 10, size=4000)
    codes = 2 * labels + rng.integers(0, 2, size=4000)
    r = cluster_accuracy(codes, labels, n_codes=20)
    assert set(r.mapping) == set(range(20))
    assert all(r.mapping[k] == k // 2 for k in range(20))
    # Only 10 of the 20 code values can be matched one-to-one: about half the images are errors.
    assert 0.45 < r.accuracy < 0.55
    # ... but the many-to-one mapping labels every image correctly.
    assert np.mean(apply_mapping(codes, r.mapping) == labels) == 1.0


def test_unused_code_value_gets_a_label():
    labels = np.array([0, 0, 0, 1, 1])
    codes = np.array([1, 1, 1, 0, 0])
    r = cluster_accuracy(codes, labels, n_codes=4)  # code values 2 and 3 never occur
    assert r.accuracy == 1.0
    assert r.mapping == {0: 1, 1: 0, 2: 0, 3: 0}  # unused -> most frequent label
    assert r.unseen == [2, 3]  # ... and said to be a guess
    # Fewer values taken than classes: the matching pairs a value no image took with a class
    # left over; it is unseen too.
    r = cluster_accuracy(np.array([0, 0, 1]), np.array([0, 1, 2]), n_codes=3)
    assert r.unseen == [2] and sorted(r.mapping.values()) == [0, 1, 2]


def test_fewer_codes_than_labels():
    labels = np.array([0, 1, 2, 0, 1, 2])
    codes = np.array([0, 1, 1, 0, 1, 1])
    r = cluster_accuracy(codes, labels, n_codes=2)
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.mapping[0] == 0 and r.mapping[1] in (1, 2)


def test_non_contiguous_label_values():
    labels = np.array([3, 7, 9, 3, 7, 9, 9])
    codes = np.array([2, 0, 1, 2, 0, 1, 1])
    r = cluster_accuracy(codes, labels)
    assert r.accuracy == 1.0
    assert r.mapping == {0: 7, 1: 9, 2: 3}
    np.testing.assert_array_equal(apply_mapping(codes, r.mapping), labels)


def test_mapping_round_trips_through_json():
    rng = np.random.default_rng(3)
    labels = rng.choice([2, 5, 11], size=300)
    codes = rng.integers(0, 4, size=300)
    r = cluster_accuracy(codes, labels, n_codes=4)
    d = json.loads(json.dumps(r.to_dict()))
    assert set(d) == {"accuracy", "nmi", "ari", "mapping", "n", "unseen"}
    assert all(isinstance(k, str) for k in d["mapping"])
    back = ClusterResult.from_dict(d)
    assert back == r
    # A mapping read straight from JSON (string keys) is accepted too.
    np.testing.assert_array_equal(
        apply_mapping(codes, d["mapping"]), apply_mapping(codes, r.mapping)
    )


def test_apply_mapping_reproduces_accuracy():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, size=3000)
    noisy = np.where(rng.random(3000) < 0.8, labels, rng.integers(0, 10, size=3000))
    codes = rng.permutation(10)[noisy]
    r = cluster_accuracy(codes, labels, n_codes=10)
    pred = apply_mapping(codes, r.mapping)
    assert np.mean(pred == labels) == pytest.approx(r.accuracy)
    assert 0.75 < r.accuracy < 0.9


def test_accepts_torch_and_float_labels():
    torch = pytest.importorskip("torch")
    r = cluster_accuracy(torch.tensor([1, 0, 1]), np.array([4.0, 5.0, 4.0]))
    assert r.accuracy == 1.0 and r.mapping == {0: 5, 1: 4}


@pytest.mark.parametrize(
    "codes, labels, n_codes",
    [
        ([], [], None),  # empty
        ([0, 1], [0], None),  # length mismatch
        ([-1, 0], [0, 1], None),  # negative code
        ([0, 5], [0, 1], 3),  # code >= n_codes
        ([0, 1], [0.5, 1.0], None),  # fractional labels
    ],
)
def test_bad_input_raises_value_error(codes, labels, n_codes):
    with pytest.raises(ValueError):
        cluster_accuracy(np.array(codes), np.array(labels), n_codes=n_codes)


def test_empty_input_message():
    with pytest.raises(DataError, match="empty"):
        cluster_accuracy(np.array([], dtype=int), np.array([], dtype=int))


def test_apply_mapping_unknown_code():
    with pytest.raises(DataError, match="no entry"):
        apply_mapping(np.array([0, 1, 2]), {0: 3, 1: 4})


def test_apply_mapping_of_no_codes_is_no_labels():
    """A lookup of zero images is an empty answer (it raised "cannot score a clustering")."""
    out = apply_mapping([], {0: 1})
    assert out.dtype == np.int64 and out.shape == (0,)


def test_sizes_and_argument_kinds_are_checked():
    """n_codes=10**9 was killed for memory (a K x L table); a mapping key of 10**11 asked for
    745 GiB; n_codes=2.5 was cut to 2; uint64 labels past int64 wrapped round to negatives."""
    from infogan.errors import InfoGANError

    with pytest.raises(InfoGANError, match="n_codes: expected 1..1000000"):
        cluster_accuracy([0, 1], [0, 1], n_codes=10**9)
    with pytest.raises(InfoGANError, match="code values must be below"):
        cluster_accuracy([0, 10**12], [0, 1])
    with pytest.raises(InfoGANError, match="too large a table"):  # 100,000 x 2,000 cells
        cluster_accuracy(np.arange(2000) % 2, np.arange(2000) * 7, n_codes=100_000)
    for bad in (2.5, "3", True):
        with pytest.raises(InfoGANError, match="n_codes: expected a whole number"):
            cluster_accuracy([0, 1], [0, 1], n_codes=bad)
    with pytest.raises(InfoGANError, match="int64 range"):
        cluster_accuracy([0, 1], np.array([0, 2**63 + 5], np.uint64))
    assert apply_mapping([0, 5], {0: 1, 10**11: 2, 5: 3}).tolist() == [1, 3]
    for bad in ({"a": 1}, {0: "x"}, [1, 2], {}):
        with pytest.raises(InfoGANError, match="mapping"):
            apply_mapping([0], bad)
    from infogan.metrics.clustering import contingency

    for bad in (None, 2.5, 0):
        with pytest.raises(InfoGANError, match="n_codes: expected"):
            contingency(np.array([0, 1]), np.array([0, 1]), bad, 2)
    with pytest.raises(InfoGANError, match=r"code values \[7\] have no entry"):
        apply_mapping([0, 7], {0: 1, 10**11: 2})
