"""Evaluation metrics.

- :mod:`~infogan.metrics.clustering`: accuracy (Hungarian-matched), NMI, ARI of categorical codes.
- :mod:`~infogan.metrics.disentanglement`: BetaVAE, FactorVAE, MIG, DCI, SAP, modularity,
  explicitness (a numpy/scikit-learn port of disentanglement_lib's definitions).
- :mod:`~infogan.metrics.quality`: FID, KID, precision/recall, density/coverage on features.
- :mod:`~infogan.metrics.features`: the offline feature extractors those are computed in.

The heavier modules are imported on use, so ``import infogan.metrics`` stays light.
"""

from infogan.metrics.clustering import (
    ClusterResult,
    apply_mapping,
    cluster_accuracy,
    contingency,
)

__all__ = ["ClusterResult", "apply_mapping", "cluster_accuracy", "contingency"]
