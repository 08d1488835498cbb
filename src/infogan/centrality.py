"""ModelCentrality: choose among trained models without labels or ground-truth factors.

InfoGAN-CR (Lin et al., ICML 2020, section 5) observes that a well-disentangled generator is a
ground-truth simulator in its own right: its codes are factors, and one can draw image groups
that hold one factor fixed. So any model's Q can be scored against any other model's generator
with the FactorVAE protocol, and the model that agrees best with the others - the medoid of the
set under that similarity - is the one to keep. Its dSprites runs picked this way scored
FactorVAE 0.92 and MIG 0.45, against 0.88 and 0.37 over all its runs (DESIGN.md section 5).
It needs no labels, so it works on a user's own data, where FactorVAE and MIG cannot be computed.

Protocol, as InfoGAN-CR's released code (``gan_task_mc_generate_metric_data.py``,
``FactorVAEMetric``) runs it, for generator ``j`` and recogniser ``i``:

1. ``n_var`` prior samples of G_j, encoded by Q_i, give each of i's codes its global variance.
2. ``groups`` groups of ``group_size`` prior samples of G_j; group ``g`` holds j's code
   ``g mod n_codes`` at one value (its first row's). Q_i encodes each group; the vote is
   (the code j held fixed, i's code with the least variance relative to its global variance).
3. The score ``S[i, j]`` is the accuracy of the majority vote (each of i's codes mapped to the
   code of j it was most often chosen for) on those votes - scored on the votes it was fitted
   on, as InfoGAN-CR's metric does. Chance is about ``1 / n_codes``.

Differences from that code, none of which changes what is measured: i's codes with a global std
below 0.05 never get a vote (disentanglement_lib's pruning; there a code of zero variance would
divide by zero), the variance estimate uses 10,000 samples (InfoGAN-CR: 73,728), and any mix of
categorical (argmax of Q's probabilities) and continuous (Q's mean) codes works. The similarity
of two models is ``(S[i, j] + S[j, i]) / 2`` and a model's centrality is its mean similarity to
the others; the diagonal ``S[i, i]`` (a model's Q on its own generator) is reported beside it but
not counted.

Each generator's images are drawn once, chunk by chunk, and encoded by every model's Q while in
memory, so the work is ``n`` generator passes and ``n**2`` recogniser passes over
``n_var + groups * group_size`` images (60,000 at the defaults).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infogan.errors import SpecError, whole_number
from infogan.evaluate import representation_fn
from infogan.latent import Latent
from infogan.model import InfoGAN, load_run

__all__ = ["CentralityResult", "model_centrality", "format_centrality"]

log = logging.getLogger("infogan")

#: Codes with a global standard deviation below this never get a vote (disentanglement_lib's
#: FactorVAE pruning threshold).
PRUNE_STD = 0.05


@dataclass
class CentralityResult:
    """``matrix[i][j]``: FactorVAE score of model i's Q on model j's generator."""

    names: list[str]
    matrix: list[list[float]]
    centrality: list[float]
    selected: int
    protocol: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.names,
            "matrix": self.matrix,
            "self_consistency": [self.matrix[i][i] for i in range(len(self.names))],
            "centrality": self.centrality,
            "selected": self.names[self.selected],
            "tied": [self.names[i] for i in self.tied],
            "protocol": self.protocol,
        }

    @property
    def tied(self) -> list[int]:
        """The runs sharing the highest centrality when more than one does (then the pick among
        them, the first, says nothing); empty otherwise."""
        top = _top(self.centrality)
        return top if len(top) > 1 else []


#: Centralities this close are a tie: the mean of the same scores summed in another order
#: differs in the last bits (0.283 against 0.28300000000000003 picked the second run).
TIE_TOLERANCE = 1e-9


def _top(centrality: list[float]) -> list[int]:
    """The runs within :data:`TIE_TOLERANCE` of the highest centrality, in order."""
    best = max(centrality)
    return [i for i, c in enumerate(centrality) if abs(c - best) <= TIE_TOLERANCE]


def _hold_code(model: InfoGAN, lat: Latent, groups: int, size: int, first: int) -> np.ndarray:
    """In place: group ``g`` (rows ``g*size .. (g+1)*size``) of ``lat`` gets code
    ``(first + g) mod n_codes`` held at its first row's value. Returns the held code per group."""
    n_codes = len(model.spec.codes)
    held = (first + np.arange(groups)) % n_codes
    for g, code in enumerate(held):
        kind, j = model.spec.slot(int(code))
        part = lat.cat if kind == "cat" else lat.cont
        rows = slice(g * size, (g + 1) * size)
        part[rows, j] = part[g * size, j]
    return held


def _vote_scores(votes: np.ndarray) -> float:
    """Majority-vote accuracy of a ``[n_factors, n_codes]`` vote matrix (on its own votes)."""
    total = votes.sum()
    return float(votes.max(axis=0).sum() / total) if total else 0.0


def model_centrality(
    models: Iterable[InfoGAN | str | Path],
    names: Sequence[str] | None = None,
    groups: int = 500,
    group_size: int = 100,
    n_var: int = 10_000,
    seed: int = 0,
    chunk: int = 1000,
) -> CentralityResult:
    """Cross-evaluate ``models`` (at least two) and pick the most central one (see module doc).

    Args:
        models: loaded models, or run directories / checkpoint files to load (on the CPU; load
            them yourself for another device); ``names`` default to those paths.
        groups: votes per (Q, generator) pair (InfoGAN-CR: 500).
        group_size: images per group (InfoGAN-CR: 100).
        n_var: prior samples for each code's global variance.
        seed: seeds every generator's draws; each model's draws are the same for every Q.
        chunk: images per generator pass (about; whole groups), each encoded by every Q
            while in memory.
    """
    given = list(models)  # a generator of models too
    paths = [m if isinstance(m, str | Path) else None for m in given]
    loaded = [load_run(m) if isinstance(m, str | Path) else m for m in given]
    runs = [m for m in loaded if isinstance(m, InfoGAN)]
    if len(runs) != len(loaded):
        kinds = sorted({type(m).__name__ for m in loaded if not isinstance(m, InfoGAN)})
        raise SpecError(f"centrality: expected models or run paths, got {', '.join(kinds)}")
    n = len(runs)
    if n < 2:
        raise SpecError(f"centrality: needs at least 2 models, got {n}")
    groups = whole_number("centrality: groups", groups, 1)
    group_size = whole_number("centrality: group_size", group_size, 2)
    n_var = whole_number("centrality: n_var", n_var, 2)
    if names is None:
        names = [str(p) if p is not None else f"model{i}" for i, p in enumerate(paths)]
    names = list(names)
    if len(names) != n:
        raise SpecError(f"centrality: {len(names)} names for {n} models")
    shapes = {tuple(m.nets.image_shape) for m in runs}
    if len(shapes) > 1:
        raise SpecError(f"centrality: the models draw images of different shapes {sorted(shapes)}")
    # Each Q is scored against every generator's codes as factors: runs of other code specs
    # are no rival answers to one question (InfoGAN-CR compares seeds of one recipe).
    specs = {" ".join(m.spec.labels) for m in runs}
    if len(specs) > 1:
        raise SpecError(
            f"centrality: the models have different codes ({'; '.join(sorted(specs))}); "
            "compare runs of one code spec"
        )
    matrix = np.zeros((n, n))
    per_chunk = max(1, chunk // group_size)  # groups per generator pass
    # Q's code estimate per model: argmax for categorical codes, mean for continuous ones
    reps = [representation_fn(q) for q in runs]
    start_s = time.perf_counter()
    for j, gen in enumerate(runs):
        g = torch.Generator(device=gen.device).manual_seed(seed * 7919 + j)

        def draw(count: int, _gen: InfoGAN = gen, _g: torch.Generator = g) -> Latent:
            return _gen.spec.sample(count, generator=_g, device=_gen.device)

        # 1. global variance of every Q's codes on this generator's images
        chunks = []
        for start in range(0, n_var, chunk):
            x = gen.generate(latent=draw(min(chunk, n_var - start)))
            chunks.append([rep(x) for rep in reps])
        var = [np.concatenate([c[i] for c in chunks]).var(axis=0, ddof=1) for i in range(n)]
        active = [np.sqrt(v) >= PRUNE_STD for v in var]
        n_factors = len(gen.spec.codes)
        votes = [np.zeros((n_factors, len(q.spec.codes)), dtype=np.int64) for q in runs]
        # 2. groups holding one of this generator's codes fixed
        for first in range(0, groups, per_chunk):
            count = min(per_chunk, groups - first)
            lat = draw(count * group_size)
            held = _hold_code(gen, lat, count, group_size, first)
            x = gen.generate(latent=lat)
            for i, rep in enumerate(reps):
                if not active[i].any():
                    continue
                z = rep(x).reshape(count, group_size, -1)
                ratio = z.var(axis=1, ddof=1) / np.where(active[i], var[i], 1.0)
                ratio[:, ~active[i]] = np.inf  # a pruned code never gets a vote
                np.add.at(votes[i], (held, ratio.argmin(axis=1)), 1)
        for i in range(n):
            matrix[i, j] = _vote_scores(votes[i])
        elapsed = time.perf_counter() - start_s
        log.info(f"centrality: generator {j + 1}/{n} ({names[j]}) read by every Q, {elapsed:.0f} s")
    sym = (matrix + matrix.T) / 2
    centrality = [float((sym[i].sum() - sym[i, i]) / (n - 1)) for i in range(n)]
    selected = _top(centrality)[0]  # the first of tied runs, as the note says
    return CentralityResult(
        names=names,
        matrix=matrix.tolist(),
        centrality=centrality,
        selected=selected,
        protocol={
            "groups": groups,
            "group_size": group_size,
            "n_var": n_var,
            "seed": seed,
            "prune_std": PRUNE_STD,
            "score": "majority-vote accuracy on the votes it was fitted on (InfoGAN-CR)",
        },
    )


def format_centrality(res: CentralityResult) -> str:
    """The score matrix (row: Q, column: generator, both numbered), each model's centrality,
    the choice."""
    n = len(res.names)
    width = max(len(s) for s in res.names) + 6
    corner = "Q \\ G"
    lines = [
        "ModelCentrality: FactorVAE of each row's Q on each column's generator "
        f"({res.protocol['groups']} groups of {res.protocol['group_size']})",
        f"{corner:{width}s}"
        + "".join(f"{'#' + str(j + 1):>7s}" for j in range(n))
        + f"{'centrality':>12s}",
    ]
    for i, name in enumerate(res.names):
        row = "".join(f"{v:7.3f}" for v in res.matrix[i])
        mark = "  <- selected" if i == res.selected else ""
        label = f"#{i + 1} {name}"
        lines.append(f"{label:{width}s}{row}{res.centrality[i]:12.3f}{mark}")
    if res.tied:
        if not any(v for row in res.matrix for v in row):
            why = "no code of any run moved its Q's estimate enough to vote (all scores 0)"
        elif n == 2:
            why = (
                "with two runs, each one's centrality is their one shared score: "
                "ModelCentrality needs three or more runs to choose"
            )
        else:
            why = "their scores are equal"
        lines.append(
            f"note: runs {', '.join(f'#{i + 1}' for i in res.tied)} tie for the highest "
            f"centrality ({why}); the first is taken, so the choice among them is arbitrary"
        )
    return "\n".join(lines)
