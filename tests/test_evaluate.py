"""Evaluation end to end: disentanglement with the oracle on dSprites-like data, sample quality
with a user feature extractor, the HTML report."""

import json

import numpy as np
import pytest
import torch

from infogan.config import ModelConfig, TrainConfig
from infogan.data import load_dataset
from infogan.evaluate import evaluate_run
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
    assert json.loads((dsprites_run / "report.json").read_text())["quality"]["n_fake"] == 200


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
