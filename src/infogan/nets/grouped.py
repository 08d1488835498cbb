"""Run several batches through one network in a single pass, with batch norm kept per batch.

D's step sees a real batch and a fake batch. Batch norm must normalise each with its own
statistics (mixing them would let D tell real from fake by the batch statistics alone, and changes
the method), which is why D is usually run twice. Every other layer here is per-sample, so only
the batch-norm layers need the batches apart: this runs the convolutions and matmuls once on the
stacked batches (one 128-row matmul instead of two 64-row ones: better use of the CPU's and the
GPU's matrix units, and half the kernel launches) and each batch-norm layer once per group, in
order, so the running statistics are updated exactly as two separate passes would update them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["run_grouped"]


def run_grouped(seq: nn.Sequential, x: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``seq(x)``, except that in training mode each batch-norm layer sees the ``groups`` equal
    slices of the batch separately (first slice first), as if each slice ran on its own."""
    if groups == 1:
        return seq(x)
    for layer in seq:
        if isinstance(layer, _BatchNorm) and layer.training:
            x = torch.cat([layer(part) for part in x.chunk(groups)])
        else:
            x = layer(x)
    return x
