"""The ``infogan`` command: a thin layer that parses flags, builds a config and calls the library.

Subcommands: ``train``, ``evaluate``, ``sample``, ``traverse``, ``encode``, ``export``, ``explore``,
``presets``. User errors (bad paths, impossible specs, foreign checkpoints) and the machine's
(a read-only or full disk, out of memory) print one line ``error: ...`` and exit with 2; set
``INFOGAN_TRACEBACK=1`` to see the traceback of the machine's errors instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from infogan.archs import check_saved_arch, import_modules
from infogan.errors import DataError, InfoGANError, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from infogan.config import TrainConfig
    from infogan.model import CodeValue, InfoGAN


def _process_start() -> float:
    """``perf_counter`` value at this process's start (Linux: from /proc), so that bench
    --time-to-acc counts the interpreter and torch start-up too; elsewhere: now."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.perf_counter() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


_T_START = _process_start()

#: Most columns of a ``traverse`` figure; the same bound as infogan.model.MAX_TRAVERSE_STEPS,
#: kept here so that building the parser (--help) does not import torch.
MAX_TRAVERSE_STEPS = 100
#: Largest ``traverse --span``: the prior is U(-1, 1); far beyond it nothing new is shown.
MAX_SPAN = 100.0
#: Most images ``infogan sample`` puts in one PNG grid (the bytes it makes at once are capped by
#: ``infogan.model.MAX_GENERATE_BYTES``).
MAX_GRID_IMAGES = 10_000
#: Fewest images ``evaluate --n-quality`` takes: infogan.evaluate.MIN_QUALITY_IMAGES, kept here
#: for the same reason.
MIN_QUALITY_IMAGES = 50
#: Fewest samples ``evaluate --n-mi`` takes: infogan.evaluate.MIN_MI_SAMPLES, kept here too.
MIN_MI_SAMPLES = 50

__all__ = ["main", "build_parser"]

#: Flags of ``train`` that change the recipe, mapped to their config field (for --resume checks).
_RECIPE_FLAGS = {
    "data": "data",
    "codes": "model.codes",
    "noise": "model.noise_dim",
    "noise_scale": "model.noise_scale",
    "noise_dist": "model.noise_dist",
    "batch": "batch",
    "seed": "seed",
    "lr_d": "lr_d",
    "lr_g": "lr_g",
    "lambda_cat": "lambda_cat",
    "lambda_cont": "lambda_cont",
    "fixed_std": "model.fixed_std",
    "lambda_cont_start": "lambda_cont_start",
    "lambda_cont_ramp": "lambda_cont_ramp",
    "width": "model.width",
    "arch": "model.arch",
    "channels": "model.channels",
    "info_in_d_step": "info_in_d_step",
    "q_head_step": "q_head_step",
    "lambda_real": "lambda_real",
    "instance_noise": "instance_noise",
    "instance_noise_end": "instance_noise_end",
    "d_translate": "d_translate",
    "spectral_norm": "model.spectral_norm",
    "sn_scope": "model.sn_scope",
    "r1_gamma": "r1_gamma",
    "lambda_ms": "lambda_ms",
    "ema_decay": "ema_decay",
    "graph": "graph",
    "candidates": "candidates",
    "select_steps": "select_steps",
    "select_rule": "select_rule",
    "select_min_noise_use": "select_min_noise_use",
    "g_steps": "g_steps",
    "cr_weight": "cr_weight",
    "cr_start": "cr_start",
    "cr_share_noise": "cr_share_noise",
    "cr_pretrain": "cr_pretrain",
    "precision": "precision",
    "memory_format": "memory_format",
    "preset": None,
    "config": None,
}


def _saved_imports(run_dir: Path) -> list[str] | None:
    """The modules the newest readable checkpoint of ``run_dir`` (or of its candidates, during
    a selection) records as imported by the process that trained it; None when none says."""
    from infogan import checkpoint as ckpt

    dirs = [run_dir, *sorted((run_dir / "candidates").glob("*"))]
    found = sorted(
        (step, path) for d in dirs if d.is_dir() for step, path in ckpt.list_checkpoints(d)
    )
    for _, path in reversed(found):
        try:
            imports = ckpt.load_checkpoint(path).get("imports")
        except Exception:  # a damaged file: the next one may say
            continue
        if isinstance(imports, list):
            return imports
    return None


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {v}")
    return v


def _at_least(minimum: int) -> Callable[[str], int]:
    """An integer flag with a floor (the flag's own reason for it goes in its help)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {v}")
        return v

    return parse


#: A count that must be at least 1.
_count = _at_least(1)


def _finite_float(text: str) -> float:
    """A float flag: NaN and infinities are refused here, where the flag is named."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def _seed(text: str) -> int:
    """A seed: a whole number in 0..MAX_SEED (torch seeds are 64-bit; candidates multiply)."""
    from infogan.config import MAX_SEED

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..{MAX_SEED}, got {v}")
    return v


def _select_points(text: str) -> list[int]:
    """``1000`` or ``1000,3000``: the selection point(s) of ``--select-steps``."""
    try:
        points = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected steps like 1000 or 1000,3000, got {text!r}"
        ) from None
    if any(p < 1 for p in points) or points != sorted(set(points)):
        raise argparse.ArgumentTypeError(
            f"expected increasing step numbers >= 1 like 1000,3000, got {text!r}"
        )
    return points


def _set_select_points(cfg: TrainConfig, points: list[int]) -> None:
    cfg.select_steps, cfg.select_later = points[0], points[1:]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the message and where to read more, not the whole usage
    block (``train``'s runs to dozens of lines and buries the one that matters)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="infogan",
        description="InfoGAN: train GANs whose latent codes mean something; measure and use them.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (or resume one)")
    _add_recipe_flags(t)
    t.add_argument("--seed", type=_seed, help="random seed (default 0)")
    t.add_argument("--out", help="run directory (default runs/<data>-seed<seed>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    _add_run_flags(t)

    w = sub.add_parser("sweep", help="train several seeds, evaluate, summarise every metric")
    _add_recipe_flags(w)
    w.add_argument("--seeds", default="0-4", help="seeds: '0-4' or '0,3,7' (default 0-4)")
    w.add_argument("--out", required=True, help="sweep directory (one run per seed inside)")
    w.add_argument(
        "--centrality",
        action="store_true",
        help="also cross-evaluate the seeds and name the one to keep, without labels "
        "(InfoGAN-CR's ModelCentrality; see 'infogan centrality')",
    )
    _add_run_flags(w)

    e = sub.add_parser("evaluate", help="score a run: clustering accuracy/NMI/ARI, MI bound")
    e.add_argument("run", help="run directory")
    e.add_argument(
        "--data",
        action="append",
        help="labelled data (repeatable); default the run's training data",
    )
    e.add_argument(
        "--split",
        default="test",
        choices=["train", "test"],
        help="split of IDX directories and image folders holding both (default test)",
    )
    e.add_argument(
        "--n-mi",
        type=_at_least(MIN_MI_SAMPLES),
        default=10_000,
        help=f"generated samples for the MI bound (10000; at least {MIN_MI_SAMPLES})",
    )
    e.add_argument(
        "--metrics",
        default="clustering,mi,disentanglement,quality",
        help="which of clustering,mi,disentanglement,quality (default: all that apply; mi "
        "includes the noise use)",
    )
    e.add_argument(
        "--scale",
        type=_finite_float,
        default=1.0,
        help="multiply disentanglement sample counts (default 1 = the reference's)",
    )
    e.add_argument(
        "--disentanglement",
        metavar="LIST",
        help="only these of beta_vae,factor_vae,mig,dci,sap,modularity_explicitness "
        "(default all; on a CPU beta_vae and dci take minutes on dSprites, mig and "
        "factor_vae seconds)",
    )
    e.add_argument(
        "--n-quality",
        type=_at_least(MIN_QUALITY_IMAGES),
        default=10_000,
        help=f"generated and real images for sample quality (10000; at least {MIN_QUALITY_IMAGES})",
    )
    e.add_argument(
        "--features",
        help="a TorchScript feature extractor file (trusted files only) instead of the "
        "built-in classifier",
    )
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    e.add_argument(
        "--json", help="also write the report to this path (- : to stdout, the table to stderr)"
    )
    e.add_argument(
        "--force", action="store_true", help="replace an earlier evaluation report at --json"
    )

    s = sub.add_parser("sample", help="generate images from chosen code values")
    s.add_argument("run", help="run directory or checkpoint file")
    s.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fix a code, e.g. --code c1=3 --code c2=0.5 (repeatable)",
    )
    s.add_argument(
        "--label",
        metavar="[CODE=]LABEL",
        help="images of one class: the value of CODE (default the first labelled categorical "
        "code) that the saved label mapping names LABEL, e.g. --label 7 or --label c1=cat",
    )
    s.add_argument("-n", "--n", type=_count, default=64, help="number of images (64)")
    s.add_argument("--seed", type=_seed, default=0, help="seed of the noise and codes drawn (0)")
    s.add_argument("--nrow", type=_count, default=8, help="images per grid row (8)")
    s.add_argument(
        "--out",
        default="samples.png",
        help="PNG grid, or .npz: images in [-1, 1], each code's values (c1, c2, ...) and z",
    )
    s.add_argument("--force", action="store_true", help="replace an existing --out file")
    s.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")

    v = sub.add_parser("traverse", help="latent traversal figures (the paper's Figure 2)")
    v.add_argument("run", help="run directory or checkpoint file")
    v.add_argument(
        "--code",
        action="append",
        help="code(s) to traverse: c2, or c1,c3, or the flag repeated (default all)",
    )
    v.add_argument(
        "--steps",
        type=_count,
        help=f"columns of a continuous sweep (9; 2..{MAX_TRAVERSE_STEPS})",
    )
    v.add_argument(
        "--span",
        type=_finite_float,
        default=2.0,
        help=f"sweep continuous codes over +-span (2; at most {MAX_SPAN:g})",
    )
    v.add_argument(
        "--values",
        help="values of the categorical code shown (columns of its figure, rows of a continuous "
        "code's): '0-9' or '3,7,12' (default all, or the first 64 of a larger code)",
    )
    v.add_argument("--seed", type=_seed, default=0, help="seed of the noise held in each row (0)")
    v.add_argument("--out", default=".", help="output directory")
    v.add_argument("--force", action="store_true", help="replace existing figures in --out")
    v.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")

    x = sub.add_parser("export", help="write the generator: safetensors, TorchScript, ONNX or pt2")
    x.add_argument("run", help="run directory or checkpoint file")
    x.add_argument("--out", required=True, help="file to write (its description goes to OUT.json)")
    x.add_argument(
        "--format",
        dest="fmt",
        choices=["safetensors", "torchscript", "onnx", "pt2"],
        default=None,
        help="safetensors weights, a traced TorchScript module, ONNX (needs onnx) or a "
        "torch.export program (pt2); default from --out's suffix: .pt/.pth/.ts TorchScript, "
        ".onnx ONNX, .pt2 pt2, else safetensors",
    )
    x.add_argument(
        "--what",
        choices=["generator", "all"],
        default="generator",
        help="safetensors: the generator only (default) or every network",
    )
    x.add_argument(
        "--ema",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the EMA generator or the raw one (default: the one 'sample' uses)",
    )
    x.add_argument("--force", action="store_true", help="replace existing output files")

    o = sub.add_parser("explore", help="browse the codes live in a web page (local server)")
    o.add_argument("run", help="run directory or checkpoint file")
    o.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    o.add_argument("--port", type=_non_negative_int, default=8000, help="port (8000; 0 = any free)")
    o.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")

    c = sub.add_parser("encode", help="images -> codes (and labels through the saved mapping)")
    c.add_argument("run", help="run directory or checkpoint file")
    c.add_argument(
        "--data",
        required=True,
        help="images: dataset name, a folder of images, an IDX dir/file or an .npz",
    )
    c.add_argument(
        "--split",
        default="test",
        choices=["train", "test"],
        help="which split to encode of a named dataset, an IDX directory or an image folder "
        "with train/ and test/ sub-folders (default test)",
    )
    c.add_argument("--out", default="codes.csv", help=".csv or .npz")
    c.add_argument("--force", action="store_true", help="replace an existing --out file")
    c.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")

    b = sub.add_parser("bench", help="time training steps; fraction of the measured matmul peak")
    b.add_argument("--device", default="auto", help="cpu, cuda or auto (default auto)")
    b.add_argument("--batch", default="64", help="batch size(s), comma separated (default 64)")
    b.add_argument("--steps", type=_count, default=30, help="timed steps (30)")
    b.add_argument("--warmup", type=_non_negative_int, default=5, help="untimed steps first (5)")
    b.add_argument("--preset", default="paper", help="recipe to time (default paper)")
    b.add_argument("--width", type=_finite_float, help="network width multiplier")
    b.add_argument("--arch", help="networks to time (default: the preset's)")
    b.add_argument("--candidates", type=_count, help="--time-to-acc: candidates (default preset's)")
    b.add_argument(
        "--select-steps",
        type=_select_points,
        help="--time-to-acc: selection point(s), e.g. 1000 or 1000,3000 (halving)",
    )
    b.add_argument(
        "--path",
        default="auto",
        help="how steps run, a comma list of eager, graph (CUDA graph), compile (torch.compile), "
        "compile+graph; both = eager,graph (default: both on CUDA, eager on CPU)",
    )
    b.add_argument(
        "--precision",
        help="comma list of fp32,tf32,bf16 to time (default the preset's; bf16 is CUDA-only)",
    )
    b.add_argument(
        "--memory-format",
        help="comma list of auto,channels_last,contiguous to time (default auto)",
    )
    b.add_argument("--json", help="write the results (a list of objects) to this JSON file")
    b.add_argument("--force", action="store_true", help="replace an existing --json file")
    b.add_argument(
        "--time-to-acc",
        type=_finite_float,
        metavar="ACC",
        help="instead: train the preset until this test accuracy (needs --eval-data)",
    )
    b.add_argument("--eval-data", help="labelled data for --time-to-acc")
    b.add_argument(
        "--eval-every",
        type=_count,  # 0 evaluated step 0 forever
        help="with --time-to-acc: steps between evaluations (250)",
    )
    b.add_argument(
        "--max-steps",
        type=_count,
        help="with --time-to-acc: give up after this many steps (12000)",
    )

    d = sub.add_parser("download", help="download mnist, fashion-mnist or svhn (needs internet)")
    d.add_argument("dataset", choices=["mnist", "fashion-mnist", "svhn"])
    d.add_argument("--root", help="cache root (default $INFOGAN_DATA or ~/.cache/infogan)")
    d.add_argument("--force", action="store_true", help="download even if already present")

    m = sub.add_parser(
        "centrality",
        help="pick among trained runs without labels (InfoGAN-CR's ModelCentrality)",
    )
    m.add_argument("runs", nargs="+", help="two or more run directories or checkpoint files")
    m.add_argument(
        "--groups", type=_non_negative_int, default=500, help="votes per pair of runs (500)"
    )
    m.add_argument(
        "--group-size", type=_non_negative_int, default=100, help="images per vote (100)"
    )
    m.add_argument(
        "--n-var",
        type=_non_negative_int,
        default=10_000,
        help="images for each code's global variance (10000)",
    )
    m.add_argument("--seed", type=_seed, default=0, help="seed of the generators' draws (0)")
    m.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    m.add_argument("--json", help="also write the result to this JSON file")
    m.add_argument("--force", action="store_true", help="replace an existing --json file")

    i = sub.add_parser("info", help="what a run holds: recipe, progress, selection, scores")
    i.add_argument("runs", nargs="+", help="run directories (or their checkpoint files)")
    i.add_argument(
        "--json",
        help="also write the summaries (a list) to this file (- : to stdout, the text to stderr)",
    )
    i.add_argument("--force", action="store_true", help="replace an existing --json file")

    sub.add_parser("presets", help="list the named recipes")
    for name, command in sub.choices.items():
        if name not in ("download", "presets"):
            command.add_argument(
                "--import",
                dest="imports",
                action="append",
                metavar="MODULE",
                help="import a module (a name, or a .py file) that registers your own networks "
                "with infogan.register_arch, for --arch NAME or a run trained on them "
                "(repeatable; also $INFOGAN_IMPORT, comma-separated)",
            )
    return p


def _add_recipe_flags(t: argparse.ArgumentParser) -> None:
    t.add_argument("--preset", help="start from a named recipe (see 'infogan presets')")
    t.add_argument("--config", help="start from a config.json (e.g. another run's)")
    t.add_argument(
        "--data",
        help="dataset name (mnist5k, mnist, fashion-mnist, svhn, celeba, dsprites), a folder of "
        "images, an IDX dir or an .npz",
    )
    t.add_argument("--codes", help="latent codes, e.g. 'cat:10,cont:2'")
    t.add_argument("--noise", type=_non_negative_int, help="noise size (paper MNIST: 62)")
    t.add_argument(
        "--arch",
        help="networks: mnist (28x28), conv32 (32x32, the paper's SVHN/CelebA ones with an FC "
        "layer in D; conv32paper: the table exactly), conv64 (64x64, the paper's chairs), "
        "conv64s (64x64, InfoGAN-CR's small dSprites ones), or a name your own module "
        "registers (with --import MODULE)",
    )
    t.add_argument(
        "--channels",
        type=int,
        choices=[1, 3],
        help="image channels (default: as the training data; 1 makes colour data grey, 3 "
        "repeats grey into three; colour needs conv32, conv64*, or networks of your own)",
    )
    t.add_argument(
        "--noise-scale", type=_finite_float, help="gain on z in G's input (default 1.0 = the paper)"
    )
    t.add_argument(
        "--noise-dist",
        choices=["normal", "uniform"],
        help="prior of z: normal N(0, 1) (the paper) or uniform U(-1, 1) (InfoGAN-CR)",
    )
    t.add_argument("--batch", type=_count, help="batch size (default 64)")
    t.add_argument("--lr-d", type=_finite_float, help="discriminator learning rate (default 2e-4)")
    t.add_argument(
        "--lr-g", type=_finite_float, help="generator + Q head learning rate (default 1e-3)"
    )
    t.add_argument(
        "--lambda-cat", type=_finite_float, help="weight of categorical codes' info loss (1)"
    )
    t.add_argument(
        "--lambda-cont", type=_finite_float, help="weight of continuous codes' info loss (0.1)"
    )
    t.add_argument(
        "--lambda-cont-start",
        type=_non_negative_int,
        help="step before which the continuous codes' info weight is 0 (default 0)",
    )
    t.add_argument(
        "--lambda-cont-ramp",
        type=_non_negative_int,
        help="steps over which that weight then rises to --lambda-cont (default 0: at once)",
    )
    t.add_argument(
        "--fixed-std", type=_finite_float, help="fixed std of continuous codes (default learned)"
    )
    t.add_argument(
        "--width", type=_finite_float, help="network width multiplier (default 1.0 = paper)"
    )
    t.add_argument(
        "--info-in-d-step",
        action="store_true",
        default=None,
        help="also train the shared D body with Q's loss",
    )
    t.add_argument(
        "--q-head-step",
        choices=["g", "d"],
        help="which update trains the Q head: g = G's (the paper, default), d = D's "
        "(InfoGAN-CR; needs --info-in-d-step)",
    )
    t.add_argument(
        "--lambda-real",
        type=_finite_float,
        help="weight of I(x; c) of Q's categorical codes on real images (0 = off, the paper)",
    )
    t.add_argument(
        "--d-translate",
        type=int,
        metavar="PIXELS",
        help="shift every image D and Q read by up to this many pixels (DiffAugment; 0 = off)",
    )
    t.add_argument(
        "--instance-noise",
        type=_finite_float,
        help="std of noise on D's (and Q's) inputs, decayed to 0 (0 = off, the paper)",
    )
    t.add_argument(
        "--instance-noise-end",
        type=_non_negative_int,
        help="step at which the instance noise reaches 0 (default: the last step)",
    )
    t.add_argument(
        "--spectral-norm",
        action="store_true",
        default=None,
        help="spectral normalisation of D's body and head (off: the paper)",
    )
    t.add_argument(
        "--sn-scope",
        choices=["d", "all"],
        help="where --spectral-norm applies: d = D's body and head (default); all = also the "
        "Q head and the CR classifier (InfoGAN-CR's networks)",
    )
    t.add_argument(
        "--r1-gamma",
        type=_finite_float,
        help="R1 gradient penalty weight on real images (0 = off, the paper)",
    )
    t.add_argument(
        "--lambda-ms",
        type=_finite_float,
        help="MSGAN's mode-seeking weight: G pays 1/(image distance per noise distance) "
        "between two noises of the same codes, against a G that ignores z (noise use below "
        "0.2); 0 = off, the paper. Where G uses z it costs the continuous codes (README)",
    )
    t.add_argument(
        "--ema-decay",
        type=_finite_float,
        help="keep an EMA of G's weights with this decay and draw images from it (0 = off)",
    )
    t.add_argument(
        "--candidates",
        type=_count,
        help="short candidate starts to choose from without labels (default recipe 4; 1 = off)",
    )
    t.add_argument(
        "--select-steps",
        type=_select_points,
        help="steps per candidate before the choice (default recipe 1000,3000); several: keep "
        "the better half at each and one at the last (successive halving)",
    )
    t.add_argument(
        "--select-rule",
        choices=["score", "consensus", "centrality"],
        help="pick the candidate by its own score (default), by agreement of its partition "
        "with the others' (consensus) or by InfoGAN-CR's ModelCentrality (every code)",
    )
    t.add_argument(
        "--select-min-noise-use",
        type=_finite_float,
        help="candidates whose generator ignores z more than this (noise use below it) rank "
        "last (0.2; 0 = off)",
    )
    t.add_argument("--g-steps", type=_count, help="G/Q updates per step (1; InfoGAN-CR's code: 2)")
    t.add_argument(
        "--cr-weight", type=_finite_float, help="InfoGAN-CR regulariser weight (0 = off)"
    )
    t.add_argument("--cr-start", type=_non_negative_int, help="step the CR loss reaches G from (0)")
    t.add_argument(
        "--cr-share-noise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CR pairs share their noise z (default, as InfoGAN-CR's code does) or not",
    )
    t.add_argument(
        "--cr-pretrain",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the CR classifier from step 0 (default: from --cr-start, where InfoGAN-CR "
        "re-initialises it)",
    )
    t.add_argument("--graph", choices=["auto", "on", "off"], help="CUDA graphs (default auto)")
    t.add_argument("--precision", choices=["fp32", "tf32", "bf16"], help="default fp32")
    t.add_argument(
        "--memory-format",
        choices=["auto", "channels_last", "contiguous"],
        help="conv layout (default auto: channels_last on CPU, contiguous on CUDA)",
    )


def _add_run_flags(t: argparse.ArgumentParser) -> None:
    t.add_argument(
        "--steps",
        type=_non_negative_int,
        help="total training steps (12000; 0 saves the untrained networks and their report, a "
        "baseline)",
    )
    t.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the training step (fewer, fused kernels; ~1 min to compile)",
    )
    t.add_argument("--eval-data", help="labelled data to score the categorical codes on at the end")
    t.add_argument("--device", help="cpu, cuda, cuda:N or auto (default auto)")
    t.add_argument("--ckpt-every", type=_count, help="steps between checkpoints (1000)")
    t.add_argument("--sample-every", type=_count, help="steps between sample grids (1000)")
    t.add_argument("--log-every", type=_count, help="steps between metrics rows (50)")
    t.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="CUDA: fixed cuDNN kernels (no autotuning) so a seed repeats; may be slower",
    )
    t.add_argument(
        "--parallel",
        type=_count,
        help="candidates trained at once, one process each (1; on a CPU with 2+ cores or "
        "several GPUs, 2 or more is faster)",
    )
    t.add_argument(
        "--ddp",
        type=_count,
        help="data-parallel processes per run, one GPU each (1): each takes an equal share of "
        "every batch; the same steps as one process",
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also log metrics and sample grids for TensorBoard in RUN/tensorboard "
        "(pip install 'infogan[tensorboard]')",
    )


def _recipe_from_args(a: argparse.Namespace) -> TrainConfig:
    """A config from --preset/--config plus every recipe flag given."""
    from infogan.config import TrainConfig, preset

    if a.config and a.preset:
        raise SpecError("train: give --preset or --config, not both")
    cfg = TrainConfig.load(a.config) if a.config else preset(a.preset or "default")
    if a.config:
        _note_missing_fields(a.config)
    for flag, field in _RECIPE_FLAGS.items():
        value = getattr(a, flag, None)
        if flag == "select_steps" and value is not None:
            _set_select_points(cfg, value)
        elif field is not None and value is not None:
            _set(cfg, field, value)
    return cfg


def _note_missing_fields(path: str) -> None:
    """Say which fields a hand-written ``--config`` leaves out: they take TrainConfig's own
    defaults (the paper's recipe: no translation, one start), not the default preset's, which
    trained another recipe without a word."""
    import dataclasses

    from infogan.config import ModelConfig, TrainConfig

    try:
        given = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return  # TrainConfig.load has said what is wrong
    if not isinstance(given, dict):
        return
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in given]
    model = given.get("model")
    if isinstance(model, dict):
        missing += [
            f"model.{f.name}" for f in dataclasses.fields(ModelConfig) if f.name not in model
        ]
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        print(
            f"note: {path} leaves out {shown}; they take TrainConfig's defaults (the paper's "
            "recipe with the best of 4 starts chosen at step 1,000, no translation), not the "
            "default preset's (infogan info RUN shows the recipe trained)"
        )


def _apply_run_flags(cfg: TrainConfig, a: argparse.Namespace) -> None:
    from infogan.config import RUN_FIELDS

    # The run fields that have a flag of their own (--no-progress is set below; keep_ckpts
    # has none).
    for flag in sorted(RUN_FIELDS - {"progress", "keep_ckpts"}):
        if getattr(a, flag) is not None:
            _set(cfg, flag, getattr(a, flag))
    cfg.progress = not a.no_progress
    try:
        cfg.validate()
    except SpecError as e:
        # A field taken from --config (another run's config.json, say ddp: 2 into a
        # --parallel 2 run) was refused as if typed: say where its value came from.
        field = str(e).split(":", 1)[0]
        config = getattr(a, "config", None)
        if config and "." not in field and hasattr(cfg, field) and getattr(a, field, None) is None:
            raise SpecError(f"{e} (from {config})") from None
        raise


def _set(cfg: TrainConfig, dotted: str, value: Any) -> None:
    obj = cfg
    *parents, leaf = dotted.split(".")
    for name in parents:
        obj = getattr(obj, name)
    setattr(obj, leaf, value)


def _train(a: argparse.Namespace) -> int:
    from infogan.config import EXECUTION_FIELDS, TrainConfig
    from infogan.prepare import check_new_run_dir
    from infogan.select import train_selected

    if a.resume:
        if a.out is not None:
            raise SpecError(
                f"resume: --out cannot be given with --resume; a resumed run stays in {a.resume} "
                "(to branch it, copy the folder first)"
            )
        given = [
            f"--{k.replace('_', '-')}"
            for k, field in _RECIPE_FLAGS.items()
            if field not in EXECUTION_FIELDS and getattr(a, k) is not None
        ]
        if given:
            raise SpecError(
                f"resume: {', '.join(given)} cannot change a run's recipe; only --steps, --device, "
                "--eval-data, --graph, --precision, --memory-format and logging flags may be "
                "given with --resume"
            )
        run_dir = Path(a.resume)
        if not (run_dir / "config.json").is_file():
            raise SpecError(f"resume: {run_dir} is not a run directory (no config.json)")
        from infogan.select import refuse_candidate_folder

        refuse_candidate_folder(run_dir)
        cfg = TrainConfig.load(run_dir / "config.json")
        # A run of a user's registered networks without --import: say that, not "unknown",
        # and name the modules its checkpoints say the training process had imported.
        check_saved_arch(cfg.to_dict(), f"resume: {run_dir}", lambda: _saved_imports(run_dir))
        # How the steps run may change between sessions (a GPU run's --graph on or --precision
        # bf16 going on on a CPU); the checkpoints' recipe check allows these fields too.
        for field in sorted(EXECUTION_FIELDS):
            if getattr(a, field) is not None:
                _set(cfg, field, getattr(a, field))
    else:
        cfg = _recipe_from_args(a)
        run_dir = Path(a.out or f"runs/{_slug(cfg.data)}-seed{cfg.seed}")
        check_new_run_dir(run_dir)
    _apply_run_flags(cfg, a)
    print(f"run directory: {run_dir}", flush=True)
    existed = run_dir.exists()
    # What this command does, for its last line: a resume of a finished run trains, chooses
    # and scores nothing.
    chosen_before = (run_dir / "selection.json").exists()
    from infogan.checkpoint import newest_step

    step_before = newest_step(run_dir)
    try:
        result = train_selected(cfg, run_dir, resume=bool(a.resume))
    except InfoGANError as e:
        # The line above named a folder; say so when the error came before it was made.
        if not existed and not run_dir.exists():
            e.args = (f"{e} (nothing written: {run_dir} was not created)",)
        raise
    except KeyboardInterrupt as e:
        # Stops inside a training loop say where they checkpointed; one elsewhere (building
        # a candidate, scoring, the choice, the final evaluation) says how to go on as well.
        if str(e) or not (run_dir / "config.json").is_file():
            raise
        raise KeyboardInterrupt(
            "stopped; what was finished is kept; continue with: infogan train --resume "
            + shlex.quote(str(run_dir))
        ) from None
    # Wall time of the whole command: result.seconds is the last leg's training alone (the
    # winner's continuation), which left out the candidates, the choice and the evaluation.
    wall = time.perf_counter() - _T_START
    chose = not chosen_before and (run_dir / "selection.json").exists()
    trained = chose or result.step != step_before
    # What is there to open (a run of 0 steps draws no sample grid, say).
    made = [
        shown
        for shown, pattern in (
            ("report.json", "report.json"),
            ("report.html", "report.html"),
            ("traversal_*.png", "traversal_*.png"),
            ("curves.png", "curves.png"),
            ("samples/", "samples/step_*.png"),
            ("selection.json", "selection.json"),
        )
        if any(run_dir.glob(pattern))
    ]
    print(
        f"done: step {result.step}, {wall:.1f} s of wall time"
        + (
            " (candidates, choice and evaluation included)"
            if chose
            else " (evaluation included)"
            if trained
            else ""
        )
        + f"; in {run_dir}: {', '.join(made)}"
    )
    return 0


def _sweep(a: argparse.Namespace) -> int:
    from infogan.sweep import run_sweep

    cfg = _recipe_from_args(a)
    _apply_run_flags(cfg, a)
    try:
        run_sweep(cfg, _parse_seeds(a.seeds), a.out, centrality=a.centrality)
    except KeyboardInterrupt as e:
        if str(e):
            raise
        raise KeyboardInterrupt(
            "stopped; finished seeds and checkpoints are kept; run the same infogan sweep "
            "command again to go on"
        ) from None
    return 0


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP act as Ctrl-C does wherever they land: a KeyboardInterrupt, and so
    the same message and exit status 130 (a training loop installs its own graceful handler
    for its steps, and gives these back after). Their default action killed the process
    without a word between two loops (building a candidate, scoring, the final evaluation)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

    signals = [signal.SIGTERM]
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signals.append(signal.SIGHUP)  # under nohup it stays ignored, as nohup means
    old = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _parse_int_list(text: str, flag: str, most: int) -> list[int]:
    """``'0-4'`` or ``'0,3,7'`` (or both: ``'0-2,9'``) as distinct non-negative integers, at most
    ``most`` of them (a range is checked before it is expanded)."""
    values: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise SpecError(f"{flag}: expected '0-4' or '0,3,7', got {text!r}") from None
        if last < first:
            raise SpecError(f"{flag}: range {part.strip()!r} runs backwards; write {last}-{first}")
        if first < 0:
            raise SpecError(f"{flag}: values are 0 or more, got {text!r}")
        if last - first + 1 + len(values) > most:
            raise SpecError(
                f"{flag}: at most {most} values at a time (say {first}-{first + most - 1}), "
                f"got {text!r}"
            )
        values += range(first, last + 1)
    if not values or len(set(values)) != len(values):
        raise SpecError(f"{flag}: expected distinct values, got {text!r}")
    return values


def _parse_seeds(text: str) -> list[int]:
    from infogan.config import MAX_SEED

    seeds = _parse_int_list(text, "--seeds", 1000)  # "0-2000000000" must not fill the memory
    if any(s > MAX_SEED for s in seeds):
        raise SpecError(f"--seeds: seeds must be in 0..{MAX_SEED}, got {text!r}")
    return seeds


def _slug(data: str) -> str:
    name = Path(data.rstrip("/")).name or "data"
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name.removesuffix(".npz"))


def _evaluate(a: argparse.Namespace) -> int:
    from infogan.atomic import atomic_write_bytes
    from infogan.evaluate import (
        METRIC_GROUPS,
        earlier_results,
        evaluate_run,
        format_report,
        report_step,
    )

    to_stdout = a.json == "-"  # the report as JSON on stdout, the table on stderr
    # The run's own report.json as --json: written (or left alone) by the evaluation itself.
    own = bool(a.json) and not to_stdout and _check_json_target(Path(a.json), Path(a.run), a.force)
    metrics = tuple(m.strip() for m in a.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in METRIC_GROUPS]
    if unknown or not metrics:
        raise SpecError(
            f"--metrics: unknown {', '.join(unknown) or 'empty list'}; choose from "
            f"{', '.join(METRIC_GROUPS)}"
        )
    disentanglement_kw = None
    if a.disentanglement is not None:
        from infogan.metrics.disentanglement import METRICS

        # Also by the names report.json gives the scores (factorvae, betavae).
        alias = {"factorvae": "factor_vae", "betavae": "beta_vae"}
        chosen = [
            alias.get(m.strip(), m.strip()) for m in a.disentanglement.split(",") if m.strip()
        ]
        bad = [m for m in chosen if m not in METRICS]
        if bad or not chosen:
            raise SpecError(
                f"--disentanglement: unknown {', '.join(bad) or 'empty list'}; choose from "
                f"{', '.join(METRICS)}"
            )
        disentanglement_kw = {"metrics": chosen}
    extractor = None
    if a.features:
        from infogan.metrics.features import user_features

        extractor = user_features(a.features)
    fresh: dict[str, Any] = {}
    try:
        rep = evaluate_run(
            a.run,
            data=a.data,
            n_mi=a.n_mi,
            device=a.device,
            split=a.split,
            metrics=metrics,
            scale=a.scale,
            n_quality=a.n_quality,
            extractor=extractor,
            disentanglement_kw=disentanglement_kw,
            fresh=fresh,
        )
    except (OSError, InfoGANError):
        if fresh:  # measured, then writing the report failed (a full disk): show the scores
            print(format_report(fresh), file=sys.stderr)
        raise
    # This call's results; what report.json keeps from earlier evaluations of the same step is
    # named, not printed as if just measured.
    table = sys.stderr if to_stdout else sys.stdout
    print(format_report(fresh), file=table)
    held = earlier_results(rep, fresh)
    if held:
        print(
            f"also in report.json from earlier evaluations of step {rep.get('step')}: "
            + ", ".join(held)
            + " (infogan info RUN shows them)",
            file=table,
        )
    if report_step(a.run) == rep.get("step"):  # else a later step's report was left alone
        print(
            f"report: {Path(a.run) / 'report.json'}, report.html and the figures redrawn",
            file=table,
        )
    if to_stdout:
        print(json.dumps(rep, indent=2))
    elif a.json and not own:
        atomic_write_bytes(a.json, (json.dumps(rep, indent=2) + "\n").encode())
    return 0


def _new_file(
    path: str | Path, force: bool, flag: str = "--out", guard_run_files: bool = True
) -> Path:
    """An output file, checked before any work: its folder exists, it is not a folder, it is
    not a file a run wrote (``--force`` or not: a run's checkpoints, config, report, samples),
    and it is not an existing file unless ``--force`` (a typo must not replace a figure or a
    table the user kept)."""
    from infogan.atomic import unwritable
    from infogan.runinfo import is_run_figure, written_by

    p = Path(path)
    if p.is_dir():
        raise SpecError(f"{flag}: {p} is a directory; give a file name")
    if not p.parent.is_dir():
        raise SpecError(f"{flag}: folder {p.parent} does not exist")
    holder = written_by(p) if guard_run_files else None
    if holder is not None:
        redraw = ""
        if is_run_figure(p) and not p.exists():  # a figure the user deleted to have it redrawn
            redraw = f"; the run redraws a missing one: infogan train --resume {shlex.quote(str(p.parent))}"
        raise SpecError(
            f"{flag}: {p} is a file of {holder}; write elsewhere (nothing was changed){redraw}"
        )
    if p.exists() and not force:
        raise SpecError(f"{flag}: {p} already exists; pass --force to replace it")
    why = unwritable(p)
    if why is not None:  # now, not after the work (a benchmark ran 14 s, then failed)
        raise SpecError(f"{flag}: {why}")
    return p


def _check_json_target(path: Path, run: Path, force: bool) -> bool:
    """``evaluate --json PATH`` may replace an earlier evaluation report there (with ``force``:
    it may be another run's, a measurement that took an hour), nothing else: a typo must not
    turn a checkpoint, a run's ``config.json`` (the run could no longer be resumed) or another
    run's ``report.json`` (its scores and label mappings would silently be this run's) into
    this report. Checked before the metrics run. Returns whether ``path`` is the run's own
    ``report.json``, where the report is written (or left alone) anyway."""
    own = path.resolve() == (run / "report.json").resolve()
    # A file name in an existing folder, and no other file a run wrote.
    _new_file(path, force=True, flag="--json", guard_run_files=not own)
    if path.exists() and not own:
        try:
            old = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            old = None
        # Any evaluation's report has these (mi_bound only when the MI bound was asked for).
        if not (isinstance(old, dict) and {"step", "codes", "evaluations"} <= old.keys()):
            raise SpecError(
                f"--json: {path} exists and is not an earlier evaluation report; it is left "
                "alone (give a new path)"
            )
        if not force:
            raise SpecError(f"--json: {path} already exists; pass --force to replace it")
    return own


def _parse_codes(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--code: expected NAME=VALUE such as c1=3, got {item!r}")
        if name.strip() in out:
            raise SpecError(f"--code: {name.strip()} is given twice")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SpecError(f"--code: value of {name!r} is not a number: {value!r}") from None
    return out


def _sample(a: argparse.Namespace) -> int:
    import torch

    from infogan import viz
    from infogan.atomic import atomic_write

    out = _new_file(a.out, a.force)
    if out.suffix.lower() not in (".png", ".npz"):
        raise SpecError(f"--out: {out} should end in .png (a grid) or .npz (the raw arrays)")
    # A copy typed for the tensor --label adds (dict is invariant: a dict[str, float] would not do).
    codes: dict[str, CodeValue] = dict(_parse_codes(a.code))
    if out.suffix.lower() == ".png" and a.n > MAX_GRID_IMAGES:
        raise SpecError(
            f"-n: {a.n} images do not make a readable grid; at most {MAX_GRID_IMAGES} in a .png "
            "(write an .npz for more)"
        )
    model = _load_for_use(a.run, a.device)
    model.check_count(a.n)
    if a.label is not None:
        name, sep, label = a.label.partition("=")
        code = None
        if sep and re.fullmatch(r"c\d+", name.strip(), flags=re.IGNORECASE):
            # C3=6 is c3's label 6 (code names are case-blind everywhere); an unknown code is
            # named as such
            code = model.spec.names[model.spec.index_of(name.strip())]
        label = label if code else a.label
        code = model.labelled_code(code)
        values = model.values_of(label, code)
        if code in codes:
            raise SpecError(f"--label: {code} is also fixed by --code; give one of them")
        # Several values can stand for one class (more values than classes): cycle them.
        codes[code] = torch.tensor(values).repeat(a.n // len(values) + 1)[: a.n]
    lat = model.latent(a.n, codes, seed=a.seed)
    images = model.generate(latent=lat).cpu()
    if out.suffix.lower() == ".npz":
        # With the latents that made each image, by code name (c1, c2, ...) and z: the images
        # alone would not say which code values they were drawn with.
        arrays = {"images": images.numpy(), "z": lat.z.cpu().numpy()}
        for i, name in enumerate(model.spec.names):
            kind, j = model.spec.slot(i)
            arrays[name] = (lat.cat if kind == "cat" else lat.cont)[:, j].cpu().numpy()
        # The keys are images, z and code names (c1, c2, ...), never savez's own allow_pickle.
        atomic_write(out, lambda f: np.savez_compressed(f, **arrays))  # type: ignore[arg-type]
    else:
        viz.save_grid(images, out, nrow=a.nrow)
    print(f"wrote {len(images)} images to {out}")
    return 0


def _traverse(a: argparse.Namespace) -> int:
    from infogan.model import MAX_FIGURE_VALUES
    from infogan.report import save_traversal

    # None: not given (the note below is for a --steps given, 9 included).
    steps = 9 if a.steps is None else a.steps
    if not 2 <= steps <= MAX_TRAVERSE_STEPS:
        raise SpecError(f"--steps: expected 2..{MAX_TRAVERSE_STEPS} columns, got {steps}")
    if not 0 < a.span <= MAX_SPAN:
        raise SpecError(f"--span: expected a number in (0, {MAX_SPAN:g}], got {a.span}")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out: {out} is a file; give a folder for the figures")
    if not out.exists() and out.suffix.lower() in (".png", ".jpg", ".jpeg", ".pdf"):
        raise SpecError(
            f"--out: give a folder for the figures (traverse writes traversal_CODE.png in it), "
            f"not {out}"
        )
    values = None
    if a.values is not None:
        values = _parse_int_list(a.values, "--values", MAX_FIGURE_VALUES)
    wanted = [n.strip() for given in a.code or [] for n in given.split(",") if n.strip()]
    if a.code is not None and not wanted:
        raise SpecError("--code: no code named; leave it out to draw every code")
    model = _load_for_use(a.run, a.device)
    # Each code once, by its canonical name; every figure's path checked before any is drawn.
    names = list(dict.fromkeys(model.spec.names[model.spec.index_of(n)] for n in wanted))
    names = names or list(model.spec.names)
    kinds = {name: model.spec.slot(model.spec.index_of(name))[0] for name in names}
    for name in names:  # values a figure cannot show: refused before any folder is made
        if values is None:
            continue
        # A categorical code's figure shows its own values; a continuous one's rows are values
        # of the first categorical code (model.traverse checks the same, but after the mkdir).
        i = model.spec.index_of(name) if kinds[name] == "cat" else model.spec.first_categorical()
        if i is None:
            raise SpecError(f"--values: {name} is continuous and the model has no categorical code")
        k = model.spec.codes[i].k  # type: ignore[union-attr]
        if max(values) >= k:
            raise SpecError(
                f"--values: {model.spec.names[i]} has values 0..{k - 1}, got {max(values)}"
            )
    paths = {name: out / f"traversal_{name}.png" for name in names}
    if out.is_dir():  # else the folder is made below, empty
        for path in paths.values():
            _new_file(path, a.force)  # a run's own figures stay the run's, --force or not
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if a.steps is not None and kinds[name] == "cat":
            print(f"note: --steps applies to continuous codes; {name} shows its values")
        save_traversal(model, name, paths[name], steps, a.span, a.seed, values)
        print(f"wrote {paths[name]}")
    return 0


#: ``export``'s format when --format is not given, by --out's suffix (a .pt file that is really
#: safetensors would fail in ``torch.jit.load`` far from where it was written).
_EXPORT_SUFFIXES = {
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".ts": "torchscript",
    ".onnx": "onnx",
    ".pt2": "pt2",
}


def _export(a: argparse.Namespace) -> int:
    from infogan.export import export_model

    suffix = Path(a.out).suffix.lower()
    fmt = a.fmt or _EXPORT_SUFFIXES.get(suffix, "safetensors")
    res = export_model(a.run, a.out, fmt, what=a.what, ema=a.ema, force=a.force)
    held = "every network" if a.what == "all" else res.generator
    print(f"wrote {res.model_path} and {res.sidecar_path} ({held}, step {res.step})")
    return 0


def _explore(a: argparse.Namespace) -> int:
    from infogan.explore import serve

    serve(a.run, host=a.host, port=a.port, device=a.device)
    return 0


def _load_for_use(run: str, device: str) -> InfoGAN:
    """:func:`~infogan.model.load_run`, saying which step it read when the run is training."""
    from infogan.model import load_run
    from infogan.runlock import note_if_training

    model = load_run(run, device=device)
    note_if_training(run, model.step)
    return model


def _encode(a: argparse.Namespace) -> int:
    from infogan.atomic import atomic_write
    from infogan.data import load_dataset
    from infogan.labels import code_table, current_labels, write_table

    out = _new_file(a.out, a.force)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("csv", "npz"):
        raise SpecError(f"--out: {out} should end in .csv or .npz")
    model = _load_for_use(a.run, a.device)
    c, side = model.nets.image_shape[:2]
    ds = load_dataset(a.data, split=a.split, size=side, channels=c)
    h, w = model.nets.image_shape[1:]
    if tuple(ds.images.shape[2:]) != (h, w):
        # Said here of the data as given: the model's message names the shape after the
        # channels were converted, (3, 28, 28) for a file of grey 28x28 images.
        raise DataError(
            f"encode: {a.data} holds {ds.images.shape[2]}x{ds.images.shape[3]} images, this "
            f"model reads {h}x{w}; arrays are not resized (a folder of image files is)"
        )
    cols = code_table(model, ds.images, files=ds.files)
    atomic_write(out, lambda f: write_table(f, cols, fmt))
    labelled = [n for n in model.spec.names if f"{n}_label" in cols]
    note = f" with labels from the saved mapping of {', '.join(labelled)}" if labelled else ""
    print(f"encoded {len(ds)} images to {a.out}{note}")
    _, why = current_labels(model)
    if why:
        print(f"note: no labels for some codes: {why}")
    elif model.spec.n_cat and not labelled:
        print(
            "note: no label columns: the run has no code -> label mapping (one is saved by "
            "evaluating on labelled data: infogan evaluate RUN --data LABELLED_DATA)"
        )
    return 0


def _bench(a: argparse.Namespace) -> int:
    from infogan.bench import run_bench
    from infogan.config import preset

    if a.json:
        _new_file(a.json, a.force, "--json")
    cfg = preset(a.preset)
    cfg.device, cfg.progress = a.device, False
    if a.width is not None:
        cfg.model.width = a.width
    if a.arch is not None:
        cfg.model.arch = a.arch
    if a.candidates is not None:
        cfg.candidates = a.candidates
    if a.select_steps is not None:
        _set_select_points(cfg, a.select_steps)
    if a.time_to_acc is None:
        # They shape the timed training of --time-to-acc only: ignored in silence, a user
        # believed the steps/s were of the recipe or data named.
        for flag, value in (
            ("--eval-data", a.eval_data),
            ("--eval-every", a.eval_every),
            ("--max-steps", a.max_steps),
            ("--candidates", a.candidates),
            ("--select-steps", a.select_steps),
        ):
            if value is not None:
                raise SpecError(
                    f"bench: {flag} is for --time-to-acc (the timed steps train no model to "
                    f"score); give --time-to-acc ACC, or leave {flag} out"
                )
    try:
        batches = [int(x) for x in a.batch.split(",")]
    except ValueError:
        raise SpecError(f"--batch: expected integers like 64,256, got {a.batch!r}") from None
    batches = list(dict.fromkeys(batches))  # 64,64 timed the same configuration twice
    for b in batches:
        cfg.batch = b
        cfg.validate()
    paths = None
    if a.path != "auto":
        paths = ["eager", "graph"] if a.path == "both" else [p.strip() for p in a.path.split(",")]
    precisions = [x.strip() for x in a.precision.split(",") if x.strip()] if a.precision else None
    if precisions == []:
        raise SpecError(f"--precision: none in {a.precision!r}; give one like fp32 or fp32,tf32")
    for prec in precisions or []:
        replace(cfg, precision=prec).validate()  # the config's own check and message
    formats = (
        [x.strip() for x in a.memory_format.split(",") if x.strip()] if a.memory_format else None
    )
    for fmt in formats or []:
        replace(cfg, memory_format=fmt).validate()
    if a.time_to_acc is not None:
        from infogan.atomic import atomic_write_bytes
        from infogan.bench import BENCH_PATHS, time_to_accuracy

        if not a.eval_data:
            raise SpecError("bench: --time-to-acc needs --eval-data (labelled test images)")
        if not 0 < a.time_to_acc <= 1:
            raise SpecError(f"--time-to-acc: an accuracy in (0, 1], got {a.time_to_acc}")
        # One timed training: each of these flags names one configuration or none.
        for flag, given in (
            ("--batch", batches),
            ("--path", paths),
            ("--precision", precisions),
            ("--memory-format", formats),
        ):
            if given is not None and len(given) > 1:
                raise SpecError(
                    f"bench: --time-to-acc times one training; give one value of {flag}, "
                    f"not {','.join(map(str, given))}"
                )
        cfg.batch = batches[0]
        if precisions:
            cfg.precision = precisions[0]
        if formats:
            cfg.memory_format = formats[0]
        if paths:
            if paths[0] not in BENCH_PATHS:
                raise SpecError(
                    f"--path: unknown path {paths[0]!r}; choose from {', '.join(BENCH_PATHS)}"
                )
            cfg.graph = "on" if paths[0].endswith("graph") else "off"  # on: CUDA only, said
            cfg.compile = paths[0].startswith("compile")
        res = time_to_accuracy(
            cfg,
            a.time_to_acc,
            a.eval_data,
            a.eval_every or 250,
            a.max_steps or 12_000,
            t_start=_T_START,
        )
        print(json.dumps({k: v for k, v in res.items() if k != "curve"}))
        if a.json:
            atomic_write_bytes(a.json, (json.dumps(res, indent=2) + "\n").encode())
        return 0
    run_bench(
        cfg,
        batches,
        steps=a.steps,
        warmup=a.warmup,
        json_path=a.json,
        preset=a.preset,
        paths=paths,
        precisions=precisions,
        memory_formats=formats,
        strict=True,
    )
    return 0


def _download(a: argparse.Namespace) -> int:
    from infogan.data import idx
    from infogan.data.download import DATASETS, download
    from infogan.data.registry import FASHION_MNIST_SYSTEM_DIR

    if a.dataset == "fashion-mnist" and idx.find_split_images(FASHION_MNIST_SYSTEM_DIR, "train"):
        # Said before any network access: --data fashion-mnist already reads that copy.
        print(
            f"note: the Debian package's copy in {FASHION_MNIST_SYSTEM_DIR} is what "
            "--data fashion-mnist reads; downloading a second one into the cache"
        )
    print(download(DATASETS[a.dataset], Path(a.root) if a.root else None, force=a.force))
    return 0


def _centrality(a: argparse.Namespace) -> int:
    from infogan.atomic import atomic_write_bytes
    from infogan.centrality import format_centrality, model_centrality
    from infogan.model import load_run
    from infogan.train import resolve_device

    if a.json:
        _new_file(a.json, a.force, "--json")
    device = resolve_device(a.device)
    paths = [Path(r) for r in a.runs]
    seen: dict[Path, Path] = {}
    for p in paths:
        if p.resolve() in seen:
            raise SpecError(f"centrality: {p} is given twice (also as {seen[p.resolve()]})")
        seen[p.resolve()] = p
    # Short names where they are unique (seed0, seed1, ...), the paths as given otherwise.
    names = [p.name or str(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    models = [load_run(p, device=device) for p in paths]
    # A run folder and its newest checkpoint file are one model: a tie of nothing with itself.
    weights: dict[str, Path] = {}
    for p, m in zip(paths, models, strict=True):
        other = weights.setdefault(m.weights_digest(), p)
        if other is not p:
            raise SpecError(f"centrality: {p} is the same model as {other} (the same weights)")
    res = model_centrality(
        models, names, groups=a.groups, group_size=a.group_size, n_var=a.n_var, seed=a.seed
    )
    print(format_centrality(res))
    print(f"selected: {paths[res.selected]}")
    if a.json:
        atomic_write_bytes(a.json, (json.dumps(res.to_dict(), indent=2) + "\n").encode())
        print(f"wrote {a.json}")
    return 0


def _info(a: argparse.Namespace) -> int:
    from infogan.atomic import atomic_write_bytes
    from infogan.labels import run_dir_of
    from infogan.runinfo import format_info, run_info

    to_stdout = a.json == "-"  # the JSON on stdout, the readable lines on stderr
    if a.json and not to_stdout:
        target = _new_file(a.json, a.force, "--json").resolve().parent
        for r in a.runs:
            run = run_dir_of(r) or Path(r)
            if target in (run.resolve(), (run / "checkpoints").resolve()):
                raise SpecError(f"--json: {a.json} is inside the run {run}; write it elsewhere")
    infos, failed = [], 0
    for r in a.runs:  # a damaged run is named, and the others are still shown
        try:
            infos.append(run_info(r))
        except InfoGANError as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            failed += 1
    if infos:  # none readable: the errors alone, no empty line after them
        print("\n\n".join(format_info(x) for x in infos), file=sys.stderr if to_stdout else None)
    if to_stdout:
        print(json.dumps(infos, indent=2))
    elif a.json:
        atomic_write_bytes(a.json, (json.dumps(infos, indent=2) + "\n").encode())
    return 2 if failed else 0


def _presets(_: argparse.Namespace) -> int:
    from infogan.config import PRESETS

    for name, (_, doc) in PRESETS.items():
        print(f"{name:12s} {doc}")
    return 0


_COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "sample": _sample,
    "traverse": _traverse,
    "encode": _encode,
    "export": _export,
    "explore": _explore,
    "download": _download,
    "bench": _bench,
    "sweep": _sweep,
    "presets": _presets,
    "centrality": _centrality,
    "info": _info,
}


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has gone (a broken pipe elsewhere,
    say a worker's, is an error to report): poll reports an error on such a pipe's end."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no real stdout
        return False


def _refuse_empty_paths(args: argparse.Namespace) -> None:
    """An empty ``--out`` or ``--json`` (a shell variable that was never set) is refused: as a
    path it is the current folder, so ``train --out ''`` trained into the default folder,
    ``traverse`` wrote into the current one and ``sweep`` made it the sweep's root."""
    for name in ("out", "json", "root"):  # root: download's (it fell back to ~/.cache)
        value = getattr(args, name, None)
        if isinstance(value, str) and not value.strip():
            raise SpecError(f"--{name}: empty; give a path (or leave --{name} out)")
    if getattr(args, "json", None) == "-" and args.command not in ("evaluate", "info"):
        # It wrote a file named "-" where evaluate and info print the JSON.
        raise SpecError(
            f"--json: '-' (JSON on stdout) is evaluate's and info's; give {args.command} a file"
        )


def _shorten(text: str, limit: int = 1000) -> str:
    """``text`` cut in the middle past ``limit`` characters: an error line quotes what it was
    given, and a 200 MB ``data`` string in a --config file was echoed whole."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-limit // 5 :]
    return f"{head} ...[{len(text) - len(head) - len(tail):,} characters left out]... {tail}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``infogan`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        # Every command: SIGTERM/SIGHUP unwind as Ctrl-C does, so atomic writes remove their
        # temporary files (a killed `sample -n 100000` left a hidden .tmp of 150 MB).
        with _terminate_as_interrupt():
            _refuse_empty_paths(args)
            if getattr(args, "imports", None):
                import_modules(args.imports)
            return _COMMANDS[args.command](args)
    except InfoGANError as e:
        print(f"error: {_shorten(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        if isinstance(e, BrokenPipeError) and _stdout_gone():
            # `infogan info RUN | head`: the reader has what it wanted; nothing to report.
            # Python's own advice: point stdout at devnull so the flush at exit fails no more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        # The machine's state, not a bug: a read-only or full disk, a path that is a file, ...
        if os.environ.get("INFOGAN_TRACEBACK"):
            raise
        where = e.filename2 or e.filename
        what = e.strerror or str(e) or type(e).__name__
        print(_shorten(f"error: {where}: {what}" if where else f"error: {what}"), file=sys.stderr)
        return 2
    except RecursionError:
        # json's decoder recurses once per level: a file of 100,000 nested brackets given as
        # --config, or left as a run's config.json or report.json, ended in a traceback.
        if os.environ.get("INFOGAN_TRACEBACK"):
            raise
        print(
            "error: a file read here is nested too deeply to be a config or report of "
            "infogan's (JSON arrays or objects thousands of levels deep)",
            file=sys.stderr,
        )
        return 2
    except (MemoryError, RuntimeError) as e:
        text = str(e)
        if not isinstance(e, MemoryError) and not any(
            s in text for s in ("out of memory", "can't allocate memory", "not enough memory")
        ):
            raise
        if os.environ.get("INFOGAN_TRACEBACK"):
            raise
        print(
            "error: out of memory ("
            + (text.splitlines()[0][:160] if text else "MemoryError")
            + "); try a smaller --batch, --width, --noise or sample count",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as e:
        print(f"interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
