"""Using a trained InfoGAN: load a run, generate from chosen codes, traverse a code, encode images.

>>> from infogan import load_run
>>> model = load_run("runs/mnist")                       # newest checkpoint of a run
>>> x = model.generate(n=10, codes={"c1": 3, "c2": 0.5})  # ten 3-like digits, c2 fixed at 0.5
>>> enc = model.encode(x)                                 # Q's estimate of the codes
>>> enc.cat[:, 0]                                         # argmax q(c1 | x)
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from infogan import checkpoint as ckpt
from infogan.archs import check_saved_arch
from infogan.config import TrainConfig
from infogan.data import to_float
from infogan.devices import resolve_device
from infogan.errors import CheckpointError, DataError, SpecError, brief, whole_number
from infogan.labels import (
    CodeLabels,
    SavedLabels,
    current_labels,
    read_code_labels,
    run_dir_of,
)
from infogan.latent import Categorical, Latent, LatentSpec
from infogan.losses import code_log_q, gaussian_log_density, mi_bound
from infogan.nets import InfoGANNets, nets_to_load

log = logging.getLogger("infogan")

__all__ = ["InfoGAN", "Encoding", "CodeValue", "load_run"]

#: A code's value in ``generate(codes=...)``: one number, or one per image (a tensor, an array).
CodeValue = int | float | np.integer | np.floating | torch.Tensor | np.ndarray


@dataclass
class Encoding:
    """Q's estimate of the codes of a batch of images.

    Attributes:
        cat_probs: per categorical code, ``[N, K]`` probabilities q(c_j | x).
        cat: ``[N, n_cat]`` argmax of each categorical code.
        cont_mean: ``[N, n_cont]`` Gaussian means of the continuous codes.
        cont_std: ``[N, n_cont]`` their standard deviations.

    Columns count per kind (``cat[:, 0]`` is the first categorical code, whatever its place in
    the spec); ``enc["c3"]`` gives one code by name: its argmax if categorical, its mean if
    continuous.
    """

    cat_probs: list[torch.Tensor]
    cat: torch.Tensor
    cont_mean: torch.Tensor
    cont_std: torch.Tensor
    spec: LatentSpec | None = None

    def __getitem__(self, name: str) -> torch.Tensor:
        if self.spec is None:
            raise SpecError("encoding: made without a latent spec; index cat or cont_mean")
        kind, j = self.spec.slot(self.spec.index_of(name))
        return self.cat[:, j] if kind == "cat" else self.cont_mean[:, j]


#: Largest magnitude accepted for a continuous code's value (the prior is U(-1, 1)).
MAX_CONT_VALUE = 1e4

#: Latents pushed through the generator at once by :meth:`InfoGAN.generate`.
GENERATE_CHUNK = 1024
#: Most bytes of images one :meth:`InfoGAN.generate` call makes (float32), and most columns
#: or rows of a traversal: a few extra zeros must fail at once, not after swapping.
MAX_GENERATE_BYTES = 2 * 2**30
MAX_TRAVERSE_STEPS = 100
#: Most values of a categorical code one traversal shows (its columns, or the rows of a
#: continuous code's sweep): a ``cat:1000`` code drew 90,000-pixel-wide figures and used 3 GB.
#: The explorer's page has the same bound. Others are chosen with ``values``.
MAX_FIGURE_VALUES = 64


class InfoGAN:
    """A trained (or training) InfoGAN for inference. Works in eval mode, restores the mode after."""

    def __init__(
        self,
        nets: InfoGANNets,
        cfg: TrainConfig,
        device: torch.device | str = "cpu",
        step: int = 0,
        saved_labels: SavedLabels | None = None,
    ) -> None:
        self.nets = nets
        self.cfg = cfg
        self.device = torch.device(device)
        self.step = step
        #: Per categorical code, what its values mean as labels (from the run's report.json,
        #: once the run was scored on labelled data), and why there are none where they are
        #: missing; :meth:`label` uses the ones made at this model's step.
        self.saved_labels: SavedLabels = saved_labels or SavedLabels({})
        #: What the checkpoint says it trained on (``name``, ``n``, ``shape``), where it says.
        self.trained_on: dict[str, Any] | None = None
        self._digest: tuple[tuple[tuple[int, int], ...], str] | None = None  # weights_digest's

    @property
    def spec(self) -> LatentSpec:
        """The latent layout the generator reads: noise size and codes (``c1``, ``c2``, ...)."""
        return self.nets.latent

    def weights_digest(self) -> str:
        """``"sha256:..."`` of every network's weights and buffers as they are now: which model
        a saved label mapping was made for. The step alone could not tell: a checkpoint of
        another run at the same step, copied into the folder, was given this run's mapping.

        Kept until a tensor changes (its storage or torch's in-place version counter, which an
        optimiser step, ``load_state_dict`` or any in-place op advances): ``label()`` in a loop
        hashed 50 MB a call. Edits through ``param.data`` bypass that counter: after one, edit
        under ``torch.no_grad()`` instead, or load the weights with ``load_state_dict``."""
        key = tuple((t.data_ptr(), t._version) for t in self.nets.state_dict().values())
        cached = self._digest
        if cached is None or cached[0] != key:
            cached = (key, weights_digest(self.nets))
            self._digest = cached
        return cached[1]

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> InfoGAN:
        """Load a run directory (its newest readable checkpoint) or one checkpoint file, with
        the label mappings its ``report.json`` holds (:attr:`saved_labels`)."""
        if not isinstance(path, str | os.PathLike):
            raise CheckpointError(
                f"run: expected a run directory or checkpoint path, got {type(path).__name__}"
            )
        path = Path(path)
        if path.is_dir():
            file, state = ckpt.latest_checkpoint(path, map_location="cpu")
        elif path.is_file():
            file, state = path, ckpt.load_checkpoint(path, map_location="cpu")
        else:
            raise CheckpointError(f"run: {path} does not exist")
        check_saved_arch(state.get("config"), f"run: {path}", state.get("imports"))
        changed: str | None = None
        try:
            cfg = TrainConfig.from_dict(state["config"])
            nets = nets_to_load(cfg.model, contrastive=cfg.cr_weight > 0, ema=cfg.ema_decay > 0)
            changed = nets.layout_differs(state, file)
            nets.load_state_dict(state["nets"])
            step = int(state.get("step", 0))
            if step < 0:
                raise ValueError(f"step {step}")
            # Training never checkpoints non-finite weights; a file that holds them (edited,
            # or written elsewhere) drew grey or black images with no word of why.
            bad = first_non_finite(nets)
            if bad is not None:
                raise ValueError(f"non-finite values in {bad}")
        except (KeyError, RuntimeError, SpecError, TypeError, ValueError) as e:
            reason = brief(e)
            if changed:  # a user's registration changed since: not a damaged file
                raise CheckpointError(f"run: {changed} ({reason})") from None
            raise CheckpointError(
                f"checkpoint: {path} does not hold a usable model ({reason})"
            ) from None
        if changed:
            log.warning("warning: %s; its weights fit, but what they compute may differ", changed)
        run = run_dir_of(path)
        _check_same_model(run, cfg, file)
        nets.eval()
        # A torch.device is checked too: torch.device("cuda") without a GPU failed deep in torch.
        device = resolve_device(device)
        labels = read_code_labels(run, nets.latent)
        model = cls(nets.to(device), cfg, device, step, labels)
        data = state.get("data")
        model.trained_on = data if isinstance(data, dict) else None
        return model

    # ---- generation -----------------------------------------------------------------------------
    def latent(self, n: int, codes: Mapping[str, CodeValue] | None = None, seed: int = 0) -> Latent:
        """A prior sample of ``n`` latents with the codes named in ``codes`` overridden.

        ``codes`` maps a code name (``"c1"``) to a value or an ``[n]`` tensor of values: an index in
        ``0..K-1`` for a categorical code, any real for a continuous one (the prior is U(-1, 1), but
        values up to +-2 show how a code extrapolates, as in the paper's figures).
        """
        n = whole_number("n", n, 1, 2**40)
        # Any seed torch takes: callers offset theirs (a batch's ``seed + done``, a candidate's
        # grids at ``seed + 7``, where a candidate's seed is up to MAX_CONFIG_SEED).
        seed = whole_number("seed", seed, 0, 2**64 - 1)
        if codes is not None and not isinstance(codes, Mapping):
            raise SpecError(f"codes: expected a dict like {{'c1': 3}}, got {type(codes).__name__}")
        g = torch.Generator(device=self.device).manual_seed(seed)
        lat = self.spec.sample(n, generator=g, device=self.device)
        named: dict[int, str] = {}
        for name, value in (codes or {}).items():
            i = self.spec.index_of(name)
            if i in named:  # "c1" and "1" name one code: which value wins is not the user's
                raise SpecError(f"codes: {named[i]!r} and {name!r} name the same code")
            named[i] = name
            kind, j = self.spec.slot(i)
            if isinstance(value, str | bytes | bool) or (
                not isinstance(value, int | float | torch.Tensor | np.ndarray | np.number)
            ):
                raise SpecError(
                    f"{name}: expected a number or a tensor, got {type(value).__name__}"
                )
            given: Any = value
            if isinstance(value, np.ndarray | np.number):
                # Booleans are refused as Python's True is: a mask given for a code's values.
                if value.dtype.kind not in "iuf":  # booleans, strings, objects, complex numbers
                    raise SpecError(f"{name}: expected real numbers, got dtype {value.dtype}")
                # uint64 (which torch cannot take from numpy) and the rest: as int64 / float64
                given = value.astype(np.float64 if value.dtype.kind == "f" else np.int64)
            if isinstance(value, torch.Tensor) and (
                value.is_complex() or value.dtype == torch.bool
            ):
                raise SpecError(f"{name}: expected real numbers, got dtype {value.dtype}")
            try:
                v = torch.as_tensor(given, device=self.device)
            except (OverflowError, RuntimeError, TypeError, ValueError):  # 2**70: no int64
                raise SpecError(f"{name}: {value!r} is not a value torch can hold") from None
            if v.ndim > 1 or (v.ndim == 1 and len(v) != n):
                raise SpecError(
                    f"{name}: expected one value or one per image ({n}), got shape {tuple(v.shape)}"
                )
            if kind == "cat":
                k = self.spec.codes[i].k  # type: ignore[union-attr]
                if v.is_floating_point() and not torch.equal(v, v.round()):
                    raise SpecError(f"{name}: categorical code needs an integer in 0..{k - 1}")
                v = v.long()
                if ((v < 0) | (v >= k)).any():
                    raise SpecError(f"{name}: value out of range 0..{k - 1}")
                lat.cat[:, j] = v
            else:
                if not (v.double().abs() <= MAX_CONT_VALUE).all():  # NaN fails too
                    raise SpecError(
                        f"{name}: continuous value must be a number within +-{MAX_CONT_VALUE:g} "
                        "(the prior is U(-1, 1))"
                    )
                lat.cont[:, j] = v.float()
        return lat

    @torch.no_grad()
    def generate(
        self,
        n: int | None = None,
        codes: Mapping[str, CodeValue] | None = None,
        seed: int = 0,
        latent: Latent | None = None,
    ) -> torch.Tensor:
        """Images ``[n, C, H, W]`` in [-1, 1] from chosen codes (others drawn from the prior),
        drawn by the EMA generator when the run kept one (``ema_decay`` > 0).

        Args:
            n: how many images (default 64).
            codes: values to fix, by code name (``"c1"``, ``"1"``): one number for all images
                or one per image; the codes not named are drawn from the prior.
            seed: seed of what is drawn: the same seed gives the same images, call after call.
            latent: the whole input instead (:meth:`latent`, or a :class:`Latent` built to
                this model's layout), with neither ``n`` nor ``codes``.
        """
        if latent is not None:
            if n is not None or codes:
                raise SpecError(
                    "generate: give either latent, or n and codes (a latent fixes both)"
                )
            lat = self.spec.check(latent)
            self.check_count(len(lat))
        else:
            n = 64 if n is None else n
            self.check_count(n)  # before drawing latents
            lat = self.latent(n, codes, seed)
        lat = Latent(lat.z.to(self.device), lat.cat.to(self.device), lat.cont.to(self.device))
        flat = self.spec.assemble(lat)
        # In chunks: the generator's activations for one chunk are alive at a time, so memory
        # is the images themselves (eval-mode batch norm: chunking changes no image).
        with eval_mode(self.nets):
            return torch.cat([self.nets.sampler(part) for part in flat.split(GENERATE_CHUNK)])

    def check_count(self, n: int) -> int:
        """``n`` if :meth:`generate` can make that many images in one call, else a
        :class:`SpecError` saying how many it can (at most ``MAX_GENERATE_BYTES`` of them)."""
        n = whole_number("n", n, 1, 2**40)
        c, h, w = self.nets.image_shape
        per_image = 4 * c * h * w  # float32
        if n * per_image > MAX_GENERATE_BYTES:
            raise SpecError(
                f"n: {n} images of {c}x{h}x{w} need {n * per_image / 2**30:.1f} GiB; draw them "
                f"in parts of at most {MAX_GENERATE_BYTES // per_image} (with other seeds)"
            )
        return n

    def traverse(
        self,
        code: str,
        steps: int = 9,
        span: float = 2.0,
        rows: int = 10,
        seed: int = 0,
        values: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[torch.Tensor, list[str], list[str]]:
        """A latent traversal like the paper's Figure 2: ``(images [R, K, C, H, W], rows, cols)``.

        Categorical code: columns are its K values, rows are independent draws of z and of the
        other categorical codes (continuous codes at 0). Continuous code: columns sweep it from ``-span`` to ``span``; rows are the values of
        the first categorical code (or draws of z when there is none); z and the other codes are
        fixed, the remaining continuous codes at 0.

        ``values``: which values of that categorical code are shown (the columns, or the rows of
        a continuous sweep); default all of them, or the first :data:`MAX_FIGURE_VALUES` of a
        larger code. ``steps`` applies to a continuous code only, ``rows`` to draws only.
        """
        if not isinstance(code, str):
            raise SpecError(f"code: expected a code name like 'c2', got {code!r}")
        if isinstance(span, bool) or not isinstance(span, int | float | np.number):
            raise SpecError(f"span: expected a number, got {type(span).__name__} {span!r}")
        steps = whole_number("steps", steps, 0, MAX_TRAVERSE_STEPS)
        rows = whole_number("rows", rows, 1, MAX_TRAVERSE_STEPS)
        i = self.spec.index_of(code)
        target = self.spec.codes[i]
        if not isinstance(target, Categorical) and (steps < 2 or not 0 < span <= MAX_CONT_VALUE):
            raise SpecError(
                f"{code}: a traversal needs steps >= 2 and 0 < span <= {MAX_CONT_VALUE:g}, got "
                f"steps {steps}, span {span}"
            )
        cat_index = i if isinstance(target, Categorical) else self.spec.first_categorical()
        shown = None
        if cat_index is not None:
            shown = self._shown_values(cat_index, values)
        elif values is not None:
            raise SpecError(f"values: {code} is continuous and the model has no categorical code")
        if isinstance(target, Categorical):
            assert shown is not None, "a categorical code is its own cat_index"
            cols = shown
            base = self.latent(rows, seed=seed)
            for j in range(self.spec.n_cont):
                base.cont[:, j] = 0.0
            row_labels = [f"draw {r}" for r in range(rows)]
            col_values: list[float] = [float(c) for c in cols]
            col_labels = [str(c) for c in cols]
        else:
            col_values = np.linspace(-span, span, steps).tolist()
            col_labels = [f"{v:+.1f}" for v in col_values]
            one = self.latent(1, seed=seed)
            if cat_index is not None and shown is not None:
                kind, cj = self.spec.slot(cat_index)
                k = len(shown)
                base = Latent(one.z.repeat(k, 1), one.cat.repeat(k, 1), one.cont.repeat(k, 1))
                base.cat[:, cj] = torch.tensor(shown, device=self.device)
                row_labels = [f"{self.spec.names[cat_index]}={r}" for r in shown]
            else:
                base = self.latent(rows, seed=seed)
                row_labels = [f"draw {r}" for r in range(rows)]
            base.cont.zero_()
        kind, j = self.spec.slot(i)
        images = []
        for v in col_values:  # one batch per column: [R, C, H, W]
            lat = Latent(base.z.clone(), base.cat.clone(), base.cont.clone())
            if kind == "cat":
                lat.cat[:, j] = int(v)
            else:
                lat.cont[:, j] = v
            images.append(self.generate(latent=lat))
        return torch.stack(images, dim=1), row_labels, col_labels  # [R, K, C, H, W]

    def _shown_values(self, index: int, values: Sequence[int] | np.ndarray | None) -> list[int]:
        """The values of categorical code ``index`` a traversal shows, checked."""
        name, k = self.spec.names[index], self.spec.codes[index].k  # type: ignore[union-attr]
        if values is None:
            return list(range(min(k, MAX_FIGURE_VALUES)))
        if isinstance(values, np.ndarray) and values.ndim == 1:
            values = values.tolist()
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise SpecError(f"values: expected a list of values of {name}, got {values!r}")
        shown = [whole_number(f"values of {name}", v, 0, k - 1) for v in values]
        if not 1 <= len(shown) <= MAX_FIGURE_VALUES:
            raise SpecError(
                f"values: expected 1..{MAX_FIGURE_VALUES} values of {name}, got {len(shown)}"
            )
        return shown

    # ---- recognition ----------------------------------------------------------------------------
    def _prepare(
        self, images: torch.Tensor | np.ndarray, convert: bool = True, check: bool = True
    ) -> torch.Tensor:
        if not isinstance(images, torch.Tensor | np.ndarray):
            raise DataError(
                f"images: expected a tensor or an array [N, C, H, W], got {type(images).__name__}"
                " (for files: infogan.data.load_dataset(path).images)"
            )
        if isinstance(images, np.ndarray):
            if images.dtype.kind not in "biuf":  # objects, strings, complex numbers
                raise DataError(f"images: unsupported dtype {images.dtype}")
            images = np.ascontiguousarray(images)  # a flipped view has negative strides
        x = torch.as_tensor(images)
        three_d = x.ndim == 3
        if three_d:  # [N, H, W] -> [N, 1, H, W]
            x = x.unsqueeze(1)
        if x.ndim != 4:
            raise DataError(f"images: expected [N, C, H, W], got shape {tuple(x.shape)}")
        if tuple(x.shape[1:]) != tuple(self.nets.image_shape):
            c, h, w = self.nets.image_shape
            if three_d and tuple(x.shape[:1] + x.shape[2:]) == (c, h, w):
                # One [C, H, W] image was read as C grey ones.
                raise DataError(
                    f"images: a 3-D array is read as N grey images [N, H, W]; give one "
                    f"{c}x{h}x{w} image as a batch of one, [1, {c}, {h}, {w}] (x[None])"
                )
            if not three_d and x.shape[3] in (1, 3) and tuple(x.shape[1:3]) == (h, w):
                raise DataError(
                    f"images: shape {tuple(x.shape[1:])} is channels-last [N, H, W, C]; this "
                    f"model reads [N, C, H, W] = [N, {c}, {h}, {w}] (infogan.data.from_arrays(x)"
                    ".images reads either layout)"
                    + (f", and {c} channel(s), not {x.shape[3]}" if x.shape[3] != c else "")
                )
            if tuple(x.shape[2:]) == (h, w):
                raise DataError(
                    f"images: {x.shape[1]} channel(s) but this model reads {c} "
                    f"({'colour' if c == 3 else 'grey'}); convert them first (the CLI's encode "
                    "converts image files itself)"
                )
            raise DataError(
                f"images: shape {tuple(x.shape[1:])} but this model reads ({c}, {h}, {w}); "
                f"arrays are not resized (a folder of image files is), so give {h}x{w} images"
            )
        if check:
            x = _check_range(x)
        return _as_float(x) if convert else x

    @torch.no_grad()
    def encode(
        self, images: torch.Tensor | np.ndarray, batch: int = 1000, check: bool = True
    ) -> Encoding:
        """Q's code estimate for images (uint8 0-255 or float in [-1, 1], ``[N, C, H, W]``).

        Images are converted to float one batch at a time, so encoding all 737,280 64x64
        dSprites-like images needs their uint8 size in memory, not four times it. ``check``
        refuses values out of those ranges (a float 0..255 array would reach Q unscaled); code
        that feeds Q a generator's own output, or a stand-in's, passes False."""
        batch = whole_number("batch", batch, 1, 2**40)
        x = self._prepare(images, convert=False, check=check)
        outs = []
        with eval_mode(self.nets):
            for chunk in x.split(batch):
                outs.append(self.nets.recognise(_as_float(chunk.to(self.device))))
        probs = [
            torch.cat([o.cat_logits[j] for o in outs]).softmax(dim=1).cpu()
            for j in range(self.spec.n_cat)
        ]
        cat = (
            torch.stack([p.argmax(dim=1) for p in probs], dim=1)
            if probs
            else torch.zeros(len(x), 0, dtype=torch.long)
        )
        mean = torch.cat([o.cont_mean for o in outs]).cpu()
        std = torch.cat([o.cont_log_std for o in outs]).exp().cpu()
        return Encoding(cat_probs=probs, cat=cat, cont_mean=mean, cont_std=std, spec=self.spec)

    def _labelled_code(self, code: str | None) -> tuple[str, CodeLabels]:
        """``code`` (default: the first categorical code with a mapping) and its mapping made
        at this model's step; a one-line error saying why where there is none."""
        cats = self.spec.cat_names
        if not cats:
            raise SpecError(f"label: this model has no categorical code (codes {self.spec.spec})")
        usable, why = current_labels(self)
        if code is None:
            code = next((n for n in cats if n in usable), cats[0])
        elif isinstance(code, str) and code.strip().lower().removeprefix("c").isdigit():
            # "1", "C1", " c1 " name c1 here as everywhere else (LatentSpec.index_of)
            code = self.spec.names[self.spec.index_of(code)]
        if code not in cats:
            raise SpecError(
                f"label: {code!r} is not a categorical code of this model "
                f"(categorical: {', '.join(cats)})"
            )
        if code not in usable:
            raise SpecError(
                f"label: {code} has no label mapping for this model"
                + (
                    f": {why}"
                    if why
                    else "; score the run on labelled data first: infogan evaluate RUN --data "
                    "LABELLED_DATA (in Python, load_run it again after)"
                )
            )
        return code, usable[code]

    def labelled_code(self, code: str | None = None) -> str:
        """The categorical code :meth:`label` reads for ``code`` (default: the first with a
        label mapping for this model); a one-line error where it has no mapping."""
        return self._labelled_code(code)[0]

    def label(self, images: torch.Tensor | np.ndarray, code: str | None = None) -> np.ndarray:
        """Label images with the classes a categorical code found: Q's most likely value of
        ``code`` (default: the first categorical code with a mapping), turned into a label by
        the mapping that evaluation on labelled data saved for this model's step (class names
        where the labels came from class folders, else label numbers). ``images`` as
        :meth:`encode`."""
        code, labels = self._labelled_code(code)
        j = self.spec.slot(self.spec.index_of(code))[1]
        return labels.apply(self.encode(images).cat[:, j].numpy())

    def values_of(self, label: str | int | float, code: str | None = None) -> list[int]:
        """The values of ``code`` (default as :meth:`label`) that stand for ``label`` (a class
        name or label number, compared as text), e.g. to generate that class:
        ``model.generate(16, codes={"c1": model.values_of("7")[0]})``. Usually one value; a
        code with more values than classes can give a class several."""
        code, labels = self._labelled_code(code)
        k = len(labels.mapping)
        names = [str(x) for x in labels.apply(np.arange(k))]
        if isinstance(label, float) and label.is_integer():
            label = int(label)  # 7.0 names the class 7, as 7 does
        # A value no labelled image took has a guessed label: it stands for nothing known.
        seen = [v for v in range(k) if v not in labels.unseen]
        values = [v for v in seen if names[v] == str(label)]
        if not values:
            raise SpecError(
                f"label: no value of {code} stands for {label!r}; its labels are "
                + ", ".join(sorted({names[v] for v in seen}, key=_label_order))
            )
        return values

    @torch.no_grad()
    def mi_bound(self, n: int = 10_000, batch: int = 500, seed: int = 12345) -> dict[str, float]:
        """Estimate ``L_I = E[log q(c|G(z,c))] + H(c)`` per code on ``n`` fresh samples (nats),
        from the generator that :meth:`generate` uses.

        The samples are drawn ``batch`` at a time, each part seeded by ``seed`` and its offset:
        the same ``n``, ``batch`` and ``seed`` give the same number, and another ``batch``
        other samples (an estimate as close, not the same digits)."""
        n, batch = whole_number("n", n, 1, 2**40), whole_number("batch", batch, 1, 2**40)
        # The parts are seeded seed + offset, which must stay a seed (as generate's is checked).
        seed = whole_number("seed", seed, 0, 2**64 - 1 - n)
        total = torch.zeros(len(self.spec.codes), dtype=torch.float64)
        done = 0
        with eval_mode(self.nets):
            while done < n:
                m = min(batch, n - done)
                lat = self.latent(m, seed=seed + done)
                x = self.nets.sampler(self.spec.assemble(lat))
                log_q = code_log_q(self.nets.recognise(x), lat, self.spec)
                total += log_q.double().cpu() * m
                done += m
        bound = mi_bound(total / n, self.spec)
        return dict(zip(self.spec.names, bound.tolist(), strict=True))

    @torch.no_grad()
    def noise_use(self, groups: int = 100, per_group: int = 10, seed: int = 4242) -> float:
        """How much the images depend on the noise ``z``: the mean pixel distance between
        images drawn with the same codes and different ``z``, over the mean distance between
        images of different codes (``groups`` code settings from the prior, ``per_group``
        noise draws each). Near 0: G ignores ``z`` and draws one image per code setting, a
        collapse that a high MI bound and a confident Q do not reveal (Q's task is then
        easiest); a generator that uses ``z`` for style gives a good fraction of 1."""
        if self.spec.noise_dim == 0:
            raise SpecError("noise_use: this model has no noise z (noise size 0)")
        groups = whole_number("groups", groups, 2, 100_000)
        per_group = whole_number("per_group", per_group, 2, 10_000)
        lat = self.latent(groups * per_group, seed=seed)
        first = torch.arange(groups, device=self.device).repeat_interleave(per_group) * per_group
        # Every row of a group takes the codes of the group's first row; z stays its own.
        lat = replace(lat, cat=lat.cat[first], cont=lat.cont[first])
        # A group at a time into the sums (memory: one chunk of images and the groups' first
        # images, not all of them: 1,000 images of 256x256x3 would be GBs).
        per_chunk = max(1, 500 // per_group)
        within, heads = torch.zeros((), dtype=torch.float64), []
        off = ~torch.eye(per_group, dtype=torch.bool, device=self.device)
        with eval_mode(self.nets):
            for g0 in range(0, groups, per_chunk):
                rows = slice(g0 * per_group, min(groups, g0 + per_chunk) * per_group)
                part = replace(lat, z=lat.z[rows], cat=lat.cat[rows], cont=lat.cont[rows])
                x = self.nets.sampler(self.spec.assemble(part)).flatten(1).float()
                x = x.view(-1, per_group, x.shape[1])
                within += torch.cdist(x, x)[:, off].double().sum().cpu()
                heads.append(x[:, 0])
        within /= groups * per_group * (per_group - 1)
        h = torch.cat(heads)
        # Only pairs of groups whose code settings differ: with few categorical values and no
        # continuous code, two groups can draw the same setting (half the pairs of cat:2).
        codes = torch.cat([lat.cat[::per_group].double(), lat.cont[::per_group].double()], 1)
        differ = torch.cdist(codes, codes) > 0
        if not bool(differ.any()):
            raise SpecError("noise_use: every code setting drawn was the same one")
        across = torch.cdist(h, h)[differ].double().mean().cpu()
        return float(within / across.clamp_min(1e-12))

    @torch.no_grad()
    def _cont_residuals(self, n: int, batch: int, seed: int) -> torch.Tensor:
        """``c - mu(G(z, c))`` of every continuous code on ``n`` fresh samples, ``[n, n_cont]``
        (float64, CPU), the samples drawn as :meth:`mi_bound` draws them from ``seed``."""
        out = []
        with eval_mode(self.nets):
            for done in range(0, n, batch):
                lat = self.latent(min(batch, n - done), seed=seed + done)
                q = self.nets.recognise(self.nets.sampler(self.spec.assemble(lat)))
                out.append((lat.cont - q.cont_mean).double().cpu())
        return torch.cat(out)

    def mi_bound_fitted_std(
        self, n: int = 10_000, batch: int = 500, seed: int = 12345
    ) -> dict[str, dict[str, float]]:
        """Per continuous code, ``L_I`` with Q's means and one std per code fitted to the data.

        Q trained with a fixed std (``fixed_std``, e.g. 1.0 in the ``dsprites`` preset, as in
        InfoGAN-CR's code) is scored by :meth:`mi_bound` with that std, which caps the bound (std 1 on a U(-1, 1)
        code: at most ``ln 2 - 0.5 ln 2 pi = -0.23`` nats, whatever Q knows). Any q gives a lower
        bound, so here ``q(c|x) = N(mu(x), s^2)`` with ``s`` the RMS error of ``mu`` on ``n``
        samples of their own (seeds after ``seed + n``), and the bound is taken on the ``n``
        samples :meth:`mi_bound` uses: ``s`` is fitted before those are seen, so it is still a
        lower bound on I(c; G(z, c)), and tells how much Q's means know.

        Returns:
            ``{code: {"bound": nats, "std": s}}`` for each continuous code; ``{}`` if none.
        """
        n, batch = whole_number("n", n, 2, 2**40), whole_number("batch", batch, 1, 2**40)
        seed = whole_number("seed", seed, 0, 2**64 - 1 - 2 * n)  # seeds up to seed + 2n are drawn
        if not self.spec.n_cont:
            return {}
        s = self._cont_residuals(n, batch, seed + n).square().mean(dim=0).sqrt()
        s = s.clamp_min(1e-6)  # a perfect Q on a collapsed code would give 0
        r = self._cont_residuals(n, batch, seed)
        log_q = gaussian_log_density(r, s.log()).mean(dim=0)
        out, j = {}, 0
        for i, name in enumerate(self.spec.names):
            if self.spec.slot(i)[0] == "cont":
                h = self.spec.entropies[i]
                out[name] = {"bound": float(log_q[j]) + h, "std": float(s[j])}
                j += 1
        return out


def _label_order(name: str) -> tuple[int, int, str]:
    """Label numbers in numeric order (2 before 10), then class names alphabetically."""
    number = name.removeprefix("-")
    if number.isascii() and number.isdigit():  # not "²", which isdigit() but int() refuses
        return (0, int(name), "")
    return (1, 0, name.casefold())


def _check_range(x: torch.Tensor) -> torch.Tensor:
    """Images as Q reads them: uint8 0..255 (other integer types in that range are taken as
    such) or floats already in [-1, 1]; anything else is refused rather than silently misread
    (a float 0..255 or 0..1 array would otherwise reach Q unscaled)."""
    if x.dtype == torch.uint8:
        return x
    if x.dtype == torch.bool:  # black and white, as the data readers take binary images
        return x.to(torch.uint8) * 255
    if x.is_complex():
        raise DataError(f"images: unsupported dtype {x.dtype}")
    if not x.is_floating_point():
        if x.dtype in (torch.uint16, torch.uint32, torch.uint64):
            x = x.to(torch.int64)  # torch has no min/max for these (uint64 past 2**63 wraps: < 0)
        if x.numel() and (x.min() < 0 or x.max() > 255):
            raise DataError("images: integer values must be in 0..255")
        return x.to(torch.uint8)
    if x.numel() and not bool(((x >= -1.0001) & (x <= 1.0001)).all()):
        raise DataError(
            "images: float values must be in [-1, 1] (the networks' scale); pass uint8 0..255 "
            "to have them scaled"
        )
    if x.numel() and x.min() >= 0 and x.max() > 0:
        # In range, but a batch with no pixel darker than mid-grey is far likelier to be 0..1
        # images (torchvision's ToTensor) than [-1, 1] ones: Q would read them washed out.
        warnings.warn(
            "images: every float value is in [0, 1], but the networks read [-1, 1]; if these "
            "are 0..1 images (e.g. from ToTensor()), pass x * 2 - 1",
            stacklevel=_outside_infogan(),  # the user's line, through encode, label, ...
        )
    return x


def _outside_infogan() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package (and
    torch's wrappers such as no_grad), whichever public method led here."""
    import sys
    from types import FrameType

    here = Path(__file__).resolve().parent  # .../infogan
    skip = (str(here), str(Path(torch.__file__).resolve().parent))
    level = 1
    frame: FrameType | None = sys._getframe(1)  # the caller of this function: warn's own frame
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(skip):
        frame, level = frame.f_back, level + 1
    return level


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return to_float(x) if x.dtype == torch.uint8 else x.float()


def _check_same_model(run: Path | None, cfg: TrainConfig, path: Path) -> None:
    """Refuse a checkpoint whose networks are not those of the run it sits in (a file copied
    in from another run): the run's report, labels and figures are of other codes, and a
    command would mix the two silently. A run whose config.json does not read is not judged."""
    if run is None:
        return
    try:
        saved = TrainConfig.load(run / "config.json").model
    except (OSError, SpecError, ValueError):
        return
    if saved != cfg.model:
        diff = ", ".join(
            f"{k} {getattr(cfg.model, k)!r} (run: {getattr(saved, k)!r})"
            for k in saved.__dataclass_fields__
            if getattr(saved, k) != getattr(cfg.model, k)
        )
        raise CheckpointError(
            f"checkpoint: {path} is not of the run in {run}: its model differs from "
            f"{run / 'config.json'} in {diff}"
        )


class eval_mode:
    """Context manager: ``module`` in eval mode inside, its previous mode restored after."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module, self.was_training = module, module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)


def first_non_finite(nets: torch.nn.Module) -> str | None:
    """Name of the first floating-point weight or buffer of ``nets`` holding NaN or inf (None:
    all finite). Buffers count: an overflowed batch-norm ``running_var`` makes every image as
    bad as a NaN weight does. One device sync when all are finite."""
    tensors = {k: t for k, t in nets.state_dict().items() if t.is_floating_point()}
    if not tensors or bool(torch.stack([t.isfinite().all() for t in tensors.values()]).all()):
        return None
    return next(k for k, t in tensors.items() if not bool(t.isfinite().all()))


def weights_digest(nets: torch.nn.Module) -> str:
    """``"sha256:..."`` over ``nets``' state dict (names and bytes, on the CPU, row-major): the
    same for the live model that was scored and for its checkpoint loaded again, whatever the
    device or memory layout (about 30 ms for the 53 MB of the MNIST networks)."""
    h = hashlib.sha256()
    for name, t in sorted(nets.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())  # no copy
    return "sha256:" + h.hexdigest()


def load_run(path: str | Path, device: str | torch.device = "cpu") -> InfoGAN:
    """Load a trained model from a run directory or a checkpoint file (see :class:`InfoGAN`)."""
    return InfoGAN.load(path, device)
