"""Your own networks: register a generator and a discriminator body under a name, then train,
evaluate, sample and export them as the built-in families (``--arch NAME``).

A registration is code, and a run's files never run code: a run trained on registered networks
records only the name (and a digest of the layers, to notice a registration changed since), and
every later process that loads it must register the name again, by importing the module that
calls :func:`register_arch`. In Python, import it yourself; on the
command line, ``--import MODULE`` (a module name, or a path to a ``.py`` file) does it, and so
does the environment variable ``INFOGAN_IMPORT`` (comma-separated). The worker processes of
parallel candidates and ``--ddp`` get what their parent imported and registered
(:func:`shipped`, :func:`receive`).

This module holds only the registry (no torch import: the CLI's config checks read it); the
networks are wrapped and checked where they are built (:mod:`infogan.nets`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import pickle
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infogan.errors import CheckpointError, SpecError, whole_number

__all__ = [
    "BUILT_IN",
    "CustomArch",
    "ENV",
    "check_saved_arch",
    "check_shippable",
    "custom_arch",
    "import_modules",
    "imported_modules",
    "receive",
    "register_arch",
    "registered",
    "shipped",
]

#: Environment variable naming modules to import before a registered name is looked up.
ENV = "INFOGAN_IMPORT"

#: The built-in network families (:mod:`infogan.nets`); ``config.ARCHES`` is this tuple.
BUILT_IN = ("mnist", "conv32", "conv32paper", "conv64", "conv64s")

log = logging.getLogger("infogan")

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class CustomArch:
    """A registered network family (see :func:`register_arch`)."""

    name: str
    generator: Callable[[int, float, int], Any]
    body: Callable[[float, int], Any]
    image_size: int  # the side of square images
    dcgan_init: bool
    q_batch_norm: bool


_REGISTRY: dict[str, CustomArch] = {}
#: Modules imported by --import / $INFOGAN_IMPORT (names, or absolute .py paths), in order.
_imported: list[str] = []
#: Names registered while importing one of those modules (a worker imports it again).
_BY_IMPORT: set[str] = set()
_importing = 0  # > 0 while one of those imports runs


#: Names registered in a parent process whose factories could not be brought into this
#: worker, with the reason (see :func:`receive`).
_UNLOADABLE: dict[str, str] = {}


def register_arch(
    name: str,
    *,
    generator: Callable[[int, float, int], Any],
    body: Callable[[float, int], Any],
    image_size: int,
    dcgan_init: bool = True,
    q_batch_norm: bool = True,
) -> None:
    """Make ``name`` a network family that ``ModelConfig.arch`` / ``--arch`` may name.

    Args:
        name: letters, digits, ``_ . -``, starting with a letter; not a built-in name.
            Registering a name again replaces it (a notebook cell run twice).
        generator: ``generator(input_dim, width, channels)`` -> an ``nn.Module`` mapping the
            latent ``[N, input_dim]`` (noise then codes) to images ``[N, channels, H, W]`` in
            ``[-1, 1]`` (end it with ``tanh``).
        body: ``body(width, channels)`` -> an ``nn.Module`` mapping images
            ``[N, channels, H, W]`` to features ``[N, F]``. The D head (one linear layer) and the
            Q head (the paper's FC-BN-lReLU-FC) are added on top, as for the built-in families;
            InfoGAN-CR's pair classifier, when asked for, is another ``body(width, 2 *
            channels)``. It may hold batch norm: D's step then runs the real and the fake batch
            through it one after the other, so each is normalised on its own.
        image_size: the side of the (square) images: a folder of images is centre-cropped and
            resized to it, arrays must have it.
        dcgan_init: re-draw every conv, linear and batch-norm layer's weights as DCGAN does
            (what the recipe's learning rates were chosen with); False keeps your modules' own
            initialisation.
        q_batch_norm: batch norm in the Q head's hidden layer (the paper's choice).

    ``width`` is ``--width`` (1.0 by default): scale your hidden sizes by it, or ignore it.
    ``channels`` is 1 or 3, from ``--channels`` or the data. Both factories must build the same
    networks every time they are called with the same arguments: a run is loaded by building
    them again and reading the saved weights into them.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SpecError(
            f"register_arch: name {name!r} must start with a letter and hold only letters, "
            "digits, '_', '.' or '-' (at most 64 characters)"
        )
    if name in BUILT_IN:
        raise SpecError(f"register_arch: {name!r} is a built-in network family; choose another")
    for what, fn in (("generator", generator), ("body", body)):
        if not callable(fn):
            raise SpecError(f"register_arch: {what} must be callable, got {type(fn).__name__}")
    # The side of square images (the image readers crop to squares); numpy ints are taken.
    side = whole_number("register_arch: image_size", image_size, 4, 4096)
    if not _importing:  # registered (again) by the caller's own code: it is shipped pickled
        _BY_IMPORT.discard(name)
    _REGISTRY[name] = CustomArch(name, generator, body, side, bool(dcgan_init), bool(q_batch_norm))


def registered() -> list[str]:
    """Names registered in this process (after importing ``$INFOGAN_IMPORT``)."""
    _import_from_env()
    return sorted(_REGISTRY)


def custom_arch(name: str) -> CustomArch | None:
    """The registration of ``name``, or None; the modules in ``$INFOGAN_IMPORT`` are imported
    first (once each)."""
    if name not in _REGISTRY:
        _import_from_env()
    if name not in _REGISTRY and name in _UNLOADABLE:
        raise SpecError(_unreachable(name, _UNLOADABLE[name]))
    return _REGISTRY.get(name)


def _unreachable(name: str, why: str) -> str:
    return (
        f"arch {name!r}: its factories cannot reach worker processes ({why}); define them at "
        "the top level of a module and import that (or list it in $INFOGAN_IMPORT)"
    )


def imported_modules() -> list[str]:
    """What ``--import`` (:func:`import_modules`) and ``$INFOGAN_IMPORT`` imported here, in order."""
    return list(_imported)


def shipped() -> dict[str, Any]:
    """This process's registrations for a spawned worker (:func:`receive` there): the modules it
    imported (by name or absolute path: imported again there first) and each registration
    pickled on its own. Functions pickle by name, so one the worker could not find (a lambda,
    a function made inside another, one defined in a notebook or typed into ``python -``) is
    sent as the reason instead; :func:`check_shippable` names it before any worker starts."""
    arches: dict[str, bytes | str | None] = {}
    interactive = not getattr(sys.modules.get("__main__"), "__file__", None)
    for name, arch in _REGISTRY.items():
        if name in _BY_IMPORT:
            # Registered by importing a module the worker imports too: it registers the name
            # there itself (lambdas in it included, which pickling could not send).
            arches[name] = None
            continue
        where = {getattr(f, "__module__", None) for f in (arch.generator, arch.body)}
        if interactive and "__main__" in where:
            arches[name] = "defined in an interactive session, which a worker cannot import"
            continue
        try:
            arches[name] = pickle.dumps(arch)
        except Exception as e:
            arches[name] = f"{type(e).__name__}: {e}".splitlines()[0][:160]
    return {"modules": list(_imported), "arches": arches}


def check_shippable(name: str) -> None:
    """Before worker processes start: a one-line :class:`SpecError` if the registration of
    ``name`` cannot reach them (see :func:`shipped`), instead of one error per worker."""
    blob = shipped()["arches"].get(name)
    if isinstance(blob, str):
        raise SpecError(_unreachable(name, blob))


def receive(sent: dict[str, Any]) -> None:
    """In a spawned worker: take the parent's registrations (:func:`shipped`). A factory under
    ``if __name__ == "__main__":`` in the parent's script does not exist here; such a name is
    remembered with the reason, for the one-line error :func:`custom_arch` gives if the worker
    needs it. A name this worker registered itself (by importing the same module) keeps its
    own registration."""
    for module in sent.get("modules", []):
        _import_one(module, source="worker")
    for name, blob in sent.get("arches", {}).items():
        if name in _REGISTRY or blob is None:
            continue
        if isinstance(blob, str):
            _UNLOADABLE[name] = blob
            continue
        try:
            _REGISTRY[name] = pickle.loads(blob)
        except Exception as e:  # the parent's __main__ is not this process's
            _UNLOADABLE[name] = f"{type(e).__name__}: {e}".splitlines()[0][:160]


def check_saved_arch(config: object, what: str, imports: object = None) -> None:
    """Raise a one-line :class:`CheckpointError` when ``what`` (a run, a checkpoint, an export),
    whose saved config (a dict, as read from the file) is ``config``, was made with networks
    registered in another process and not here: without this the config check's "unknown
    arch" hid behind "does not hold a usable model". ``imports``: what the training process had
    imported (a checkpoint's ``imports``, or a function returning them, called only when the
    networks are missing), named as the likely module. Anything else is left to the config
    check."""
    model = config.get("model") if isinstance(config, dict) else None
    arch = model.get("arch") if isinstance(model, dict) else None
    if isinstance(arch, str) and arch not in BUILT_IN and custom_arch(arch) is None:
        if callable(imports):  # read only when needed (resume loads a checkpoint for it)
            imports = imports()
        named = [m for m in imports if isinstance(m, str)] if isinstance(imports, list) else []
        hint = f"; it was trained with --import {' --import '.join(named)}" if named else ""
        here = [m for m in named if _import_key(m) in _imported]
        if here:  # imported, and still no such name: the registration was renamed or removed
            hint += f" ({', '.join(here)} imported here, but it registers no {arch!r} now)"
        raise CheckpointError(
            f"{what} was trained on networks {arch!r}, which this process has not registered: "
            "import the module that registers them (--import MODULE or $INFOGAN_IMPORT; "
            f"in Python, import it before loading){hint}"
        )


def import_modules(modules: Iterable[str]) -> None:
    """Import each module (a dotted name, resolved from the current folder first as ``python
    -m`` does, or a path to a ``.py`` file, whose folder is put on ``sys.path`` as ``python
    FILE`` does) now. Worker processes started from this one import them too (:func:`shipped`).
    A module that cannot be imported is a one-line :class:`SpecError` naming it and the reason."""
    for module in modules:
        if _registered_by(module, "--import") == set():
            log.warning("--import %s: it registered no networks (infogan.register_arch)", module)


def _import_from_env() -> None:
    for module in os.environ.get(ENV, "").split(","):
        if module.strip():
            _registered_by(module.strip(), f"${ENV}")


def _import_key(module: str) -> str:
    """How an imported module is remembered: a file by its resolved path, a module by name."""
    return str(Path(module).resolve()) if module.endswith(".py") else module


def _import_one(module: str, source: str = "--import") -> bool:
    """Import ``module`` unless done already; True if it was imported now."""
    key = _import_key(module)
    if key in _imported:
        return False
    try:
        if module.endswith(".py"):
            path = Path(key)
            if not path.is_file():
                raise SpecError(f"{source}: {module}: no such file")
            # As `python FILE` does: the file's folder first on sys.path, for its own imports
            # (a helpers.py beside it), now and when its functions later import lazily.
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            # Named by the file's path too: two files named nets.py in two folders are two
            # modules (sharing one name, the second replaced the first's in sys.modules).
            tag = hashlib.sha1(str(path).encode()).hexdigest()[:8]
            stem = re.sub(r"\W", "_", path.stem)
            spec = importlib.util.spec_from_file_location(f"_infogan_user_{stem}_{tag}", path)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has one
                raise SpecError(f"{source}: {module}: not a Python file")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod  # pickling and dataclasses look modules up by name
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(spec.name, None)
                raise
        else:
            # As `python -m` would: the current folder first, so `--import mynets` finds
            # ./mynets.py from the installed console script too.
            here = os.getcwd()
            added = here not in sys.path
            if added:
                sys.path.insert(0, here)
            try:
                importlib.import_module(module)
            finally:
                if added:
                    sys.path.remove(here)
    except SpecError:
        raise
    except SystemExit as e:  # a script's sys.exit() at import: the command ended in silence
        raise SpecError(
            f"{source}: importing {module!r} called sys.exit({e.code!r}); a module of networks "
            "should only define and register them (guard script code with "
            "if __name__ == '__main__')"
        ) from None
    except Exception as e:  # the user's module: any error in it is named, not re-raised
        raise SpecError(
            f"{source}: cannot import {module!r}: {type(e).__name__}: {e}".splitlines()[0][:300]
        ) from e
    _imported.append(key)
    return True


def _registered_by(module: str, source: str) -> set[str] | None:
    """:func:`_import_one`, noting the names the import registered (in :data:`_BY_IMPORT`);
    returns them, or None if the module had been imported already."""
    global _importing
    before = set(_REGISTRY)
    _importing += 1
    try:
        done = _import_one(module, source)
    finally:
        _importing -= 1
    new = set(_REGISTRY) - before
    _BY_IMPORT.update(new)
    return new if done else None
