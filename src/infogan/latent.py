"""Latent codes: the structured codes ``c`` and the incompressible noise ``z``.

A latent spec is a comma-separated list of codes, e.g. ``"cat:10,cont:2"`` (one 10-way categorical
code and two continuous codes) or ``"cat:10,cat:10,cont:1"``. ``cont:N`` stands for N independent
one-dimensional Uniform(-1, 1) codes. Codes are named ``c1, c2, ...`` in spec order, which is also the
order of their slots in the generator input after the noise::

    G input = [ z (noise_dim) | one-hot(c_cat1) | one-hot(c_cat2) | ... | c_cont1 | c_cont2 | ... ]

Categorical codes come first within the code part whatever their order in the spec, so the layout
is ``[z, all one-hots, all continuous values]``; :meth:`LatentSpec.split` undoes it.

Entropies (the ``H(c)`` term of the bound ``L_I = E[log q(c|x)] + H(c)``): a K-way uniform
categorical code has ``H = ln K`` nats; a Uniform(-1, 1) code has differential entropy ``ln 2``.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

import torch

from infogan.errors import SpecError, whole_number

__all__ = ["Categorical", "Continuous", "Latent", "LatentSpec", "parse_codes"]

#: Largest categorical code we accept; a bigger K is almost surely a typo.
MAX_CATEGORIES = 10_000
#: Largest number of continuous codes in one ``cont:N`` entry.
MAX_CONTINUOUS = 1_000
#: Largest noise vector (the paper's is 62; 100,000 still fits a first layer in memory).
MAX_NOISE = 100_000
#: Priors of the noise z known to :meth:`LatentSpec.sample`.
NOISE_DISTS = ("normal", "uniform")


@dataclass(frozen=True)
class Categorical:
    """A uniform categorical code with ``k`` values, fed to G as a one-hot vector."""

    k: int

    def __post_init__(self) -> None:
        # Built by hand (parse_codes checks its own): Categorical(0) failed later in log(0).
        whole_number("categorical code: K", self.k, 1, MAX_CATEGORIES)

    @property
    def entropy(self) -> float:
        """H(c) = ln K nats."""
        return math.log(self.k)

    @property
    def kind(self) -> str:
        return f"cat{self.k}"


@dataclass(frozen=True)
class Continuous:
    """A one-dimensional Uniform(-1, 1) code."""

    @property
    def entropy(self) -> float:
        """Differential entropy of Uniform(-1, 1): ln 2 nats."""
        return math.log(2.0)

    @property
    def kind(self) -> str:
        return "cont"


Code = Categorical | Continuous


def parse_codes(spec: str) -> tuple[Code, ...]:
    """Parse a spec such as ``"cat:10,cont:2"`` into a tuple of codes.

    Raises :class:`SpecError` with a message naming the bad part for an empty spec, unknown kinds,
    non-integer sizes, ``cat:K`` with K < 2 and ``cont:N`` with N < 1.
    """
    if spec is None or not str(spec).strip():
        raise SpecError("codes: empty spec; expected something like 'cat:10,cont:2'")
    codes: list[Code] = []
    for raw in str(spec).split(","):
        part = raw.strip()
        if not part:
            raise SpecError(f"codes: empty entry in {spec!r}; expected e.g. 'cat:10,cont:2'")
        kind, sep, size_text = part.partition(":")
        kind = kind.strip().lower()
        if not sep:
            raise SpecError(f"codes: {part!r} has no size; write 'cat:K' or 'cont:N'")
        size_text = size_text.strip()
        # ASCII digits only: int() also takes '１０', '٣' and '1_0', which then named runs and
        # files in forms no one typed.
        if not re.fullmatch(r"[+-]?[0-9]+", size_text):
            raise SpecError(f"codes: {part!r} has a size that is not an integer")
        size = int(size_text)
        if kind == "cat":
            if size < 2:
                raise SpecError(f"codes: {part!r} needs at least 2 categories")
            if size > MAX_CATEGORIES:
                raise SpecError(f"codes: {part!r} has more than {MAX_CATEGORIES} categories")
            codes.append(Categorical(size))
        elif kind == "cont":
            if size < 1:
                raise SpecError(f"codes: {part!r} needs at least 1 continuous code")
            if size > MAX_CONTINUOUS:
                raise SpecError(f"codes: {part!r} asks for more than {MAX_CONTINUOUS} codes")
            codes.extend(Continuous() for _ in range(size))
        else:
            raise SpecError(f"codes: unknown code kind {kind!r} in {part!r}; use 'cat' or 'cont'")
    return tuple(codes)


@dataclass
class Latent:
    """One batch of latent inputs, kept in parts.

    Attributes:
        z: noise, float ``[N, noise_dim]`` from the noise prior (N(0, 1) unless ``noise_dist``).
        cat: categorical code values, int64 ``[N, n_cat]`` (column j is the j-th categorical code).
        cont: continuous code values, float ``[N, n_cont]`` in [-1, 1] when sampled.
    """

    z: torch.Tensor
    cat: torch.Tensor
    cont: torch.Tensor

    def __len__(self) -> int:
        return self.z.shape[0]


@dataclass(frozen=True)
class LatentSpec:
    """The full latent layout: a noise size and the structured codes.

    Build one with :meth:`LatentSpec.parse`. It samples latent batches, assembles the generator input,
    splits such an input back into its parts and knows each code's name and entropy.
    """

    codes: tuple[Code, ...]
    noise_dim: int
    noise_scale: float = 1.0
    """Gain on z in G's input (:meth:`assemble`); latents themselves keep z as drawn."""
    noise_dist: str = "normal"
    """Prior of z: ``normal`` (N(0, I), the paper's MNIST) or ``uniform`` (U(-1, 1) per
    dimension, InfoGAN-CR's)."""

    def __post_init__(self) -> None:
        # Checked here, not only in parse: a spec built by hand (a string for codes, "5" for
        # noise_dim, an infinite gain) failed later in a raw TypeError or gave inf/NaN inputs.
        if not isinstance(self.codes, tuple) or not all(
            isinstance(c, Categorical | Continuous) for c in self.codes
        ):
            raise SpecError(
                "codes: expected a tuple of Categorical / Continuous (LatentSpec.parse reads a "
                f"spec like 'cat:10,cont:2'), got {type(self.codes).__name__}"
            )
        whole_number("noise", self.noise_dim, 0, MAX_NOISE)
        if (
            isinstance(self.noise_scale, bool)
            or not isinstance(self.noise_scale, numbers.Real)
            or not 0 < self.noise_scale < math.inf
        ):
            raise SpecError(f"noise_scale: must be a number > 0, got {self.noise_scale!r}")
        if self.noise_dist not in NOISE_DISTS:
            raise SpecError(
                f"noise_dist: unknown {self.noise_dist!r}; choose from {', '.join(NOISE_DISTS)}"
            )
        if not self.codes:
            raise SpecError("codes: at least one code is needed")

    @classmethod
    def parse(
        cls, spec: str, noise_dim: int, noise_scale: float = 1.0, noise_dist: str = "normal"
    ) -> LatentSpec:
        """``LatentSpec.parse("cat:10,cont:2", 62)``: the paper's MNIST latent (G input 74)."""
        # int(62.7) was quietly 62; 10**12 reached the allocator (a 512 TB first layer).
        noise_dim = whole_number("noise", noise_dim, 0, MAX_NOISE)
        if isinstance(noise_scale, numbers.Real) and not isinstance(noise_scale, bool):
            noise_scale = float(noise_scale)  # 2 or a numpy float: a float, as config.json has
        return cls(parse_codes(spec), noise_dim, noise_scale, str(noise_dist))

    # ---- layout -----------------------------------------------------------------------------
    @property
    def categorical(self) -> tuple[Categorical, ...]:
        """The categorical codes, in spec order."""
        return tuple(c for c in self.codes if isinstance(c, Categorical))

    @property
    def n_cat(self) -> int:
        """How many categorical codes."""
        return len(self.categorical)

    @property
    def n_cont(self) -> int:
        """How many continuous codes (one dimension each)."""
        return sum(isinstance(c, Continuous) for c in self.codes)

    @property
    def cat_sizes(self) -> tuple[int, ...]:
        """Number of values of each categorical code, in spec order."""
        return tuple(c.k for c in self.categorical)

    @property
    def code_dim(self) -> int:
        """Width of the code part of G's input: sum of K over categorical codes + n_cont."""
        return sum(self.cat_sizes) + self.n_cont

    @property
    def input_dim(self) -> int:
        """Width of G's input: noise_dim + code_dim."""
        return self.noise_dim + self.code_dim

    @property
    def spec(self) -> str:
        """Canonical spec string, e.g. ``'cat:10,cont:2'`` (inverse of :func:`parse_codes`)."""
        parts: list[str] = []
        for code in self.codes:
            if isinstance(code, Categorical):
                parts.append(f"cat:{code.k}")
            elif parts and parts[-1].startswith("cont:"):
                parts[-1] = f"cont:{int(parts[-1][5:]) + 1}"
            else:
                parts.append("cont:1")
        return ",".join(parts)

    @property
    def names(self) -> list[str]:
        """Code names in spec order: ``c1, c2, ...``."""
        return [f"c{i + 1}" for i in range(len(self.codes))]

    @property
    def cat_names(self) -> list[str]:
        """Names of the categorical codes, in spec order (as :attr:`cat_sizes`)."""
        return [
            n for n, c in zip(self.names, self.codes, strict=True) if isinstance(c, Categorical)
        ]

    @property
    def labels(self) -> list[str]:
        """Display names, e.g. ``['c1 (cat10)', 'c2 (cont)']``."""
        return [f"{n} ({c.kind})" for n, c in zip(self.names, self.codes, strict=True)]

    @property
    def entropies(self) -> list[float]:
        """H(c) of every code in spec order, nats."""
        return [c.entropy for c in self.codes]

    def slot(self, index: int) -> tuple[str, int]:
        """Where code ``index`` (0-based, spec order) lives: ``("cat", j)`` or ``("cont", j)``."""
        index = whole_number("code index", index, 0, len(self.codes) - 1)
        kind = "cat" if isinstance(self.codes[index], Categorical) else "cont"
        j = sum(isinstance(c, Categorical) == (kind == "cat") for c in self.codes[:index])
        return kind, j

    def first_categorical(self) -> int | None:
        """Index of the first categorical code in spec order, or None when there is none."""
        return next((i for i, c in enumerate(self.codes) if isinstance(c, Categorical)), None)

    def index_of(self, name: str) -> int:
        """0-based index of a code given as ``'c2'`` or ``'2'`` (any case, spaces ignored)."""
        if not isinstance(name, str):
            raise SpecError(
                f"code: expected a code name like 'c2', got {type(name).__name__} {name!r}"
            )
        text = name.strip().lower().removeprefix("c")
        try:
            i = int(text) - 1
        except ValueError:
            raise SpecError(f"unknown code {name!r}; codes are {', '.join(self.names)}") from None
        if not 0 <= i < len(self.codes):
            raise SpecError(f"unknown code {name!r}; codes are {', '.join(self.names)}")
        return i

    # ---- sampling and assembly --------------------------------------------------------------
    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
    ) -> Latent:
        """Draw ``n`` latents from the prior: z ~ N(0, I) (or U(-1, 1), ``noise_dist``),
        c_cat ~ U{0..K-1}, c_cont ~ U(-1, 1).

        Drawn directly on ``device`` (``generator`` must live there too) so the GPU path needs no
        host-to-device copy per step.
        """
        n = whole_number("n", n, 0)
        if self.noise_dist == "uniform":
            z = torch.rand(n, self.noise_dim, generator=generator, device=device) * 2 - 1
        else:
            z = torch.randn(n, self.noise_dim, generator=generator, device=device)
        # One randint per code (no host-to-device copy of the sizes: cheap on a GPU, graph-safe).
        if self.n_cat:
            draws = [
                torch.randint(k, (n,), generator=generator, device=device) for k in self.cat_sizes
            ]
            cat = torch.stack(draws, dim=1)
        else:
            cat = torch.zeros(n, 0, dtype=torch.long, device=device)
        cont = torch.rand(n, self.n_cont, generator=generator, device=device) * 2 - 1
        return Latent(z=z, cat=cat, cont=cont)

    def check(self, latent: Latent) -> Latent:
        """``latent`` if it fits this layout (shapes, dtypes, categorical values in range),
        else a :class:`SpecError` saying what does not: a latent built by hand or for another
        model fails here in one line, not deep inside ``one_hot`` or a matmul."""
        if not isinstance(latent, Latent):
            raise SpecError(
                f"latent: expected an infogan Latent (model.latent(n)), got {type(latent).__name__}"
            )
        parts = {"z": latent.z, "cat": latent.cat, "cont": latent.cont}
        if not all(isinstance(t, torch.Tensor) for t in parts.values()):
            raise SpecError("latent: z, cat and cont must be torch tensors")
        n = latent.z.shape[0] if latent.z.ndim == 2 else -1
        want = {"z": self.noise_dim, "cat": self.n_cat, "cont": self.n_cont}
        for name, t in parts.items():
            if t.ndim != 2 or t.shape[0] != n or t.shape[1] != want[name]:
                raise SpecError(
                    f"latent: {name} has shape {tuple(t.shape)}, expected [N, {want[name]}] with "
                    f"the same N for z, cat and cont (codes {self.spec}, noise {self.noise_dim})"
                )
        if latent.cat.dtype != torch.long:
            raise SpecError(f"latent: cat must hold int64 class indices, got {latent.cat.dtype}")
        if not (latent.z.is_floating_point() and latent.cont.is_floating_point()):
            raise SpecError("latent: z and cont must be floating-point tensors")
        for j, (k, name) in enumerate(zip(self.cat_sizes, self.cat_names, strict=True)):
            col = latent.cat[:, j]
            if len(col) and (col.min() < 0 or col.max() >= k):
                raise SpecError(f"latent: {name} values must lie in 0..{k - 1}")
        return latent

    def assemble(self, latent: Latent) -> torch.Tensor:
        """Generator input ``[N, input_dim]`` = [noise_scale * z | one-hots | continuous].
        The latent's layout is not checked here (a training step's hot path): :meth:`check`
        checks one built by hand."""
        if not isinstance(latent, Latent):
            raise SpecError(f"latent: expected an infogan Latent, got {type(latent).__name__}")
        parts = [latent.z if self.noise_scale == 1.0 else latent.z * self.noise_scale]
        for j, k in enumerate(self.cat_sizes):
            parts.append(torch.nn.functional.one_hot(latent.cat[:, j], k).to(latent.z.dtype))
        parts.append(latent.cont.to(latent.z.dtype))
        return torch.cat(parts, dim=1)

    def split(self, x: torch.Tensor) -> Latent:
        """Inverse of :meth:`assemble`: one-hots become indices by argmax."""
        if not isinstance(x, torch.Tensor):
            raise SpecError(f"latent batch: expected a torch tensor, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise SpecError(
                f"latent batch has shape {tuple(x.shape)}, expected [N, {self.input_dim}]"
            )
        z = x[:, : self.noise_dim] / self.noise_scale
        offset = self.noise_dim
        cats = []
        for k in self.cat_sizes:
            cats.append(x[:, offset : offset + k].argmax(dim=1))
            offset += k
        cat = (
            torch.stack(cats, dim=1)
            if cats
            else torch.zeros(len(x), 0, dtype=torch.long, device=x.device)
        )
        cont = x[:, offset:]
        return Latent(z=z, cat=cat, cont=cont)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (codes spec, noise size; scale and prior when not the
        default)."""
        out: dict[str, Any] = {"codes": self.spec, "noise_dim": self.noise_dim}
        if self.noise_scale != 1.0:
            out["noise_scale"] = self.noise_scale
        if self.noise_dist != "normal":
            out["noise_dist"] = self.noise_dist
        return out
