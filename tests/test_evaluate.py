"""Evaluation end to end: disentanglement with the oracle on dSprites-like data, sample quality
with a user feature extractor, the HTML report."""

import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from infogan.config import ModelConfig, TrainConfig
from infogan.data import load_dataset
from infogan.errors import DataError
from infogan.evaluate import evaluate_run, format_report
from infogan.train import Trainer


@pytest.fixture(scope="module")
def dsprites_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("ds") / "run"
    cfg = TrainConfig(
        model=ModelConfig(codes="cat:3,cont:2", noise_dim=4, arch="conv64", width=0.0625),
        data="dsprites:64",
        batch=8,
        steps=2,
        progress=False,
        device="cpu",
        log_every=1,
    )
    Trainer(cfg, run, dataset=load_dataset("dsprites:64")).run(finish=False)
    return run


def _pixels(images: torch.Tensor) -> torch.Tensor:
    # a trivial extractor: 4x4 average-pooled pixels (what a user could pass)
    return torch.nn.functional.avg_pool2d(images.float(), 16).flatten(1)


def test_every_metric_block_and_html(dsprites_run):
    rep = evaluate_run(
        dsprites_run,
        data=["dsprites:300"],
        n_mi=100,
        scale=0.02,
        n_quality=200,
        extractor=_pixels,
        disentanglement_kw={"model": "fast"},
    )
    d = rep["disentanglement"]
    for key in (
        "factorvae",
        "mig",
        "dci_disentanglement",
        "dci_completeness",
        "sap",
        "beta_vae",
        "modularity",
        "explicitness_test",
    ):
        assert key in d and key in d["oracle"], key
    assert d["oracle"]["factorvae"] > 0.95  # the ground truth scores near 1
    assert d["oracle"]["mig"] > d["mig"]  # an untrained Q does not
    q = rep["quality"]
    for key in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert np.isfinite(q[key]) and np.isfinite(q["real_vs_real"][key])
    assert q["fid"] > q["real_vs_real"]["fid"]
    assert "c1" in rep["clustering"]  # dSprites labels = shape
    page = (dsprites_run / "report.html").read_text()
    assert "Disentanglement" in page and "Sample quality" in page and "data:image/png" in page
    # 300 real images: 150 for the model's score, the other 150 for the floor; 150 generated
    assert json.loads((dsprites_run / "report.json").read_text())["quality"]["n_fake"] == 150
    assert q["n_real"] == 150 and q["real_vs_real"]["what"].endswith("150 each")
    t = rep["timings"]  # wall-clock seconds of each part, and of each metric
    for key in ("load", "dsprites:300/encode", "dsprites:300/disentanglement", "quality", "total"):
        assert t[key] >= 0, key
    assert t["dsprites:300/disentanglement/dci"] >= 0 and t["dsprites:300/oracle/dci"] >= 0
    text = format_report(rep)
    assert "seconds per metric" in text and "modularity_explicitness" in text
    b = rep["evaluations"]["dsprites:300"]["code_factor_mi"]  # which code holds which factor
    assert b["codes"] == ["c1", "c2", "c3"]
    assert b["factors"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert np.array(b["normalized_mi"]).shape == (3, 5)
    assert np.mean(b["gap"]) == pytest.approx(d["mig"], abs=1e-12)  # MIG's own sample
    assert "MIG gap" in text and "Which code holds which factor" in page


class _SeenPixels:
    """The pixel extractor, as if trained on one dataset (like the built-in classifiers)."""

    name = "pixels"

    def __init__(self, train_data):
        self.train_data = train_data

    def __call__(self, images):
        return _pixels(images)


def test_the_quality_floor_is_at_the_models_sample_sizes(dsprites_run):
    """FID/KID are biased by sample size and k-NN radii depend on it: the model's score and the
    real-vs-real floor compare sets of one size, whichever way the floor is made."""
    from infogan.evaluate import quality_block
    from infogan.model import load_run

    model = load_run(dsprites_run)
    ref, other = load_dataset("dsprites:90"), load_dataset("dsprites:60")
    q = quality_block(model, ref, n=1000, extractor=_SeenPixels(None))
    assert q["n_fake"] == q["n_real"] == 45 and "warning" not in q  # half of 90 each
    q = quality_block(model, ref, other_real=other, n=1000, extractor=_SeenPixels(None))
    assert q["n_fake"] == q["n_real"] == 60
    assert q["real_vs_real"]["what"] == f"{other.name} vs {ref.name}, 60 each"
    with pytest.raises(DataError, match="at least 4"):
        quality_block(model, load_dataset("dsprites:3"), n=10, extractor=_pixels)


def test_a_reference_the_feature_classifier_was_trained_on_is_flagged(dsprites_run):
    from infogan.evaluate import quality_block
    from infogan.model import load_run

    model = load_run(dsprites_run)
    ref = load_dataset("dsprites:100")
    q = quality_block(model, ref, n=50, extractor=_SeenPixels(ref.name))
    assert "trained on dsprites:100" in q["warning"] and "held-out" in q["warning"]
    assert "warning" not in quality_block(model, ref, n=50, extractor=_SeenPixels("other"))


def test_quality_is_skipped_with_a_reason_without_a_feature_space(dsprites_run, monkeypatch):
    import infogan.metrics.features as features

    monkeypatch.setattr(
        features,
        "FEATURE_CLASSIFIERS",
        {k: v for k, v in features.FEATURE_CLASSIFIERS.items() if k != "dsprites"},
    )
    rep = evaluate_run(
        dsprites_run, data=["dsprites:100"], n_mi=50, scale=0.01, metrics=("quality",)
    )
    assert "64" in rep["quality"]["skipped"] or "extractor" in rep["quality"]["skipped"]
    assert "skipped" in (dsprites_run / "report.html").read_text()


def test_large_datasets_are_encoded_on_a_capped_subset(dsprites_run):
    """Clustering and code usage read a fixed random subset of a large set (the full dSprites-
    like set would take minutes and, converted to float at once, 12 GB), and say so."""
    from infogan.evaluate import evaluate_model
    from infogan.model import load_run

    model = load_run(dsprites_run)
    data = load_dataset("dsprites:64")
    rep = evaluate_model(model, [data], metrics=("clustering",), n_encode=40)
    entry = rep["evaluations"][data.name]
    assert entry["n"] == 40 and entry["of"] == 64
    assert rep["clustering"]["c1"]["n"] == 40
    full = evaluate_model(model, [data], metrics=("clustering",))
    assert full["evaluations"][data.name]["n"] == 64 and "of" not in full["evaluations"][data.name]


def test_encode_converts_batch_by_batch_with_the_same_result(dsprites_run):
    from infogan.data.dataset import to_float
    from infogan.model import load_run

    model = load_run(dsprites_run)
    images = load_dataset("dsprites:64").images
    a = model.encode(images, batch=7)
    b = model.encode(to_float(images), batch=64)
    torch.testing.assert_close(a.cont_mean, b.cont_mean)
    torch.testing.assert_close(a.cat_probs[0], b.cat_probs[0])


def test_batched_representation_equals_per_example(dsprites_run):
    from infogan.evaluate import representation_fn
    from infogan.model import load_run

    model = load_run(dsprites_run)
    images = load_dataset("dsprites:64").images.numpy()
    whole = representation_fn(model, batch=25)(images)  # several passes, one call
    alone = np.concatenate([representation_fn(model)(images[i : i + 1]) for i in range(64)])
    assert whole.shape == (64, 3) and whole.dtype == np.float64
    np.testing.assert_allclose(whole, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(whole[:, 0], alone[:, 0])  # the categorical code's argmax


@pytest.mark.slow  # ~11 s; CI runs the slow tests too
def test_fast_disentanglement_block_scores_as_the_plain_one(dsprites_run):
    """Memoised codes, batched calls, and parallel metrics (the default on a GPU) and DCI fits
    change no score."""
    from infogan.data.dsprites import DSpritesLike
    from infogan.evaluate import disentanglement_block
    from infogan.metrics import disentanglement as D
    from infogan.model import load_run

    model = load_run(dsprites_run)
    timings: dict[str, float] = {}
    kw = {"model": "fast", "concurrent": True}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        fast = disentanglement_block(model, DSpritesLike(), 0.01, metric_kw=kw, timings=timings)
        # Threads each silencing the estimators' warnings leave the process-wide list as it was.
        assert warnings.filters == filters
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    plain = disentanglement_block(
        model,
        DSpritesLike(),
        0.01,
        metric_kw={"model": "fast", "n_jobs": 1, "memoize_codes": False, "concurrent": False},
    )
    assert fast == plain
    assert set(timings) == {*D.METRICS, *(f"oracle/{m}" for m in D.METRICS)}


def test_one_disentanglement_metric_from_the_cli_keeps_the_others(dsprites_run, capsys):
    """`--disentanglement mig` scores MIG only (beside the oracle's) and, at the same step,
    report.json keeps every score an earlier evaluation wrote; a bad name is one clear line."""
    from infogan.cli import main

    path = dsprites_run / "report.json"
    if not path.exists():  # this test alone: a report of the run's step to start from
        evaluate_run(dsprites_run, data="dsprites:100", metrics="mi", n_mi=64, html=False)
    rep = json.loads(path.read_text())
    rep["disentanglement"] = {**rep.get("disentanglement", {}), "factorvae": 0.123}
    path.write_text(json.dumps(rep))
    argv = ["evaluate", str(dsprites_run), "--data", "dsprites:100", "--metrics"]
    assert main([*argv, "disentanglement", "--scale", "0.01", "--disentanglement", "mig"]) == 0
    out = json.loads(path.read_text())
    assert out["disentanglement"]["factorvae"] == 0.123  # kept from before, same step
    assert "mig" in out["disentanglement"] and "mig" in out["disentanglement"]["oracle"]
    assert "code_factor_mi" in out["evaluations"]["dsprites:100"]
    assert "MIG gap" in capsys.readouterr().out
    assert main([*argv, "disentanglement", "--disentanglement", "mig,bogus"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "factor_vae" in err and "Traceback" not in err


def test_reports_of_another_step_are_not_mixed(tmp_path):
    from infogan.evaluate import write_report

    write_report(tmp_path, {"step": 1, "disentanglement": {"mig": 0.1, "sap": 0.2}})
    merged = write_report(tmp_path, {"step": 1, "disentanglement": {"mig": 0.3}})
    assert merged["disentanglement"] == {"mig": 0.3, "sap": 0.2}
    write_report(tmp_path, {"step": 1, "quality": {"fid": 3.0}, "evaluations": {"a": {"n": 1}}})
    merged = write_report(tmp_path, {"step": 2, "disentanglement": {"mig": 0.4}})
    assert merged == {"step": 2, "disentanglement": {"mig": 0.4}}  # nothing of step 1 left
    assert json.loads((tmp_path / "report.json").read_text()) == merged


def test_blocks_of_one_computation_are_replaced_whole(tmp_path):
    """A clustering's mapping and class names, a quality block, timings: a later evaluation
    replaces them whole. Merged key by key, class names of an earlier (folder) dataset outlived
    its mapping and named new images wrongly; a 'skipped' note hid later real scores."""
    from infogan.evaluate import write_report

    old_c1 = {"accuracy": 0.5, "mapping": [1, 0], "classes": ["cat", "dog"]}
    write_report(
        tmp_path,
        {
            "step": 3,
            "clustering": {"c1": old_c1},
            "quality": {"skipped": "too few"},
            "timings": {"mi_bound": 1.0, "total": 1.0},
        },
    )
    new_c1 = {"accuracy": 0.9, "mapping": [0, 1]}
    merged = write_report(
        tmp_path,
        {"step": 3, "clustering": {"c1": new_c1}, "quality": {"fid": 2.0}, "timings": {"total": 2}},
    )
    assert merged["clustering"] == {"c1": new_c1}
    assert merged["quality"] == {"fid": 2.0} and merged["timings"] == {"total": 2}


def test_the_code_factor_table_comes_with_mig_and_scales_are_recorded(dsprites_run):
    """The table's gaps average to the MIG beside it: a later call for other metrics keeps
    both from the MIG call; each score's --scale is recorded."""
    from infogan.cli import main

    argv = ["evaluate", str(dsprites_run), "--data", "dsprites:100", "--metrics"]
    assert main([*argv, "disentanglement", "--scale", "0.01", "--disentanglement", "mig"]) == 0
    path = dsprites_run / "report.json"
    first = json.loads(path.read_text())
    table = first["evaluations"]["dsprites:100"]["code_factor_mi"]
    assert main([*argv, "disentanglement", "--scale", "0.02", "--disentanglement", "sap"]) == 0
    out = json.loads(path.read_text())
    ev = out["evaluations"]["dsprites:100"]
    assert ev["code_factor_mi"] == table
    assert np.mean(table["gap"]) == pytest.approx(out["disentanglement"]["mig"], abs=1e-12)
    assert ev["disentanglement_scale"]["mig"] == 0.01 and ev["disentanglement_scale"]["sap"] == 0.02


def test_quality_on_fewer_images_than_feature_dimensions_is_flagged(dsprites_run):
    def wide(images: torch.Tensor) -> torch.Tensor:  # 256-dimensional features
        return torch.nn.functional.avg_pool2d(images.float(), 4).flatten(1)

    rep = evaluate_run(
        dsprites_run,
        data=["dsprites:100"],
        n_mi=50,
        metrics=("quality",),
        n_quality=60,
        extractor=wide,
    )
    assert "256-dimensional" in rep["quality"]["warning"]
    assert "sample quality warning" in format_report(rep)


def test_timings_name_the_data_apart_from_the_part():
    """'/data/shapes/encode 0.0' read as the time of a file named encode."""
    from infogan.evaluate import _format_timings

    line = _format_timings({"load": 1.0, "/d/shapes/encode": 0.04, "mi_bound": 0.7})[0]
    assert line == "  wall-clock seconds: load 1.0, encode on /d/shapes 0.0, mi_bound 0.7"


def test_the_printed_table_keeps_scores_as_scores_and_counts_as_counts():
    from infogan.evaluate import format_report

    text = format_report(
        {
            "step": 1,
            "disentanglement": {
                "beta_vae": 0.8,
                "num_active_dims": 5.0,
                "oracle": {"beta_vae": 1.0, "num_active_dims": 5},
            },
        }
    )
    assert "beta_vae                     0.8000  | 1.0000" in text
    assert "num_active_dims              5  | 5" in text
    assert "MI lower bound" not in text  # no heading without a bound under it


def test_one_source_given_bare_and_unknown_metric_groups(dsprites_run):
    """evaluate_run(data="path") iterated the string, one character a source ("/" first: a
    walk of the whole disk); a misspelt metric group scored nothing and said nothing."""
    from infogan.errors import SpecError

    fresh = {}
    evaluate_run(dsprites_run, data="dsprites:100", n_mi=50, metrics=("mi",), fresh=fresh)
    assert "mi_bound" in fresh
    for bad in (("clusterin",), ()):
        with pytest.raises(SpecError, match="metric group"):
            evaluate_run(dsprites_run, data="dsprites:100", metrics=bad)


def test_sample_sizes_are_checked_from_python_before_anything_is_written(dsprites_run):
    """n_quality=0 (the CLI's floor is 50) replaced the quality scores in report.json with a
    "skipped" note; 2.5 failed deep in a slice; scale=0 scored on 2 samples a metric."""
    from infogan import cli, evaluate
    from infogan.errors import SpecError

    evaluate_run(dsprites_run, data="dsprites:100", n_mi=50, metrics=("mi",))  # a report to keep
    before = (dsprites_run / "report.json").read_bytes()
    for kw, match in (
        ({"n_quality": 0}, "n_quality"),
        ({"n_quality": 2.5}, "n_quality"),
        ({"n_mi": 0}, "n_mi"),
        ({"scale": 0}, "scale"),
        ({"scale": float("nan")}, "scale"),
    ):
        with pytest.raises(SpecError, match=match):
            evaluate_run(dsprites_run, data="dsprites:100", metrics="quality", **kw)
    assert (dsprites_run / "report.json").read_bytes() == before
    assert cli.MIN_QUALITY_IMAGES == evaluate.MIN_QUALITY_IMAGES  # the parser's own copy
    assert cli.MIN_MI_SAMPLES == evaluate.MIN_MI_SAMPLES


def test_a_nan_in_the_code_factor_table_renders():
    """A factor constant in MIG's sample (a tiny --scale) has zero entropy, and its column is
    0/0 = NaN, as in disentanglement_lib; the page crashed on it (round(NaN))."""
    from infogan.report_html import _breakdown

    b = {
        "factors": ["shape", "scale"],
        "codes": ["c1"],
        "normalized_mi": [[float("nan"), 0.5]],
        "gap": [float("nan"), 0.5],
    }
    page = "".join(_breakdown("dsprites", b))
    assert ">nan</td>" in page and "0.500" in page


def test_noise_use_tells_a_generator_that_ignores_z(tmp_path):
    """A generator whose input weights on z are zero draws one image per code setting: noise
    use 0, flagged in the printout and the HTML; the same networks with those weights kept use
    z (a clear fraction of the spread across settings)."""
    from test_export import make_run

    from infogan import load_run
    from infogan.evaluate import NOISE_USE_WARN, noise_use_block
    from infogan.report_html import render_html

    model = load_run(make_run(tmp_path, codes="cat:4,cont:2"))
    healthy = model.noise_use(groups=20, per_group=4)
    assert healthy > 2 * NOISE_USE_WARN
    first = next(m for m in model.nets.generator.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight[:, : model.spec.noise_dim] = 0
    assert model.noise_use(groups=20, per_group=4) == pytest.approx(0.0, abs=1e-6)
    block = noise_use_block(model, groups=20, per_group=4)
    assert block["groups"] == 20 and block["per_group"] == 4
    rep = {"step": 7, "codes": "cat:4,cont:2", "noise_use": block}
    assert "warning: G draws nearly one image per code setting" in format_report(rep)
    assert "lack variety" in render_html(tmp_path, rep)
    rep["noise_use"]["ratio"] = healthy
    assert "warning" not in format_report(rep)
    assert "lack variety" not in render_html(tmp_path, rep)


def test_noise_use_is_skipped_for_a_model_without_noise(tmp_path):
    """--noise 0: images depend on the codes alone by design; a ratio of 0 and a warning that G
    ignores z would be wrong. info and sweep tables read the skipped block as 'not measured'."""
    from conftest import tiny_config

    from infogan import checkpoint as ckpt
    from infogan import load_run
    from infogan.errors import SpecError
    from infogan.evaluate import noise_use_block
    from infogan.nets import build_nets
    from infogan.runinfo import noise_use_of
    from infogan.sweep import flatten_report

    cfg = tiny_config(codes="cat:4,cont:2")
    cfg.model.noise_dim = 0
    state = {"step": 1, "config": cfg.to_dict(), "nets": build_nets(cfg.model).state_dict()}
    ckpt.save_checkpoint(ckpt.checkpoint_path(tmp_path / "run", 1), state)
    model = load_run(tmp_path / "run")
    block = noise_use_block(model)
    assert block == {"skipped": "no noise z (noise size 0)"}
    with pytest.raises(SpecError, match="no noise z"):
        model.noise_use()
    rep = {"step": 7, "noise_use": block}
    assert "noise use" not in format_report(rep) and noise_use_of(block) is None
    assert "noise_use" not in flatten_report(rep)


def test_noise_use_compares_only_groups_of_different_codes(tmp_path):
    """With cat:2 alone, half the pairs of groups drew the same code setting; counting them as
    'different codes' inflated the ratio (0.762 against 0.628 in the audit)."""
    from conftest import tiny_config

    from infogan import checkpoint as ckpt
    from infogan import load_run
    from infogan.evaluate import noise_use_block
    from infogan.nets import build_nets

    def model_of(codes: str, name: str):
        torch.manual_seed(0)
        cfg = tiny_config(codes=codes)
        state = {"step": 1, "config": cfg.to_dict(), "nets": build_nets(cfg.model).state_dict()}
        ckpt.save_checkpoint(ckpt.checkpoint_path(tmp_path / name, 1), state)
        return load_run(tmp_path / name)

    m = model_of("cat:2", "two")
    lat = m.latent(40, seed=4242)  # noise_use's draw: groups' first rows every 4th
    ratio = m.noise_use(groups=10, per_group=4)
    first = torch.arange(10).repeat_interleave(4) * 4
    lat.cat, lat.cont = lat.cat[first], lat.cont[first]
    with torch.no_grad():
        imgs = m.nets.sampler(m.spec.assemble(lat)).flatten(1).view(10, 4, -1)
    off = ~torch.eye(4, dtype=torch.bool)
    within = torch.cdist(imgs, imgs)[:, off].mean()
    c = lat.cat[::4, 0]
    differ = c[:, None] != c[None, :]
    across = torch.cdist(imgs[:, 0], imgs[:, 0])[differ].mean()
    assert ratio == pytest.approx(float(within / across), rel=1e-4)
    assert noise_use_block(m, groups=10, per_group=4)["ratio"] == ratio
