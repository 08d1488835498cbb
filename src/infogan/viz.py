"""Figures: sample grids, latent traversals (the paper's Figure 2) and training curves (Figure 1).

Rendering is headless: figures are built as :class:`matplotlib.figure.Figure` objects bound to the
Agg canvas explicitly, never through ``pyplot``. That needs no display, does not change the
process-wide backend of a user who imports this library in a notebook, and keeps figures out of
pyplot's global registry, so long training runs that save a figure every few thousand steps do
not leak memory.

Every file is written atomically: to a temporary file in the destination directory, then
``os.replace``-d over the target. A run killed mid-write leaves the previous figure (or nothing),
never a truncated PNG.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import math
import os
import textwrap
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from infogan.atomic import atomic_write_bytes
from infogan.errors import DataError

__all__ = [
    "image_grid",
    "read_jsonl",
    "save_grid",
    "save_training_curves",
    "save_traversal_figure",
]


# --------------------------------------------------------------------------------------------
# helpers


def _to_numpy(images: Any) -> np.ndarray:
    """float32 numpy view of a numpy array or (any-device, grad-carrying) torch tensor."""
    if hasattr(images, "detach"):  # torch.Tensor, without importing torch here
        images = images.detach().float().cpu().numpy()
    return np.asarray(images, dtype=np.float32)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Map [-1, 1] to [0, 255]: -1 -> 0, 1 -> 255; out-of-range values clip, NaN shows black."""
    x = np.nan_to_num(x, nan=-1.0, posinf=1.0, neginf=-1.0)
    return np.round((np.clip(x, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def _save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int) -> None:
    """Render ``fig`` to PNG bytes in memory, then write them atomically, then free the figure."""
    try:
        FigureCanvasAgg(fig)  # explicit Agg canvas: headless regardless of the global backend
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        atomic_write_bytes(path, buf.getvalue())
    finally:
        fig.clear()  # drop artists now rather than waiting for the garbage collector


def _charmap(path: str) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


@functools.lru_cache(maxsize=64)
def _fonts_for(chars: frozenset[str], chain: tuple[str, ...]) -> tuple[list[str], str]:
    """Installed font families that draw the ``chars`` that the fonts of ``chain`` (the font
    files the user's ``font.family`` list resolves to: DejaVu Sans by default) lack, and the
    characters none has. Class folders named in Chinese, Japanese, Korean, ... label the
    figures; matplotlib falls back per glyph along ``font.family``, but only to the families
    named there."""
    from matplotlib import font_manager as fm

    missing = set(chars)
    for path in chain:
        missing = {c for c in missing if ord(c) not in _charmap(path)}
    found: list[str] = []
    # Sorted by name for the same choice on every run; "Last Resort" draws a placeholder for
    # every code point, which says nothing the warning does not.
    for entry in sorted(fm.fontManager.ttflist, key=lambda e: (e.name, e.fname)):
        if not missing:
            break
        if entry.name in found or entry.name.startswith("Last Resort"):
            continue
        try:
            covered = {c for c in missing if ord(c) in _charmap(entry.fname)}
        except (RuntimeError, OSError):  # an unreadable font file
            continue
        if covered:
            found.append(entry.name)
            missing -= covered
    return found, "".join(sorted(missing))


def _font_chain() -> tuple[list[str], tuple[str, ...]]:
    """The user's ``font.family`` list and the installed font files it resolves to (a family
    not installed is skipped, as matplotlib skips it)."""
    from matplotlib import font_manager as fm

    families = list(matplotlib.rcParams["font.family"])
    paths = []
    for family in families:
        try:
            paths.append(fm.findfont(fm.FontProperties(family=family), fallback_to_default=False))
        except ValueError:
            continue
    return families, tuple(dict.fromkeys(paths))


#: The characters already said to show as boxes, so that each is named once per process (a
#: run draws a traversal per code, all with the same class names).
_told_missing: set[str] = set()


@contextlib.contextmanager
def _quiet_font_manager(quiet: bool) -> Iterator[None]:
    """Hush matplotlib's font manager while fallback fonts draw: it warns on every figure
    that a CJK font's one weight (often 500, WenQuanYi's) is not the 400 asked for."""
    logger = logging.getLogger("matplotlib.font_manager")
    level = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _label_fonts(labels: Sequence[str]) -> tuple[list[str], bool]:
    """The ``font.family`` list that draws ``labels`` with installed fonts where the user's
    fonts lack their characters (empty when they have them all: the user's list, then the
    fonts found), and whether some character has no font at all: that is logged once per
    process, by name (matplotlib warns once per glyph, and draws boxes)."""
    # Combining marks, variation selectors and joiners are drawn with the letter before them:
    # named alone they read as garbage, and fonts often leave them out of their tables.
    chars = frozenset(
        c
        for label in labels
        for c in label
        if ord(c) > 0x7F and c.isprintable() and unicodedata.category(c)[0] not in "MC"
    )
    if not chars:
        return [], False
    families, chain = _font_chain()
    extra, missing = _fonts_for(chars, chain)
    new = "".join(c for c in missing if c not in _told_missing)
    if new:
        _told_missing.update(new)
        shown = new if len(new) <= 12 else new[:12] + "..."
        logging.getLogger("infogan").warning(
            "figure labels: no installed font draws %s (class names?), so they show as boxes; "
            "installing a font for that script (e.g. from the Noto family) fixes it",
            shown,
        )
    if not extra:
        return [], bool(missing)
    return [*families, *extra], bool(missing)


# --------------------------------------------------------------------------------------------
# grids


def image_grid(images: Any, nrow: int, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile a batch of images into one uint8 image.

    Args:
        images: float images in [-1, 1], shape ``[N, C, H, W]`` with ``C`` in {1, 3}; numpy
            array or torch tensor (any device). Values outside [-1, 1] are clipped.
        nrow: images per row (torchvision's ``make_grid`` convention); the number of rows is
            ``ceil(N / nrow)`` and empty trailing cells are filled with ``pad_value``.
        pad: pixels of padding between images and around the border.
        pad_value: padding colour on the same [-1, 1] scale (1.0 = white, -1.0 = black).

    Returns:
        ``uint8`` array ``[H', W']`` for ``C == 1`` or ``[H', W', 3]`` for ``C == 3``, where
        ``H' = rows * (H + pad) + pad`` and ``W' = nrow * (W + pad) + pad``.
    """
    x = _to_numpy(images)
    if x.ndim != 4:
        raise DataError(f"images must be [N, C, H, W], got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    if c not in (1, 3):
        raise DataError(f"images must have 1 or 3 channels, got {c}")
    if n == 0:
        raise DataError("no images to put in a grid")
    if nrow < 1:
        raise DataError(f"nrow must be >= 1, got {nrow}")
    if pad < 0:
        raise DataError(f"pad must be >= 0, got {pad}")
    ncol = nrow
    rows = math.ceil(n / ncol)
    grid = np.full(
        (c, rows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.float32
    )  # [C, H', W']
    for i in range(n):
        r, q = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i]
    out = _to_uint8(grid)
    return out[0] if c == 1 else np.ascontiguousarray(out.transpose(1, 2, 0))  # [H', W', 3]


def save_grid(images: Any, path: str | os.PathLike[str], nrow: int) -> np.ndarray:
    """Save :func:`image_grid` of ``images`` (in [-1, 1]) as a PNG, atomically, at native size;
    return the grid (uint8)."""
    grid = image_grid(images, nrow)
    buf = io.BytesIO()
    Image.fromarray(grid, mode="L" if grid.ndim == 2 else "RGB").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return grid


# --------------------------------------------------------------------------------------------
# traversals


def save_traversal_figure(
    images: Any,
    path: str | os.PathLike[str],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    *,
    row_axis_label: str | None = None,
    col_axis_label: str | None = None,
    cell_inches: float = 0.6,
    dpi: int = 150,
) -> None:
    """Save a latent-traversal figure like Figure 2 of the InfoGAN paper.

    Args:
        images: ``[R, K, C, H, W]`` in [-1, 1]: row ``r`` holds one fixed (z, other codes), and
            column ``k`` one value of the varied code.
        path: PNG file to write (atomically; parent directories are created).
        row_labels: ``R`` labels drawn left of the rows (e.g. ``"z #1"``), or ``[]`` for none.
        col_labels: ``K`` labels drawn above the columns (e.g. ``"-2.0"`` … ``"2.0"`` or the
            categorical value), or ``[]`` for none.
        title: figure title (e.g. ``"c2 (cont) from -2 to 2"``).
        row_axis_label: optional axis label for the rows (e.g. ``"sample"``).
        col_axis_label: optional axis label for the columns (e.g. ``"c2 value"``).
        cell_inches: printed size of one image cell.
        dpi: output resolution.
    """
    x = _to_numpy(images)
    if x.ndim != 5:
        raise DataError(f"traversal images must be [R, K, C, H, W], got shape {tuple(x.shape)}")
    r, k, c, h, w = x.shape
    if row_labels and len(row_labels) != r:
        raise DataError(f"{len(row_labels)} row labels for {r} rows")
    if col_labels and len(col_labels) != k:
        raise DataError(f"{len(col_labels)} column labels for {k} columns")
    pad = 2
    # One imshow of the tiled grid instead of R*K subplots: ~100x fewer artists, so a 10x10
    # traversal renders in milliseconds and labels still sit exactly on the cell centres.
    grid = image_grid(x.reshape(r * k, c, h, w), nrow=k, pad=pad)

    texts = [*row_labels, *col_labels, title, row_axis_label or "", col_axis_label or ""]
    fonts, boxes = _label_fonts(texts)
    rc = matplotlib.rc_context({"font.family": fonts} if fonts else None)
    with rc, warnings.catch_warnings(), _quiet_font_manager(bool(fonts)):
        if boxes:  # said once in _label_fonts, not once per glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
        width = max(2.0, k * cell_inches) + 1.2
        # A long title over few columns (a 3-valued code's "c1 (cat): its values ...") was
        # cut off at both edges: it wraps to the figure's width instead (~10 characters an
        # inch at the title's 12 pt), and each extra line gets its own height.
        title = "\n".join(textwrap.wrap(title, max(20, int(width * 10)))) or title
        fig = Figure(figsize=(width, r * cell_inches + 1.0 + 0.2 * title.count("\n")))
        ax = fig.add_subplot(1, 1, 1)
        if grid.ndim == 2:
            ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(grid, interpolation="nearest")
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xticks([pad + j * (w + pad) + (w - 1) / 2 for j in range(k)] if col_labels else [])
        ax.set_yticks([pad + i * (h + pad) + (h - 1) / 2 for i in range(r)] if row_labels else [])
        if col_labels:
            # parse_math off: a class folder named "$x^2$" or "cost $5" is a name, not TeX (it
            # crashed the figure, and so the whole report)
            ax.set_xticklabels(list(col_labels), fontsize=8, parse_math=False)
        if row_labels:
            ax.set_yticklabels(list(row_labels), fontsize=8, parse_math=False)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if col_axis_label:
            ax.set_xlabel(col_axis_label, parse_math=False)
        if row_axis_label:
            ax.set_ylabel(row_axis_label, parse_math=False)
        fig.suptitle(title, parse_math=False)
        fig.set_layout_engine("constrained")
        _save_figure(fig, path, dpi)


# --------------------------------------------------------------------------------------------
# training curves


def _finite(v: Any) -> float | None:
    """``float(v)`` if it is a finite number, else ``None`` (missing, null, NaN, inf, text)."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _series(records: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of ``key`` over the rows that have both a finite step and value."""
    xs: list[float] = []
    ys: list[float] = []
    for rec in records:
        if not isinstance(rec, dict):
            continue
        s, v = _finite(rec.get("step")), _finite(rec.get(key))
        if s is not None and v is not None:
            xs.append(s)
            ys.append(v)
    return xs, ys


def save_training_curves(
    records: Sequence[dict[str, Any]],
    path: str | os.PathLike[str],
    code_names: Sequence[str],
    entropies: Sequence[float],
    *,
    display_names: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 120,
) -> None:
    """Plot losses and the per-code mutual-information lower bound against the step.

    Two panels: (1) ``d_loss`` and ``g_loss``; (2) ``L_I`` per code in nats (keys
    ``"mi/<code name>"``), each with a dashed horizontal line at its ``H(c)`` in the same colour
    (the paper's Figure 1: a categorical code's bound plateaus at ``ln K`` when Q recovers it).
    Rows missing a key, or holding null / NaN / inf, are skipped for that key only.

    Args:
        records: rows of ``metrics.jsonl`` (see :func:`read_jsonl`).
        path: PNG file to write (atomically).
        code_names: code names as they appear in the ``mi/`` keys, e.g. ``["c1", "c2"]``.
        entropies: ``H(c)`` per code in nats (``ln K`` categorical, ``ln 2`` per Uniform(-1, 1)
            dimension); NaN draws no reference line.
        display_names: legend names per code, e.g. ``["c1 (cat10)", "c2 (cont)"]``; defaults
            to ``code_names``. The legend reads ``"<display name> H=<entropy>"``.
        title: optional figure title.
        dpi: output resolution.
    """
    if len(entropies) != len(code_names):
        raise DataError(f"{len(entropies)} entropies for {len(code_names)} codes")
    names = list(display_names) if display_names is not None else list(code_names)
    if len(names) != len(code_names):
        raise DataError(f"{len(names)} display names for {len(code_names)} codes")

    fig = Figure(figsize=(7.0, 6.0))
    ax_loss, ax_mi = fig.subplots(2, 1, sharex=True)

    any_loss = False
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        xs, ys = _series(records, key)
        if xs:
            ax_loss.plot(xs, ys, label=label, linewidth=1.0)
            any_loss = True
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("adversarial losses")
    if any_loss:
        ax_loss.legend(loc="best", fontsize=8)
    else:
        ax_loss.text(
            0.5, 0.5, "no loss data", ha="center", va="center", transform=ax_loss.transAxes
        )

    any_mi = False
    # Fixed colour cycle index per code so the dashed H(c) line matches its curve even when a
    # code has no data yet (then only its reference line is drawn).
    colors = [f"C{i % 10}" for i in range(len(code_names))]
    for name, disp, h, color in zip(code_names, names, entropies, colors, strict=True):
        xs, ys = _series(records, f"mi/{name}")
        h_val = _finite(h)
        label = f"{disp} H={h_val:.2f}" if h_val is not None else str(disp)
        if xs:
            ax_mi.plot(xs, ys, color=color, label=label, linewidth=1.0)
            any_mi = True
        if h_val is not None:
            # Label the line only when there is no curve, so each code appears once in the legend.
            ax_mi.axhline(h_val, color=color, ls="--", lw=0.9, label=None if xs else label)
            any_mi = True
    ax_mi.set_xlabel("step")
    ax_mi.set_ylabel("L_I lower bound (nats)")
    ax_mi.set_title("mutual-information lower bound per code (dashed: H(c))")
    if any_mi:
        ax_mi.legend(loc="best", fontsize=8)
    else:
        ax_mi.text(0.5, 0.5, "no MI data", ha="center", va="center", transform=ax_mi.transAxes)

    if title:
        fig.suptitle(title, parse_math=False)
    fig.set_layout_engine("constrained")
    _save_figure(fig, path, dpi)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines log, tolerating a truncated last line.

    A training run killed mid-write can leave a partial final record; it is skipped. Blank lines
    are ignored. A bad line anywhere else means real corruption and raises.

    Raises:
        DataError: missing file, or an unparsable / non-object line before the last one.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as e:
        raise DataError(f"no such log file: {p}") from e
    # Bytes, not text: the cut may fall inside a multi-byte UTF-8 character of the last line.
    lines = [(i, ln) for i, ln in enumerate(raw.split(b"\n"), start=1) if ln.strip()]
    out: list[dict[str, Any]] = []
    for j, (lineno, ln) in enumerate(lines):
        try:
            rec = json.loads(ln.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            if j == len(lines) - 1:
                break  # truncated final record from a killed writer
            raise DataError(f"{p}:{lineno}: not valid JSON ({e})") from e
        if not isinstance(rec, dict):
            raise DataError(f"{p}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        out.append(rec)
    return out
