"""Typed configuration: the model, the training recipe, named presets, JSON round trip.

Every field has a one-line doc comment. ``TrainConfig.from_dict`` rejects unknown keys so a typo in a
JSON file or a checkpoint from another program fails loudly instead of being ignored.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from infogan.archs import BUILT_IN, custom_arch, registered
from infogan.atomic import atomic_write_bytes
from infogan.errors import SpecError, as_path
from infogan.latent import LatentSpec

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed import DataclassInstance

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "PRESETS",
    "RUN_FIELDS",
    "EXECUTION_FIELDS",
    "preset",
    "recipe_differences",
]


#: Below this :meth:`infogan.model.InfoGAN.noise_use`, G is taken to ignore z: a report warns,
#: and by default the selection ranks such a start last (``select_min_noise_use``). Measured
#: on the CPU (README, "Your own networks on MNIST"): 0.074 for an MLP generator that drew one
#: image per value of c1; 0.460 and 0.633 for the built-in networks after 3,000 and 10,000
#: steps of the README's first command.
NOISE_USE_WARN = 0.2

_T = TypeVar("_T", bound="DataclassInstance")


@dataclass
class ModelConfig:
    """What the networks are."""

    codes: str = "cat:10,cont:2"
    """Latent code spec: comma list of ``cat:K`` (K-way categorical) and ``cont:N`` (N Uniform(-1,1))."""
    noise_dim: int = 62
    """Size of the incompressible noise z (drawn from ``noise_dist``)."""
    noise_dist: str = "normal"
    """Prior of z: ``normal`` (N(0, I), the paper) or ``uniform`` (U(-1, 1) per dimension,
    InfoGAN-CR's dSprites latent)."""
    noise_scale: float = 1.0
    """Gain on z where it enters G (G reads ``[noise_scale * z | codes]``; z itself stays as
    drawn). With 62 noise dimensions against one one-hot slot, z carries ~60x the code's
    share of G's first-layer input at initialisation, so early on the image barely depends on
    c; a small gain (ClusterGAN, Mukherjee et al. 2019, draws z with std 0.1) lets the codes
    shape the images from the start. 1.0 = the paper."""
    arch: str = "mnist"
    """Networks: ``mnist`` (the paper's 28x28x1 ones), ``conv32`` (32x32, the paper's SVHN and
    CelebA ones, with an FC layer in D; ``conv32paper``: without it, as the paper's table),
    ``conv64`` (64x64, the paper's chairs ones) or ``conv64s`` (64x64, InfoGAN-CR's small
    dSprites ones, ~100x cheaper)."""
    channels: int | None = None
    """Image channels, 1 or 3; None = those of the training data (training fixes the number in
    the run's config before building the networks; 1 where there is no data to follow). The
    ``mnist`` networks read 1. Set, it is what the data is put in: colour images are made grey
    (luma) for 1, grey ones repeated into three channels for 3, in training and evaluation."""
    width: float = 1.0
    """Multiplier on every hidden width (1.0 = the paper's sizes; smaller is faster on CPU)."""
    fixed_std: float | None = None
    """Continuous codes: None = Q predicts mean and log-std; a number = fixed std, Q predicts mean."""
    spectral_norm: bool = False
    """Spectral normalisation (Miyato et al. 2018) of the discriminator's weight layers (which
    ones: ``sn_scope``). Bounds D's Lipschitz constant, the usual cure for a discriminator that
    wins too fast. False = the paper."""
    sn_scope: str = "d"
    """Where ``spectral_norm`` applies: ``d`` = the shared body and the D head (the critic
    whose slope it bounds); ``all`` = also the Q head and every layer but the last of
    InfoGAN-CR's pair classifier, as InfoGAN-CR's released networks have it."""
    log_std_min: float = -5.0
    """Lower clamp of Q's predicted log-std (keeps log q finite)."""
    log_std_max: float = 2.0
    """Upper clamp of Q's predicted log-std."""

    def latent(self) -> LatentSpec:
        """The parsed latent layout (raises SpecError on an impossible spec)."""
        return LatentSpec.parse(self.codes, self.noise_dim, self.noise_scale, self.noise_dist)

    def validate(self) -> None:
        """Raise :class:`SpecError` naming the first impossible value (types, code spec,
        architecture, channels, width, std limits)."""
        _check_types(self, "model.")
        self.latent()
        _check_finite(self, "model.")
        if self.arch not in ARCHES and custom_arch(self.arch) is None:
            mine = registered()
            raise SpecError(
                f"arch: unknown {self.arch!r}; choose from {', '.join(ARCHES + tuple(mine))}"
                + ("" if mine else ", or your own: see infogan.register_arch and --import")
            )
        if self.channels not in (None, 1, 3):
            raise SpecError(f"channels: must be 1 or 3 (or None: as the data), got {self.channels}")
        if self.arch == "mnist" and self.channels == 3:
            raise SpecError(
                "channels: the 'mnist' networks read 1 channel; for colour images use "
                "--arch conv32 (32x32), conv64 or conv64s (64x64)"
            )
        if not 0 < self.width <= MAX_WIDTH:  # 1e6 reached the allocator as a raw error
            raise SpecError(f"width: must be > 0 and at most {MAX_WIDTH:g}, got {self.width}")
        if self.fixed_std is not None and not self.fixed_std > 0:
            raise SpecError(f"fixed_std: must be > 0 or None, got {self.fixed_std}")
        if self.sn_scope not in SN_SCOPES:
            raise SpecError(
                f"sn_scope: unknown {self.sn_scope!r}; choose from {', '.join(SN_SCOPES)}"
            )
        if not self.log_std_min < self.log_std_max:
            raise SpecError("log_std_min must be smaller than log_std_max")


#: Largest network width multiplier (16x the paper's networks is past any GPU's memory).
MAX_WIDTH = 16.0
#: Largest seed a user gives (torch seeds are 64-bit; candidate starts multiply, below).
MAX_SEED = 2**32 - 1
#: Most candidate starts: start ``i`` of a run with seed ``s`` trains seed ``s * 1000 + i``
#: (:func:`infogan.select.candidate_seed`), disjoint across run seeds while ``i < 1000``.
MAX_CANDIDATES = 1000
#: Largest seed a config may hold: a candidate's, or a winner's going on under it.
MAX_CONFIG_SEED = MAX_SEED * MAX_CANDIDATES + MAX_CANDIDATES - 1

#: Candidate selection rules known to :mod:`infogan.select`.
SELECT_RULES = ("score", "consensus", "centrality")

#: Where spectral normalisation can apply (``ModelConfig.sn_scope``).
SN_SCOPES = ("d", "all")

#: Which update can train the Q head (``TrainConfig.q_head_step``).
Q_HEAD_STEPS = ("g", "d")

#: Network families built into :mod:`infogan.nets` (and a user's, :func:`infogan.register_arch`).
ARCHES = BUILT_IN


@dataclass
class TrainConfig:
    """The whole training recipe. The field defaults are the paper's MNIST recipe plus a choice
    among 4 candidate starts at 1,000 steps; the recipe the CLI trains by default is
    ``preset("default")``, which adds DiffAugment translation and a second choice at 3,000
    steps (see :func:`_default`). Start from :func:`preset` to get a named recipe."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """Networks and latent codes."""
    data: str = "mnist5k"
    """Training data: a dataset name (mnist5k, mnist, fashion-mnist, svhn, celeba, dsprites, or
    ``dsprites:N`` for a subset), a folder of images (class subfolders give labels), an IDX
    directory or an .npz."""
    eval_data: str | None = None
    """Labelled data to evaluate on at the end of training (labels are never used in training)."""
    steps: int = 12_000
    """Number of optimisation steps (one D update + one G/Q update each)."""
    batch: int = 64
    """Batch size."""
    lr_d: float = 2e-4
    """Adam learning rate of the discriminator (paper: 2e-4)."""
    lr_g: float = 1e-3
    """Adam learning rate of the generator, and of the Q head when it trains in G's step
    (``q_head_step="g"``, the paper: 1e-3)."""
    beta1: float = 0.5
    """Adam beta1 (paper: 0.5)."""
    beta2: float = 0.999
    """Adam beta2."""
    lambda_cat: float = 1.0
    """Weight of -log q for categorical codes (paper: 1)."""
    lambda_cont: float = 0.1
    """Weight of -log q for continuous codes (paper: small, 0.1 is the common choice)."""
    lambda_cont_start: int = 0
    """Step before which the continuous codes' weight is 0 (then it ramps up over
    ``lambda_cont_ramp`` steps to ``lambda_cont``). A later start lets the categorical code
    settle on the data's discrete factor before the continuous codes compete for the same
    variation. 0 = from the first step (the paper)."""
    lambda_cont_ramp: int = 0
    """Steps over which the continuous codes' weight rises linearly from 0 to ``lambda_cont``,
    starting at ``lambda_cont_start`` (0 = a step)."""
    info_in_d_step: bool = False
    """Also minimise the info loss in D's step, updating D's shared body (see train.py routing)."""
    q_head_step: str = "g"
    """Which update trains the Q head: ``g`` = G's (the paper: "Q is trained with G", at
    ``lr_g``), ``d`` = D's (InfoGAN-CR: the Q head is part of its discriminator, trained by the
    D-step info loss at ``lr_d``; needs ``info_in_d_step``)."""
    lambda_real: float = 0.0
    """Weight of Q's information term on *real* images, ``I(x; c)`` of each categorical code
    under Q on the real batch (confident per image, even over the batch; see
    :func:`infogan.losses.real_code_information`). Trains the Q head only. 0 = off (the paper:
    Q only ever sees generated images)."""
    d_translate: int = 0
    """Translate every image D (and so Q) reads, real and fake, by a random whole number of
    pixels in ``[-d_translate, d_translate]`` per axis (DiffAugment's translation, Zhao et al.
    2020; see :mod:`infogan.augment`): a guard against D memorising a small training set.
    0 = off, the paper."""
    instance_noise: float = 0.0
    """Std of Gaussian noise added to every image D (and so Q) reads, real and fake, in [-1, 1]
    pixel units, decayed linearly to 0 at step ``instance_noise_end`` (Sønderby et al. 2017,
    "instance noise": overlapping the real and fake distributions keeps D's gradients useful
    early on). 0 = off (the paper)."""
    instance_noise_end: int = 0
    """Step at which the instance noise reaches 0 (0 = at ``steps``, the end of training as
    first planned: a new run writes that step into its ``config.json``, so extending it with
    a resume does not raise the noise again)."""
    lambda_ms: float = 0.0
    """Weight of MSGAN's mode-seeking term (Mao et al. 2019) in G's loss: each step G also
    draws its batch's codes with a second noise and minimises ``lambda_ms / (r + 1e-5)``, ``r``
    the mean pixel distance of the two images per unit of noise distance
    (:func:`infogan.losses.mode_seeking`): a generator that ignores z, which Q's term does not
    punish, pays for it. One more pass of G per step. Under ``--ddp`` each process's share of
    the batch gives its own ``r``. 0 = off (the paper). Measured: 0.1 cured an MLP
    generator's collapse, but on the built-in networks, whose G uses z, it took the continuous
    codes' information and cost five of six seeds 0.01-0.20 in accuracy (README)."""
    r1_gamma: float = 0.0
    """R1 penalty weight (Mescheder et al. 2018): D's loss gets ``r1_gamma / 2 * E||grad_x
    D(x)||^2`` on real images, which keeps D from growing steep around the data. Costs a double
    backward through D each step. 0 = off (the paper)."""
    ema_decay: float = 0.0
    """Decay of an exponential moving average of G's weights, kept beside G and used for every
    image the trained model draws (samples, figures, sample quality, ``generate``); Q and the
    training itself are unchanged. 0 = off (the paper); 0.999 is the usual choice."""
    g_steps: int = 1
    """G/Q updates per training step, each on the same inputs with G's images recomputed (D
    and the CR classifier are updated once). InfoGAN-CR's released code runs its G update twice
    per step. 1 = the paper."""
    cr_weight: float = 0.0
    """InfoGAN-CR contrastive regulariser weight (Lin et al. 2020); 0 = off (plain InfoGAN)."""
    cr_start: int = 0
    """Step from which G gets the CR loss and, unless ``cr_pretrain``, from which the pair
    classifier trains (from its initial weights)."""
    cr_pretrain: bool = False
    """Train the CR pair classifier from step 0, before ``cr_start`` (this library until the
    sixth session). False: it starts at ``cr_start``, as in InfoGAN-CR's code in effect (that
    code trains it from step 0 but re-initialises it, and its Adam state, at the step the CR
    weight is raised), and the steps before ``cr_start`` cost no CR work: on the CPU the
    ``dsprites`` preset's run with CR from step 2,750 made a median 5.1 steps/s before it and
    1.9 after (one thread, another run beside it)."""
    lr_cr: float = 2e-3
    """Adam learning rate of the CR pair classifier (InfoGAN-CR: 2e-3)."""
    cr_share_noise: bool = True
    """The two images of a CR pair share their noise ``z`` as well as code ``k``, so that they
    differ only in the other codes (InfoGAN-CR's released code does this). False = independent
    noise per image (this library before 2026-11-26)."""
    candidates: int = 4
    """Train this many short candidates and continue the one an unsupervised score prefers
    (1 = off; the paper trains one run). See :mod:`infogan.select`."""
    select_steps: int = 1_000
    """Steps of each candidate before selection (they count towards ``steps`` of the winner)."""
    select_later: list[int] = field(default_factory=list)
    """Later selection points, for successive halving (Jamieson & Talwalkar 2016): with any
    given, the selection at ``select_steps`` keeps the better half of the candidates (rounded
    up) instead of one, they train on to the next point, the better half of those go on, and
    the last point keeps one. The score ranks runs better the later it is read (README,
    "Choosing a run without labels"), and halving reads it late for only a few runs. Empty =
    one selection at ``select_steps``. CLI: ``--select-steps 1000,3000``."""
    select_rule: str = "score"
    """How the winner is chosen: ``score`` (max I(x; c)/ln K of its own code on real images) or
    ``consensus`` (the candidate whose partition of the real images agrees most, mean NMI, with
    the other candidates') or ``centrality`` (InfoGAN-CR's ModelCentrality: the candidate whose
    Q and generator agree most with the others', every code read). See :mod:`infogan.select`."""
    select_min_noise_use: float = NOISE_USE_WARN
    """Candidates whose generator's noise use (:meth:`infogan.model.InfoGAN.noise_use`: how
    much images of the same codes differ with ``z``, over how much images of different codes
    differ) is below this rank after all the others, whatever the rule. A generator that
    ignores ``z`` has collapsed to one image per code setting, which Q reads most confidently,
    so every rule, reading Q, would otherwise tend to keep it. 0 = off (runs saved before this
    existed)."""
    parallel: int = 1
    """Candidates trained at once, each in a worker process of its own (see
    :mod:`infogan.parallel`): on a CPU the threads are shared out between them (two 1-thread
    processes made 19 % more steps than one 2-thread process on a 2-core CPU); with several
    GPUs each gets one. 1 = one after another in this process. The same runs either way (up
    to the last bits of a CPU sum, whose split depends on the thread count)."""
    ddp: int = 1
    """Data-parallel processes per run (see :mod:`infogan.distributed`): each takes
    ``batch / ddp`` rows of every batch, gradients are averaged and batch norm uses the whole
    batch's statistics, so the run computes the same steps as one process. On CUDA one GPU
    each (``ddp`` GPUs needed); on a CPU, processes over gloo. Worth it when a step is
    compute-bound (the 64x64 networks, large batches); the paper's MNIST networks at batch 64
    are launch-bound on a GPU and gain nothing. Runs eagerly (no CUDA graph, no compile); with
    candidates, each candidate and the continued winner train this way (not with ``parallel``).
    1 = one process."""
    seed: int = 0
    """Seed of everything random: weights, data order, latent draws."""
    device: str = "auto"
    """cpu, cuda, cuda:N or auto (cuda when available)."""
    graph: str = "auto"
    """CUDA graphs for the step: auto (on CUDA, falling back to eager on failure), on, off."""
    compile: bool = False
    """``torch.compile`` (inductor) the step body: the many small elementwise kernels around
    the convolutions (batch norm, activations, losses, their gradients) fused into fewer. On
    CUDA the compiled body is then captured in the CUDA graph as the plain one is. The same
    function up to the order of float sums (a test checks the losses step by step); compiling
    costs about a minute at start and again at ``cr_start``. Off by default: not yet timed on a
    GPU (``infogan bench --path eager,compile,graph,compile+graph``)."""
    precision: str = "fp32"
    """fp32, tf32 (CUDA tensor cores for fp32 matmuls) or bf16 (CUDA autocast); CPU: fp32 only."""
    memory_format: str = "auto"
    """Layout of the networks' conv tensors: ``channels_last`` (NHWC), ``contiguous`` (NCHW) or
    ``auto`` (channels_last on CPU, where oneDNN's convolutions run NHWC natively and NCHW pays
    a reorder per call; contiguous on CUDA, where it was measured). The same function either way."""
    deterministic: bool = False
    """On CUDA: fixed cuDNN algorithms (``cudnn.deterministic``, no ``benchmark`` autotuning), so
    that two runs of one seed on one machine pick the same kernels. Without it, GPU runs of one
    seed were seen to diverge (timing-based kernel choice); with it, steps may be slower. Atomic
    adds in some backward kernels can still differ in the last bits. No effect on the CPU."""
    log_every: int = 50
    """Steps between rows of metrics.jsonl (averages over the steps since the last row)."""
    ckpt_every: int = 1_000
    """Steps between checkpoints (one is always written at the end)."""
    sample_every: int = 1_000
    """Steps between sample grids in samples/."""
    keep_ckpts: int = 3
    """How many recent checkpoints to keep (older ones are deleted)."""
    progress: bool = True
    """Show a progress bar."""
    tensorboard: bool = False
    """Also write the metrics rows and sample grids as TensorBoard events in ``RUN/tensorboard``
    (needs the optional ``tensorboard`` package; :mod:`infogan.tblog`)."""

    def latent(self) -> LatentSpec:
        """The model's parsed latent layout (:meth:`ModelConfig.latent`)."""
        return self.model.latent()

    def validate(self) -> TrainConfig:
        """Raise :class:`SpecError` naming the first impossible value; return self. Fields of
        an accepted kind are normalised in place (numpy numbers to Python's, a ``Path`` to
        ``str``), so that the config saves as JSON."""
        if not isinstance(self.model, ModelConfig):
            raise SpecError(f"model: must be a ModelConfig, got {type(self.model).__name__}")
        self.model.validate()
        _check_types(self, "")
        _check_finite(self, "")
        checks = [
            ("steps", self.steps >= 0, "must be >= 0"),
            ("batch", self.batch >= 2, "must be >= 2 (batch norm needs 2 samples)"),
            ("lr_d", self.lr_d > 0, "must be > 0"),
            ("lr_g", self.lr_g > 0, "must be > 0"),
            ("beta1", 0 <= self.beta1 < 1, "must be in [0, 1)"),
            ("beta2", 0 <= self.beta2 < 1, "must be in [0, 1)"),
            ("lambda_cat", self.lambda_cat >= 0, "must be >= 0"),
            ("lambda_cont", self.lambda_cont >= 0, "must be >= 0"),
            ("lambda_cont_start", self.lambda_cont_start >= 0, "must be >= 0"),
            ("lambda_cont_ramp", self.lambda_cont_ramp >= 0, "must be >= 0"),
            ("lambda_real", self.lambda_real >= 0, "must be >= 0"),
            (
                "lambda_real",
                self.lambda_real == 0 or bool(self.model.latent().cat_sizes),
                "needs a categorical code (it is an information term of categorical codes)",
            ),
            ("q_head_step", self.q_head_step in Q_HEAD_STEPS, "must be 'g' or 'd'"),
            (
                "q_head_step",
                self.q_head_step == "g" or self.info_in_d_step,
                "'d' needs info_in_d_step (else no loss would train the Q head)",
            ),
            (
                "lambda_real",
                self.lambda_real == 0 or self.q_head_step == "g",
                "needs q_head_step 'g' (it trains the Q head in G's step)",
            ),
            ("instance_noise", self.instance_noise >= 0, "must be >= 0"),
            ("d_translate", self.d_translate >= 0, "must be >= 0"),
            ("instance_noise_end", self.instance_noise_end >= 0, "must be >= 0"),
            ("r1_gamma", self.r1_gamma >= 0, "must be >= 0"),
            ("lambda_ms", self.lambda_ms >= 0, "must be >= 0"),
            (
                "lambda_ms",
                self.lambda_ms == 0 or self.model.noise_dim > 0,
                "needs noise z to seek modes with (--noise 0 has none)",
            ),
            ("ema_decay", 0 <= self.ema_decay < 1, "must be in [0, 1)"),
            ("g_steps", self.g_steps >= 1, "must be >= 1"),
            ("cr_weight", self.cr_weight >= 0, "must be >= 0"),
            ("cr_start", self.cr_start >= 0, "must be >= 0"),
            ("lr_cr", self.lr_cr > 0, "must be > 0"),
            ("candidates", self.candidates >= 1, "must be >= 1"),
            (
                "candidates",
                self.candidates <= MAX_CANDIDATES,
                f"must be <= {MAX_CANDIDATES} (start i trains seed * 1000 + i)",
            ),
            (
                "seed",
                0 <= self.seed <= MAX_CONFIG_SEED,
                f"must be in 0..{MAX_SEED} (a candidate start's, seed * 1000 + i, up to "
                f"{MAX_CONFIG_SEED})",
            ),
            ("parallel", self.parallel >= 1, "must be >= 1"),
            ("ddp", self.ddp >= 1, "must be >= 1"),
            (
                "ddp",
                self.ddp == 1 or self.batch % self.ddp == 0,
                f"must divide the batch ({self.batch}) into equal shares",
            ),
            (
                "ddp",
                self.ddp == 1 or self.parallel == 1,
                "must be 1 when parallel is above 1 (parallel trains candidates side by "
                "side; ddp splits each run's batch over processes)",
            ),
            (
                "ddp",
                self.ddp == 1 or not self.compile,
                "must be 1 with compile (data-parallel steps run eagerly)",
            ),
            (
                "ddp",
                self.ddp == 1 or self.graph != "on",
                "must be 1 with graph 'on' (data-parallel steps run eagerly; use graph auto)",
            ),
            ("select_steps", self.select_steps >= 1, "must be >= 1"),
            (
                "select_later",
                all(
                    isinstance(b, int) and b > a
                    for a, b in zip(
                        [self.select_steps, *self.select_later], self.select_later, strict=False
                    )
                ),
                "must be whole numbers of steps, each later than the one before "
                "(and than select_steps)",
            ),
            ("log_every", self.log_every >= 1, "must be >= 1"),
            ("ckpt_every", self.ckpt_every >= 1, "must be >= 1"),
            ("sample_every", self.sample_every >= 1, "must be >= 1"),
            ("keep_ckpts", self.keep_ckpts >= 1, "must be >= 1"),
        ]
        checks += [
            ("graph", self.graph in ("auto", "on", "off"), "must be auto, on or off"),
            ("precision", self.precision in ("fp32", "tf32", "bf16"), "must be fp32, tf32 or bf16"),
            (
                "select_rule",
                self.select_rule in SELECT_RULES,
                f"must be one of {', '.join(SELECT_RULES)}",
            ),
            (
                "select_min_noise_use",
                0 <= self.select_min_noise_use <= 1,
                "must be between 0 (off) and 1 (noise use is a share: images of one code "
                "setting differ by it of what images of different settings differ by)",
            ),
            (
                "memory_format",
                self.memory_format in ("auto", "channels_last", "contiguous"),
                "must be auto, channels_last or contiguous",
            ),
        ]
        for name, ok, why in checks:
            if not ok:
                raise SpecError(f"{name}: {why}, got {getattr(self, name)}")
        return self

    # ---- JSON round trip ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, ``model`` nested (what ``config.json`` holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys and values of the wrong type raise
        SpecError."""
        if not isinstance(d, dict):
            raise SpecError(f"config: expected an object, got {type(d).__name__}")
        # A deep copy: the config's lists (select_later) were the caller's, so appending to
        # cfg.select_later changed the dict it was made from.
        d = copy.deepcopy(d)
        # Fields whose default changed after runs were saved without them: such a config keeps
        # the behaviour it was trained with, so a resumed run stays the same run.
        if d.keys() >= _ALWAYS_SAVED:
            for key, before in _LEGACY_DEFAULTS.items():
                d.setdefault(key, before)
        model = _from_dict(ModelConfig, d.pop("model", {}), "model")
        cfg = _from_dict(cls, d, "config")
        cfg.model = model
        return cfg

    def save(self, path: str | Path) -> None:
        """Write the config as JSON, atomically: ``config.json`` marks a folder as a run, and a
        kill mid-write must not leave one that can be neither resumed nor reused."""
        path = as_path(path, "config")
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a ``config.json``; an unreadable file, or one whose fields are of the wrong
        kind, raises :class:`SpecError`. The values' ranges are checked by :meth:`validate`
        (``train`` calls it): a config of ``steps: -5`` loads, to be refused there."""
        path = as_path(path, "config")
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except UnicodeDecodeError:
            # A checkpoint or an export given as --config: the codec's byte offsets said nothing.
            raise SpecError(
                f"config: {path} is not a JSON config but a binary file (give a run's config.json)"
            ) from None
        except (OSError, json.JSONDecodeError) as e:
            raise SpecError(f"config: cannot read {path}: {e}") from None
        except RecursionError:
            raise SpecError(f"config: cannot read {path}: nested too deeply") from None


#: TrainConfig fields that say how a run is carried out (its length, devices, logging), not
#: what it trains: two configs differing only in these train the same recipe.
RUN_FIELDS = frozenset(
    {
        "steps",
        "device",
        "eval_data",
        "ckpt_every",
        "sample_every",
        "log_every",
        "deterministic",
        "parallel",
        "ddp",
        "compile",
        "progress",
        "tensorboard",
        "keep_ckpts",
    }
)


#: TrainConfig fields that say how the steps are executed (CUDA graphs, matmul precision, memory
#: layout), not what they compute (up to rounding): a run may change them when it resumes, say a
#: run started on a GPU with ``graph="on"`` or ``precision="bf16"`` going on on a CPU, which
#: supports neither.
EXECUTION_FIELDS = frozenset({"graph", "precision", "memory_format"})


def recipe_differences(saved: TrainConfig, wanted: TrainConfig) -> list[str]:
    """The recipe fields where ``wanted`` differs from a run's ``saved`` config, as
    ``"lr_d 0.0002 there, 0.0001 here"`` strings (empty: the same recipe).

    Run fields (:data:`RUN_FIELDS`) are ignored, and so is ``model.channels`` where ``wanted``
    leaves it to the data (None): a saved config holds the channels the data had. With one
    start on both sides, so are the fields of a selection (:data:`SELECTION_FIELDS`): nothing
    is chosen, whatever they say."""
    for name, cfg in (("saved", saved), ("wanted", wanted)):
        if not isinstance(cfg, TrainConfig):
            raise SpecError(f"{name}: expected a TrainConfig, got {type(cfg).__name__}")
    a, b = saved.to_dict(), wanted.to_dict()
    ma, mb = a.pop("model"), b.pop("model")
    if mb.get("channels") is None:
        mb["channels"] = ma.get("channels")
    skip = RUN_FIELDS | (SELECTION_FIELDS if a["candidates"] == b["candidates"] == 1 else set())
    diffs = [(k, a.get(k), b.get(k)) for k in b if k not in skip and a.get(k) != b.get(k)]
    diffs += [(f"model.{k}", ma.get(k), mb.get(k)) for k in mb if ma.get(k) != mb.get(k)]
    return [f"{k} {x!r} there, {y!r} here" for k, x, y in diffs]


#: TrainConfig fields that only say how one start among several is chosen.
SELECTION_FIELDS = frozenset(
    {"select_steps", "select_later", "select_rule", "select_min_noise_use"}
)

#: Config keys absent from configs saved before they existed -> the behaviour those runs had.
#: They apply to a config that holds every field the first saved configs held (so one the
#: library wrote, of any age), not to a config written by hand that leaves fields out: its
#: missing fields take today's defaults, as documented for --config.
_LEGACY_DEFAULTS: dict[str, Any] = {
    "cr_share_noise": False,
    "cr_pretrain": True,
    "select_min_noise_use": 0.0,
}

#: The fields every saved config.json has held since the first release.
_ALWAYS_SAVED = frozenset(
    {
        "model",
        "data",
        "eval_data",
        "steps",
        "batch",
        "lr_d",
        "lr_g",
        "lambda_cat",
        "lambda_cont",
        "info_in_d_step",
        "seed",
        "device",
        "log_every",
        "ckpt_every",
        "sample_every",
        "keep_ckpts",
        "progress",
    }
)


def _from_dict(cls: type[_T], d: dict[str, Any], where: str) -> _T:
    if not isinstance(d, dict):
        raise SpecError(f"{where}: expected an object, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    for key, value in d.items():
        if key != "model" and not _has_type(value, hints[key]):
            raise SpecError(
                f"{where}: field {key} must be {_type_name(hints[key])}, got {value!r} "
                f"({type(value).__name__})"
            )
    return cls(**d)


def _has_type(value: Any, tp: Any) -> bool:
    """Whether a JSON value fits a field's annotation (the few kinds configs use).

    JSON has one number type, so an int is a valid float; a bool is not a number here, and a
    float is not an int even when whole (``62.0`` noise dimensions is a typo, not a size)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arg) for arg in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {
        type(None): "null",
        bool: "true/false",
        int: "a whole number",
        float: "a number",
        str: "a string",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _check_types(cfg: Any, prefix: str) -> None:
    """Refuse a field set from Python to a value of the wrong kind (``cfg.select_steps =
    "1000,3000"`` failed deep inside with ``'>' not supported between str and int``), as
    :meth:`TrainConfig.from_dict` refuses it in a file. numpy scalars count as their Python
    kind."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        if f.name == "model":
            continue
        value = getattr(cfg, f.name)
        plain = value.item() if isinstance(value, np.generic) else value
        if isinstance(plain, os.PathLike):  # cfg.data = Path("my_photos"): a path is a path
            plain = os.fspath(plain)
        if isinstance(plain, list | tuple):  # select_later=(3000,) is the list it means
            plain = [v.item() if isinstance(v, np.generic) else v for v in plain]
        if not _has_type(plain, hints[f.name]):
            hint = ""
            if f.name == "select_steps":
                hint = " (several points: select_steps=1000, select_later=[3000])"
            raise SpecError(
                f"{prefix}{f.name}: must be {_type_name(hints[f.name])}, got {value!r}{hint}"
            )
        if plain is not value:
            setattr(cfg, f.name, plain)


def _check_finite(cfg: Any, prefix: str) -> None:
    """Reject infinite numbers (NaN fails each field's own range check): an infinite learning
    rate or weight passes ``> 0`` and only shows as non-finite losses after training started."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{prefix}{f.name}: must be a finite number, got {value}")


def _paper() -> TrainConfig:
    """Chen et al. 2016, appendix C, MNIST: Cat(10) + 2 Uniform codes, noise 62, Adam 2e-4 / 1e-3;
    one run, no selection."""
    return TrainConfig(candidates=1)


def _default() -> TrainConfig:
    """The paper's recipe, plus two things.

    DiffAugment translation (``d_translate=2``): every image D and Q read is shifted by up to 2
    pixels, so D cannot memorise a small training set (``mnist5k`` is 5,000 images). On the CPU
    screen (half width, 12 runs) it moved the median test accuracy from 0.775 to 0.875 at 4,000
    steps, and the two best of those, run on to 12,000 steps, ended at 0.961 and 0.968 (README,
    "Results"). Turn it off (``--d-translate 0``) where small shifts change what an image means.

    4 candidate starts trained 1,000 steps each; the two whose Q splits the unlabelled training
    images most confidently and evenly (max I(x; c)/ln K) go on to 3,000 steps, and the better of
    those is continued to the end (successive halving). The score ranks runs better the later it
    is read, so the last choice is made at 3,000 steps, but for two runs only. With one choice at
    1,000 steps, 28 GPU runs of the paper recipe ended below 0.80 test accuracy 26 % of the time
    with one start and 9 % with this selection (4.6 % with the halving, simulated from the same
    runs); on the CPU at half width, 10,000 steps, four seeds of this default all ended at
    0.958-0.964 (README, "Results")."""
    return TrainConfig(candidates=4, select_steps=1_000, select_later=[3_000], d_translate=2)


def _dsprites() -> TrainConfig:
    """dSprites-like 64x64 images, 5 continuous codes + 5 noise dims and InfoGAN-CR's small
    64x64 networks (``conv64s``: its dSprites latent and networks, with which its published
    scores were made). Not yet measured on a GPU; on the CPU, 5,500 steps of seed 0 scored
    FactorVAE 0.657, MIG 0.100 (README, "dSprites on the CPU").

    The paper's chairs networks (``--arch conv64``) cost 308 GFLOP per step at batch 64; on an
    H100 four such runs sharing the GPU made ~9 CR steps/s each in fp32, far too few for a
    10-minute budget. tf32 on CUDA (a no-op on the CPU) puts either on the tensor cores.

    InfoGAN-CR's dSprites settings otherwise, as its released dSprites configuration
    (``InfoGAN-CR_dSprites/config.py``) gives them: Adam lr 1e-3 for G, 2e-3 for D (and for the
    CR classifier, ``lr_cr``'s default); information weight 0.05 on the sum over codes of
    ``-log q``, in G's step and in D's (``info_in_d_step``: its D/Q update minimises the same
    weighted term); Q's Gaussian for each continuous code with a fixed std of 1. The CR
    regulariser itself stays off here (``--cr-weight``, ``--cr-start``): that configuration
    switches it on, at weight 2, for the last ~11 % of training (step 288,000 of ~322,000).
    Two G updates per step (``g_steps=2``), as its training loop runs them. Its latent: noise
    of 5 Uniform(-1, 1) dimensions (``noise_dist``). Its routing: the Q head belongs to the
    discriminator and learns in D's update only (``q_head_step="d"``). Spectral normalisation
    of every discriminator layer, the Q head's included, and of its CR classifier bar the
    output layer (``spectral_norm``, ``sn_scope="all"``); no batch norm in either. Not
    reproduced: its power iteration runs once per step (here once per training forward)."""
    return TrainConfig(
        model=ModelConfig(
            codes="cont:5",
            noise_dim=5,
            noise_dist="uniform",
            arch="conv64s",
            fixed_std=1.0,
            spectral_norm=True,
            sn_scope="all",
        ),
        data="dsprites",
        lr_d=2e-3,
        lr_g=1e-3,
        lambda_cont=0.05,
        info_in_d_step=True,
        q_head_step="d",
        g_steps=2,
        steps=20_000,
        candidates=1,
        precision="tf32",
    )


def _svhn() -> TrainConfig:
    """The paper's SVHN experiment (Chen et al. 2016, section 6 and appendix C): 4 ten-way
    categorical codes and 4 continuous ones, noise 124, the paper's 32x32 networks
    (``conv32``) on SVHN's colour digits (``infogan download svhn``), on top of the default
    recipe's robustness (translation, 4 starts with successive halving). Not yet measured."""
    cfg = _default()
    cfg.data = "svhn"
    cfg.model = ModelConfig(
        codes=",".join(["cat:10"] * 4 + ["cont:4"]), noise_dim=124, arch="conv32", channels=3
    )
    return cfg


def _celeba() -> TrainConfig:
    """The paper's CelebA experiment (section 6, appendix C): 10 ten-way categorical codes,
    noise 128, the same 32x32 networks (``conv32``) on CelebA's aligned faces, centre-cropped
    and resized to 32x32 (the folder must be fetched by hand: ``infogan.data.registry``), on top
    of the default recipe's robustness. Not yet measured."""
    cfg = _default()
    cfg.data = "celeba"
    cfg.model = ModelConfig(
        codes=",".join(["cat:10"] * 10), noise_dim=128, arch="conv32", channels=3
    )
    return cfg


#: Named presets: name -> (factory, one-line description).
PRESETS: dict[str, tuple[Any, str]] = {
    "default": (
        _default,
        "the paper's recipe + DiffAugment translation (2 px) + the best of 4 starts (no labels: "
        "best 2 at step 1,000, best at 3,000)",
    ),
    "paper": (
        _paper,
        "the paper's MNIST recipe (appendix C): cat:10,cont:2, noise 62, batch 64, one start",
    ),
    "mnist": (_paper, "alias of 'paper'"),
    "dsprites": (
        _dsprites,
        "dSprites-like 64x64: InfoGAN-CR's released dSprites setup (conv64s nets, cont:5, "
        "uniform noise 5); CR off: add --cr-weight 2 --cr-start N",
    ),
    "svhn": (
        _svhn,
        "the paper's SVHN setup: 4 x cat:10 + cont:4, noise 124, conv32 nets, colour 32x32 "
        "(infogan download svhn), with the default recipe's translation and selection",
    ),
    "celeba": (
        _celeba,
        "the paper's CelebA setup: 10 x cat:10, noise 128, conv32 nets, faces resized to 32x32 "
        "(img_align_celeba by hand), with the default recipe's translation and selection",
    ),
}


def preset(name: str) -> TrainConfig:
    """A fresh :class:`TrainConfig` for a named preset."""
    try:
        factory, _ = PRESETS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name, say a list
        raise SpecError(f"preset: unknown {name!r}; choose from {', '.join(PRESETS)}") from None
    return factory()


def _document_fields(*classes: type) -> None:
    """Append each field's attribute docstring (the string under it in the class body) to the
    class docstring, so that ``help(TrainConfig)`` lists every field with its meaning, default
    and type (Python keeps attribute docstrings only in the source). Best effort: without the
    source (a frozen build), the class docstrings stay as they are."""
    import ast
    import inspect

    try:
        tree = ast.parse(inspect.getsource(sys.modules[__name__]))
    except (OSError, TypeError, SyntaxError):
        return
    bodies = {n.name: n.body for n in tree.body if isinstance(n, ast.ClassDef)}
    for cls in classes:
        body = bodies.get(cls.__name__, [])
        defaults = {f.name: f for f in dataclasses.fields(cls)}
        lines = []
        for stmt, nxt in zip(body, body[1:], strict=False):
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            name = stmt.target.id
            if name not in defaults:
                continue
            doc = ""
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
                doc = " ".join(str(nxt.value.value).split())
            f = defaults[name]
            if f.default is not dataclasses.MISSING:
                default = repr(f.default)
            elif f.default_factory in (list, dict):
                default = repr(f.default_factory())
            else:
                default = f"a fresh {f.type}"
            lines.append(f"    {name} ({f.type}, default {default}): {doc}")
        if lines:
            cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n\n    Fields:\n" + "\n".join(lines)


_document_fields(ModelConfig, TrainConfig)
