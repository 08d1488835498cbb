"""ModelCentrality: known answers on hand-built models whose codes are pixels, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_FLAGS, tiny_config
from torch import nn

from infogan.centrality import model_centrality
from infogan.cli import main
from infogan.errors import SpecError
from infogan.latent import LatentSpec, parse_codes
from infogan.model import InfoGAN
from infogan.nets import QOutput

SPEC = "cat:3,cont:3"
NOISE = 2


class _Writer(nn.Module):
    """G: the categorical value, the continuous codes (through ``perm``) and the noise each
    written into their own pixel of a 1x1x(1+3+2) image."""

    def __init__(self, spec: LatentSpec, perm: list[int]) -> None:
        super().__init__()
        self.spec, self.perm = spec, perm

    def forward(self, g_input: torch.Tensor) -> torch.Tensor:
        z = g_input[:, :NOISE]
        cat = g_input[:, NOISE : NOISE + 3].argmax(dim=1, keepdim=True).float()
        cont = g_input[:, NOISE + 3 :][:, self.perm]
        return torch.cat([cat, cont, z], dim=1)[:, None, None, :]


class _PixelNets(nn.Module):
    """A hand-built 'model': G writes codes into pixels, Q reads the continuous pixels back
    through ``mix`` (identity: a perfect Q; a rotation: each Q code mixes two factors)."""

    def __init__(self, perm: list[int], mix: np.ndarray) -> None:
        super().__init__()
        self.latent = LatentSpec(parse_codes(SPEC), noise_dim=NOISE)
        self.image_shape = (1, 1, 1 + 3 + NOISE)
        self.generator = _Writer(self.latent, perm)
        self.mix = torch.tensor(mix, dtype=torch.float32)

    @property
    def sampler(self) -> nn.Module:
        return self.generator

    def recognise(self, x: torch.Tensor) -> QOutput:
        flat = x.flatten(1)
        cat_logits = -10 * (torch.arange(3.0)[None, :] - flat[:, :1]) ** 2
        mean = flat[:, 1:4] @ self.mix
        return QOutput([cat_logits], mean, torch.zeros_like(mean))


def _model(perm: list[int], mix: np.ndarray) -> InfoGAN:
    return InfoGAN(_PixelNets(perm, mix), tiny_config(), "cpu")


ROT = np.array([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]) / np.sqrt([2, 2, 1])
SMALL = {"groups": 120, "group_size": 50, "n_var": 2000}


def test_perfect_models_agree_and_a_mixing_one_is_not_chosen() -> None:
    models = [
        _model([0, 1, 2], np.eye(3)),
        _model([2, 0, 1], np.diag([3.0, 0.5, 2.0])),  # permuted and rescaled: still perfect
        _model([0, 1, 2], ROT),  # codes 1 and 2 mixed in its Q
    ]
    res = model_centrality(models, ["a", "b", "mix"], **SMALL)
    m = np.array(res.matrix)
    # Perfect Q on a perfect G (any permutation): every vote right.
    assert m[0, 0] == m[0, 1] == m[1, 0] == m[1, 1] == 1.0
    # The mixing Q cannot tell the two mixed factors apart: about 2 of 4 factors' votes split.
    assert m[2, 0] < 0.85 and m[2, 1] < 0.85
    assert res.centrality[2] < min(res.centrality[:2])
    assert res.names[res.selected] in ("a", "b")
    # The mixing model's own G is perfect, so perfect Qs read it perfectly.
    assert m[0, 2] == 1.0


def test_centrality_is_reproducible_and_the_json_is_complete() -> None:
    models = [_model([0, 1, 2], np.eye(3)), _model([0, 1, 2], ROT)]
    a = model_centrality(models, **SMALL, seed=3).to_dict()
    b = model_centrality(models, **SMALL, seed=3).to_dict()
    assert a == b
    assert set(a) == {
        "runs",
        "matrix",
        "self_consistency",
        "centrality",
        "selected",
        "tied",
        "protocol",
    }
    assert a["self_consistency"] == [a["matrix"][0][0], a["matrix"][1][1]]


def test_bad_input_is_refused() -> None:
    one = _model([0, 1, 2], np.eye(3))
    with pytest.raises(SpecError, match="at least 2"):
        model_centrality([one])
    other = InfoGAN(_PixelNets([0, 1, 2], np.eye(3)), tiny_config(), "cpu")
    other.nets.image_shape = (1, 2, 6)
    with pytest.raises(SpecError, match="different shapes"):
        model_centrality([one, other])
    other = InfoGAN(_PixelNets([0, 1, 2], np.eye(3)), tiny_config(), "cpu")
    other.nets.latent = LatentSpec(parse_codes("cat:3,cont:2"), noise_dim=NOISE)
    with pytest.raises(SpecError, match="different codes"):
        model_centrality([one, other])


def test_cli_on_two_trained_runs(tmp_path, tiny_npz, capsys, monkeypatch) -> None:
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}"
        args = ["train", "--data", tiny_npz, "--steps", "4", "--seed", str(seed), "--out"]
        assert main([*args, str(out), *TINY_FLAGS, "--codes", "cat:4,cont:2"]) == 0
        runs.append(str(out))
    dest = tmp_path / "c.json"
    flags = ["--groups", "12", "--group-size", "8", "--n-var", "64", "--json", str(dest)]
    assert main(["centrality", *runs, *flags]) == 0
    printed = capsys.readouterr().out
    assert "selected:" in printed and "seed0" in printed
    rep = json.loads(dest.read_text())
    assert rep["runs"] == ["seed0", "seed1"]
    assert all(0.0 <= v <= 1.0 for row in rep["matrix"] for v in row)
    # Without --json nothing is written (it once wrote ./centrality.json, refused the next time).
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    assert main(["centrality", *runs, *flags[:-2]]) == 0
    assert "selected:" in capsys.readouterr().out and sorted(tmp_path.iterdir()) == before
    # A missing run is a one-line error, not a traceback.
    argv = ["centrality", runs[0], str(tmp_path / "nope"), "--json", str(dest), "--force"]
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().err

    # From Python: run paths load as the CLI loads them (an AttributeError before), named by
    # their paths; a wrong kind or a fractional count is one line.
    res = model_centrality(runs, groups=12, group_size=8, n_var=64)
    assert res.to_dict()["runs"] == runs
    with pytest.raises(SpecError, match="expected models or run paths"):
        model_centrality([runs[0], 3])
    with pytest.raises(SpecError, match="whole number"):
        model_centrality(runs, groups=4.0)
