"""``infogan bench``: time training steps after warm-up and relate them to the machine's peak.

For each configuration it reports steps/s, images/s, the FLOPs of one step (counted by
``torch.utils.flop_counter`` on the real step: forward and backward of D and G/Q) and the fraction
of the machine's matmul peak that this throughput is, where the peak is measured by this same run:
fp32 matmul on a CPU, bf16 and tf32 matmul on a GPU (the larger one is the denominator, so the
fraction is never flattered). Synthetic images are used so the numbers measure the model and the
training step, not a disk.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from infogan.atomic import atomic_write_bytes
from infogan.config import TrainConfig
from infogan.data import ImageDataset
from infogan.errors import SpecError, TrainingError
from infogan.nets import image_shape
from infogan.train import Trainer, resolve_device, wants_channels_last

__all__ = ["BenchResult", "matmul_peak", "step_flops", "bench_config", "run_bench"]


@dataclass
class BenchResult:
    """One timed configuration (one JSON object of the bench's output)."""

    device: str
    device_name: str
    preset: str
    path: str
    precision: str
    memory_format: str
    batch: int
    arch: str  # the network family (a user's registered one too)
    width: float  # the networks' width multiplier: a --width 0.25 row is no full-width one
    codes: str
    effective_precision: str  # tf32 is fp32 on a CPU (no tensor cores)
    steps: int
    seconds: float
    steps_per_second: float
    images_per_second: float
    flops_per_step: float
    achieved_flops: float
    peak_flops: float
    peak_kind: str
    fraction_of_peak: float
    threads: int


def _effective_precision(precision: str, device: torch.device) -> str:
    """What the matmuls run in: tf32 is plain fp32 off CUDA (no tensor cores)."""
    return "fp32" if device.type != "cuda" and precision == "tf32" else precision


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    n: int | None = None,
    seconds: float = 1.0,
) -> float:
    """Measured dense matmul throughput (FLOP/s) of ``n x n`` by ``n x n`` products."""
    n = n or (2048 if device.type == "cpu" else 8192)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    reps, t0 = 0, time.perf_counter()
    while True:
        a @ b
        reps += 1
        if reps % 4 == 0:
            _sync(device)
            if time.perf_counter() - t0 > seconds:
                break
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def peak_for(device: torch.device) -> tuple[float, str]:
    """The denominator of ``fraction_of_peak``: fp32 on CPU; max(bf16, tf32) on a GPU."""
    if device.type == "cpu":
        return matmul_peak(device, torch.float32), "fp32 matmul"
    old = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        tf32 = matmul_peak(device, torch.float32)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    bf16 = matmul_peak(device, torch.bfloat16)
    return (bf16, "bf16 matmul") if bf16 >= tf32 else (tf32, "tf32 matmul")


def _synthetic(cfg: TrainConfig, n: int) -> ImageDataset:
    c, h, w = image_shape(cfg.model)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    return ImageDataset(images, None, "synthetic")


def step_flops(trainer: Trainer) -> float:
    """FLOPs of one real training step, counted by torch's FLOP counter (matmuls and convs)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # The plain step: a compiled one does the same matmuls and convs, but the counter sees
    # only what runs through the dispatcher eagerly.
    step_fn, trainer.step_fn = trainer.step_fn, trainer.step_body
    try:
        with counter:
            trainer.train_step(0)
    finally:
        trainer.step_fn = step_fn
    return float(counter.get_total_flops())


#: How ``infogan bench`` can run steps (see :func:`bench_config`).
BENCH_PATHS = ("eager", "graph", "compile", "compile+graph")


def bench_config(
    cfg: TrainConfig,
    steps: int,
    warmup: int,
    peak: tuple[float, str],
    preset: str = "custom",
    path: str = "eager",
) -> BenchResult:
    """Time ``steps`` training steps of ``cfg`` after ``warmup`` untimed ones.

    ``path`` is how steps run: ``eager`` (plain PyTorch), ``graph`` (the CUDA-graph stepper that
    training uses on a GPU, capture included in the untimed part), ``compile`` (the step body
    through ``torch.compile``, launched eagerly) or ``compile+graph`` (compiled, then captured);
    compiling happens in the untimed warm-up. Each step draws its own inputs exactly as
    training does, so the number is what ``infogan train`` gets, minus logging.
    """
    from infogan.fastpath import EagerStepper, GraphedStepper

    device = resolve_device(cfg.device)
    graph = "on" if path.endswith("graph") else "off"
    cfg = replace(cfg, graph=graph, compile=path.startswith("compile"))
    data = _synthetic(cfg, max(4 * cfg.batch, 1024))
    trainer = Trainer(cfg, run_dir="unused", dataset=data)
    flops = step_flops(trainer)
    stepper = GraphedStepper(trainer) if graph == "on" else EagerStepper(trainer)
    for t in range(warmup):
        stepper.step(t)
    _sync(device)
    t0 = time.perf_counter()
    for t in range(warmup, warmup + steps):
        stepper.step(t)
    _sync(device)
    seconds = time.perf_counter() - t0
    stepper.read()  # the statistics must be finite: a fast path computing NaN is not fast
    sps = steps / seconds
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return BenchResult(
        device=str(device),
        device_name=name,
        preset=preset,
        path=path,
        precision=cfg.precision,
        memory_format=(
            "channels_last"
            if wants_channels_last(cfg.memory_format, device, cfg.model.arch)
            else "contiguous"
        ),
        batch=cfg.batch,
        arch=cfg.model.arch,
        width=cfg.model.width,
        codes=cfg.model.codes,
        effective_precision=_effective_precision(cfg.precision, device),
        steps=steps,
        seconds=seconds,
        steps_per_second=sps,
        images_per_second=sps * cfg.batch,
        flops_per_step=flops,
        achieved_flops=flops * sps,
        peak_flops=peak[0],
        peak_kind=peak[1],
        fraction_of_peak=flops * sps / peak[0],
        threads=torch.get_num_threads(),
    )


def run_bench(
    cfg: TrainConfig,
    batches: list[int],
    steps: int,
    warmup: int,
    json_path: str | Path | None = None,
    preset: str = "custom",
    paths: list[str] | None = None,
    precisions: list[str] | None = None,
    memory_formats: list[str] | None = None,
    strict: bool = False,
) -> list[BenchResult]:
    """Bench every (path, precision, batch), print a table, write JSON (a list of objects).

    Defaults: on CPU the eager fp32 step only; on CUDA both paths (eager, graph) and the
    precision of ``cfg``. A configuration that fails (say, graph capture on an old driver) is
    reported as failed and the rest still run; with ``strict`` a :class:`TrainingError` then
    follows the table (the CLI's non-zero exit), after the JSON of the others is written.
    """
    device = resolve_device(cfg.device)
    if paths is None:
        paths = ["eager", "graph"] if device.type == "cuda" else ["eager"]
    if precisions is None:
        precisions = [cfg.precision]
    for p in paths:
        if p not in BENCH_PATHS:
            raise SpecError(f"bench: unknown path {p!r}; choose from {', '.join(BENCH_PATHS)}")
        if p.endswith("graph") and device.type != "cuda":
            raise SpecError(f"bench: the {p} path needs a CUDA device")
    peak = peak_for(device)
    print(
        f"device {device}: measured {peak[1]} peak {peak[0] / 1e9:.1f} GFLOP/s "
        f"({torch.get_num_threads()} threads)",
        flush=True,
    )
    results = []
    failed = 0
    combos = [
        (prec, p, fmt, b)
        for prec in precisions
        for p in paths
        for fmt in memory_formats or [cfg.memory_format]
        for b in batches
    ]
    for prec, p, fmt, b in combos:
        c = replace(cfg, batch=b, precision=prec, memory_format=fmt)
        label = f"{p:13s} {prec:4s} {fmt:13s} batch {b:5d}"
        try:
            r = bench_config(c, steps, warmup, peak, preset=preset, path=p)
        except Exception as e:  # report and go on: one broken path must not hide the rest
            print(f"  {label}: FAILED ({e})", flush=True)
            failed += 1
            continue
        # What ran, not what was asked: "auto" is a layout, tf32 on a CPU is fp32.
        label = f"{p:13s} {r.effective_precision:4s} {r.memory_format:13s} batch {b:5d}"
        results.append(r)
        print(
            f"  {label}: {r.steps_per_second:8.1f} steps/s  "
            f"{r.images_per_second:10.0f} images/s  "
            f"{r.flops_per_step / 1e9:6.2f} GFLOP/step  {r.fraction_of_peak:6.1%} of peak",
            flush=True,
        )
    if json_path:
        atomic_write_bytes(
            json_path, (json.dumps([asdict(r) for r in results], indent=2) + "\n").encode()
        )
    if strict and failed:
        raise TrainingError(
            f"bench: {failed} of {len(combos)} configurations failed (above)"
            + ("; the others are in " + str(json_path) if json_path and results else "")
        )
    return results


def time_to_accuracy(
    cfg: TrainConfig,
    target: float,
    eval_data: str,
    eval_every: int = 250,
    max_steps: int | None = None,
    t_start: float | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` until the first categorical code's Hungarian-matched accuracy on the
    labelled ``eval_data`` reaches ``target``; report steps and seconds.

    ``wall_seconds`` counts from ``t_start`` (default: now; the CLI passes its own start time, so
    start-up counts) and includes the evaluations; ``train_seconds`` is the training alone.
    Labels are read only by the periodic evaluation, never by training.
    """
    from infogan.data import load_dataset
    from infogan.evaluate import cluster_codes
    from infogan.fastpath import GraphedStepper, make_stepper
    from infogan.model import InfoGAN
    from infogan.prepare import image_side

    t0 = time.perf_counter() if t_start is None else t_start
    # Where the wall time goes (start-up, building, graph capture, steps, scoring, evaluation),
    # so that a slow time to accuracy says which part to make faster.
    phases: dict[str, float] = {"before_call_s": time.perf_counter() - t0}
    t = time.perf_counter()
    device = resolve_device(cfg.device)
    test = load_dataset(eval_data, split="test", size=image_side(cfg), channels=cfg.model.channels)
    phases["eval_data_s"] = time.perf_counter() - t
    max_steps = max_steps or cfg.steps
    train_s, curve, reached = 0.0, [], None
    selection = None

    def _add(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - since
        return now

    if cfg.candidates > 1:
        # The selection recipe, in memory: K short candidates, the best by the unsupervised
        # score kept at each selection point (as train_selected does), the winner continued.
        # Candidate time counts as training time.
        from infogan.select import assess, candidate_seed, rank, selection_stages

        alive: dict[int, tuple[Trainer, Any]] = {}
        for i in range(cfg.candidates):
            ccfg = replace(cfg, seed=candidate_seed(cfg.seed, i), candidates=1)
            t = time.perf_counter()
            trainer = Trainer(ccfg, run_dir="unused")
            t = _add("build_s", t)
            alive[i] = (trainer, make_stepper(trainer))
            _add("capture_s", t)
        selection = []
        step = 0
        for at, keep in selection_stages(replace(cfg, steps=max_steps)):
            records, parts, models = [], [], []
            for trainer, stepper in alive.values():
                t = time.perf_counter()
                for st in range(step, at):
                    stepper.step(st)
                _sync(device)
                train_s += time.perf_counter() - t
                t = _add("candidate_steps_s", t)
                s, part = assess(trainer.model, trainer.dataset)
                _add("assess_s", t)
                records.append(
                    {"seed": trainer.cfg.seed, "step": at, "score": s["score"]}
                    | ({"noise_use": s["noise_use"]} if "noise_use" in s else {})
                )
                parts.append(part)
                models.append(trainer.model)
            ids = list(alive)
            order = rank(records, parts, cfg.select_rule, models, cfg.select_min_noise_use)
            kept = [ids[j] for j in order[:keep]]
            selection += records
            alive = {i: alive[i] for i in kept}
            step = at
        trainer, stepper = alive[kept[0]]
        del alive
    else:
        t = time.perf_counter()
        trainer = Trainer(cfg, run_dir="unused")
        t = _add("build_s", t)
        stepper = make_stepper(trainer)
        _add("capture_s", t)
        step = 0
    model = InfoGAN(trainer.nets, cfg, device=device)
    first_eval = True
    while step < max_steps or first_eval:
        first_eval = False
        t = time.perf_counter()
        for _ in range(min(eval_every, max_steps - step)):
            stepper.step(step)
            step += 1
        _sync(device)
        train_s += time.perf_counter() - t
        t = _add("steps_s", t)
        acc = cluster_codes(model, test)
        _add("eval_s", t)
        first = next(iter(acc.values()))["accuracy"] if acc else float("nan")
        curve.append({"step": step, "accuracy": first, "wall_s": time.perf_counter() - t0})
        print(f"  step {step:6d}: accuracy {first:.4f}  ({curve[-1]['wall_s']:.1f} s)", flush=True)
        if first >= target:
            reached = curve[-1]
            break
    return {
        "target": target,
        "eval_data": eval_data,
        "device": str(device),
        # How the steps ran: what a time depends on besides the machine.
        "precision": cfg.precision,
        "effective_precision": _effective_precision(cfg.precision, device),
        "graph": isinstance(stepper, GraphedStepper),
        "compile": cfg.compile,
        "memory_format": cfg.memory_format,
        "batch": cfg.batch,
        "arch": cfg.model.arch,
        "width": cfg.model.width,
        "reached": reached is not None,
        "steps": reached["step"] if reached else None,
        "wall_seconds": reached["wall_s"] if reached else None,
        "train_seconds": train_s,
        "curve": curve,
        "candidates": cfg.candidates,
        "selection": selection,
        "phases": {k: round(v, 3) for k, v in phases.items()},
    }
