"""Figures: grid geometry, value mapping, valid PNGs written atomically, tolerant log reading."""

import json

import numpy as np
import pytest
from PIL import Image

from infogan.viz import (
    image_grid,
    read_jsonl,
    save_grid,
    save_training_curves,
    save_traversal_figure,
)


def _valid_png(path):
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.verify()  # raises on a truncated or corrupt file
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size, im.mode


def _no_temp_files(directory):
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("c", [1, 3])
def test_grid_shape(c):
    x = np.zeros((10, c, 5, 7), dtype=np.float32)
    g = image_grid(x, nrow=4, pad=2)  # 4 per row -> 3 rows
    h, w = 3 * (5 + 2) + 2, 4 * (7 + 2) + 2
    assert g.dtype == np.uint8
    assert g.shape == ((h, w) if c == 1 else (h, w, 3))


def test_grid_values_and_padding():
    x = np.stack([np.full((1, 3, 3), -1.0), np.full((1, 3, 3), 1.0)])
    g = image_grid(x, nrow=2, pad=1, pad_value=0.0)
    assert g.shape == (5, 9)
    assert (g[1:4, 1:4] == 0).all()  # -1 -> 0
    assert (g[1:4, 5:8] == 255).all()  # 1 -> 255
    assert g[0, 0] == 128  # pad 0.0 -> mid grey
    # Out of range clips rather than wrapping around in uint8.
    assert image_grid(np.full((1, 1, 2, 2), 3.0), nrow=1, pad=0).min() == 255


def test_grid_accepts_torch():
    torch = pytest.importorskip("torch")
    x = torch.ones(2, 3, 4, 4, requires_grad=True)
    assert image_grid(x, nrow=2).shape == (8, 14, 3)


def test_grid_rejects_bad_shapes():
    with pytest.raises(ValueError):
        image_grid(np.zeros((2, 2, 4, 4)), nrow=2)  # 2 channels
    with pytest.raises(ValueError):
        image_grid(np.zeros((2, 4, 4)), nrow=2)  # no channel axis


@pytest.mark.parametrize("c", [1, 3])
def test_save_grid(tmp_path, c):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(6, c, 8, 8)).astype(np.float32)
    out = tmp_path / "sub" / "grid.png"
    save_grid(x, out, nrow=3)
    size, mode = _valid_png(out)
    assert size == (3 * 10 + 2, 2 * 10 + 2)
    assert mode == ("L" if c == 1 else "RGB")
    _no_temp_files(out.parent)


@pytest.mark.parametrize("c", [1, 3])
def test_save_traversal_figure(tmp_path, c):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(3, 5, c, 8, 8))
    out = tmp_path / "trav.png"
    save_traversal_figure(
        x,
        out,
        row_labels=[f"z{i}" for i in range(3)],
        col_labels=[f"{v:.1f}" for v in np.linspace(-2, 2, 5)],
        title="c2 from -2 to 2",
        col_axis_label="c2",
    )
    _valid_png(out)
    _no_temp_files(tmp_path)
    # Overwriting an existing figure works (os.replace) and labels are optional.
    save_traversal_figure(x, out, row_labels=[], col_labels=[], title="again")
    _valid_png(out)
    # class names are text, not TeX: "$\\foo{$" crashed matplotlib's math parser
    names = ["$\\foo{$", "cost $5 & $6", "$x^2$", "a", "b"]
    save_traversal_figure(x, out, [f"c1={n}" for n in names[:3]], names, title="$\\bar{")
    _valid_png(out)


def test_traversal_label_count_checked(tmp_path):
    with pytest.raises(ValueError):
        save_traversal_figure(np.zeros((2, 3, 1, 4, 4)), tmp_path / "t.png", ["a"], [], "t")


def test_save_training_curves_with_missing_keys(tmp_path):
    records = []
    for step in range(0, 200, 10):
        rec = {"step": step, "d_loss": 1.0 / (step + 1), "g_loss": 0.5 + 0.001 * step}
        if step % 20 == 0:
            rec["mi/c1"] = min(2.3, 0.02 * step)
        if step == 50:
            rec["mi/c2"] = float("nan")
            del rec["d_loss"]
        if step > 100:
            rec["mi/c2"] = 0.3
        records.append(rec)
    records.append({"mi/c1": 1.0})  # no step: ignored
    out = tmp_path / "curves.png"
    save_training_curves(
        records,
        out,
        code_names=["c1", "c2", "c3"],  # c3 has no data at all: only its H(c) line
        entropies=[np.log(10), np.log(2), np.log(2)],
        display_names=["c1 (cat10)", "c2 (cont)", "c3 (cont)"],
    )
    _valid_png(out)
    _no_temp_files(tmp_path)


def test_save_training_curves_empty(tmp_path):
    out = tmp_path / "empty.png"
    save_training_curves([], out, code_names=[], entropies=[])
    _valid_png(out)


def test_read_jsonl_skips_truncated_last_line(tmp_path):
    p = tmp_path / "metrics.jsonl"
    rows = [{"step": i, "d_loss": 0.1 * i} for i in range(3)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    p.write_text(text + '{"step": 3, "d_lo')  # killed mid-write
    assert read_jsonl(p) == rows
    p.write_text(text + "\n")  # blank trailing line
    assert read_jsonl(p) == rows


def test_read_jsonl_truncated_inside_utf8(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_bytes(b'{"step": 0}\n{"note": "\xc3')  # cut inside a 2-byte UTF-8 character
    assert read_jsonl(p) == [{"step": 0}]


def test_read_jsonl_corrupt_middle_line_raises(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=":2:"):
        read_jsonl(p)


def test_read_jsonl_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_a_long_title_over_few_columns_wraps_to_the_figure(tmp_path, monkeypatch):
    """A 3-valued code's title was cut off at both edges (the figure is as wide as its
    columns); it now wraps to lines that fit the width."""
    from matplotlib.figure import Figure

    seen = {}
    real = Figure.suptitle

    def capture(self, t, **kw):
        seen["title"], seen["width"] = t, self.get_figwidth()
        return real(self, t, **kw)

    monkeypatch.setattr(Figure, "suptitle", capture)
    title = "c1 (cat): its values along columns (step 300); value → matched label; 3 of 100"
    x = np.zeros((2, 3, 1, 8, 8))
    save_traversal_figure(x, tmp_path / "t.png", ["a", "b"], ["0", "1", "2"], title)
    lines = seen["title"].split("\n")
    assert len(lines) > 1 and " ".join(lines) == title
    assert max(map(len, lines)) <= seen["width"] * 10


def test_labels_the_default_font_lacks_are_drawn_with_an_installed_font(tmp_path):
    """Class folders named in a script DejaVu Sans lacks (Chinese, ...) label the traversals:
    an installed font that has the characters draws them (here a math sign DejaVu Sans lacks,
    which matplotlib's own STIX fonts have), and nothing warns."""
    import warnings

    from infogan.viz import _label_fonts, save_traversal_figure

    fonts, boxes = _label_fonts(["a", "\u2a03"])
    assert not boxes and fonts[0] == "sans-serif"  # the user's list (the default), then more
    assert len(fonts) == 2  # one more: STIX is matplotlib's own, or another
    assert _label_fonts(["0", "1", "cat"]) == ([], False)  # nothing to change
    import matplotlib

    with matplotlib.rc_context({"font.family": ["DejaVu Sans", fonts[1]]}):
        assert _label_fonts(["\u2a03"]) == ([], False)  # the user's own fallback draws it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Glyph ... missing" is a UserWarning
        save_traversal_figure(
            np.zeros((1, 2, 1, 8, 8)), tmp_path / "t.png", [], ["\u2a03", "b"], "c1"
        )
    assert (tmp_path / "t.png").stat().st_size > 0


def test_labels_no_installed_font_draws_are_named_once(tmp_path, caplog):
    import warnings

    from infogan.viz import _label_fonts, save_traversal_figure

    odd = "\U00020000\U00020001"  # CJK extension B: no font here or in CI draws these
    if not _label_fonts([odd])[1]:
        pytest.skip("a font on this machine draws CJK extension B")
    from infogan import viz

    viz._told_missing.clear()
    caplog.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one warning per glyph from matplotlib
        for name in ("t.png", "u.png"):  # a run draws one figure per code: named once
            save_traversal_figure(
                np.zeros((1, 2, 1, 8, 8)), tmp_path / name, [], [odd + "\u0301", "b"], "c1"
            )
    (line,) = [r.getMessage() for r in caplog.records if "no installed font" in r.getMessage()]
    assert f"draws {odd} (class names?)" in line and "show as boxes" in line  # no lone accent
