import math

import pytest
import torch

from infogan.errors import SpecError
from infogan.latent import Categorical, Continuous, LatentSpec, parse_codes


def test_parse_paper_spec():
    spec = LatentSpec.parse("cat:10,cont:2", 62)
    assert spec.codes == (Categorical(10), Continuous(), Continuous())
    assert spec.input_dim == 74  # the paper's MNIST G input
    assert spec.names == ["c1", "c2", "c3"]
    assert spec.entropies == pytest.approx([math.log(10), math.log(2), math.log(2)])
    assert spec.spec == "cat:10,cont:2"


def test_mixed_order_and_canonical_round_trip():
    spec = LatentSpec.parse(" cont:1, cat:3 ,cat:10,cont:2", 5)
    assert [c.kind for c in spec.codes] == ["cont", "cat3", "cat10", "cont", "cont"]
    assert (
        spec.slot(0) == ("cont", 0) and spec.slot(2) == ("cat", 1) and spec.slot(4) == ("cont", 2)
    )
    assert LatentSpec.parse(spec.spec, 5) == spec


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("cat:1", "cat:1"),
        ("cont:0", "cont:0"),
        ("foo:3", "foo"),
        ("", "empty"),
        ("   ", "empty"),
        ("cat:10,,cont:1", "empty entry"),
        ("cat", "no size"),
        ("cat:x", "cat:x"),
        ("cat:10,cont:-1", "cont:-1"),
        ("cat:\uff11\uff10", "not an integer"),  # full-width digits, which int() takes
        ("cat:\u0663", "not an integer"),  # an Arabic-Indic 3
        ("cat:1_0", "not an integer"),
    ],
)
def test_impossible_specs_name_the_bad_part(bad, fragment):
    with pytest.raises(SpecError) as e:
        parse_codes(bad)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_negative_noise_rejected():
    with pytest.raises(SpecError, match="noise"):
        LatentSpec.parse("cat:10", -1)


def test_sample_shapes_ranges_and_seeding():
    spec = LatentSpec.parse("cat:10,cat:3,cont:2", 7)
    g = torch.Generator().manual_seed(0)
    lat = spec.sample(4000, generator=g)
    assert lat.z.shape == (4000, 7) and lat.cat.shape == (4000, 2) and lat.cont.shape == (4000, 2)
    assert lat.cat[:, 0].min() == 0 and lat.cat[:, 0].max() == 9
    assert lat.cat[:, 1].max() == 2
    assert lat.cont.min() >= -1 and lat.cont.max() <= 1
    # uniform, not N(0,1): about 1/3 variance and no mass outside [-1, 1]
    assert lat.cont.var().item() == pytest.approx(1 / 3, abs=0.03)
    counts = torch.bincount(lat.cat[:, 0], minlength=10).float()
    assert counts.min() > 300  # every value used, roughly uniformly
    again = spec.sample(4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.z, lat.z) and torch.equal(again.cat, lat.cat)


def test_assemble_split_round_trip():
    spec = LatentSpec.parse("cat:10,cat:3,cont:2", 7)
    lat = spec.sample(16, generator=torch.Generator().manual_seed(1))
    x = spec.assemble(lat)
    assert x.shape == (16, spec.input_dim)
    assert torch.equal(x[:, 7:17].argmax(1), lat.cat[:, 0])
    back = spec.split(x)
    assert torch.equal(back.z, lat.z) and torch.equal(back.cat, lat.cat)
    assert torch.equal(back.cont, lat.cont)
    with pytest.raises(SpecError):
        spec.split(x[:, :-1])


def test_code_names():
    spec = LatentSpec.parse("cat:10,cont:2", 62)
    assert spec.index_of("c3") == 2 and spec.index_of("1") == 0
    for bad in ("c4", "c0", "x"):
        with pytest.raises(SpecError):
            spec.index_of(bad)


def test_noise_scale_is_a_gain_on_z_in_g_input_only():
    """``noise_scale`` scales z where G reads it, leaves the codes alone, and split undoes it."""
    plain = LatentSpec.parse("cat:10,cont:2", 7)
    scaled = LatentSpec.parse("cat:10,cont:2", 7, noise_scale=0.1)
    lat = plain.sample(8, generator=torch.Generator().manual_seed(2))
    x0, x1 = plain.assemble(lat), scaled.assemble(lat)
    assert torch.allclose(x1[:, :7], 0.1 * x0[:, :7]) and torch.equal(x1[:, 7:], x0[:, 7:])
    back = scaled.split(x1)
    assert torch.allclose(back.z, lat.z) and torch.equal(back.cat, lat.cat)
    assert scaled.to_dict()["noise_scale"] == 0.1 and "noise_scale" not in plain.to_dict()
    with pytest.raises(SpecError, match="noise_scale"):
        LatentSpec.parse("cat:10", 7, noise_scale=0.0)


def test_noise_scale_routes_from_config_and_cli():
    from infogan.cli import _recipe_from_args, build_parser
    from infogan.config import TrainConfig

    cfg = TrainConfig()
    cfg.model.noise_scale = 0.25
    assert cfg.latent().noise_scale == 0.25
    cfg.model.noise_scale = -1.0
    with pytest.raises(SpecError, match="noise_scale"):
        cfg.validate()
    a = build_parser().parse_args(["train", "--noise-scale", "0.1"])
    assert _recipe_from_args(a).model.noise_scale == 0.1


def test_uniform_noise_prior_is_bounded_and_recorded():
    spec = LatentSpec.parse("cat:3,cont:1", 4, noise_dist="uniform")
    z = spec.sample(4000, generator=torch.Generator().manual_seed(0)).z
    assert z.min() >= -1 and z.max() <= 1 and z.mean().abs() < 0.05
    assert z.var().item() == pytest.approx(1 / 3, abs=0.02)  # U(-1, 1)
    assert spec.to_dict()["noise_dist"] == "uniform"
    assert "noise_dist" not in LatentSpec.parse("cat:3", 4).to_dict()
    with pytest.raises(SpecError, match="noise_dist"):
        LatentSpec.parse("cat:3", 4, noise_dist="cauchy")


def test_sample_sizes_are_whole_numbers():
    import numpy as np

    spec = LatentSpec.parse("cat:3,cont:1", 4)
    assert len(spec.sample(np.int64(2))) == 2 and len(spec.sample(0)) == 0
    for bad in (-1, 2.0, "2", True):
        with pytest.raises(SpecError, match="whole number"):
            spec.sample(bad)


def test_split_keeps_the_batchs_device_without_categorical_codes():
    spec = LatentSpec.parse("cont:2", 3)
    lat = spec.split(torch.zeros(4, 5, device="meta"))
    assert lat.z.device.type == lat.cat.device.type == lat.cont.device.type == "meta"
    assert lat.cat.shape == (4, 0)


def test_a_spec_built_by_hand_is_checked_where_it_is_built():
    """None or "x" as noise_scale, "5" as noise_dim, a string for codes, Categorical(0): raw
    TypeErrors (or log(0)) later; an infinite gain gave inf/NaN generator inputs."""
    import numpy as np

    for scale in (None, "x", float("inf"), 0.0, True):
        with pytest.raises(SpecError, match="noise_scale: must be a number > 0"):
            LatentSpec.parse("cat:3", 5, noise_scale=scale)
    assert LatentSpec.parse("cat:3", 5, noise_scale=np.float32(0.5)).noise_scale == 0.5
    with pytest.raises(SpecError, match="codes: expected a tuple"):
        LatentSpec("cat:3", 5)
    with pytest.raises(SpecError, match="noise: expected a whole number"):
        LatentSpec((Categorical(3),), "5")
    with pytest.raises(SpecError, match="K: expected 1..10000, got 0"):
        Categorical(0)
    spec = LatentSpec.parse("cat:3,cont:1", 5)
    with pytest.raises(SpecError, match="code index: expected a whole number"):
        spec.slot("a")
    with pytest.raises(SpecError, match="code index: expected 0..1, got 2"):
        spec.slot(2)
    with pytest.raises(SpecError, match="expected an infogan Latent"):
        spec.assemble(None)
    with pytest.raises(SpecError, match="expected a torch tensor"):
        spec.split(np.zeros((2, spec.input_dim)))
