"""Export a trained generator for use outside this library: safetensors, TorchScript, ONNX or pt2.

Every export writes two files: the model file at ``PATH`` and a sidecar ``PATH.json`` that says how
to use it (the run's config, the latent layout, which generator was taken). The sidecar's name
appends ``.json`` rather than replacing the suffix, so exports of one run in several formats
(``g.safetensors``, ``g.pt``, ``g.onnx``) never share, and never overwrite, one sidecar.

Formats:

* ``safetensors`` (default): weights only, no code. ``what="generator"`` stores the chosen
  generator under ``generator.*``; ``what="all"`` stores every network (G, its EMA copy, D/Q body
  and heads). :func:`load_generator` rebuilds a generator from the pair of files.
* ``torchscript``: ``torch.jit.trace`` of :class:`LatentGenerator`, which maps one latent vector
  ``[N, input_dim]`` (layout in the sidecar) to images ``[N, C, H, W]`` in [-1, 1]; loads with
  ``torch.jit.load`` and no infogan installed. The sidecar also rides inside the archive.
* ``onnx``: the same module through ``torch.onnx`` (needs ``pip install onnx``), batch axis dynamic.
* ``pt2``: the same module as a ``torch.export`` program (``torch.export.load(p).module()``),
  PyTorch's successor to TorchScript (which recent torch deprecates), batch axis dynamic; the
  sidecar rides inside as ``extra/infogan.json``. torch says a ``.pt2`` may not load in a newer
  torch than the one that wrote it, and that its loader can unpickle: load only files you trust.

>>> from infogan.export import export_model
>>> export_model("runs/mnist", "g.safetensors")   # g.safetensors + g.safetensors.json
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from infogan.archs import check_saved_arch
from infogan.atomic import atomic_write_bytes, unwritable
from infogan.config import TrainConfig
from infogan.errors import CheckpointError, InfoGANError, SpecError, as_path, brief
from infogan.latent import Categorical, LatentSpec
from infogan.model import InfoGAN, load_run
from infogan.nets import nets_to_load
from infogan.runinfo import written_by

__all__ = [
    "EXPORT_FORMAT",
    "FORMATS",
    "WHAT",
    "ExportResult",
    "LatentGenerator",
    "export_model",
    "latent_layout",
    "load_generator",
    "sidecar_path",
]

#: Output formats, the first is the default.
FORMATS = ("safetensors", "torchscript", "onnx", "pt2")
#: What a safetensors export holds: the generator only, or every network.
WHAT = ("generator", "all")
#: ``format`` field of every sidecar, so readers can tell our JSON from any other.
EXPORT_FORMAT = "infogan-export"
#: Sidecar schema version; bump when a field changes meaning.
EXPORT_VERSION = 1
#: Name of the sidecar inside a TorchScript or pt2 archive (``torch.jit.load(..., _extra_files=...)``,
#: ``torch.export.load(..., extra_files=...)``).
TORCHSCRIPT_EXTRA = "infogan.json"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        model_path: the weights / program file.
        sidecar_path: the JSON description beside it.
        generator: ``"generator_ema"`` or ``"generator"``: which generator the file holds (for
            ``what="all"``: the one :attr:`InfoGAN.generate` would draw from).
        step: the training step of the exported checkpoint.
    """

    model_path: Path
    sidecar_path: Path
    generator: str
    step: int


class LatentGenerator(nn.Module):
    """G as one function of one vector: latent ``[N, input_dim]`` -> images ``[N, C, H, W]``.

    The latent is ``[z | one-hot(cat1) | one-hot(cat2) | ... | cont1 | cont2 | ...]`` with z drawn
    from the run's noise prior (N(0, I), or U(-1, 1) with ``noise_dist="uniform"``). The run's
    ``noise_scale`` gain on z is applied here (a constant per-column multiplier), so users of
    the exported module never need to know it.
    """

    gain: torch.Tensor

    def __init__(self, generator: nn.Module, spec: LatentSpec) -> None:
        super().__init__()
        self.generator = generator
        gain = torch.ones(spec.input_dim)
        gain[: spec.noise_dim] = spec.noise_scale
        # A buffer, not a Python float branch: traces and ONNX graphs stay one straight line.
        self.register_buffer("gain", gain, persistent=False)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.generator(latent * self.gain)


#: Each noise prior (LatentSpec.noise_dist) as the sidecar names it: per column in the layout,
#: for the whole z vector in ``input.z``. One table, so the two descriptions cannot disagree.
_NOISE_PRIORS = {
    "normal": ("normal(0, 1)", "N(0, I)"),
    "uniform": ("uniform(-1, 1)", "U(-1, 1) per column"),
}


def sidecar_path(path: str | Path) -> Path:
    """The sidecar JSON of an exported file: ``PATH.json`` (``g.safetensors.json``)."""
    path = as_path(path, "export")
    return path.with_name(path.name + ".json")


def latent_layout(spec: LatentSpec) -> list[dict[str, Any]]:
    """Column ranges of each part of the latent vector, in the order they appear in it.

    One entry for z, then one per categorical code (one-hot, in spec order), then one per
    continuous code: ``{"name", "kind", "offset", "size", ...}``.
    """
    layout: list[dict[str, Any]] = [
        {
            "name": "z",
            "kind": "noise",
            "offset": 0,
            "size": spec.noise_dim,
            "distribution": _NOISE_PRIORS[spec.noise_dist][0],
            "noise_scale": spec.noise_scale,
        }
    ]
    offset = spec.noise_dim
    cats, conts = [], []
    for i, (name, code) in enumerate(zip(spec.names, spec.codes, strict=True)):
        if isinstance(code, Categorical):
            cats.append((i, name, code.k))
        else:
            conts.append((i, name))
    # Categorical one-hots come first whatever the spec order (see infogan.latent).
    for _, name, k in cats:
        layout.append(
            {
                "name": name,
                "kind": "categorical",
                "offset": offset,
                "size": k,
                "encoding": "one-hot",
            }
        )
        offset += k
    for _, name in conts:
        layout.append(
            {
                "name": name,
                "kind": "continuous",
                "offset": offset,
                "size": 1,
                "distribution": "uniform(-1, 1)",
            }
        )
        offset += 1
    return layout


def export_model(
    source: str | Path,
    out: str | Path,
    fmt: str = "safetensors",
    *,
    what: str = "generator",
    ema: bool | None = None,
    force: bool = False,
) -> ExportResult:
    """Export a run directory's newest checkpoint (or one checkpoint file) to ``out``.

    Args:
        source: run directory or checkpoint file.
        out: the model file to write; its sidecar goes to :func:`sidecar_path` ``(out)``.
        fmt: one of :data:`FORMATS`.
        what: ``"generator"`` or ``"all"`` (every network; safetensors only).
        ema: ``None`` takes the generator ``infogan sample`` draws from (the EMA copy when the run
            kept one); ``True`` insists on the EMA copy; ``False`` takes the raw generator.
        force: replace existing output files (otherwise they are an error).

    Raises:
        SpecError: unknown format or ``what``, output directory missing, output exists, ``ema=True``
            on a run without an EMA generator.
        CheckpointError: ``source`` is missing or holds no usable model.
        InfoGANError: ONNX asked for without the ``onnx`` package.
    """
    source, out = as_path(source, "export: source"), as_path(out, "export: out")
    if fmt not in FORMATS:
        raise SpecError(f"export: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if what not in WHAT:
        raise SpecError(f"export: unknown --what {what!r}; choose from {', '.join(WHAT)}")
    if what == "all" and fmt != "safetensors":
        raise SpecError(
            "export: --what all is for safetensors; TorchScript/ONNX/pt2 hold the generator"
        )
    out = Path(out)
    if fmt == "pt2" and not out.name.endswith(".pt2"):
        # torch.export.load warns of any other name ("f must be ... a file ending in .pt2").
        raise SpecError(f"export: a pt2 program's file name ends in .pt2 (torch's rule), not {out}")
    side = sidecar_path(out)
    _check_output(out, side, force)
    if fmt == "onnx":
        # Checked before loading the model so the user learns it at once; imported, not only
        # found: an onnx whose own dependencies are missing failed deep in torch's exporter.
        try:
            import onnx  # noqa: F401
        except ImportError as e:
            raise InfoGANError(
                f"export: the onnx format needs a working onnx package ({brief(e)}); "
                "pip install onnx"
            ) from None
    if not Path(source).exists():
        raise CheckpointError(f"export: {source} does not exist")
    if Path(source).resolve() in (out.resolve(), side.resolve()):  # --force replaced it
        raise SpecError(f"export: {source} is the checkpoint exported from; write elsewhere")

    model = load_run(source, device="cpu")
    gen_name = _choose_generator(model, ema)
    generator: nn.Module = getattr(model.nets, gen_name)
    meta = _sidecar(model, source, fmt, what, gen_name)

    if fmt == "safetensors":
        data = _safetensors_bytes(model, generator, what, meta)
    else:
        wrapper = LatentGenerator(generator, model.spec).eval()
        example = _example_latent(model.spec, n=2)
        if fmt == "torchscript":
            data = _torchscript_bytes(wrapper, example, meta)
        elif fmt == "pt2":
            data = _pt2_bytes(wrapper, example, meta)
        else:
            data = _onnx_bytes(wrapper, example)
    # Two atomic writes, undone together on an error (a full disk, Ctrl-C): the small sidecar
    # first, so a failure there changes nothing; if the model's write then fails, the sidecar
    # goes back to what it was (a full disk left a model without its sidecar, and the retry
    # was refused as "already exists"). A power cut between them can still pair a new
    # sidecar with an old model; the safetensors, TorchScript and pt2 files carry the same
    # description inside them, so those stay usable on their own.
    before = side.read_bytes() if side.is_file() else None
    atomic_write_bytes(side, (json.dumps(meta, indent=2) + "\n").encode())
    try:
        atomic_write_bytes(out, data)
    except BaseException:
        with contextlib.suppress(OSError):
            if before is None:
                side.unlink(missing_ok=True)
            else:
                atomic_write_bytes(side, before)
        raise
    return ExportResult(out, side, gen_name, model.step)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the generator of a safetensors export.

    The description comes from the sidecar ``PATH.json``, or, when that was not copied along,
    from the same JSON stored in the safetensors header. Returns the raw generator in eval mode:
    it reads the latent as :meth:`LatentSpec.assemble` builds it (z already multiplied by
    ``noise_scale``); wrap it in :class:`LatentGenerator` to feed plain z from the run's noise
    prior instead.
    """
    import safetensors
    from safetensors.torch import load_file

    # Named SafetensorError in current releases; fall back for older ones rather than pin.
    st_error = getattr(safetensors, "SafetensorError", Exception)
    path = as_path(path, "export")
    if not path.is_file():
        raise CheckpointError(f"export: {path} does not exist")
    try:
        meta = _read_description(path)
        if meta.get("export_format") != "safetensors":
            raise CheckpointError(f"export: {path} is a {meta.get('export_format')} export")
        check_saved_arch(meta.get("config"), f"export: {path}")
        cfg = TrainConfig.from_dict(meta["config"])
        tensors = load_file(str(path), device="cpu")
        nets = nets_to_load(cfg.model, contrastive=cfg.cr_weight > 0, ema=cfg.ema_decay > 0)
        if meta["what"] == "all":
            nets.load_state_dict(tensors)
            # Only the two generator attributes: the name comes from a file, not from us.
            name = meta["generator"]
            generator = nets.generator_ema if name == "generator_ema" else nets.generator
            if generator is None or name not in ("generator", "generator_ema"):
                raise KeyError(f"generator {name!r}")
        else:
            generator = nets.generator
            prefix = "generator."
            generator.load_state_dict(
                {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
            )
    except (KeyError, TypeError, RuntimeError, SpecError, AttributeError, st_error) as e:
        reason = brief(e)
        raise CheckpointError(f"export: {path} does not rebuild a generator ({reason})") from None
    from infogan.devices import resolve_device  # "auto"; a clear error for a missing GPU

    return generator.eval().to(resolve_device(device))


# ---- helpers --------------------------------------------------------------------------------------


def _read_description(path: Path) -> dict[str, Any]:
    """The export description: the sidecar if present, else the safetensors header's copy."""
    from safetensors import safe_open

    side = sidecar_path(path)
    try:
        if side.is_file():
            text = side.read_text()
        else:
            with safe_open(str(path), framework="pt") as f:
                text = (f.metadata() or {}).get("infogan", "")
        meta = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"export: no readable description of {path} ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"export: {side} is not an infogan export description")
    return meta


def _check_output(out: Path, side: Path, force: bool) -> None:
    """Refuse before any work: a missing parent (a typo, not a wish to create folders), a
    directory in the way, or existing files without ``force``."""
    parent = out.parent
    if not parent.is_dir():
        raise SpecError(f"export: output directory {parent} does not exist")
    for p in (out, side):
        if p.is_dir():
            raise SpecError(f"export: {p} is a directory")
        holder = written_by(p)
        if holder is not None:  # --force is for earlier exports, not a run's checkpoints
            raise SpecError(f"export: {p} is a file of {holder}; write elsewhere")
        if p.exists() and not force:
            raise SpecError(f"export: {p} already exists; pass --force to replace it")
        why = unwritable(p)
        if why is not None:
            raise SpecError(f"export: {why}")


def _choose_generator(model: InfoGAN, ema: bool | None) -> str:
    has_ema = model.nets.generator_ema is not None
    if ema and not has_ema:
        raise SpecError("export: --ema: this run kept no EMA generator (trained with ema_decay 0)")
    if ema is None:
        ema = has_ema  # what `infogan sample` draws from (InfoGANNets.sampler)
    return "generator_ema" if ema else "generator"


def _sidecar(model: InfoGAN, source: str | Path, fmt: str, what: str, gen: str) -> dict[str, Any]:
    spec = model.spec
    c, h, w = model.nets.image_shape
    raw_input = fmt == "safetensors"
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "export_format": fmt,
        "what": what,
        "generator": gen,
        "source": str(source),
        "step": model.step,
        "config": model.cfg.to_dict(),
        "latent": {
            **spec.to_dict(),
            "noise_scale": spec.noise_scale,
            "input_dim": spec.input_dim,
            "names": spec.names,
            "labels": spec.labels,
            "layout": latent_layout(spec),
        },
        "input": {
            "name": "latent",
            "shape": ["N", spec.input_dim],
            "dtype": "float32",
            # The raw generator (safetensors) reads noise_scale * z; the traced/ONNX/pt2 module
            # applies that gain itself and reads plain z, drawn from the run's own prior.
            "z": "noise_scale * z" if raw_input else _plain_z(spec),
        },
        "output": {
            "name": "images",
            "shape": ["N", c, h, w],
            "dtype": "float32",
            "range": [-1.0, 1.0],
        },
        # Which class each categorical value draws (the run's saved mapping of this step, as
        # `sample --label` uses it): without it an export's user cannot ask for a "7".
        "class_of_value": _class_of_value(model),
        # The values no labelled image took: their class above is a guess (the most frequent).
        "unseen_values": _unseen_values(model),
    }


def _class_of_value(model: InfoGAN) -> dict[str, dict[str, str]]:
    """``{"c1": {"0": "7", ...}}`` for each categorical code with a current label mapping."""
    from infogan.labels import current_labels

    named, _ = current_labels(model)
    out = {}
    for name, labels in named.items():
        k = model.spec.codes[model.spec.index_of(name)].k  # type: ignore[union-attr]
        out[name] = {
            str(v): str(c) for v, c in zip(range(k), labels.apply(list(range(k))), strict=True)
        }
    return out


def _unseen_values(model: InfoGAN) -> dict[str, list[int]]:
    """``{"c1": [4, 9]}``: the values of each labelled categorical code that no image of the
    labelled data took (empty codes left out)."""
    from infogan.labels import current_labels

    named, _ = current_labels(model)
    return {name: sorted(labels.unseen) for name, labels in named.items() if labels.unseen}


def _plain_z(spec: LatentSpec) -> str:
    """How to draw the z that a TorchScript / ONNX / pt2 export reads, for the sidecar's ``input``."""
    return f"z ~ {_NOISE_PRIORS[spec.noise_dist][1]}; noise_scale applied inside"


def _example_latent(spec: LatentSpec, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    lat = spec.sample(n, generator=g)
    # Undo the gain that assemble applies: LatentGenerator applies it itself.
    x = spec.assemble(lat)
    x[:, : spec.noise_dim] = lat.z
    return x


def _safetensors_bytes(
    model: InfoGAN, generator: nn.Module, what: str, meta: dict[str, Any]
) -> bytes:
    from safetensors.torch import save

    if what == "all":
        state = model.nets.state_dict()
    else:
        state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    # safetensors refuses views and shared storage: give every tensor its own contiguous copy.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    # The description also rides in the header, so a .safetensors file copied alone still says
    # how to rebuild and feed its generator.
    return save(tensors, metadata={"format": EXPORT_FORMAT, "infogan": json.dumps(meta)})


def _torchscript_bytes(wrapper: nn.Module, example: torch.Tensor, meta: dict[str, Any]) -> bytes:
    with warnings.catch_warnings():
        # torch >= 2.9 marks torch.jit as deprecated (a DeprecationWarning, from 2.14 a
        # FutureWarning per call); TorchScript is still what this format is, and the user chose it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", r"`torch\.jit\.", FutureWarning)
        with torch.no_grad():
            traced = torch.jit.trace(wrapper, (example,))
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={TORCHSCRIPT_EXTRA: json.dumps(meta)})
    return buf.getvalue()


def _pt2_bytes(wrapper: nn.Module, example: torch.Tensor, meta: dict[str, Any]) -> bytes:
    # min=1: a batch of one is a use like any other. The example has 2 rows because torch.export
    # specialises a dimension whose example size is 0 or 1 (the trace would fix the batch).
    batch = torch.export.Dim("N", min=1)
    program = torch.export.export(wrapper, (example,), dynamic_shapes={"latent": {0: batch}})
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={TORCHSCRIPT_EXTRA: json.dumps(meta)})
    return buf.getvalue()


def _onnx_bytes(wrapper: nn.Module, example: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # The TorchScript-based exporter needs only `onnx`; the dynamo one also needs onnxscript.
        torch.onnx.export(
            wrapper,
            (example,),
            # A file object: torch's stubs say path, but the TorchScript-based exporter writes
            # to any binary file (tested); in memory, the caller writes it out atomically.
            buf,  # type: ignore[arg-type]
            dynamo=False,
            input_names=["latent"],
            output_names=["images"],
            dynamic_axes={"latent": {0: "N"}, "images": {0: "N"}},
        )
    return buf.getvalue()
