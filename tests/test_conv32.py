"""The paper's 32x32 networks (``conv32``), colour data end to end, the svhn / celeba presets and
SVHN's .mat reader."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import scipy.io
import torch
from conftest import TINY_FLAGS

from infogan.cli import main
from infogan.config import ModelConfig, TrainConfig, preset
from infogan.data import load_dataset
from infogan.data.download import RemoteFile, verify_file
from infogan.data.svhn import read_svhn_mat
from infogan.errors import DataError, SpecError
from infogan.nets import build_nets, image_shape
from infogan.nets.conv32 import Conv32Body, Conv32Generator


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_counts_and_range(channels):
    torch.manual_seed(0)
    g, body = Conv32Generator(168, channels=channels), Conv32Body(channels=channels)
    # the counts the module docstring gives
    assert n_params(g) == 2_496_704 + 1_792 * 168 + 1_025 * channels
    assert n_params(body) == 4_853_952 + 1_024 * channels and body.feature_dim == 1024
    table = Conv32Body(channels=channels, fc=False)  # the paper's SVHN table exactly
    assert n_params(table) == 656_576 + 1_024 * channels and table.feature_dim == 4096
    x = g(10 * torch.randn(4, 168))
    assert x.shape == (4, channels, 32, 32) and x.abs().max() <= 1
    assert body(x).shape == (4, 1024) and table(x).shape == (4, 4096)
    # the paper's table: batch norm after the first two G layers only, and in D's layers 2-3
    bn = [m for m in g.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(bn) == 2
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in table.modules()) == 2
    # conv32's one addition to it: FC 1024 -> BN -> leaky ReLU, as the MNIST and chairs D have
    assert [type(m).__name__ for m in body.fc] == ["Linear", "BatchNorm1d", "LeakyReLU"]
    # the grouped pass (real and fake stacked) is two separate passes, batch norm included
    both = torch.cat([x, x.flip(0)])
    assert torch.allclose(body(both, groups=2), torch.cat([body(x), body(x.flip(0))]), atol=1e-5)


def test_build_nets_channels_follow_the_config_and_cr_reads_pairs():
    cfg = ModelConfig(codes="cat:10,cont:2", noise_dim=8, arch="conv32", channels=3, width=0.25)
    nets = build_nets(cfg, contrastive=True)
    assert nets.image_shape == (3, 32, 32) == image_shape(cfg)
    x = nets.generator(torch.randn(5, nets.latent.input_dim))
    assert nets.discriminate(x).shape == (5,) and nets.recognise(x).cat_logits[0].shape == (5, 10)
    assert nets.pair_logits(x, x).shape == (5, 3)  # which of c1, c2, c3 a pair shares
    exact = build_nets(ModelConfig(codes="cat:10", noise_dim=8, arch="conv32paper", width=0.25))
    assert exact.body.feature_dim == 4 * 4 * 64 and exact.image_shape == (1, 32, 32)
    # None ("as the data") builds one channel where there is no data to follow
    assert image_shape(ModelConfig(arch="conv32")) == (1, 32, 32)
    with pytest.raises(SpecError, match="conv32"):
        ModelConfig(channels=3).validate()  # the mnist networks read one channel
    with pytest.raises(SpecError, match="1 or 3"):
        ModelConfig(arch="conv32", channels=2).validate()


def _cli_err(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_colour_npz_trains_with_channels_from_the_data(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "rgb.npz"
    np.savez(path, images=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8))
    run = tmp_path / "run"
    argv = ["train", "--data", str(path), "--arch", "conv32", "--codes", "cat:3,cont:1"]
    assert main([*argv, *TINY_FLAGS, "--steps", "3", "--out", str(run), "--device", "cpu"]) == 0
    saved = json.loads((run / "config.json").read_text())["model"]
    assert saved["arch"] == "conv32" and saved["channels"] == 3
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    # --channels 1 trains on the colour data in grey, and the run reads colour data that way
    grey = tmp_path / "grey"
    cmd = [*argv, "--channels", "1", *TINY_FLAGS, "--steps", "2", "--device", "cpu"]
    assert main([*cmd, "--out", str(grey)]) == 0
    assert json.loads((grey / "config.json").read_text())["model"]["channels"] == 1
    codes = tmp_path / "codes.csv"
    assert main(["encode", str(grey), "--data", str(path), "--out", str(codes)]) == 0
    assert len(codes.read_text().splitlines()) == 1 + 24
    # a dataset handed over from Python is not converted: a contradiction is one clear error
    from infogan.data import ImageDataset
    from infogan.prepare import fit_to_data

    colour = ImageDataset(torch.zeros(8, 3, 32, 32, dtype=torch.uint8), None, "mine")
    cfg = TrainConfig(model=ModelConfig(arch="conv32", channels=1), batch=4)
    with pytest.raises(DataError, match="3x32x32 .* needs 1x32x32"):
        fit_to_data(cfg, colour)


def test_presets_svhn_and_celeba():
    svhn, celeba = preset("svhn"), preset("celeba")
    assert svhn.latent().cat_sizes == (10,) * 4 and svhn.latent().n_cont == 4
    assert svhn.model.noise_dim == 124 and svhn.model.arch == "conv32" and svhn.data == "svhn"
    assert celeba.latent().cat_sizes == (10,) * 10 and celeba.latent().n_cont == 0
    assert celeba.model.noise_dim == 128 and celeba.data == "celeba"
    # G's input: the paper's 168 (SVHN) and 228 (CelebA)
    assert svhn.latent().input_dim == 168 and celeba.latent().input_dim == 228
    for cfg in (svhn, celeba):
        assert cfg.candidates == 4 and cfg.d_translate == 2  # the default recipe's robustness
        cfg.validate()


def _fake_svhn(path, n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # 1..10, 10 = digit 0
    scipy.io.savemat(path, {"X": x, "y": y})
    return x, y


def test_svhn_mat_reader_and_named_dataset(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "svhn").mkdir(parents=True)
    x, y = _fake_svhn(cache / "svhn" / "test_32x32.mat")
    ds = read_svhn_mat(cache / "svhn" / "test_32x32.mat")
    assert ds.images.shape == (12, 3, 32, 32)
    # pixel (row 5, column 7) of image 3, red channel: the .mat stores [row, column, colour, n]
    assert ds.images[3, 0, 5, 7] == x[5, 7, 0, 3]
    assert ds.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    monkeypatch.setenv("INFOGAN_DATA", str(cache))
    assert load_dataset("svhn", split="test").name == "svhn:test"
    with pytest.raises(DataError, match="infogan download svhn"):
        load_dataset("svhn", split="train")
    # the download check accepts the right file and rejects a wrong count or checksum
    md5 = hashlib.md5((cache / "svhn" / "test_32x32.mat").read_bytes()).hexdigest()
    verify_file(cache / "svhn" / "test_32x32.mat", RemoteFile("t.mat", "test", "mat", 12, md5))
    with pytest.raises(DataError, match="holds 12 images, expected 13"):
        verify_file(cache / "svhn" / "test_32x32.mat", RemoteFile("t", "test", "mat", 13, md5))
    with pytest.raises(DataError, match="MD5"):
        verify_file(cache / "svhn" / "test_32x32.mat", RemoteFile("t", "test", "mat", 12, "0"))


def test_svhn_bad_files(tmp_path):
    empty = tmp_path / "empty.mat"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_svhn_mat(empty)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"MATLAB? no" * 20)
    with pytest.raises(DataError, match="junk.mat"):
        read_svhn_mat(junk)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"X": np.zeros((28, 28, 5), np.uint8), "y": np.ones((5, 1))})
    with pytest.raises(DataError, match=r"expected uint8 \[32, 32, 3, N\]"):
        read_svhn_mat(other)
    with pytest.raises(DataError, match="does not exist"):
        read_svhn_mat(tmp_path / "nope.mat")
    # A MATLAB v7.3 (HDF5) file: scipy's message suggested h5py, which does not help here.
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116, b" ")
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(header + b"\0" * 8 + b"\x00\x02IM" + b"\0" * 384 + b"\x89HDF\r\n\x1a\n")
    with pytest.raises(DataError, match="MATLAB v7.3 .* re-save it as v7"):
        read_svhn_mat(v73)
    cut = tmp_path / "cut.mat"  # a download cut short
    scipy.io.savemat(cut, {"X": np.zeros((32, 32, 3, 50), np.uint8), "y": np.ones((50, 1))})
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(DataError, match="or is cut short"):
        read_svhn_mat(cut)


def test_celeba_missing_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path))
    with pytest.raises(DataError, match="img_align_celeba"):
        load_dataset("celeba", size=32)


def test_celeba_reads_its_official_partition_when_it_is_there(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("INFOGAN_DATA", str(tmp_path))
    faces = tmp_path / "celeba" / "img_align_celeba"
    faces.mkdir(parents=True)
    for i in range(1, 6):  # face i is i*40 bright
        Image.fromarray(np.full((218, 178, 3), 40 * i, np.uint8)).save(faces / f"{i:06d}.jpg")
    everything = load_dataset("celeba", size=32)
    assert len(everything) == 5 and everything.images.shape[1:] == (3, 32, 32)
    (tmp_path / "celeba" / "Eval").mkdir()
    table = tmp_path / "celeba" / "Eval" / "list_eval_partition.txt"
    table.write_text("000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n000004.jpg 0\n000005.jpg 2\n")
    train, test = load_dataset("celeba", size=32), load_dataset("celeba", "test", size=32)
    assert train.files == ["000001.jpg", "000004.jpg"] and test.files == [
        "000003.jpg",
        "000005.jpg",
    ]
    assert [int(x) // 10 for x in train.images[:, 0, 16, 16]] == [4, 16]  # faces 1 and 4
    table.write_text("not a partition\n")
    with pytest.raises(DataError, match="list_eval_partition.txt"):
        load_dataset("celeba", size=32)
    # the partition inside the image folder counts too (it was ignored silently)
    (faces / "list_eval_partition.txt").write_text(table.read_text())
    table.unlink()
    (faces / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 2\n")
    assert load_dataset("celeba", "test", size=32).files == ["000002.jpg"]


def test_one_colour_image_without_a_batch_dimension_is_explained():
    """A [3, 32, 32] image was read as three grey images, and the error said the model reads
    (3, 32, 32) while being given (1, 32, 32): true, and no help."""
    from infogan.config import TrainConfig
    from infogan.model import InfoGAN

    cfg = TrainConfig(
        model=ModelConfig(codes="cat:3,cont:1", noise_dim=8, arch="conv32", channels=3, width=0.25)
    )
    model = InfoGAN(build_nets(cfg.model), cfg, step=0)
    with pytest.raises(DataError, match=r"give one 3x32x32 image as a batch of one, \[1, 3, 32"):
        model.encode(torch.zeros(3, 32, 32))
    assert model.encode(torch.zeros(1, 3, 32, 32)).cat.shape == (1, 1)
