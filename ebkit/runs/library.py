"""Using ebkit from Python: build components by name, train into a run directory and load
runs back, along the same code paths as the command line.

::

    import ebkit

    run = ebkit.train(energy="autoencoder", sampler="generator", loss="margin",
                      data="8gaussians", steps=200, out="runs/library")
    samples = run.sample(256)          # (256, 2)
    energies = run.energies(samples)   # (256,)

:func:`train` resolves its arguments like ``ebkit train`` (defaults, then ``config``,
then the keyword arguments, then ``options``) and runs the same engine, callbacks and
run directory; :func:`load_run` is what ``ebkit sample`` uses. To train modules built
by hand, compose :class:`ebkit.core.engine.Trainer` directly (see ``docs/library.md``).

Importing this module does not import torch; calling its functions does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.core.errors import UsageError
from ebkit.plugin.manager import PluginManager, get_plugin_manager
from ebkit.runs.config import REGULARIZERS, SECTIONS, TRAIN, RunConfig, load_toml, resolve_config

if TYPE_CHECKING:
    from ebkit.core.engine import Callback
    from ebkit.core.interfaces import DataSpec
    from ebkit.runs.saved import SavedRun

PathLike = str | os.PathLike[str]


def build_component(
    kind: str,
    name: str,
    spec: DataSpec | None = None,
    *,
    path: PathLike | None = None,
    seed: int | None = None,
    manager: PluginManager | None = None,
    **options: Any,
) -> Any:
    """Build one component by its name (``"autoencoder"``) or qualified id
    (``"ebkit-autoencoder/autoencoder"``), with options validated, coerced and completed
    with their defaults exactly as ``-o`` values are.

    Energies, samplers, losses and regularizers are built for ``spec`` (the
    :class:`ebkit.DataSpec` of the data, e.g. ``dataset.spec``); datasets take the
    ``path`` of their files instead, if they read any. With ``seed``, parameters are
    initialised from a forked global RNG seeded with it, leaving the caller's RNG as it
    was; without, from the global RNG, as when a class is instantiated directly.
    """
    from ebkit.runs.build import build_component as build

    manager = manager or get_plugin_manager()
    label = f"build_component({kind!r}, {name!r})"
    if kind == "dataset":
        if spec is not None:
            raise UsageError(f"{label}: a dataset is built from path=, not from a DataSpec")
        if path is not None and not Path(path).exists():
            raise UsageError(f"{label}: path {path} does not exist")
    else:
        if spec is None:
            raise UsageError(f"{label}: pass the DataSpec of the data (e.g. dataset.spec)")
        if path is not None:
            raise UsageError(f"{label}: path= is for datasets only")
    return build(manager, kind, name, options, spec=spec, path=path, seed=seed)


def train(
    *,
    energy: str | None = None,
    sampler: str | None = None,
    loss: str | None = None,
    data: str | None = None,
    regularizers: str | Sequence[str] = (),
    loggers: str | Sequence[str] = (),
    data_path: PathLike | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    workers: int | None = None,
    precision: str | None = None,
    compile: bool | None = None,
    options: Mapping[str, Any] | None = None,
    config: PathLike | Mapping[str, Any] | None = None,
    out: PathLike | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    manager: PluginManager | None = None,
) -> SavedRun:
    """Train like ``ebkit train`` and return the finished run, loaded back from its last
    checkpoint (what :func:`load_run` returns).

    ``options`` sets component options as ``{"energy.width": 64, "pt.weight": 0.2,
    "train.log_every": 50, "logger.tensorboard.flush_secs": 5}`` or as tables
    ``{"energy": {"width": 64}}``; ``loggers`` are ``--logger`` names; values may be
    Python values or command-line strings. ``config`` is a TOML file or the same tables
    as a mapping (``{"energy": {"name": "autoencoder"}}``). Precedence, lowest first:
    defaults, ``config``, the keyword arguments, ``options``. ``out`` must be new or
    empty (default ``runs/<data>-<energy>-<sampler>-<loss>-<time>``); ``callbacks``
    (:class:`ebkit.core.engine.Callback`) run after the built-in ones.
    """
    manager = manager or get_plugin_manager()
    run_config = resolve_run_config(
        manager,
        energy=energy,
        sampler=sampler,
        loss=loss,
        data=data,
        regularizers=regularizers,
        loggers=loggers,
        data_path=data_path,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        device=device,
        workers=workers,
        precision=precision,
        compile=compile,
        options=options,
        config=config,
    )
    from ebkit.runs.saved import SavedRun
    from ebkit.runs.training import train_run

    out = default_run_dir(run_config) if out is None else out
    trainer = train_run(
        run_config, out, manager=manager, progress=progress, extra_callbacks=tuple(callbacks)
    )
    return SavedRun.open(out, manager=manager, device=str(trainer.device))


def resume(
    out: PathLike,
    *,
    steps: int | None = None,
    device: str | None = None,
    workers: int | None = None,
    precision: str | None = None,
    compile: bool | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    manager: PluginManager | None = None,
) -> SavedRun:
    """Continue the run in ``out`` from its newest checkpoint, like ``ebkit train
    --resume`` (``steps`` is the new total; ``device``, ``precision`` and ``compile``
    may change; ``workers`` changes how a streaming dataset is read, not what), and
    return it loaded back."""
    from ebkit.runs.saved import SavedRun
    from ebkit.runs.training import resume_run

    manager = manager or get_plugin_manager()
    trainer = resume_run(
        out,
        steps=steps,
        device=device,
        workers=workers,
        precision=precision,
        compile=compile,
        manager=manager,
        progress=progress,
        extra_callbacks=tuple(callbacks),
    )
    return SavedRun.open(out, manager=manager, device=str(trainer.device))


def load_run(
    path: PathLike,
    *,
    device: str = "auto",
    sampler_options: Mapping[str, Any] | None = None,
    manager: PluginManager | None = None,
) -> SavedRun:
    """Load a run directory from its newest valid checkpoint, in eval mode, to draw
    samples and score energies (what ``ebkit sample`` does). ``sampler_options`` change
    sampler options that do not change its weights (a number of MCMC steps)."""
    from ebkit.runs.saved import SavedRun

    return SavedRun.open(
        path,
        manager=manager or get_plugin_manager(),
        device=device,
        sampler_options=sampler_options,
    )


def resolve_run_config(
    manager: PluginManager,
    *,
    energy: str | None = None,
    sampler: str | None = None,
    loss: str | None = None,
    data: str | None = None,
    regularizers: str | Sequence[str] = (),
    loggers: str | Sequence[str] = (),
    data_path: PathLike | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    workers: int | None = None,
    precision: str | None = None,
    compile: bool | None = None,
    options: Mapping[str, Any] | None = None,
    config: PathLike | Mapping[str, Any] | None = None,
) -> RunConfig:
    """The :class:`ebkit.runs.config.RunConfig` that :func:`train` would run."""
    if isinstance(config, Mapping):
        tables: dict[str, Any] = {key: _copy_table(value) for key, value in config.items()}
    else:
        tables = load_toml(config) if config is not None else {}
    chosen = [regularizers] if isinstance(regularizers, str) else list(regularizers)
    used = chosen or list(tables.get(REGULARIZERS, {}))
    flags: dict[str, Any] = {
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
        "workers": workers,
        "precision": precision,
        "compile": compile,
    }
    for key, value in (options or {}).items():
        section, _, option = str(key).partition(".")
        if section == "logger":
            _set_logger_option(tables, str(key), value)
            continue
        if section not in (*SECTIONS, TRAIN, *used):
            accepted = ", ".join([*SECTIONS, TRAIN, *used, "logger"])
            raise UsageError(
                f"options: unknown component {section!r} in {key!r} (accepted: {accepted})"
            )
        values = dict(value) if not option and isinstance(value, Mapping) else {option: value}
        if not option and not isinstance(value, Mapping):
            raise UsageError(f"options: {key!r} needs a table of options or a COMPONENT.KEY name")
        if section == TRAIN:
            # Options win over the keyword arguments, as -o wins over --steps.
            for name in set(values) & set(flags):
                flags[name] = values.pop(name)
        if section in (*SECTIONS, TRAIN):
            table = tables.setdefault(section, {})
        else:
            table = tables.setdefault(REGULARIZERS, {}).setdefault(section, {})
        table.update(values)
    return resolve_config(
        manager,
        toml=tables,
        names={"energy": energy, "sampler": sampler, "loss": loss, "data": data},
        regularizers=chosen,
        data_path=None if data_path is None else str(data_path),
        train=flags,
        loggers=[loggers] if isinstance(loggers, str) else list(loggers),
    )


def _set_logger_option(tables: dict[str, Any], key: str, value: Any) -> None:
    """``logger.NAME.KEY = value`` or ``logger.NAME = {KEY: value}`` into the
    ``[loggers.NAME]`` table (which also chooses the logger)."""
    _, _, rest = key.partition(".")
    name, _, option = rest.partition(".")
    if not name or (not option and not isinstance(value, Mapping)):
        raise UsageError(f"options: {key!r} must be logger.NAME.KEY or logger.NAME with a table")
    table = tables.setdefault("loggers", {}).setdefault(name, {})
    table.update(dict(value) if not option else {option: value})


def _copy_table(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy_table(item) for key, item in value.items()}
    return value


def default_run_dir(config: RunConfig) -> str:
    """``runs/<data>-<energy>-<sampler>-<loss>-<YYYYmmdd-HHMMSS>``, the default ``--out``."""
    ids = [config.data.id, config.energy.id, config.sampler.id, config.loss.id]
    label = "-".join(component_id.rsplit("/", 1)[-1] for component_id in ids)
    return os.path.join("runs", f"{label}-{time.strftime('%Y%m%d-%H%M%S')}")
