"""How much can picking among starts by the unsupervised score buy? A bootstrap over a seed study.

Reads the rows of one or more ``seed_study.py`` runs (each run scored every few steps; labels are
read for the final accuracy only, as the analysis target), then, 20,000 times, draws K distinct
runs, applies a selection rule that sees only the score, and records the picked run's final test
accuracy. Multi-stage rules keep the best ``n`` at each listed step (successive halving).

Runs are treated as exchangeable draws, which holds on a GPU, where the same seed does not repeat
run to run; a rule's continued winner *is* that run, so the simulation is exact in distribution.

    python scripts/selection_rules.py docs/gpu/h200-2026-11-26/study_rows_call*.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from seed_study import load_rows  # same folder: the study's own reader of its rows

#: name -> (starts, [(keep, at_step), ...]); the cost is in units of one 12,000-step run.
RULES: dict[str, tuple[int, list[tuple[int, int]]]] = {
    "one start (paper)": (1, []),
    "4 starts, best at 1,000 (default)": (4, [(1, 1000)]),
    "2 starts, best at 4,000": (2, [(1, 4000)]),
    "3 starts, best at 3,000": (3, [(1, 3000)]),
    "4 starts, best 2 at 1,000, best at 4,000": (4, [(2, 1000), (1, 4000)]),
    "4 starts, best 2 at 2,000, best at 4,000": (4, [(2, 2000), (1, 4000)]),
    "3 starts, best at 4,000": (3, [(1, 4000)]),
    "4 starts, best at 4,000": (4, [(1, 4000)]),
    "6 starts, best at 1,000": (6, [(1, 1000)]),
    "8 starts, best at 1,000": (8, [(1, 1000)]),
    "4 starts, best 2 at 1,000, best at 3,000": (4, [(2, 1000), (1, 3000)]),
    "6 starts, best 3 at 1,000, best at 3,000": (6, [(3, 1000), (1, 3000)]),
    "8 starts, best 4 at 1,000, best 2 at 2,000, best at 3,000": (
        8,
        [(4, 1000), (2, 2000), (1, 3000)],
    ),
}


def _cost(starts: int, stages: list[tuple[int, int]], steps: int) -> float:
    alive, at, total = starts, 0, 0
    for keep, step in stages:
        total += alive * (step - at)
        alive, at = keep, step
    return (total + alive * (steps - at)) / steps


def load(paths: list[str]) -> dict[tuple[str, int], dict[int, dict]]:
    """Rows keyed by (file, seed) -> step -> row: one file is one set of independent runs."""
    return {(p, seed): steps for p in paths for seed, steps in load_rows(Path(p)).items()}


def simulate(runs, starts, stages, draws=20_000, seed=1) -> list[float]:
    final = {k: v[max(v)]["accuracy"] for k, v in runs.items()}
    keys = [k for k in runs if all(s in runs[k] for _, s in stages)]
    if len(keys) < starts:
        raise ValueError(f"{len(keys)} runs have rows at {[s for _, s in stages]}; need {starts}")
    rnd = random.Random(seed)
    picks = []
    for _ in range(draws):
        alive = rnd.sample(keys, starts)
        for keep, step in stages:  # the score alone decides; labels never enter a rule
            alive = sorted(alive, key=lambda k: -runs[k][step]["score"])[:keep]
        picks.append(final[alive[0]])
    return picks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rows", nargs="+", help="seed_study rows.jsonl files")
    p.add_argument("--steps", type=int, default=12_000, help="training length, for the cost")
    p.add_argument("--json", help="also write the table here")
    a = p.parse_args()
    runs = load(a.rows)
    print(f"{len(runs)} runs")
    table = []
    for name, (starts, stages) in RULES.items():
        picks = simulate(runs, starts, stages)
        row = {
            "rule": name,
            "cost": round(_cost(starts, stages, a.steps), 2),
            "median": round(statistics.median(picks), 4),
            "mean": round(statistics.mean(picks), 4),
            "p_ge_090": round(sum(x >= 0.90 for x in picks) / len(picks), 3),
            "p_lt_080": round(sum(x < 0.80 for x in picks) / len(picks), 3),
            "p_lt_090": round(sum(x < 0.90 for x in picks) / len(picks), 3),
        }
        table.append(row)
        print(
            f"{name:58s} cost {row['cost']:.2f}x  median {row['median']:.3f}  mean "
            f"{row['mean']:.3f}  P(>=0.90) {row['p_ge_090']:.2f}  P(<0.80) {row['p_lt_080']:.3f}"
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": len(runs), "rules": table}, f, indent=1)


if __name__ == "__main__":
    main()
