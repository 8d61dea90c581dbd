"""The core's own loggers, registered through :func:`ebkit_loggers` like any plugin's.

A hook module: no torch, no tracker imported here; the factory string loads the logger
(and TensorBoard) only when a run asks for it with ``--logger tensorboard``."""

from __future__ import annotations

from ebkit.plugin.components import Component, Option
from ebkit.plugin.hookspecs import hookimpl


@hookimpl
def ebkit_loggers() -> list[Component]:
    return [
        Component(
            name="tensorboard",
            summary="TensorBoard event files in RUN_DIR/tensorboard: the logged metrics as "
            "scalars, sample grids and energy landscapes as images, histograms of the data's "
            "and the contrastive samples' energies, the configuration as text (needs "
            "pip install 'ebkit[tensorboard]')",
            factory="ebkit.tracking.tensorboard:TensorBoardLogger",
            options=(
                Option(
                    "flush_secs",
                    int,
                    10,
                    "seconds between writes of the event file to disk",
                    minimum=1,
                ),
                Option(
                    "histograms",
                    bool,
                    True,
                    "log histograms of the data's and the contrastive samples' energies at "
                    "every logged step",
                ),
            ),
        )
    ]
