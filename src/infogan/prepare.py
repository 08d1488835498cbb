"""Getting a run ready before anything is written: the machine checked, the training and
evaluation data loaded and fitted to the networks, the run directory checked.

Every function here raises a one-line error for a wrong combination, and they run before a
run directory is made, so a corrected command never finds a half-made run in its way.
:func:`prepare` is the sequence every way of starting training uses.
"""

from __future__ import annotations

import logging
import os
import shlex
from dataclasses import replace
from pathlib import Path

import torch

from infogan import tblog
from infogan.config import TrainConfig
from infogan.data import ImageDataset, load_dataset
from infogan.devices import resolve_device
from infogan.errors import DataError, SpecError
from infogan.nets import image_shape

__all__ = [
    "prepare",
    "check_machine",
    "check_new_run_dir",
    "check_folder_target",
    "fit_to_data",
    "image_side",
    "load_eval_data",
    "load_training_data",
    "with_absolute_data",
]

log = logging.getLogger("infogan")


def prepare(
    cfg: TrainConfig, dataset: ImageDataset | None = None
) -> tuple[TrainConfig, ImageDataset, ImageDataset | None]:
    """``cfg``'s training data (``dataset`` if given, else loaded), ``cfg`` fitted to it
    (:func:`fit_to_data`) and its evaluation data (:func:`load_eval_data`): what a trainer, a
    data-parallel launch and a candidate selection each need first, in this order."""
    dataset = dataset if dataset is not None else load_training_data(cfg)
    cfg = fit_to_data(cfg, dataset)
    return cfg, dataset, load_eval_data(cfg)


def check_machine(cfg: TrainConfig) -> None:
    """Raise a one-line error when what ``cfg`` asks for is not on this machine (a GPU that is
    not there, fewer GPUs than data-parallel processes, the tensorboard package for
    ``cfg.tensorboard``). Called before a run directory is written, so the corrected command
    does not find a half-made run in its way."""
    if cfg.tensorboard:
        tblog.require()
    if cfg.ddp <= 1:
        resolve_device(cfg.device)
        return
    from infogan.distributed import ddp_devices

    devices = ddp_devices(cfg.device, cfg.ddp)
    cores = os.cpu_count() or 1
    if cfg.ddp > cores and all(torch.device(d).type == "cpu" for d in devices):
        # Allowed (gloo runs any number), but 32 processes on 2 cores crawl: said at once.
        log.warning(
            "warning: --ddp %d runs %d processes on this machine's %d CPU cores; each step "
            "waits for all of them (use at most %d on a CPU)",
            cfg.ddp,
            cfg.ddp,
            cores,
            cores,
        )


def image_side(cfg: TrainConfig) -> int:
    """Height (= width) of the images ``cfg``'s networks read: what image files are resized to."""
    return image_shape(cfg.model)[1]


def load_training_data(cfg: TrainConfig) -> ImageDataset:
    """``cfg.data``'s training split, image files resized to the networks' size, in the
    networks' channels when the config fixes them (``--channels 1`` on colour data: grey).
    Logs what was read, so a wrong folder or mode shows before the first step."""
    ds = load_dataset(cfg.data, split="train", size=image_side(cfg), channels=cfg.model.channels)
    c, h, w = ds.shape
    labels = "labelled (labels unused in training)" if ds.labels is not None else "unlabelled"
    log.info("data: %s, %d images of %dx%dx%d, %s", ds.name, len(ds), c, h, w, labels)
    return ds


def with_absolute_data(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with relative data paths made absolute: a run records the files it trains on,
    so that resuming it from another directory reads them again (dataset names stay names)."""
    from infogan.data.registry import absolute_source

    return replace(
        cfg,
        data=absolute_source(cfg.data),
        eval_data=absolute_source(cfg.eval_data) if cfg.eval_data else cfg.eval_data,
    )


def load_eval_data(cfg: TrainConfig) -> ImageDataset | None:
    """``cfg.eval_data``'s test split in the networks' size and channels (None when unset).

    ``cfg`` must have been through :func:`fit_to_data`. Raises a one-line error when the images
    cannot be read by the networks: called before training, so a wrong evaluation set fails in
    seconds instead of after the last step, where it would leave the run without its report."""
    if not cfg.eval_data:
        return None
    ds = load_dataset(
        cfg.eval_data, split="test", size=image_side(cfg), channels=cfg.model.channels
    )
    need = tuple(image_shape(cfg.model))
    if tuple(ds.shape) != need:
        c, h, w = ds.shape
        raise DataError(
            f"eval_data: {ds.name} has images of {c}x{h}x{w} (CxHxW) but the networks read "
            f"{need[0]}x{need[1]}x{need[2]}; give --eval-data in the training data's size "
            "(a folder of image files is resized to fit, arrays are not)"
        )
    return ds


def fit_to_data(cfg: TrainConfig, dataset: ImageDataset) -> TrainConfig:
    """``cfg`` with ``model.channels`` taken from ``dataset`` where it is None (as the data);
    raises a one-line error when the data cannot feed the networks. Called before anything is
    written, so a wrong combination leaves no half-made run directory behind."""
    c, h, w = dataset.shape
    if cfg.model.channels is None:
        if c == 3 and cfg.model.arch == "mnist":
            raise DataError(
                f"data: {dataset.name} holds colour images ({c}x{h}x{w}), but the 'mnist' "
                "networks read one channel; use --arch conv32 (32x32) or conv64s / conv64 "
                "(64x64), or --channels 1 to train on it in grey"
            )
        cfg = replace(cfg, model=replace(cfg.model, channels=c))
    need = image_shape(cfg.model)
    if (c, h, w) != tuple(need):
        hint = {28: "mnist", 32: "conv32", 64: "conv64s or conv64"}.get(h) if h == w else None
        raise DataError(
            f"data: {dataset.name} has images of {c}x{h}x{w} (CxHxW) but arch "
            f"{cfg.model.arch!r} needs {need[0]}x{need[1]}x{need[2]}"
            + (
                f"; --arch {hint} reads {h}x{w}"
                if hint and h != need[1]
                else "; a folder of image files is resized to fit, arrays are not"
                if (h, w) != tuple(need[1:])
                else ""
            )
        )
    if len(dataset) < cfg.batch:
        raise DataError(
            f"data: {dataset.name} has {len(dataset)} images, fewer than one batch of {cfg.batch}"
        )
    if 2 * cfg.d_translate >= min(need[1], need[2]):
        raise SpecError(
            f"d_translate: {cfg.d_translate} pixels would shift a {need[1]}x{need[2]} "
            "image off itself; use less than half its side"
        )
    return cfg


#: What a run that failed before its first checkpoint (diverged, out of memory, a full disk)
#: leaves behind, its ``config.json`` removed (``Trainer._run``, ``select._free_failed_start``):
#: a new run may start over these.
_LEFTOVERS = frozenset({"metrics.jsonl", "samples", "tensorboard"})


def check_folder_target(folder: Path, command: str) -> None:
    """Refuse a folder to write into that is a file, or a symbolic link to nothing (its
    creation would fail as "File exists", which names neither)."""
    if folder.is_symlink() and not folder.exists():
        raise SpecError(
            f"{command}: {folder} is a symbolic link to {os.readlink(folder)}, which does not "
            "exist; make that folder or give another"
        )
    if folder.exists() and not folder.is_dir():
        raise SpecError(f"{command}: {folder} is a file; give a folder")


def check_new_run_dir(run_dir: str | Path) -> None:
    """Refuse to start a new run in ``run_dir`` when it holds a run, or files that are not a
    run's: training writes ``report.json``, figures and ``metrics.jsonl`` there, so a user's
    finished run or own files would be overwritten. An empty or missing folder is fine."""
    run_dir = Path(run_dir)
    check_folder_target(run_dir, "train")
    if (run_dir / "config.json").exists() or (run_dir / "checkpoints").exists():
        from infogan.runlock import lock_holder

        holder = lock_holder(run_dir)
        if holder is not None:  # "resume it" would be refused as well: it is training now
            raise SpecError(
                f"train: {run_dir} holds a run that is training now"
                + (f" (pid {holder})" if holder > 0 else "")
                + "; give another folder (nothing was overwritten)"
            )
        raise SpecError(
            f"train: {run_dir} already holds a run; resume it (infogan train --resume "
            f"{shlex.quote(str(run_dir))}, "
            "or train(..., resume=True)) or give another folder (nothing was overwritten)"
        )
    if run_dir.is_dir():
        other = sorted(
            p.name
            for p in run_dir.iterdir()
            if not p.name.startswith(".") and p.name not in _LEFTOVERS
        )
        if other:
            shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
            raise SpecError(
                f"train: {run_dir} is not empty ({shown}) and holds no run; give a new or empty "
                "folder (nothing was overwritten)"
            )
