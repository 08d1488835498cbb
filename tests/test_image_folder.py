"""Directories of image files as data: layouts, pixels, resizing, cache, errors, CLI."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest
from conftest import TINY_FLAGS
from PIL import Image

from infogan.cli import main
from infogan.data import folder as folder_module
from infogan.data import load_dataset
from infogan.data.folder import load_image_folder
from infogan.errors import DataError


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array), mode).save(path)


@pytest.fixture
def classes(tmp_path):
    """Two classes of 28x28 grey squares: class 'a' dark, class 'b' bright."""
    root = tmp_path / "digits"
    for i in range(3):
        _png(root / "a" / f"{i}.png", np.full((28, 28), 10 + i, np.uint8))
        _png(root / "b" / f"{i}.png", np.full((28, 28), 200 + i, np.uint8))
    return root


def test_class_folders_give_labels_names_and_files(classes, tmp_path):
    ds = load_image_folder(classes, cache_dir="")
    assert ds.images.shape == (6, 1, 28, 28) and ds.classes == ["a", "b"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.files == ["a/0.png", "a/1.png", "a/2.png", "b/0.png", "b/1.png", "b/2.png"]
    assert ds.images[4].unique().tolist() == [201]  # pixels exact, not rescaled
    # through load_dataset (a directory without IDX files), resized to a network's size
    big = load_dataset(classes, size=32)
    assert big.images.shape == (6, 1, 32, 32) and big.images[0].unique().tolist() == [10]


def test_flat_and_nested_folders_are_unlabelled(tmp_path):
    flat = tmp_path / "flat"
    for i in range(2):
        _png(flat / f"{i}.png", np.zeros((8, 8), np.uint8))
    assert load_image_folder(flat, cache_dir="").labels is None
    # images at the top beside a sub-folder: no class layout, every image read
    _png(flat / "more" / "x.png", np.zeros((8, 8), np.uint8))
    ds = load_image_folder(flat, cache_dir="")
    assert len(ds) == 3 and ds.labels is None and ds.classes is None
    # hidden files and non-image files are skipped
    (flat / ".hidden.png").write_bytes(b"junk")
    (flat / "notes.txt").write_text("hi")
    assert len(load_image_folder(flat, cache_dir="")) == 3


def test_train_and_test_subfolders(tmp_path, caplog):
    for split, value in (("train", 1), ("test", 2)):
        for i in range(2):
            _png(tmp_path / split / "c" / f"{i}.png", np.full((4, 4), value, np.uint8))
    assert load_image_folder(tmp_path, "train", cache_dir="").images.unique().tolist() == [1]
    caplog.set_level("INFO", logger="infogan")
    test = load_image_folder(tmp_path, "test", cache_dir="")
    assert test.images.unique().tolist() == [2]
    # Which half was read is said, and the file names keep it (both halves hold c/0.png).
    assert "holds train/ and test/; reading test/" in caplog.text
    assert test.files == ["test/c/0.png", "test/c/1.png"]
    shutil.rmtree(tmp_path / "train")
    assert load_image_folder(tmp_path, "train", cache_dir="").files[0] == "test/c/0.png"
    assert "has no train/ folder; reading its test/" in caplog.text


def test_colour_alpha_and_16_bit(tmp_path):
    root = tmp_path / "mixed"
    _png(root / "grey.png", np.full((6, 6), 50, np.uint8))
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[..., 0] = 255
    _png(root / "red.png", rgb)
    ds = load_image_folder(root, cache_dir="")  # one colour image makes all of them RGB
    assert ds.images.shape == (2, 3, 6, 6)
    assert ds.images[0, :, 0, 0].tolist() == [50, 50, 50]
    assert ds.images[1, :, 0, 0].tolist() == [255, 0, 0]
    # transparent pixels come out white, as a viewer shows them
    alpha = tmp_path / "alpha"
    rgba = np.zeros((6, 6, 4), np.uint8)  # black, fully transparent
    _png(alpha / "t.png", rgba)
    assert load_image_folder(alpha, cache_dir="").images.unique().tolist() == [255]
    # 16-bit grey scaled by its bit depth (it was stretched per image: all-white came out black)
    deep = tmp_path / "deep"
    deep.mkdir()
    a16 = np.zeros((4, 4), np.uint16)
    a16[0, 0] = 4000
    Image.fromarray(a16).save(deep / "d.png")
    ds = load_image_folder(deep, cache_dir="")
    assert ds.images.shape == (1, 1, 4, 4) and ds.images.max() == 16 and ds.images.min() == 0
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(deep / "d.png")
    assert load_image_folder(deep, cache_dir="").images.unique().tolist() == [255]
    # big-endian 16-bit TIFF is grey too; float greys in [0, 1] are read as such
    Image.fromarray(np.full((4, 4), 65535, np.uint16).byteswap().view(">u2")).save(deep / "d.png")
    (deep / "d.png").rename(deep / "b.tif")
    ds = load_image_folder(deep, cache_dir="")
    assert ds.images.shape == (1, 1, 4, 4) and ds.images.unique().tolist() == [255]
    Image.fromarray(np.full((4, 4), 0.5, np.float32)).save(deep / "b.tif")
    assert load_image_folder(deep, cache_dir="").images.unique().tolist() == [128]


def test_palette_images_of_greys_are_grey(tmp_path):
    grey = Image.fromarray(np.arange(36, dtype=np.uint8).reshape(6, 6) * 7).convert("P")
    assert grey.mode == "P"
    (tmp_path / "g").mkdir()
    grey.save(tmp_path / "g" / "a.png")
    grey.save(tmp_path / "g" / "b.gif")
    ds = load_image_folder(tmp_path / "g", cache_dir="")
    assert ds.images.shape == (2, 1, 6, 6)
    assert ds.images[0, 0].flatten().tolist() == [7 * i for i in range(36)]
    # a palette with one colour in it makes the set colour, as any colour image does
    rgb = np.zeros((6, 6, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    Image.fromarray(rgb).convert("P").save(tmp_path / "g" / "c.png")
    assert load_image_folder(tmp_path / "g", cache_dir="").images.shape == (3, 3, 6, 6)


def test_centre_crop_and_sizes(tmp_path):
    root = tmp_path / "shapes"
    wide = np.zeros((20, 40), np.uint8)
    wide[:, 10:30] = 255  # the centre 20x20 square is white, the sides black
    _png(root / "wide.png", wide)
    _png(root / "small.png", np.full((10, 10), 255, np.uint8))
    with pytest.raises(DataError, match="differ in size"):
        load_image_folder(root, cache_dir="")
    ds = load_image_folder(root, size=8, cache_dir="")
    assert ds.images.shape == (2, 1, 8, 8) and ds.images.min() >= 250  # the crop kept the centre
    with pytest.raises(DataError, match="image size"):
        load_image_folder(root, size=0, cache_dir="")


def test_large_jpeg_is_decoded_small(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[..., 2] = 200  # blue
    Image.fromarray(photo).save(root / "p.jpg", quality=95)
    ds = load_image_folder(root, size=32, cache_dir="")
    assert ds.images.shape == (1, 3, 32, 32)
    assert abs(int(ds.images[0, 2].float().mean()) - 200) <= 3 and ds.images[0, 0].max() <= 5


def test_bad_files_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no image files .* and no MNIST-format IDX files"):
        load_dataset(empty)
    bad = tmp_path / "bad"
    _png(bad / "ok.png", np.zeros((4, 4), np.uint8))
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="broken.png is not a readable image"):
        load_image_folder(bad, cache_dir="")
    # a PNG cut short: the header reads, the pixels do not
    cut = tmp_path / "cut"
    _png(cut / "full.png", np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    data = (cut / "full.png").read_bytes()
    (cut / "full.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="full.png is not a readable image"):
        load_image_folder(cut, cache_dir="")
    # 32-bit pixels out of range: said once, not wrapped in "is not a readable image (...)"
    from PIL import Image

    wide = tmp_path / "wide"
    wide.mkdir()
    Image.fromarray(np.full((4, 4), 1_000_000, np.int32)).save(wide / "big.tif")
    with pytest.raises(DataError) as e:
        load_image_folder(wide, cache_dir="")
    assert "pixels range over" in str(e.value) and "not a readable image" not in str(e.value)


def test_jpegs_named_jfif_or_jpe_are_read(tmp_path):
    """Browsers and Windows save JPEGs as .jfif: they were skipped without a word."""
    from PIL import Image

    for name in ("a.jfif", "b.JPE", "c.jpg"):
        Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / name, format="JPEG")
    assert len(load_image_folder(tmp_path, cache_dir="")) == 3


def test_cache_is_read_and_notices_changed_files(classes, tmp_path, monkeypatch):
    import infogan.data.folder as folder

    cache = tmp_path / "cache"
    first = load_image_folder(classes, size=28, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(folder, "_decode", no_decoding)
    again = load_image_folder(classes, size=28, cache_dir=cache)
    assert (again.images == first.images).all() and again.labels.tolist() == first.labels.tolist()
    assert again.files == first.files and again.classes == ["a", "b"]
    monkeypatch.undo()
    # a changed file (new content and time) is a new key: decoded afresh, not the stale array
    _png(classes / "a" / "0.png", np.full((28, 28), 99, np.uint8))
    os.utime(classes / "a" / "0.png", ns=(1, 1))
    changed = load_image_folder(classes, size=28, cache_dir=cache)
    assert changed.images[0].unique().tolist() == [99]
    # a damaged cache file is ignored and rewritten
    for f in cache.glob("*.npz"):
        f.write_bytes(b"damaged")
    assert (load_image_folder(classes, size=28, cache_dir=cache).images == changed.images).all()


def test_cli_trains_on_a_folder_and_encode_names_files(classes, tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path / "cache"))
    # more images than one batch of 8
    for i in range(3, 8):
        _png(classes / "a" / f"{i}.png", np.full((28, 28), 10 + i, np.uint8))
        _png(classes / "b" / f"{i}.png", np.full((28, 28), 200 + i, np.uint8))
    run = tmp_path / "run"
    argv = ["train", "--data", str(classes), "--codes", "cat:2,cont:1", "--steps", "3"]
    assert main([*argv, *TINY_FLAGS, "--out", str(run), "--device", "cpu"]) == 0
    out = tmp_path / "codes.csv"
    assert main(["encode", str(run), "--data", str(classes), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 16 and rows[0]["file"] == "a/0.png" and rows[-1]["file"] == "b/7.png"
    # labels through the mapping the run's evaluation saved, named after the class folders
    assert {r["c1_label"] for r in rows} <= {"a", "b"}


# ---- the fifteenth session's audit: files as users have them ------------------------------------


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo stored sideways with orientation 6 comes in upright, as a viewer shows it."""
    root = tmp_path / "photos"
    root.mkdir()
    stored = np.zeros((8, 16), np.uint8)  # 16 wide, 8 high; the left 4 columns white
    stored[:, :4] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored turned 90 degrees clockwise
    Image.fromarray(stored).save(root / "p.jpg", exif=exif.tobytes(), quality=100)
    img = load_image_folder(root, cache_dir="").images[0, 0].numpy()
    assert img.shape == (16, 8)  # upright: 8 wide, 16 high
    assert img[:3].mean() > 200 and img[-3:].mean() < 50  # the white band is now on top


def test_an_animated_gif_gives_its_first_frame_and_the_log_says_so(tmp_path, caplog):
    root = tmp_path / "anim"
    root.mkdir()
    frames = [Image.fromarray(np.full((6, 6), v, np.uint8)) for v in (30, 220)]
    frames[0].save(root / "a.gif", save_all=True, append_images=frames[1:])
    _png(root / "b.png", np.full((6, 6), 100, np.uint8))
    with caplog.at_level("INFO"):
        ds = load_image_folder(root, cache_dir="")
    assert len(ds) == 2 and abs(int(ds.images[0].float().mean()) - 30) <= 1
    assert "1 file(s)" in caplog.text and "a.gif" in caplog.text and "first frame" in caplog.text


def test_linked_class_folders_pipes_and_names_that_are_not_utf8(tmp_path, caplog):
    root = tmp_path / "pets"
    _png(root / "cat" / "a.png", np.full((4, 4), 10, np.uint8))
    _png(tmp_path / "elsewhere" / "b.png", np.full((4, 4), 200, np.uint8))
    (root / "dog").symlink_to(tmp_path / "elsewhere")  # a class folder that is a link
    (root / "cat" / "loop").symlink_to(root)  # and a link loop, which must end
    ds = load_image_folder(root, cache_dir="")
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 1]
    # a file name that is not UTF-8 (old zip archives) is read and shown with \\xNN
    raw = os.fsencode(root / "cat") + b"/caf\xe9.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(os.fsdecode(raw), format="PNG")
    ds = load_image_folder(root, cache_dir=str(tmp_path / "cache"))
    assert "cat/caf\\xe9.png" in ds.files and len(ds) == 3
    # images beside class folders: unlabelled, and the log says why
    _png(root / "stray.png", np.zeros((4, 4), np.uint8))
    with caplog.at_level("INFO", logger="infogan"):
        assert load_image_folder(root, cache_dir="").labels is None
    assert "stray.png is not" in caplog.text
    # a pipe named like an image would block the reader forever: refused, named
    os.mkfifo(root / "cat" / "pipe.png")
    with pytest.raises(DataError, match="pipe.png is not a regular file"):
        load_image_folder(root, cache_dir="")
    (root / "cat" / "pipe.png").unlink()
    # a link whose target is gone was a bare "No such file or directory" from the cache's key
    (root / "cat" / "gone.png").symlink_to(tmp_path / "deleted.png")
    with pytest.raises(DataError, match=r"gone.png is a broken link .*; remove or replace it"):
        load_image_folder(root, cache_dir=str(tmp_path / "cache"))


def test_an_image_too_large_to_decode_is_one_clear_error(tmp_path, monkeypatch):
    root = tmp_path / "big"
    _png(root / "huge.png", np.zeros((40, 40), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 pixels > 2x the limit
    with pytest.raises(DataError, match="huge.png is too large to decode safely"):
        load_image_folder(root, cache_dir="")


def test_every_unreadable_file_is_named_at_once(tmp_path):
    """Only the first unreadable file was named: a folder with three took three runs."""
    for i in range(3):
        _png(tmp_path / f"ok{i}.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    whole = tmp_path / "whole.npz.png"  # noise compresses poorly: its pixel data is long
    _png(whole, np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    data = whole.read_bytes()
    whole.unlink()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])  # header fine, pixels cut
    with pytest.raises(DataError) as e:
        load_image_folder(tmp_path, size=8, cache_dir="")
    msg = str(e.value)
    assert "3 files in" in msg and "\n" not in msg
    assert all(name in msg for name in ("empty.png", "junk.jpg", "cut.png"))


def test_crops_and_grey_to_colour_are_said(tmp_path, caplog):
    _png(tmp_path / "wide.png", np.zeros((10, 30, 3), np.uint8))
    _png(tmp_path / "square.png", np.zeros((16, 16, 3), np.uint8))
    _png(tmp_path / "grey.png", np.zeros((12, 12), np.uint8))
    with caplog.at_level("INFO"):
        ds = load_image_folder(tmp_path, size=8, cache_dir="")
    assert ds.images.shape == (3, 3, 8, 8)
    assert "1 of 3 images are not square: each centre-cropped" in caplog.text
    assert "1 of 3 images are grey among colour ones" in caplog.text


def test_the_notes_are_said_again_when_the_cache_is_read(tmp_path, caplog, monkeypatch):
    """The second run on a folder reads its cached pixels: it was told nothing of the crops
    and the grey files read as colour, which still shape what it trains on."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    _png(folder / "wide.png", np.zeros((10, 30, 3), np.uint8))
    _png(folder / "grey.png", np.zeros((12, 12), np.uint8))
    first_text = []
    for _ in range(2):
        caplog.clear()
        with caplog.at_level("INFO"):
            ds = load_image_folder(folder, size=8, cache_dir=tmp_path / "cache")
        first_text.append(caplog.text)
        # The second read must come from the cache: decoding a file now fails.
        monkeypatch.setattr(folder_module, "_decode", lambda *a: pytest.fail("decoded again"))
    for text in first_text:
        assert "1 of 2 images are not square: each centre-cropped" in text
        assert "1 of 2 images are grey among colour ones" in text
    assert ds.images.shape == (2, 3, 8, 8)
