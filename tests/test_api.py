"""The Python API: load a run, generate from codes, traverse, encode, estimate the bound."""

import pytest
import torch
from conftest import tiny_config

import infogan
from infogan.errors import DataError, SpecError
from infogan.train import Trainer


@pytest.fixture
def model(tmp_path, tiny_dataset):
    Trainer(tiny_config(steps=3), tmp_path / "r", dataset=tiny_dataset).run(finish=False)
    return infogan.load_run(tmp_path / "r")


def test_generate_from_codes(model):
    x = model.generate(n=5, codes={"c1": 2, "c2": 0.5}, seed=3)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(x, model.generate(n=5, codes={"c1": 2, "c2": 0.5}, seed=3))  # seeded
    lat = model.latent(5, codes={"c1": torch.tensor([0, 1, 2, 3, 0])})
    assert lat.cat[:, 0].tolist() == [0, 1, 2, 3, 0]
    with pytest.raises(SpecError):
        model.generate(n=2, codes={"c1": 1.5})
    with pytest.raises(SpecError):
        model.generate(n=2, codes={"c2": float("nan")})


def test_traverse_layouts(model):
    imgs, rows, cols = model.traverse("c1", rows=3)
    assert imgs.shape == (3, 4, 1, 28, 28) and cols == ["0", "1", "2", "3"]
    imgs, rows, cols = model.traverse("c2", steps=5)
    assert imgs.shape == (4, 5, 1, 28, 28)  # rows = the 4 values of the categorical code
    assert rows[0] == "c1=0" and cols[0] == "-2.0" and cols[-1] == "+2.0"
    # only the swept code changes along a row: the first and last columns differ
    assert not torch.equal(imgs[:, 0], imgs[:, -1])


def test_encode_accepts_uint8_and_float_and_restores_mode(model, tiny_dataset):
    model.nets.train()
    enc = model.encode(tiny_dataset.images)
    assert model.nets.training  # the caller's mode is restored
    assert enc.cat.shape == (64, 1) and enc.cont_mean.shape == (64, 2)
    assert torch.allclose(enc.cat_probs[0].sum(1), torch.ones(64))
    enc2 = model.encode(tiny_dataset.images.float() / 127.5 - 1)
    assert torch.equal(enc.cat, enc2.cat)
    enc3 = model.encode(tiny_dataset.images[:, 0])  # [N, H, W] is accepted
    assert torch.equal(enc.cat, enc3.cat)
    with pytest.raises(DataError, match="shape"):
        model.encode(torch.zeros(2, 3, 32, 32))


def test_mi_bound_keys(model):
    b = model.mi_bound(n=300, batch=100)
    assert set(b) == {"c1", "c2", "c3"} and all(isinstance(v, float) for v in b.values())
