"""Differentiable augmentation of what the discriminator reads (Zhao et al. 2020, "DiffAugment").

With few training images (``mnist5k`` has 5,000) D can memorise them, and G then learns to make
those; translating every image D reads, real and fake alike, by a few pixels is the cheapest of
DiffAugment's policies that stops it. Because the same random shift policy hits real and fake, and
the shift is differentiable in the image, G still gets D's gradient through it, and D learns
nothing about the augmentation itself. Q shares D's body, so it reads the shifted fakes too; a
digit's class, width and slant do not change under a 2-pixel shift.

Pure functions of their inputs: the shifts are drawn by :meth:`Trainer.sample_inputs`, so a
captured CUDA graph replays them with each step's fresh draw.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["translate"]


def translate(
    x: torch.Tensor, shift: torch.Tensor, max_shift: int, fill: float = -1.0
) -> torch.Tensor:
    """Shift each image by whole pixels, filling the uncovered border with ``fill``.

    Args:
        x: images ``[N, C, H, W]`` (in [-1, 1]: ``fill=-1`` is the background).
        shift: ``[N, 2]`` integer (dy, dx), each in ``[-max_shift, max_shift]``; positive moves
            the content down / right.
        max_shift: the largest |shift| (static, so the padded size is fixed for a CUDA graph).

    Differentiable in ``x`` (a gather), static shapes, no host reads.
    """
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    s = max_shift
    padded = F.pad(x, (s, s, s, s), value=fill)  # [N, C, H + 2s, W + 2s]
    rows = torch.arange(h, device=x.device)[None, :] + s - shift[:, 0:1]  # [N, H]
    cols = torch.arange(w, device=x.device)[None, :] + s - shift[:, 1:2]  # [N, W]
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * s))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
