"""The in-memory dataset every loader returns, and the pixel scaling the networks use.

Images are kept as ``uint8`` ``[N, C, H, W]`` tensors: a quarter of the memory of float32 (the whole
of Fashion-MNIST is 47 MB as uint8), exact, and what every file format stores. Conversion to the
generator's output range ``[-1, 1]`` (tanh) happens per batch with :func:`to_float`, and samples go
back to pixels with :func:`to_uint8`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import torch

from infogan.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class ImageDataset:
    """A set of images with optional integer labels.

    Attributes:
        images: ``uint8`` tensor ``[N, C, H, W]`` with ``C`` in ``{1, 3}``, pixel values 0-255.
        labels: ``int64`` tensor ``[N]``, or ``None`` when the source has no labels. InfoGAN trains
            without them; they are kept to evaluate the categorical codes (cluster accuracy).
        name: human-readable source, e.g. ``"mnist5k"`` or the path of the file read.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    ground_truth: Any = None
    """Optional ground-truth factor model (``infogan.metrics.disentanglement.GroundTruthData``)
    for disentanglement metrics, e.g. the dSprites-like grid."""
    classes: list[str] | None = None
    """Optional name of each label value (``classes[label]``), e.g. the class folders of an
    image directory."""
    files: list[str] | None = None
    """Optional file of each image (relative to the folder read), for image directories: what
    ``infogan encode`` writes beside each row."""

    def __post_init__(self) -> None:
        # Checked once here so that every consumer (training loop, metrics) can rely on the layout
        # instead of re-validating; the readers already produce this, so a failure is a bug or a
        # hand-built dataset.
        img = self.images
        if not isinstance(img, torch.Tensor) or img.dtype != torch.uint8:
            kind = img.dtype if isinstance(img, torch.Tensor) else type(img).__name__
            raise DataError(f"data: {self.name}: images must be a uint8 tensor, got {kind}")
        if img.dim() != 4 or img.shape[1] not in (1, 3):
            raise DataError(
                f"data: {self.name}: images must have shape [N, C, H, W] with C in {{1, 3}}, "
                f"got {list(img.shape)}"
            )
        if self.labels is not None:
            lab = self.labels
            if not isinstance(lab, torch.Tensor) or lab.dtype != torch.int64:
                kind = lab.dtype if isinstance(lab, torch.Tensor) else type(lab).__name__
                raise DataError(f"data: {self.name}: labels must be an int64 tensor, got {kind}")
            if lab.shape != (img.shape[0],):
                raise DataError(
                    f"data: {self.name}: {img.shape[0]} images but labels have shape "
                    f"{list(lab.shape)}"
                )
            if len(lab) and int(lab.min()) < 0:
                # Class indices: a -1 ("unknown") was scored, then its mapping refused on
                # loading, so the run's label commands failed. Said here, before any training.
                raise DataError(
                    f"data: {self.name}: labels must be class indices >= 0, got {int(lab.min())} "
                    "(leave unlabelled images out, or give no labels)"
                )

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one image, ``(C, H, W)``."""
        _, c, h, w = self.images.shape
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def fingerprint(self) -> str:
        """A short digest of the images (their shape and up to :data:`FINGERPRINT_IMAGES` of
        them, evenly spaced; a few milliseconds even for dSprites' 737,280): what a resume
        compares to tell other images of the same count and size from the ones a run trained
        on. A change only to images between the sampled ones goes unseen."""
        n = len(self)
        idx = torch.linspace(0, n - 1, min(n, FINGERPRINT_IMAGES)).round().long().unique()
        digest = hashlib.sha256(str(list(self.images.shape)).encode())
        digest.update(self.images[idx].contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


#: Images :meth:`ImageDataset.fingerprint` reads (a sample; all of a smaller dataset).
FINGERPRINT_IMAGES = 4096


def with_channels(dataset: ImageDataset, channels: int) -> ImageDataset:
    """``dataset`` with ``channels`` (1 or 3) channels: grey images repeated into three equal
    channels, colour ones turned grey by ITU-R BT.601 luma (``0.299 R + 0.587 G + 0.114 B``,
    the weights of Pillow's ``convert("L")``); unchanged when it already has them."""
    c = dataset.shape[0]
    if c == channels:
        return dataset
    if channels in (1, 3):
        # Said: colour evaluation data for grey networks was turned grey without a word.
        how = "in grey (BT.601 luma)" if channels == 1 else "as three equal channels"
        log.info("data: %s: %d-channel images read %s", dataset.name, c, how)
    if channels == 3:
        images = dataset.images.expand(-1, 3, -1, -1).contiguous()
    elif channels == 1:
        rgb = dataset.images.to(torch.int32)
        luma = 299 * rgb[:, 0] + 587 * rgb[:, 1] + 114 * rgb[:, 2]
        images = ((luma + 500) // 1000).to(torch.uint8)[:, None]  # rounded to nearest
    else:
        raise DataError(f"data: channels must be 1 or 3, got {channels}")
    return dataclasses.replace(dataset, images=images)


def to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    """Map ``uint8`` pixels 0..255 to ``float32`` in ``[-1, 1]`` (``x / 127.5 - 1``).

    ``[-1, 1]`` matches the generator's tanh output, so real and fake images share one range.
    """
    if images_uint8.dtype != torch.uint8:
        # A float tensor here is almost always already scaled; scaling it twice would silently
        # squash the data into [-1, -0.99].
        kind = (
            f"a {images_uint8.dtype} tensor"
            if isinstance(images_uint8, torch.Tensor)
            else f"a {type(images_uint8).__name__}"
            + (f" of {images_uint8.dtype}" if hasattr(images_uint8, "dtype") else "")
        )
        raise TypeError(f"to_float expects a uint8 torch tensor, got {kind}")
    return images_uint8.to(torch.float32) / 127.5 - 1.0


def to_uint8(images_float: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_float`: ``[-1, 1]`` floats to ``uint8``, rounded and clamped.

    Values outside ``[-1, 1]`` (a generator without a final tanh) are clamped rather than wrapped.
    ``to_uint8(to_float(x)) == x`` exactly for every pixel value.
    """
    if not images_float.is_floating_point():
        raise TypeError(f"to_uint8 expects a floating-point tensor, got {images_float.dtype}")
    # Compute in float32 at least: bf16/fp16 arithmetic in the affine map is too coarse to land on
    # the right integer, which would make the round trip lossy.
    x = images_float.to(torch.promote_types(images_float.dtype, torch.float32))
    return ((x + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
