"""The logger interface and the set of loggers a run writes to.

``metrics.jsonl`` and the run's PNGs are always written and stay the record of a run;
loggers (``--logger NAME``, provided by plugins through ``ebkit_loggers``) receive the
same values as they are produced: the metrics of every logged step, each picture the
run draws, histograms of the energies of the logged step's batches, the configuration
at the start and a finish call at the end. Nothing here imports torch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.core.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from ebkit.plugin.manager import PluginManager
    from ebkit.runs.config import ComponentConfig


class Logger:
    """Receives what a run logs; override what you need (every method does nothing by
    default). Built by a logger component's factory as ``factory(**options)`` before
    the run directory exists, so a factory that cannot work (a missing package) should
    raise :class:`ebkit.UsageError` with one line saying how to fix it."""

    def start(self, run_dir: Path, config: Mapping[str, Any], step: int) -> None:
        """Called once before training: the run directory, its configuration (what
        ``config.json`` holds) and the step training starts from (0, or the checkpoint's
        step when a run is resumed: what an earlier attempt logged after it is stale)."""

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """The metrics of a logged step, the very values of its ``metrics.jsonl`` record
        (without ``step``)."""

    def log_image(self, step: int, tag: str, path: Path) -> None:
        """A PNG the run has just written: ``tag`` is ``samples`` (a sample grid or
        scatter) or ``landscape`` (the energy landscape of 2-D data)."""

    def log_histogram(self, step: int, tag: str, values: np.ndarray) -> None:
        """Values whose distribution is worth watching, a 1-D float array: ``tag``
        ``energy/data`` and ``energy/contrastive`` hold the per-sample energies of the
        logged step's data and contrastive batches."""

    def finish(self) -> None:
        """Called once when training ends, stops or fails: flush and close."""


class LoggerSet:
    """The loggers of a run, called in order. A logger that raises is reported on
    stderr in one line and switched off for the rest of the run: a dashboard's failure
    never costs the training (``metrics.jsonl`` keeps every value)."""

    def __init__(self, loggers: Sequence[tuple[str, Logger]] = ()) -> None:
        self.loggers = list(loggers)

    def __bool__(self) -> bool:
        return bool(self.loggers)

    @property
    def wants_histograms(self) -> bool:
        return any(getattr(logger, "histograms", True) for _, logger in self.loggers)

    def _call(self, method: str, *args: Any) -> None:
        for name, logger in list(self.loggers):
            try:
                getattr(logger, method)(*args)
            except Exception as error:
                self.loggers.remove((name, logger))
                print(
                    f"ebkit: logger {name!r} failed in {method} "
                    f"({type(error).__name__}: {error}); it is off for the rest of the run",
                    file=sys.stderr,
                )

    def start(self, run_dir: Path, config: Mapping[str, Any], step: int) -> None:
        self._call("start", run_dir, config, step)

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self._call("log_scalars", step, scalars)

    def log_image(self, step: int, tag: str, path: Path) -> None:
        self._call("log_image", step, tag, path)

    def log_histogram(self, step: int, tag: str, values: np.ndarray) -> None:
        self._call("log_histogram", step, tag, values)

    def finish(self) -> None:
        self._call("finish")


def build_loggers(manager: PluginManager, choices: Sequence[ComponentConfig]) -> LoggerSet:
    """Build each chosen logger as ``factory(**options)``; an object that is not a
    :class:`Logger` is refused with one line naming the component."""
    from ebkit.runs.build import build_component

    built = []
    for choice in choices:
        entry = manager.lookup("logger", choice.id)
        logger = build_component(manager, "logger", choice.id, choice.options)
        if not isinstance(logger, Logger):
            raise UsageError(
                f"logger {entry.qualified_id!r}: its factory returned "
                f"{type(logger).__name__}, not an ebkit.Logger"
            )
        built.append((entry.name, logger))
    return LoggerSet(built)
