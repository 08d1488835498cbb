"""dSprites-like: factor grid and ordering, drawing geometry, on-demand rendering, cache, registry.

The full 377 MB set is never generated here: the cache is exercised on a shrunken grid (a subclass
with a smaller ``GRID``), which runs the same code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import infogan.data.dsprites as dsprites_mod
from infogan.data import load_dataset
from infogan.data.dsprites import CACHE_FILE, DSpritesLike, load_dsprites
from infogan.errors import DataError

SQUARE, ELLIPSE, HEART = 0, 1, 2


class TinyDSprites(DSpritesLike):
    """3 shapes x 2 scales x 3 orientations x 4 x 4 positions = 288 images."""

    GRID = (3, 2, 3, 4, 4)


@pytest.fixture(scope="module")
def ds() -> DSpritesLike:
    return DSpritesLike(cache_dir="/nonexistent/never-used")


def one(ds: DSpritesLike, shape=SQUARE, scale=5, orient=0, x=16, y=16) -> np.ndarray:
    """The bool mask ``[64, 64]`` of one factor row."""
    return ds.render(np.array([[shape, scale, orient, x, y]]))[0, 0] > 0


def centre_of_mass(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return float(rows.mean()), float(cols.mean())


# ----- factors ------------------------------------------------------------------------------


def test_factor_grid_matches_the_original(ds):
    assert len(ds) == 737_280 == 3 * 6 * 40 * 32 * 32
    assert ds.factors_num_values == [3, 6, 40, 32, 32]
    assert ds.num_factors == 5
    assert ds.factor_names == ["shape", "scale", "orientation", "posX", "posY"]
    assert ds.latents_sizes == [1, 3, 6, 40, 32, 32]
    assert ds.latents_names[0] == "color"
    assert ds.observation_shape == (1, 64, 64)
    np.testing.assert_allclose(ds.scales, np.linspace(0.5, 1, 6))
    np.testing.assert_allclose(ds.orientations, np.linspace(0, 2 * math.pi, 40))
    np.testing.assert_allclose(ds.positions_x, np.linspace(0, 1, 32))


def test_index_round_trip_and_original_ordering(ds):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(ds), size=2000)
    f = ds.factors_of(idx)
    assert f.shape == (2000, 5) and f.dtype == np.int64
    np.testing.assert_array_equal(ds.index_of(f), idx)
    # The original's indexing: latents_classes . latents_bases, colour class 0 first.
    sizes = np.array(ds.latents_sizes)
    bases = np.concatenate([sizes[::-1].cumprod()[::-1][1:], [1]])
    classes = np.concatenate([np.zeros((len(f), 1), np.int64), f], axis=1)
    np.testing.assert_array_equal(classes @ bases, idx)
    np.testing.assert_array_equal(
        ds.factors_of(np.array([0, len(ds) - 1])), [[0] * 5, [2, 5, 39, 31, 31]]
    )
    # posY is the fastest-moving factor.
    np.testing.assert_array_equal(ds.factors_of(np.array([1]))[0], [0, 0, 0, 0, 1])


def test_bad_factors_and_indices_are_rejected(ds):
    with pytest.raises(ValueError):
        ds.index_of(np.array([[3, 0, 0, 0, 0]]))  # shape has 3 values
    with pytest.raises(ValueError):
        ds.render(np.array([[0, 0, 0, 0]]))  # 4 columns
    with pytest.raises(ValueError):
        ds.render(np.array([[0.0, 0, 0, 0, 0]]))  # floats
    with pytest.raises(ValueError):
        ds.factors_of(np.array([len(ds)]))


def test_latents_values_follow_the_original_layout(ds):
    v = ds.latents_values(np.array([[2, 5, 39, 31, 0]]))[0]
    np.testing.assert_allclose(v, [1.0, 3.0, 1.0, 2 * math.pi, 1.0, 0.0])


def test_sample_factors_and_observations(ds):
    rng = np.random.default_rng(1)
    f = ds.sample_factors(500, rng)
    assert f.shape == (500, 5)
    assert (f >= 0).all() and (f < np.array(ds.factors_num_values)).all()
    assert len(np.unique(f[:, 2])) > 30  # every factor really varies
    obs = ds.sample_observations_from_factors(f[:8], rng)
    np.testing.assert_array_equal(obs, ds.render(f[:8]))


# ----- drawing ------------------------------------------------------------------------------


def test_render_is_binary_uint8(ds):
    f = ds.sample_factors(64, np.random.default_rng(2))
    img = ds.render(f)
    assert img.shape == (64, 1, 64, 64) and img.dtype == np.uint8
    assert set(np.unique(img)) == {0, 255}
    assert (img.reshape(64, -1) > 0).sum(1).min() > 0  # every image shows a sprite
    assert ds.render(np.zeros((0, 5), np.int64)).shape == (0, 1, 64, 64)


def test_shapes_are_distinct_and_sized_like_dsprites(ds):
    square, ellipse, heart = (one(ds, shape=s) for s in (SQUARE, ELLIPSE, HEART))
    # Scale 1, orientation 0: a 19 x 19 px square.
    assert square.sum() == 19 * 19
    rows, cols = np.nonzero(square)
    assert rows.max() - rows.min() == cols.max() - cols.min() == 18
    assert ellipse.sum() < 0.7 * square.sum()
    assert heart.sum() not in (square.sum(), ellipse.sum())
    for a, b in ((square, ellipse), (square, heart), (ellipse, heart)):
        assert (a & b).sum() / (a | b).sum() < 0.9
    # The heart points down: its widest row lies above its centre of mass.
    widest = int(np.argmax(heart.sum(axis=1)))
    assert widest < centre_of_mass(heart)[0] - 2


def test_scale_grows_the_sprite(ds):
    for shape in (SQUARE, ELLIPSE, HEART):
        areas = [one(ds, shape=shape, scale=k).sum() for k in range(6)]
        assert all(a < b for a, b in zip(areas, areas[1:], strict=False)), areas
        assert 3.0 < areas[5] / areas[0] < 5.0  # area ~ scale^2 = 4x


def test_translation_moves_the_centre_by_32_over_31_px(ds):
    for shape in (SQUARE, ELLIPSE, HEART):
        cols = np.array([centre_of_mass(one(ds, shape=shape, orient=7, x=k))[1] for k in range(32)])
        rows = np.array([centre_of_mass(one(ds, shape=shape, orient=7, y=k))[0] for k in range(32)])
        for c in (cols, rows):
            steps = np.diff(c)
            np.testing.assert_allclose(np.sort(np.unique(np.round(steps, 6))), [1.0, 2.0])
            assert c[-1] - c[0] == pytest.approx(32.0)  # 31 steps of 32/31 px on average
            slope = np.polyfit(np.arange(32), c, 1)[0]
            assert slope == pytest.approx(32 / 31, abs=0.02)
    # posX moves columns only, posY rows only.
    r0, c0 = centre_of_mass(one(ds, x=0, y=0))
    r1, c1 = centre_of_mass(one(ds, x=31, y=0))
    assert r1 == pytest.approx(r0) and c1 - c0 == pytest.approx(32.0)
    # Centre at pixel 16 + 32 * pos for a symmetric sprite.
    assert (r0, c0) == (16.0, 16.0)


def test_orientation_2pi_is_orientation_0(ds):
    f0 = np.array([[s, k, 0, 5, 20] for s in range(3) for k in range(6)])
    f39 = f0.copy()
    f39[:, 2] = 39
    np.testing.assert_array_equal(ds.render(f0), ds.render(f39))
    assert not np.array_equal(ds.render(f0), ds.render(f0 + [0, 0, 5, 0, 0]))


def test_rotation_is_counter_clockwise_about_the_centre(ds):
    # The ellipse's major axis (from second moments, y up) must follow the orientation mod pi.
    for k in (0, 3, 8, 13, 22, 30):
        mask = one(ds, shape=ELLIPSE, orient=k)
        rows, cols = np.nonzero(mask)
        x, y = cols - cols.mean(), -(rows - rows.mean())
        axis = 0.5 * math.atan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())
        theta = ds.orientations[k]
        diff = (axis - theta + math.pi / 2) % math.pi - math.pi / 2
        assert abs(diff) < 0.06, (k, axis, theta)
        # Rotation keeps the centre of mass within a pixel of the sprite centre.
        centre = 16 + round(32 * 16 / 31)  # pos index 16 -> pixel 33
        assert abs(rows.mean() - centre) < 1 and abs(cols.mean() - centre) < 1


def test_render_of_1000_rows_is_fast(ds):
    import time

    f = ds.sample_factors(1000, np.random.default_rng(3))
    ds.render(f)  # draws the sprite bank once
    t = time.perf_counter()
    ds.render(f)
    assert time.perf_counter() - t < 0.5  # ~10 ms; generous for a loaded CI machine


def test_random_subset_is_seeded_and_distinct(ds):
    a = ds.images(32)
    b = ds.images(32, np.random.default_rng(0))
    assert isinstance(a, torch.Tensor) and a.shape == (32, 1, 64, 64) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, ds.images(32, np.random.default_rng(1)))
    f = ds.subset_factors(2000, np.random.default_rng(4))
    assert len(np.unique(ds.index_of(f))) == 2000
    with pytest.raises(ValueError):
        ds.subset_factors(len(ds) + 1)


# ----- cache --------------------------------------------------------------------------------


def test_cache_generates_once_then_memory_maps(tmp_path, monkeypatch):
    tiny = TinyDSprites(cache_dir=tmp_path)
    assert len(tiny) == 288
    packed = tiny.packed_images()
    assert tiny.cache_path == tmp_path / CACHE_FILE and tiny.cache_path.exists()
    assert packed.shape == (288, 64, 8) and packed.dtype == np.uint8
    assert [p.name for p in tmp_path.iterdir()] == [CACHE_FILE]  # no temp file left behind
    # The cached set is exactly the on-demand drawing, in index order.
    every = tiny.render(tiny.factors_of(np.arange(288)))
    images = tiny.images()
    assert images.shape == (288, 1, 64, 64) and images.dtype == torch.uint8
    np.testing.assert_array_equal(images.numpy(), every)
    # A second instance reads the file (memory-mapped) instead of drawing it again.
    again = TinyDSprites(cache_dir=tmp_path)

    def refuse(_f):
        raise AssertionError("regenerated a valid cache")

    monkeypatch.setattr(again, "_write_packed", refuse)
    assert isinstance(again.packed_images(), np.memmap)
    np.testing.assert_array_equal(again.images().numpy(), every)


def test_stale_or_corrupt_cache_is_regenerated(tmp_path):
    path = tmp_path / CACHE_FILE
    np.save(path, np.zeros((288, 64, 8), np.uint8))  # right shape, wrong content
    tiny = TinyDSprites(cache_dir=tmp_path)
    np.testing.assert_array_equal(
        tiny.images().numpy(), tiny.render(tiny.factors_of(np.arange(288)))
    )
    path.write_bytes(b"not a numpy file")
    assert TinyDSprites(cache_dir=tmp_path).packed_images().shape == (288, 64, 8)


def test_cache_root_honours_infogan_data(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path))
    assert DSpritesLike().cache_path == tmp_path / CACHE_FILE


# ----- loaders ------------------------------------------------------------------------------


def test_load_dataset_subset():
    data = load_dataset("dsprites:256")
    assert data.name == "dsprites:256" and len(data) == 256 and data.shape == (1, 64, 64)
    assert data.images.dtype == torch.uint8 and set(data.images.unique().tolist()) == {0, 255}
    assert data.labels is not None and set(data.labels.tolist()) == {0, 1, 2}
    again = load_dataset("dsprites:256", split="test")  # one split: the same images
    assert torch.equal(data.images, again.images) and torch.equal(data.labels, again.labels)
    # Labels are the shape factor of each image.
    ds = DSpritesLike()
    f = ds.subset_factors(256, np.random.default_rng(0))
    np.testing.assert_array_equal(data.labels.numpy(), f[:, 0])
    np.testing.assert_array_equal(data.images.numpy(), ds.render(f))


@pytest.mark.parametrize("name", ["dsprites:0", "dsprites:-3", "dsprites:x", "dsprites:737281"])
def test_load_dataset_rejects_bad_subset_sizes(name):
    with pytest.raises(DataError, match="dsprites:N"):
        load_dataset(name)


def test_load_full_set_labels_are_shapes(tmp_path, monkeypatch):
    # The full-set path on the tiny grid: same code as "dsprites", 288 images instead of 737,280.
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path))
    monkeypatch.setattr(dsprites_mod, "DSpritesLike", TinyDSprites)
    data = load_dsprites()
    assert data.name == "dsprites" and len(data) == 288
    tiny = TinyDSprites()
    np.testing.assert_array_equal(data.labels.numpy(), tiny.factors_of(np.arange(288))[:, 0])
    assert (tmp_path / CACHE_FILE).exists()


def test_a_subset_size_out_of_range_is_a_data_error():
    from infogan.data.dsprites import load_dsprites
    from infogan.errors import DataError

    for n in (-1, 0, 2.5, 10**7):
        with pytest.raises(DataError, match="whole number from 1 to 737280"):
            load_dsprites(n=n)


def _original_layout(path, ds: DSpritesLike, sizes, order=None):
    """A file in the original's layout (imgs 0/1 uint8 [N, 64, 64], latents_classes [N, 6]
    over the whole grid of ``sizes`` = colour, shape, scale, orientation, x, y, row-major,
    latents_values and a pickled metadata that must not be loaded)."""
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"), -1).reshape(
        -1, len(sizes)
    )
    if order is not None:
        grid = grid[order]
    imgs = (ds.render(grid[:, 1:])[:, 0] // 255).astype(np.uint8)
    meta = np.array([{"title": "dSprites"}], dtype=object)
    np.savez_compressed(
        path, imgs=imgs, latents_classes=grid, latents_values=grid.astype(float), metadata=meta
    )
    return grid


def test_the_original_files_layout_is_read_with_its_factors(tmp_path, ds):
    """The original dsprites_ndarray_...npz (imgs, latents_classes) was refused ("no images
    array"); now its images are read, the shape is the label and the file is the ground truth
    the disentanglement metrics draw from."""
    from infogan.metrics.disentanglement import GroundTruthData

    path = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    grid = _original_layout(path, ds, [1, 3, 2, 2, 2, 2])
    data = load_dataset(path)
    assert data.images.shape == (48, 1, 64, 64) and set(data.images.unique().tolist()) == {0, 255}
    assert torch.equal(data.labels, torch.from_numpy(grid[:, 1]))
    truth = data.ground_truth
    assert isinstance(truth, GroundTruthData)
    assert truth.factors_num_values == [3, 2, 2, 2, 2] and truth.factor_names[0] == "shape"
    rows = truth.sample_factors(10, np.random.default_rng(0))
    assert np.array_equal(truth.sample_observations_from_factors(rows), ds.render(rows))
    with pytest.raises(DataError, match="out of range"):
        truth.sample_observations_from_factors(np.array([[3, 0, 0, 0, 0]]))
    # The metrics represent each of its images once, as for the procedural set.
    from infogan.metrics.disentanglement import memoize

    assert np.array_equal(truth.factors_of(truth.index_of(rows)), rows)
    assert np.array_equal(truth.index_of(grid[:, 1:]), np.arange(48)) and len(truth) == 48
    assert memoize(truth, lambda x: x)[0] is not truth
    # A subset, or rows out of order: images and labels, but no ground truth to draw from.
    _original_layout(path, ds, [1, 3, 2, 2, 2, 2], order=np.arange(48)[::-1][:40])
    data = load_dataset(path)
    assert len(data) == 40 and data.ground_truth is None and data.labels is not None
