"""Evaluation metrics: cluster accuracy of categorical codes (and, in sibling modules, more)."""

from infogan.metrics.clustering import (
    ClusterResult,
    apply_mapping,
    cluster_accuracy,
    contingency,
)

__all__ = ["ClusterResult", "apply_mapping", "cluster_accuracy", "contingency"]
