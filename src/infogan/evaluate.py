"""Evaluation: unsupervised accuracy of categorical codes, NMI/ARI, and the MI bound per code.

Labels are used here and only here. For every categorical code, ``argmax q(c | x)`` on labelled images
is matched to the labels by the Hungarian algorithm (the code's value order is arbitrary); the mapping
is kept so new images can be labelled later (``infogan encode``). The MI bound is estimated on fresh
generated samples, where the true code is known.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infogan.atomic import atomic_write_bytes
from infogan.data import ImageDataset, load_dataset
from infogan.errors import DataError
from infogan.latent import Categorical
from infogan.metrics import cluster_accuracy
from infogan.model import InfoGAN, load_run

__all__ = ["cluster_codes", "mi_table", "evaluate_run", "format_report", "write_report"]


def cluster_codes(model: InfoGAN, dataset: ImageDataset) -> dict[str, dict[str, Any]]:
    """Per categorical code: accuracy, NMI, ARI, code->label mapping, N (needs labels)."""
    if dataset.labels is None:
        raise DataError(f"data: {dataset.name} has no labels; clustering accuracy needs them")
    enc = model.encode(dataset.images)
    out = {}
    labels = dataset.labels.numpy()
    for i, code in enumerate(model.spec.codes):
        if isinstance(code, Categorical):
            _, j = model.spec.slot(i)
            res = cluster_accuracy(enc.cat[:, j].numpy(), labels, n_codes=code.k)
            out[model.spec.names[i]] = res.to_dict()
    return out


def mi_table(model: InfoGAN, n: int = 10_000) -> dict[str, dict[str, Any]]:
    """Per code: the bound L_I (nats) on ``n`` fresh samples, beside H(c) and the code kind."""
    bounds = model.mi_bound(n=n)
    std = "learned" if model.cfg.model.fixed_std is None else f"fixed {model.cfg.model.fixed_std}"
    out = {}
    for name, code, h in zip(model.spec.names, model.spec.codes, model.spec.entropies, strict=True):
        row = {"bound": bounds[name], "entropy": h, "kind": code.kind, "n": n}
        if not isinstance(code, Categorical):
            row["std"] = std
        out[name] = row
    return out


def evaluate_model(
    model: InfoGAN, datasets: list[ImageDataset], n_mi: int = 10_000
) -> dict[str, Any]:
    """Clustering on every labelled dataset and the MI bound; the last labelled set is primary."""
    rep: dict[str, Any] = {
        "step": model.step,
        "codes": model.spec.spec,
        "noise_dim": model.spec.noise_dim,
        "evaluations": {},
    }
    for ds in datasets:
        if ds.labels is None:
            continue
        res = cluster_codes(model, ds)
        rep["evaluations"][ds.name] = {"clustering": res, "n": len(ds)}
        rep["clustering"] = res
        rep["data"] = ds.name
    rep["mi_bound"] = mi_table(model, n=n_mi)
    return rep


def write_report(run_dir: str | Path, new: dict[str, Any]) -> dict[str, Any]:
    """Merge ``new`` into ``run_dir/report.json`` (atomically) and return the merged report."""
    path = Path(run_dir) / "report.json"
    old: dict[str, Any] = {}
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    evaluations = {**old.get("evaluations", {}), **new.get("evaluations", {})}
    merged = {**old, **new, "evaluations": evaluations}
    atomic_write_bytes(path, (json.dumps(merged, indent=2) + "\n").encode())
    return merged


def format_report(rep: dict[str, Any]) -> str:
    """A plain-text table of a report: clustering per dataset and code, MI bound per code."""
    lines = [f"step {rep.get('step', '?')}, codes {rep.get('codes', '?')}"]
    for name, ev in rep.get("evaluations", {}).items():
        for code, r in ev["clustering"].items():
            lines.append(
                f"  {code} as classifier on {name} (n={r['n']}): accuracy {r['accuracy']:.4f}  "
                f"NMI {r['nmi']:.4f}  ARI {r['ari']:.4f}"
            )
    lines.append("  MI lower bound L_I per code (nats, fresh samples):")
    for code, r in rep.get("mi_bound", {}).items():
        extra = f", std {r['std']}" if "std" in r else ""
        lines.append(
            f"    {code} ({r['kind']}): {r['bound']:.4f}  H(c) = {r['entropy']:.4f}{extra}"
        )
    return "\n".join(lines)


def evaluate_run(
    run_dir: str | Path,
    data: list[str] | None = None,
    n_mi: int = 10_000,
    device: str = "cpu",
    split: str = "test",
) -> dict[str, Any]:
    """``infogan evaluate``: score a run on labelled data, merge into ``report.json``, return it.

    ``data`` defaults to the run's training data (whose labels training never saw). IDX
    directories holding both splits are read at ``split`` (test by default).
    """
    model = load_run(run_dir, device=device)
    sources = data or [model.cfg.data]
    datasets = [load_dataset(s, split=split) for s in sources]
    rep = evaluate_model(model, datasets, n_mi=n_mi)
    return write_report(run_dir, rep)
