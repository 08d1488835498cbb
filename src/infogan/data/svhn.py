"""Reader for SVHN's cropped-digit files (``train_32x32.mat``, ``test_32x32.mat``; Netzer et al.
2011), the 32x32 colour digits of the InfoGAN paper's SVHN experiment.

The files are MATLAB v5 archives holding ``X`` (``[32, 32, 3, N]`` uint8) and ``y`` (``[N, 1]``,
digits 1-10 where 10 stands for 0). Get them with ``infogan download svhn``; read with SciPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from infogan.data.dataset import ImageDataset
from infogan.errors import DataError, brief

__all__ = ["read_svhn_mat"]


def read_svhn_mat(path: str | Path, name: str | None = None) -> ImageDataset:
    """Load one SVHN ``*_32x32.mat`` file as ``uint8 [N, 3, 32, 32]`` images with labels 0-9.

    Raises:
        DataError: missing, empty or unreadable file, or arrays of another layout.
    """
    from scipy.io import loadmat

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DataError(f"data: {path} is empty (0 bytes)")
        mat = loadmat(path, variable_names=("X", "y"))
    except FileNotFoundError:
        raise DataError(f"data: {path} does not exist") from None
    except DataError:
        raise
    except NotImplementedError:
        # scipy reads MATLAB v4-v7 files; it suggests h5py for v7.3, which this library does
        # not read either.
        raise DataError(
            f"data: {path} is a MATLAB v7.3 (HDF5) file; re-save it as v7 (MATLAB: save(f, "
            "'X', 'y', '-v7')) or use the official SVHN files, which are v5"
        ) from None
    except Exception as e:
        # scipy's reader fails on a short or foreign file (an HTML page a captive portal served,
        # a cut-short download) in many ways: IndexError, MatReadError, ValueError, ...
        raise DataError(
            f"data: {path} is not a readable SVHN .mat file, or is cut short ({brief(e)}); "
            "infogan download svhn fetches it again"
        ) from None
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None:
        raise DataError(f"data: {path} lacks the arrays 'X' and 'y' of an SVHN .mat file")
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DataError(
            f"data: {path}: 'X' is {x.dtype} {list(x.shape)}, expected uint8 [32, 32, 3, N]"
        )
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != x.shape[3] or y.size and (y.min() < 1 or y.max() > 10):
        raise DataError(
            f"data: {path}: 'y' must hold one digit 1-10 per image ({x.shape[3]} images)"
        )
    images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # [32, 32, 3, N] -> [N, 3, 32, 32]
    labels = torch.from_numpy(y.astype(np.int64) % 10)  # SVHN's 10 is the digit 0
    return ImageDataset(torch.from_numpy(images), labels, name or str(path))
