"""Reader for a directory of image files (PNG, JPEG, BMP, GIF, TIFF, WebP): one's own data as
it usually lies on disk.

Layouts, decided by what the directory holds:

- ``DIR/train/...`` and/or ``DIR/test/...``: the split asked for (a directory with only one of
  them gives that one whatever is asked, as an IDX directory does);
- ``DIR/<class>/<image>``: one sub-directory per class, every image directly inside one of
  them; the classes, in sorted name order, become labels 0..K-1 (evaluation only: training never
  reads them) and their names are kept (:attr:`ImageDataset.classes`);
- otherwise every image anywhere below ``DIR``, unlabelled.

Pixels: all images grey (Pillow modes ``1``, ``L``, ``LA``, ``I``, ``I;16*``, ``F``, or a
palette of greys only) -> one channel; any colour image among them -> three (RGB;
transparency is flattened onto white). 16-bit greys are scaled by their bit depth (65535 ->
255), float greys from [0, 1] or [0, 255], never by each file's own darkest and brightest pixel.
EXIF orientation is applied, as a photo viewer does. Class folders may be symbolic links.
An animated GIF or a multi-page TIFF is one image, its first frame (the log names such files).
Size: with ``size`` given, each image is centre-cropped
to a square of its shorter side and resized to ``size`` x ``size`` (Lanczos; JPEGs are first
decoded at the smallest scale still at least that big, which makes large photos quick to
read); without it, all images must share one size.

Decoded folders are cached (``<cache root>/folders/*.npz``), keyed by the directory, the split,
the size, and every file's name, length and modification time, so a second run reads one array
instead of decoding every file again, and any change to the files is noticed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from infogan.atomic import atomic_write
from infogan.data.dataset import ImageDataset
from infogan.data.npz import OVERSHOOT
from infogan.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

IMAGE_SUFFIXES = frozenset(
    # .jfif and .jpe: JPEGs as some browsers and Windows save them (skipped without a word)
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".webp",
        ".pgm",
        ".ppm",
    }
)
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_ORIENTATION = 0x0112  # EXIF tag; values 5-8 turn the image a quarter
log = logging.getLogger(__name__)
# Bump when decoding or what is cached changes, so old caches are not read as new ones
# (3: the decoding notes are kept beside the pixels).
CACHE_VERSION = 3

__all__ = ["IMAGE_SUFFIXES", "has_images", "load_image_folder"]


def _walk(directory: str | Path) -> Iterator[tuple[str, list[str]]]:
    """``(folder, image file names)`` below ``directory``: hidden files and folders skipped,
    linked folders followed, each real folder visited once (a link loop ends)."""
    seen: set[str] = set()
    for root, dirs, files in os.walk(directory, followlinks=True):
        seen.add(os.path.realpath(root))
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and os.path.realpath(os.path.join(root, d)) not in seen
        )
        yield (
            root,
            [
                f
                for f in files
                if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES
            ],
        )


def _images_below(directory: Path) -> list[Path]:
    """Image files below ``directory``, sorted; hidden files and folders are skipped. A pipe,
    socket or device named like an image is refused (reading it would wait forever)."""
    found = []
    for root, files in _walk(directory):
        for f in files:
            path = Path(root) / f
            try:
                mode = path.stat().st_mode
            except OSError as e:  # a dangling link, or a file gone since it was listed
                what = "a broken link" if path.is_symlink() else "unreadable"
                raise DataError(
                    f"data: {path} is {what} ({e.strerror}); remove or replace it"
                ) from None
            if not stat.S_ISREG(mode):
                raise DataError(f"data: {path} is not a regular file (a pipe, socket or device)")
            found.append(path)
    return sorted(found)


def has_images(directory: str | Path) -> bool:
    """Whether any image file lies below ``directory`` (stops at the first one: CelebA's check
    and the split check need not list 200,000 files that the loader lists again)."""
    return any(files for _, files in _walk(directory))


def _split_dir(directory: Path, split: str) -> Path:
    subs = {s: directory / s for s in ("train", "test") if (directory / s).is_dir()}
    subs = {s: d for s, d in subs.items() if has_images(d)}
    # Said, as for IDX directories: a user who gave DIR reads half of its images otherwise
    # without a word (`encode --data DIR` wrote the test split's rows only).
    if split in subs:
        if len(subs) == 2:
            log.info("data: %s holds train/ and test/; reading %s/", directory, split)
        return subs[split]
    if len(subs) == 1:  # only the other split is there: that split, as for IDX directories
        ((other, found),) = subs.items()
        log.info("data: %s has no %s/ folder; reading its %s/", directory, split, other)
        return found
    return directory


def _files_and_labels(directory: Path) -> tuple[list[Path], np.ndarray | None, list[str] | None]:
    files = _images_below(directory)
    if not files:
        raise DataError(
            f"data: {directory} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) "
            "and no MNIST-format IDX files"
        )
    # One folder per class: every image sits directly in a sub-directory of `directory`, and
    # there are at least two of them (a single folder of images is not a labelling).
    parents = {f.parent for f in files}
    if len(parents) >= 2 and all(p.parent == directory for p in parents):
        classes = sorted(p.name for p in parents)
        index = {name: i for i, name in enumerate(classes)}
        labels = np.array([index[f.parent.name] for f in files], dtype=np.int64)
        return files, labels, classes
    subs = {p for p in parents if p.parent == directory}
    if len(subs) >= 2:  # it looks like class folders, but is not: say why it has no labels
        odd = next(f for f in files if f.parent not in subs)
        log.info(
            "data: %s read without labels: class folders need every image directly inside one "
            "sub-folder, and %s is not",
            directory,
            odd.relative_to(directory),
        )
    return files, None, None


def _open(path: Path) -> Image.Image:
    """Open lazily (Pillow reads the header now, the pixels on first use)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Past ~89M pixels Pillow warns (we downscale; the user needs no traceback-like
            # lines), past twice that it refuses: the error below names the file.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except Image.DecompressionBombError as e:
        raise DataError(f"data: {path} is too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"data: {path} is not a readable image ({e})") from None


def _orientation(image: Image.Image) -> int:
    """The image's EXIF orientation (1 = upright; 5-8 turn it a quarter, so width and height
    swap), read from the header."""
    try:
        value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block: the pixels are still what counts
        return 1
    return value if value in range(1, 9) else 1


def _wide_to_uint8(image: Image.Image, path: Path) -> Image.Image:
    """16-bit or float grey pixels as 8-bit, by the bit depth or the float range, never by the
    image's own darkest and brightest pixel (that made a white image black)."""
    from PIL import Image

    a = np.asarray(image, dtype=np.float64)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and 255 < hi <= 65535):
        a = a / 257.0  # 65535 -> 255
    elif image.mode == "F" and lo >= -OVERSHOOT and hi <= 1.0 + OVERSHOOT:
        a = a * 255.0  # [0, 1] floats (a little resampling overshoot clipped)
    if lo < -OVERSHOOT * 255 or a.max(initial=0.0) > 255.0 * (1.0 + OVERSHOOT):
        raise DataError(
            f"data: {path}: {image.mode} pixels range over [{lo:g}, {hi:g}], which fits none "
            "of 8-bit, 16-bit, [0, 1] or [0, 255]"
        )
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))


def _pixel_mode(image: Image.Image) -> str:
    """The image's Pillow mode, except that a palette image whose palette holds only greys
    (a common way to store grey PNGs and GIFs) counts as grey: ``L`` (``LA`` with alpha)."""
    if image.mode in ("P", "PA"):
        palette = image.getpalette("RGB")  # read with the header: no pixels decoded
        if palette and all(
            palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette), 3)
        ):
            return "L" if image.mode == "P" else "LA"
    return image.mode


def _decode(path: Path, mode: str, size: int | None) -> np.ndarray:
    """One file as ``uint8`` ``[H, W]`` (mode ``L``) or ``[H, W, 3]`` (mode ``RGB``)."""
    from PIL import Image, ImageOps

    try:
        with _open(path) as image:
            if size is not None and image.format == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale while the result stays >= size:
                # most of a large photo's decoding time saved, nothing lost after resizing.
                image.draft(mode, (size, size))
            if _orientation(image) != 1:
                image = ImageOps.exif_transpose(image)  # upright, as a photo viewer shows it
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                # Transparent pixels onto white, as an image viewer shows them.
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            elif image.mode in _WIDE_MODES:
                image = _wide_to_uint8(image, path)
            image = image.convert(mode)
            if size is not None:
                w, h = image.size
                side = min(w, h)
                left, top = (w - side) // 2, (h - side) // 2
                # Crop first: resize(box=...) would let the filter read pixels outside the box.
                image = image.crop((left, top, left + side, top + side))
                image = image.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.uint8)
    except DataError:
        raise  # already says what is wrong with this file (it is a ValueError too)
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt pixel data
        raise DataError(f"data: {path} is not a readable image ({e})") from None


def _cache_key(directory: Path, files: list[Path], size: int | None) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, str(directory.resolve()), size]).encode())
    for f in files:
        st = f.stat()
        # os.fsencode: a name that is not UTF-8 (old zip archives) is still just bytes here.
        h.update(os.fsencode(f.relative_to(directory)))
        h.update(f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _shown(name: str) -> str:
    """A file name fit to print and write: bytes that are not UTF-8 as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def load_image_folder(
    directory: str | Path,
    split: str = "train",
    size: int | None = None,
    cache_dir: str | Path | None = None,
) -> ImageDataset:
    """Load a directory of image files (layouts: see the module docstring).

    Args:
        directory: the folder.
        split: ``"train"`` or ``"test"``, used where the folder has such sub-folders.
        size: square side to crop and resize every image to; None = keep the files' own size,
            which must then be the same for all.
        cache_dir: where decoded folders are cached; None = ``<cache root>/folders``; ``""``
            turns the cache off.

    Raises:
        DataError: no images, an unreadable or corrupt file (named), sizes that differ without
            ``size``, or a bad ``size``.
    """
    if size is not None and not (isinstance(size, int) and 1 <= size <= 4096):
        raise DataError(f"data: image size must be a whole number from 1 to 4096, got {size!r}")
    root = Path(directory)
    directory = _split_dir(root, split)
    files, labels, classes = _files_and_labels(directory)
    name = str(directory)
    # Relative to the folder given, so that a split's files keep their train/ or test/ (the
    # two splits may hold files of the same names).
    rel = [_shown(str(f.relative_to(root))) for f in files]
    cache: Path | None = None
    if cache_dir != "":
        from infogan.data.download import default_cache_dir

        base = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "folders"
        cache = base / f"{_cache_key(directory, files, size)}.npz"
        hit = _read_cache(cache, len(files))
        if hit is not None:
            images_hit, said = hit
            for note in said:  # what decoding changed, said again: the cache changes nothing
                log.info("%s", note)
            return ImageDataset(
                torch.from_numpy(images_hit), _tensor(labels), name, classes=classes, files=rel
            )
    # Pass 1, headers only (Pillow reads no pixels yet): the mode and size of every file.
    # Every unreadable file is collected, so that one run names them all (not one per run).
    file_modes: list[str] = []
    file_sizes: list[tuple[int, int]] = []
    animated: list[Path] = []
    bad: list[str] = []
    readable: list[Path] = []
    for f in files:
        try:
            with _open(f) as image:
                file_modes.append(_pixel_mode(image))
                size_wh = image.size[::-1] if _orientation(image) >= 5 else image.size
                file_sizes.append(size_wh)
                if getattr(image, "is_animated", False):
                    animated.append(f)
            readable.append(f)
        except DataError as e:
            bad.append(str(e))
    modes, sizes = set(file_modes), set(file_sizes)
    notes: list[str] = []  # logged, and kept with the cached pixels to be logged on each read
    if animated:
        # A user's animated GIF or multi-page TIFF is one image here, not many: say which.
        first = _shown(str(animated[0].relative_to(directory)))
        notes.append(
            f"data: {len(animated)} file(s) in {directory} hold several frames (first: "
            f"{first}); each gives its first frame"
        )
    if size is None and len(sizes) > 1 and not bad:
        a, b = sorted(sizes)[:2]
        raise DataError(
            f"data: images in {directory} differ in size ({a[0]}x{a[1]}, {b[0]}x{b[1]}, ...); "
            "they are resized only to a network's size (training and evaluation do that)"
        )
    mode = "L" if modes <= GREY_MODES else "RGB"
    # Said, not done silently: what decoding changes (both are needed, and cost nothing here).
    if size is not None and not bad:
        oblong = sum(w != h for w, h in file_sizes)
        if oblong:
            notes.append(
                f"data: {oblong} of {len(files)} images are not square: each centre-cropped to "
                f"a square, then resized to {size}x{size}"
            )
    if mode == "RGB" and not bad:
        grey = sum(m in GREY_MODES for m in file_modes)
        if grey:
            notes.append(
                f"data: {grey} of {len(files)} images are grey among colour ones: read as "
                "colour (three equal channels)"
            )
    arrays = []
    for f in readable:  # the pixels too, so that files cut short are named with the others
        try:
            arrays.append(_decode(f, mode, size))
        except DataError as e:  # pixel data cut short: the header read, the pixels did not
            bad.append(str(e))
    _refuse_unreadable(bad, directory)
    for note in notes:
        log.info("%s", note)
    images = np.stack(arrays)  # [N, H, W] or [N, H, W, 3]
    images = images[:, None] if mode == "L" else images.transpose(0, 3, 1, 2)
    images = np.ascontiguousarray(images)
    if cache is not None:
        _write_cache(cache, images, notes)
    return ImageDataset(torch.from_numpy(images), _tensor(labels), name, classes=classes, files=rel)


def _refuse_unreadable(errors: list[str], directory: Path) -> None:
    """One line naming every unreadable file of a folder (the first three in full)."""
    if not errors:
        return
    if len(errors) == 1:
        raise DataError(errors[0])
    shown = "; ".join(e.removeprefix("data: ") for e in errors[:3])
    more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    raise DataError(
        f"data: {len(errors)} files in {directory} are not readable images: {shown}{more} "
        "(remove or replace them)"
    )


def _tensor(labels: np.ndarray | None) -> torch.Tensor | None:
    return None if labels is None else torch.from_numpy(labels)


def _read_cache(path: Path, n: int) -> tuple[np.ndarray, list[str]] | None:
    """The cached pixels and the notes their decoding logged; None to decode again."""
    try:
        with np.load(path, allow_pickle=False) as z:
            images = z["images"]
            notes = [str(s) for s in z["notes"]] if "notes" in z.files else []
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # absent or damaged: decode again (and rewrite it)
    ok = images.dtype == np.uint8 and images.ndim == 4 and images.shape[0] == n
    return (images, notes) if ok else None


def _write_cache(path: Path, images: np.ndarray, notes: list[str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        # Notes as a unicode array (not objects): the cache loads with allow_pickle=False.
        np.savez(buf, images=images, notes=np.array(notes, dtype=str))
        atomic_write(path, lambda f: f.write(buf.getvalue()))
    except OSError:
        pass  # a read-only cache costs time on the next run, nothing else
