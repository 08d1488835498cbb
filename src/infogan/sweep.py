"""``infogan sweep``: train one recipe over several seeds, evaluate each, summarise every metric.

Robustness across seeds is the point of a recipe, so the summary reports mean, std, min and max
of every number in the runs' reports, beside the per-seed values (bad seeds included). Each seed
trains in ``OUT/seed<N>``; a finished seed is not retrained and an interrupted one is resumed, so a
sweep can be stopped and started again (with the same recipe: a seed's folder trained with another
one, or past ``--steps``, is refused).
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from infogan import checkpoint as ckpt
from infogan.atomic import atomic_write_bytes
from infogan.config import EXECUTION_FIELDS, TrainConfig, recipe_differences
from infogan.devices import resolve_device
from infogan.errors import SpecError
from infogan.model import load_run
from infogan.prepare import (
    check_folder_target,
    check_new_run_dir,
    load_eval_data,
    load_training_data,
    with_absolute_data,
)
from infogan.report import score_run
from infogan.runinfo import is_sweep_table, noise_use_of, report_problem
from infogan.runlock import lock_holder
from infogan.select import train_selected

__all__ = ["run_sweep", "flatten_report", "dataset_keys", "summarise", "format_summary"]


def dataset_keys(reports: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The name each evaluation dataset of ``reports`` goes by in a table: its short name
    (:func:`_short`), or its full one where two datasets share a short name, decided over all
    the reports at once so that one dataset has one name in every seed's row."""
    full = sorted({d for rep in reports for d in rep.get("evaluations", {})})
    shorts = [_short(d) for d in full]
    return {d: s if shorts.count(s) == 1 else d for d, s in zip(full, shorts, strict=True)}


def flatten_report(rep: dict[str, Any], names: dict[str, str] | None = None) -> dict[str, float]:
    """The numbers of a report as ``{"<data>/c1/accuracy": 0.93, "mi_bound/c1": 2.29, ...}``:
    clustering per dataset and code, disentanglement scores per dataset (``<data>/mig``; the
    oracle's are the data's, not the seed's, so left out), the MI bound per code (and the
    fitted-std bound where there is one), how much G uses its noise (``noise_use``), and sample
    quality (``quality/fid``, ...). ``names``: each dataset's name in the keys (default
    :func:`dataset_keys` of this report alone; a sweep passes those of all its seeds)."""
    out: dict[str, float] = {}
    # Two datasets of one short name (/a/x/data.npz, /b/x/data.npz) keep their full names,
    # rather than one's numbers silently replacing the other's.
    names = names if names is not None else dataset_keys([rep])
    for data, ev in rep.get("evaluations", {}).items():
        name = names.get(data, data)
        for code, r in ev.get("clustering", {}).items():
            for key in ("accuracy", "nmi", "ari"):
                out[f"{name}/{code}/{key}"] = float(r[key])
        for key, value in ev.get("disentanglement", {}).items():
            if isinstance(value, int | float):
                out[f"{name}/{key}"] = float(value)
    for code, r in rep.get("mi_bound", {}).items():
        out[f"mi_bound/{code}"] = float(r["bound"])
        if "bound_fitted_std" in r:
            out[f"mi_bound_fitted_std/{code}"] = float(r["bound_fitted_std"])
    use = noise_use_of(rep.get("noise_use"))
    if use is not None:
        out["noise_use"] = use
    for key, value in rep.get("quality", {}).items():
        if isinstance(value, int | float) and key not in _SAMPLE_COUNTS:
            out[f"quality/{key}"] = float(value)
    for key, value in rep.get("metrics", {}).items():  # extra metric blocks, if any
        if isinstance(value, int | float):
            out[key] = float(value)
    return out


#: Numbers of a report's quality block that count samples rather than score the model.
_SAMPLE_COUNTS = frozenset({"n_fake", "n_real"})


def _short(name: str) -> str:
    """A dataset's name without its directories: ``/a/b/mnist/t10k-images...gz`` -> ``mnist/t10k``."""
    p = Path(name)
    if len(p.parts) <= 1:
        return name
    stem = p.name.split("-images")[0].split(".")[0]
    return f"{p.parent.name}/{stem}"


def summarise(per_seed: dict[int, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """mean, std, min, max and n of every metric over seeds; std is None for a metric only
    one seed has (a spread of one value is not 0, it is unknown).

    std is the sample standard deviation (``n - 1``), as published "mean ± std over seeds"
    figures use; before 2026-11-27 it was the population one (``n``), sqrt((n-1)/n) smaller."""
    keys = sorted({k for v in per_seed.values() for k in v})
    out: dict[str, dict[str, float | None]] = {}
    for k in keys:
        vals = [v[k] for v in per_seed.values() if k in v]
        out[k] = {
            "mean": statistics.fmean(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else None,
            "min": min(vals),
            "max": max(vals),
            "n": len(vals),
        }
    return out


def format_summary(
    per_seed: dict[int, dict[str, float]], summary: dict[str, dict[str, float | None]]
) -> str:
    seeds = sorted(per_seed)
    # As wide as the longest name: cutting names short could print two metrics alike.
    w = max([len("metric"), *map(len, summary)])
    head = f"{'metric':{w}s} " + " ".join(f"{'s' + str(s):>7s}" for s in seeds)
    # n: how many seeds have the metric (a mean over fewer than all is told apart).
    lines = [head + f" {'mean':>7s} {'std':>7s} {'min':>7s} {'max':>7s} {'n':>3s}"]
    for k, st in summary.items():
        vals = " ".join(
            f"{per_seed[s][k]:7.4f}" if k in per_seed[s] else f"{'-':>7s}" for s in seeds
        )
        std = f"{st['std']:7.4f}" if st["std"] is not None else f"{'-':>7s}"
        lines.append(
            f"{k:{w}s} {vals} {st['mean']:7.4f} {std} {st['min']:7.4f} {st['max']:7.4f} "
            f"{st['n']:3.0f}"
        )
    return "\n".join(lines)


def run_sweep(
    cfg: TrainConfig, seeds: list[int], out: str | Path, centrality: bool = False
) -> dict[str, Any]:
    """Train (or finish) ``cfg`` for every seed in ``out/seed<N>``; write ``out/sweep.json``.

    ``centrality``: also cross-evaluate the seeds' final models (InfoGAN-CR's ModelCentrality,
    :mod:`infogan.centrality`) and name the one a user without labels would keep; its result
    goes under ``centrality`` in ``sweep.json``, with each seed's centrality and
    self-consistency added to ``per_seed`` (and so summarised like every other number)."""
    out = Path(out)
    _check_sweep_dir(out)
    for seed in seeds:
        # A seed folder in training (the same sweep started twice, or a resume by hand) is
        # named now, with the advice a sweep needs (the trainer's says "--resume").
        holder = lock_holder(out / f"seed{seed}")  # None where the folder is not there yet
        if holder is not None and holder != os.getpid():
            raise SpecError(
                f"sweep: seed {seed} ({out / f'seed{seed}'}) is being trained by another process "
                f"(pid {holder}: the same sweep started twice?); run this sweep again when it "
                "has ended (finished seeds are reused)"
            )
        # A seed folder that holds no run must be empty, as `train --out` wants it: a user's
        # file there would sit among the run's files (and a report.json of theirs be replaced).
        # Checked for every seed before any trains, so a refusal costs no work.
        if not (out / f"seed{seed}" / "config.json").exists():
            try:
                check_new_run_dir(out / f"seed{seed}")
            except SpecError as e:
                raise SpecError(f"sweep: seed {seed}: {str(e).removeprefix('train: ')}") from None
    reports: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        run_dir = out / f"seed{seed}"
        scfg = with_absolute_data(replace(cfg, seed=seed))
        _check_same_recipe(scfg, run_dir)
        done = ckpt.newest_step(run_dir)
        if done is not None and done > cfg.steps:
            raise SpecError(
                f"sweep: {run_dir} is at step {done}, past --steps {cfg.steps}, so its numbers "
                f"are not a {cfg.steps}-step result; give --steps {done} or another --out"
            )
        if done == cfg.steps and (run_dir / "report.json").exists():
            rep = _finished_report(scfg, run_dir, seed, done)
        else:
            print(f"seed {seed}: training in {run_dir}", flush=True)
            try:
                rep = train_selected(scfg, run_dir, resume=done is not None).report
            except KeyboardInterrupt:
                # The trainer's "continue with: infogan train --resume SEED_DIR" would finish
                # that seed alone; the sweep's own command goes on with every seed and the table.
                raise KeyboardInterrupt(
                    f"stopped in seed {seed} ({run_dir}; its checkpoints are kept); run the same "
                    "infogan sweep command again to go on (finished seeds are reused)"
                ) from None
        reports[seed] = rep
    for seed in seeds:
        # Another command may have trained a finished seed on while later seeds trained (a
        # `train --resume` of its folder): its report is then of another step than the table
        # would say, and the table is not written.
        now = ckpt.newest_step(out / f"seed{seed}")
        if now != cfg.steps:
            raise SpecError(
                f"sweep: {out / f'seed{seed}'} is now at step {now}, not {cfg.steps} (trained on "
                "by another command while the sweep ran); sweep.json is not written: give "
                f"--steps {now} to score every seed there, or another --out"
            )
    names = dataset_keys(reports.values())
    per_seed = {seed: flatten_report(rep, names) for seed, rep in reports.items()}
    central = None
    if centrality and len(seeds) > 1:
        central = _centrality(cfg, seeds, out)
        for k, seed in enumerate(seeds):
            per_seed[seed]["centrality"] = central["centrality"][k]
            per_seed[seed]["self_consistency"] = central["self_consistency"][k]
    summary = summarise(per_seed)
    result = {
        "config": cfg.to_dict(),
        "seeds": seeds,
        "per_seed": {str(s): v for s, v in per_seed.items()},
        "summary": summary,
    }
    if central is not None:
        result["centrality"] = central
    _note_replaced_table(out / "sweep.json", cfg.steps, seeds)
    atomic_write_bytes(out / "sweep.json", (json.dumps(result, indent=2) + "\n").encode())
    print(format_summary(per_seed, summary))
    if central is not None:
        print(f"ModelCentrality (no labels) keeps {central['selected']}")
    print(f"sweep: {out / 'sweep.json'}")
    return result


def _finished_report(cfg: TrainConfig, run_dir: Path, seed: int, done: int) -> dict[str, Any]:
    """A finished seed's report: reused as it is, or scored again, as the end of training
    scores it (:func:`~infogan.report.score_run`), where it cannot be read or the sweep names
    other evaluation data than the seed was scored on (reused, its table lacked that data's
    rows while ``sweep.json`` named it). The seed's ``config.json`` then names the new data,
    as ``train --resume --eval-data`` makes it, so that ``info`` says what the report holds."""
    path = run_dir / "report.json"
    try:
        rep = json.loads(path.read_text())
        problem = report_problem(rep)
    except (UnicodeDecodeError, json.JSONDecodeError):
        rep, problem = None, "cannot be read as JSON"
    saved = TrainConfig.load(run_dir / "config.json")
    # Without --eval-data the seed keeps its own (a sweep started with one and run again).
    want = cfg.eval_data or saved.eval_data
    if problem is None and want == saved.eval_data:
        print(f"seed {seed}: already trained to step {done}; reusing its report", flush=True)
        return dict(rep)
    why = f"its {path.name} {problem}" if problem else "the sweep names other evaluation data"
    print(f"seed {seed}: trained to step {done}, {why}; scoring it again", flush=True)
    model = load_run(run_dir, device=resolve_device(cfg.device))
    # The model's config is the one fitted to its data (image size and channels), which the
    # evaluation images must meet.
    eval_ds = load_eval_data(replace(model.cfg, eval_data=want))
    rep = score_run(run_dir, model, [load_training_data(model.cfg), eval_ds])
    if want != saved.eval_data:
        replace(saved, eval_data=want).save(run_dir / "config.json")
    return rep


def _note_replaced_table(table: Path, steps: int, seeds: list[int]) -> None:
    """Say so when ``sweep.json`` held the table of other steps or seeds (a --steps 30 sweep over
    a --steps 20 one continued its seeds and replaced the old summary without a word)."""
    try:
        old = json.loads(table.read_text())
        old_steps, old_seeds = old["config"]["steps"], old["seeds"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return
    if (old_steps, old_seeds) != (steps, seeds):
        print(
            f"note: {table} held the table of {old_steps} steps, seeds {old_seeds}; it now "
            f"holds {steps} steps, seeds {seeds}",
            flush=True,
        )


def _check_sweep_dir(out: Path) -> None:
    """Refuse, before any training, a folder that holds anything but a sweep's own files
    (``seed<N>/`` runs, ``sweep.json``, hidden files): the sweep writes ``sweep.json`` there,
    which must not replace a user's file of that name, and its runs must not land among a
    user's files. As ``train`` treats its run folder."""
    check_folder_target(out, "sweep")
    if not out.is_dir():
        return
    table = out / "sweep.json"
    if table.exists():
        if not is_sweep_table(table):
            raise SpecError(
                f"sweep: {table} exists and is not a sweep's table; give another --out "
                "(nothing was overwritten)"
            )
        return  # an earlier sweep's folder: files added beside its table are never written
    other = sorted(
        p.name
        for p in out.iterdir()
        if not p.name.startswith(".") and not (p.is_dir() and re.fullmatch(r"seed\d+", p.name))
    )
    if other:
        shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        raise SpecError(
            f"sweep: {out} holds other files ({shown}); give a new or empty folder, or an "
            "earlier sweep's (nothing was overwritten)"
        )


def _centrality(cfg: TrainConfig, seeds: list[int], out: Path) -> dict[str, Any]:
    from infogan.centrality import format_centrality, model_centrality
    from infogan.model import load_run
    from infogan.train import resolve_device

    device = resolve_device(cfg.device)
    models = [load_run(out / f"seed{s}", device=device) for s in seeds]
    res = model_centrality(models, [f"seed{s}" for s in seeds])
    print(format_centrality(res), flush=True)
    return res.to_dict()


def _check_same_recipe(cfg: TrainConfig, run_dir: Path) -> None:
    """Refuse to resume or reuse a seed's run that was trained with another recipe: its
    numbers would be filed under this one, and resuming would rewrite its ``config.json``."""
    if not (run_dir / "config.json").is_file():
        return
    saved = TrainConfig.load(run_dir / "config.json")
    chosen_before_guard = (run_dir / "selection.json").exists() and (
        "select_min_noise_use" not in json.loads((run_dir / "config.json").read_text())
    )
    if chosen_before_guard and saved.select_min_noise_use != cfg.select_min_noise_use:
        # A sweep started before the noise-use guard existed is continued by the same command
        # (the guard changed no choice measured: README, "Your own networks on MNIST").
        print(f"sweep: {run_dir}'s start was chosen before the noise-use guard existed")
        saved = replace(saved, select_min_noise_use=cfg.select_min_noise_use)
    # A selected run continues under its winning candidate's seed; the folder names the seed.
    # How the steps run may differ (a sweep started on a GPU, finished on a CPU), as on
    # `train --resume`.
    same_execution = {f: getattr(cfg, f) for f in EXECUTION_FIELDS}
    diffs = recipe_differences(replace(saved, seed=cfg.seed, **same_execution), cfg)
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise SpecError(
            f"sweep: {run_dir} was trained with another recipe ({shown}); give the same flags "
            "or another --out (nothing was changed)"
        )
