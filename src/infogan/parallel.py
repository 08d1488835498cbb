"""Train several independent runs ("legs") side by side, one worker process each.

Candidate selection trains K short runs that never interact, which is work that parallelises
perfectly, while one InfoGAN step at batch 64 does not: on a CPU its small matmuls leave cores
idle (on the 2-core development machine one process with 2 threads made 26.9 half-width steps/s
where two processes with 1 thread each made 16.0 + 15.9), and on a machine with several GPUs
each leg can have a GPU of its own. On one GPU, processes time-slice it; leave ``parallel`` at 1
there.

Each leg runs in a fresh (spawned) process in its own process group, so a Ctrl-C or SIGTERM
reaches the parent only; the parent forwards one SIGTERM to every running leg, whose trainer
then stops at a step boundary and writes a checkpoint (``train._GracefulStop``), and raises
``KeyboardInterrupt`` once they have. Training draws its randomness from (seed, step) counters,
so a leg computes the same run in a worker as in the parent (up to the last bits where the
thread count changes how a CPU kernel splits a sum).

Workers are spawned, not forked (CUDA cannot be forked, and a fork would copy the parent's
threads' state), so a Python script that trains with ``parallel > 1`` needs the usual
``if __name__ == "__main__":`` guard; the ``infogan`` command has it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from infogan import archs
from infogan.config import TrainConfig
from infogan.data import ImageDataset
from infogan.errors import InfoGANError, SpecError, TrainingError
from infogan.train import Trainer, _GracefulStop, mark_worker_process, run_one

__all__ = ["Leg", "run_legs", "leg_devices"]


@dataclass(frozen=True)
class Leg:
    """One run to train up to ``cfg.steps`` in ``run_dir`` (from its checkpoint if ``resume``)."""

    cfg: TrainConfig
    run_dir: Path
    resume: bool
    label: str = ""
    """How messages name the leg (e.g. ``candidate 2/4``)."""


def leg_devices(device: str, n: int) -> list[str]:
    """The device of each of ``n`` worker slots: ``cpu`` for the CPU; with ``auto``/``cuda`` and
    several GPUs, slot j gets GPU ``j mod count``; an explicit ``cuda:N`` is kept for all."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return ["cpu"] * n
    if device in ("auto", "cuda"):
        count = max(1, torch.cuda.device_count())
        return [f"cuda:{j % count}" for j in range(n)]
    return [device] * n


def _threads(n: int) -> str:
    return f", {n} thread{'s' if n > 1 else ''}"


def check_spawnable() -> None:
    """Workers are spawned: each runs the main script again (``__main__.__file__``) before its
    work. A script read from standard input (``python -``) names ``<stdin>``, which a worker
    cannot read: every worker died with ``FileNotFoundError`` and the parent said only "exit
    code 1". Refused here in one line, before any worker starts."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(main_file, str) and not os.path.exists(main_file):
        raise SpecError(
            f"parallel workers re-run the main script, and {main_file} cannot be read again "
            "(a script from standard input?): save it to a file, or train one start at a time "
            "(parallel=1, no ddp)"
        )


def detach_worker(parent: int) -> None:
    """Start of a worker process: its own process group, so that a Ctrl-C in the terminal
    reaches the parent only (which forwards exactly one SIGTERM); and, on Linux, a SIGTERM when
    the parent dies (even by SIGKILL), so that an orphaned worker stops at its next step with a
    checkpoint instead of training on unseen. ``parent``: the parent's pid, as it was when it
    started the worker (if it has already gone, the worker stops at once)."""
    os.setpgrp()
    mark_worker_process()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # no prctl: the worker outlives its parent
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _leg_main(
    leg: Leg,
    device: str,
    threads: int,
    dataset: ImageDataset | None,
    conn: Connection[tuple[str, str] | None, Any],
    parent: int,
    arches: dict[str, Any],
) -> None:
    """Worker process: train one leg, report ``None`` or ``(kind, message)`` through ``conn``.
    ``arches``: the parent's registered networks (:func:`infogan.archs.shipped`)."""
    detach_worker(parent)
    archs.receive(arches)
    torch.set_num_threads(threads)
    outcome: tuple[str, str] | None = None
    try:
        cfg = replace(leg.cfg, device=device, progress=False)
        Trainer(cfg, leg.run_dir, dataset=dataset, resume=leg.resume).run(finish=False)
    except KeyboardInterrupt as e:
        outcome = ("interrupted", str(e))
    except InfoGANError as e:
        outcome = ("error", str(e))
    except Exception as e:  # anything else: name it in one line, the parent raises
        outcome = ("error", f"{type(e).__name__}: {e}")
    try:
        conn.send(outcome)
    except OSError:  # BrokenPipeError: the parent was killed; the checkpoint is saved anyway
        pass
    finally:
        conn.close()


def _outcome(
    proc: BaseProcess, recv: Connection[Any, tuple[str, str] | None], stopping: bool
) -> tuple[str, str] | None:
    """A finished worker's report: None (done) or ``(kind, message)``. A worker that sent
    nothing died before it could: killed by the SIGTERM the parent forwards while stopping (it
    can land before the worker's handler is installed) or crashed."""
    try:
        if recv.poll():
            return recv.recv()
    except EOFError:  # poll() is also true when the pipe was closed with nothing in it
        pass
    if stopping and proc.exitcode == -signal.SIGTERM:
        return ("interrupted", "stopped before its first checkpoint")
    return ("error", f"exit code {proc.exitcode}")


class _Forward(_GracefulStop):
    """While active, the first SIGINT/SIGTERM sets ``requested`` and sends one SIGTERM to every
    running worker; a second one raises KeyboardInterrupt at once (the user means it). Installs
    and restores its handlers as the trainer's :class:`~infogan.train._GracefulStop` does."""

    def __init__(self, running: dict[int, Any]) -> None:
        super().__init__()
        self.running = running

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        for proc, _, _ in list(self.running.values()):
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)


def _run_here(legs: list[Leg], dataset: ImageDataset | None) -> None:
    for leg in legs:
        print(f"{leg.label}: to step {leg.cfg.steps}", flush=True)
        run_one(leg.cfg, leg.run_dir, dataset=dataset, resume=leg.resume, finish=False)


def run_legs(
    legs: list[Leg],
    parallel: int,
    device: str,
    dataset: ImageDataset | None,
    share: int | None = None,
) -> None:
    """Train every leg, at most ``parallel`` at a time in worker processes (``parallel`` <= 1 or a
    single leg: in this process). Raises :class:`KeyboardInterrupt` (after every running leg has
    saved a checkpoint) when stopped, and :class:`TrainingError` naming the leg when one fails.

    On the CPU each leg gets the torch threads it would get with ``share`` legs (default: these)
    side by side, ``min(parallel, share)`` of them: a resumed selection with some candidates
    finished trains the rest as the uninterrupted one did (thread counts change the last bits of
    a CPU step, and so, over a run, possibly which candidate wins).
    """
    share = max(len(legs), share or 0)
    if parallel <= 1:
        _run_here(legs, dataset)
        return
    cpu = leg_devices(device, 1)[0] == "cpu"
    threads = max(1, torch.get_num_threads() // min(parallel, share)) if cpu else 1
    if len(legs) <= 1:
        before = torch.get_num_threads()
        torch.set_num_threads(threads if cpu else before)
        try:
            _run_here(legs, dataset)
        finally:
            torch.set_num_threads(before)
        return
    n = min(parallel, len(legs))
    devices = leg_devices(device, n)
    ctx = mp.get_context("spawn")
    check_spawnable()
    archs.check_shippable(legs[0].cfg.model.arch)  # one error now, not one per worker
    arches = archs.shipped()
    pending = list(legs)
    running: dict[int, tuple[Any, Leg, Any]] = {}  # slot -> (process, leg, pipe)
    free = list(range(n))
    failures: list[str] = []
    with _Forward(running) as stop:
        while (pending and not stop.requested and not failures) or running:
            while pending and free and not stop.requested and not failures:
                slot, leg = free.pop(0), pending.pop(0)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_leg_main,
                    args=(leg, devices[slot], threads, dataset, send, os.getpid(), arches),
                )
                proc.start()
                send.close()
                running[slot] = (proc, leg, recv)
                print(
                    f"{leg.label}: to step {leg.cfg.steps} (worker {slot + 1}/{n}, "
                    f"{devices[slot]}{_threads(threads) if devices[slot] == 'cpu' else ''})",
                    flush=True,
                )
            wait([p.sentinel for p, _, _ in running.values()])
            for slot, (proc, leg, recv) in list(running.items()):
                if proc.is_alive():
                    continue
                proc.join()
                msg = _outcome(proc, recv, stopping=stop.requested or bool(failures))
                recv.close()
                del running[slot]
                free.append(slot)
                if msg is not None and msg[0] == "error":
                    failures.append(f"{leg.label}: {msg[1]}")
                    for p, _, _ in running.values():  # stop the others cleanly too
                        os.kill(p.pid, signal.SIGTERM)
                elif msg is not None:
                    stop.requested = True
    if failures:
        raise TrainingError(failures[0])
    if stop.requested:
        raise KeyboardInterrupt("stopped; every running leg kept its checkpoint")
