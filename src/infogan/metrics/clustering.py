"""Cluster accuracy of a categorical code used as a classifier.

The values of a categorical code come out of training in an arbitrary order: code value 3 may
mean the digit 7. To score the code as a classifier we count how often each (code value, label)
pair occurs, then find the one-to-one assignment of code values to labels that maximises the
number of agreeing images (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment`` on
the negated contingency matrix). This is the standard unsupervised clustering accuracy used by
the InfoGAN paper (5 % error on MNIST) and by ClusterGAN.

NMI and ARI (scikit-learn) are reported alongside because they need no matching and do not
reward a code that merges two classes, so the three numbers together tell the fuller story.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from infogan.errors import DataError, whole_number

__all__ = ["ClusterResult", "apply_mapping", "cluster_accuracy", "contingency"]


@dataclass
class ClusterResult:
    """Scores of a categorical code against ground-truth labels.

    Attributes:
        accuracy: matched count / N after the one-to-one Hungarian matching. When the code has
            more values than there are label classes (K > L), at most L code values can be
            matched; images whose code value is left unmatched count as errors here.
        nmi: normalised mutual information (scikit-learn, arithmetic normalisation).
        ari: adjusted Rand index (scikit-learn).
        mapping: code value -> original label value, for every code value 0..K-1. Matched
            values map to their Hungarian partner; unmatched values (only when K > L) map to the
            label they most often co-occur with (the overall most frequent label if the code
            value never occurs). So ``apply_mapping`` labels every image, and its accuracy is
            ``>= accuracy`` (equal whenever K <= L).
        n: number of images scored.
        unseen: the code values no scored image took (their ``mapping`` entries are guesses:
            the most frequent label, or whatever class the matching had left over).
    """

    accuracy: float
    nmi: float
    ari: float
    mapping: dict[int, int]
    n: int
    unseen: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; mapping keys become strings because JSON object keys must be."""
        return {
            "accuracy": float(self.accuracy),
            "nmi": float(self.nmi),
            "ari": float(self.ari),
            "mapping": {str(int(k)): int(v) for k, v in sorted(self.mapping.items())},
            "n": int(self.n),
            "unseen": [int(v) for v in self.unseen],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClusterResult:
        """Inverse of :meth:`to_dict` (string mapping keys are turned back into ints)."""
        try:
            return cls(
                accuracy=float(d["accuracy"]),
                nmi=float(d["nmi"]),
                ari=float(d["ari"]),
                mapping={int(k): int(v) for k, v in d["mapping"].items()},
                n=int(d["n"]),
                unseen=[int(v) for v in d.get("unseen", [])],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"not a cluster-accuracy result: {e!r}") from e


#: Most code values :func:`cluster_accuracy` scores (a categorical code has at most 10,000).
MAX_CODE_VALUES = 1_000_000

#: Most cells of its K x L count table: 400 MB of int64 (n_codes=10**9 was killed for memory).
MAX_TABLE_CELLS = 50_000_000


def _as_int_vector(x: Any, name: str) -> np.ndarray:
    """1-D int64 array from a list / numpy array / CPU torch tensor, rejecting fractional values."""
    if hasattr(x, "detach"):  # torch tensor: avoid importing torch just for the type check
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim == 2 and 1 in a.shape:  # a column or row vector, e.g. labels read as [N, 1]
        a = a.reshape(-1)
    if a.ndim != 1:
        raise DataError(f"{name} must be a 1-D array, got shape {tuple(a.shape)}")
    if a.size == 0:
        raise DataError(f"{name} is empty: cannot score a clustering of zero images")
    if a.dtype == bool:
        return a.astype(np.int64)
    if a.dtype == np.uint64 and a.max() > np.iinfo(np.int64).max:
        raise DataError(f"{name} exceed the int64 range")  # they wrapped round to negatives
    if not np.issubdtype(a.dtype, np.integer):
        if not np.issubdtype(a.dtype, np.floating):
            raise DataError(f"{name} must hold integers, got dtype {a.dtype}")
        # Float labels such as 3.0 are common (e.g. read back from CSV); fractional ones are a bug.
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise DataError(f"{name} must hold integer values, got non-integer floats")
    return a.astype(np.int64)


def contingency(codes: np.ndarray, labels: np.ndarray, n_codes: int, n_labels: int) -> np.ndarray:
    """Count matrix ``M[k, l]`` = number of images with code value ``k`` and label index ``l``.

    Args:
        codes: integer code values in ``[0, n_codes)``, shape ``[N]``.
        labels: integer label *indices* in ``[0, n_labels)``, shape ``[N]`` (use
            :func:`cluster_accuracy` for arbitrary label values).
        n_codes: number of code values K (rows).
        n_labels: number of label classes L (columns).

    Returns:
        ``int64`` array of shape ``[n_codes, n_labels]`` summing to N.
    """
    c = _as_int_vector(codes, "codes")
    y = _as_int_vector(labels, "labels")
    if c.shape != y.shape:
        raise DataError(f"codes and labels differ in length: {c.shape[0]} vs {y.shape[0]}")
    n_codes = whole_number("n_codes", n_codes, 1, MAX_CODE_VALUES)
    n_labels = whole_number("n_labels", n_labels, 1)
    if n_codes * n_labels > MAX_TABLE_CELLS:
        raise DataError(
            f"{n_codes:,} x {n_labels:,} is too large a table (at most {MAX_TABLE_CELLS:,} cells)"
        )
    if c.min() < 0 or c.max() >= n_codes:
        raise DataError(f"code values must lie in [0, {n_codes}), got [{c.min()}, {c.max()}]")
    if y.min() < 0 or y.max() >= n_labels:
        raise DataError(f"label indices must lie in [0, {n_labels}), got [{y.min()}, {y.max()}]")
    # One bincount over the flattened (row, col) index is O(N) and avoids a Python loop.
    flat = np.bincount(c * n_labels + y, minlength=n_codes * n_labels)
    return flat.reshape(n_codes, n_labels).astype(np.int64)


def cluster_accuracy(codes: Any, labels: Any, n_codes: int | None = None) -> ClusterResult:
    """Score a categorical code as a classifier after Hungarian matching to the labels.

    Args:
        codes: predicted code values (e.g. ``argmax q(c_1 | x)``), integers in ``[0, K)``,
            shape ``[N]``. Numpy array, list or CPU torch tensor.
        labels: ground-truth labels, shape ``[N]``. Any integer values (e.g. ``{3, 7, 9}``);
            ``mapping`` reports the original values, not indices.
        n_codes: K, the number of code values. Defaults to ``max(codes) + 1``; pass it so that
            code values that never occur still appear in ``mapping``.

    Returns:
        :class:`ClusterResult`. K may differ from the number of label classes L: for K < L some
        labels get no code value (their images are errors); for K > L see
        :attr:`ClusterResult.accuracy` and :attr:`ClusterResult.mapping`.

    Raises:
        DataError (a ValueError): empty input, length mismatch, negative or out-of-range codes.
    """
    c = _as_int_vector(codes, "codes")
    y = _as_int_vector(labels, "labels")
    if c.shape != y.shape:
        raise DataError(f"codes and labels differ in length: {c.shape[0]} vs {y.shape[0]}")
    if c.min() < 0:
        raise DataError(f"code values must be >= 0, got {c.min()}")
    if n_codes is not None:
        n_codes = whole_number("n_codes", n_codes, 1, MAX_CODE_VALUES)
    elif c.max() >= MAX_CODE_VALUES:
        raise DataError(f"code values must be below {MAX_CODE_VALUES:,}, got {c.max()}")
    k = int(c.max()) + 1 if n_codes is None else n_codes
    if c.max() >= k:
        raise DataError(f"code value {c.max()} out of range for n_codes={k}")
    # Labels need not be 0..L-1: work on indices into the sorted distinct values and map back
    # to the original values in `mapping`.
    label_values, y_idx = np.unique(y, return_inverse=True)
    n_labels = label_values.size
    if k * n_labels > MAX_TABLE_CELLS:  # the K x L count table (and Hungarian's cost matrix)
        raise DataError(
            f"{k:,} code values x {n_labels:,} label classes is too large a table to match "
            f"(at most {MAX_TABLE_CELLS:,} cells)"
        )
    m = contingency(c, y_idx, k, n_labels)  # [K, L]

    # Maximise matched count == minimise its negation; rectangular matrices are supported and
    # match min(K, L) pairs.
    rows, cols = linear_sum_assignment(-m)
    matched = int(m[rows, cols].sum())
    n = int(c.size)

    mapping: dict[int, int] = {
        int(r): int(label_values[col]) for r, col in zip(rows, cols, strict=True)
    }
    if len(mapping) < k:
        # K > L: extra code values usually split a class (e.g. two ways of writing a 7), so the
        # label they co-occur with most is the useful prediction for new images. A value that
        # never occurs falls back to the most frequent label, the best blind guess.
        fallback = int(label_values[int(np.argmax(m.sum(axis=0)))])
        for r in range(k):
            if r not in mapping:
                row = m[r]
                mapping[r] = int(label_values[int(np.argmax(row))]) if row.sum() > 0 else fallback
    mapping = dict(sorted(mapping.items()))

    # Imported here: scikit-learn costs ~0.5 s to import and most callers of this package
    # (the CLI's --help, training) never score a clustering.
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return ClusterResult(
        accuracy=matched / n,
        nmi=float(normalized_mutual_info_score(y, c)),
        ari=float(adjusted_rand_score(y, c)),
        mapping=mapping,
        n=n,
        unseen=[int(v) for v in np.flatnonzero(m.sum(axis=1) == 0)],
    )


def apply_mapping(codes: Any, mapping: Mapping[int, int] | Mapping[str, int]) -> np.ndarray:
    """Turn code values into labels with a mapping from :func:`cluster_accuracy`.

    Use it to label new images with a trained Q: ``apply_mapping(argmax_q, result.mapping)``.
    Keys may be ints or strings (as read back from JSON).

    Returns:
        ``int64`` array of labels, same length as ``codes``.

    Raises:
        DataError: a code value with no entry in ``mapping``.
    """
    if not isinstance(mapping, Mapping) or not mapping:
        raise DataError(f"mapping: expected a non-empty code value -> label dict, got {mapping!r}")
    if (codes.detach().cpu().numpy() if hasattr(codes, "detach") else np.asarray(codes)).size == 0:
        return np.zeros(0, dtype=np.int64)  # no images: no labels (a lookup, not a clustering)
    c = _as_int_vector(codes, "codes")
    try:
        m = {int(k): int(v) for k, v in mapping.items()}
    except (TypeError, ValueError):
        raise DataError("mapping: its keys and values must be whole numbers") from None
    if min(m) < 0:
        raise DataError(f"mapping has a negative code value {min(m)}")
    # A sorted lookup: one vectorised search instead of a Python loop over possibly 10^5+
    # images, and no table as long as the largest key (a key of 10**11 asked for 745 GiB).
    keys = np.array(sorted(m), dtype=np.int64)
    labels = np.array([m[k] for k in keys.tolist()], dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, c), len(keys) - 1)
    bad = keys[at] != c
    if bad.any():
        missing = np.unique(c[bad]).tolist()
        raise DataError(f"code values {missing[:10]} have no entry in the mapping")
    return labels[at]
