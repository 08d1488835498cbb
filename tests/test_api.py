"""The Python API: load a run, generate from codes, traverse, encode, estimate the bound."""

import numpy as np
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
    # A layout or channel count that differs is named as such, not as a size to change.
    side = tiny_dataset.images.shape[-1]
    with pytest.raises(DataError, match="is channels-last"):
        model.encode(tiny_dataset.images.permute(0, 2, 3, 1))
    with pytest.raises(DataError, match="3 channel.* but this model reads 1"):
        model.encode(torch.zeros(2, 3, side, side, dtype=torch.uint8))


def test_encode_warns_of_images_that_look_0_to_1(model, tiny_dataset):
    """[0, 1] floats (torchvision's ToTensor) are in range but misread: a warning names the fix;
    [-1, 1] images and uint8 ones pass silently."""
    import warnings

    x01 = tiny_dataset.images.float() / 255
    with pytest.warns(UserWarning, match=r"pass x \* 2 - 1") as caught:
        model.encode(x01)
    assert caught[0].filename == __file__  # points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.encode(x01 * 2 - 1)
        model.encode(tiny_dataset.images)


def test_mi_bound_keys(model):
    b = model.mi_bound(n=300, batch=100)
    for method in (model.mi_bound, model.mi_bound_fitted_std):  # a raw TypeError before
        for seed in (None, 1.5, "3", -1):
            with pytest.raises(SpecError, match="seed: expected"):
                method(n=10, seed=seed)
    assert set(b) == {"c1", "c2", "c3"} and all(isinstance(v, float) for v in b.values())


def test_mi_bound_with_a_fitted_std(tmp_path, tiny_dataset):
    """One std per continuous code, the RMS error of Q's means on samples of its own, then the
    Gaussian bound on mi_bound's samples; the code's entropy added as for L_I."""
    import dataclasses
    import math

    cfg = tiny_config(steps=3)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, fixed_std=1.0))
    Trainer(cfg, tmp_path / "r", dataset=tiny_dataset).run(finish=False)
    model = infogan.load_run(tmp_path / "r")
    fitted = model.mi_bound_fitted_std(n=300, batch=100, seed=7)
    assert set(fitted) == {"c2", "c3"}  # the continuous codes
    fit_r = model._cont_residuals(300, 100, seed=7 + 300)
    eval_r = model._cont_residuals(300, 100, seed=7)
    assert not torch.equal(fit_r, eval_r)  # fitted on other samples than it is scored on
    s = fit_r.square().mean(0).sqrt()
    for j, name in enumerate(("c2", "c3")):
        assert fitted[name]["std"] == pytest.approx(float(s[j]))
        log_q = (
            -0.5 * math.log(2 * math.pi) - math.log(s[j]) - 0.5 * (eval_r[:, j] / s[j]).square()
        ).mean()
        h = model.spec.entropies[model.spec.names.index(name)]
        assert fitted[name]["bound"] == pytest.approx(float(log_q) + h, rel=1e-9)
    # the fixed-std bound on the same samples is the same formula at Q's std, 1
    lq = (-0.5 * math.log(2 * math.pi) - 0.5 * eval_r[:, 0].square()).mean()
    assert model.mi_bound(n=300, batch=100, seed=7)["c2"] == pytest.approx(
        float(lq) + model.spec.entropies[1], rel=1e-5
    )
    from infogan.evaluate import mi_table

    row = mi_table(model, n=300)["c2"]
    assert row["std"] == "fixed 1.0" and row["fitted_std"] > 0
    assert "bound_fitted_std" not in mi_table(model, n=300)["c1"]  # categorical: no std


def test_label_new_images_with_the_saved_mapping(tmp_path, tiny_dataset, tiny_npz):
    """After a run is scored on labelled data, load_run carries each categorical code's
    mapping; label() gives the labels it implies, as `infogan encode` writes them."""
    import numpy as np

    from infogan.cli import main
    from infogan.metrics import apply_mapping

    run = tmp_path / "r"
    Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=True)  # scores c1
    model = infogan.load_run(run)
    mapping = model.saved_labels.codes["c1"].mapping
    labels = model.label(tiny_dataset.images)
    assert labels.shape == (64,) and labels.dtype == np.int64
    want = apply_mapping(model.encode(tiny_dataset.images).cat[:, 0].numpy(), mapping)
    assert np.array_equal(labels, want)
    assert np.array_equal(model.label(tiny_dataset.images, code="c1"), labels)
    for name in ("1", "C1", " c1 "):  # as generate(codes=...) names codes
        assert np.array_equal(model.label(tiny_dataset.images, code=name), labels)
    with pytest.warns(UserWarning, match=r"pass x \* 2 - 1") as caught:
        model.label(tiny_dataset.images.float() / 255)
    assert caught[0].filename == __file__  # the caller's line, through label() too
    ckpt = sorted((run / "checkpoints").glob("*.pt"))[-1]  # a checkpoint file finds its run
    assert infogan.load_run(ckpt).saved_labels == model.saved_labels

    assert main(["encode", str(run), "--data", tiny_npz, "--out", str(tmp_path / "c.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "c.npz")["c1_label"], labels)

    # Back from a label to the code values that stand for it, to generate that class (the
    # values no image took are left out: their labels are guesses).
    unseen = model.saved_labels.codes["c1"].unseen
    for v, lab in mapping.items():
        if v not in unseen:
            assert v in model.values_of(lab) and v in model.values_of(str(lab), code="c1")
    with pytest.raises(SpecError, match="no value of c1 stands for 'zebra'; its labels are"):
        model.values_of("zebra")
    from infogan.model import _label_order

    assert sorted(["10", "2", "-1"], key=_label_order) == ["-1", "2", "10"]
    assert sorted(["Dog", "cat", "bird", "7"], key=_label_order) == ["7", "bird", "cat", "Dog"]
    assert sorted(["²", "1"], key=_label_order) == ["1", "²"]  # isdigit(), yet not a number
    lab = mapping[min(set(mapping) - unseen)]
    values = torch.tensor(model.values_of(lab))
    out = tmp_path / "s.npz"
    assert main(["sample", str(run), "--label", f"c1={lab}", "-n", "5", "--out", str(out)]) == 0
    want = model.generate(n=5, codes={"c1": values.repeat(5)[:5]}, seed=0)
    assert np.array_equal(np.load(out)["images"], want.numpy())
    assert (
        main(
            ["sample", str(run), "--label", str(lab), "--code", "c1=0", "--out", str(out) + ".png"]
        )
        == 2
    )

    with pytest.raises(SpecError, match="'c2' is not a categorical code"):
        model.label(tiny_dataset.images, code="c2")
    (run / "report.json").unlink()  # a run never scored on labelled data
    with pytest.raises(SpecError, match="c1 has no label mapping for this model; score the run"):
        infogan.load_run(run).label(tiny_dataset.images)


def test_label_refuses_mappings_that_do_not_fit_the_model(tmp_path, tiny_dataset, tiny_npz, capsys):
    """A mapping is used only for the model it was made for: its run, its codes, its step, all
    of the code's values; otherwise label() says why and encode writes no label column."""
    import json
    import shutil

    from infogan.cli import main

    run = tmp_path / "r"
    Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=True)
    x = tiny_dataset.images
    assert infogan.load_run(run).label(x[:0]).shape == (0,)  # no images, no labels

    def edited(name, change):
        d = tmp_path / name
        shutil.copytree(run, d)
        rep = json.loads((d / "report.json").read_text())
        change(rep)
        (d / "report.json").write_text(json.dumps(rep))
        return d

    def later(rep):
        rep["step"] = 2  # made for an older checkpoint than the one loaded

    def partial(rep):
        for k in ("0", "1"):
            del rep["clustering"]["c1"]["mapping"][k]

    def huge(rep):
        rep["clustering"]["c1"]["mapping"] = {"100000000000": 1}

    def other(rep):
        rep["codes"] = "cat:10,cont:2"

    cases = [
        (later, "made at step 2, this model is at step 3"),
        (partial, r"does not take each of the code's values 0..3"),
        (huge, r"does not take each of the code's values 0..3"),
        (other, "is of codes 'cat:10,cont:2', not this model's 'cat:4,cont:2'"),
    ]
    for change, why in cases:
        d = edited(change.__name__, change)
        with pytest.raises(SpecError, match=why):
            infogan.load_run(d).label(x)
        out = tmp_path / f"{change.__name__}.csv"
        capsys.readouterr()
        assert main(["encode", str(d), "--data", tiny_npz, "--out", str(out)]) == 0
        assert "c1_label" not in out.read_text().splitlines()[0]
        assert "note: no labels for some codes" in capsys.readouterr().out
    # A checkpoint of another run at the same step copied in (same networks, so it loads):
    # the step matched, and the run's mapping was applied to the other model's codes.
    seed1 = tmp_path / "seed1"
    Trainer(tiny_config(steps=3, seed=1), seed1, dataset=tiny_dataset).run(finish=False)
    swapped = tmp_path / "swapped"
    shutil.copytree(run, swapped)
    shutil.copy(
        sorted((seed1 / "checkpoints").glob("*.pt"))[-1],
        sorted((swapped / "checkpoints").glob("*.pt"))[-1],
    )
    with pytest.raises(SpecError, match="made for other weights at step 3"):
        infogan.load_run(swapped).label(x)
    capsys.readouterr()
    assert main(["encode", str(swapped), "--data", tiny_npz, "--out", str(tmp_path / "s.csv")]) == 0
    assert "c1_label" not in (tmp_path / "s.csv").read_text().splitlines()[0]
    assert "other weights" in capsys.readouterr().out
    (tmp_path / "damaged").mkdir()
    shutil.copytree(run, tmp_path / "damaged" / "r")
    (tmp_path / "damaged" / "r" / "report.json").write_text('{"step": ')
    with pytest.raises(SpecError, match="report.json cannot be read"):
        infogan.load_run(tmp_path / "damaged" / "r").label(x)
    # A checkpoint kept outside its run: another run's report beside it is not read.
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(sorted((run / "checkpoints").glob("*.pt"))[-1], tmp_path / "elsewhere" / "m.pt")
    shutil.copy(run / "report.json", tmp_path / "report.json")
    with pytest.raises(SpecError, match="outside its run's checkpoints/ folder"):
        infogan.load_run(tmp_path / "elsewhere" / "m.pt").label(x)


def test_label_without_a_categorical_code(tmp_path, tiny_dataset):
    Trainer(tiny_config(steps=2, codes="cont:2"), tmp_path / "r", dataset=tiny_dataset).run(
        finish=False
    )
    with pytest.raises(SpecError, match=r"no categorical code \(codes cont:2\)"):
        infogan.load_run(tmp_path / "r").label(tiny_dataset.images)


def test_figures_name_categorical_values_by_their_matched_labels(
    tmp_path, tiny_dataset, monkeypatch
):
    """At the end of a run scored on labelled data, the traversal figures show each value of
    c1 with the label it was matched to: '2 → 1' in c1's columns, 'c1=2 → 1' in the rows of
    the continuous codes' figures."""
    from infogan import viz

    shown = {}

    def capture(images, path, rows, cols, title, **kw):
        shown[path.name] = (rows, cols, title)

    monkeypatch.setattr(viz, "save_traversal_figure", capture)
    run = tmp_path / "r"
    Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=True)
    saved = infogan.load_run(run).saved_labels.codes["c1"]
    named = [("unseen" if v in saved.unseen else saved.mapping[v]) for v in range(4)]
    assert len(saved.unseen) < 4
    _, cols, title = shown["traversal_c1.png"]
    assert cols == [f"{v} → {named[v]}" for v in range(4)] and "matched label" in title
    rows, _, _ = shown["traversal_c2.png"]
    assert rows == [f"c1={v} → {named[v]}" for v in range(4)]


def test_values_no_labelled_image_took_are_shown_as_unseen_and_not_sampled(
    tmp_path, tiny_dataset, monkeypatch
):
    """cat:50 scored on 4 classes: the 44 values no image took were all mapped to the most
    frequent class, so figures captioned them "→ blue" and `sample --label blue` drew mostly
    from them. Now they are listed as unseen: shown so, and left out of values_of."""
    import json

    from infogan import report, viz
    from infogan.evaluate import format_report
    from infogan.explore import Explorer

    run = tmp_path / "r"
    Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=True)
    rep = json.loads((run / "report.json").read_text())
    entry = rep["clustering"]["c1"]
    entry["mapping"] = {"0": 5, "1": 7, "2": 5, "3": 5}
    entry["unseen"] = [2, 3]  # as cluster_accuracy writes it when no image took 2 or 3
    (run / "report.json").write_text(json.dumps(rep))
    model = infogan.load_run(run)
    assert model.values_of(5) == [0] and model.values_of(7) == [1]
    assert model.label(tiny_dataset.images).dtype == np.int64  # new images: still labelled
    shown = {}
    monkeypatch.setattr(
        viz,
        "save_traversal_figure",
        lambda im, p, rows, cols, **kw: shown.update(rows=rows, cols=cols),
    )
    report.save_traversal(model, "c1", tmp_path / "t.png")
    assert shown["cols"] == ["0 → 5", "1 → 7", "2 → unseen", "3 → unseen"]
    assert Explorer(model).spec()["codes"][0]["labels"] == ["5", "7", "unseen", "unseen"]
    printed = format_report(
        {
            "evaluations": {
                "d": {
                    "clustering": {"c1": entry | {"accuracy": 1.0, "nmi": 1.0, "ari": 1.0, "n": 64}}
                }
            }
        }
    )
    assert "2 of 4 values of c1 no image took" in printed
    entry["unseen"] = [7]  # not a value of cat:4: the mapping is refused, not trusted
    (run / "report.json").write_text(json.dumps(rep))
    assert "unseen values" in infogan.load_run(run).saved_labels.problem


def test_help_of_the_configs_lists_every_field_with_its_meaning():
    """help(TrainConfig) showed none of the field docs (attribute docstrings live only in the
    source); the README says every field is documented."""
    import dataclasses

    from infogan.config import ModelConfig, TrainConfig

    for cls in (TrainConfig, ModelConfig):
        doc = cls.__doc__
        for f in dataclasses.fields(cls):
            line = next((x for x in doc.splitlines() if x.strip().startswith(f"{f.name} (")), "")
            assert line and not line.rstrip().endswith("):"), (cls.__name__, f.name)
    assert "    lr_d (float, default 0.0002): Adam learning rate" in TrainConfig.__doc__


def test_generate_from_a_latent_checks_it_and_takes_nothing_else(model):
    """generate(latent=...) ignored n and codes silently; a latent of another layout failed
    deep in one_hot or a matmul."""
    from infogan.latent import Latent

    lat = model.latent(4, seed=3)
    assert torch.equal(model.generate(latent=lat), model.generate(n=4, seed=3))
    with pytest.raises(SpecError, match="either latent, or n and codes"):
        model.generate(n=10, latent=lat)
    with pytest.raises(SpecError, match="either latent"):
        model.generate(codes={"c1": 1}, latent=lat)
    bad = {
        "values must lie in 0..3": Latent(lat.z, lat.cat + 20, lat.cont),
        "z has shape": Latent(lat.z[:, :3], lat.cat, lat.cont),
        "int64": Latent(lat.z, lat.cat.float(), lat.cont),
        "cont has shape": Latent(lat.z, lat.cat, lat.cont[:2]),
    }
    for match, latent in bad.items():
        with pytest.raises(SpecError, match=match):
            model.generate(latent=latent)
    assert model.generate().shape[0] == 64  # the default n


def test_a_torchscript_export_is_named_as_such_and_load_generator_takes_auto(model, tmp_path):
    from infogan.errors import CheckpointError
    from infogan.export import export_model, load_generator

    out = tmp_path / "g.pt"
    export_model(tmp_path / "r", out, fmt="torchscript")
    with pytest.raises(CheckpointError, match="is a TorchScript file"):
        infogan.load_run(out)
    st = tmp_path / "g.safetensors"
    export_model(tmp_path / "r", st)
    assert next(load_generator(st, device="auto").parameters()).device.type in ("cpu", "cuda")


def test_wrong_argument_types_are_one_line_errors(model, tiny_dataset, tmp_path):
    """Raw TypeErrors from deep inside torch or pathlib, found by the API audit."""
    from infogan.config import preset
    from infogan.latent import LatentSpec

    with pytest.raises(SpecError, match="batch"):
        model.encode(tiny_dataset.images, batch=2.5)
    with pytest.raises(SpecError, match="span: expected a number"):
        model.traverse("c2", span="2")
    with pytest.raises(SpecError, match="whole number"):
        LatentSpec.parse("cat:10", 62.7)
    with pytest.raises(SpecError, match="unknown"):
        preset(["default"])
    with pytest.raises(SpecError, match="expected a TrainConfig"):
        infogan.train({"steps": 5}, tmp_path / "x")


def test_no_path_is_a_one_line_error():
    from infogan.data import load_dataset
    from infogan.errors import CheckpointError

    with pytest.raises(CheckpointError, match="expected a run directory"):
        infogan.load_run(None)
    with pytest.raises(DataError, match="expected a dataset name or a path"):
        load_dataset(None)


def test_train_takes_images_as_an_array_or_a_tensor(tmp_path, tiny_dataset):
    """Only an ImageDataset worked: an array failed with AttributeError ('name'), a tensor
    with 'too many values to unpack' (the API audit)."""
    import numpy as np

    from infogan.data import from_arrays

    pixels = tiny_dataset.images[:, 0].numpy()  # [N, H, W] uint8
    cfg = tiny_config(steps=2, progress=False)
    cfg.data, cfg.batch = tmp_path / "pixels", np.int64(cfg.batch)
    result = infogan.train(cfg, tmp_path / "a", dataset=pixels)
    assert result.step == 2
    # The caller's config is left as they set it (the checks turned the Path into a str).
    assert cfg.data == tmp_path / "pixels" and isinstance(cfg.batch, np.int64)
    as_01 = tiny_dataset.images.float() / 255  # floats in [0, 1]: scaled as .npz files are
    assert torch.equal(from_arrays(as_01).images, tiny_dataset.images)
    assert torch.equal(from_arrays(as_01.numpy().transpose(0, 2, 3, 1)).images, tiny_dataset.images)
    assert from_arrays(torch.ones(2, 5, 5, dtype=torch.bool)).images.unique().tolist() == [255]
    labelled = from_arrays(pixels, labels=tiny_dataset.labels.numpy(), name="mine")
    assert labelled.name == "mine" and torch.equal(labelled.labels, tiny_dataset.labels)
    for bad, match in (
        (torch.zeros(2, 5, 5, dtype=torch.complex64), "unsupported dtype"),
        (pixels.astype(str), "unsupported dtype"),
        (pixels[:, None].repeat(2, axis=1), "expected \\[N, H, W\\]"),
        ([[1, 2], [3]], "not an array"),
    ):
        with pytest.raises(DataError, match=match):
            from_arrays(bad)
    with pytest.raises(SpecError, match="expected a TrainConfig"):  # before the data is read
        infogan.train(tiny_config().to_dict(), tmp_path / "b", dataset=tiny_dataset)


def test_codes_are_any_mapping_and_numpy_values(model):
    import types

    import numpy as np

    codes = types.MappingProxyType({"c1": np.int64(2), "c2": np.float32(0.5)})
    assert torch.equal(
        model.generate(3, codes=codes), model.generate(3, codes={"c1": 2, "c2": 0.5})
    )
    per_image = model.latent(4, {"c2": np.linspace(-1, 1, 4)})
    assert torch.allclose(per_image.cont[:, 0], torch.linspace(-1, 1, 4))
    assert model.latent(2, {"c1": np.uint64(3)}).cat[:, 0].tolist() == [
        3,
        3,
    ]  # torch takes no uint64
    bad_values = (np.array(["a", "b"]), np.array([1, 2], dtype=object), np.complex64(1))
    # Booleans (a mask given for values) are refused as Python's True is, in any container.
    bad_values += (np.array([True, False]), np.bool_(True), torch.tensor([True, False]))
    for bad in (*bad_values, torch.tensor([1j, 1j])):
        for code in ("c1", "c2"):
            with pytest.raises(SpecError, match="expected (real numbers|a number)"):
                model.latent(2, {code: bad})


def test_encode_reads_bool_images_as_black_and_white_and_refuses_odd_dtypes(model, tiny_dataset):
    import numpy as np

    masks = tiny_dataset.images[:4] > 127
    as_pixels = masks.to(torch.uint8) * 255
    assert torch.equal(model.encode(masks).cat, model.encode(as_pixels).cat)
    for odd in (masks.to(torch.complex64), np.array(masks.numpy(), dtype=object)):
        with pytest.raises(DataError, match="unsupported dtype"):
            model.encode(odd)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the check is for a machine without CUDA")
def test_a_torch_device_is_checked_as_a_device_name_is(model, tmp_path):
    """torch.device("cuda") without a GPU failed 11 frames deep in torch; "meta" was taken."""
    with pytest.raises(SpecError, match="no usable CUDA GPU"):
        infogan.load_run(tmp_path / "r", device=torch.device("cuda"))
    with pytest.raises(SpecError, match="not supported"):
        infogan.load_run(tmp_path / "r", device=torch.device("meta"))


def test_odd_but_readable_inputs_from_the_review(model, tiny_dataset, tmp_path, caplog):
    """A flipped view (negative strides) was refused as 'unsupported dtype uint8'; uint16
    images and device=None failed inside torch; a numpy scale was refused; a path given as
    dataset= was called an array of strings; a run trained on an array was scored on its
    recorded data without a word."""
    import numpy as np

    from infogan.data import from_arrays
    from infogan.evaluate import evaluate_run

    pixels = tiny_dataset.images[:4].numpy()
    flipped = pixels[:, :, :, ::-1]
    assert torch.equal(model.encode(flipped).cat, model.encode(flipped.copy()).cat)
    assert torch.equal(model.encode(pixels.astype(np.uint16)).cat, model.encode(pixels).cat)
    with pytest.raises(SpecError, match="device"):
        infogan.load_run(tmp_path / "r", device=None)
    with pytest.raises(DataError, match="is a path"):
        from_arrays("x.npz")
    bf16 = torch.from_numpy(pixels).to(torch.bfloat16)
    assert torch.equal(from_arrays(bf16).images, torch.from_numpy(pixels))
    with pytest.raises(DataError, match=r"range over \[0, 1234567\]"):
        from_arrays(np.array([[[0, 1234567]]]))
    run = tmp_path / "arr"
    infogan.train(tiny_config(steps=2, progress=False), run, dataset=tiny_dataset.images.numpy())
    with caplog.at_level("WARNING"):
        evaluate_run(run, metrics="mi", n_mi=64, scale=np.float32(0.5))
    assert "images passed from Python" in caplog.text
    # The images themselves can be scored from Python: an ImageDataset, or a bare array.
    labelled = from_arrays(tiny_dataset.images.numpy(), labels=tiny_dataset.labels.numpy())
    rep = evaluate_run(run, data=labelled, metrics="clustering")
    assert rep["evaluations"]["array"]["clustering"]["c1"]["n"] == len(tiny_dataset)
    rep = evaluate_run(run, data=[tiny_dataset.images.numpy()], metrics="clustering")
    assert rep["evaluations"]["array"]["skipped"]["clustering"] == "no labels in this data"
    with pytest.raises(SpecError, match="got int"):
        evaluate_run(run, data=[3], metrics="clustering")


def test_plausible_misuse_from_python_is_a_one_line_error(model, tiny_dataset):
    """Each of these reached torch or the allocator as a raw error, or did the wrong thing."""
    import numpy as np

    from infogan.config import ModelConfig
    from infogan.data import from_arrays

    with pytest.raises(SpecError, match="is not a value torch can hold"):
        model.generate(2, codes={"c1": 2**70})
    with pytest.raises(SpecError, match="'c1' and '1' name the same code"):
        model.generate(2, codes={"c1": 1, "1": 2})
    with pytest.raises(SpecError, match="noise"):
        ModelConfig(noise_dim=10**12).validate()
    with pytest.raises(SpecError, match="width: must be > 0 and at most 16"):
        ModelConfig(width=1e6).validate()
    # -1 as "unknown" was scored, then its mapping refused on loading the run.
    with pytest.raises(DataError, match="labels must be class indices >= 0, got -1"):
        from_arrays(tiny_dataset.images.numpy(), labels=np.r_[-1, np.zeros(63, int)])


def test_weights_digest_follows_every_change_of_the_weights(model):
    """Cached (label() in a loop hashed the networks each call) but never stale: an in-place
    change, an optimiser step or load_state_dict each give another digest."""
    first = model.weights_digest()
    assert first.startswith("sha256:") and model.weights_digest() == first
    state = {k: v.clone() for k, v in model.nets.state_dict().items()}
    with torch.no_grad():
        next(model.nets.parameters()).add_(1e-3)
    changed = model.weights_digest()
    assert changed != first
    opt = torch.optim.SGD(model.nets.parameters(), lr=0.1)
    sum(p.sum() for p in model.nets.parameters()).backward()
    opt.step()
    assert model.weights_digest() not in (first, changed)
    model.nets.load_state_dict(state)
    assert model.weights_digest() == first


def test_evaluate_redraws_the_figures_of_the_step_and_mapping_it_scored(
    tmp_path, tiny_dataset, monkeypatch
):
    """evaluate rewrote report.json and report.html, but the traversal figures on the page kept
    the mapping of the earlier evaluation (or the step of an earlier end of training)."""
    from infogan import viz
    from infogan.data import from_arrays
    from infogan.evaluate import evaluate_run

    run = tmp_path / "r"
    Trainer(tiny_config(steps=3), run, dataset=tiny_dataset).run(finish=True)
    shown = {}
    monkeypatch.setattr(
        viz, "save_traversal_figure", lambda im, p, rows, cols, **kw: shown.update({p.name: cols})
    )
    labels = torch.arange(64) % 2 + 7  # new classes, 7 and 8: no value was called so before
    evaluate_run(run, data=from_arrays(tiny_dataset.images, labels=labels), metrics="clustering")
    saved = infogan.load_run(run).saved_labels.codes["c1"]
    assert set(saved.mapping.values()) <= {7, 8}
    want = [f"{v} → {x}" for v, x in enumerate(saved.shown(range(4)))]
    assert shown["traversal_c1.png"] == want and "traversal_c2.png" in shown


def test_train_and_load_run_leave_the_callers_random_stream_alone(tmp_path, tiny_dataset):
    """train() seeded torch's global RNG with cfg.seed and left it so (a script's own seed was
    lost); load_run drew the networks' initial weights from it."""
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    infogan.train(tiny_config(steps=2), tmp_path / "r", dataset=tiny_dataset)
    assert torch.equal(torch.rand(3), want)
    torch.manual_seed(123)
    infogan.load_run(tmp_path / "r")
    assert torch.equal(torch.rand(3), want)


def test_a_config_from_a_dict_does_not_share_its_lists():
    from infogan.config import TrainConfig, preset

    d = preset("default").to_dict()
    cfg = TrainConfig.from_dict(d)
    cfg.select_later.append(9000)
    assert d["select_later"] == preset("default").to_dict()["select_later"]
