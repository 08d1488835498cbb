"""Feature spaces for sample-quality metrics (FID, KID, precision/recall, density/coverage).

FID (Heusel et al. 2017) and its relatives compare real and generated images in the feature space
of a pretrained network, classically Inception-v3. No package available offline ships Inception
weights, so the default here is a small CNN classifier trained *in the project* on labelled data,
frozen, and read at its penultimate layer (the same recipe as the "domain-specific FID" of MNIST
GAN papers, e.g. the LeNet features of Binkowski et al. 2018, appendix). Its numbers are not
comparable with published Inception FIDs, only with other numbers computed with the same weights;
that is why every report should print the real-vs-real value beside the model's
(:func:`infogan.metrics.quality.real_vs_real`) and the extractor's :attr:`~ClassifierFeatures.name`
and :attr:`~ClassifierFeatures.digest`.

Entry points:

- :func:`mnist_features`: digit classifier trained on the embedded ``mnist5k`` at first use and
  cached under ``default_cache_dir()/features/``.
- :func:`features_for`: the built-in extractor for a dataset name or image shape.
- :func:`cached_classifier` / :data:`FEATURE_CLASSIFIERS`: how a built-in classifier is defined,
  trained and cached; adding one (e.g. dSprites) is a :class:`ClassifierRecipe` and a line.
- :func:`inception_features`: torchmetrics' FID Inception when it and its weights are already on
  disk (never downloads).
- :func:`user_features`: any callable, ``nn.Module``, TorchScript or torch.export file of yours.
- :func:`extract_features`: run an extractor over a dataset or tensor in batches -> numpy.

Every extractor maps float images in ``[-1, 1]`` ``[N, C, H, W]`` (the generator's tanh range, see
:func:`infogan.data.to_float`) to ``float32`` CPU features ``[N, D]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from infogan.atomic import atomic_write_bytes
from infogan.data import ImageDataset, default_cache_dir, load_dataset, to_float, to_uint8
from infogan.errors import DataError, brief

__all__ = [
    "ARCH_VERSION",
    "DEFAULT_EPOCHS",
    "FEATURE_CLASSIFIERS",
    "INCEPTION_WEIGHTS_FILE",
    "CallableFeatures",
    "ClassifierFeatures",
    "ClassifierRecipe",
    "FeatureCNN",
    "FeatureExtractor",
    "builtin_features",
    "cached_classifier",
    "classifier_cache_path",
    "extract_features",
    "features_for",
    "inception_features",
    "load_classifier",
    "mnist_features",
    "save_classifier",
    "train_classifier",
    "user_features",
]

ARCH_VERSION = 1
"""Part of every cache file name. Bump it whenever :class:`FeatureCNN` or the training recipe
changes, so that old cached weights (whose features would give different FIDs) are never reused."""

DEFAULT_EPOCHS = 8
"""Training epochs for the built-in classifiers (mnist5k: 98.7 % on t10k, ~25 s on one core)."""

_FORMAT = "infogan-feature-classifier"
_HAVE_SAFETENSORS = importlib.util.find_spec("safetensors") is not None


@runtime_checkable
class FeatureExtractor(Protocol):
    """Anything that maps images to feature vectors.

    ``name`` identifies the feature space in reports (numbers from different feature spaces are
    not comparable). ``__call__`` takes float images in ``[-1, 1]`` ``[N, C, H, W]`` and returns
    ``float32`` CPU features ``[N, D]``.
    """

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


# --------------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------------


class FeatureCNN(nn.Module):
    """A small CNN classifier whose penultimate layer is the feature space.

    Blocks of (3x3 conv, ReLU, 2x2 max-pool) with 32, 64, 64, ... channels halve the image until
    its shorter side is at most 8 px (28 -> 14 -> 7; 64 -> 32 -> 16 -> 8), then a fully connected
    layer of ``feature_dim`` ReLU units (the features) and a linear head. The architecture is a
    function of ``(image_shape, n_classes, feature_dim)`` only, so those three numbers in a cache
    file's metadata are enough to rebuild it.

    Attributes:
        image_shape: ``(C, H, W)`` the network accepts.
        n_classes: number of label classes of the head.
        feature_dim: ``D``, the width of the feature layer.
    """

    def __init__(
        self, image_shape: tuple[int, int, int], n_classes: int, feature_dim: int = 128
    ) -> None:
        super().__init__()
        c, h, w = (int(v) for v in image_shape)
        if c < 1 or h < 2 or w < 2 or n_classes < 2 or feature_dim < 1:
            raise DataError(
                f"features: cannot build a classifier for images {list(image_shape)} with "
                f"{n_classes} classes and {feature_dim} features"
            )
        self.image_shape = (c, h, w)
        self.n_classes = int(n_classes)
        self.feature_dim = int(feature_dim)
        layers: list[nn.Module] = []
        channels = c
        for i in range(16):
            out = 32 if i == 0 else 64
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels, h, w = out, h // 2, w // 2
            if min(h, w) <= 8:
                break
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(channels * h * w, feature_dim)
        # Dropout on the features during training only: it spreads the class evidence over many
        # units, which makes the feature space less dominated by a few directions.
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``[N, feature_dim]`` of images ``[N, C, H, W]`` in [-1, 1]."""
        return F.relu(self.fc(self.body(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, n_classes]``."""
        return self.head(self.dropout(self.features(x)))


def _shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by a random integer number of pixels in ``[-max_shift, max_shift]``.

    Generated digits are rarely centred exactly like MNIST's; training on small shifts keeps the
    features from treating a 1-pixel offset as a different kind of image.
    """
    n, _, h, w = x.shape
    d = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=gen).to(x.dtype)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = 1.0
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = 2.0 * d[:, 0] / w  # one pixel is 2/W in normalised coordinates
    theta[:, 1, 2] = 2.0 * d[:, 1] / h
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    # grid_sample pads with 0; shift the range so the padding is background (-1), not grey.
    return F.grid_sample(x + 1.0, grid, mode="nearest", align_corners=False) - 1.0


def train_classifier(
    dataset: ImageDataset,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = 32,
    lr: float = 3e-3,
    feature_dim: int = 128,
    max_shift: int = 1,
) -> FeatureCNN:
    """Train a :class:`FeatureCNN` on a labelled dataset; returns it frozen, in eval mode.

    Adam with a one-cycle learning-rate schedule peaking at ``lr`` (Smith & Topin 2019), batch 32,
    random translations of up to ``max_shift`` pixels. Images are scaled with
    :func:`~infogan.data.to_float`, like the generator's output. On mnist5k, 8 epochs reach
    ~98.7 % on MNIST t10k (one-cycle added ~1 point over a step schedule at the same cost).

    Deterministic given ``seed``: initialisation, shuffling, augmentation and dropout draw from
    RNGs seeded here, inside :func:`torch.random.fork_rng`, so the caller's global RNG state is
    untouched. Bit-identical on CPU for a given thread count and torch build; on CUDA only up to
    the nondeterminism of its kernels.

    Raises:
        DataError: the dataset has no labels, fewer than two classes, or negative labels.
    """
    if dataset.labels is None:
        raise DataError(
            f"features: {dataset.name} has no labels; a feature classifier needs labelled data"
        )
    labels = dataset.labels
    if len(labels) == 0 or int(labels.min()) < 0:
        raise DataError(f"features: {dataset.name}: labels must be non-negative integers")
    n_classes = int(labels.max()) + 1
    if n_classes < 2:
        raise DataError(f"features: {dataset.name} has a single class; nothing to classify")
    if epochs < 1:
        raise DataError(f"features: epochs must be >= 1, got {epochs}")
    device = torch.device(device)
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)  # init and dropout
        gen = torch.Generator().manual_seed(seed)  # shuffling and shifts, drawn on CPU
        model = FeatureCNN(dataset.shape, n_classes, feature_dim).to(device)
        n = len(dataset)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-n // batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                x = to_float(dataset.images[idx])  # [B, C, H, W] in [-1, 1]
                if max_shift > 0:
                    x = _shift(x, max_shift, gen)
                loss = F.cross_entropy(model(x.to(device)), labels[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    model.eval()
    model.requires_grad_(False)
    return model


def _weights_digest(module: nn.Module) -> str:
    """First 16 hex digits of a SHA-256 over the state dict: names a feature space in reports."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _as_float_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"features: expected a torch.Tensor of images, got {type(images).__name__}")
    # uint8 pixels are unambiguous (the dtype says so), so accept them rather than make every
    # caller remember to_float; a float tensor must be in [-1, 1] already (a float 0..255
    # batch would be read unscaled, features hundreds of times too large, as encode refuses).
    if images.dtype == torch.uint8:
        return to_float(images)
    if images.is_floating_point() and images.numel():
        lo, hi = float(images.min()), float(images.max())
        if not (lo >= -1.0001 and hi <= 1.0001):
            raise DataError(
                f"features: float images must be in [-1, 1] (got {lo:.3g}..{hi:.3g}); pass "
                "uint8 0..255 to have them scaled"
            )
    return images


def _check_features(out: Any, n: int, who: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(np.asarray(out))
    if out.dim() == 0 or out.shape[0] != n:
        raise DataError(f"features: {who} returned shape {list(out.shape)} for {n} images")
    return out.detach().reshape(n, -1).to("cpu", torch.float32)


class ClassifierFeatures:
    """A frozen classifier read at its penultimate layer (:meth:`FeatureCNN.features`).

    Runs in eval mode, under :func:`torch.inference_mode`, in batches of ``batch_size``.

    Attributes:
        name: identifies the feature space, e.g. ``"mnist5k_cnn_v1"``.
        digest: 16 hex digits of a SHA-256 of the weights. Two FIDs are comparable only if both
            name and digest agree (retraining on another machine may change the last bits).
        classifier: the wrapped module (frozen).
        image_shape: ``(C, H, W)`` it accepts.
        device: where it runs; features always come back on the CPU.
        train_data: the name of the dataset it was trained on, where known: features of those
            images are not features of unseen ones, so they make a poor quality reference.
    """

    def __init__(
        self,
        classifier: FeatureCNN,
        name: str = "classifier",
        *,
        batch_size: int = 500,
        device: str | torch.device = "cpu",
        train_data: str | None = None,
    ) -> None:
        if not callable(getattr(classifier, "features", None)):
            raise TypeError("features: the classifier must have a .features(x) method")
        self.device = torch.device(device)
        self.classifier = classifier.to(self.device).eval().requires_grad_(False)
        self.name = name
        self.train_data = train_data
        self.batch_size = int(batch_size)
        self.image_shape: tuple[int, int, int] | None = getattr(classifier, "image_shape", None)
        self.digest = _weights_digest(self.classifier)

    def _run(
        self, images: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        images = _as_float_images(images)
        if images.dim() != 4 or (
            self.image_shape is not None and tuple(images.shape[1:]) != self.image_shape
        ):
            want = "x".join(map(str, self.image_shape)) if self.image_shape else "CxHxW"
            raise DataError(
                f"features: {self.name} expects images [N, {want}], got {list(images.shape)}"
            )
        outs = []
        with torch.inference_mode():
            for i in range(0, images.shape[0], self.batch_size):
                x = images[i : i + self.batch_size].to(self.device, torch.float32)
                outs.append(fn(x).to("cpu", torch.float32))
        if not outs:
            return torch.zeros(0, 0)
        return torch.cat(outs)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``[N, D]`` (float32, CPU) of images ``[N, C, H, W]`` in [-1, 1] (or uint8)."""
        return self._run(images, self.classifier.features)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, n_classes]`` (float32, CPU)."""
        return self._run(images, self.classifier)

    def accuracy(self, dataset: ImageDataset) -> float:
        """Top-1 accuracy on a labelled dataset (a sanity check of the feature space)."""
        if dataset.labels is None:
            raise DataError(f"features: {dataset.name} has no labels to score against")
        hits = 0
        for i in range(0, len(dataset), 2000):
            pred = self.logits(dataset.images[i : i + 2000]).argmax(1)
            hits += int((pred == dataset.labels[i : i + 2000]).sum())
        return hits / max(1, len(dataset))

    def __repr__(self) -> str:
        return f"ClassifierFeatures(name={self.name!r}, digest={self.digest!r})"


# --------------------------------------------------------------------------------------------
# Saving and caching
# --------------------------------------------------------------------------------------------


def _meta(model: FeatureCNN, extra: dict[str, str] | None = None) -> dict[str, str]:
    meta = {
        "format": _FORMAT,
        "arch_version": str(ARCH_VERSION),
        "image_shape": ",".join(map(str, model.image_shape)),
        "n_classes": str(model.n_classes),
        "feature_dim": str(model.feature_dim),
    }
    meta.update(extra or {})
    return meta


def save_classifier(
    model: FeatureCNN, path: str | os.PathLike[str], extra_meta: dict[str, str] | None = None
) -> None:
    """Write weights and the metadata needed to rebuild ``model``, atomically.

    safetensors if it is installed (weights only, no code, fast), else ``torch.save`` of tensors
    and strings, which :func:`load_classifier` reads back with ``weights_only=True``.
    """
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = _meta(model, extra_meta)
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import save

        data = save(tensors, metadata=meta)
    else:
        buf = io.BytesIO()
        torch.save({"meta": meta, "state_dict": tensors}, buf)
        data = buf.getvalue()
    atomic_write_bytes(path, data)


def _read_safetensors(data: bytes) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors.torch import load

    # The metadata lives in the JSON header: 8-byte little-endian length, then the JSON. Parsing
    # it from the same bytes as the tensors means both come from one read of the file.
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
    return meta, load(data)


def load_classifier(path: str | os.PathLike[str]) -> tuple[FeatureCNN, dict[str, str]]:
    """Rebuild a :class:`FeatureCNN` saved by :func:`save_classifier`; returns it and its metadata.

    Never executes code from the file (safetensors, or ``torch.load(weights_only=True)``).

    Raises:
        DataError: missing, truncated or foreign file, or weights that do not fit the metadata.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".safetensors":
            meta, tensors = _read_safetensors(data)
        else:
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            meta, tensors = obj["meta"], obj["state_dict"]
        if meta.get("format") != _FORMAT:
            raise ValueError("not a feature-classifier file")
        if meta.get("arch_version") != str(ARCH_VERSION):
            raise ValueError(f"architecture v{meta.get('arch_version')}, expected v{ARCH_VERSION}")
        shape = tuple(int(v) for v in meta["image_shape"].split(","))
        if len(shape) != 3:
            raise ValueError(f"image_shape {meta['image_shape']!r} is not C,H,W")
        model = FeatureCNN(shape, int(meta["n_classes"]), int(meta["feature_dim"]))
        model.load_state_dict(tensors, strict=True)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"features: {path} does not exist") from None
    except Exception as e:  # any parse failure means the same thing to the caller: unusable file
        raise DataError(f"features: {path} is not a usable feature classifier ({e})") from None
    model.eval().requires_grad_(False)
    return model, dict(meta)


def classifier_cache_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<cache_dir or default_cache_dir()>/features/<name>_cnn_v<ARCH_VERSION>.safetensors``.

    ``.pt`` instead of ``.safetensors`` when safetensors is not installed. The key is the
    classifier's name (its training set) plus the architecture version, so e.g. a ``"dsprites"``
    classifier lives beside ``"mnist5k"`` and a changed architecture never reuses old weights.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    suffix = ".safetensors" if _HAVE_SAFETENSORS else ".pt"
    return root / "features" / f"{name}_cnn_v{ARCH_VERSION}{suffix}"


def cached_classifier(
    name: str,
    dataset_loader: Callable[[], ImageDataset],
    image_shape: tuple[int, int, int],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
) -> ClassifierFeatures:
    """Load classifier ``name`` from the cache, or train it on ``dataset_loader()`` and cache it.

    The cache file is :func:`classifier_cache_path` ``(name, cache_dir)``, written atomically (a
    concurrent reader sees the old file or the new one; two processes training at once both write
    a complete file). A cached file that is unreadable or was trained for other images is
    replaced, with a warning: it is derived data, and retraining is deterministic.
    """
    path = classifier_cache_path(name, cache_dir)
    key = f"{name}_cnn_v{ARCH_VERSION}"
    image_shape = tuple(int(v) for v in image_shape)  # type: ignore[assignment]
    if path.exists():
        try:
            model, meta = load_classifier(path)
            if model.image_shape != image_shape:
                raise DataError(f"features: {path} is for images {list(model.image_shape)}")
            return ClassifierFeatures(
                model, key, device=device, train_data=meta.get("train_dataset")
            )
        except DataError as e:
            warnings.warn(f"{e}; retraining it", RuntimeWarning, stacklevel=2)
    dataset = dataset_loader()
    if dataset.shape != image_shape:
        raise DataError(
            f"features: {name} classifier expects images {list(image_shape)}, but its training "
            f"set {dataset.name} has {list(dataset.shape)}"
        )
    model = train_classifier(dataset, epochs=epochs, seed=seed, device=device)
    meta = {"name": name, "train_dataset": dataset.name, "epochs": str(epochs), "seed": str(seed)}
    save_classifier(model.to("cpu"), path, meta)
    return ClassifierFeatures(model, key, device=device, train_data=dataset.name)


@dataclass(frozen=True)
class ClassifierRecipe:
    """How to obtain one built-in feature classifier.

    Attributes:
        load: returns the labelled training set (called only when the cache is empty).
        image_shape: ``(C, H, W)`` of the images it scores; :func:`features_for` matches on it.
        epochs: training epochs.
        description: one line for error messages and docs.
    """

    load: Callable[[], ImageDataset]
    image_shape: tuple[int, int, int]
    epochs: int = DEFAULT_EPOCHS
    description: str = ""


FEATURE_CLASSIFIERS: dict[str, ClassifierRecipe] = {
    "mnist5k": ClassifierRecipe(
        load=lambda: load_dataset("mnist5k"),
        image_shape=(1, 28, 28),
        description="digit classifier trained on the 5,000 embedded MNIST digits",
    ),
    "dsprites": ClassifierRecipe(
        # A fixed random 20,000 of the 737,280 dSprites-like images (rendered on demand, no
        # cache); its labels are the shape factor, the one categorical factor of the grid.
        load=lambda: load_dataset("dsprites:20000"),
        image_shape=(1, 64, 64),
        epochs=3,
        description="shape classifier trained on 20,000 dSprites-like images",
    ),
}
"""Built-in classifiers by name (the name is also the cache key). Add e.g. ``"dsprites"`` here."""

# Dataset names whose images the built-in classifiers were made for.
_DATASET_CLASSIFIER = {"mnist5k": "mnist5k", "mnist": "mnist5k", "dsprites": "dsprites"}


def builtin_features(
    name: str, cache_dir: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> ClassifierFeatures:
    """The built-in classifier ``name`` of :data:`FEATURE_CLASSIFIERS`, trained on first use."""
    if name not in FEATURE_CLASSIFIERS:
        raise DataError(
            f"features: no built-in feature classifier {name!r} "
            f"(known: {', '.join(FEATURE_CLASSIFIERS)})"
        )
    r = FEATURE_CLASSIFIERS[name]
    return cached_classifier(
        name, r.load, r.image_shape, cache_dir=cache_dir, device=device, epochs=r.epochs
    )


def mnist_features(
    cache_dir: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> ClassifierFeatures:
    """Penultimate-layer features (D = 128) of a digit CNN trained on the embedded ``mnist5k``.

    Trained at first use (~25 s on one idle CPU core; 98.7 % accuracy on MNIST t10k) and
    cached to ``<cache_dir or default_cache_dir()>/features/mnist5k_cnn_v1.safetensors``.
    Because the classifier never saw the 10,000 MNIST test digits, those are a fair reference
    set for generated digits.
    """
    return builtin_features("mnist5k", cache_dir=cache_dir, device=device)


def features_for(
    dataset_name_or_shape: str | ImageDataset | tuple[int, ...] | torch.Size,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
) -> ClassifierFeatures:
    """The built-in feature extractor for a dataset name, a dataset or an image shape ``(C, H, W)``.

    ``1x28x28`` images get :func:`mnist_features`. For Fashion-MNIST or other 28x28 data those are
    digit features: usable for comparing models relative to the real-vs-real value, but pass your
    own extractor (:func:`user_features`) for numbers that mean more.

    Raises:
        DataError: no built-in classifier fits; the message says how to pass your own extractor.
    """
    x = dataset_name_or_shape
    if isinstance(x, str):
        if x in _DATASET_CLASSIFIER:
            return builtin_features(_DATASET_CLASSIFIER[x], cache_dir, device)
        raise DataError(
            f"features: no built-in feature classifier for dataset {x!r}; pass the image shape "
            "(C, H, W) to use the one for that shape, or your own extractor "
            "(infogan.metrics.features.user_features)"
        )
    shape = tuple(int(v) for v in (x.shape if isinstance(x, ImageDataset) else x))
    if len(shape) == 4:  # a batch shape [N, C, H, W]
        shape = shape[1:]
    for name, recipe in FEATURE_CLASSIFIERS.items():
        if recipe.image_shape == shape:
            return builtin_features(name, cache_dir, device)
    known = ", ".join(
        f"{'x'.join(map(str, r.image_shape))} ({n})" for n, r in FEATURE_CLASSIFIERS.items()
    )
    raise DataError(
        f"features: no built-in feature classifier for images {'x'.join(map(str, shape))} "
        f"(built-in: {known}); give your own extractor: `infogan evaluate --features FILE` "
        "(a TorchScript file), or in Python "
        "infogan.metrics.features.user_features(my_callable), or a classifier trained with "
        "train_classifier(your_labelled_dataset) wrapped in ClassifierFeatures"
    )


# --------------------------------------------------------------------------------------------
# Inception (optional) and user-supplied extractors
# --------------------------------------------------------------------------------------------

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
"""torch-fidelity's FID Inception weights, as its downloader names them in the torch hub cache."""


class _InceptionFeatures:
    name = "inception-v3-compat-2048"

    def __init__(self, net: nn.Module, device: torch.device, batch_size: int = 100) -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = _as_float_images(images)
        outs = []
        with torch.inference_mode():
            for i in range(0, images.shape[0], self.batch_size):
                # The FID Inception takes uint8 RGB and resizes to 299x299 itself.
                x = to_uint8(images[i : i + self.batch_size])
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                outs.append(_check_features(self.net(x.to(self.device)), x.shape[0], self.name))
        return torch.cat(outs) if outs else torch.zeros(0, 2048)


def inception_features(
    device: str | torch.device = "cpu", weights_path: str | os.PathLike[str] | None = None
) -> FeatureExtractor | None:
    """torchmetrics' FID Inception-v3 (2048-d pool features), only if it works fully offline.

    Returns ``None`` unless torchmetrics and torch-fidelity are importable *and* the weights file
    is already on disk: ``weights_path``, else ``$INFOGAN_INCEPTION_WEIGHTS``, else
    ``<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth``. Never downloads.
    With these features the numbers are the usual FID of Heusel et al. 2017 (as torchmetrics
    computes it), comparable with other torchmetrics / torch-fidelity values.
    """
    if importlib.util.find_spec("torchmetrics") is None:
        return None
    if importlib.util.find_spec("torch_fidelity") is None:
        return None
    path = weights_path or os.environ.get("INFOGAN_INCEPTION_WEIGHTS")
    path = (
        Path(path) if path else Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    )
    if not path.is_file():
        return None
    try:
        # torch-fidelity unpickles the file with weights_only=False, which runs any code a
        # pickle holds: it gets only bytes that loaded as plain tensors first, and from a
        # private copy of them, so the file cannot be swapped between the check and its load.
        data = path.read_bytes()
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        warnings.warn(
            f"features: {path} is not a plain weights file ({brief(e)}); Inception not used",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        with tempfile.TemporaryDirectory() as tmp:
            checked = Path(tmp) / INCEPTION_WEIGHTS_FILE
            checked.write_bytes(data)
            net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=["2048"],
                feature_extractor_weights_path=str(checked),
            )
    except Exception as e:  # an incompatible version must not break the default path
        warnings.warn(f"features: Inception unavailable ({brief(e)})", RuntimeWarning, stacklevel=2)
        return None
    return _InceptionFeatures(net, torch.device(device))


class CallableFeatures:
    """Wraps a user callable as a :class:`FeatureExtractor`: batches, no grad, float32 CPU out.

    Outputs with more than two dimensions are flattened to ``[N, D]``.
    """

    def __init__(
        self,
        fn: Callable[[torch.Tensor], Any],
        name: str,
        *,
        batch_size: int = 500,
        device: str | torch.device = "cpu",
    ) -> None:
        self.fn = fn
        self.name = name
        self.batch_size = int(batch_size)
        self.device = torch.device(device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = _as_float_images(images)
        outs = []
        with torch.inference_mode():
            for i in range(0, images.shape[0], self.batch_size):
                x = images[i : i + self.batch_size].to(self.device)
                try:
                    out = self.fn(x)
                except (RuntimeError, ValueError, TypeError, IndexError) as e:
                    # An extractor made for other images (channels, size): one line naming
                    # both, not the module's traceback (a MemoryError is not caught).
                    if "out of memory" in str(e):
                        raise
                    c, h, w = x.shape[1:]
                    lines = [ln for ln in str(e).splitlines() if ln.strip()]
                    # TorchScript prefixes the reason with its own traceback: its last line.
                    why = lines[-1] if "TorchScript" in str(e) and lines else e
                    raise DataError(
                        f"features: {self.name} failed on {c}x{h}x{w} images in [-1, 1] "
                        f"({brief(why)})"
                    ) from None
                outs.append(_check_features(out, x.shape[0], self.name))
        if not outs:
            return torch.zeros(0, 0)
        if len({o.shape[1] for o in outs}) != 1:
            raise DataError(
                f"features: {self.name} returned different widths for different batches"
            )
        return torch.cat(outs)


def user_features(
    module_path_or_callable: str | os.PathLike[str] | Callable[[torch.Tensor], Any],
    *,
    name: str | None = None,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
) -> FeatureExtractor:
    """Your own feature extractor: a callable, an ``nn.Module``, or a saved module file.

    The callable receives float images in ``[-1, 1]`` ``[B, C, H, W]`` on ``device`` and returns
    ``[B, D]`` features (tensor or array; extra dimensions are flattened). Modules are put in eval
    mode. A path is loaded with :func:`torch.jit.load` (TorchScript), whose loader builds the
    module's own operations and unpickles nothing else.

    A ``torch.export`` program (``.pt2``) is refused as a path: :func:`torch.export.load`
    unpickles its weights with ``weights_only=False``, so a crafted file runs code as it loads.
    Load one you trust yourself and pass the module: ``user_features(torch.export.load(p).module())``.
    """
    x = module_path_or_callable
    if isinstance(x, (str, os.PathLike)):
        path = Path(x).expanduser()
        if path.is_dir():
            raise DataError(f"features: {path} is a folder; give the TorchScript file")
        if not path.is_file():
            raise DataError(f"features: {path} does not exist")
        if path.suffix == ".pt2":
            raise DataError(
                f"features: {path} is a torch.export program, whose loader can run code hidden "
                "in it; save the extractor as TorchScript (torch.jit.save) or, in Python, pass "
                "torch.export.load(path).module() of a file you trust"
            )
        fn: Any
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript; loading a user's file is still supported,
                # and its two-line FutureWarning said nothing the user could act on.
                warnings.simplefilter("ignore", FutureWarning)
                fn = torch.jit.load(str(path), map_location=torch.device(device)).eval()
        except Exception as e:
            raise DataError(f"features: {path} is not a TorchScript module ({brief(e)})") from None
        return CallableFeatures(fn, name or path.stem, batch_size=batch_size, device=device)
    if not callable(x):
        raise TypeError(
            f"features: expected a callable or a TorchScript path, got {type(x).__name__}"
        )
    if isinstance(x, nn.Module):
        x = x.to(device)
        # A torch.export program's module is inference-only already and refuses .eval().
        with contextlib.suppress(NotImplementedError):
            x = x.eval()
    if isinstance(x, FeatureExtractor) and name is None:
        return x  # already an extractor (has a name): keep its own batching
    label = name or getattr(x, "name", None) or getattr(x, "__qualname__", None) or type(x).__name__
    return CallableFeatures(x, str(label), batch_size=batch_size, device=device)


def extract_features(
    extractor: Callable[[torch.Tensor], torch.Tensor],
    images: ImageDataset | torch.Tensor | np.ndarray,
    batch_size: int = 1000,
) -> np.ndarray:
    """Run ``extractor`` over a dataset or an image tensor in batches; returns ``float32 [N, D]``.

    ``uint8`` images (datasets always are) are scaled with :func:`~infogan.data.to_float` one
    batch at a time, so a large dataset is never held as float32 all at once.
    """
    if isinstance(images, ImageDataset):
        images = images.images
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    outs = []
    for i in range(0, images.shape[0], batch_size):
        x = _as_float_images(images[i : i + batch_size])
        outs.append(
            _check_features(extractor(x), x.shape[0], getattr(extractor, "name", "extractor"))
        )
    if not outs:
        raise DataError("features: no images to extract features from")
    return torch.cat(outs).numpy()
