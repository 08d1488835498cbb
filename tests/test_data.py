"""Tests of infogan.data: loaders, scaling, error messages, and the downloader's offline part."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from infogan.data import (
    ImageDataset,
    default_cache_dir,
    download_mnist,
    load_dataset,
    read_npz,
    registry,
    to_float,
    to_uint8,
)
from infogan.data import download as dl
from infogan.errors import DataError


def _shared_mnist() -> Path | None:
    # CI clones the repo next to shared/; a developer checkout sits at /work/main.
    for base in (Path(__file__).resolve().parents[2], Path("/work")):
        d = base / "shared" / "data" / "mnist"
        if (d / "t10k-images-idx3-ubyte.gz").is_file():
            return d
    return None


SHARED_MNIST = _shared_mnist()
FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")
needs_shared = pytest.mark.skipif(SHARED_MNIST is None, reason="shared/data/mnist not present")


# -- helpers: IDX files written independently of the reader under test ---------------------------


def idx_bytes(arr: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: magic 0x0000 08 <ndim>, big-endian sizes, then the data."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write_file(path: Path, data: bytes, gz: bool) -> Path:
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_split(directory: Path, prefix: str, n: int, seed: int, gz: bool, labels: bool = True):
    """Write ``{prefix}-images-idx3-ubyte`` (+ labels) with random 5x7 images; return the arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 5, 7), dtype=np.uint8)
    targets = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_file(directory / f"{prefix}-images-idx3-ubyte", idx_bytes(images), gz)
    if labels:
        write_file(directory / f"{prefix}-labels-idx1-ubyte", idx_bytes(targets), gz)
    return images, targets


# -- built-in data -------------------------------------------------------------------------------


def test_mnist5k():
    ds = load_dataset("mnist5k")
    assert isinstance(ds, ImageDataset)
    assert ds.images.shape == (5000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.shape == (1, 28, 28) and len(ds) == 5000 and ds.name == "mnist5k"
    assert ds.labels is not None and ds.labels.dtype == torch.int64
    assert ds.labels.bincount().tolist() == [500] * 10
    assert int(ds.images.max()) == 255 and int(ds.images.min()) == 0
    # One split only: the split argument is ignored.
    assert torch.equal(load_dataset("mnist5k", split="test").images, ds.images)


@needs_shared
def test_shared_mnist_test_digits():
    ds = load_dataset(SHARED_MNIST)  # only t10k files there: "train" falls back to them
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert "t10k-images-idx3-ubyte" in ds.name
    assert ds.labels.tolist()[:5] == [7, 2, 1, 0, 4]  # the well-known first test digits
    assert ds.labels.bincount().tolist()[:2] == [980, 1135]
    assert torch.equal(load_dataset(str(SHARED_MNIST), split="test").labels, ds.labels)


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_system_package():
    train = load_dataset("fashion-mnist")
    test = load_dataset("fashion-mnist", split="test")
    assert train.images.shape == (60000, 1, 28, 28) and len(test) == 10000
    assert train.name == "fashion-mnist:train" and test.name == "fashion-mnist:test"
    assert test.labels.bincount().tolist() == [1000] * 10


def test_fashion_mnist_lookup_order(tmp_path, monkeypatch):
    system, cache = tmp_path / "system", tmp_path / "cache"
    system.mkdir()
    (cache / "fashion-mnist").mkdir(parents=True)
    monkeypatch.setattr(registry, "FASHION_MNIST_SYSTEM_DIR", system)
    monkeypatch.setenv("INFOGAN_DATA", str(cache))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as e:
        load_dataset("fashion-mnist")
    assert str(system) in str(e.value) and "download" in str(e.value)

    cached, _ = make_split(cache / "fashion-mnist", "train", 3, seed=1, gz=True)
    assert np.array_equal(load_dataset("fashion-mnist").images[:, 0].numpy(), cached)
    installed, _ = make_split(system, "train", 4, seed=2, gz=True)  # the system copy wins
    ds = load_dataset("fashion-mnist")
    assert np.array_equal(ds.images[:, 0].numpy(), installed) and ds.name == "fashion-mnist:train"


def test_mnist_needs_download(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path))
    with pytest.raises(DataError, match="mnist5k") as e:
        load_dataset("mnist")
    assert str(tmp_path / "mnist") in str(e.value) and "infogan download mnist" in str(e.value)
    make_split(tmp_path / "mnist", "t10k", 3, seed=0, gz=False)
    assert len(load_dataset("mnist", split="test")) == 3
    # A named dataset never silently swaps the training set for the test set.
    with pytest.raises(DataError, match="no train files"):
        load_dataset("mnist", split="train")
    # A download cut short before its labels: said (labels were None without a word), and the
    # labels file given for the images is named as such.
    make_split(tmp_path / "mnist", "train", 3, seed=1, gz=False, labels=False)
    with caplog.at_level("WARNING", logger="infogan"):
        assert load_dataset("mnist").labels is None
    assert "no train labels file" in caplog.text
    assert "is an IDX labels file; give its images file" in _raises(
        tmp_path / "mnist" / "t10k-labels-idx1-ubyte", "labels file"
    )
    with pytest.raises(DataError, match="no folder mnist/; the built-in dataset is named mnist"):
        load_dataset("mnist/")  # no such folder here: the slash made a path of the name


# -- IDX -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_directory_round_trip(tmp_path, gz):
    train_x, train_y = make_split(tmp_path, "train", 6, seed=0, gz=gz)
    test_x, test_y = make_split(tmp_path, "t10k", 4, seed=1, gz=gz)
    train = load_dataset(tmp_path)
    test = load_dataset(tmp_path, split="test")
    assert train.images.shape == (6, 1, 5, 7) and train.shape == (1, 5, 7)
    assert np.array_equal(train.images[:, 0].numpy(), train_x)
    assert np.array_equal(train.labels.numpy(), train_y) and train.labels.dtype == torch.int64
    assert np.array_equal(test.images[:, 0].numpy(), test_x)
    assert np.array_equal(test.labels.numpy(), test_y)


def test_idx_single_split_fallback_and_no_labels(tmp_path):
    x, _ = make_split(tmp_path, "train", 3, seed=0, gz=True, labels=False)
    ds = load_dataset(tmp_path, split="test")  # only train present: use it
    assert np.array_equal(ds.images[:, 0].numpy(), x) and ds.labels is None


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_single_file(tmp_path, gz):
    x, y = make_split(tmp_path, "t10k", 5, seed=3, gz=gz)
    path = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    ds = load_dataset(path)
    assert ds.name == str(path)
    assert np.array_equal(ds.images[:, 0].numpy(), x) and np.array_equal(ds.labels.numpy(), y)


# -- npz -----------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(4, 3, 6, 5), dtype=np.uint8)  # [N, C, H, W]


@pytest.mark.parametrize(
    "layout",
    [
        ("nchw", lambda x: x, PIXELS),
        ("nhwc", lambda x: x.transpose(0, 2, 3, 1), PIXELS),
        ("nhw", lambda x: x[:, 0], PIXELS[:, :1]),
        ("nchw1", lambda x: x[:, :1], PIXELS[:, :1]),
        ("nhwc1", lambda x: x[:, :1].transpose(0, 2, 3, 1), PIXELS[:, :1]),
    ],
    ids=lambda p: p[0],
)
@pytest.mark.parametrize(
    "scale",
    [
        ("uint8", lambda x: x),
        ("int64", lambda x: x.astype(np.int64)),
        ("float01", lambda x: x.astype(np.float32) / 255),
        ("float11", lambda x: x.astype(np.float64) / 127.5 - 1),
        ("float255", lambda x: x.astype(np.float32)),
    ],
    ids=lambda p: p[0],
)
def test_npz_layouts_and_ranges(tmp_path, layout, scale):
    _, arrange, expected = layout
    _, rescale = scale
    path = tmp_path / "d.npz"
    np.savez(path, images=rescale(arrange(PIXELS)), labels=np.arange(4))
    ds = read_npz(path)
    assert ds.images.dtype == torch.uint8 and ds.images.is_contiguous()
    assert np.array_equal(ds.images.numpy(), expected)
    assert ds.labels.tolist() == [0, 1, 2, 3] and ds.name == str(path)


def test_npz_alternative_keys_bool_and_float_labels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=PIXELS[:, 0] > 127, y=np.array([[1.0], [0.0], [2.0], [1.0]]))
    ds = load_dataset(path)
    assert set(ds.images.unique().tolist()) <= {0, 255} and ds.images.shape == (4, 1, 6, 5)
    assert ds.labels.tolist() == [1, 0, 2, 1] and ds.labels.dtype == torch.int64
    np.savez(path, images=PIXELS)
    assert read_npz(path).labels is None


def test_one_stray_float_does_not_rescale_a_whole_npz(tmp_path, caplog):
    """[0, 1] data with a resampling overshoot (1.02) or a tiny negative (-0.003) is still [0, 1]
    (it was read as 0..255, nearly black, or as [-1, 1], washed out); the range taken is
    logged; a maximum no range explains is refused; 0/1 integers are black and white."""
    path = tmp_path / "d.npz"
    base = PIXELS.astype(np.float32) / 255
    for stray in (1.02, -0.003):
        x = base.copy()
        x[0, 0, 0, 0] = stray
        np.savez(path, images=x)
        with caplog.at_level("INFO", logger="infogan"):
            got = read_npz(path).images.numpy()
        assert np.abs(got[1:].astype(int) - PIXELS[1:]).max() <= 1
        assert "read as [0, 1]" in caplog.text
    np.savez(path, images=base * 1.5)  # max 1.5: neither [0, 1] nor plausible 0..255
    assert str(path) in _raises(path, "fits none of")
    # Standardised images (torchvision's Normalize((0.1307,), (0.3081,))): -0.42..2.82 was
    # read as 0..255, every pixel nearly black.
    np.savez(path, images=(base - 0.1307) / 0.3081)
    assert "standardised images? undo it" in _raises(path, "fits none of")
    from infogan.data import from_arrays

    with pytest.raises(DataError, match="standardised"):
        from_arrays((base - 0.5) / 0.25)
    assert from_arrays(base * 255 * 0.2).images.max() == round(PIXELS.max() * 0.2)  # dark 0..255
    np.savez(path, images=(PIXELS > 127).astype(np.int64))
    assert set(np.unique(read_npz(path).images.numpy())) == {0, 255}


# -- scaling -------------------------------------------------------------------------------------


def test_to_float_to_uint8():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    f = to_float(x)
    assert f.dtype == torch.float32
    assert f.min().item() == -1.0 and f.max().item() == 1.0
    assert torch.allclose(f.flatten()[:2], torch.tensor([-1.0, -1.0 + 1 / 127.5]))
    assert torch.equal(to_uint8(f), x)
    assert torch.equal(to_uint8(f.double()), x)
    assert to_uint8(torch.tensor([-3.0, 0.0, 7.0])).tolist() == [0, 128, 255]  # clamped, rounded
    with pytest.raises(TypeError):
        to_float(f)
    with pytest.raises(TypeError):
        to_uint8(x)


# -- errors: every one a DataError that names the file -------------------------------------------


def _raises(source, match: str, **kw) -> str:
    with pytest.raises(DataError, match=match) as e:
        load_dataset(source, **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_missing_path_lists_known_names(tmp_path):
    msg = _raises(tmp_path / "nope", "does not exist")
    assert str(tmp_path / "nope") in msg and "mnist5k" in msg and "fashion-mnist" in msg


def test_unknown_split(tmp_path):
    _raises(tmp_path, "unknown split 'val'", split="val")


def test_directory_without_idx(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    assert str(tmp_path) in _raises(
        tmp_path, "holds no image files .* and no MNIST-format IDX files"
    )


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "e.npz"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert str(path) in _raises(path, "is empty")


def test_bad_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((50, 4, 4), np.uint8)) + b"")
    cut = tmp_path / "cut-images-idx3-ubyte.gz"
    cut.write_bytes(good[: len(good) // 2])
    assert str(cut) in _raises(cut, "truncated gzip")
    garbage = tmp_path / "bad-images-idx3-ubyte.gz"
    garbage.write_bytes(b"\x1f\x8b" + b"\xff" * 40)
    assert str(garbage) in _raises(garbage, "not a valid gzip")
    html = tmp_path / "html-images-idx3-ubyte.gz"
    html.write_bytes(b"<html>403 Forbidden</html>")
    assert str(html) in _raises(html, "not gzip-compressed")


def test_wrong_magic(tmp_path):
    _, _ = make_split(tmp_path, "train", 3, seed=0, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    assert str(labels) in _raises(labels, "is an IDX labels file; give its images file")
    other = tmp_path / "other-idx"
    other.write_bytes((0x00000804).to_bytes(4, "big") + bytes(32))
    assert str(other) in _raises(other, "magic number 0x00000804, expected 0x00000803")


def test_truncated_and_oversized_idx(tmp_path):
    data = idx_bytes(np.zeros((60, 28, 28), np.uint8))
    cut = write_file(tmp_path / "train-images-idx3-ubyte", data[:1250], gz=True)
    msg = _raises(cut, "truncated: header says 60 images of 28x28 but file holds 1234 bytes")
    assert str(cut) in msg
    header_only = write_file(tmp_path / "h-images-idx3-ubyte", data[:10], gz=False)
    assert str(header_only) in _raises(header_only, "truncated inside its IDX header")
    long = write_file(tmp_path / "l-images-idx3-ubyte", data + b"\0\0", gz=False)
    assert str(long) in _raises(long, "2 too many")


def test_label_count_mismatch(tmp_path):
    write_file(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((5, 4, 4))), gz=True)
    labels = write_file(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(4)), gz=True)
    msg = _raises(tmp_path, "holds 4 labels but .* holds 5 images")
    assert str(labels) in msg


def test_zero_images(tmp_path):
    path = write_file(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((0, 4, 4))), False)
    assert str(path) in _raises(path, "holds 0 images")
    npz = tmp_path / "e.npz"
    np.savez(npz, images=np.zeros((0, 4, 4), np.uint8))
    assert str(npz) in _raises(npz, "holds 0 images")


def test_npz_errors(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, pixels=PIXELS)
    assert str(path) in _raises(path, r"no images array: expected key 'images' or 'x'.*pixels")
    np.savez(path, images=np.zeros((4, 16), np.uint8))
    assert str(path) in _raises(path, r"shape \[4, 16\]")
    np.savez(path, images=np.zeros((4, 5, 6, 7), np.uint8))
    assert str(path) in _raises(path, r"C = 1 or 3")
    np.savez(path, images=PIXELS, labels=np.array([0.5, 1, 2, 3]))
    assert str(path) in _raises(path, "not integer-like")
    np.savez(path, images=PIXELS, labels=np.array(["a", "b", "c", "d"]))
    assert str(path) in _raises(path, "not integer-like")
    np.savez(path, images=PIXELS, labels=np.arange(3))
    assert str(path) in _raises(path, "3 labels in 'labels' but 4 images")
    np.savez(path, images=PIXELS.astype(np.float32) * 2)
    assert str(path) in _raises(path, "fits none of")
    np.savez(path, images=np.full((2, 3, 3), np.nan))
    assert str(path) in _raises(path, "NaN")
    np.savez(path, images=np.array([None, 1], dtype=object))
    assert str(path) in _raises(path, "unreadable array")
    path.write_bytes(b"not a zip file at all")
    assert str(path) in _raises(path, "not an .npz archive")


def test_npz_sizes_are_checked_before_allocation_and_uint8_masks_are_binary(tmp_path, caplog):
    import io
    import zipfile

    path = tmp_path / "huge.npz"
    member = io.BytesIO()
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**6, 1, 1000, 1000)}
    np.lib.format.write_array_header_1_0(member, header)
    member.write(b"\0" * 100)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images.npy", member.getvalue())
    # it read "out of memory (931 GiB); try a smaller --batch"
    assert "declares [1000000, 1, 1000, 1000] uint8 (931 GiB) but holds 100 bytes" in _raises(
        path, "declares"
    )
    # uint8 images of only 0 and 1 (dSprites' own imgs array) are black and white, as ints are
    masks = tmp_path / "masks.npz"
    np.savez(masks, images=(PIXELS > 127).astype(np.uint8))
    with caplog.at_level("INFO"):
        ds = read_npz(masks)
    assert set(ds.images.unique().tolist()) <= {0, 255} and "black and white" in caplog.text


def test_a_mat_file_path_and_damaged_mat_files(tmp_path):
    import scipy.io

    x = np.random.default_rng(0).integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.arange(1, 6)[:, None]})
    ds = load_dataset(tmp_path / "train_32x32.mat")  # was read as IDX: "magic number 0x4d41544c"
    assert ds.images.shape == (5, 3, 32, 32) and ds.labels.tolist() == [1, 2, 3, 4, 5]
    for junk in (b"<html>captive portal</html>", b"x" * 10, b"MATLAB 5.0" + b"\0" * 50):
        (tmp_path / "bad.mat").write_bytes(junk)
        _raises(tmp_path / "bad.mat", "not a readable SVHN .mat file")


def test_a_split_read_in_place_of_the_one_asked_for_is_logged(tmp_path, caplog):
    make_split(tmp_path, "train", 6, seed=1, gz=False)
    with caplog.at_level("INFO"):
        ds = load_dataset(tmp_path, split="test")
    assert len(ds) == 6 and "has no test files; reading its train split" in caplog.text


def test_image_dataset_validates():
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), None, "t")
    with pytest.raises(DataError, match="C in"):
        ImageDataset(torch.zeros(2, 2, 4, 4, dtype=torch.uint8), None, "t")
    with pytest.raises(DataError, match="labels have shape"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3).long(), "t")


# -- downloader (no network: _fetch is replaced by a copy from a local "server") ---------------


def fake_remote(server: Path) -> dl.RemoteDataset:
    """A two-mirror dataset whose files are synthetic IDX files in ``server``."""
    files = []
    for split, prefix, n in (("train", "train", 6), ("test", "t10k", 4)):
        x, y = make_split(server, prefix, n, seed=n, gz=True)
        for kind, arr in (("images", x), ("labels", y)):
            name = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
            md5 = hashlib.md5(idx_bytes(arr)).hexdigest()
            files.append(dl.RemoteFile(name, split, kind, n, md5))
    return dl.RemoteDataset("toy", ("https://dead.mirror/", "https://good.mirror/"), tuple(files))


@pytest.fixture
def fetch_log(monkeypatch):
    """Replace the network with ``server`` dirs keyed by mirror; record every URL fetched."""
    log: list[str] = []
    servers: dict[str, Path] = {}

    def fake_fetch(url: str, dest: Path, timeout: float = 60.0) -> None:
        log.append(url)
        mirror, name = url.rsplit("/", 1)
        if mirror + "/" not in servers:
            raise urllib.error.URLError("connection refused")
        shutil.copyfile(servers[mirror + "/"] / name, dest)

    monkeypatch.setattr(dl, "_fetch", fake_fetch)
    return log, servers


def test_download_falls_back_verifies_and_loads(tmp_path, fetch_log):
    log, servers = fetch_log
    servers["https://good.mirror/"] = tmp_path / "server"
    (tmp_path / "server").mkdir()
    remote = fake_remote(tmp_path / "server")
    out = dl.download(remote, tmp_path / "cache")
    assert out == tmp_path / "cache" / "toy"
    assert sorted(p.name for p in out.iterdir()) == sorted(f.name for f in remote.files)
    assert len(log) == 8  # each of 4 files: dead mirror, then good mirror
    train = load_dataset(out)
    assert len(train) == 6 and len(load_dataset(out, split="test")) == 4

    log.clear()
    dl.download(remote, tmp_path / "cache")  # all present and valid: no network at all
    assert log == []
    (out / "t10k-images-idx3-ubyte.gz").write_bytes(b"junk")  # corrupt: fetched again
    dl.download(remote, tmp_path / "cache", splits=("test",))
    assert [u.rsplit("/", 1)[1] for u in log] == ["t10k-images-idx3-ubyte.gz"] * 2
    assert len(load_dataset(out, split="test")) == 4


def test_download_rejects_bad_content(tmp_path, fetch_log):
    log, servers = fetch_log
    server = tmp_path / "server"
    server.mkdir()
    remote = fake_remote(server)
    servers["https://good.mirror/"] = server
    # Truncated download on the good mirror; right length but wrong pixels on a second server.
    data = (server / "train-images-idx3-ubyte.gz").read_bytes()
    (server / "train-images-idx3-ubyte.gz").write_bytes(data[:-20])
    with pytest.raises(DataError, match="could not download train-images-idx3-ubyte.gz") as e:
        dl.download(remote, tmp_path / "cache", splits=("train",))
    msg = str(e.value)
    assert "connection refused" in msg and "truncated" in msg and "\n" not in msg
    # Nothing half-written left behind, not even the empty folders of a first download.
    assert not (tmp_path / "cache").exists()
    with pytest.raises(DataError):  # folders that were there before are kept
        dl.download(remote, tmp_path / "server" / "deep" / "er", splits=("train",))
    assert not (tmp_path / "server" / "deep").exists() and (tmp_path / "server").is_dir()

    wrong = np.zeros((6, 5, 7), np.uint8)
    (server / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(wrong)))
    with pytest.raises(DataError, match="content MD5 .* expected"):
        dl.download(remote, tmp_path / "cache", splits=("train",))
    with pytest.raises(DataError, match="unknown split"):
        dl.download(remote, tmp_path / "cache", splits=("val",))


@needs_shared
def test_download_mnist_checksums_match_real_files(tmp_path, fetch_log, monkeypatch):
    """The real MNIST spec accepts the real t10k files (re-gzipped copies included)."""
    _, servers = fetch_log
    servers[dl.MNIST.mirrors[0]] = SHARED_MNIST
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path))
    out = download_mnist(splits=("test",))
    assert out == tmp_path / "mnist"
    ds = load_dataset("mnist", split="test")
    assert len(ds) == 10000 and ds.name == "mnist:test"
    assert dl.main(["mnist", "--root", str(tmp_path / "other")]) == 2  # train not served: error


def test_default_cache_dir(monkeypatch):
    monkeypatch.setenv("INFOGAN_DATA", "/some/where")
    assert default_cache_dir() == Path("/some/where")
    monkeypatch.delenv("INFOGAN_DATA")
    assert default_cache_dir() == Path.home() / ".cache" / "infogan"


def test_with_channels_makes_colour_grey_and_grey_colour():
    from infogan.data.dataset import with_channels

    rgb = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], dtype=torch.uint8)
    colour = ImageDataset(rgb.T.reshape(1, 3, 2, 2).contiguous(), None, "c")
    grey = with_channels(colour, 1)
    assert grey.images.shape == (1, 1, 2, 2)
    # BT.601 luma, rounded: 0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299*10+0.587*20+0.114*30
    assert grey.images.flatten().tolist() == [76, 150, 29, 18]
    back = with_channels(grey, 3)
    assert back.images.shape == (1, 3, 2, 2) and bool((back.images == grey.images).all())
    assert with_channels(colour, 3) is colour


def test_a_folder_named_like_a_builtin_set_is_told_apart(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist5k").mkdir()
    with caplog.at_level("INFO", logger="infogan"):
        assert load_dataset("mnist5k").name == "mnist5k"
    assert "for the folder of that name write ./mnist5k" in caplog.text


def test_download_waits_briefly_says_what_it_fetches_and_names_the_debian_copy(
    tmp_path, monkeypatch, capsys, caplog, fetch_log
):
    from infogan.cli import main
    from infogan.data import registry

    # a network that drops packets held each mirror for 60 s without a word
    assert dl.FETCH_TIMEOUT <= 30
    log, servers = fetch_log
    servers["https://good.mirror/"] = tmp_path / "server"
    with caplog.at_level("INFO"):
        dl.download(fake_remote(tmp_path / "server"), tmp_path / "cache")
    assert "downloading https://dead.mirror/" in caplog.text
    system = tmp_path / "debian"
    make_split(system, "train", 6, seed=1, gz=True)
    monkeypatch.setattr(registry, "FASHION_MNIST_SYSTEM_DIR", system)
    monkeypatch.setattr(dl, "download", lambda *a, **kw: tmp_path)
    assert main(["download", "fashion-mnist"]) == 0
    assert f"note: the Debian package's copy in {system}" in capsys.readouterr().out


def test_turning_colour_grey_or_grey_into_colour_is_logged(caplog):
    from infogan.data import ImageDataset
    from infogan.data.dataset import with_channels

    rgb = ImageDataset(torch.full((2, 3, 4, 4), 200, dtype=torch.uint8), None, "colour.npz")
    with caplog.at_level("INFO"):
        grey = with_channels(rgb, 1)
        with_channels(grey, 3)
    assert grey.shape[0] == 1 and "colour.npz: 3-channel images read in grey" in caplog.text
    assert "1-channel images read as three equal channels" in caplog.text


def test_a_text_file_is_not_called_a_bad_idx_file(tmp_path):
    """--data notes.txt was answered with an IDX magic number ("0x68656c6c, expected ...")."""
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    msg = _raises(notes, "is not a dataset file this library reads")
    assert "folder of images" in msg and ".npz" in msg and "magic" not in msg
    raw = tmp_path / "digits"  # an IDX file under another name is still read as one
    raw.write_bytes(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    assert load_dataset(raw).images.shape == (2, 1, 28, 28)
