"""Seed study: many plain runs, scored every few steps, and candidate selection simulated exactly.

Why a script and not ``infogan sweep --candidates``: a selection run with K candidates from seed s
trains candidates with seeds ``s*1000 + i`` (``infogan.select.candidate_seed``) for S steps, keeps
the one with the best unsupervised score and continues *that same run* to the end. Training draws
its randomness from (seed, step) counters, so the continued winner is the plain run of the
winner's seed. Training every candidate seed plainly to the end once, and recording the
unsupervised score (and, for analysis only, the test accuracy) every ``--every`` steps, therefore
answers every (K, S) selection rule and the paper recipe from one set of runs, instead of one
sweep per rule.

Labels: the test accuracy is recorded for the analysis tables only; the selection simulated here
reads the unsupervised score alone, exactly as ``train_selected`` does.

    python scripts/seed_study.py --seeds 0-4 --candidates 8 --steps 12000 --device cuda \
        --eval-data ../shared/data/mnist --workers 4 --out study
    python scripts/seed_study.py --analyse study/rows.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _jobs(seeds: list[int], candidates: int, plain: bool) -> list[int]:
    """Run seeds in priority order: the plain seeds first, then candidate i of every seed."""
    from infogan.select import candidate_seed

    order: list[int] = list(seeds) if plain else []
    for i in range(candidates):
        for s in seeds:
            c = candidate_seed(s, i)
            if c not in order:
                order.append(c)
    return order


def _run_one(seed: int, a: argparse.Namespace, deadline: float, rows_path: Path) -> None:
    from infogan.bench import _sync
    from infogan.config import preset
    from infogan.data import load_dataset
    from infogan.evaluate import cluster_codes, mi_table
    from infogan.fastpath import make_stepper
    from infogan.report import save_sample_grid, write_figures
    from infogan.select import assess
    from infogan.train import Trainer, resolve_device

    cfg = preset(a.preset)
    cfg.seed, cfg.steps, cfg.device, cfg.progress = seed, a.steps, a.device, False
    if a.data:
        cfg.data = a.data
    if a.width is not None:
        cfg.model.width = a.width
    for item in a.set:
        _override(cfg, item)
    device = resolve_device(cfg.device)
    train = load_dataset(cfg.data, split="train")
    test = load_dataset(a.eval_data, split="test") if a.eval_data else None
    run_dir = Path(a.out) / "runs" / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, run_dir, dataset=train)
    stepper = make_stepper(trainer)
    model = trainer.model
    t0 = time.perf_counter()
    step, train_s = 0, 0.0
    while step < cfg.steps:
        if time.time() > deadline:
            _append(rows_path, {"seed": seed, "step": step, "aborted": "deadline"})
            return
        t = time.perf_counter()
        for _ in range(min(a.every, cfg.steps - step)):
            stepper.step(step)
            step += 1
        _sync(device)
        train_s += time.perf_counter() - t
        stats, n = stepper.read()
        model.step = step
        row = {
            "seed": seed,
            "step": step,
            "train_s": round(train_s, 3),
            "wall_s": round(time.perf_counter() - t0, 3),
            "d_loss": stats["d_loss"],
            "g_loss": stats["g_loss"],
            "path": type(stepper).__name__,
        }
        if "real_mi" in stats:
            row["real_mi"] = stats["real_mi"]
        sel, parts = assess(model, train)  # unsupervised: what the selection rules read
        row["score"] = sel["score"]
        if parts:  # Q's partition of the training images, for the consensus rule
            (run_dir / "assign").mkdir(exist_ok=True)
            np.save(run_dir / "assign" / f"step_{step:06d}.npy", parts[0].astype(np.uint8))
        row["mi_bound"] = {k: v["bound"] for k, v in mi_table(model, n=a.n_mi).items()}
        if test is not None:  # labels: analysis only, never read by the selection
            acc = cluster_codes(model, test)
            if acc:
                first = next(iter(acc.values()))
                row["accuracy"], row["nmi"] = first["accuracy"], first["nmi"]
        _append(rows_path, row)
    write_figures(model, run_dir)
    save_sample_grid(model, seed, run_dir / "samples.png")
    print(
        f"seed {seed}: {step} steps in {train_s:.1f} s ({step / train_s:.0f} steps/s, "
        f"{type(stepper).__name__}), score {row['score']:.4f}, accuracy {row.get('accuracy')}",
        flush=True,
    )


def _override(cfg, item: str) -> None:
    """``key=value`` onto a TrainConfig field (or its model's), cast to the field's type."""
    key, _, text = item.partition("=")
    target = cfg if hasattr(cfg, key) else cfg.model
    if not hasattr(target, key) or key == "model":
        raise SystemExit(f"--set: no config field {key!r}")
    old = getattr(target, key)
    if isinstance(old, bool):
        value = text.lower() in ("1", "true", "yes", "on")
    elif old is None:
        value = None if text.lower() == "none" else float(text)
    else:
        value = type(old)(text)
    setattr(target, key, value)


def _append(path: Path, row: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(row) + "\n")


def _worker(queue, a: argparse.Namespace, deadline: float, rows_path: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    while True:
        try:
            seed = queue.get_nowait()
        except Exception:
            return
        if time.time() > deadline - a.min_job_s:
            _append(rows_path, {"seed": seed, "step": 0, "aborted": "not started (deadline)"})
            continue
        try:
            _run_one(seed, a, deadline, rows_path)
        except Exception as e:  # one failing seed must not stop the study; record it
            _append(rows_path, {"seed": seed, "step": -1, "error": repr(e)[:500]})


# ---- analysis -------------------------------------------------------------------------------


def load_rows(path: Path) -> dict[int, dict[int, dict]]:
    """seed -> step -> row (errors and aborts skipped)."""
    runs: dict[int, dict[int, dict]] = {}
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if "score" in r:
            runs.setdefault(r["seed"], {})[r["step"]] = r
    return runs


def simulate(runs, seeds, k: int, s: int, final: int) -> list[dict] | None:
    """Selection with k candidates scored at step s: per seed, the winner's final row."""
    from infogan.select import candidate_seed

    out = []
    for seed in seeds:
        cands = [candidate_seed(seed, i) for i in range(k)]
        if not all(c in runs and s in runs[c] and final in runs[c] for c in cands):
            return None
        win = max(cands, key=lambda c: runs[c][s]["score"])
        out.append({"seed": seed, "winner": win, **runs[win][final]})
    return out


def simulate_consensus(runs, runs_dir: Path, seeds, k: int, s: int, final: int):
    """Selection by agreement: the candidate whose partition of the training images agrees most
    (mean NMI) with the other candidates' partitions at step s. None if files are missing."""
    from infogan.select import candidate_seed, choose

    out = []
    for seed in seeds:
        cands = [candidate_seed(seed, i) for i in range(k)]
        files = [runs_dir / f"seed{c}" / "assign" / f"step_{s:06d}.npy" for c in cands]
        if not all(f.exists() for f in files) or not all(
            c in runs and final in runs[c] for c in cands
        ):
            return None
        # exactly the library's rule (infogan.select.choose), ties broken by the score
        records = [{"score": runs[c][s]["score"]} for c in cands]
        win = cands[choose(records, [[np.load(f)] for f in files], "consensus")]
        out.append({"seed": seed, "winner": win, **runs[win][final]})
    return out


def _summ(vals: list[float]) -> str:
    return (
        f"median {statistics.median(vals):.4f}  mean {statistics.mean(vals):.4f}  "
        f"min {min(vals):.4f}  max {max(vals):.4f}"
    )


def analyse(path: Path, seeds: list[int], final: int) -> dict:
    runs = load_rows(path)
    report: dict = {"final_step": final, "rules": {}}
    print(f"{len(runs)} runs with rows; final step {final}")
    plain = [runs[s][final] for s in seeds if s in runs and final in runs[s]]
    if plain and "accuracy" in plain[0]:
        accs = [r["accuracy"] for r in plain]
        print(
            f"plain (paper) seeds {[r['seed'] for r in plain]}: "
            + " ".join(f"{a:.4f}" for a in accs)
            + f"   {_summ(accs)}"
        )
        report["plain"] = [{"seed": r["seed"], "accuracy": r["accuracy"]} for r in plain]
    all_final = [r[final] for r in runs.values() if final in r and "accuracy" in r[final]]
    if all_final:
        accs = [r["accuracy"] for r in all_final]
        print(
            f"every run at step {final} (n={len(accs)}): {_summ(accs)}; "
            f">=0.90: {sum(a >= 0.9 for a in accs)}, >=0.95: {sum(a >= 0.95 for a in accs)}"
        )
        report["all_runs"] = sorted(
            [{"seed": r["seed"], "accuracy": r["accuracy"]} for r in all_final],
            key=lambda r: r["seed"],
        )
    steps = sorted({st for r in runs.values() for st in r})
    for k in (2, 3, 4, 6, 8):
        for s in steps:
            if s >= final:
                continue
            sim = simulate(runs, seeds, k, s, final)
            if sim is None or "accuracy" not in sim[0]:
                continue
            accs = [r["accuracy"] for r in sim]
            key = f"k{k}_s{s}"
            report["rules"][key] = [
                {"seed": r["seed"], "winner": r["winner"], "accuracy": r["accuracy"]} for r in sim
            ]
            print(
                f"select k={k} at step {s:5d}: "
                + " ".join(f"{a:.4f}" for a in accs)
                + f"   {_summ(accs)}"
            )
    runs_dir = path.parent / "runs"
    for k in (3, 4, 8):
        for s in steps:
            if s >= final:
                continue
            sim = simulate_consensus(runs, runs_dir, seeds, k, s, final)
            if sim is None or "accuracy" not in sim[0]:
                continue
            accs = [r["accuracy"] for r in sim]
            report["rules"][f"consensus_k{k}_s{s}"] = [
                {"seed": r["seed"], "winner": r["winner"], "accuracy": r["accuracy"]} for r in sim
            ]
            print(
                f"consensus k={k} at step {s:5d}: "
                + " ".join(f"{a:.4f}" for a in accs)
                + f"   {_summ(accs)}"
            )
    # how well the unsupervised score ranks runs, per scoring step (Spearman over all runs)
    from scipy.stats import spearmanr

    for s in steps:
        pairs = [
            (r[s]["score"], r[final]["accuracy"])
            for r in runs.values()
            if s in r and final in r and "accuracy" in r[final]
        ]
        if len(pairs) >= 4:
            rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
            report.setdefault("spearman_score_at_step_vs_final_acc", {})[s] = rho
            print(f"score at step {s:5d} vs final accuracy: Spearman {rho:+.3f} (n={len(pairs)})")
    return report


def plot(paths: list[Path], out: Path) -> None:
    """Test accuracy and the unsupervised score over training, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for path in paths:
        for _seed, rows in sorted(load_rows(path).items()):
            steps = sorted(rows)
            if "accuracy" not in rows[steps[-1]]:
                continue
            good = rows[steps[-1]]["accuracy"] >= 0.9
            kw = {"color": "tab:blue" if good else "tab:red", "alpha": 0.6, "lw": 1}
            ax1.plot(steps, [rows[t]["accuracy"] for t in steps], **kw)
            ax2.plot(steps, [rows[t]["score"] for t in steps], **kw)
    ax1.set(xlabel="step", ylabel="test accuracy of c1 (labels: evaluation only)")
    ax2.set(xlabel="step", ylabel="selection score I(x; c)/ln K (no labels)")
    ax1.set_title("blue: runs ending >= 0.90, red: the others", fontsize=9)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def _parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--no-plain", action="store_true", help="skip the plain seeds themselves")
    p.add_argument("--preset", default="paper")
    p.add_argument("--data", default=None)
    p.add_argument("--width", type=float, default=None, help="network width multiplier")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set batch=128 --set info_in_d_step=true",
    )
    p.add_argument("--steps", type=int, default=12_000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--n-mi", type=int, default=2000)
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-data", default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--budget-s", type=float, default=1e9, help="stop starting/continuing after")
    p.add_argument("--min-job-s", type=float, default=20.0)
    p.add_argument("--out", default="study")
    p.add_argument("--analyse", metavar="ROWS", help="only analyse an existing rows.jsonl")
    p.add_argument("--plot", nargs="+", metavar="ROWS", help="only plot rows.jsonl files")
    p.add_argument("--plot-out", default="study.png")
    a = p.parse_args(argv)
    seeds = _parse_seeds(a.seeds)
    if a.plot:
        plot([Path(x) for x in a.plot], Path(a.plot_out))
        return 0
    if a.analyse:
        rep = analyse(Path(a.analyse), seeds, a.steps)
        Path(a.analyse).with_name("analysis.json").write_text(json.dumps(rep, indent=2) + "\n")
        return 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = out / "rows.jsonl"
    deadline = time.time() + a.budget_s
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for s in _jobs(seeds, a.candidates, not a.no_plain):
        queue.put(s)
    time.sleep(0.2)
    procs = [ctx.Process(target=_worker, args=(queue, a, deadline, rows)) for _ in range(a.workers)]
    # SIGTERM (timeout, kill) ends the workers too, instead of leaving them training orphaned
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for pr in procs:
            pr.start()
        for pr in procs:
            pr.join()
    finally:
        for pr in procs:
            if pr.is_alive():
                pr.terminate()
    rep = analyse(rows, seeds, a.steps)
    (out / "analysis.json").write_text(json.dumps(rep, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
