"""What a run directory holds, at a glance (``infogan info RUN``), read from its files alone.

Nothing is loaded onto a device and no checkpoint is unpickled: the recipe comes from
``config.json`` (named as the nearest preset plus the fields that differ), the progress from
the checkpoint file names and the lock, the selection from ``selection.json`` or
``candidates/stages.json``, the curves from the last row of ``metrics.jsonl``, the scores from
``report.json``. So it answers in a fraction of a second, also about a run that is training.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from infogan import checkpoint as ckpt
from infogan.config import PRESETS, RUN_FIELDS, TrainConfig, preset
from infogan.errors import SpecError
from infogan.labels import run_dir_of
from infogan.runlock import lock_holder

__all__ = [
    "format_info",
    "run_info",
    "owned_by_run",
    "written_by",
    "is_run_figure",
    "is_sweep_table",
    "report_problem",
]

#: Fields that say what a run trains on or which draw it is, not which recipe: left out when
#: naming the nearest preset.
_NOT_RECIPE = frozenset({"seed", "data", "eval_data"})


#: What training writes in a run folder: files a command that writes a user-named output must
#: never replace, ``--force`` or not; its figures too (:func:`is_run_figure`): ``sample --out
#: RUN/curves.png --force`` replaced the run's training curves.
_RUN_FILES = frozenset(
    {
        "config.json",
        "report.json",
        "report.html",
        "metrics.jsonl",
        "selection.json",
        ".lock",
    }
)
#: The run's traversal figures, one per code (``traversal_c1.png``; codes may be renamed).
_RUN_FIGURE_PREFIX, _RUN_FIGURE_SUFFIX = "traversal_", ".png"
_RUN_FOLDERS = frozenset({"checkpoints", "candidates", "samples", "tensorboard"})


def is_run_figure(path: str | Path) -> bool:
    """Whether ``path`` is named as a figure a run draws in its folder (``curves.png``,
    ``traversal_<code>.png``), which ``train --resume`` redraws when it is missing."""
    name = Path(path).name
    return name == "curves.png" or (
        name.startswith(_RUN_FIGURE_PREFIX) and name.endswith(_RUN_FIGURE_SUFFIX)
    )


def owned_by_run(path: str | Path) -> Path | None:
    """The run folder (one holding a run's ``config.json``) whose own file ``path`` is: one of
    :data:`_RUN_FILES` or a figure (:func:`is_run_figure`) there, or anything under its
    checkpoints, candidates, samples or tensorboard folders. None for any other path."""
    p = Path(path).resolve()
    if (p.name in _RUN_FILES or is_run_figure(p)) and _is_run(p.parent):
        return p.parent
    for up in p.parents:
        if up.name in _RUN_FOLDERS and _is_run(up.parent):
            return up.parent
    return None


def is_sweep_table(path: str | Path) -> bool:
    """Whether ``path`` is the table a sweep wrote (a JSON object with ``per_seed`` and
    ``summary``), not merely some file named ``sweep.json``."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(d, dict) and {"per_seed", "summary"} <= d.keys()


def written_by(path: str | Path) -> str | None:
    """Which run or sweep wrote ``path``, for an output check that must never replace it,
    ``--force`` or not: ``"the run in DIR"`` (:func:`owned_by_run`), ``"the sweep in DIR"``
    (its ``sweep.json`` table: seeds' scores that took hours), or None."""
    run = owned_by_run(path)
    if run is not None:
        return f"the run in {run}"
    p = Path(path).resolve()
    if p.name == "sweep.json" and is_sweep_table(p):
        return f"the sweep in {p.parent}"
    return None


def _is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run's ``config.json`` (a JSON object with the config's
    ``model`` and ``steps``), not merely some file of that name (a project's settings)."""
    try:
        d = json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(d, dict) and "model" in d and "steps" in d


def _flat(cfg: TrainConfig) -> dict[str, Any]:
    d = cfg.to_dict()
    model = d.pop("model")
    flat = {k: v for k, v in d.items() if k not in RUN_FIELDS and k not in _NOT_RECIPE}
    flat.update({f"model.{k}": v for k, v in model.items() if k != "channels"})
    return flat


def nearest_preset(cfg: TrainConfig) -> tuple[str, dict[str, Any]]:
    """The preset ``cfg``'s recipe differs least from, and the fields where it differs (with
    ``cfg``'s values). Aliases (a preset that is another's recipe) count once, by first name."""
    mine = _flat(cfg)
    best: tuple[str, dict[str, Any]] | None = None
    seen: list[dict[str, Any]] = []
    for name in PRESETS:
        theirs = _flat(preset(name))
        if theirs in seen:
            continue
        seen.append(theirs)
        diff = {k: v for k, v in mine.items() if theirs.get(k) != v}
        if best is None or len(diff) < len(best[1]):
            best = (name, diff)
    assert best is not None
    return best


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _last_row(path: Path) -> dict[str, Any] | None:
    """The last complete row of a metrics.jsonl (a half-written last line is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            return row
    return None


def _run_of(path: str | Path) -> Path:
    """The run directory named by ``path``: the folder itself, or the run of one of its
    checkpoint files."""
    p = run_dir_of(path) or Path(path)
    if not Path(path).exists():
        raise SpecError(f"info: {path} does not exist")
    if not (p / "config.json").is_file():
        raise SpecError(f"info: {path} is not a run directory (no config.json)")
    return p


def _selection(run: Path, cfg: TrainConfig) -> dict[str, Any] | None:
    """The selection's points (finished ones; during a selection, those done so far)."""
    selection = _read_json(run / "selection.json")
    source = run / "selection.json"
    stages = selection.get("stages") if isinstance(selection, dict) else None
    if stages is None:
        source = run / "candidates" / "stages.json"
        partial = _read_json(source)
        stages = partial.get("stages") if isinstance(partial, dict) else None
    if not stages:
        return None
    try:
        out: dict[str, Any] = {
            "candidates": cfg.candidates,
            "min_noise_use": cfg.select_min_noise_use,
            "finished": isinstance(selection, dict),
            "stages": [
                {
                    "step": int(st["step"]),
                    "scores": {
                        str(int(c["candidate"]) + 1): float(c["score"]) for c in st["candidates"]
                    },
                    "kept": [int(k) + 1 for k in st["kept"]],
                    # ranked last by the noise-use guard (select.rank)
                    "demoted": [
                        int(c["candidate"]) + 1 for c in st["candidates"] if c.get("demoted")
                    ],
                    "noise_use": {
                        str(int(c["candidate"]) + 1): float(c["noise_use"])
                        for c in st["candidates"]
                        if "noise_use" in c
                    },
                }
                for st in stages
            ],
        }
        if isinstance(selection, dict):
            out["winner_seed"] = int(selection["winner_seed"])
        return out
    except (TypeError, AttributeError, KeyError, ValueError):
        return {"error": f"{source} holds something else than a selection record"}


def _starts(run: Path, selection: dict[str, Any] | None) -> dict[str, int]:
    """During a selection: how far each start still in the running has got (its last row)."""
    alive = None
    if selection and selection.get("stages"):
        alive = set(selection["stages"][-1]["kept"])
    reached = {}
    for d in sorted((run / "candidates").iterdir(), key=lambda p: p.name):
        if d.is_dir() and d.name.isdigit() and (alive is None or int(d.name) + 1 in alive):
            last = _last_row(d / "metrics.jsonl")
            step = last.get("step") if last else 0
            reached[str(int(d.name) + 1)] = step if isinstance(step, int) else 0
    return reached


#: Disentanglement scores ``info`` shows (the report holds more: DCI's three, SAP, ...).
_HEADLINE_DISENTANGLEMENT = ("factorvae", "mig", "beta_vae", "dci_disentanglement")


def noise_use_of(block: object) -> float | None:
    """The ratio of a report's ``noise_use`` block (None: not measured, skipped, or not a
    number): the one reading of it that the printout, report.html, info and sweeps share."""
    ratio = block.get("ratio") if isinstance(block, dict) else None
    return float(ratio) if isinstance(ratio, int | float) else None


#: The numbers of each clustering entry that the readers of a report show.
_CLUSTER_KEYS = ("accuracy", "nmi", "ari", "n")


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def report_problem(report: object) -> str | None:
    """What is wrong with a parsed ``report.json`` for the commands that read it back (None:
    nothing): the fields every reader relies on (``evaluate``'s merge and table, report.html,
    ``info``, a sweep's table), checked without trusting a hand-edited or foreign file."""
    if not isinstance(report, dict):
        return "is not a JSON object"
    if "step" in report and not (
        isinstance(report["step"], int) and not isinstance(report["step"], bool)
    ):
        return "has a step that is not a whole number"
    blocks = {"top level": report}
    evaluations = report.get("evaluations", {})
    if not isinstance(evaluations, dict) or not all(
        isinstance(e, dict) for e in evaluations.values()
    ):
        return "has evaluations that are not one object per dataset"
    blocks.update(evaluations)
    for where, block in blocks.items():
        clustering = block.get("clustering", {})
        if not isinstance(clustering, dict):
            return f"has a clustering block ({where}) that is not an object"
        for code, r in clustering.items():
            if not isinstance(r, dict) or not all(_is_num(r.get(k)) for k in _CLUSTER_KEYS):
                return f"has a clustering entry for {code} ({where}) without {', '.join(_CLUSTER_KEYS)}"
    mi = report.get("mi_bound", {})
    if not isinstance(mi, dict) or not all(
        isinstance(r, dict) and _is_num(r.get("bound")) and _is_num(r.get("entropy"))
        for r in mi.values()
    ):
        return "has an mi_bound block without a bound and entropy per code"
    for key in ("disentanglement", "quality", "noise_use"):
        if not isinstance(report.get(key, {}), dict):
            return f"has a {key} block that is not an object"
    return None


def _scores(report: dict[str, Any], path: Path) -> dict[str, Any]:
    try:
        return {
            "step": report.get("step"),
            "clustering": {
                ds: {c: float(v["accuracy"]) for c, v in e["clustering"].items()}
                for ds, e in (report.get("evaluations") or {}).items()
                if e.get("clustering")
            },
            "mi_bound": {c: float(v["bound"]) for c, v in (report.get("mi_bound") or {}).items()},
            "noise_use": noise_use_of(report.get("noise_use")),
            # The headline number of each other block, where the report has it.
            "disentanglement": {
                k: float(v)
                for k, v in (report.get("disentanglement") or {}).items()
                if k in _HEADLINE_DISENTANGLEMENT
            },
            "quality": {
                k: float(v)
                for k, v in (report.get("quality") or {}).items()
                if k in ("fid", "kid", "precision", "recall")
            },
        }
    except (TypeError, AttributeError, KeyError, ValueError):
        return {"error": f"{path} holds something else than a report"}


def run_info(run_dir: str | Path) -> dict[str, Any]:
    """A JSON-ready summary of ``run_dir`` (or of the run of one of its checkpoint files):
    recipe, progress, selection, curves, scores."""
    run = _run_of(run_dir)
    try:
        cfg = TrainConfig.load(run / "config.json")
    except SpecError as e:
        raise SpecError(f"info: {run}: {e}") from None
    name, diff = nearest_preset(cfg)
    found = ckpt.list_checkpoints(run)
    # Cut-short files (a copy stopped half-way) are told apart by their zip directory alone;
    # the commands skip them for the newest one that loads, and so does the progress here.
    damaged = [s for s, path in found if not ckpt.is_archive(path)]
    steps = [s for s, _ in found if s not in damaged]
    holder = lock_holder(run)
    report = _read_json(run / "report.json")
    at_end = bool(steps) and steps[-1] >= cfg.steps
    if holder is not None:
        state = "training"
    elif at_end:
        state = "finished" if isinstance(report, dict) else "trained"
    else:
        state = "stopped"
    info: dict[str, Any] = {
        "run": str(run),
        "recipe": {"preset": name, "differences": diff},
        "codes": cfg.model.codes,
        "noise": {"dim": cfg.model.noise_dim, "dist": cfg.model.noise_dist},
        "arch": {"name": cfg.model.arch, "width": cfg.model.width, "channels": cfg.model.channels},
        "data": cfg.data,
        "eval_data": cfg.eval_data,
        "seed": cfg.seed,
        "steps": {"target": cfg.steps, "checkpoints": steps},
        "state": state,
    }
    if damaged:
        info["steps"]["damaged"] = damaged
    if holder is not None:
        info["pid"] = holder
    selection = _selection(run, cfg)
    if selection is not None:
        info["selection"] = selection
    if not (run / "selection.json").exists() and (run / "candidates").is_dir():
        info["candidates_reached"] = _starts(
            run, selection if selection and "error" not in selection else None
        )
    row = _last_row(run / "metrics.jsonl")
    if row is not None:
        info["last_metrics"] = row
    if isinstance(report, dict):
        problem = report_problem(report)
        theirs, ours = report.get("codes"), cfg.latent().spec
        if theirs is not None and theirs != ours:
            # A report copied from another run would put its scores on this run's codes.
            problem = f"is of codes {theirs!r}, not this run's {ours!r}"
        path = run / "report.json"
        info["report"] = {"error": f"{path} {problem}"} if problem else _scores(report, path)
    return info


def _duration(seconds: float) -> str:
    """``754.2`` -> ``"12 min 34 s"``; ``5000`` -> ``"1 h 23 min"``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _num(v: Any, fmt: str = ".4g") -> str:
    return format(v, fmt) if isinstance(v, int | float) else str(v)


def format_info(info: dict[str, Any]) -> str:
    """:func:`run_info`'s summary as a few readable lines."""
    diff = info["recipe"]["differences"]
    recipe = info["recipe"]["preset"] + (
        " + " + ", ".join(f"{k}={v}" for k, v in diff.items()) if diff else " (as it is)"
    )
    arch = info["arch"]
    ck = info["steps"]["checkpoints"]
    state = info["state"]
    where = {
        "training": f"training now (pid {info.get('pid')})",
        "finished": "finished",
        "trained": f"trained, but no readable report.json (infogan evaluate {info['run']} "
        "writes one)",
        "stopped": "stopped; continue with: infogan train --resume "
        + shlex.quote(str(info["run"])),
    }[state]
    if state == "stopped" and not ck and info["steps"].get("damaged"):
        # --resume refuses a run whose every checkpoint is damaged (it would start again from
        # step 0 over them); say so rather than suggest it.
        where = (
            "stopped, and --resume refuses damaged checkpoints: remove them from "
            + shlex.quote(str(Path(info["run"]) / "checkpoints"))
            + " and infogan train --resume "
            + shlex.quote(str(info["run"]))
            + " starts it again from step 0"
        )
    lines = [
        f"run:       {info['run']}",
        f"recipe:    {recipe}",
        f"model:     codes {info['codes']}, noise {info['noise']['dim']} ({info['noise']['dist']}), "
        f"arch {arch['name']} x{arch['width']:g}, {arch['channels']} channel(s)",
        f"data:      {info['data']}"
        + (f"; scored on {info['eval_data']}" if info["eval_data"] else "")
        + f"; seed {info['seed']}",
        (
            f"progress:  last checkpoint at step {ck[-1]} of {info['steps']['target']} "
            f"(checkpoints: {', '.join(map(str, ck))}); {where}"
            if ck
            else f"progress:  no {'usable checkpoint' if info['steps'].get('damaged') else 'checkpoint yet'}"
            f", of {info['steps']['target']} steps; {where}"
        ),
    ]
    if info["steps"].get("damaged"):
        lines.append(
            "damaged:   checkpoint(s) of step "
            + ", ".join(map(str, info["steps"]["damaged"]))
            + " do not open (cut short?); "
            + ("the commands use the newest that does" if ck else "no checkpoint is usable")
        )
    sel = info.get("selection")
    if sel and "error" in sel:
        lines.append(f"selection: {sel['error']}")
    elif sel:
        parts = []
        for st in sel["stages"]:
            # .4g: tiny scores (1.2e-05) stay told apart, as in the selection's own printout
            scores = " ".join(f"{c}:{_num(s, '.4g')}" for c, s in st["scores"].items())
            low = st.get("demoted")
            low = f" ({','.join(map(str, low))}: ignore z, ranked last)" if low else ""
            uses = list(st.get("noise_use", {}).values())
            if uses:
                every = " (every start ignores z)" if max(uses) < sel["min_noise_use"] else ""
                low += f"; noise use {min(uses):.2f}-{max(uses):.2f}{every}"
            parts.append(f"step {st['step']} [{scores}] kept {','.join(map(str, st['kept']))}{low}")
        tail = f"; winner seed {sel['winner_seed']}" if sel.get("winner_seed") is not None else ""
        lines.append(f"selection: {sel['candidates']} starts; " + "; ".join(parts) + tail)
    if info.get("candidates_reached"):
        reached = ", ".join(f"{c}: step {s}" for c, s in info["candidates_reached"].items())
        lines.append(f"starts:    {reached} (choosing; last logged rows)")
    row = info.get("last_metrics")
    if row:
        mi = " ".join(f"{k[3:]}={_num(v, '.3f')}" for k, v in row.items() if k.startswith("mi/"))
        lines.append(
            f"last row:  step {row.get('step')}: D {_num(row.get('d_loss'), '.3f')} "
            f"G {_num(row.get('g_loss'), '.3f')} L_I {mi}; {_num(row.get('steps_per_s'), '.3g')} "
            "steps/s"
            + (
                f"; {_duration(wall)} of training"
                if isinstance(wall := row.get("wall_s"), int | float)
                else ""
            )
        )
    rep = info.get("report")
    if rep and "error" in rep:
        lines.append(f"report:    {rep['error']}")
    elif rep:
        for ds, accs in rep["clustering"].items():
            acc = ", ".join(f"{c} {_num(a, '.4f')}" for c, a in accs.items())
            lines.append(f"accuracy:  {ds}: {acc} (step {rep['step']})")
        if rep["mi_bound"]:
            bound = ", ".join(f"{c} {_num(b, '.3f')}" for c, b in rep["mi_bound"].items())
            use = rep.get("noise_use")
            lines.append(
                f"L_I bound: {bound} nats"
                + (f"; noise use {_num(use, '.3f')}" if use is not None else "")
            )
        for key, title in (("disentanglement", "disentang: "), ("quality", "quality:   ")):
            if rep.get(key):
                lines.append(
                    title + ", ".join(f"{k} {_num(v, '.4g')}" for k, v in rep[key].items())
                )
    return "\n".join(lines)
