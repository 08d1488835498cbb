"""Reader for images stored as a NumPy ``.npz`` archive.

``.npz`` is the least-friction way to bring one's own data: ``np.savez(path, images=x, labels=y)``
from whatever produced it. The reader therefore accepts the layouts and value ranges people
actually save and normalises them to the library's ``uint8 [N, C, H, W]``:

- images under key ``images`` or ``x``; labels (optional) under ``labels`` or ``y``;
- shapes ``[N, H, W]`` (grey), ``[N, C, H, W]`` or ``[N, H, W, C]`` with ``C`` in ``{1, 3}``;
- values ``uint8``/integers in 0..255 (only 0 and 1: binary, as booleans), booleans, or
  floats in ``[0, 1]``, ``[-1, 1]`` or ``[0, 255]``.

A float array's range is read from all its values at once, with a margin of
:data:`OVERSHOOT` (resampling filters ring a little past the range), and the range taken is
logged: one stray value must not silently rescale the whole file. A maximum between that margin
and 2 fits no range (0..255 data that dark is implausible) and is refused.
"""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infogan.data.dataset import ImageDataset
from infogan.errors import DataError

log = logging.getLogger(__name__)

#: How far past [0, 1] or [-1, 1] float values may stray (resampling overshoot) and still be
#: read as that range; they are clipped.
OVERSHOOT = 0.1

IMAGE_KEYS = ("images", "x")
#: The original dSprites file's images and factor classes (read without its pickled metadata).
ORIGINAL_KEYS = ("imgs", "latents_classes")
LABEL_KEYS = ("labels", "y")


def _to_nchw(arr: np.ndarray, path: str | Path) -> np.ndarray:
    if arr.ndim == 3:
        return arr[:, None]  # [N, H, W] -> [N, 1, H, W]
    if arr.ndim == 4:
        # Channels-first wins when both ends could be channels (only for images 1 or 3 pixels
        # high), since [N, C, H, W] is what this library and PyTorch use.
        if arr.shape[1] in (1, 3):
            return arr
        if arr.shape[3] in (1, 3):
            return arr.transpose(0, 3, 1, 2)  # [N, H, W, C] -> [N, C, H, W]
    raise DataError(
        f"data: {path}: images have shape {list(arr.shape)}; expected [N, H, W], [N, C, H, W] "
        "or [N, H, W, C] with C = 1 or 3"
    )


def _to_uint8(arr: np.ndarray, path: str | Path) -> np.ndarray:
    """Detect the value range of ``arr`` and map it to uint8 0..255."""
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255  # binary images (e.g. dSprites) as black/white
    if np.issubdtype(arr.dtype, np.integer):
        ilo, ihi = int(arr.min()), int(arr.max())
        if ilo < 0 or ihi > 255:
            raise DataError(f"data: {path}: integer images range over [{ilo}, {ihi}], not 0..255")
        if ihi <= 1:  # 0/1 masks saved as integers (uint8 too: dSprites' own imgs): binary
            log.info("data: %s: integer images hold only 0 and 1; read as black and white", path)
            return arr.astype(np.uint8) * 255
        return arr if arr.dtype == np.uint8 else arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(np.float32)  # float32 is exact enough for 256 levels and halves memory
        if not np.isfinite(x).all():
            raise DataError(f"data: {path}: images contain NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        m = OVERSHOOT
        # The range decides the scale: within [0, 1] (give or take the margin) is [0, 1];
        # clearly negative values within [-1, 1] are tanh-scaled; a maximum above a tenth of
        # 255 is 0..255 stored as floats. Between lie standardised images ((x - mean) / std,
        # torchvision's Normalize: MNIST's span -0.42..2.82), which were read as 0..255 and
        # came out nearly black.
        if lo >= -m and hi <= 1.0 + m:
            taken = "[0, 1]"
            x *= 255.0
        elif lo >= -1.0 - m and hi <= 1.0 + m:
            taken = "[-1, 1]"
            x += 1.0
            x *= 127.5
        elif lo >= -255.0 * m and 255.0 * m < hi <= 255.0 * (1.0 + m):
            taken = "[0, 255]"
        else:
            raise DataError(
                f"data: {path}: float images range over [{lo:g}, {hi:g}], which fits none of "
                "[0, 1], [-1, 1] or [0, 255]; rescale them to one of those"
                + (
                    " (standardised images? undo it: x * std + mean)"
                    if lo < 0 and 1.0 + m < hi <= 255.0 * m
                    else ""
                )
            )
        log.info("data: %s: float images in [%.4g, %.4g], read as %s", path, lo, hi, taken)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    raise DataError(f"data: {path}: images have unsupported dtype {arr.dtype}")


def _labels(arr: np.ndarray, n: int, path: str | Path, key: str) -> torch.Tensor:
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]  # [N, 1] column vectors are common from scikit-learn style code
    if arr.ndim != 1:
        raise DataError(f"data: {path}: labels '{key}' have shape {list(arr.shape)}, expected [N]")
    if arr.shape[0] != n:
        raise DataError(f"data: {path}: {arr.shape[0]} labels in '{key}' but {n} images")
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise DataError(f"data: {path}: labels '{key}' exceed the int64 range")
        return torch.from_numpy(arr.astype(np.int64))
    # Floats holding whole numbers (3.0) are accepted: CSV-derived arrays are often like that.
    if np.issubdtype(arr.dtype, np.floating):
        whole = np.isfinite(arr) & (arr == np.rint(arr))
        if whole.all():
            return torch.from_numpy(arr.astype(np.int64))
    raise DataError(f"data: {path}: labels '{key}' are not integer-like (dtype {arr.dtype})")


def _check_declared_size(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> None:
    """Refuse a member whose header declares more data than the member holds, before numpy
    allocates it: a 200-byte file declaring 931 GiB was "out of memory; try a smaller
    --batch", and one declaring 1 GB was allocated before it failed."""
    members = archive.zip
    assert members is not None, "called on an open archive"
    info = members.getinfo(f"{key}.npy")
    with members.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(member)
        header = member.tell()
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > info.file_size - header:
        raise DataError(
            f"data: {path}: {key!r} declares {list(shape)} {dtype} ({declared / 2**30:.3g} GiB) "
            f"but holds {info.file_size - header} bytes: a damaged or hand-made file"
        )


def read_npz(path: str | Path) -> ImageDataset:
    """Load an ``.npz`` archive of images (and optional labels) into an :class:`ImageDataset`.

    Raises:
        DataError: the file is empty, not an ``.npz`` archive, has no images key, no images, an
            unsupported shape or value range, or labels that do not match.
    """
    if not isinstance(path, str | os.PathLike):
        raise DataError(f"data: expected a path to an .npz file, got {type(path).__name__}")
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"data: {path} does not exist") from None
    if size == 0:
        raise DataError(f"data: {path} is empty (0 bytes)")
    with path.open("rb") as f:
        magic = f.read(6)
    if not magic.startswith(b"PK") and magic != b"\x93NUMPY":
        # numpy's own message for such a file guesses "pickled data" and suggests allow_pickle.
        raise DataError(
            f"data: {path} is not an .npz archive (a zip of .npy arrays, as numpy.savez writes)"
        )
    try:
        # allow_pickle=False: an .npz from elsewhere must not be able to run code on load.
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"data: {path} is not a readable .npz archive ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"data: {path} is a single .npy array, not an .npz archive with keys")
    with archive:
        try:
            image_key = next((k for k in IMAGE_KEYS if k in archive.files), None)
            original = image_key is None and all(k in archive.files for k in ORIGINAL_KEYS)
            if image_key is None and not original:
                raise DataError(
                    f"data: {path} has no images array: expected key 'images' or 'x' (or "
                    f"dSprites' 'imgs' with 'latents_classes'), found {sorted(archive.files)}"
                )
            label_key = next((k for k in LABEL_KEYS if k in archive.files), None)
            image_key, label_key = ORIGINAL_KEYS if original else (image_key, label_key)
            assert image_key is not None
            for key in (image_key, label_key):
                if key is not None:
                    _check_declared_size(archive, key, path)
            images = archive[image_key]
            labels_np = archive[label_key] if label_key is not None else None
        except DataError:
            raise
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            # Object arrays (allow_pickle=False) and damaged members only fail when read.
            raise DataError(f"data: {path} has an unreadable array ({e})") from None
    if original:
        assert labels_np is not None
        return _original_dsprites(images, labels_np, str(path))
    return _dataset(images, labels_np, str(path), label_key or "labels")


def _original_dsprites(imgs: np.ndarray, classes: np.ndarray, name: str) -> ImageDataset:
    """The original dSprites file (``imgs`` 0/1 ``[N, 64, 64]``, ``latents_classes``): images
    0/255, the first varying factor (the shape) as labels, and the file as ground truth for the
    disentanglement metrics when it holds the whole factor grid."""
    from infogan.data.dsprites import original_ground_truth

    if imgs.ndim != 3 or imgs.shape[0] == 0:
        raise DataError(f"data: {name}: imgs should be [N, H, W], got {list(imgs.shape)}")
    if imgs.dtype == np.uint8 and imgs.max() <= 1:
        imgs *= 255  # in place: the full file is 3 GB, a copy would be 3 more
        pixels = imgs[:, None]
    else:
        pixels = np.ascontiguousarray(_to_uint8(imgs[:, None], name))
    truth = original_ground_truth(pixels, classes, name)
    varying = np.flatnonzero(classes.max(axis=0) > 0)
    labels = classes[:, varying[0]] if varying.size else np.zeros(len(classes), np.int64)
    return ImageDataset(
        images=torch.from_numpy(pixels),
        labels=_labels(labels, pixels.shape[0], name, "latents_classes"),
        name=name,
        ground_truth=truth,
    )


def _dataset(images: np.ndarray, labels: np.ndarray | None, name: str, key: str) -> ImageDataset:
    """The arrays of an ``.npz`` file, or of :func:`from_arrays`, as an ImageDataset: any layout
    to ``[N, C, H, W]``, the value range to uint8, the labels checked against the images."""
    images = _to_nchw(images, name)
    if images.shape[0] == 0:
        raise DataError(f"data: {name} holds 0 images")
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise DataError(f"data: {name}: images have shape {list(images.shape)}")
    pixels = np.ascontiguousarray(_to_uint8(images, name))
    label_t = None if labels is None else _labels(labels, pixels.shape[0], name, key)
    return ImageDataset(images=torch.from_numpy(pixels), labels=label_t, name=name)


#: What :func:`from_arrays` calls its data unless named: a run trained on it says so later.
ARRAY_NAME = "array"


def from_arrays(images: Any, labels: Any = None, name: str = ARRAY_NAME) -> ImageDataset:
    """An :class:`ImageDataset` from images in memory, read as an ``.npz`` file's arrays are.

    Args:
        images: a numpy array or torch tensor, ``[N, H, W]``, ``[N, C, H, W]`` or
            ``[N, H, W, C]`` with C = 1 or 3; uint8 0..255, bool or 0/1 integers (black and
            white), or floats in [0, 1], [-1, 1] or [0, 255] (the range decides the scale).
        labels: optional integer labels ``[N]``, for evaluation only (training never reads them).
        name: what messages and the run's records call this data.

    Raises:
        DataError: another shape, dtype or value range, or labels that do not match.
    """

    def as_numpy(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu()
            return (x.float() if x.dtype == torch.bfloat16 else x).numpy()  # numpy has no bf16
        return np.asarray(x)

    if isinstance(images, str | os.PathLike):
        raise DataError(
            f"data: {images} is a path; from_arrays (and train's dataset=) take images in "
            "memory: set cfg.data to the path, or give infogan.data.load_dataset(path)"
        )
    try:
        arr = as_numpy(images)
    except (TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"data: {name}: images are not an array ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise DataError(f"data: {name}: images have unsupported dtype {arr.dtype}")
    return _dataset(arr, None if labels is None else as_numpy(labels), name, "labels")
