"""Label new images with the classes a run's categorical codes found, and tabulate Q's codes.

Training never sees labels, so a categorical code's values come in no particular order. When a
run is evaluated on labelled data (``infogan evaluate RUN --data ...``, or ``--eval-data`` at
the end of training), each code's values are matched to the labels (Hungarian matching,
:func:`infogan.metrics.cluster_accuracy`) and the mapping is saved in ``RUN/report.json``,
with the class names where the labels came from class folders. This module reads it back:
:meth:`infogan.InfoGAN.label` uses it in Python, ``infogan encode`` in the shell.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infogan.errors import SpecError
from infogan.metrics.clustering import apply_mapping

if TYPE_CHECKING:
    from infogan.latent import LatentSpec
    from infogan.model import InfoGAN

__all__ = [
    "CodeLabels",
    "SavedLabels",
    "code_table",
    "current_labels",
    "labels_from_report",
    "read_code_labels",
    "run_dir_of",
    "write_table",
]


@dataclass(frozen=True)
class CodeLabels:
    """What one categorical code's values mean: code value -> label, the labels' names, and
    the training step of the model the mapping was made for (values can swap meaning as
    training goes on)."""

    mapping: dict[int, int]
    classes: list[str] | None = None
    step: int | None = None
    #: :meth:`InfoGAN.weights_digest` of the model it was made for (None in reports written
    #: before it was recorded: the step is then all there is to check).
    weights: str | None = None
    #: The values no image of the labelled data took: their labels are guesses (the most
    #: frequent class), shown as :data:`UNSEEN` in figures and left out by ``sample --label``.
    unseen: frozenset[int] = frozenset()

    def apply(self, values: Any) -> np.ndarray:
        """Labels of code values: class names where they are known, else the label numbers
        (an unseen value gets its guess: new images are labelled with something)."""
        values = np.asarray(values)
        if values.size == 0:
            return np.array([], dtype=object if self.classes else np.int64)
        labels = apply_mapping(values, self.mapping)
        return np.array(self.classes, dtype=object)[labels] if self.classes else labels

    def shown(self, values: Any) -> list[str]:
        """What figures and the explorer show for code values: the label, or :data:`UNSEEN`
        for a value whose label is a guess."""
        values = [int(v) for v in np.asarray(values).reshape(-1)]
        labels: list[Any] = list(self.apply(values)) if values else []
        return [UNSEEN if v in self.unseen else str(x) for v, x in zip(values, labels, strict=True)]


#: Shown for a categorical value that no image of the labelled data took.
UNSEEN = "unseen"


@dataclass(frozen=True)
class SavedLabels:
    """The label mappings of a run (per categorical code name), and why there are none or
    fewer than expected (``problem``: None when the report was fine or absent)."""

    codes: dict[str, CodeLabels]
    problem: str | None = None


def run_dir_of(path: str | Path) -> Path | None:
    """The run directory of a run directory or of one of its checkpoint files
    (``RUN/checkpoints/step_N.pt``); None for a checkpoint file kept anywhere else, whose
    run (and so whose report) is unknown."""
    p = Path(path)
    if not p.is_file():
        return p
    run = p.parent.parent
    if p.parent.name == "checkpoints" and (run / "config.json").is_file():
        return run
    return None


def _mapping(entry: Any, k: int) -> CodeLabels:
    """One code's entry of report.json's ``clustering``, checked against the code's K values:
    a mapping of every value 0..K-1 to a label >= 0, class names covering the labels."""
    if not isinstance(entry, dict) or not isinstance(entry.get("mapping"), dict):
        raise ValueError("no mapping object")
    mapping: dict[int, int] = {}
    for key, value in entry["mapping"].items():
        if not (str(key).isdigit() and isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError(f"mapping entry {key!r}: {value!r} is not value -> label")
        mapping[int(key)] = value
    if set(mapping) != set(range(k)) or min(mapping.values()) < 0:
        raise ValueError(
            f"the mapping does not take each of the code's values 0..{k - 1} to a label"
        )
    classes = entry.get("classes")
    if classes is not None:
        if not isinstance(classes, list) or len(classes) <= max(mapping.values()):
            raise ValueError("its class names do not cover the labels")
        classes = [str(c) for c in classes]
    unseen = entry.get("unseen", [])  # absent in reports written before it was recorded
    if not isinstance(unseen, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < k for v in unseen
    ):
        raise ValueError(f"its unseen values are not a list of values in 0..{k - 1}")
    return CodeLabels(mapping, classes, unseen=frozenset(unseen))


def read_code_labels(run_dir: str | Path | None, spec: LatentSpec) -> SavedLabels:
    """The label mappings ``infogan evaluate`` saved in ``run_dir/report.json`` for a model of
    latent ``spec`` (empty when the run was never scored on labelled data). A report of other
    codes, or one that cannot be read, gives none, with the reason in ``problem``."""
    if run_dir is None:
        return SavedLabels(
            {}, "a checkpoint file outside its run's checkpoints/ folder has no report"
        )
    path = Path(run_dir) / "report.json"
    if not path.exists():
        return SavedLabels({})
    try:
        rep = json.loads(path.read_text())
        if not isinstance(rep, dict):
            raise ValueError("not a report object")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return SavedLabels({}, f"{path} cannot be read ({e})")
    return labels_from_report(rep, spec, str(path))


def labels_from_report(rep: dict[str, Any], spec: LatentSpec, path: str = "report") -> SavedLabels:
    """:func:`read_code_labels` of a report already in memory (``path`` names it in
    problems)."""
    if rep.get("codes") != spec.spec:
        return SavedLabels(
            {}, f"{path} is of codes {rep.get('codes')!r}, not this model's {spec.spec!r}"
        )
    step = rep.get("step")
    weights = rep.get("weights")
    entries = rep.get("clustering") or {}
    if not isinstance(entries, dict):
        return SavedLabels({}, f"{path}: its clustering entry is not an object")
    sizes = dict(zip(spec.cat_names, spec.cat_sizes, strict=True))
    found: dict[str, CodeLabels] = {}
    bad: list[str] = []
    for name, entry in entries.items():
        if name not in sizes:
            bad.append(f"{name} is not a categorical code")
            continue
        try:
            cl = _mapping(entry, sizes[name])
        except ValueError as e:
            bad.append(f"{name}: {e}")
            continue
        found[name] = CodeLabels(
            cl.mapping,
            cl.classes,
            step if isinstance(step, int) else None,
            weights if isinstance(weights, str) else None,
            cl.unseen,
        )
    return SavedLabels(found, f"{path}: " + "; ".join(bad) if bad else None)


def current_labels(model: InfoGAN) -> tuple[dict[str, CodeLabels], str | None]:
    """The mappings that apply to ``model`` as it is (made at its step, for its weights where
    the report recorded them), and why others do not (None when all saved ones apply)."""
    saved = model.saved_labels
    why = saved.problem
    ok = {n: c for n, c in saved.codes.items() if c.step == model.step}
    stale = sorted({c.step for n, c in saved.codes.items() if n not in ok}, key=str)
    again = " (score it again: infogan evaluate RUN --data LABELLED_DATA)"
    if stale:
        when = ", ".join(map(str, stale))
        why = (why + "; " if why else "") + (
            f"the saved mapping was made at step {when}, this model is at step {model.step}" + again
        )
    if any(c.weights is not None for c in ok.values()):
        digest = model.weights_digest()
        other = [n for n, c in ok.items() if c.weights not in (None, digest)]
        if other:
            ok = {n: c for n, c in ok.items() if n not in other}
            why = (why + "; " if why else "") + (
                f"the saved mapping was made for other weights at step {model.step} (a "
                "checkpoint of another run copied into the folder?)" + again
            )
    return ok, why


def code_table(
    model: InfoGAN, images: Any, files: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Q's codes of ``images`` as named columns, one row per image, in the order ``infogan
    encode`` writes them: ``file`` (when ``files`` is given); per categorical code ``cK`` (the
    argmax), ``cK_prob`` (its probability) and ``cK_label`` (when the run has a mapping made at
    the model's step, :func:`current_labels`);
    per continuous code ``cK_mean`` and ``cK_std``."""
    enc = model.encode(images)
    labels, _ = current_labels(model)
    cols: dict[str, np.ndarray] = {}
    if files is not None:
        cols["file"] = np.array(files)
    for i, name in enumerate(model.spec.names):
        kind, j = model.spec.slot(i)
        if kind == "cat":
            cols[name] = enc[name].numpy()
            cols[f"{name}_prob"] = enc.cat_probs[j].max(dim=1).values.numpy()
            if name in labels:
                cols[f"{name}_label"] = labels[name].apply(cols[name])
        else:
            cols[f"{name}_mean"] = enc[name].numpy()
            cols[f"{name}_std"] = enc.cont_std[:, j].numpy()
    return cols


def write_table(f: Any, cols: dict[str, np.ndarray], fmt: str) -> None:
    """Write :func:`code_table`'s columns to the open binary file ``f`` as ``csv`` (with an
    ``index`` column first) or ``npz`` (one array per column)."""
    if fmt == "npz":
        _savez(f, cols)
        return
    if fmt != "csv":
        raise SpecError(f"table: format must be csv or npz, got {fmt!r}")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["index", *cols])
    n = len(next(iter(cols.values()))) if cols else 0
    for r in range(n):
        w.writerow([r, *(_fmt(cols[k][r]) for k in cols)])
    f.write(buf.getvalue().encode())


#: What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _savez(f: Any, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed(f, **arrays)`` for any array names: numpy's own takes them as
    keyword arguments, so a ``file`` column (the image each row came from) collided with its
    ``file`` parameter. Same archive layout, so ``np.load`` reads it as usual."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for name, value in arrays.items():
            array = np.asanyarray(value)
            if array.dtype == object:  # class names: unicode text, loadable without pickle
                array = array.astype(str)
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _fmt(v: Any) -> str:
    """A cell: floats to 6 significant digits; text (file names, class names: the user's
    files choose them) that a spreadsheet would run as a formula, such as a file named
    ``=HYPERLINK(...).png``, gets a leading ``'``, which spreadsheets show as text; a
    number written as text (a label ``-1``) is left as it is."""
    if isinstance(v, float | np.floating):
        return f"{v:.6g}"
    text = str(v)
    if isinstance(v, str | np.str_) and text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    """A label such as ``-1`` is a number, not a formula: it stays as it is."""
    try:
        float(text)
    except ValueError:
        return False
    return True
