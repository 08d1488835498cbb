"""Data-parallel training of one run over several processes (``TrainConfig.ddp``).

Each of ``ddp`` processes (one GPU each, or CPU processes talking over gloo) takes an equal
share of every batch; after each backward pass the gradients are averaged across processes
before the optimiser steps, and every batch-norm layer normalises with the statistics of the
*whole* batch (:class:`SyncBatchNorm`). Since every loss here is a mean over the batch (the
one batch-level term, the real-image information's marginal, is taken over the whole batch by
:func:`mean_over_processes`), the average of the shares' gradients is the gradient of the
whole batch, so a data-parallel run
computes the same steps as one process with the same global batch (up to the order of float
sums; ``tests/test_distributed.py`` checks it step by step). Its checkpoints are ordinary ones:
a run started on 4 GPUs resumes on one and the other way round.

Why not ``torch.nn.parallel.DistributedDataParallel``: a step here runs three backward passes
with ``backward(inputs=...)`` over overlapping parameter sets (the routing table in
:mod:`infogan.train`), where G's losses flow through D's parameters without updating them; a
wrapper that all-reduces on every gradient hook would average gradients that are then thrown
away and needs ``find_unused_parameters``. Averaging the group a backward pass was for, right
before its optimiser steps, says exactly what is meant. And torch's own ``SyncBatchNorm``
refuses CPU tensors, which would leave the data-parallel path untestable where CI runs.

Randomness stays counter-based: every process draws the whole step's batch indices, noise and
codes from ``(seed, step)`` and keeps its own rows, so the shares of one step are the rows of
the one-process batch.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, replace
from datetime import timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import FunctionCtx
from torch.nn.modules.batchnorm import _BatchNorm

from infogan import archs
from infogan.errors import InfoGANError, SpecError, TrainingError

if TYPE_CHECKING:  # pragma: no cover
    from infogan.config import TrainConfig
    from infogan.data import ImageDataset
    from infogan.train import TrainResult

__all__ = [
    "Group",
    "SyncBatchNorm",
    "sync_batch_norm",
    "average_gradients",
    "mean_over_processes",
    "mean_stats",
    "any_process",
    "shard",
    "ddp_devices",
    "launch",
]


@dataclass(frozen=True)
class Group:
    """This process's place in a data-parallel run: ``rank`` of ``world`` processes."""

    rank: int
    world: int

    @property
    def leader(self) -> bool:
        """Rank 0 writes the run's files (checkpoints, metrics, samples, report)."""
        return self.rank == 0


class _AllSum(torch.autograd.Function):
    """Sum over the processes. Its gradient is the sum of the processes' gradients: every
    process's loss depends on every process's share through the sum. Itself differentiable,
    for the double backward of the R1 penalty."""

    @staticmethod
    def forward(ctx: FunctionCtx, t: torch.Tensor) -> torch.Tensor:
        out = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return _AllSum.apply(grad)


def _sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over the processes, differentiable."""
    return _AllSum.apply(t)


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics are those of the whole batch across processes.

    A drop-in for ``BatchNorm1d``/``BatchNorm2d`` with the same parameters, buffers and
    state-dict keys (so checkpoints move between data-parallel and one-process runs). The
    statistics come from one differentiable collective per call, so the gradient reaches every
    process's rows as it would reach the rows of one batch. In eval mode, or with no process
    group, it is a plain batch norm.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3, 4, 5):
            raise ValueError(f"expected 2D to 5D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        dims = [d for d in range(input.dim()) if d != 1]
        x = input.float()
        # Every process holds an equal share of the batch (see shard).
        count = x.numel() // x.shape[1] * dist.get_world_size()
        # Sum and sum of squares in float64, in one collective: E[x^2] - E[x]^2 loses nothing
        # there that float32 batch norm keeps, and one collective per layer instead of two.
        x64 = x.double()
        sums = _sum(torch.stack([x64.sum(dims), x64.pow(2).sum(dims)])) / count
        mean64 = sums[0]
        var = (sums[1] - mean64.pow(2)).clamp_min(0).float()  # biased, as batch norm normalises
        mean = mean64.float()
        shape = [1, -1] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            counted, run_mean, run_var = (
                self.num_batches_tracked,
                self.running_mean,
                self.running_var,
            )
            assert counted is not None and run_mean is not None and run_var is not None
            with torch.no_grad():
                counted.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(counted)
                n = float(count)
                # The running variance is the unbiased one, as torch's batch norm keeps it.
                unbiased = var.detach() * (n / max(n - 1.0, 1.0))
                run_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                run_var.mul_(1 - m).add_(unbiased, alpha=m)
        return y.to(input.dtype)


def sync_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every batch-norm layer replaced, in place, by a :class:`SyncBatchNorm`
    holding the same tensors; returns it (or the replacement, when ``module`` is one)."""
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        new = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean = module.running_mean
            new.running_var = module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, sync_batch_norm(child))
    return module


@torch.no_grad()
def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Replace each gradient by its mean over the ``world`` processes: one all-reduce of all
    of them flattened together (one collective per backward pass, not one per tensor)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_over_processes(probs: torch.Tensor) -> torch.Tensor:
    """The mean over every process's rows of ``probs`` ([n, K] each), differentiable: what
    ``losses.real_code_information`` needs for the marginal of the whole batch."""
    return _sum(probs.sum(0)) / (len(probs) * dist.get_world_size())


def shard(inputs: dict[str, torch.Tensor], batch: int, group: Group) -> dict[str, torch.Tensor]:
    """This process's rows of one step's inputs drawn for the whole ``batch``: tensors of
    ``batch`` rows are cut into ``world`` equal slices, tensors of ``3 * batch`` rows (one per
    D/Q input image: real, fake, G-step fake) per third; anything else is kept whole."""
    per = batch // group.world
    lo, hi = group.rank * per, (group.rank + 1) * per
    out = {}
    for k, v in inputs.items():
        if v.dim() and v.shape[0] == batch:
            out[k] = v[lo:hi]
        elif v.dim() and v.shape[0] == 3 * batch:
            out[k] = v.view(3, batch, *v.shape[1:])[:, lo:hi].reshape(3 * per, *v.shape[1:])
        else:
            out[k] = v
    return out


def any_process(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is true in any process (a collective: every process must call it)."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def mean_stats(vals: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Logged statistics (floats and lists of floats, the same keys in every process) averaged
    over the processes: each process's are means over its share of the batch."""
    keys = sorted(vals)
    flat: list[float] = []
    for k in keys:
        flat.extend(vals[k] if isinstance(vals[k], list) else [vals[k]])
    t = torch.tensor(flat, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    it = iter(t.tolist())
    return {k: [next(it) for _ in vals[k]] if isinstance(vals[k], list) else next(it) for k in keys}


def ddp_devices(device: str, n: int) -> list[str]:
    """One device per process: ``cpu`` for all on the CPU; on CUDA GPU ``r`` for rank ``r``
    (raises when there are fewer GPUs than processes, or one GPU is named)."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return ["cpu"] * n
    if device not in ("auto", "cuda"):
        raise SpecError(
            f"ddp: each process takes a GPU of its own; give --device cuda or auto, not {device!r}"
        )
    count = torch.cuda.device_count()
    if count < n:
        raise SpecError(f"ddp: {n} processes need {n} GPUs; this machine has {count}")
    return [f"cuda:{r}" for r in range(n)]


def _worker(
    rank: int,
    world: int,
    store: str,
    cfg: TrainConfig,
    run_dir: Path,
    dataset: ImageDataset | None,
    resume: bool,
    finish: bool,
    threads: int,
    conn: Connection[tuple[str, Any], Any],
    parent: int,
    arches: dict[str, Any],
) -> None:
    """One process of a data-parallel run; reports ``("done", result)`` (rank 0's carries the
    :class:`~infogan.train.TrainResult`) or ``(kind, message)`` through ``conn``. ``arches``:
    the parent's registered networks (:func:`infogan.archs.shipped`)."""
    from infogan.parallel import detach_worker
    from infogan.train import Trainer

    detach_worker(parent)
    archs.receive(arches)
    torch.set_num_threads(threads)
    device = torch.device(cfg.device)
    try:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            init_method=f"file://{store}",
            rank=rank,
            world_size=world,
            timeout=timedelta(minutes=10),
        )
        trainer = Trainer(cfg, run_dir, dataset=dataset, resume=resume, group=Group(rank, world))
        result = trainer.run(finish=finish and rank == 0)
        _send(conn, ("done", result if rank == 0 else None))
    except KeyboardInterrupt as e:
        _send(conn, ("interrupted", str(e)))
    except InfoGANError as e:
        _send(conn, ("error", str(e)))
    except Exception as e:  # anything else: name it in one line, the parent raises
        _send(conn, ("error", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
    finally:
        conn.close()
        if dist.is_initialized():
            dist.destroy_process_group()


def _send(conn: Connection[tuple[str, Any], Any], message: tuple[str, Any]) -> None:
    """Report to the parent; nobody to tell when it has died (the work is already saved)."""
    with contextlib.suppress(OSError):  # BrokenPipeError: the parent is gone
        conn.send(message)


def launch(
    cfg: TrainConfig,
    run_dir: str | Path,
    dataset: ImageDataset | None = None,
    resume: bool = False,
    finish: bool = True,
) -> TrainResult:
    """Train one run with ``cfg.ddp`` data-parallel processes; returns rank 0's result.

    Processes are spawned here, rendezvous through a file (no network port is opened), and
    are stopped together: the first Ctrl-C / SIGTERM is forwarded to each, they agree on a step
    to stop at, rank 0 writes a checkpoint, and this raises ``KeyboardInterrupt``. When one
    process fails the others are stopped and this raises its error.
    """
    from infogan.runlock import run_lock

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):  # the ranks train under this process's lock
        return _launch(cfg, run_dir, dataset, resume, finish)


#: Prefix of the temporary folder of a launch's rendezvous file.
STORE_PREFIX = "infogan-ddp-"

#: A folder whose launching process is gone is removed once it is this old: its workers,
#: told of the parent's death, may still be agreeing on a step and writing a checkpoint.
STALE_STORE_S = 600.0


def _remove_stale_stores() -> None:
    """Remove the rendezvous folders that launches killed with SIGKILL left in the temporary
    folder (nothing of theirs ran to remove them): a folder goes once the process named in its
    ``parent`` file no longer exists and the folder is :data:`STALE_STORE_S` old."""
    import time

    for folder in Path(tempfile.gettempdir()).glob(STORE_PREFIX + "*"):
        try:
            note = folder / "parent"
            pid = int(note.read_text())
            if time.time() - note.stat().st_mtime < STALE_STORE_S:
                continue
            os.kill(pid, 0)  # raises ProcessLookupError once the launcher is gone
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue  # alive, another user's, or not one of ours


def _launch(
    cfg: TrainConfig,
    run_dir: str | Path,
    dataset: ImageDataset | None,
    resume: bool,
    finish: bool,
) -> TrainResult:
    """The body of :func:`launch` once the run's lock is held."""
    from infogan.parallel import _Forward

    world = cfg.ddp
    devices = ddp_devices(cfg.device, world)
    threads = max(1, torch.get_num_threads() // world) if devices[0] == "cpu" else 1
    ctx = mp.get_context("spawn")
    _remove_stale_stores()
    tmp = tempfile.mkdtemp(prefix=STORE_PREFIX)
    Path(tmp, "parent").write_text(str(os.getpid()))
    store = os.path.join(tmp, "store")
    running: dict[int, tuple[Any, Any, Any]] = {}
    reports: dict[int, tuple[str, Any]] = {}
    killed = False  # whether this process has killed the workers still running
    from infogan.parallel import check_spawnable

    check_spawnable()
    archs.check_shippable(cfg.model.arch)  # one error now, not one per worker
    arches = archs.shipped()
    try:
        with _Forward(running) as stop:
            for rank in range(world):
                recv, send = ctx.Pipe(duplex=False)
                rcfg = replace(cfg, device=devices[rank], progress=cfg.progress and rank == 0)
                proc = ctx.Process(
                    target=_worker,
                    args=(rank, world, store, rcfg, Path(run_dir), dataset, resume, finish),
                    kwargs={
                        "threads": threads,
                        "conn": send,
                        "parent": os.getpid(),
                        "arches": arches,
                    },
                )
                proc.start()
                send.close()
                running[rank] = (proc, None, recv)
            while running:
                wait([p.sentinel for p, _, _ in running.values()])
                for rank, (proc, _, recv) in list(running.items()):
                    if proc.is_alive():
                        continue
                    proc.join()
                    reports[rank] = _report(proc, recv, rank, expected=stop.requested or killed)
                    recv.close()
                    del running[rank]
                    if reports[rank][0] == "error":
                        # The others wait in a collective for the one that failed: they cannot
                        # stop at a step boundary, so they are killed (rank 0 keeps its files
                        # up to its last checkpoint).
                        killed = True
                        for p, _, _ in running.values():
                            p.kill()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    errors = [m for k, m in reports.values() if k == "error"]
    if errors:
        raise TrainingError(f"ddp: {errors[0]}")
    if any(k == "interrupted" for k, _ in reports.values()) or stop.requested:
        msg = reports.get(0, ("interrupted", "stopped"))[1]
        raise KeyboardInterrupt(msg if isinstance(msg, str) else "stopped")
    return reports[0][1]


def _report(
    proc: BaseProcess, recv: Connection[Any, tuple[str, Any]], rank: int, expected: bool
) -> tuple[str, Any]:
    """What worker ``rank`` sent before it ended, or what its end says. ``expected``: it was
    stopped or killed from here, so a signal ended it on purpose."""
    try:
        if recv.poll():
            return recv.recv()
    except EOFError:  # the pipe was closed with nothing in it
        pass
    code = proc.exitcode
    if code in (-signal.SIGKILL, -signal.SIGTERM):
        if expected:
            return ("interrupted", "stopped")
        # Killed from outside (often the kernel's out-of-memory killer): said of this rank,
        # not left to the survivors, whose collective fails with "Connection closed by peer".
        return ("error", f"the process of rank {rank} was killed ({signal.Signals(-code).name})")
    return ("error", f"the process of rank {rank} ended with exit code {code}")
