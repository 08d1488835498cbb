"""End-of-run artefacts: sample grids, traversal figures, training curves and ``report.json``."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infogan import viz
from infogan.data import ImageDataset
from infogan.evaluate import evaluate_model, format_report, write_report
from infogan.labels import CodeLabels, current_labels, labels_from_report
from infogan.latent import Categorical, Latent
from infogan.model import InfoGAN
from infogan.runlock import report_lock

__all__ = [
    "save_sample_grid",
    "save_traversal",
    "write_figures",
    "restore_artefacts",
    "finish_run",
    "score_run",
]

log = logging.getLogger("infogan")


def save_sample_grid(model: InfoGAN, seed: int, path: Path) -> np.ndarray:
    """A fixed grid to watch training: rows = values of the first categorical code (up to 20),
    columns = 10 fixed draws of everything else. Same latents at every step, so grids compare.
    Returns the grid as written (uint8)."""
    spec = model.spec
    first_cat = spec.first_categorical()
    cols = 10
    if first_cat is not None and spec.codes[first_cat].k <= 20:  # type: ignore[union-attr]
        k = spec.codes[first_cat].k  # type: ignore[union-attr]
        base = model.latent(cols, seed=seed + 7)  # the same 10 draws in every row
        lat = Latent(base.z.repeat(k, 1), base.cat.repeat(k, 1), base.cont.repeat(k, 1))
        _, j = spec.slot(first_cat)
        lat.cat[:, j] = torch.arange(k, device=lat.cat.device).repeat_interleave(
            cols
        )  # row = value
    else:
        lat = model.latent(100, seed=seed + 7)
    return viz.save_grid(model.generate(latent=lat).cpu(), path, nrow=cols)


def save_traversal(
    model: InfoGAN,
    name: str,
    path: Path,
    steps: int = 9,
    span: float = 2.0,
    seed: int = 0,
    values: list[int] | None = None,
) -> Path:
    """One code's traversal figure (:meth:`InfoGAN.traverse`) at ``path``, as a run's own
    figures draw it: where the model has label mappings for its step
    (:func:`infogan.labels.current_labels`), a categorical value is shown with its label (``3 →
    7`` in a column, ``c1=3 → 7`` in a row), and the title says when a large categorical code
    shows only some of its values."""
    named, _ = current_labels(model)
    i = model.spec.index_of(name)
    name, label, code = model.spec.names[i], model.spec.labels[i], model.spec.codes[i]
    images, rows, cols = model.traverse(name, steps=steps, span=span, seed=seed, values=values)
    if name in named:
        cols = [f"{v} → {named[name].shown([int(v)])[0]}" for v in cols]
    rows = [_with_label(r, named) for r in rows]
    shown = name in named or any(" → " in r for r in rows)
    what = "its values" if isinstance(code, Categorical) else f"swept from {-span:g} to {span:g}"
    title = f"{label}: {what} (step {model.step})" + ("; value → matched label" if shown else "")
    cat = i if isinstance(code, Categorical) else model.spec.first_categorical()
    if cat is not None:
        k = model.spec.codes[cat].k  # type: ignore[union-attr]
        n = len(cols) if cat == i else len(rows)
        if n < k:
            title += f"; {n} of {model.spec.names[cat]}'s {k} values shown"
    viz.save_traversal_figure(images.cpu(), path, rows, cols, title=title)
    return path


#: Most codes a run draws a traversal figure of at the end of training (the first ones, in
#: order); ``infogan traverse RUN --code NAME`` draws any other. ``--codes cont:300`` drew 300
#: figures (84 s for a 5-step run) that nobody would page through.
FIGURE_CODES = 16


def figure_codes(model: InfoGAN) -> list[str]:
    """The codes whose traversal figures a run's folder holds (:data:`FIGURE_CODES` first)."""
    return list(model.spec.names[:FIGURE_CODES])


def write_figures(model: InfoGAN, run_dir: Path) -> list[Path]:
    """One traversal figure per code (``traversal_c1.png``, ...; :func:`save_traversal`) for
    the first :data:`FIGURE_CODES` codes, and ``curves.png``."""
    names = figure_codes(model)
    written = [save_traversal(model, n, run_dir / f"traversal_{n}.png") for n in names]
    if len(model.spec.names) > len(names):
        nxt = model.spec.names[len(names)]
        log.info(
            "figures: traversals of the first %d of %d codes; draw others with: "
            "infogan traverse %s --code %s",
            len(names),
            len(model.spec.names),
            shlex.quote(str(run_dir)),
            nxt,
        )
    records = (
        viz.read_jsonl(run_dir / "metrics.jsonl") if (run_dir / "metrics.jsonl").exists() else []
    )
    path = run_dir / "curves.png"
    viz.save_training_curves(
        records, path, model.spec.names, model.spec.entropies, display_names=model.spec.labels
    )
    written.append(path)
    return written


def _with_label(row: str, named: dict[str, CodeLabels]) -> str:
    """``"c1=3"`` -> ``"c1=3 → 7"`` where c1 has a label mapping; other rows unchanged."""
    code, sep, value = row.partition("=")
    if sep and code in named and value.isdigit():
        return f"{row} → {named[code].shown([int(value)])[0]}"
    return row


def restore_artefacts(run_dir: Path, model: InfoGAN, rep: dict[str, Any]) -> list[str]:
    """Redraw what a finished run's folder lacks beside its ``report.json`` of this step (the
    figures and ``report.html``, written after it: a stop there, or a deleted figure, left
    them missing for good). Returns the names redrawn; nothing is scored again."""
    wanted = [f"traversal_{n}.png" for n in figure_codes(model)] + ["curves.png", "report.html"]
    missing = [name for name in wanted if not (run_dir / name).exists()]
    if not missing:
        return []
    draw_page(run_dir, model, rep)
    return missing


def draw_page(run_dir: Path, model: InfoGAN, rep: dict[str, Any]) -> None:
    """The figures (:func:`write_figures`) and ``report.html`` of ``rep``, a report of
    ``model``'s step, its categorical values named by the report's mapping; under the run's
    report lock."""
    model.saved_labels = labels_from_report(rep, model.spec)
    from infogan.report_html import write_html  # matplotlib's Agg canvas, only when needed

    with report_lock(run_dir):
        write_figures(model, run_dir)
        write_html(run_dir, rep)


def finish_run(
    run_dir: Path,
    model: InfoGAN,
    datasets: list[ImageDataset | None],
    seconds: float,
    wall_s: float | None = None,
) -> dict[str, Any]:
    """Figures, evaluation on labelled ``datasets`` (last one primary), ``report.json`` and
    ``report.html``. ``seconds``: the training loop's time in this process; ``wall_s``: this
    model's training time over every process that trained it (metrics.jsonl's ``wall_s``).

    The labels are read here, after training, for scoring only.
    """
    cfg = model.cfg
    training = {
        "data": cfg.data,
        "steps": model.step,
        # Both count training steps only (not the other candidates, the choice or evaluation).
        "seconds_this_session": round(seconds, 2),
        **({"wall_s": round(wall_s, 2)} if wall_s is not None else {}),
        "device": str(model.device),
        "seed": cfg.seed,
        "batch": cfg.batch,
    }
    return score_run(run_dir, model, datasets, {"training": training})


def score_run(
    run_dir: Path,
    model: InfoGAN,
    datasets: list[ImageDataset | None],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The end of :func:`finish_run` for a trained model: its evaluation on ``datasets`` (last
    one primary) with ``extra`` blocks added, the figures labelled by it, merged into
    ``report.json``, ``report.html``; printed and returned. A sweep calls it to score a
    finished seed again (its report unreadable, or without the sweep's evaluation data)."""
    rep = evaluate_model(model, [d for d in datasets if d is not None])
    # The figures name each categorical value by the label it was just matched to.
    model.saved_labels = labels_from_report(rep, model.spec)
    rep.update(extra or {})
    from infogan.report_html import write_html  # matplotlib's Agg canvas, only when needed

    with report_lock(run_dir):  # an `evaluate` of the run may be writing its report too
        write_figures(model, run_dir)
        rep = write_report(run_dir, rep)
        write_html(run_dir, rep)
    print(format_report(rep), flush=True)
    return rep
