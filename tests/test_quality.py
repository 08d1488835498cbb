"""Sample-quality metrics: known answers for FID / KID / PR / DC, and the feature extractors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from infogan.data import ImageDataset
from infogan.errors import DataError
from infogan.metrics import features as feat
from infogan.metrics.quality import (
    density_coverage,
    fid,
    frechet_distance,
    kid,
    precision_recall,
    quality_scores,
    real_vs_real,
)

# ---------------------------------------------------------------------------------------------
# quality.py
# ---------------------------------------------------------------------------------------------


def _with_moments(rng, n, mean, cov):
    """n samples whose *sample* mean and (N-1) covariance are exactly ``mean`` and ``cov``."""
    d = len(mean)
    x = rng.normal(size=(n, d))
    x -= x.mean(0)
    # Whiten with the sample covariance, then colour with the target one.
    w = np.linalg.cholesky(np.cov(x, rowvar=False))
    x = np.linalg.solve(w, x.T).T
    return x @ np.linalg.cholesky(cov).T + mean


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def test_fid_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 16))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_fewer_samples_than_dims_does_not_fail():
    # Singular covariances (N < D): the eps fallback must keep the result finite.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 32)), rng.normal(size=(10, 32)) + 1.0
    assert fid(x, x) == pytest.approx(0.0, abs=1e-4)
    assert np.isfinite(fid(x, y)) and fid(x, y) > 0


def test_fid_matches_closed_form_for_gaussians():
    rng = np.random.default_rng(2)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _spd(rng, d), _spd(rng, d)
    x, y = _with_moments(rng, 400, mu1, s1), _with_moments(rng, 300, mu2, s2)
    # Independent route to Tr((s1 s2)^1/2): the symmetric form s1^1/2 s2 s1^1/2 has the same
    # eigenvalues as s1 s2 and is safe for eigh.
    e, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(e)) @ v.T
    tr_sqrt = np.sqrt(np.linalg.eigvalsh(r1 @ s2 @ r1)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert fid(x, y) == pytest.approx(expected, rel=1e-8)
    # Isotropic case in closed form: |dmu|^2 + D (sqrt(a) - sqrt(b))^2.
    a, b = 4.0, 1.0
    got = frechet_distance(np.zeros(d), a * np.eye(d), np.ones(d), b * np.eye(d))
    assert got == pytest.approx(d + d * (2.0 - 1.0) ** 2)


def test_kid_same_distribution_near_zero_shifted_positive():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    same, same_std = kid(x, y, subsets=20, subset_size=300)
    shifted, _ = kid(x, y + 0.5, subsets=20, subset_size=300)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 0.05 and shifted > 20 * abs(same)
    assert kid(x, y, subsets=5, subset_size=100, seed=7) == kid(
        x, y, subsets=5, subset_size=100, seed=7
    )


def test_kid_full_sets_match_direct_formula():
    # With subset_size >= N every subset is the whole set (in some order): check the estimator.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3)) + 0.3
    k = lambda a, b: (a @ b.T / 3 + 1) ** 3  # noqa: E731
    m = 20
    kxx, kyy = k(x, x), k(y, y)
    expected = (
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )
    mean, std = kid(x, y, subsets=3, subset_size=1000)
    # every subset the whole set: one value, and no spread to report (it read 0 or 4e-15)
    assert mean == pytest.approx(expected, rel=1e-10) and std is None
    mean, std = kid(x, y[:15], subsets=3, subset_size=1000)  # one set subsampled: a spread
    assert std is not None and std > 0


def test_precision_recall_identical_and_disjoint():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 5))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x + 100.0) == (0.0, 0.0)


def _clusters(rng, n, centres):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(scale=0.5, size=(n, centres.shape[1])), labels


def test_mode_dropping_keeps_precision_halves_recall_and_coverage():
    rng = np.random.default_rng(6)
    centres = rng.normal(scale=20.0, size=(10, 4))  # far-apart clusters
    real, _ = _clusters(rng, 1000, centres)
    fake_same, _ = _clusters(rng, 1000, centres)
    fake_half, _ = _clusters(rng, 1000, centres[:5])  # the model dropped half the modes
    p, r = precision_recall(real, fake_same)
    d, c = density_coverage(real, fake_same)
    assert p > 0.9 and r > 0.9
    assert 0.8 < d < 1.2 and c > 0.9
    p, r = precision_recall(real, fake_half)
    d, c = density_coverage(real, fake_half)
    assert p > 0.9
    assert r == pytest.approx(0.5, abs=0.07)
    assert c == pytest.approx(0.5, abs=0.07)


def test_quality_scores_keys_and_consistency():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(200, 6)), rng.normal(size=(150, 6)) + 0.2
    s = quality_scores(real, fake, kid_subsets=10, kid_subset_size=100)
    assert list(s) == ["fid", "kid", "kid_std", "precision", "recall", "density", "coverage"]
    assert all(isinstance(v, float) for v in s.values())
    assert s["fid"] == pytest.approx(fid(real, fake))
    assert (s["kid"], s["kid_std"]) == kid(real, fake, subsets=10, subset_size=100)
    assert (s["precision"], s["recall"]) == precision_recall(real, fake)
    assert (s["density"], s["coverage"]) == density_coverage(real, fake)
    # Torch tensors are accepted too.
    t = quality_scores(
        torch.from_numpy(real), torch.from_numpy(fake), kid_subsets=10, kid_subset_size=100
    )
    assert t == s


def test_manifold_chunking_gives_same_answer(monkeypatch):
    import infogan.metrics.quality as q

    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(120, 5)), rng.normal(size=(90, 5)) * 1.3
    whole = quality_scores(real, fake, kid_subsets=2, kid_subset_size=50)
    monkeypatch.setattr(q, "_CHUNK_BYTES", 8 * 7 * 120)  # 7-row chunks
    chunked = quality_scores(real, fake, kid_subsets=2, kid_subset_size=50)
    for key in whole:
        assert chunked[key] == pytest.approx(whole[key], rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize(
    "real, fake",
    [
        (np.zeros((10, 3)), np.zeros((10, 4))),  # widths differ
        (np.zeros(10), np.zeros(10)),  # not 2-D
        (np.full((10, 3), np.nan), np.zeros((10, 3))),  # NaN
        (np.zeros((1, 3)), np.zeros((10, 3))),  # too few rows
    ],
)
def test_bad_feature_input_is_a_data_error(real, fake):
    with pytest.raises(DataError):
        fid(real, fake)


def test_too_few_samples_for_k():
    with pytest.raises(DataError, match="nearest neighbours"):
        precision_recall(np.zeros((3, 2)), np.ones((10, 2)), k=3)


# ---------------------------------------------------------------------------------------------
# features.py
# ---------------------------------------------------------------------------------------------


def _labelled(n=64, shape=(1, 12, 12), seed=0) -> ImageDataset:
    """Two classes of tiny images: bright left half vs bright right half, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    c, h, w = shape
    img = torch.randint(0, 60, (n, c, h, w), generator=g)
    half = w // 2
    for i, lab in enumerate(labels.tolist()):
        img[i, :, :, half * lab : half * (lab + 1)] += 180
    return ImageDataset(img.to(torch.uint8), labels.long(), "two-halves")


def test_train_classifier_deterministic_and_shapes():
    ds = _labelled()
    before = torch.random.get_rng_state()
    a = feat.train_classifier(ds, epochs=2, seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)  # caller's RNG untouched
    b = feat.train_classifier(ds, epochs=2, seed=3)
    c = feat.train_classifier(ds, epochs=2, seed=4)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.fc.weight, c.fc.weight)
    ext = feat.ClassifierFeatures(a, "tiny", batch_size=10)
    out = ext(torch.rand(25, 1, 12, 12) * 2 - 1)
    assert out.shape == (25, 128) and out.dtype == torch.float32 and out.device.type == "cpu"
    assert torch.equal(ext(ds.images[:7]), ext(feat.to_float(ds.images[:7])))  # uint8 accepted
    assert not any(p.requires_grad for p in ext.classifier.parameters())
    assert ext.accuracy(ds) > 0.9  # an easy task: the training must actually work
    with pytest.raises(DataError, match="expects images"):
        ext(torch.zeros(2, 1, 28, 28))


def test_train_classifier_needs_labels():
    ds = _labelled()
    with pytest.raises(DataError, match="no labels"):
        feat.train_classifier(ImageDataset(ds.images, None, "unlabelled"), epochs=1)


def test_feature_cnn_for_64px_rgb():
    m = feat.FeatureCNN((3, 64, 64), n_classes=3, feature_dim=32)
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 3)
    assert m.features(torch.zeros(2, 3, 64, 64)).shape == (2, 32)


@pytest.fixture
def tiny_mnist_recipe(monkeypatch):
    """Stand-in for the real mnist5k recipe: 1x28x28, two classes, one epoch (fast)."""
    calls = []

    def load():
        calls.append(1)
        return _labelled(n=48, shape=(1, 28, 28))

    recipe = feat.ClassifierRecipe(load=load, image_shape=(1, 28, 28), epochs=1)
    monkeypatch.setitem(feat.FEATURE_CLASSIFIERS, "mnist5k", recipe)
    return calls


def test_mnist_features_cache_round_trip(tmp_path, tiny_mnist_recipe, monkeypatch):
    first = feat.mnist_features(cache_dir=tmp_path)
    path = tmp_path / "features" / "mnist5k_cnn_v1.safetensors"
    assert path.is_file() and tiny_mnist_recipe == [1]
    assert first.name == "mnist5k_cnn_v1"

    def no_training(*a, **k):
        raise AssertionError("must load from the cache, not retrain")

    monkeypatch.setattr(feat, "train_classifier", no_training)
    second = feat.mnist_features(cache_dir=tmp_path)
    assert second.digest == first.digest and tiny_mnist_recipe == [1]
    x = torch.rand(9, 1, 28, 28) * 2 - 1
    assert torch.equal(first(x), second(x))
    # features_for picks the same classifier by name, dataset shape or batch shape.
    for key in ("mnist", "mnist5k", (1, 28, 28), torch.Size([4, 1, 28, 28])):
        assert feat.features_for(key, cache_dir=tmp_path).digest == first.digest


def test_corrupt_cache_is_retrained_with_warning(tmp_path, tiny_mnist_recipe):
    path = feat.classifier_cache_path("mnist5k", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.warns(RuntimeWarning, match="retraining"):
        ext = feat.mnist_features(cache_dir=tmp_path)
    assert tiny_mnist_recipe == [1]
    model, meta = feat.load_classifier(path)
    assert meta["image_shape"] == "1,28,28" and meta["name"] == "mnist5k"
    assert feat.ClassifierFeatures(model).digest == ext.digest


def test_torch_save_fallback_without_safetensors(tmp_path, tiny_mnist_recipe, monkeypatch):
    monkeypatch.setattr(feat, "_HAVE_SAFETENSORS", False)
    first = feat.mnist_features(cache_dir=tmp_path)
    assert (tmp_path / "features" / "mnist5k_cnn_v1.pt").is_file()
    assert feat.mnist_features(cache_dir=tmp_path).digest == first.digest
    assert tiny_mnist_recipe == [1]


def test_features_for_unknown_shape_or_name_says_what_to_do():
    with pytest.raises(DataError, match="user_features"):
        feat.features_for((3, 32, 32))
    with pytest.raises(DataError, match="user_features"):
        feat.features_for("fashion-mnist")


def test_inception_features_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: no weights on disk
    monkeypatch.delenv("INFOGAN_INCEPTION_WEIGHTS", raising=False)
    assert feat.inception_features() is None


def test_an_inception_weights_file_with_code_is_never_unpickled(tmp_path, monkeypatch):
    """torch-fidelity loads the weights with weights_only=False: a file that is not plain
    tensors is refused before it could get there (its payload ran)."""
    import importlib.util
    import os

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    weights = tmp_path / "w.pth"
    torch.save({"w": Evil()}, weights)
    real_find = importlib.util.find_spec
    present = {"torchmetrics", "torch_fidelity"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: object() if n in present else real_find(n, *a)
    )
    with pytest.warns(RuntimeWarning, match="not a plain weights file"):
        assert feat.inception_features(weights_path=weights) is None
    assert not marker.exists()


def test_inception_gets_a_private_copy_of_the_checked_weights(tmp_path, monkeypatch):
    """The file was checked as plain tensors, then handed by path to torch-fidelity, which
    unpickles it: a file swapped in between would have run. It now gets a copy of the bytes
    that were checked, in a folder of its own."""
    import importlib.util
    import sys
    import types

    weights = tmp_path / "w.pth"
    torch.save({"w": torch.ones(2)}, weights)
    seen = {}

    class FakeInception(torch.nn.Module):
        def __init__(self, name, features_list, feature_extractor_weights_path):
            super().__init__()
            path = Path(feature_extractor_weights_path)
            seen["path"], seen["bytes"] = path, path.read_bytes()

    fid = types.ModuleType("torchmetrics.image.fid")
    fid.NoTrainInceptionV3 = FakeInception
    monkeypatch.setitem(sys.modules, "torchmetrics", types.ModuleType("torchmetrics"))
    monkeypatch.setitem(sys.modules, "torchmetrics.image", types.ModuleType("torchmetrics.image"))
    monkeypatch.setitem(sys.modules, "torchmetrics.image.fid", fid)
    real_find = importlib.util.find_spec
    present = {"torchmetrics", "torch_fidelity"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: object() if n in present else real_find(n, *a)
    )
    assert feat.inception_features(weights_path=weights) is not None
    assert seen["path"].parent != weights.parent and seen["bytes"] == weights.read_bytes()
    assert not seen["path"].exists()  # the copy is removed once the network has read it


# torch 2.13 deprecates TorchScript; loading a user's existing TorchScript file is still supported.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:.*torch.jit.script:FutureWarning")  # 2.14's notice
def test_user_features_callable_module_and_files(tmp_path):
    def fn(x):
        return x.mean(dim=(2, 3))  # [B, C]

    ext = feat.user_features(fn, batch_size=4)
    x = torch.rand(10, 3, 8, 8) * 2 - 1
    assert torch.allclose(ext(x), x.mean(dim=(2, 3)))
    assert ext.name.endswith("fn")

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten())
    mod = feat.user_features(net, name="conv")
    assert mod.name == "conv" and mod(torch.zeros(3, 1, 5, 5)).shape == (3, 18)

    path = tmp_path / "ext.pt"
    torch.jit.script(net).save(str(path))
    scripted = feat.user_features(path)
    y = torch.rand(3, 1, 5, 5)
    assert scripted.name == "ext" and torch.allclose(scripted(y), mod(y))
    exported = torch.export.export(
        net, (torch.zeros(2, 1, 5, 5),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(exported, str(tmp_path / "ext.pt2"))
    # a .pt2 path is refused (its loader unpickles weights with weights_only=False: a crafted
    # file ran code); the module of a trusted one is passed in Python
    with pytest.raises(DataError, match="torch.export program"):
        feat.user_features(tmp_path / "ext.pt2")
    loaded = torch.export.load(str(tmp_path / "ext.pt2")).module()
    assert torch.allclose(feat.user_features(loaded)(y), mod(y))
    with pytest.raises(DataError):
        feat.user_features(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a module")
    with pytest.raises(DataError, match="TorchScript"):
        feat.user_features(tmp_path / "junk.pt")
    with pytest.raises(DataError, match="returned shape"):
        feat.user_features(lambda x: x[:1].flatten(1))(torch.zeros(3, 1, 2, 2))


def test_real_vs_real_from_images_uses_extractor():
    a, b = _labelled(n=40, seed=1), _labelled(n=30, seed=2)
    ext = feat.user_features(lambda x: x.flatten(1)[:, :8], name="first8")
    s = real_vs_real(a, b, extractor=ext, kid_subsets=3, kid_subset_size=20)
    fa = feat.extract_features(ext, a)
    fb = feat.extract_features(ext, b)
    assert fa.shape == (40, 8) and fa.dtype == np.float32
    assert s == quality_scores(fa, fb, kid_subsets=3, kid_subset_size=20)


@pytest.mark.slow
def test_real_mnist_classifier_is_accurate(tmp_path):
    """Trains the real mnist5k classifier (~30 s on one core) and checks it on MNIST t10k."""
    from pathlib import Path

    from infogan.data import load_dataset

    t10k = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    if not t10k.is_dir():
        pytest.skip("MNIST t10k not available")
    ext = feat.mnist_features(cache_dir=tmp_path)
    assert ext.accuracy(load_dataset(t10k, split="test")) > 0.97


def test_float_images_out_of_the_networks_scale_are_refused():
    """A float 0..255 batch reached the extractor unscaled (features ~200x too large, no
    word), where encode refuses the same input."""
    ext = feat.user_features(lambda x: x.flatten(1), name="pixels")
    ok = torch.rand(4, 1, 8, 8) * 2 - 1
    assert feat.extract_features(ext, ok).shape == (4, 64)
    with pytest.raises(DataError, match=r"must be in \[-1, 1\]"):
        feat.extract_features(ext, ok * 127.5 + 127.5)


@pytest.mark.filterwarnings("ignore:.*torch.jit.script:FutureWarning")
def test_an_extractor_for_other_images_is_one_line(tmp_path):
    """A TorchScript extractor made for grey images, given colour ones, raised its whole
    traceback through `evaluate --features`."""
    grey = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    path = tmp_path / "grey.pt"
    torch.jit.script(grey).save(str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the load says nothing of deprecation
        ext = feat.user_features(path)
    with pytest.raises(DataError) as e:
        ext(torch.zeros(4, 3, 32, 32))
    msg = str(e.value)
    assert msg.startswith("features: grey failed on 3x32x32 images") and "\n" not in msg
    assert "channels" in msg and "Traceback" not in msg
    assert ext(torch.zeros(4, 1, 32, 32)).shape == (4, 8)
