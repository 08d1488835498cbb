"""Unsupervised selection among short candidate runs ("restarts"), then continue the best one.

GAN training is seed-fragile: on MNIST the same recipe ends anywhere between 0.60 and 0.95
accuracy (DESIGN.md section 4), and the failures are visible early as a categorical code that
merges two classes or splits one. This trains ``candidates`` short runs from different seeds,
scores each *without labels*, and continues only the best to the full length.

The score is the mutual information between the real images and Q's categorical code,

    I(x; c) = H( E_x q(c|x) ) - E_x H( q(c|x) ),   x over the (unlabelled) training images,

the clustering objective of IMSAT (Hu et al. 2017) and IIC (Ji et al. 2019), read off Q instead
of trained for. It is high when Q assigns real images to its code values confidently (low
conditional entropy) and uses all values about equally (high marginal entropy); a code that
merges two classes loses marginal entropy, one that is unsure between classes gains conditional
entropy. ``L_I`` on generated samples cannot see either: G and Q can agree on a code the real
data does not follow. Per code it is divided by ``ln K`` (so 1 = a perfect, balanced partition);
codes are averaged. Without categorical codes the score falls back to the mean ``L_I`` bound.

``select_rule="consensus"`` instead keeps the candidate whose partition of the same real images
agrees most (mean NMI) with the other candidates' partitions: runs that find the data's classes
agree with each other, while each bad run merges or splits classes in its own way. The score
rule judges a candidate alone and cannot tell a clean but wrong partition from a right one.

``select_rule="centrality"`` keeps the candidate that InfoGAN-CR's ModelCentrality prefers
(:mod:`infogan.centrality`): each candidate's Q scored on the others' generators with the
FactorVAE protocol. It reads every code, continuous ones included, where the score falls back
to the L_I bound (capped when Q's std is fixed) and consensus sees categorical codes only.

Whatever the rule, a candidate whose generator ignores the noise ``z`` (its noise use,
:meth:`infogan.model.InfoGAN.noise_use`, below ``select_min_noise_use``) ranks after the others:
one image per code setting is the easiest thing for Q to read, so each rule, reading Q, would
tend to keep exactly that collapse. When every candidate is below, the run says so there.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import torch

from infogan import checkpoint as ckpt
from infogan.atomic import atomic_write_bytes
from infogan.config import MAX_CANDIDATES, MAX_SEED, TrainConfig
from infogan.data import ImageDataset
from infogan.errors import SpecError, brief
from infogan.losses import real_code_information
from infogan.model import Encoding, InfoGAN, load_run
from infogan.parallel import Leg, run_legs
from infogan.prepare import check_machine, prepare, with_absolute_data
from infogan.runlock import lock_holder, refuse_if_held, run_lock
from infogan.tblog import check_dir, tensorboard_dir
from infogan.train import TrainResult, resolve_device, run_one

__all__ = [
    "real_code_mi",
    "selection_score",
    "partitions",
    "assess",
    "agreement",
    "choose",
    "rank",
    "selection_stages",
    "train_selected",
    "candidate_seed",
]


def real_code_mi(
    model: InfoGAN, images: torch.Tensor, enc: Encoding | None = None
) -> dict[str, float]:
    """``I(x; c) / ln K`` per categorical code on real ``images`` (no labels involved); ``enc``:
    their encoding, when the caller already has it."""
    enc = enc if enc is not None else model.encode(images)
    out = {}
    for i, name in enumerate(model.spec.names):
        kind, j = model.spec.slot(i)
        if kind != "cat":
            continue
        log_p = enc.cat_probs[j].double().clamp_min(1e-12).log()  # [N, K]
        # the same I(x; c) the --lambda-real training term maximises, read off Q's probabilities
        out[name] = float(real_code_information([log_p])[0] / math.log(log_p.shape[1]))
    return out


def _subset(dataset: ImageDataset, n: int) -> torch.Tensor:
    """The same ``n`` unlabelled images for every candidate."""
    g = torch.Generator().manual_seed(0)
    return dataset.images[torch.randperm(len(dataset), generator=g)[:n]]


def partitions(model: InfoGAN, dataset: ImageDataset, n: int = 5000) -> list[np.ndarray]:
    """Q's hard assignment (argmax) of ``n`` unlabelled images, one array per categorical code."""
    return assess(model, dataset, n)[1]


def assess(
    model: InfoGAN, dataset: ImageDataset, n: int = 5000
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """One candidate's :func:`selection_score` and :func:`partitions` from one encoding of the
    same ``n`` unlabelled images."""
    images = _subset(dataset, n)
    enc = model.encode(images)
    parts = [enc.cat[:, j].numpy() for j in range(model.spec.n_cat)]
    per_code = real_code_mi(model, images, enc)
    if per_code:
        record: dict[str, Any] = {
            "score": sum(per_code.values()) / len(per_code),
            "real_mi": per_code,
        }
    else:
        # No categorical code to read real images with: the bound on generated samples
        # instead, on fewer samples than a report's 10,000 since it is paid for every
        # candidate at every selection point.
        bounds = model.mi_bound(n=2000)
        record = {"score": sum(bounds.values()) / len(bounds), "mi_bound": bounds}
    if model.spec.noise_dim > 0:
        # 1,000 generated images (a report's protocol): what :func:`rank`'s noise-use guard reads.
        record["noise_use"] = model.noise_use()
    return record, parts


def agreement(parts: list[list[np.ndarray]]) -> list[float]:
    """Per candidate: mean NMI of its partitions with every other candidate's (mean over codes).

    The clustering-stability argument (Lange et al. 2004): a structure that independent runs
    keep finding is in the data; a merge of two classes, or a split of one, is an accident of one
    run and disagrees with the runs that did not make it.
    """
    from sklearn.metrics import normalized_mutual_info_score as nmi

    k = len(parts)
    out = []
    for i in range(k):
        vals = [
            nmi(a, b) for j in range(k) if j != i for a, b in zip(parts[i], parts[j], strict=True)
        ]
        out.append(float(np.mean(vals)) if vals else 0.0)
    return out


#: ModelCentrality's protocol at a selection point: smaller than ``infogan centrality``'s (500
#: groups of 100, 10,000 images for the variances) so that choosing among 4 candidates costs
#: seconds on a GPU and well under a minute on a CPU.
class CentralityProtocol(TypedDict):
    """The keyword arguments of :func:`infogan.centrality.model_centrality` a selection sets."""

    groups: int
    group_size: int
    n_var: int


SELECT_CENTRALITY: CentralityProtocol = {"groups": 200, "group_size": 50, "n_var": 2000}


def rank(
    records: list[dict[str, Any]],
    parts: list[list[np.ndarray]],
    rule: str,
    models: list[InfoGAN] | None = None,
    min_noise_use: float = 0.0,
) -> list[int]:
    """Indices of the candidates, best first. ``records[i]["score"]`` is each candidate's score;
    with categorical codes, each record also gets its ``agreement``. Rule ``consensus``: most
    agreement first (ties: higher score); rule ``centrality`` (needs ``models``, the
    candidates): InfoGAN-CR's ModelCentrality (:mod:`infogan.centrality`), each record getting
    its ``centrality``, highest first (ties: higher score); rule ``score`` (or no categorical
    code for consensus): highest score first. Ties keep the candidates' order.

    ``min_noise_use``: candidates whose ``records[i]["noise_use"]`` is below it rank after all
    the others (each group in the rule's order), and their records get ``"demoted": True``. A
    generator that ignores ``z`` draws one image per code setting: the easiest samples for Q,
    so every rule above, which reads Q, tends to prefer exactly that collapse (README, "Your own
    networks on MNIST"). When every candidate is below, the rule's order stands."""
    use_consensus = rule == "consensus" and bool(parts) and bool(parts[0])
    if parts and parts[0]:
        for r, a in zip(records, agreement(parts), strict=True):
            r["agreement"] = a
    if rule == "centrality" and models is not None and len(models) > 1:
        from infogan.centrality import model_centrality

        res = model_centrality(models, **SELECT_CENTRALITY)
        for r, c in zip(records, res.centrality, strict=True):
            r["centrality"] = c
        key = lambda i: (-records[i]["centrality"], -records[i]["score"])  # noqa: E731
    elif use_consensus:
        key = lambda i: (-records[i]["agreement"], -records[i]["score"])  # noqa: E731
    else:
        key = lambda i: -records[i]["score"]  # noqa: E731
    order = sorted(range(len(records)), key=key)
    below = [r.get("noise_use", math.inf) < min_noise_use for r in records]
    if any(below) and not all(below):
        for r, b in zip(records, below, strict=True):
            r["demoted"] = b
        order = [i for i in order if not below[i]] + [i for i in order if below[i]]
    return order


def choose(
    records: list[dict[str, Any]],
    parts: list[list[np.ndarray]],
    rule: str,
    models: list[InfoGAN] | None = None,
    min_noise_use: float = 0.0,
) -> int:
    """Index of the winning candidate: the first of :func:`rank`."""
    return rank(records, parts, rule, models, min_noise_use)[0]


def selection_stages(cfg: TrainConfig) -> list[tuple[int, int]]:
    """``(step, keep)`` per selection point: at ``step`` the best ``keep`` of the candidates still
    running go on. One point (``select_steps``) keeps one; with ``select_later`` every point but
    the last keeps the better half, rounded up (successive halving), and the last keeps one.
    Points at or past ``cfg.steps`` collapse into one at ``cfg.steps``; once one candidate is
    left, later points are dropped."""
    points = sorted({min(s, cfg.steps) for s in [cfg.select_steps, *cfg.select_later]})
    alive, out = cfg.candidates, []
    for i, at in enumerate(points):
        keep = 1 if i == len(points) - 1 else max(1, math.ceil(alive / 2))
        out.append((at, keep))
        alive = keep
        if keep == 1:
            break
    return out


def selection_score(model: InfoGAN, dataset: ImageDataset, n: int = 5000) -> dict[str, Any]:
    """The unsupervised score of one candidate (higher is better) and its parts."""
    return assess(model, dataset, n)[0]


def candidate_seed(seed: int, i: int) -> int:
    """Seed of candidate ``i`` of a run with seed ``seed`` (disjoint across run seeds)."""
    return seed * MAX_CANDIDATES + i


def _finished_stages(progress: Path) -> list[dict[str, Any]]:
    """The selection points recorded in ``candidates/stages.json`` (none if absent). A damaged
    file is set aside with a warning: the points are then redone from the candidates'
    checkpoints (deterministically, so to the same choice), which beats refusing to resume."""
    if not progress.exists():
        return []
    try:
        stages = json.loads(progress.read_text())["stages"]
        if not all(isinstance(s, dict) and {"step", "kept"} <= set(s) for s in stages):
            raise ValueError("a stage without its step or kept candidates")
        return list(stages)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"warning: {progress} is damaged ({brief(e)}); redoing the selection", flush=True)
        return []


def require_config(cfg: object) -> None:
    """A one-line error unless ``cfg`` is a :class:`TrainConfig` (a dict from Python, say)."""
    if not isinstance(cfg, TrainConfig):
        raise SpecError(
            f"train: expected a TrainConfig (infogan.config.preset('default'), or "
            f"TrainConfig.from_dict(d)), got {type(cfg).__name__}"
        )


def refuse_candidate_folder(run_dir: str | Path) -> None:
    """Refuse to resume ``RUN/candidates/N`` by hand: a start of ``RUN``'s selection is trained
    and scored by ``RUN``'s own process. Resumed while the selection ran, one start went past
    the others' step, was scored and chosen at it, and the run ended past its ``--steps``; a
    dropped start (checkpoints deleted on purpose) was trained again from step 0."""
    folder = Path(run_dir).resolve()
    run = folder.parent.parent
    if folder.parent.name != "candidates" or not folder.name.isdigit():
        return
    try:  # a run's own config with that many starts: not a user's runs in a folder so named
        starts = TrainConfig.load(run / "config.json").candidates
        if starts < 2 or starts <= int(folder.name):  # one start has no candidates/ folder
            return
    except SpecError:
        return
    holder = lock_holder(run)
    busy = f" (pid {holder} is choosing now)" if holder not in (None, os.getpid()) else ""
    raise SpecError(
        f"resume: {run_dir} is a start of the run {run}'s selection{busy}; resume {run} "
        "itself (infogan train --resume RUN), or copy the folder out to train it on its own"
    )


def train_selected(
    cfg: TrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    dataset: ImageDataset | None = None,
) -> TrainResult:
    """Train with candidate selection when ``cfg.candidates > 1``, else plainly.

    Candidates train in ``run_dir/candidates/<i>`` up to each selection point of
    :func:`selection_stages` (``cfg.select_steps``, then any ``cfg.select_later``), where the
    best by ``cfg.select_rule`` go on; the last winner's checkpoint and metrics become the run's,
    its seed the run's seed, and training continues to ``cfg.steps`` from there.
    ``selection.json`` records every candidate's score at every point. Interrupted selections
    resume where they stopped (finished points are kept in ``candidates/stages.json``); a
    finished selection is never redone.
    """
    require_config(cfg)
    run_dir = Path(run_dir)
    cfg.validate()  # from Python too: before any note is printed or anything written
    if cfg.candidates > 1 and cfg.seed > MAX_SEED and not (run_dir / "selection.json").exists():
        # validate() lets a config hold a candidate's seed; the starts of this one would not fit.
        raise SpecError(
            f"seed: must be in 0..{MAX_SEED} with candidates (start i trains seed * 1000 + i), "
            f"got {cfg.seed}"
        )
    if resume:
        refuse_if_held(run_dir)  # before "no checkpoints yet" could be the answer
        if cfg.candidates > 1 and not (run_dir / "selection.json").exists():
            _refuse_a_one_start_run(cfg, run_dir)
    cfg = with_absolute_data(cfg)
    consensus = cfg.candidates > 1 and cfg.select_rule == "consensus"
    if consensus and not resume and not cfg.latent().n_cat:
        raise SpecError(
            "select_rule: consensus compares the candidates' partitions by a categorical code, "
            f"and codes {cfg.model.codes} have none; use score or centrality"
        )
    late = [s for s in [cfg.select_steps, *cfg.select_later] if s > cfg.steps]
    if cfg.candidates > 1 and late and not (run_dir / "selection.json").exists():
        print(
            f"note: selection point(s) {', '.join(map(str, late))} lie past --steps {cfg.steps}; "
            f"the choice is made at step {cfg.steps}",
            flush=True,
        )
    if cfg.candidates <= 1 or (run_dir / "selection.json").exists():
        if (run_dir / "selection.json").exists():
            resume = True
            # The winner goes on with its own seed, whichever seed the caller holds: a sweep
            # passes its seed, and config.json still has the run's seed if the process stopped
            # between the choice and the continuation (the resumed run was then another run).
            _drop_winner_checkpoints(run_dir)
            return _continue_winner(
                cfg, _winner_seed(run_dir / "selection.json", cfg.seed), run_dir, dataset
            )
        return run_one(cfg, run_dir, dataset=dataset, resume=resume)
    # Before anything is written: data the networks cannot read leaves no run directory behind.
    cfg, dataset, _ = prepare(cfg, dataset)
    check_machine(cfg)
    if cfg.tensorboard:
        check_dir(run_dir)
    # The run's own config first, so that an interrupted selection is a run `--resume` accepts.
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        return _select_and_continue(cfg, run_dir, dataset)


def _refuse_a_one_start_run(cfg: TrainConfig, run_dir: Path) -> None:
    """A run with checkpoints of its own and no candidates folder was trained as one start: a
    config.json that asks for candidates was changed (or damaged: ``{}`` reads as the default
    recipe) since. Resumed, it started a selection from step 0 and replaced the finished run's
    report and figures; refused instead, naming what differs from its newest checkpoint."""
    if (run_dir / "candidates").is_dir() or not ckpt.list_checkpoints(run_dir):
        return  # a selection under way (or stopped between copying and recording the winner)
    from infogan.config import recipe_differences
    from infogan.train import _saved_config

    path, state = ckpt.latest_checkpoint(run_dir)
    theirs = _saved_config(state)
    diffs = recipe_differences(theirs, cfg) if theirs is not None else []
    diffs = diffs or [f"candidates 1 there, {cfg.candidates} here"]
    raise SpecError(
        f"resume: {run_dir / 'config.json'} is not the recipe of the run's checkpoints "
        f"({path.name}: {'; '.join(diffs[:3])}{'; ...' if len(diffs) > 3 else ''}); it was "
        "changed or damaged since the run started (put the recipe back; nothing was changed)"
    )


def _free_failed_start(run_dir: Path, candidates: int) -> None:
    """After a candidate failed (out of memory at its first step, say) before any candidate
    wrote a checkpoint: nothing to resume, and a resume would repeat what failed, so the run's
    ``config.json`` and the candidates' leftovers go, freeing ``--out`` for the corrected
    command (as :meth:`Trainer._run` frees a one-start run's)."""
    cands = run_dir / "candidates"
    if (cands / "stages.json").exists() or ckpt.list_checkpoints(run_dir):
        return
    if any(ckpt.list_checkpoints(cands / str(i)) for i in range(candidates)):
        return
    shutil.rmtree(cands, ignore_errors=True)
    (run_dir / "config.json").unlink(missing_ok=True)


def _drop_winner_checkpoints(run_dir: Path) -> None:
    """Remove the winning candidate's own checkpoints once the run holds them: done right
    after the choice, and again on a resume in case a kill came in between (disk only)."""
    try:
        winner = json.loads((run_dir / "selection.json").read_text())["winner"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        return
    if isinstance(winner, int) and not isinstance(winner, bool) and ckpt.list_checkpoints(run_dir):
        shutil.rmtree(run_dir / "candidates" / str(winner) / "checkpoints", ignore_errors=True)


def _winner_seed(path: Path, fallback: int) -> int:
    """The continued candidate's seed from a finished selection record; ``fallback`` (with a
    note) when the record cannot say."""
    try:
        seed = json.loads(path.read_text())["winner_seed"]
        if isinstance(seed, int) and not isinstance(seed, bool):
            return seed
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        pass
    print(f"note: {path} names no winner seed; going on with seed {fallback}", flush=True)
    return fallback


def _refuse_candidates_past(cfg: TrainConfig, run_dir: Path, alive: list[int], at: int) -> None:
    """Refuse, before anything trains or is scored, a choice at step ``at`` among candidates of
    which one already trained past it: it would be scored at its own step against the others
    at ``at`` (an unfair choice, made permanent, and recorded as made at ``at``). A resume with
    a smaller ``--steps`` than a candidate reached did that, then said nothing was changed."""
    for i in alive:
        ckpts = ckpt.list_checkpoints(run_dir / "candidates" / str(i))
        if not ckpts or ckpts[-1][0] <= at:
            continue
        reached = ckpts[-1][0]
        if at == cfg.steps:
            why = (
                f"past step {at}, where --steps {cfg.steps} would make the choice; give "
                f"--steps {reached} or more"
            )
        else:
            why = (
                f"past the selection point at step {at}, whose choice "
                f"{run_dir / 'candidates' / 'stages.json'} no longer records; its candidates "
                "cannot be compared at one step"
            )
        raise SpecError(
            f"resume: candidate {i + 1} (folder candidates/{i}) is at step {reached}, {why} "
            "(nothing was changed)"
        )


def _select_and_continue(cfg: TrainConfig, run_dir: Path, dataset: ImageDataset) -> TrainResult:
    """The body of :func:`train_selected` once the run's lock is held."""
    if not (run_dir / "config.json").exists():
        if cfg.instance_noise > 0 and not cfg.instance_noise_end:
            # The noise's end is the run's first length, written down before anything trains:
            # a resume that changes --steps (even before the candidates finish) keeps it.
            cfg = replace(cfg, instance_noise_end=cfg.steps)
        cfg.save(run_dir / "config.json")
    stages = selection_stages(cfg)
    progress = run_dir / "candidates" / "stages.json"
    done_stages = _finished_stages(progress)
    alive = list(range(cfg.candidates))
    n_cat = cfg.latent().n_cat
    for si, (at, keep) in enumerate(stages):
        if si < len(done_stages) and done_stages[si]["step"] == at:
            alive = list(done_stages[si]["kept"])
            continue
        del done_stages[si:]  # a point not (or differently) finished: redo from here
        _refuse_candidates_past(cfg, run_dir, alive, at)
        scores: list[dict[str, Any]] = []
        parts: list[list[np.ndarray]] = []
        models: list[InfoGAN] = []
        legs = []
        for i in alive:
            cdir = run_dir / "candidates" / str(i)
            ckpts = ckpt.list_checkpoints(cdir)
            if not ckpts or ckpts[-1][0] < at:
                # A candidate is the first `at` steps of a whole run: a schedule keyed to the
                # run's length (instance noise, decayed to 0 at `steps`) keeps the run's length.
                ccfg = replace(
                    cfg,
                    seed=candidate_seed(cfg.seed, i),
                    steps=at,
                    candidates=1,
                    instance_noise_end=cfg.instance_noise_end or cfg.steps,
                )
                label = f"candidate {i + 1}/{cfg.candidates} (seed {ccfg.seed})"
                legs.append(Leg(ccfg, cdir, resume=bool(ckpts), label=label))
        try:
            run_legs(legs, cfg.parallel, cfg.device, dataset, share=len(alive))
        except KeyboardInterrupt:
            some = any(ckpt.list_checkpoints(run_dir / "candidates" / str(i)) for i in alive)
            saved = (
                "their checkpoints are kept"
                if some
                else "none had reached a checkpoint, so they start again from step 0"
            )
            raise KeyboardInterrupt(
                f"stopped while training the candidates; {saved}; "
                f"continue with: infogan train --resume {shlex.quote(str(run_dir))}"
            ) from None
        except Exception:
            _free_failed_start(run_dir, cfg.candidates)
            raise
        for i in alive:
            cdir = run_dir / "candidates" / str(i)
            seed = candidate_seed(cfg.seed, i)
            model = load_run(cdir, device=resolve_device(cfg.device))
            s, part = assess(model, dataset)
            scores.append({"candidate": i, "seed": seed, **s})
            parts.append(part)
            if cfg.select_rule == "centrality":
                models.append(model)
            # .4g: four significant digits also for tiny scores (.4f printed 0.0000 for all)
            use = f", noise use {s['noise_use']:.3f}" if "noise_use" in s else ""
            print(f"candidate {i + 1} at step {at}: score {s['score']:.4g}{use}", flush=True)
        order = rank(scores, parts, cfg.select_rule, models, cfg.select_min_noise_use)
        demoted = [r["candidate"] + 1 for r in scores if r.get("demoted")]
        uses = [r["noise_use"] for r in scores if "noise_use" in r]
        if uses and len(uses) == len(scores) and max(uses) < cfg.select_min_noise_use:
            # Nothing to choose between: say so now, not after the rest of the run.
            print(
                f"warning: at step {at} every start's generator ignores z (noise use "
                f"{min(uses):.3f}-{max(uses):.3f}, below {cfg.select_min_noise_use:g}): one "
                "image per code setting, whatever the noise; the run goes on with the rule's "
                "choice (--lambda-ms 0.1 kept the README's MLP generator from this)",
                flush=True,
            )
        if demoted:
            print(
                f"candidate{'s' if len(demoted) > 1 else ''} "
                f"{', '.join(map(str, demoted))} ranked last: noise use below "
                f"{cfg.select_min_noise_use:g} (the generator ignores z; "
                "--select-min-noise-use 0 turns this off)",
                flush=True,
            )
        if cfg.select_rule == "centrality" and len(scores) > 1:
            print(
                "centrality: "
                + ", ".join(f"{r['candidate'] + 1}: {r['centrality']:.3f}" for r in scores),
                flush=True,
            )
        kept = [scores[j]["candidate"] for j in order[:keep]]
        done_stages.append({"step": at, "candidates": scores, "kept": kept})
        atomic_write_bytes(progress, (json.dumps({"stages": done_stages}) + "\n").encode())
        # The dropped candidates' checkpoints (each with its optimiser state: ~150 MB at the
        # paper's width) are no longer needed by anything.
        for i in set(alive) - set(kept):
            shutil.rmtree(run_dir / "candidates" / str(i) / "checkpoints", ignore_errors=True)
        if keep > 1:
            print(f"step {at}: kept candidates {', '.join(str(k + 1) for k in kept)}", flush=True)
        alive = kept
    use_consensus = cfg.select_rule == "consensus" and n_cat > 0
    winner = alive[0]
    best = next(r for r in done_stages[-1]["candidates"] if r["candidate"] == winner)
    wdir = run_dir / "candidates" / str(winner)
    path, _ = ckpt.latest_checkpoint(wdir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, run_dir / "checkpoints" / path.name)
    if (wdir / "metrics.jsonl").exists():
        shutil.copyfile(wdir / "metrics.jsonl", run_dir / "metrics.jsonl")
    if (wdir / "samples").is_dir():  # its grids so far, so samples/ shows the whole run
        shutil.copytree(wdir / "samples", run_dir / "samples", dirs_exist_ok=True)
    if tensorboard_dir(wdir).is_dir():  # the winner's curves so far, continued by the run
        shutil.copytree(tensorboard_dir(wdir), tensorboard_dir(run_dir), dirs_exist_ok=True)
    if cfg.select_rule == "centrality":
        rule = (
            "centrality: InfoGAN-CR's ModelCentrality, max mean FactorVAE score of the "
            f"candidate's Q on the others' generators and theirs on its ({SELECT_CENTRALITY})"
        )
    elif use_consensus:
        rule = (
            "consensus: max mean NMI of Q's partition of unlabelled training images with the "
            "other candidates' (ties: score)"
        )
    else:
        rule = (
            "score: max mean I(x; c)/ln K of Q's categorical codes on unlabelled training "
            "images (mean L_I bound without categorical codes)"
        )
    if cfg.select_min_noise_use > 0 and cfg.model.noise_dim > 0:
        rule += f"; candidates with noise use below {cfg.select_min_noise_use:g} ranked last"
    record = {
        "rule": rule,
        # The steps of every selection point (each one's scores are in "stages"), and every
        # start as the first point scored it ("select_steps" 3000 beside step-1000 scores
        # read as the scores at 3000).
        "select_steps": [st["step"] for st in done_stages],
        "candidates_step": done_stages[0]["step"],
        "candidates": done_stages[0]["candidates"],
        "stages": done_stages,
        "winner": winner,
        "winner_seed": best["seed"],
        # The seed the selection started from, which config.json keeps (Trainer._run writes it
        # there while the winner trains on under its own seed).
        "run_seed": cfg.seed,
    }
    # Written last: its presence means "selection finished", so a crash before it redoes it.
    atomic_write_bytes(run_dir / "selection.json", (json.dumps(record, indent=2) + "\n").encode())
    _drop_winner_checkpoints(run_dir)
    print(
        f"selected candidate {winner + 1} (seed {best['seed']}, folder candidates/{winner}); "
        f"continuing to {cfg.steps} steps",
        flush=True,
    )
    return _continue_winner(cfg, best["seed"], run_dir, dataset)


def _continue_winner(
    cfg: TrainConfig, seed: int, run_dir: Path, dataset: ImageDataset | None
) -> TrainResult:
    """Train the winning candidate (seed ``seed``) on to ``cfg.steps`` in ``run_dir``. Its
    trainer keeps the seed the selection started from in ``config.json`` (read from
    ``selection.json``): that file is the recipe ``--config`` re-runs, where the winner's seed
    would start other candidates."""
    return run_one(replace(cfg, seed=seed), run_dir, dataset=dataset, resume=True)
