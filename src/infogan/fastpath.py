"""How training steps are executed: eagerly, or replayed from a CUDA graph (the fast path).

Both steppers run the same :meth:`Trainer.step_body` (or its compiled form, ``Trainer.step_fn``)
on the same inputs drawn by
:meth:`Trainer.sample_inputs`, and accumulate the same statistics; they differ only in how the work
reaches the GPU. Eager PyTorch issues a few hundred small kernels per step and, at batch 64 on an
H100, is bound by launch overhead, not arithmetic. The graphed stepper captures the whole step body
(D step, G/Q step, both fused Adam updates, the statistics) once, then each step costs a handful of
launches that draw that step's randomness into static buffers plus one ``graph.replay()``.

Capture needs warm-up iterations (lazy optimiser state, cuDNN and cuBLAS autotuning). They would
change the model, so the whole training state (parameters, batch-norm buffers, optimiser state) is
snapshotted before and written back in place after: the graphed run starts from exactly the state
an eager run would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # pragma: no cover
    from infogan.train import Trainer

__all__ = ["EagerStepper", "GraphedStepper", "make_stepper"]

log = logging.getLogger("infogan")


class EagerStepper:
    """Plain PyTorch: draw inputs, run the step body, accumulate statistics."""

    def __init__(self, trainer: Trainer) -> None:
        self.t = trainer
        self.acc = _zero_stats(trainer)
        # Steps that produced each statistic (the CR ones only come from steps with CR work).
        self.seen = dict.fromkeys(self.acc, 0)
        self.count = 0

    def step(self, step: int) -> None:
        stats = self.t.train_step(step)
        for k, v in stats.items():
            self.acc[k].add_(v)
            self.seen[k] += 1
        self.count += 1

    def pending(self) -> dict[str, Any] | None:
        """The statistics of steps run since the last read (None if none), for a checkpoint
        written between two logged rows: restored with :meth:`load_pending`, the next row of a
        resumed run averages the same steps as the uninterrupted run's."""
        if not self.count:
            return None
        return {
            "acc": {k: v.detach().cpu().clone() for k, v in self.acc.items()},
            "seen": dict(self.seen),
            "count": self.count,
        }

    def load_pending(self, pending: dict[str, Any]) -> None:
        """Take back what :meth:`pending` saved (in place: a captured graph adds into these)."""
        for k, v in pending["acc"].items():
            if k in self.acc:
                self.acc[k].copy_(v.to(self.acc[k].device))
        self.seen.update({k: int(n) for k, n in pending["seen"].items() if k in self.seen})
        self.count = int(pending["count"])

    def read(self, keep: bool = False) -> tuple[dict[str, list[float] | float], int]:
        """Mean statistics since the last read (one device sync), and how many steps they cover.
        A statistic no step produced since then (CR's before ``cr_start``) is left out.

        ``keep``: read without starting a new window (a row at a leg's end between two
        ``log_every`` multiples: the window goes on in the checkpoint's pending statistics, so
        the next row of a continued run averages the steps the uninterrupted run's does)."""
        out: dict[str, list[float] | float] = {
            k: (v / self.seen[k]).tolist() for k, v in self.acc.items() if self.seen[k]
        }
        count = self.count
        if keep:
            return out, count
        for v in self.acc.values():
            v.zero_()
        self.seen = dict.fromkeys(self.acc, 0)
        self.count = 0
        return out, count


class GraphedStepper(EagerStepper):
    """The step body captured in one CUDA graph; per step: draw inputs into buffers, replay.

    The body's shape changes once at most, when InfoGAN-CR's work starts (``cr_start``): then
    the body is captured again, the same way."""

    def __init__(
        self,
        trainer: Trainer,
        warmup: int = 3,
        capture: Callable[[Callable[[], list[str]], torch.device], Callable[[], object]]
        | None = None,
    ) -> None:
        """``capture(fn, device) -> replay`` records ``fn`` without running it (default: a CUDA
        graph); tests pass a stand-in that returns ``fn`` itself, to run this same code on CPU."""
        super().__init__(trainer)
        t = trainer
        self.warmup = warmup
        self.capture = capture or _cuda_capture
        self.inputs = {k: torch.empty_like(v) for k, v in t.sample_inputs(t.step_count).items()}
        self.live: bool | None = None
        self._capture(t.cr_live(t.step_count), t.step_count)

    def _capture(self, live: bool, step: int) -> None:
        """Warm up on steps ``step``... (their effects undone), then capture the body with CR
        work ``live``."""
        t = self.t
        kept = {k: v.clone() for k, v in self.acc.items()}  # statistics of steps already run
        t._cr_live = live
        saved = _snapshot(t)
        with _side_stream(t.device):
            for i in range(self.warmup):
                self._fill(step + i)
                self.keys = self._body()
        _restore(t, saved)
        self.replay = self.capture(self._body, t.device)
        self.live = live
        for k, v in self.acc.items():
            v.copy_(kept[k])

    def _body(self) -> list[str]:
        stats = self.t.step_fn(self.inputs)
        for k, v in stats.items():
            self.acc[k].add_(v)
        return list(stats)

    def _fill(self, step: int) -> None:
        t = self.t
        t.set_schedules(step)
        for k, v in t.sample_inputs(step).items():
            self.inputs[k].copy_(v)

    def step(self, step: int) -> None:
        if self.t.cr_live(step) != self.live:
            self._capture(not self.live, step)
        self._fill(step)
        self.replay()
        for k in self.keys:
            self.seen[k] += 1
        self.count += 1


def _cuda_capture(fn: Callable[[], object], device: torch.device) -> Callable[[], None]:
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


class _side_stream:
    """Warm-up on a side stream (as CUDA graph capture requires); a no-op off CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.ctx: Any = None  # torch.cuda.StreamContext while entered on CUDA

    def __enter__(self) -> None:
        if self.device.type == "cuda":
            self.stream = torch.cuda.Stream(device=self.device)
            self.stream.wait_stream(torch.cuda.current_stream(self.device))
            self.ctx = torch.cuda.stream(self.stream)
            self.ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
            torch.cuda.current_stream(self.device).wait_stream(self.stream)


def _zero_stats(t: Trainer) -> dict[str, torch.Tensor]:
    z = torch.zeros((), device=t.device)
    stats = {
        "d_loss": z.clone(),
        "g_loss": z.clone(),
        "mi": torch.zeros(len(t.spec.codes), device=t.device),
    }
    if t.contrastive:
        stats.update(cr_loss=z.clone(), cr_acc=z.clone())
    if t.cfg.lambda_real > 0:
        stats["real_mi"] = z.clone()
    if t.cfg.r1_gamma > 0:
        stats["r1"] = z.clone()
    if t.cfg.lambda_ms > 0:
        stats["ms_ratio"] = z.clone()
    return stats


def _snapshot(t: Trainer) -> dict[str, Any]:
    """Copies of every tensor the warm-up will change."""
    return {
        "nets": {k: v.detach().clone() for k, v in t.nets.state_dict().items()},
        "opt": [
            {
                id(p): {k: v.clone() for k, v in opt.state[p].items() if torch.is_tensor(v)}
                for p in group["params"]
                if p in opt.state
            }
            for opt in _optimisers(t)
            for group in opt.param_groups
        ],
    }


@torch.no_grad()
def _restore(t: Trainer, saved: dict[str, Any]) -> None:
    """Write the snapshot back *in place* (the graph will hold these very tensors)."""
    state = t.nets.state_dict()
    for k, v in saved["nets"].items():
        state[k].copy_(v)
    groups = [g for opt in _optimisers(t) for g in opt.param_groups]
    opts = [opt for opt in _optimisers(t) for _ in opt.param_groups]
    for opt, group, before in zip(opts, groups, saved["opt"], strict=True):
        for p in group["params"]:
            now = opt.state.get(p, {})
            old = before.get(id(p), {})
            for k, v in now.items():
                if torch.is_tensor(v):
                    # no state before the warm-up = a fresh Adam: zeros (step 0, zero moments)
                    v.copy_(old[k]) if k in old else v.zero_()


def _optimisers(t: Trainer) -> list[torch.optim.Optimizer]:
    return [o for o in (t.opt_d, t.opt_g, t.opt_cr) if o is not None]


def make_stepper(trainer: Trainer) -> EagerStepper:
    """The graphed stepper when the trainer asks for it, else eager. With ``graph="auto"`` a
    capture failure falls back to eager (state restored) with a warning instead of stopping."""
    if not trainer.use_graph:
        return EagerStepper(trainer)
    saved = _snapshot(trainer)
    try:
        return GraphedStepper(trainer)
    except Exception as e:  # capture is fragile across drivers and versions
        if trainer.cfg.graph == "on":
            raise
        _restore(trainer, saved)
        log.warning("CUDA graph capture failed (%s); training eagerly", str(e).splitlines()[0])
        return EagerStepper(trainer)
