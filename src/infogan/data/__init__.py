"""Datasets as ``uint8 [N, C, H, W]`` tensors, and the scaling to the networks' ``[-1, 1]``.

Entry point: :func:`load_dataset` (a name such as ``"mnist5k"``, an IDX directory or file, or an
``.npz``); :func:`from_arrays` for images already in memory. Downloads of full MNIST / Fashion-MNIST: :func:`download_mnist`,
:func:`download_fashion_mnist`.
"""

from infogan.data.dataset import ImageDataset, to_float, to_uint8
from infogan.data.download import default_cache_dir, download_fashion_mnist, download_mnist
from infogan.data.dsprites import DSpritesLike, load_dsprites
from infogan.data.idx import load_idx, read_idx_images, read_idx_labels
from infogan.data.npz import from_arrays, read_npz
from infogan.data.registry import NAMED_DATASETS, load_dataset

__all__ = [
    "NAMED_DATASETS",
    "DSpritesLike",
    "load_dsprites",
    "ImageDataset",
    "default_cache_dir",
    "download_fashion_mnist",
    "download_mnist",
    "from_arrays",
    "load_dataset",
    "load_idx",
    "read_idx_images",
    "read_idx_labels",
    "read_npz",
    "to_float",
    "to_uint8",
]
