"""dSprites-like: a procedural stand-in for dSprites (Matthey et al. 2017) with the same factor grid.

The original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` is not available offline, so the
images are drawn here from the same ground-truth factors, in the same order::

    color        1 value   (constant white, kept only for the original latents layout)
    shape        3 values  square, ellipse, heart
    scale        6 values  linspace(0.5, 1, 6)
    orientation 40 values  linspace(0, 2*pi, 40) radians, counter-clockwise as displayed
    posX        32 values  linspace(0, 1, 32), left to right
    posY        32 values  linspace(0, 1, 32), top to bottom

= 737,280 binary 64x64 images. It is *dSprites-like*: same factors and ordering, same rough
geometry (sprite centre at pixel ``16 + round(32 * pos)``, square side ``19 * scale`` px), not the
same pixels, so published dSprites scores are a reference point rather than a target.

Geometry. Each (shape, scale, orientation) sprite is drawn once in a 31x31 box by inverse-rotating
a grid of pixel offsets and testing the shape's implicit inequality (square ``max(|x|, |y|) <= h``,
ellipse ``(x/a)^2 + (y/b)^2 <= 1``, heart ``(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0``). The sprite's
centre is a pixel centre, so the square at scale 1 is exactly 19x19 = 361 pixels. Positions are
whole-pixel translations of that box: the 32 positions span 32 px, so a step is 1 px, and 2 px once
(mean 32/31). Orientation ``2*pi`` draws the same image as ``0``, as in the original (which also
repeats images under each shape's symmetry: a square every 90 degrees, an ellipse every 180).

Storage. Nothing is drawn until asked. :meth:`DSpritesLike.render` draws any factor rows on demand
(about 1,000 images in milliseconds), which is all the disentanglement metrics need.
:meth:`DSpritesLike.packed_images` draws the whole set once, bit-packed (one bit per pixel,
737,280 x 64 x 8 bytes = 377 MB), into ``default_cache_dir()/dsprites_like_v1.npy``, written
atomically and memory-mapped afterwards. Unpacked to ``uint8`` the full set is 3 GB of RAM, which is
what ``load_dataset("dsprites")`` returns; ``load_dataset("dsprites:N")`` gives a seeded random
subset of ``N`` images drawn on demand instead, without touching the cache.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from infogan.atomic import atomic_write
from infogan.data.dataset import ImageDataset
from infogan.data.download import default_cache_dir
from infogan.errors import DataError

__all__ = ["DSpritesFile", "DSpritesLike", "load_dsprites", "CACHE_FILE", "SHAPES"]

log = logging.getLogger(__name__)

#: File name of the bit-packed full set inside the cache root. The version is bumped whenever the
#: drawing changes, so that an old cache is never mixed with new on-demand renders.
CACHE_FILE = "dsprites_like_v1.npy"
#: Shape factor values, in the original order (the original's ``latents_values`` are 1, 2, 3).
SHAPES = ("square", "ellipse", "heart")

_SIZE = 64  # image side, px
_HALF = 15  # sprite box half-side: the box is 31x31 with its centre on pixel (15, 15)
_CENTRE0, _SPAN = 16, 32  # sprite centre pixel = 16 + round(32 * pos), pos in [0, 1]
# Shape sizes at scale 1, in px. The square's is the brief's 19 px; the others are chosen to look
# like dSprites' (an ellipse about 2:1, a heart about as wide as the square) and, being off the
# half-pixel grid, to put no pixel centre exactly on an axis-aligned boundary.
_SQUARE_HALF = 9.5
_ELLIPSE_AXES = (11.5, 5.75)
_HEART_UNIT = 9.0  # px per unit of the heart curve, which is ~2.28 units wide
# The heart curve's area centroid is at y = 0.2935 (measured numerically on a fine grid); it is
# moved to the origin so that the sprite rotates about, and is positioned by, its centre of mass.
_HEART_CENTROID_Y = 0.2935
_ROWS_PER_CHUNK = 8192  # images drawn per step when the full set is generated: 32 MB unpacked


class DSpritesLike:
    """The dSprites factor grid with images drawn on demand (and the full set cached on request).

    Factor rows are integer class indices ``[n, 5]`` in the order of :attr:`factor_names`
    (``shape, scale, orientation, posX, posY``); the constant ``color`` factor of the original is
    left out of that API and kept only in :attr:`latents_sizes` / :meth:`latents_values`. This is
    the ``GroundTruthData`` protocol of google-research/disentanglement_lib, which the metrics use.

    Attributes:
        factors_num_values: values per varying factor, ``[3, 6, 40, 32, 32]``.
        factor_names: ``["shape", "scale", "orientation", "posX", "posY"]``.
        latents_sizes: the original layout with colour first, ``[1, 3, 6, 40, 32, 32]``.
        latents_names: ``["color", "shape", "scale", "orientation", "posX", "posY"]``.
        observation_shape: ``(1, 64, 64)``.
    """

    #: The factor grid. A subclass may shrink it (tests do); every derived value follows it.
    GRID: tuple[int, int, int, int, int] = (3, 6, 40, 32, 32)

    #: Each factor row has exactly one image (no noise; ``rng`` unused), so a representation of
    #: it can be computed once per flat index (:func:`infogan.metrics.disentanglement.memoize`).
    deterministic_observations: bool = True

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        """``cache_dir``: directory of the bit-packed full set (:attr:`cache_path`); default
        :func:`~infogan.data.download.default_cache_dir` (``$INFOGAN_DATA`` or
        ``~/.cache/infogan``), looked up when the full set is first needed.
        """
        n_shape, n_scale, n_orient, n_x, n_y = self.GRID
        if not 1 <= n_shape <= len(SHAPES) or min(self.GRID) < 1:
            raise ValueError(f"dsprites: invalid factor grid {self.GRID}")
        self.factors_num_values: list[int] = list(self.GRID)
        self.factor_names: list[str] = ["shape", "scale", "orientation", "posX", "posY"]
        self.latents_sizes: list[int] = [1, *self.GRID]
        self.latents_names: list[str] = ["color", *self.factor_names]
        self.observation_shape: tuple[int, int, int] = (1, _SIZE, _SIZE)
        self._cache_dir = None if cache_dir is None else Path(cache_dir).expanduser()
        self.scales = np.linspace(0.5, 1.0, n_scale)
        self.orientations = np.linspace(0.0, 2 * math.pi, n_orient)
        self.positions_x = np.linspace(0.0, 1.0, n_x)
        self.positions_y = np.linspace(0.0, 1.0, n_y)
        # Row-major strides over the grid, the original's `latents_bases` without the colour.
        self._strides = np.cumprod([1, *self.GRID[:0:-1]])[::-1].astype(np.int64)
        self._sprites: np.ndarray | None = None  # [shape, scale, orient, 31, 31] bool, lazily
        self._packed: np.ndarray | None = None  # memory map of the cache file, lazily

    # ----- factor bookkeeping ---------------------------------------------------------------

    @property
    def num_factors(self) -> int:
        """Number of varying factors (5)."""
        return len(self.factors_num_values)

    def __len__(self) -> int:
        return int(np.prod(self.factors_num_values))

    def _check_factors(self, factors: np.ndarray) -> np.ndarray:
        f = np.asarray(factors)
        if f.ndim != 2 or f.shape[1] != self.num_factors:
            raise ValueError(f"dsprites: factors must have shape [n, 5], got {list(f.shape)}")
        if f.size and not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"dsprites: factors must be integers, got {f.dtype}")
        f = f.astype(np.int64, copy=False)
        if f.size and ((f < 0).any() or (f >= np.asarray(self.factors_num_values)).any()):
            raise ValueError(
                f"dsprites: factor values out of range (sizes {self.factors_num_values})"
            )
        return f

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        """Flat indices ``[n]`` of factor rows ``[n, 5]``: row-major, posY fastest, as the original."""
        return self._check_factors(factors) @ self._strides

    def factors_of(self, index: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`index_of`: flat indices ``[n]`` -> factor rows ``int64 [n, 5]``."""
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ValueError(f"dsprites: indices must lie in [0, {len(self)})")
        return (idx[:, None] // self._strides) % np.asarray(self.factors_num_values)

    def latents_values(self, factors: np.ndarray) -> np.ndarray:
        """The original's ``latents_values`` ``float64 [n, 6]`` for factor rows ``[n, 5]``.

        Columns: color (1), shape (1, 2, 3), scale, orientation (radians), posX, posY.
        """
        f = self._check_factors(factors)
        return np.stack(
            [
                np.ones(len(f)),
                f[:, 0] + 1.0,
                self.scales[f[:, 1]],
                self.orientations[f[:, 2]],
                self.positions_x[f[:, 3]],
                self.positions_y[f[:, 4]],
            ],
            axis=1,
        )

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor rows ``int64 [n, 5]``, each factor uniform over its values, independently."""
        return np.stack([rng.integers(0, k, size=n) for k in self.factors_num_values], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Images ``uint8 [n, 1, 64, 64]`` for factor rows (the data is noise-free: ``rng`` unused)."""
        del rng  # each factor row has exactly one image
        return self.render(factors)

    # ----- drawing --------------------------------------------------------------------------

    def _sprite_bank(self) -> np.ndarray:
        """All (shape, scale, orientation) sprites, ``bool [S, 6, 40, 31, 31]``; drawn once (~ms)."""
        if self._sprites is not None:
            return self._sprites
        off = np.arange(-_HALF, _HALF + 1, dtype=np.float64)
        # Offsets of pixel centres from the sprite centre, y up (row index grows downwards).
        x, y = off[None, :], -off[:, None]  # broadcast to [31, 31]
        # `% 2pi` makes the last orientation (2*pi) exactly 0, so its image is bit-identical to
        # orientation 0 even though float cos/sin of 2*pi are off by an ulp.
        theta = (self.orientations % (2 * math.pi))[:, None, None]  # [O, 1, 1]
        c, s = np.cos(theta), np.sin(theta)
        # Inverse-rotate the grid (by -theta): a pixel is inside the sprite rotated by +theta iff
        # its inverse-rotated offset is inside the upright sprite.
        xr = c * x + s * y  # [O, 31, 31]
        yr = -s * x + c * y
        scale = self.scales[:, None, None, None]  # [K, 1, 1, 1]
        xs, ys = xr[None] / scale, yr[None] / scale  # [K, O, 31, 31], in scale-1 pixel units
        shapes = [
            np.maximum(np.abs(xs), np.abs(ys)) <= _SQUARE_HALF,
            (xs / _ELLIPSE_AXES[0]) ** 2 + (ys / _ELLIPSE_AXES[1]) ** 2 <= 1.0,
            _heart(xs / _HEART_UNIT, ys / _HEART_UNIT + _HEART_CENTROID_Y),
        ]
        self._sprites = np.stack(shapes[: self.factors_num_values[0]])
        return self._sprites

    def _centres(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Whole pixels: a sub-pixel position would need a sprite per fractional offset (as many
        # sprites as images); rounding keeps the grid exact and the drawing a copy.
        cx = _CENTRE0 + np.rint(_SPAN * self.positions_x[f[:, 3]]).astype(np.int64)
        cy = _CENTRE0 + np.rint(_SPAN * self.positions_y[f[:, 4]]).astype(np.int64)
        return cx, cy

    def _render_mask(self, f: np.ndarray) -> np.ndarray:
        """``bool [n, 64, 64]`` for checked factor rows ``f``."""
        n = len(f)
        out = np.zeros((n, _SIZE, _SIZE), dtype=bool)
        if n == 0:
            return out
        sprites = self._sprite_bank()[f[:, 0], f[:, 1], f[:, 2]]  # [n, 31, 31]
        cx, cy = self._centres(f)
        # Scatter only the lit pixels: flat index of (image, row, column) in `out`.
        i, r, c = np.nonzero(sprites)
        flat = i * (_SIZE * _SIZE) + (cy[i] - _HALF + r) * _SIZE + (cx[i] - _HALF + c)
        out.reshape(-1)[flat] = True
        return out

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Draw the images of factor rows ``int [n, 5]``: ``uint8 [n, 1, 64, 64]``, values 0 / 255.

        Needs no cache; ~1,000 images take milliseconds.
        """
        mask = self._render_mask(self._check_factors(factors))
        img = mask.view(np.uint8)  # bool is stored as 0/1 bytes: scale in place, no copy
        img *= 255
        return img[:, None]

    # ----- the full set ---------------------------------------------------------------------

    @property
    def cache_path(self) -> Path:
        """Where the bit-packed full set lives (it may not exist yet)."""
        root = self._cache_dir if self._cache_dir is not None else default_cache_dir()
        return root / CACHE_FILE

    def _valid_cache(self, packed: np.ndarray) -> bool:
        if packed.shape != (len(self), _SIZE, _SIZE // 8) or packed.dtype != np.uint8:
            return False
        # A spot check against on-demand drawing catches a cache written by other code (or
        # another grid) under the same name; 64 rows spread over the set cost about a millisecond.
        idx = np.linspace(0, len(self) - 1, 64).astype(np.int64)
        expected = np.packbits(self._render_mask(self.factors_of(idx)), axis=-1)
        return bool(np.array_equal(np.asarray(packed[idx]), expected))

    def _write_packed(self, f: BinaryIO) -> None:
        shape = (len(self), _SIZE, _SIZE // 8)
        header = {"descr": "|u1", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(f, header)
        # Streamed in chunks so that generation needs ~50 MB, not the 3 GB of the unpacked set.
        for start in range(0, len(self), _ROWS_PER_CHUNK):
            idx = np.arange(start, min(start + _ROWS_PER_CHUNK, len(self)))
            mask = self._render_mask(self.factors_of(idx))  # [m, 64, 64]
            f.write(np.packbits(mask, axis=-1).tobytes())  # [m, 64, 8]

    def packed_images(self) -> np.ndarray:
        """The full set bit-packed, ``uint8 [N, 64, 8]`` (``np.packbits`` along rows), memory-mapped.

        Generated on first use (about 10 s on one core; 377 MB on disk) and written atomically,
        so an interrupted or concurrent generation never leaves a partial file behind. A cache
        of the wrong shape or content is regenerated.
        """
        if self._packed is not None:
            return self._packed
        path = self.cache_path
        packed = None
        if path.exists():
            try:
                packed = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as e:
                log.warning("dsprites: unreadable cache %s (%s); regenerating", path, e)
            if packed is not None and not self._valid_cache(packed):
                log.warning("dsprites: cache %s does not match this grid; regenerating", path)
                packed = None
        if packed is None:
            log.info("dsprites: drawing %d images into %s", len(self), path)
            try:
                atomic_write(path, self._write_packed)
            except OSError as e:
                raise DataError(f"data: cannot write the dSprites-like cache {path}: {e}") from e
            packed = np.load(path, mmap_mode="r", allow_pickle=False)
        self._packed = packed
        return packed

    def images(self, n: int | None = None, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Images ``uint8 [N, 1, 64, 64]`` (0 / 255).

        Args:
            n: ``None`` for the full set in index order (unpacked from the cache, which is
                generated first if missing; 3 GB of RAM), or a number of images drawn on demand
                at distinct random indices (no cache involved).
            rng: source of those indices; default ``np.random.default_rng(0)``.
        """
        if n is not None:
            return torch.from_numpy(self.render(self.subset_factors(n, rng)))
        packed = self.packed_images()
        out = torch.empty((len(self), 1, _SIZE, _SIZE), dtype=torch.uint8)
        view = out.numpy()[:, 0]
        for start in range(0, len(self), _ROWS_PER_CHUNK):
            stop = min(start + _ROWS_PER_CHUNK, len(self))
            np.multiply(np.unpackbits(packed[start:stop], axis=-1), 255, out=view[start:stop])
        return out

    def subset_factors(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Factor rows ``[n, 5]`` of ``n`` distinct images chosen uniformly (default seed 0)."""
        if not 0 <= n <= len(self):
            raise ValueError(f"dsprites: cannot choose {n} of {len(self)} images")
        rng = np.random.default_rng(0) if rng is None else rng
        return self.factors_of(rng.choice(len(self), size=n, replace=False))


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Inside of the heart curve ``(x^2 + y^2 - 1)^3 - x^2 y^3 <= 0`` (point down, y up)."""
    r = x * x + y * y - 1.0
    return r * r * r - x * x * y * y * y <= 0.0


#: The arrays of the original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` this reads
#: (its ``metadata`` is a pickle, never loaded).
ORIGINAL_KEYS = ("imgs", "latents_classes")


class DSpritesFile:
    """Ground truth of a file in the original dSprites layout: ``imgs`` with ``latents_classes``
    (one row of factor class indices per image) that enumerate the whole factor grid in
    row-major order, as the original's 737,280 images do. The disentanglement metrics draw its
    own images for the factor rows they sample; factors of one value (the colour) are left out.

    Attributes:
        factors_num_values: values per varying factor (the original: ``[3, 6, 40, 32, 32]``).
        factor_names: the original's names when the layout is the original's, else factor0, ...
    """

    def __init__(self, images: np.ndarray, classes: np.ndarray) -> None:
        """``images`` ``uint8 [N, 1, H, W]``; ``classes`` ``int [N, F]``, checked by
        :func:`original_ground_truth`."""
        sizes = classes.max(axis=0) + 1
        self._keep = sizes > 1
        self._strides = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int64)
        self.factors_num_values: list[int] = [int(k) for k in sizes[self._keep]]
        original = len(sizes) == 6 and self._keep.tolist() == [False] + [True] * 5
        self.factor_names: list[str] = (
            ["shape", "scale", "orientation", "posX", "posY"]
            if original
            else [f"factor{k}" for k in range(len(self.factors_num_values))]
        )
        self._images = images
        self._sizes = sizes.astype(np.int64)

    #: Each factor row has exactly one image: the metrics may represent each image once
    #: (:func:`infogan.metrics.disentanglement.memoize`, with :meth:`index_of` and
    #: :meth:`factors_of`), as they do for :class:`DSpritesLike`.
    deterministic_observations = True

    def __len__(self) -> int:
        return len(self._images)

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        """The file's row of each factor row ``int [n, F]`` (its image's index)."""
        f = np.asarray(factors, dtype=np.int64)
        if f.ndim != 2 or f.shape[1] != len(self.factors_num_values):
            raise DataError(f"dsprites: expected factor rows [n, {len(self.factors_num_values)}]")
        if f.size and ((f < 0).any() or (f >= np.asarray(self.factors_num_values)).any()):
            raise DataError(
                f"dsprites: factor values out of range (sizes {self.factors_num_values})"
            )
        full = np.zeros((len(f), len(self._keep)), dtype=np.int64)
        full[:, self._keep] = f
        return full @ self._strides

    def factors_of(self, index: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`index_of`: the factor rows ``int64 [n, F]`` of file rows."""
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        return ((idx[:, None] // self._strides) % self._sizes)[:, self._keep]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor rows ``int64 [n, F]``, each factor uniform over its values, independently."""
        return np.stack([rng.integers(0, k, size=n) for k in self.factors_num_values], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """The file's images ``uint8 [n, 1, H, W]`` of factor rows (one image per row)."""
        del rng
        return self._images[self.index_of(factors)]


def original_ground_truth(
    images: np.ndarray, classes: np.ndarray, name: str
) -> DSpritesFile | None:
    """A :class:`DSpritesFile` when ``classes`` enumerate the whole grid in row-major order (the
    original file), else None: a subset lacks images of the factor rows the metrics sample."""
    if classes.ndim != 2 or len(classes) != len(images) or classes.dtype.kind not in "iu":
        raise DataError(
            f"data: {name}: latents_classes should be integers [N, factors] for the {len(images)} "
            f"images, got {classes.dtype} {list(classes.shape)}"
        )
    if (classes < 0).any():
        raise DataError(f"data: {name}: latents_classes hold negative classes")
    sizes = classes.max(axis=0).astype(np.int64) + 1
    strides = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int64)
    if int(np.prod(sizes)) != len(classes) or not np.array_equal(
        classes.astype(np.int64) @ strides, np.arange(len(classes))
    ):
        log.info(
            "data: %s is not the whole factor grid in order (a subset?): read as images with the "
            "first varying factor as labels; the disentanglement metrics need the whole file",
            name,
        )
        return None
    return DSpritesFile(images, classes)


def load_dsprites(split: str = "train", n: int | None = None, seed: int = 0) -> ImageDataset:
    """dSprites-like as an :class:`ImageDataset`, labels = the shape factor (0 square, 1 ellipse, 2 heart).

    Args:
        split: ignored: the dataset has one split (like the original), so train and test are the
            same images; the labels are for evaluating a categorical code, not for supervision.
        n: ``None`` for all 737,280 images in index order (the cache is generated on first use;
            the tensor is 3 GB), or the size of a random subset drawn on demand (no cache).
        seed: seed of that subset, so that ``"dsprites:N"`` is the same images every time.
    """
    del split
    ds = DSpritesLike()
    if n is None:
        images = ds.images()
        # Index order is row-major with shape slowest: the shape of index i is i // stride.
        labels = torch.arange(len(ds)) // int(ds._strides[0])
        return ImageDataset(images=images, labels=labels, name="dsprites", ground_truth=ds)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= len(ds):
        raise DataError(f"data: dsprites: n must be a whole number from 1 to {len(ds)}, got {n!r}")
    factors = ds.subset_factors(n, np.random.default_rng(seed))
    images = torch.from_numpy(ds.render(factors))
    labels = torch.from_numpy(factors[:, 0].astype(np.int64))
    return ImageDataset(images=images, labels=labels, name=f"dsprites:{n}", ground_truth=ds)
