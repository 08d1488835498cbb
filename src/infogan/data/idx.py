"""Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte big-endian magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the data in C order. MNIST uses two kinds, both of unsigned bytes:

- images: magic ``0x00000803``, sizes ``N, H, W``, then ``N*H*W`` pixels (0 = background);
- labels: magic ``0x00000801``, size ``N``, then ``N`` class indices.

Files may be gzip-compressed (the usual ``*.gz`` distribution) or plain; compression is detected
from the content, not the name. Every structural problem becomes a one-line :class:`DataError`
naming the file, because a silently misparsed dataset trains a GAN on noise for hours.
"""

from __future__ import annotations

import gzip
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from infogan.data.dataset import ImageDataset
from infogan.errors import DataError

log = logging.getLogger(__name__)

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions (N, H, W)
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension (N)
_GZIP_MAGIC = b"\x1f\x8b"

# File stems of the two MNIST splits; Fashion-MNIST and KMNIST use the same names.
SPLIT_PREFIXES = {"train": "train", "test": "t10k"}


def read_bytes(path: str | Path) -> bytes:
    """Return the contents of ``path``, gunzipped when it is gzip-compressed.

    Raises:
        DataError: the file is missing, unreadable, empty, or a broken gzip stream.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"data: {path} does not exist") from None
    except OSError as e:
        raise DataError(f"data: cannot read {path}: {e.strerror or e}") from None
    if not data:
        raise DataError(f"data: {path} is empty (0 bytes)")
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except EOFError:
            # A download cut short: the deflate stream stops before its end marker.
            raise DataError(f"data: {path} is a truncated gzip file") from None
        except (OSError, zlib.error) as e:
            raise DataError(f"data: {path} is not a valid gzip file ({e})") from None
        if not data:
            raise DataError(f"data: {path} is empty after gzip decompression")
    elif path.suffix == ".gz":
        # Refuse rather than parse: a ".gz" that is not gzip is usually an HTML error page saved
        # by a failed download, and its first bytes would be misread as an IDX header.
        raise DataError(f"data: {path} is named .gz but is not gzip-compressed")
    return data


def _header(data: bytes, path: Path, magic: int, what: str) -> tuple[tuple[int, ...], int]:
    """Check the magic number and return (sizes, offset of the first data byte)."""
    if len(data) < 4:
        raise DataError(f"data: {path} is too short ({len(data)} bytes) to be an IDX file")
    found = int.from_bytes(data[:4], "big")
    if found == LABELS_MAGIC and magic == IMAGES_MAGIC:
        raise DataError(
            f"data: {path} is an IDX labels file; give its images file "
            "(*-images-idx3-ubyte[.gz]) or the folder that holds both"
        )
    if found != magic:
        raise DataError(
            f"data: {path} has magic number 0x{found:08x}, expected 0x{magic:08x}: "
            f"not an MNIST-format IDX {what} file"
        )
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataError(f"data: {path} is truncated inside its IDX header ({len(data)} bytes)")
    return struct.unpack(f">{ndim}I", data[4:offset]), offset


def _check_length(
    data: bytes, path: Path, offset: int, expected: int, says: str, what: str
) -> None:
    held = len(data) - offset
    if held < expected:
        raise DataError(
            f"data: {path} is truncated: header says {says} but file holds {held} {what}"
        )
    if held > expected:
        # Extra bytes mean the header and payload disagree; trusting either would be a guess.
        raise DataError(
            f"data: {path} is corrupt: header says {says} but file holds {held} {what} "
            f"({held - expected} too many)"
        )


def parse_idx_images(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX images file into a ``uint8`` array ``[N, H, W]``."""
    path = Path(path)
    (n, h, w), offset = _header(data, path, IMAGES_MAGIC, "images")
    if h == 0 or w == 0:
        raise DataError(f"data: {path} has images of {h}x{w} pixels")
    _check_length(data, path, offset, n * h * w, f"{n} images of {h}x{w}", "bytes of pixels")
    # np.frombuffer over immutable bytes gives a read-only view; copy so that torch.from_numpy
    # gets writable memory (it warns otherwise) and the bytes object can be freed.
    pixels = np.frombuffer(data, dtype=np.uint8, count=n * h * w, offset=offset)
    return pixels.reshape(n, h, w).copy()


def parse_idx_labels(data: bytes, path: str | Path = "<bytes>") -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX labels file into an ``int64`` array ``[N]``."""
    path = Path(path)
    (n,), offset = _header(data, path, LABELS_MAGIC, "labels")
    _check_length(data, path, offset, n, f"{n} labels", "bytes of labels")
    return np.frombuffer(data, dtype=np.uint8, count=n, offset=offset).astype(np.int64)


def read_idx_images(path: str | Path) -> np.ndarray:
    """Read an IDX images file (plain or gzip) into a ``uint8`` array ``[N, H, W]``."""
    return parse_idx_images(read_bytes(path), path)


def read_idx_labels(path: str | Path) -> np.ndarray:
    """Read an IDX labels file (plain or gzip) into an ``int64`` array ``[N]``."""
    return parse_idx_labels(read_bytes(path), path)


def labels_path_for(images_path: str | Path) -> Path | None:
    """The labels file that belongs to an images file, or ``None`` if there is none.

    ``train-images-idx3-ubyte.gz`` pairs with ``train-labels-idx1-ubyte.gz`` (or the plain file);
    the dotted spelling ``train-images.idx3-ubyte`` of some re-distributions is handled too.
    """
    images_path = Path(images_path)
    name = images_path.name
    for old, new in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
        if old in name:
            stem = name.replace(old, new).removesuffix(".gz")
            for candidate in (stem, stem + ".gz"):
                if (images_path.parent / candidate).is_file():
                    return images_path.parent / candidate
    return None


def find_split_images(directory: str | Path, split: str) -> Path | None:
    """The images file of ``split`` (``"train"`` or ``"test"``) in ``directory``, if any.

    A plain file is preferred over its ``.gz``: it is what a user who unpacked the archive means,
    and reads faster.
    """
    directory = Path(directory)
    prefix = SPLIT_PREFIXES[split]
    for name in (f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"):
        for candidate in (name, name + ".gz"):
            if (directory / candidate).is_file():
                return directory / candidate
    return None


def load_idx(
    images_path: str | Path, labels_path: str | Path | None = None, name: str | None = None
) -> ImageDataset:
    """Load an IDX images file and, if given, its labels file into an :class:`ImageDataset`.

    Args:
        images_path: IDX images file (``*-images-idx3-ubyte[.gz]``).
        labels_path: IDX labels file, or ``None`` for an unlabelled dataset.
        name: the dataset's display name; defaults to ``images_path``.
    """
    images = read_idx_images(images_path)
    if images.shape[0] == 0:
        raise DataError(f"data: {images_path} holds 0 images")
    labels = None
    if labels_path is not None:
        labels_np = read_idx_labels(labels_path)
        if labels_np.shape[0] != images.shape[0]:
            raise DataError(
                f"data: {labels_path} holds {labels_np.shape[0]} labels but {images_path} "
                f"holds {images.shape[0]} images"
            )
        labels = torch.from_numpy(labels_np)
    return ImageDataset(
        images=torch.from_numpy(images).unsqueeze(1),  # [N, H, W] -> [N, 1, H, W]
        labels=labels,
        name=name if name is not None else str(images_path),
    )


def load_idx_file(images_path: str | Path, name: str | None = None) -> ImageDataset:
    """Load one IDX images file, with the labels file beside it when there is one."""
    return load_idx(images_path, labels_path_for(images_path), name)


def load_idx_dir(
    directory: str | Path, split: str = "train", *, fallback: bool = True, name: str | None = None
) -> ImageDataset:
    """Load split ``"train"`` or ``"test"`` from a directory of MNIST-format IDX files.

    With ``fallback`` (the default), a directory that holds only the other split yields that split:
    a folder with just ``t10k-*`` files is a dataset in its own right, and refusing it by default
    would make the common "point at a folder" usage fail. The returned name is the images file's
    path, so which split was used stays visible.
    """
    directory = Path(directory)
    if split not in SPLIT_PREFIXES:
        raise DataError(f"data: unknown split {split!r} for {directory}; use 'train' or 'test'")
    images_path = find_split_images(directory, split)
    if images_path is None and fallback:
        other = "test" if split == "train" else "train"
        images_path = find_split_images(directory, other)
        if images_path is not None:
            # Said, not only shown by the file name: evaluation on the training files is a
            # different measurement than the user may have asked for.
            log.info("data: %s has no %s files; reading its %s split", directory, split, other)
    if images_path is None:
        wanted = (
            "train-images-idx3-ubyte[.gz] or t10k-images-idx3-ubyte[.gz]"
            if fallback
            else f"{SPLIT_PREFIXES[split]}-images-idx3-ubyte[.gz]"
        )
        raise DataError(f"data: {directory} holds no MNIST-format IDX images file ({wanted})")
    return load_idx_file(images_path, name)
