"""Evaluation: unsupervised accuracy of categorical codes, NMI/ARI, and the MI bound per code.

Labels are used here and only here. For every categorical code, ``argmax q(c | x)`` on labelled images
is matched to the labels by the Hungarian algorithm (the code's value order is arbitrary); the mapping
is kept so new images can be labelled later (``infogan encode``). The MI bound is estimated on fresh
generated samples, where the true code is known.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infogan.atomic import atomic_write_bytes
from infogan.config import NOISE_USE_WARN
from infogan.data import ImageDataset, from_arrays, load_dataset
from infogan.data.dataset import with_channels
from infogan.data.npz import ARRAY_NAME
from infogan.data.registry import absolute_source
from infogan.errors import CheckpointError, DataError, SpecError, whole_number
from infogan.latent import Categorical
from infogan.metrics import cluster_accuracy
from infogan.model import Encoding, InfoGAN, eval_mode, load_run
from infogan.runinfo import noise_use_of, report_problem
from infogan.runlock import note_if_training, report_lock

log = logging.getLogger("infogan")

__all__ = ["cluster_codes", "mi_table", "evaluate_run", "format_report", "write_report"]


def cluster_codes(
    model: InfoGAN, dataset: ImageDataset, enc: Encoding | None = None
) -> dict[str, dict[str, Any]]:
    """Per categorical code: accuracy, NMI, ARI, code->label mapping, N (needs labels)."""
    if dataset.labels is None:
        raise DataError(f"data: {dataset.name} has no labels; clustering accuracy needs them")
    enc = enc if enc is not None else model.encode(dataset.images)
    out = {}
    labels = dataset.labels.numpy()
    for i, code in enumerate(model.spec.codes):
        if isinstance(code, Categorical):
            _, j = model.spec.slot(i)
            res = cluster_accuracy(enc.cat[:, j].numpy(), labels, n_codes=code.k)
            out[model.spec.names[i]] = res.to_dict()
            if dataset.classes is not None:  # label names (class folders): encode writes them
                out[model.spec.names[i]]["classes"] = list(dataset.classes)
    return out


def mi_table(model: InfoGAN, n: int = 10_000) -> dict[str, dict[str, Any]]:
    """Per code: the bound L_I (nats) on ``n`` fresh samples, beside H(c) and the code kind.

    Continuous codes of a Q with a fixed std also get ``bound_fitted_std`` and ``fitted_std``
    (:meth:`InfoGAN.mi_bound_fitted_std`): the fixed std caps ``bound`` whatever Q knows."""
    bounds = model.mi_bound(n=n)
    fixed = model.cfg.model.fixed_std
    fitted = model.mi_bound_fitted_std(n=n) if fixed is not None else {}
    out = {}
    for name, code, h in zip(model.spec.names, model.spec.codes, model.spec.entropies, strict=True):
        row: dict[str, Any] = {"bound": bounds[name], "entropy": h, "kind": code.kind, "n": n}
        if not isinstance(code, Categorical):
            row["std"] = "learned" if fixed is None else f"fixed {fixed}"
        if name in fitted:
            row["bound_fitted_std"] = fitted[name]["bound"]
            row["fitted_std"] = fitted[name]["std"]
        out[name] = row
    return out


def noise_use_block(model: InfoGAN, groups: int = 100, per_group: int = 10) -> dict[str, Any]:
    """:meth:`InfoGAN.noise_use` with how it was measured, for ``report.json`` (a model without
    noise, ``--noise 0``, gets ``skipped``: its images depend on the codes alone by design)."""
    if model.spec.noise_dim == 0:
        return {"skipped": "no noise z (noise size 0)"}
    try:
        ratio = model.noise_use(groups=groups, per_group=per_group)
    except SpecError as e:  # one code setting only (a lone cat:1): nothing to compare with
        return {"skipped": str(e).removeprefix("noise_use: ")}
    return {"ratio": ratio, "groups": groups, "per_group": per_group}


def encode_batch(model: InfoGAN) -> int:
    """Images per network pass when encoding many: 1000 on a GPU; 128 on the CPU, where small
    batches stay in cache (64x64 conv64 Q measured at ~1.5 ms per image at 128, ~2.3 ms at
    1000, on 2 EPYC cores) and give bit-identical codes (each image's arithmetic is the same)."""
    return 128 if torch.device(model.device).type == "cpu" else 1000


def representation_fn(
    model: InfoGAN, batch: int | None = None
) -> Callable[[np.ndarray | torch.Tensor], np.ndarray]:
    """Q's code estimate as a representation, one dimension per code: ``argmax q(c|x)`` for a
    categorical code, the Gaussian mean for a continuous one (what disentanglement metrics score).

    A categorical code's column is its value's index, whose order is arbitrary: MIG, DCI and
    modularity read only which images share a value (up to 20 values), but BetaVAE, FactorVAE,
    SAP and explicitness also read the order, so with categorical codes their scores depend on
    how Q happened to number the values (the dSprites preset's codes are all continuous).

    It is :meth:`InfoGAN.encode` (no autograd, eval mode, ``batch`` images per network pass,
    default :func:`encode_batch`; each moved to the device as uint8 and converted there), so a
    call with many observations costs one pass per ``batch``; a row depends only on its own
    observation."""
    batch = batch or encode_batch(model)
    slots = [model.spec.slot(i) for i in range(len(model.spec.codes))]

    def rep(observations: np.ndarray | torch.Tensor) -> np.ndarray:
        # Generated images or a dataset's observations, already in the networks' scale.
        enc = model.encode(torch.as_tensor(observations), batch=batch, check=False)
        out = np.empty((len(enc.cat), len(slots)), dtype=np.float64)
        for col, (kind, j) in enumerate(slots):
            out[:, col] = (enc.cat[:, j].float() if kind == "cat" else enc.cont_mean[:, j]).numpy()
        return out

    return rep


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall-clock seconds of the block to ``timings[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - start


class _FactorsAsObservations:
    """The oracle: ground-truth factors used as their own representation."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.factors_num_values = list(data.factors_num_values)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.data.sample_factors(n, rng)

    def sample_observations_from_factors(self, factors: np.ndarray, rng: Any = None) -> np.ndarray:
        return np.asarray(factors, dtype=np.float64)


def disentanglement_block(
    model: InfoGAN,
    ground_truth: Any,
    scale: float = 1.0,
    seed: int = 0,
    metric_kw: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    breakdown: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """All disentanglement scores of Q's codes, with the ground-truth oracle's under ``oracle``.

    ``metric_kw`` goes to :func:`infogan.metrics.disentanglement.all_scores`: e.g. DCI's
    ``model``; ``n_jobs`` for DCI's per-factor fits (default -1: all cores, in threads);
    ``concurrent`` (default: when the model is on a GPU) to run the metrics, and the oracle
    beside them, in parallel threads around the one network, so that the CPU's model fitting
    overlaps the GPU's encoding. None of these changes a score. ``timings``, if given, gets each
    metric's seconds (``name`` for Q's codes, ``oracle/name`` for the oracle). ``breakdown``, if
    given, gets which code holds which factor (``mig_breakdown`` of
    :mod:`infogan.metrics.disentanglement`, on MIG's own sample: its ``gap`` averages to
    ``mig``), with ``codes`` and ``factors`` naming the rows and columns.
    """
    from infogan.metrics.disentanglement import (
        _no_convergence_warnings,
        all_scores,
        memoize,
        mig_breakdown,
    )

    kw = dict(metric_kw or {})
    if "dci" in (kw.get("metrics") or ["dci"]):  # only DCI takes it, and names must be taken
        kw.setdefault("n_jobs", -1)
    concurrent = bool(kw.pop("concurrent", torch.device(model.device).type != "cpu"))
    model_s: dict[str, float] = {}
    oracle_s: dict[str, float] = {}

    def score_oracle() -> dict[str, float]:
        return all_scores(
            _FactorsAsObservations(ground_truth),
            lambda f: f,
            np.random.default_rng(seed),
            scale=scale,
            concurrent=concurrent,
            timings=oracle_s,
            **kw,
        )

    # Memoised here, not in all_scores, so the breakdown below reuses the metrics' encodings.
    data = ground_truth
    rep: Callable[[np.ndarray], np.ndarray] = representation_fn(model)
    if kw.pop("memoize_codes", True):
        data, rep = memoize(data, rep)
    # The warnings filter is process-wide: held here, around both threads (see the helper).
    with _no_convergence_warnings(), eval_mode(model.nets), ThreadPoolExecutor(1) as pool:
        oracle_future = pool.submit(score_oracle) if concurrent else None
        scores = all_scores(
            data,
            rep,
            np.random.default_rng(seed),
            scale=scale,
            concurrent=concurrent,
            memoize_codes=False,
            timings=model_s,
            **kw,
        )
        oracle = oracle_future.result() if oracle_future is not None else score_oracle()
        # With MIG only: the table's gaps average to the MIG beside it, so both come from one
        # call (a later call for other metrics would pair a new table with an old MIG).
        if breakdown is not None and "mig" in scores:
            n_factors = len(ground_truth.factors_num_values)
            breakdown["codes"] = list(model.spec.names)
            breakdown["factors"] = list(
                getattr(ground_truth, "factor_names", None)
                or [f"factor{k}" for k in range(n_factors)]
            )
            breakdown.update(mig_breakdown(data, rep, seed, scale=scale, **kw))
    if timings is not None:
        timings.update(model_s)
        timings.update({f"oracle/{k}": v for k, v in oracle_s.items()})
    return {**scores, "oracle": oracle}


def quality_block(
    model: InfoGAN,
    reference: ImageDataset,
    other_real: ImageDataset | None = None,
    n: int = 10_000,
    extractor: Any = None,
    seed: int = 0,
) -> dict[str, Any]:
    """FID, KID, precision/recall, density/coverage of generated images against ``reference``, in
    the feature space of ``extractor`` (default: the built-in classifier for this image shape),
    beside the same scores of real data against real data, so the model's numbers have a floor.

    All three sets have one size ``s``, because FID and KID are biased by sample size and the
    neighbour radii of precision/recall depend on it: a floor at other sizes is not a floor.
    The floor is ``reference`` against ``other_real`` (``s = min(n, both sizes)``) or, without
    it, one half of ``reference`` against the other (``s = min(n, len(reference) // 2)``); the
    model's ``s`` images are scored against the first set. A reference the feature classifier
    was trained on gets a warning: its features are not those of unseen images."""
    from infogan.metrics.features import extract_features, features_for
    from infogan.metrics.quality import quality_scores

    extractor = extractor or features_for(reference.shape)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(reference), generator=g)
    if other_real is not None and other_real.name != reference.name:
        s = min(n, len(reference), len(other_real))
        j = torch.randperm(len(other_real), generator=g)[:s]
        floor, floor_images = other_real.name, other_real.images[j]
        rvr_what = f"{other_real.name} vs {reference.name}"
    else:
        s = min(n, len(reference) // 2)
        floor, floor_images = reference.name, reference.images[perm[s : 2 * s]]
        rvr_what = f"two halves of {reference.name}"
    if s < 2:
        need = "at least 2 in each set" if floor != reference.name else "at least 4 (2 a half)"
        raise DataError(f"quality: too few images ({rvr_what}: {s} a set); {need} are needed")
    real = extract_features(extractor, reference.images[perm[:s]])
    fake_images = torch.cat(
        [model.generate(n=min(1000, s - i), seed=seed + 1 + i).cpu() for i in range(0, s, 1000)]
    )
    fake = extract_features(extractor, fake_images)
    out: dict[str, Any] = dict(quality_scores(real, fake, seed=seed))
    rvr = quality_scores(real, extract_features(extractor, floor_images), seed=seed)
    out["real_vs_real"] = {**rvr, "what": f"{rvr_what}, {s} each"}
    out["features"] = getattr(extractor, "name", type(extractor).__name__)
    out["n_fake"] = out["n_real"] = s
    notes = []
    seen = getattr(extractor, "train_data", None)
    if seen is not None and seen in {reference.name, floor}:
        notes.append(
            f"the feature classifier was trained on {seen}: its features of those images are "
            "not features of unseen ones; score against held-out images (--data)"
        )
    dim = int(real.shape[1])
    if s < dim:
        # Fewer images than feature dimensions: the covariances FID compares are singular and
        # the kernel and neighbour statistics rest on a handful of points.
        notes.append(
            f"{s} images for {dim}-dimensional features: FID and KID are biased upward and all "
            f"six scores are noisy; use at least {dim} images"
        )
    if notes:
        out["warning"] = "; ".join(notes)
    return out


def code_usage(
    model: InfoGAN, dataset: ImageDataset, bins: int = 30, enc: Encoding | None = None
) -> dict[str, Any]:
    """Per code, how Q spreads the data: counts per categorical value, a histogram of the means
    of a continuous code (the per-code histograms of report.html)."""
    enc = enc if enc is not None else model.encode(dataset.images)
    out: dict[str, Any] = {}
    for i, name in enumerate(model.spec.names):
        kind, j = model.spec.slot(i)
        if kind == "cat":
            k = model.spec.codes[i].k  # type: ignore[union-attr]
            out[name] = {"counts": torch.bincount(enc.cat[:, j], minlength=k).tolist()}
        else:
            counts, edges = np.histogram(enc.cont_mean[:, j].numpy(), bins=bins)
            out[name] = {"hist": counts.tolist(), "edges": edges.tolist()}
    return out


#: What ``infogan evaluate`` can compute; each applies only where its inputs exist.
METRIC_GROUPS = ("clustering", "mi", "disentanglement", "quality")

#: Fewest images sample quality is scored on: precision/recall and density/coverage use each
#: image's 5 nearest neighbours, so a handful of images give numbers of nothing.
MIN_QUALITY_IMAGES = 50
#: Fewest generated samples the MI bound is estimated from: ``--n-mi 1`` printed a one-sample
#: bound (-0.007 nats for a 4-way code) as a result and replaced the 10,000-sample one.
MIN_MI_SAMPLES = 50


def evaluate_model(
    model: InfoGAN,
    datasets: list[ImageDataset],
    n_mi: int = 10_000,
    metrics: Sequence[str] = ("clustering", "mi"),
    train_data: ImageDataset | None = None,
    scale: float = 1.0,
    n_quality: int = 10_000,
    extractor: Any = None,
    disentanglement_kw: dict[str, Any] | None = None,
    n_encode: int = 100_000,
) -> dict[str, Any]:
    """Every requested metric that applies. Labels -> clustering; ground-truth factors ->
    disentanglement (with the oracle); always: MI bound, and sample quality against the last
    dataset. The last labelled dataset's clustering is the primary ``clustering`` entry.
    ``train_data``, if given, is the real-vs-real floor's second set in :func:`quality_block`
    (instead of one half of the last dataset).

    ``rep["timings"]`` holds the wall-clock seconds of each part: ``DATA/encode``,
    ``DATA/clustering``, ``DATA/disentanglement`` (with ``DATA/disentanglement/METRIC`` and
    ``DATA/oracle/METRIC`` per metric, which overlap when they run in parallel), ``mi_bound``,
    ``quality`` and ``total``."""
    start = time.perf_counter()
    rep: dict[str, Any] = {
        "step": model.step,
        # Which weights these numbers (and the label mappings) belong to: the step alone does
        # not say (a checkpoint of another run at the same step copied into the folder).
        "weights": model.weights_digest(),
        "codes": model.spec.spec,
        "noise_dim": model.spec.noise_dim,
        "evaluations": {},
    }
    timings: dict[str, float] = {}
    for full in datasets:
        ds = _capped(full, n_encode)
        entry: dict[str, Any] = {"n": len(ds)}
        if len(ds) < len(full):
            entry["of"] = len(full)
        with _timed(timings, f"{ds.name}/encode"):
            # once per dataset, shared by clustering and histograms
            enc = model.encode(ds.images, batch=encode_batch(model))
        one_class = ds.labels is not None and len(ds.labels.unique()) < 2
        if "clustering" in metrics and ds.labels is not None and model.spec.n_cat and not one_class:
            with _timed(timings, f"{ds.name}/clustering"):
                entry["clustering"] = cluster_codes(model, ds, enc)
            rep["clustering"] = entry["clustering"]
            rep["data"] = ds.name
        if "disentanglement" in metrics and ds.ground_truth is not None:
            per_metric: dict[str, float] = {}
            breakdown: dict[str, Any] = {}
            with _timed(timings, f"{ds.name}/disentanglement"):
                entry["disentanglement"] = disentanglement_block(
                    model,
                    ds.ground_truth,
                    scale=scale,
                    metric_kw=disentanglement_kw,
                    timings=per_metric,
                    breakdown=breakdown,
                )
            if breakdown:
                entry["code_factor_mi"] = breakdown
            # Each score's sample-size scale, so scores of calls with another --scale are told
            # apart (merged per metric, like the scores).
            entry["disentanglement_scale"] = {
                k: scale for k in entry["disentanglement"] if k != "oracle"
            }
            for key, seconds in per_metric.items():
                name = key if key.startswith("oracle/") else f"disentanglement/{key}"
                timings[f"{ds.name}/{name}"] = seconds
            rep["disentanglement"] = entry["disentanglement"]
        # Said, not silently dropped: a user who asked for a metric learns why it is missing.
        skipped = {}
        if "clustering" in metrics and ds.labels is None:
            skipped["clustering"] = "no labels in this data"
        elif "clustering" in metrics and not model.spec.n_cat:
            skipped["clustering"] = "no categorical code to score as a classifier"
        elif "clustering" in metrics and one_class:
            # Any code scores 1.0 on one class, and its mapping would send every value to that
            # class: the run's saved mapping is kept instead.
            skipped["clustering"] = "the labels hold one class only; accuracy needs two or more"
        if "disentanglement" in metrics and ds.ground_truth is None:
            skipped["disentanglement"] = "no ground-truth factors (only dsprites has them)"
        if skipped:
            entry["skipped"] = skipped
        entry["code_usage"] = code_usage(model, ds, enc=enc)
        rep["evaluations"][ds.name] = entry
    if "mi" in metrics:
        with _timed(timings, "mi_bound"):
            rep["mi_bound"] = mi_table(model, n=n_mi)
        with _timed(timings, "noise_use"):
            rep["noise_use"] = noise_use_block(model)
    if "quality" in metrics and datasets:
        with _timed(timings, "quality"):
            try:
                rep["quality"] = quality_block(
                    model, datasets[-1], other_real=train_data, n=n_quality, extractor=extractor
                )
            except DataError as e:  # no built-in feature space for these images: say so, go on
                rep["quality"] = {"skipped": str(e)}
    timings["total"] = time.perf_counter() - start
    rep["timings"] = timings
    return rep


def _capped(ds: ImageDataset, n: int) -> ImageDataset:
    """At most ``n`` images of ``ds`` (a fixed random subset) for clustering and code usage: the
    737,280 dSprites-like images would take minutes to encode for no better estimate."""
    if len(ds) <= n:
        return ds
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n]
    labels = ds.labels[idx] if ds.labels is not None else None
    return ImageDataset(ds.images[idx], labels, ds.name, ds.ground_truth)


#: Blocks a new evaluation replaces whole rather than merges: each is one computation whose
#: parts belong together (a clustering's value -> label mapping and its class names; one call's
#: sample-quality scores or its note that they were skipped; one call's timings; the code x
#: factor table of one MIG sample). Merged key by key, an earlier dataset's class names
#: outlived its mapping and named new images wrongly.
_WHOLE = frozenset({"clustering", "quality", "timings", "code_factor_mi", "skipped"})


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``new`` over ``old``, nested dicts merged key by key rather than replaced (except the
    blocks of :data:`_WHOLE`, which ``new`` replaces)."""
    out = dict(old)
    for key, value in new.items():
        if key in _WHOLE:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def report_step(run_dir: str | Path) -> int | None:
    """The step of ``run_dir/report.json`` (None when there is none, or it is unreadable or
    not a report)."""
    try:
        rep = json.loads((Path(run_dir) / "report.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    # A report that report_problem rejects has no step to keep it for: it is replaced.
    return rep["step"] if report_problem(rep) is None and "step" in rep else None


def write_report(run_dir: str | Path, new: dict[str, Any]) -> dict[str, Any]:
    """Merge ``new`` into ``run_dir/report.json`` (atomically) and return the merged report.

    Of the same step, the reports merge key by key all the way down, so that evaluating one
    metric (``--disentanglement mig``) keeps the others already there. Of another step (a run
    trained further), ``new`` replaces the old report whole: every number in it belongs to the
    model of its step, and keeping any beside the new ones would pass them off as the new
    model's (before 2026-11-26 the top-level blocks ``new`` lacked were kept)."""
    path = Path(run_dir) / "report.json"
    old: Any = {}
    problem = None
    if path.exists():
        try:
            old = json.loads(path.read_text())
            problem = report_problem(old)
        except (UnicodeDecodeError, json.JSONDecodeError):
            problem = "cannot be read as JSON"
    if problem is not None:
        # Merged into, a damaged or hand-edited report would carry its bad fields beside the
        # new numbers (and break report.html); it is replaced, and the user told.
        log.warning("note: %s %s; replacing it with this evaluation", path, problem)
        old = {}
    same_model = old.get("step") == new.get("step") and old.get("weights") in (
        None,  # a report written before weights were recorded
        new.get("weights"),
    )
    merged = _deep_merge(old, new) if same_model else new
    atomic_write_bytes(path, (json.dumps(merged, indent=2) + "\n").encode())
    return merged


def earlier_results(merged: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """What a merged report holds beside ``fresh`` (earlier evaluations of the same step):
    top-level blocks, and datasets under ``evaluations``, that this call did not compute."""
    blocks = ("clustering", "mi_bound", "noise_use", "disentanglement", "quality")
    held = [k for k in blocks if k in merged and k not in fresh]
    new_data = set(fresh.get("evaluations", {}))
    held += [f"evaluations on {d}" for d in merged.get("evaluations", {}) if d not in new_data]
    return held


def format_report(rep: dict[str, Any]) -> str:
    """A plain-text table of a report: clustering per dataset and code, MI bound per code."""
    lines = [f"step {rep.get('step', '?')}, codes {rep.get('codes', '?')}"]
    for name, ev in rep.get("evaluations", {}).items():
        for code, r in ev.get("clustering", {}).items():
            lines.append(
                f"  {code} as classifier on {name} (n={r['n']}): accuracy {r['accuracy']:.4f}  "
                f"NMI {r['nmi']:.4f}  ARI {r['ari']:.4f}"
            )
            unseen = r.get("unseen") or []
            if unseen:
                lines.append(
                    f"    {len(unseen)} of {len(r.get('mapping', {}))} values of {code} no image "
                    "took: their labels are guesses (figures show them as unseen; sample "
                    "--label leaves them out)"
                )
        for metric, why in ev.get("skipped", {}).items():
            lines.append(f"  {metric} on {name}: skipped ({why})")
    if rep.get("mi_bound"):
        lines.append("  MI lower bound L_I per code (nats, fresh samples):")
    for code, r in rep.get("mi_bound", {}).items():
        extra = f", std {r['std']}" if "std" in r else ""
        if "bound_fitted_std" in r:
            extra += f"; with a fitted std {r['fitted_std']:.3f}: {r['bound_fitted_std']:.4f}"
        lines.append(
            f"    {code} ({r['kind']}): {r['bound']:.4f}  H(c) = {r['entropy']:.4f}{extra}"
        )
    use = noise_use_of(rep.get("noise_use"))
    if use is not None:
        lines.append(
            f"  noise use: {use:.3f} (images of one code setting differ by this share "
            "of what images of different settings differ by; near 0: G ignores z)"
        )
        if use < NOISE_USE_WARN:
            lines.append(
                "  warning: G draws nearly one image per code setting (it ignores the noise z): "
                "its samples lack variety whatever the scores above say (training with "
                "--lambda-ms 0.1 kept the README's MLP generator from this)"
            )
    if "disentanglement" in rep:
        d = rep["disentanglement"]
        scales = {
            float(v)
            for ev in rep.get("evaluations", {}).values()
            for v in (ev.get("disentanglement_scale") or {}).values()
            if isinstance(v, int | float)
        }
        # Scores at --scale below 1 are noisier and not comparable to full-scale ones: said.
        shown = ", ".join(f"{x:g}" for x in sorted(scales))
        at = f", at {shown} of the reference sample sizes" if scales - {1.0} else ""
        lines.append(f"  disentanglement (Q's code estimate | ground-truth oracle{at}):")
        for key in sorted(k for k in d if k != "oracle"):
            o = d.get("oracle", {}).get(key)
            lines.append(
                f"    {key:28s} {_cell(key, d[key])}"
                + (f"  | {_cell(key, o)}" if o is not None else "")
            )
    for name, ev in rep.get("evaluations", {}).items():
        lines.extend(_format_breakdown(name, ev.get("code_factor_mi")))
    if "quality" in rep and "skipped" in rep["quality"]:
        lines.append(f"  sample quality skipped: {rep['quality']['skipped']}")
    elif "quality" in rep:
        q = rep["quality"]
        r = q["real_vs_real"]
        lines.append(
            f"  sample quality ({q['features']} features; model | real vs real: {r['what']}):"
        )
        for key in ("fid", "kid", "precision", "recall", "density", "coverage"):
            lines.append(f"    {key:10s} {q[key]:10.4f}  | {r[key]:10.4f}")
        if "warning" in q:
            lines.append(f"  sample quality warning: {q['warning']}")
    lines.extend(_format_timings(rep.get("timings", {})))
    return "\n".join(lines)


def _cell(key: str, v: Any) -> str:
    """A score to four decimals; a count (FactorVAE's ``num_active_dims``) as a whole number."""
    if isinstance(v, int) or (key == "num_active_dims" and isinstance(v, float)):
        return f"{int(v):d}"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _format_breakdown(data: str, b: dict[str, Any] | None) -> list[str]:
    """The code x factor matrix of normalised MI (what MIG reads) as a text table."""
    if not b or "normalized_mi" not in b:
        return []
    width = max(8, *(len(f) + 1 for f in b["factors"]))
    lines = [
        f"  which code holds which factor on {data}: I(code; factor) / H(factor), "
        "MIG's sample and bins",
        "    " + " " * 8 + "".join(f"{f:>{width}s}" for f in b["factors"]),
    ]
    for code, row in zip(b["codes"], b["normalized_mi"], strict=True):
        lines.append(f"    {code:8s}" + "".join(f"{v:{width}.3f}" for v in row))
    lines.append(f"    {'MIG gap':8s}" + "".join(f"{v:{width}.3f}" for v in b["gap"]))
    return lines


def _part(key: str) -> str:
    """A timing's key as read: ``"/data/shapes/encode"`` -> ``"encode on /data/shapes"`` (the
    path glued to the step read as a file's)."""
    data, sep, part = key.rpartition("/")
    return f"{part} on {data}" if sep and data else key


def _format_timings(timings: dict[str, float]) -> list[str]:
    """The ``timings`` of a report as lines: the parts, then a metric | oracle table."""
    if not timings:
        return []
    parts = {
        k: v for k, v in timings.items() if "/disentanglement/" not in k and "/oracle/" not in k
    }
    lines = ["  wall-clock seconds: " + ", ".join(f"{_part(k)} {v:.1f}" for k, v in parts.items())]
    per_data: dict[str, dict[str, list[float | None]]] = {}
    for key, seconds in timings.items():
        for kind, col in (("/disentanglement/", 0), ("/oracle/", 1)):
            if kind in key:
                data, metric = key.split(kind, 1)
                per_data.setdefault(data, {}).setdefault(metric, [None, None])[col] = seconds
    for data, rows in per_data.items():
        lines.append(f"    disentanglement on {data}, seconds per metric (Q's codes | oracle):")
        for metric, (mine, oracle) in rows.items():
            cells = [f"{x:8.1f}" if x is not None else f"{'-':>8s}" for x in (mine, oracle)]
            lines.append(f"      {metric:26s}{cells[0]}  |{cells[1]}")
    return lines


#: What one ``data`` entry of :func:`evaluate_run` may be (and its classes, for isinstance).
DataSource = str | os.PathLike[str] | ImageDataset | np.ndarray | torch.Tensor
_SOURCE_TYPES = (str, os.PathLike, ImageDataset, np.ndarray, torch.Tensor)


def _as_source(source: Any) -> str | ImageDataset:
    """One ``data`` entry of :func:`evaluate_run` as a path made absolute (names stay names)
    or a dataset in memory (arrays read as :func:`infogan.data.from_arrays` reads them)."""
    if isinstance(source, ImageDataset):
        return source
    if isinstance(source, np.ndarray | torch.Tensor):
        return from_arrays(source)
    return absolute_source(source)


def check_writable_run(run_dir: str | Path) -> None:
    """Raise a one-line error unless ``run_dir`` is a run directory this process can write
    ``report.json`` into: checked before the metrics, which can take minutes."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise CheckpointError(
            f"evaluate: {run_dir} is a file; give its run directory (the report is written there)"
        )
    if not run_dir.is_dir():
        raise CheckpointError(f"evaluate: {run_dir} does not exist")
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise CheckpointError(
            f"evaluate: cannot write the report into {run_dir} (no write permission); copy the "
            "run to a writable place first"
        )


def evaluate_run(
    run_dir: str | Path,
    data: Sequence[DataSource] | DataSource | None = None,
    n_mi: int = 10_000,
    device: str | torch.device = "cpu",
    split: str = "test",
    metrics: Sequence[str] | str = METRIC_GROUPS,
    scale: float = 1.0,
    n_quality: int = 10_000,
    extractor: Any = None,
    html: bool = True,
    disentanglement_kw: dict[str, Any] | None = None,
    fresh: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``infogan evaluate``: every metric that applies; merge into ``report.json`` (and write
    ``report.html``); return the merged report. ``fresh``, if given, gets this call's own
    results (before the merge), so that a caller can show them apart from earlier ones.

    ``data`` defaults to the run's training data (whose labels training never saw); else
    dataset names, paths, :class:`~infogan.data.ImageDataset` s or image arrays in the
    networks' size (``from_arrays(x, labels=y)`` gives arrays their labels). IDX
    directories holding both splits are read at ``split`` (test by default). Sample quality is
    measured against half of the last dataset, with the other half against it as the floor
    (:func:`quality_block`).
    """
    start = time.perf_counter()
    # Checked before anything is read or written (from Python too, as the flags are): a
    # quality sample of 0 replaced the scores already in report.json by a "skipped" note.
    n_mi = whole_number("evaluate: n_mi", n_mi, MIN_MI_SAMPLES)
    n_quality = whole_number("evaluate: n_quality", n_quality, MIN_QUALITY_IMAGES)
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not 0 < scale < math.inf:
        raise SpecError(f"evaluate: scale must be a number above 0, got {scale!r}")
    scale = float(scale)
    if isinstance(data, _SOURCE_TYPES):
        data = [data]  # one source given bare: a str is iterable, one character at a time
    data = list(data) if data is not None else []
    for source in data:
        if not isinstance(source, _SOURCE_TYPES):
            raise SpecError(
                f"evaluate: data must be paths, dataset names, ImageDatasets or image arrays, "
                f"got {type(source).__name__}"
            )
    if isinstance(metrics, str):
        metrics = tuple(m.strip() for m in metrics.split(","))
    unknown = [m for m in metrics if m not in METRIC_GROUPS]
    if unknown or not metrics:
        raise SpecError(
            f"evaluate: unknown metric group(s) {unknown or '(none given)'}; choose from "
            f"{', '.join(METRIC_GROUPS)}"
        )
    check_writable_run(run_dir)
    model = load_run(run_dir, device=device)
    note_if_training(run_dir, model.step, "this evaluates")
    # Paths absolute (names stay names): one dataset evaluated from two working directories,
    # or typed two ways, is one entry under "evaluations", not several.
    sources = [_as_source(s) for s in data] if data else [model.cfg.data]
    seen = model.trained_on or {}
    if not data and seen.get("name") == ARRAY_NAME:
        log.warning(
            "note: %s trained on %s images passed from Python (%s), not on its recorded data "
            "%s, which these scores are on; give the images with --data (a file or folder)",
            run_dir,
            seen.get("n", "?"),
            ARRAY_NAME,
            model.cfg.data,
        )
    # Image files are resized, and any data put in the channels, that the networks read.
    channels, side = model.nets.image_shape[:2]
    try:
        datasets = [
            with_channels(s, channels)
            if isinstance(s, ImageDataset)
            else load_dataset(s, split=split, size=side, channels=channels)
            for s in sources
        ]
    except DataError as e:
        if data or set(metrics) != {"mi"}:
            raise
        # The bound needs generated images only: a run whose training data has moved is
        # still scored (without the code-usage histograms, which read the data).
        log.warning("note: %s; scoring the MI bound, which needs no images", e)
        datasets = []
    if data:
        for ds in datasets:
            if seen.get("fingerprint") is not None and seen["fingerprint"] == ds.fingerprint():
                # Scored as asked, but not on held-out images (a train-only folder read for
                # --split test, or the training file given as --data): said, not hidden.
                log.warning(
                    "note: %s holds the images this run trained on (its labels were never read "
                    "in training, but these scores are not on held-out images)",
                    ds.name,
                )
    loaded = time.perf_counter() - start
    rep = evaluate_model(
        model,
        datasets,
        n_mi=n_mi,
        metrics=metrics,
        scale=scale,
        n_quality=n_quality,
        extractor=extractor,
        disentanglement_kw=disentanglement_kw,
    )
    rep["timings"] = {"load": loaded, **rep["timings"]}
    rep["timings"]["total"] += loaded
    if fresh is not None:
        fresh.update(rep)
    with report_lock(run_dir):
        return _write_evaluation(run_dir, model, rep, html)


def _write_evaluation(
    run_dir: str | Path, model: InfoGAN, rep: dict[str, Any], html: bool
) -> dict[str, Any]:
    """The end of :func:`evaluate_run`, under the run's report lock: ``rep`` merged into
    ``report.json`` (unless the run has a later step's), the figures and ``report.html``."""
    later = report_step(run_dir)
    if later is not None and isinstance(rep.get("step"), int) and later > rep["step"]:
        # The run trained on while this ran, or its newer checkpoints do not load (said above):
        # replacing a newer step's report with an older one's would lose it, and the label
        # mappings encode reads with it.
        log.warning(
            "warning: %s is of step %d, later than the step %d evaluated here (the run trained "
            "on meanwhile, or its newer checkpoints do not load); it is left as it is",
            Path(run_dir) / "report.json",
            later,
            rep["step"],
        )
        return rep
    merged = write_report(run_dir, rep)
    if html:
        from infogan.report import draw_page

        # The page shows the figures: they are redrawn of the step just scored, its categorical
        # values named by the mapping just saved (they kept an older step's, or the mapping
        # of other labelled data, beside this step's tables).
        draw_page(Path(run_dir), model, merged)
    return merged
