"""The sweep spec: a TOML file naming a base run, the options to vary, the objective and
the study, read and validated as a whole before anything is written.

Layout::

    [sweep]
    name = "ebgan-toy"               # the Optuna study name
    objective = "sliced_wasserstein" # a metric of `ebkit evaluate`, or log.NAME
    direction = "minimize"           # or "maximize"
    trials = 20                      # searches only; a grid runs every point once
    base = "train.toml"              # optional: an `ebkit train --config` file
    pictures = true                  # each trial's sample pictures and curves

    [grid]                           # every combination, each run once ...
    "energy.width" = [64, 128]
    "train.energy_lr" = [1e-3, 1e-4]

    "train.energy_lr+train.sampler_lr" = [1e-3, 1e-4]   # both set to each value

    [search]                         # ... or a search (TPE or random)
    "train.energy_lr" = { low = 1e-5, high = 1e-2, log = true }
    "energy.n_layers" = { choices = [2, 3, 4] }

    [energy]                         # the base run's own tables, as in `--config`
    name = "mlp"

Nothing here imports torch or Optuna.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.runs.config import REGULARIZERS, SECTIONS, TABLES, TRAIN, load_toml

__all__ = [
    "DIRECTIONS",
    "SAMPLERS",
    "SWEEP_KEYS",
    "Parameter",
    "SweepSpec",
    "read_spec",
]

DIRECTIONS = ("minimize", "maximize")
SAMPLERS = ("tpe", "random")
"""Optuna samplers a ``[search]`` may name (a ``[grid]`` always runs every point)."""

SWEEP_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "objective": (str,),
    "direction": (str,),
    "trials": (int,),
    "sampler": (str,),
    "seed": (int,),
    "base": (str,),
    "directory": (str,),
    "evaluate_samples": (int,),
    "heartbeat_interval": (int,),
    "grace_period": (int,),
    "max_retry": (int,),
    "pictures": (bool,),
}
"""The keys of ``[sweep]`` and their TOML types."""

_ACCEPTED_PARAMETER_KEYS = ("choices", "low", "high", "log", "step")


@dataclass(frozen=True)
class Parameter:
    """One varied option: ``name`` is ``SECTION.OPTION`` (``energy.width``,
    ``train.energy_lr``, or a regularizer's name as the section). A grid parameter or a
    search over choices has ``choices``; a range has ``low``/``high`` (ints for an int
    range), ``log`` and an optional ``step``."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @property
    def targets(self) -> list[str]:
        """The options the parameter sets: ``a.x+b.y`` sets both to each value (one
        learning rate for both networks, as in a paper's grid)."""
        return self.name.split("+")

    @property
    def is_int_range(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def probe_values(self) -> list[Any]:
        """The values to validate against the option: every choice, or both ends."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring). ``base`` holds the base run's
    TOML tables (``--config`` keys) with the ``base`` file merged under the spec's own."""

    path: Path
    name: str
    objective: str
    direction: str
    parameters: tuple[Parameter, ...]
    grid: bool
    base: dict[str, Any] = field(default_factory=dict)
    trials: int | None = None
    sampler: str = "tpe"
    seed: int = 0
    directory: str | None = None
    evaluate_samples: int = 1000
    heartbeat_interval: int = 10
    grace_period: int = 60
    max_retry: int = 2
    pictures: bool = True
    """Whether each trial draws its sample pictures and ``curves.png`` (seconds each)."""

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of a grid's values, in a fixed order (the last varies
        fastest)."""
        points: list[dict[str, Any]] = [{}]
        for parameter in self.parameters:
            assert parameter.choices is not None
            points = [
                {**point, parameter.name: value} for point in points for value in parameter.choices
            ]
        return points

    @property
    def size(self) -> int:
        """The number of trials: every grid point, or ``trials`` of a search."""
        if self.grid:
            return math.prod(len(parameter.choices or ()) for parameter in self.parameters)
        assert self.trials is not None
        return self.trials

    def config_tables(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The base run's TOML tables with ``values`` (``{SECTION.OPTION: value}``) set."""
        tables = json.loads(json.dumps(self.base))
        targets = [(target, value) for name, value in values.items() for target in name.split("+")]
        for name, value in targets:
            section, _, option = name.partition(".")
            if section in (*SECTIONS, TRAIN):
                tables.setdefault(section, {})[option] = value
            else:
                tables.setdefault(REGULARIZERS, {}).setdefault(section, {})[option] = value
        return tables

    def fingerprint(self) -> str:
        """A hash of what decides the trials' results: base run, parameters, objective;
        a study made from another spec under the same name is refused."""
        payload = {
            "base": self.base,
            "parameters": [vars(parameter) for parameter in self.parameters],
            "grid": self.grid,
            "objective": self.objective,
            "direction": self.direction,
            "sampler": self.sampler,
            "seed": self.seed,
        }
        text = json.dumps(payload, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def sweep_dir(self, out: str | None = None) -> Path:
        """Where the trials go: ``out``, else ``[sweep] directory``, else
        ``sweeps/NAME`` in the working directory."""
        return Path(out or self.directory or Path("sweeps") / self.name)


def read_spec(path: str | Path) -> SweepSpec:
    """Read ``path`` and check its shape and types (one line per problem, as a
    :class:`UsageError`); the options themselves are checked by
    :func:`ebkit.sweeps.validate.validate_spec`."""
    path = Path(path)
    where = f"sweep spec {path}"
    tables = _load(path)
    sweep = tables.pop("sweep", None)
    if not isinstance(sweep, dict):
        raise UsageError(f"{where}: no [sweep] table (it names the study and its objective)")
    for key, value in sweep.items():
        if key not in SWEEP_KEYS:
            raise UsageError(
                f"{where}: unknown key {key!r} in [sweep] (accepted: {', '.join(SWEEP_KEYS)})"
            )
        expected = SWEEP_KEYS[key]
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            kind = {int: "an integer", str: "a string", bool: "true or false"}[expected[0]]
            raise UsageError(f"{where}: [sweep] {key} = {value!r} must be {kind}")
    for key in ("name", "objective"):
        if not sweep.get(key):
            raise UsageError(f"{where}: [sweep] needs {key} = ...")
    direction = sweep.get("direction", "minimize")
    if direction not in DIRECTIONS:
        raise UsageError(
            f"{where}: [sweep] direction = {direction!r} (accepted: {', '.join(DIRECTIONS)})"
        )
    for key, least in (("trials", 1), ("evaluate_samples", 2), ("heartbeat_interval", 1)):
        if key in sweep and sweep[key] < least:
            raise UsageError(f"{where}: [sweep] {key} = {sweep[key]} (accepted: >= {least})")
    for key in ("grace_period", "max_retry", "seed"):
        if key in sweep and sweep[key] < 0:
            raise UsageError(f"{where}: [sweep] {key} = {sweep[key]} (accepted: >= 0)")
    grid, search = tables.pop("grid", None), tables.pop("search", None)
    if (grid is None) == (search is None):
        raise UsageError(f"{where}: give exactly one of [grid] (every point) or [search]")
    if grid is not None:
        parameters = tuple(_grid_parameter(where, name, values) for name, values in grid.items())
        if "trials" in sweep:
            raise UsageError(f"{where}: [sweep] trials is for a [search]; a grid runs every point")
    else:
        parameters = tuple(_search_parameter(where, name, value) for name, value in search.items())
        if "trials" not in sweep:
            raise UsageError(f"{where}: a [search] needs [sweep] trials = N")
    if not parameters:
        raise UsageError(
            f"{where}: the [{'grid' if grid is not None else 'search'}] table is empty"
        )
    sampler = sweep.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise UsageError(
            f"{where}: [sweep] sampler = {sampler!r} (accepted: {', '.join(SAMPLERS)})"
        )
    if "grace_period" in sweep and sweep["grace_period"] <= sweep.get("heartbeat_interval", 10):
        raise UsageError(
            f"{where}: [sweep] grace_period must exceed heartbeat_interval (a live worker "
            "would be taken for a lost one)"
        )
    base = _base_tables(path, sweep.get("base"), tables)
    options = {key: sweep[key] for key in SWEEP_KEYS if key in sweep and key != "base"}
    options["direction"] = direction
    return SweepSpec(path=path, parameters=parameters, grid=grid is not None, base=base, **options)


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"sweep spec {path} does not exist or is not a file")
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            payload = tomllib.load(handle)
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"sweep spec {path}: cannot read it ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"sweep spec {path} is not valid TOML ({error})") from None
    accepted = ("sweep", "grid", "search", *TABLES)
    for key, value in payload.items():
        if key not in accepted:
            raise UsageError(
                f"sweep spec {path}: unknown table [{key}] (accepted: {', '.join(accepted)})"
            )
        if not isinstance(value, dict):
            raise UsageError(f"sweep spec {path}: [{key}] must be a table")
    return payload


def _base_tables(path: Path, base: str | None, inline: dict[str, Any]) -> dict[str, Any]:
    """The base file's tables (path relative to the spec), the spec's own tables over it."""
    tables: dict[str, Any] = {}
    if base is not None:
        tables = load_toml(path.parent / base)
    for key, table in inline.items():
        merged = dict(tables.get(key, {}))
        merged.update(table)
        tables[key] = merged
    return tables


def _check_name(where: str, name: str) -> None:
    for target in name.split("+"):
        _check_target(where, target)


def _check_target(where: str, name: str) -> None:
    section, dot, option = name.partition(".")
    if not dot or not section or not option or "." in option:
        raise UsageError(
            f"{where}: parameter {name!r} must be SECTION.OPTION, e.g. energy.width or "
            "train.energy_lr"
        )
    if section == "data" and option == "path":
        raise UsageError(f"{where}: data.path cannot be varied (one sweep, one dataset)")
    if option == "name":
        raise UsageError(
            f"{where}: {name!r}: a sweep varies options, not components (make one sweep "
            "per component and compare them with `ebkit sweep report DIR DIR`)"
        )


def _is_value(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _grid_parameter(where: str, name: str, values: Any) -> Parameter:
    _check_name(where, name)
    if not isinstance(values, list):
        raise UsageError(f"{where}: [grid] {name!r} must be a list of values, e.g. [64, 128]")
    if not values:
        raise UsageError(f"{where}: [grid] {name!r} is empty (give at least one value)")
    if not all(_is_value(value) for value in values):
        raise UsageError(
            f"{where}: [grid] {name!r} holds a value that is not a number, string or bool"
        )
    if len({json.dumps(value) for value in values}) != len(values):
        raise UsageError(f"{where}: [grid] {name!r} repeats a value")
    return Parameter(name, choices=tuple(values))


def _search_parameter(where: str, name: str, value: Any) -> Parameter:
    _check_name(where, name)
    if not isinstance(value, dict):
        raise UsageError(
            f"{where}: [search] {name!r} must be a table: {{ low = ..., high = ... }} or "
            "{ choices = [...] }"
        )
    unknown = sorted(set(value) - set(_ACCEPTED_PARAMETER_KEYS))
    if unknown:
        raise UsageError(
            f"{where}: [search] {name!r}: unknown key {unknown[0]!r} "
            f"(accepted: {', '.join(_ACCEPTED_PARAMETER_KEYS)})"
        )
    if "choices" in value:
        if set(value) != {"choices"}:
            raise UsageError(f"{where}: [search] {name!r}: choices goes alone (no low/high)")
        return _grid_parameter(where.replace("[grid]", "[search]"), name, value["choices"])
    low, high = value.get("low"), value.get("high")
    numbers = (int, float)
    if (
        not isinstance(low, numbers)
        or not isinstance(high, numbers)
        or isinstance(low, bool)
        or isinstance(high, bool)
    ):
        raise UsageError(f"{where}: [search] {name!r} needs numbers low and high (or choices)")
    if not low < high:
        raise UsageError(f"{where}: [search] {name!r}: low = {low} must be below high = {high}")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"{where}: [search] {name!r}: log must be true or false")
    if log and low <= 0:
        raise UsageError(f"{where}: [search] {name!r}: a log range needs low > 0")
    step = value.get("step")
    if step is not None and (not isinstance(step, numbers) or isinstance(step, bool) or step <= 0):
        raise UsageError(f"{where}: [search] {name!r}: step must be a number > 0")
    return Parameter(name, low=low, high=high, log=log, step=step)
