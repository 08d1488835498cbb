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
    from infogan.model import InfoGAN

__all__ = ["CodeLabels", "code_table", "run_dir_of", "saved_code_labels", "write_table"]


@dataclass(frozen=True)
class CodeLabels:
    """What one categorical code's values mean: code value -> label, and the labels' names."""

    mapping: dict[int, int]
    classes: list[str] | None = None

    def apply(self, values: Any) -> np.ndarray:
        """Labels of code values: class names where they are known, else the label numbers."""
        labels = apply_mapping(values, self.mapping)
        if (
            self.classes is not None
            and len(labels)
            and 0 <= labels.min() <= labels.max() < len(self.classes)
        ):
            return np.array(self.classes)[labels]
        return labels


def run_dir_of(path: str | Path) -> Path:
    """The run directory of a run directory or of one of its checkpoint files
    (``RUN/checkpoints/step_N.pt``)."""
    p = Path(path)
    return p.parent.parent if p.is_file() else p


def saved_code_labels(run_dir: str | Path) -> dict[str, CodeLabels]:
    """Per categorical code, the mapping ``evaluate`` saved in ``run_dir/report.json`` (empty
    when the run was never scored on labelled data, or its report cannot be read)."""
    path = Path(run_dir) / "report.json"
    try:
        rep = json.loads(path.read_text())
        entries = rep.get("clustering", {})
        return {
            name: CodeLabels(
                {int(k): int(v) for k, v in e["mapping"].items()},
                [str(c) for c in e["classes"]] if e.get("classes") else None,
            )
            for name, e in entries.items()
            if isinstance(e, dict) and e.get("mapping")
        }
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError, KeyError):
        # No report, or one from elsewhere: no labels, which callers say plainly.
        return {}


def code_table(
    model: InfoGAN, images: Any, files: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Q's codes of ``images`` as named columns, one row per image, in the order ``infogan
    encode`` writes them: ``file`` (when ``files`` is given); per categorical code ``cK`` (the
    argmax), ``cK_prob`` (its probability) and ``cK_label`` (when the run has a saved mapping);
    per continuous code ``cK_mean`` and ``cK_std``."""
    enc = model.encode(images)
    cols: dict[str, np.ndarray] = {}
    if files is not None:
        cols["file"] = np.array(files)
    for i, name in enumerate(model.spec.names):
        kind, j = model.spec.slot(i)
        if kind == "cat":
            cols[name] = enc.cat[:, j].numpy()
            cols[f"{name}_prob"] = enc.cat_probs[j].max(dim=1).values.numpy()
            if name in model.code_labels:
                cols[f"{name}_label"] = model.code_labels[name].apply(cols[name])
        else:
            cols[f"{name}_mean"] = enc.cont_mean[:, j].numpy()
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


def _savez(f: Any, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed(f, **arrays)`` for any array names: numpy's own takes them as
    keyword arguments, so a ``file`` column (the image each row came from) collided with its
    ``file`` parameter. Same archive layout, so ``np.load`` reads it as usual."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for name, value in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float | np.floating) else str(v)
