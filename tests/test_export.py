"""``infogan export``: safetensors / TorchScript / ONNX / pt2 files that reproduce the eager generator."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from infogan import checkpoint as ckpt
from infogan import load_run
from infogan.cli import main
from infogan.errors import CheckpointError, InfoGANError, SpecError
from infogan.export import (
    TORCHSCRIPT_EXTRA,
    LatentGenerator,
    export_model,
    latent_layout,
    load_generator,
    sidecar_path,
)
from infogan.nets import build_nets


def make_run(
    root: Path,
    ema: bool = False,
    codes: str = "cat:4,cont:2",
    noise_scale: float = 1.0,
    noise_dist: str = "normal",
) -> Path:
    """A run directory with one checkpoint of freshly initialised tiny nets (no training: fast).

    With ``ema`` the EMA generator's weights are perturbed so that it differs from G and a test
    can tell which one an export took.
    """
    torch.manual_seed(0)
    cfg = tiny_config(codes=codes, ema_decay=0.9 if ema else 0.0)
    cfg.model.noise_scale = noise_scale
    cfg.model.noise_dist = noise_dist
    nets = build_nets(cfg.model, ema=ema)
    if ema:
        with torch.no_grad():
            for p in nets.generator_ema.parameters():
                p.add_(0.05 * torch.randn_like(p))
    run = root / "run"
    state = {"step": 7, "config": cfg.to_dict(), "nets": nets.state_dict()}
    ckpt.save_checkpoint(ckpt.checkpoint_path(run, 7), state)
    return run


def _plain_latent(model, n: int = 5, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(latent vector with plain z for LatentGenerator, eager images from the same latent)."""
    lat = model.latent(n, codes={"c1": 2, "c2": 0.5}, seed=seed)
    x = model.spec.assemble(lat)
    x[:, : model.spec.noise_dim] = lat.z
    return x, model.generate(latent=lat)


def test_safetensors_round_trip_rebuilds_the_generator(tmp_path):
    run = make_run(tmp_path, codes="cont:1,cat:3,cont:1", noise_scale=0.5)
    out = tmp_path / "g.safetensors"
    res = export_model(run, out)
    assert res.model_path == out and res.sidecar_path == tmp_path / "g.safetensors.json"
    assert res.generator == "generator" and res.step == 7
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["format"] == "infogan-export" and meta["what"] == "generator"
    assert meta["latent"]["codes"] == "cont:1,cat:3,cont:1" and meta["latent"]["input_dim"] == 13
    # layout: z, then the one-hot of the categorical code c2, then c1 and c3
    assert [(e["name"], e["offset"], e["size"]) for e in meta["latent"]["layout"]] == [
        ("z", 0, 8),
        ("c2", 8, 3),
        ("c1", 11, 1),
        ("c3", 12, 1),
    ]
    assert meta["output"]["shape"] == ["N", 1, 28, 28]

    from safetensors.torch import load_file

    assert all(k.startswith("generator.") for k in load_file(str(out)))
    model = load_run(run)
    lat = model.latent(4, seed=2)
    g = load_generator(out)
    with torch.no_grad():
        assert torch.equal(g(model.spec.assemble(lat)), model.generate(latent=lat))
    # The header carries the description too: the file alone still rebuilds.
    sidecar_path(out).unlink()
    with torch.no_grad():
        assert torch.equal(
            load_generator(out)(model.spec.assemble(lat)), model.generate(latent=lat)
        )


def test_ema_choice_follows_sample_and_all_holds_every_network(tmp_path):
    run = make_run(tmp_path, ema=True)
    model = load_run(run)
    lat = model.latent(3, seed=0)
    x = model.spec.assemble(lat)
    res = export_model(run, tmp_path / "ema.safetensors")  # default: what `sample` draws from
    assert res.generator == "generator_ema"
    with torch.no_grad():
        assert torch.equal(load_generator(res.model_path)(x), model.generate(latent=lat))
        raw = export_model(run, tmp_path / "raw.safetensors", ema=False)
        assert raw.generator == "generator"
        assert torch.equal(load_generator(raw.model_path)(x), model.nets.generator(x))
        assert not torch.equal(model.nets.generator(x), model.generate(latent=lat))

    everything = export_model(run, tmp_path / "all.safetensors", what="all")
    from safetensors.torch import load_file

    keys = load_file(str(everything.model_path))
    assert {k.split(".")[0] for k in keys} >= {"generator", "generator_ema", "body", "q_head"}
    with torch.no_grad():
        assert torch.equal(load_generator(everything.model_path)(x), model.generate(latent=lat))
    with pytest.raises(SpecError, match="EMA"):
        export_model(make_run(tmp_path / "b"), tmp_path / "x.safetensors", ema=True)


def test_torchscript_reproduces_the_eager_generator(tmp_path):
    run = make_run(tmp_path, noise_scale=0.3)
    out = tmp_path / "g.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # torch.jit's per-call notices stay quiet
        export_model(run, out, "torchscript")
    model = load_run(run)
    x, eager = _plain_latent(model, n=5)  # batch 5: the trace (batch 2) has a dynamic batch
    extra = {TORCHSCRIPT_EXTRA: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.load(str(out), _extra_files=extra)
    with torch.no_grad():
        assert torch.allclose(traced(x), eager, atol=1e-6)
        assert torch.allclose(LatentGenerator(model.nets.sampler, model.spec)(x), eager, atol=1e-6)
    meta = json.loads(extra[TORCHSCRIPT_EXTRA])
    assert meta == json.loads(sidecar_path(out).read_text())
    assert meta["input"]["shape"] == ["N", 14] and meta["latent"]["noise_scale"] == 0.3


@pytest.mark.parametrize("codes", ["cat:4,cont:2", "cont:1,cat:3,cat:2"])
def test_pt2_reproduces_the_eager_generator(tmp_path, codes):
    """torch.export's program: any batch (1 included: the example has 2 rows), the sidecar inside,
    and no infogan needed to run it; the CLI picks the format from a .pt2 suffix."""
    run = make_run(tmp_path, codes=codes, noise_scale=0.3)
    out = tmp_path / "g.pt2"
    assert main(["export", str(run), "--out", str(out)]) == 0
    model = load_run(run)
    extra = {TORCHSCRIPT_EXTRA: ""}
    program = torch.export.load(str(out), extra_files=extra).module()
    meta = json.loads(extra[TORCHSCRIPT_EXTRA])
    assert meta == json.loads(sidecar_path(out).read_text()) and meta["export_format"] == "pt2"
    for n in (1, 5):
        lat = model.latent(n, seed=n)
        x = model.spec.assemble(lat)
        x[:, : model.spec.noise_dim] = lat.z  # the program applies noise_scale itself
        with torch.no_grad():
            assert torch.allclose(program(x), model.generate(latent=lat), atol=1e-6)
    # Handed to a command that wants a run, it is named for what it is.
    with pytest.raises(CheckpointError, match="torch.export program.*torch.export.load"):
        load_run(out)
    with pytest.raises(SpecError, match=r"ends in \.pt2"):  # torch.export.load warned of it
        export_model(run, tmp_path / "g.PT2", "pt2")


@pytest.mark.parametrize(
    ("noise_dist", "prior", "column"),
    [("normal", "N(0, I)", "normal(0, 1)"), ("uniform", "U(-1, 1)", "uniform(-1, 1)")],
)
def test_sidecar_describes_the_runs_noise_prior(tmp_path, noise_dist, prior, column):
    # input.z of a traced export once said N(0, I) whatever the run drew z from, contradicting
    # the layout's own entry for z.
    run = make_run(tmp_path, noise_dist=noise_dist)
    out = tmp_path / "g.pt"
    export_model(run, out, "torchscript")
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["input"]["z"].startswith(f"z ~ {prior}")
    assert "noise_scale applied inside" in meta["input"]["z"]
    assert meta["latent"]["layout"][0]["distribution"] == column
    assert meta["config"]["model"]["noise_dist"] == noise_dist
    # safetensors feeds the raw generator: its z is the scaled one, whatever the prior
    export_model(run, tmp_path / "g.safetensors")
    assert json.loads(sidecar_path(tmp_path / "g.safetensors").read_text())["input"]["z"] == (
        "noise_scale * z"
    )


def test_latent_layout_matches_assemble():
    model_spec = tiny_config(codes="cat:3,cont:1,cat:2").model.latent()
    lat = model_spec.sample(2, generator=torch.Generator().manual_seed(0))
    x = model_spec.assemble(lat)
    by_name = {e["name"]: e for e in latent_layout(model_spec)}
    c1, c3, c2 = by_name["c1"], by_name["c3"], by_name["c2"]
    assert torch.equal(x[:, c1["offset"] : c1["offset"] + 3].argmax(1), lat.cat[:, 0])
    assert torch.equal(x[:, c3["offset"] : c3["offset"] + 2].argmax(1), lat.cat[:, 1])
    assert torch.equal(x[:, c2["offset"]], lat.cont[:, 0])


@pytest.mark.skipif(importlib.util.find_spec("onnx") is None, reason="onnx not installed")
def test_onnx_export_is_a_valid_model(tmp_path):
    import onnx
    from onnx.reference import ReferenceEvaluator

    run = make_run(tmp_path, noise_scale=0.3)
    out = tmp_path / "g.onnx"
    export_model(run, out, "onnx")
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["latent"]
    x, eager = _plain_latent(load_run(run), n=3)  # batch 3: the batch axis is dynamic
    (images,) = ReferenceEvaluator(proto).run(None, {"latent": x.numpy()})
    assert torch.allclose(torch.from_numpy(images), eager, atol=1e-5)
    assert json.loads(sidecar_path(out).read_text())["export_format"] == "onnx"


def test_onnx_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    """Absent, or present but failing to import (its own dependencies missing: torch's
    exporter then failed with a traceback), onnx is one line before any work."""
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ImportError
    with pytest.raises(InfoGANError, match="pip install onnx"):
        export_model(make_run(tmp_path), tmp_path / "g.onnx", "onnx")
    assert not (tmp_path / "g.onnx").exists()


def test_errors_and_no_overwrite(tmp_path):
    run = make_run(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        export_model(tmp_path / "nope", tmp_path / "a.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoints"):
        export_model(tmp_path / "empty", tmp_path / "a.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read|not a checkpoint file"):
        export_model(tmp_path / "junk.pt", tmp_path / "a.safetensors")
    with pytest.raises(SpecError, match="unknown format"):
        export_model(run, tmp_path / "a.bin", "pickle")
    with pytest.raises(SpecError, match="directory .* does not exist"):
        export_model(run, tmp_path / "missing" / "a.safetensors")
    with pytest.raises(SpecError, match="safetensors"):
        export_model(run, tmp_path / "a.pt", "torchscript", what="all")

    out = tmp_path / "a.safetensors"
    export_model(run, out)
    out.write_bytes(b"stale")  # stands for an older export
    with pytest.raises(SpecError, match="--force"):
        export_model(run, out)
    sidecar_path(out).unlink()  # the sidecar alone in the way counts too
    sidecar_path(tmp_path / "b.safetensors").write_text("{}")
    with pytest.raises(SpecError, match="b.safetensors.json already exists"):
        export_model(run, tmp_path / "b.safetensors")
    export_model(run, out, force=True)
    load_generator(out)  # replaced by a whole, loadable file
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_cli_export(tmp_path, capsys):
    run = make_run(tmp_path, ema=True)
    out = tmp_path / "g.pt"
    args = ["export", str(run), "--out", str(out), "--format", "torchscript"]
    assert main(args) == 0
    assert "generator_ema, step 7" in capsys.readouterr().out and out.is_file()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--no-ema", "--force"]) == 0
    assert "(generator, step 7)" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit):  # argparse: unknown format
        main(["export", str(run), "--out", str(tmp_path / "x"), "--format", "pickle"])


def test_the_sidecar_names_the_class_of_each_categorical_value(tmp_path):
    run = make_run(tmp_path, codes="cont:1,cat:3,cont:1")
    out = tmp_path / "g.safetensors"
    export_model(run, out)
    assert json.loads(sidecar_path(out).read_text())["class_of_value"] == {}  # never scored
    from infogan.model import load_run

    report = {
        "step": load_run(run).step,
        "codes": "cont:1,cat:3,cont:1",
        "clustering": {
            "c2": {"mapping": {"0": 1, "1": 0, "2": 1}, "classes": ["cat", "dog"], "unseen": [2]}
        },
    }
    (run / "report.json").write_text(json.dumps(report))
    export_model(run, out, force=True)
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["class_of_value"] == {"c2": {"0": "dog", "1": "cat", "2": "dog"}}
    assert meta["unseen_values"] == {"c2": [2]}


def test_a_failed_export_leaves_what_was_there(tmp_path, monkeypatch):
    """A full disk between the model file and its sidecar left half an export, and the retry
    was refused ("already exists"); now a failure undoes the other file, new or replaced."""
    import errno

    from infogan import export as ex

    run = make_run(tmp_path)
    out = tmp_path / "g.safetensors"
    real = ex.atomic_write_bytes

    def full_at_the_model(path, data):
        if Path(path) == out:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(ex, "atomic_write_bytes", full_at_the_model)
    with pytest.raises(OSError, match="No space"):
        export_model(run, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing half-written
    monkeypatch.setattr(ex, "atomic_write_bytes", real)
    export_model(run, out)  # the retry works
    kept = {p: p.read_bytes() for p in (out, sidecar_path(out))}
    monkeypatch.setattr(ex, "atomic_write_bytes", full_at_the_model)
    with pytest.raises(OSError, match="No space"):
        export_model(run, out, force=True)
    assert all(p.read_bytes() == b for p, b in kept.items())  # the earlier export, whole


def test_export_onto_its_own_checkpoint_is_refused(tmp_path):
    """`export my.pt --out my.pt --force` replaced the checkpoint with the export."""
    run = make_run(tmp_path / "run")
    own = tmp_path / "my.pt"
    own.write_bytes(ckpt.latest_checkpoint(run)[0].read_bytes())
    before = own.read_bytes()
    with pytest.raises(SpecError, match="is the checkpoint exported from"):
        export_model(own, own, fmt="torchscript", force=True)
    assert own.read_bytes() == before
