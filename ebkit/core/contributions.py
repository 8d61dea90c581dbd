"""What a component brings to every run it is part of besides its own computation.

Energies, samplers and losses (:mod:`ebkit.core.interfaces`) all inherit
:class:`RunContributions`: the step extensions a component needs (variants of the
training step, :mod:`ebkit.core.extensions`) and the values it needs for the run's
``train`` options left at auto (how many steps a model takes to learn its data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ebkit.core.extensions import StepExtension


class RunContributions:
    """The two hooks with which a component shapes the run around it (defaults: none)."""

    def step_extensions(self) -> Sequence[StepExtension]:
        """Step extensions this component needs in every run it is part of (see
        :mod:`ebkit.core.extensions`); the trainer adds them first. Default: none."""
        return ()

    def train_defaults(self) -> Mapping[str, int | float]:
        """Values for the run's ``train`` options that the user left at auto, by flat
        name (``steps``, ``lr_decay_start``); default: none.

        A component whose model needs a longer run than the data kind's default returns
        it here, e.g. EBGAN's margin loss ``{"steps": 20000}`` on vectors, so that the
        plain command trains as its recipe does. The component's ``spec`` tells the data
        kind. Values the user set always win; among components the loss's value wins
        over the sampler's, the sampler's over the energy's; the data kind's defaults
        fill the rest. ``config.json`` records the resolved values, so a resumed run
        keeps them even if a later version suggests others.
        """
        return {}
