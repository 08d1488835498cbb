"""Download MNIST and Fashion-MNIST IDX files, and SVHN's .mat files, into a local cache.

Only :func:`_fetch` touches the network; everything after it (checking, placing, reading the file)
works on local files, so it is tested offline by replacing ``_fetch`` with a local copy.

Integrity check. Each file is accepted only if (1) its IDX header and length are consistent with
the expected number of items (``idx.parse_idx_*``) and (2) the MD5 of its *decompressed* content
equals the published value. The compressed ``.gz`` bytes are not checksummed on purpose: mirrors
and distributions re-gzip the same data (Debian's ``dataset-fashion-mnist`` and the copy of MNIST
``t10k`` in this project's ``shared/data`` both differ from upstream ``.gz`` checksums while their
content is identical), so a ``.gz`` checksum would reject good files. MD5 is what upstream and
torchvision publish for the content; it guards against corruption, not against an attacker.
The decompressed MD5s below were checked against real files: MNIST ``t10k`` (both) against
``shared/data/mnist``, all four Fashion-MNIST ones against the Debian package's files. The MNIST
``train`` ones are the values published alongside them (torchvision and others), not checked
here; the header/length check applies to every file regardless.

From Python: ``infogan.data.download_mnist()``. :func:`main` is a ready argument parser
(``dataset``, ``--root``, ``--force``) for a CLI to expose; ``python -m infogan.data.download``
also runs it (with a harmless runpy warning, since ``infogan.data`` imports this module).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import shutil
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from infogan.data import idx
from infogan.errors import DataError

log = logging.getLogger(__name__)

ENV_VAR = "INFOGAN_DATA"
"""Environment variable that overrides the cache root (default ``~/.cache/infogan``)."""


def default_cache_dir() -> Path:
    """The cache root: ``$INFOGAN_DATA`` if set, else ``~/.cache/infogan``.

    Read at call time (not import time) so that a changed environment, e.g. in tests, is honoured.
    """
    return Path(os.environ.get(ENV_VAR) or "~/.cache/infogan").expanduser()


@dataclass(frozen=True)
class RemoteFile:
    """One IDX file of a downloadable dataset."""

    name: str  # file name on the server and on disk, e.g. "train-images-idx3-ubyte.gz"
    split: str  # "train" or "test"
    kind: str  # "images" or "labels" (IDX files), or "mat" (SVHN: images and labels in one)
    count: int  # number of images or labels the file must hold
    content_md5: str  # MD5 of the decompressed bytes (see the module docstring for why)


@dataclass(frozen=True)
class RemoteDataset:
    """A dataset of IDX files and the mirrors that serve them, tried in order."""

    name: str  # sub-directory of the cache root, and the name load_dataset knows it by
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]


# yann.lecun.com is left out: it has often refused scripted downloads (HTTP 403). The first mirror
# is torchvision's, the second TensorFlow Datasets'.
MNIST = RemoteDataset(
    name="mnist",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    files=(
        RemoteFile("train-images-idx3-ubyte.gz", "train", "images", 60000,
                   "6bbc9ace898e44ae57da46a324031adb"),
        RemoteFile("train-labels-idx1-ubyte.gz", "train", "labels", 60000,
                   "a25bea736e30d166cdddb491f175f624"),
        RemoteFile("t10k-images-idx3-ubyte.gz", "test", "images", 10000,
                   "2646ac647ad5339dbf082846283269ea"),
        RemoteFile("t10k-labels-idx1-ubyte.gz", "test", "labels", 10000,
                   "27ae3e4e09519cfbb04c329615203637"),
    ),
)  # fmt: skip

# Zalando's GitHub copy first because it is HTTPS; the S3 website (torchvision's) is HTTP only.
FASHION_MNIST = RemoteDataset(
    name="fashion-mnist",
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    files=(
        RemoteFile("train-images-idx3-ubyte.gz", "train", "images", 60000,
                   "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        RemoteFile("train-labels-idx1-ubyte.gz", "train", "labels", 60000,
                   "9018921c3c673c538a1fc5bad174d6f9"),
        RemoteFile("t10k-images-idx3-ubyte.gz", "test", "images", 10000,
                   "8181f5470baa50b63fa0f6fddb340f0a"),
        RemoteFile("t10k-labels-idx1-ubyte.gz", "test", "labels", 10000,
                   "15d484375f8d13e6eb1aabb0c3f46965"),
    ),
)  # fmt: skip

# SVHN's own server, HTTP only; MD5s of the files as published (torchvision and others), not
# checked here (no copy is on this machine); the loader's layout check applies regardless.
SVHN = RemoteDataset(
    name="svhn",
    mirrors=("http://ufldl.stanford.edu/housenumbers/",),
    files=(
        RemoteFile("train_32x32.mat", "train", "mat", 73257, "e26dedcc434d2e4c54c9b2d4a06d8373"),
        RemoteFile("test_32x32.mat", "test", "mat", 26032, "eb5a983be6a315427106f1b164d9cef3"),
    ),
)

DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST, SVHN)}


#: Seconds a connection may stay silent (connecting, or between two reads). A network that
#: drops packets held each mirror for 60 s (2.5 minutes for MNIST's mirrors) without a word.
FETCH_TIMEOUT = 20.0


def _fetch(url: str, dest: Path, timeout: float = FETCH_TIMEOUT) -> None:
    """Copy ``url`` to ``dest`` byte for byte. The only function here that uses the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "infogan-downloader"})
    with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def verify_file(path: Path, spec: RemoteFile) -> None:
    """Raise :class:`DataError` unless ``path`` is a valid, untampered copy of ``spec``."""
    data = idx.read_bytes(path)  # decompressed; raises on empty / broken gzip
    if spec.kind == "mat":
        from infogan.data.svhn import read_svhn_mat

        n = len(read_svhn_mat(path))  # raises on a file of another layout
    else:
        parse = idx.parse_idx_images if spec.kind == "images" else idx.parse_idx_labels
        n = parse(data, path).shape[0]  # raises on wrong magic, truncation, trailing bytes
    if n != spec.count:
        noun = "labels" if spec.kind == "labels" else "images"
        raise DataError(f"data: {path} holds {n} {noun}, expected {spec.count}")
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != spec.content_md5:
        raise DataError(
            f"data: {path} has content MD5 {digest}, expected {spec.content_md5} for {spec.name}"
        )


def _install(spec: RemoteFile, directory: Path, mirrors: Sequence[str]) -> None:
    """Fetch ``spec`` from the first mirror that serves a valid copy, into ``directory``."""
    dest = directory / spec.name
    # Download next to the destination and rename: the final name then only ever holds a
    # verified file, even if the process is killed mid-download (os.replace is atomic).
    part = directory / (spec.name + ".part")
    problems = []
    try:
        for mirror in mirrors:
            url = mirror + spec.name
            log.info("downloading %s", url)  # a slow or silent mirror is seen as such
            try:
                _fetch(url, part)
                verify_file(part, spec)
            except (OSError, http.client.HTTPException, DataError) as e:  # URLError is an OSError
                problems.append(f"{url}: {e}")
                continue
            os.replace(part, dest)
            return
    finally:
        part.unlink(missing_ok=True)
    raise DataError(
        f"data: could not download {spec.name} into {directory}: " + "; ".join(problems)
    )


def download(
    dataset: RemoteDataset,
    root: str | Path | None = None,
    *,
    splits: Sequence[str] = ("train", "test"),
    force: bool = False,
) -> Path:
    """Download ``dataset`` into ``root / dataset.name`` and return that directory.

    Files already present and valid are kept (no network access); invalid ones are replaced.

    Args:
        dataset: :data:`MNIST`, :data:`FASHION_MNIST` or another :class:`RemoteDataset`.
        root: cache root; default :func:`default_cache_dir`.
        splits: which splits to fetch, ``"train"`` and/or ``"test"``.
        force: download again even if valid files are present.
    """
    unknown = set(splits) - {"train", "test"}
    if unknown:
        raise DataError(f"data: unknown split(s) {sorted(unknown)}; use 'train' and/or 'test'")
    directory = (
        Path(root).expanduser() if root is not None else default_cache_dir()
    ) / dataset.name
    # The folders this call creates, deepest first, so that a failure removes all of them.
    made = [d for d in (directory, *directory.parents) if not d.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"data: cannot create {directory}: {e.strerror or e}") from None
    try:
        for spec in dataset.files:
            if spec.split not in splits:
                continue
            if not force and (directory / spec.name).exists():
                try:
                    verify_file(directory / spec.name, spec)
                    continue
                except DataError:
                    pass  # a corrupt or foreign file: fetch a fresh copy over it
            _install(spec, directory, dataset.mirrors)
    except BaseException:
        # A failed first download (offline, say) leaves none of the empty folders it made
        # behind (one would look like a dataset); a folder that already held files is left.
        for folder in made:
            try:
                folder.rmdir()  # only succeeds while empty
            except OSError:
                break
        raise
    return directory


def download_mnist(
    root: str | Path | None = None,
    *,
    splits: Sequence[str] = ("train", "test"),
    force: bool = False,
) -> Path:
    """Download MNIST (60,000 train + 10,000 test digits) and return its directory.

    The directory is ``root / "mnist"`` (default root ``$INFOGAN_DATA`` or ``~/.cache/infogan``);
    with the default root, ``load_dataset("mnist")`` then finds it.
    """
    return download(MNIST, root, splits=splits, force=force)


def download_fashion_mnist(
    root: str | Path | None = None,
    *,
    splits: Sequence[str] = ("train", "test"),
    force: bool = False,
) -> Path:
    """Download Fashion-MNIST (60,000 + 10,000 images) and return its directory.

    The directory is ``root / "fashion-mnist"``; with the default root,
    ``load_dataset("fashion-mnist")`` finds it when the Debian package is not installed.
    """
    return download(FASHION_MNIST, root, splits=splits, force=force)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infogan-download", description="Download MNIST-format datasets."
    )
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--root", type=Path, default=None, help=f"cache root (${ENV_VAR})")
    parser.add_argument("--force", action="store_true", help="download even if present")
    args = parser.parse_args(argv)
    try:
        directory = download(DATASETS[args.dataset], args.root, force=args.force)
    except DataError as e:
        print(f"error: {e}")
        return 2
    print(directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
