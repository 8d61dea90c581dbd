"""The two ways to hang code on the training engine: callbacks around the step and step
extensions inside it.

A :class:`Callback` runs between steps (logging, checkpoints, pictures). A
:class:`StepExtension` takes part in :meth:`ebkit.core.engine.Trainer.train_step` at a
few fixed points, so that a variant of a paper's algorithm is a named object instead of
a branch in the step. The step itself stays the alternating update of Goodfellow et al.
(2014, Algorithm 1) with the energy-based losses of Zhao et al. (2017, eq. 1–2)::

    x, y       = a data batch (y: the labels of a conditional run, else None)
    x⁻, x_G    = contrastive samples     <- draw_contrastive (replaces the sampler's draw)
    E(x), E(x⁻)
    L_E = loss.energy_loss + penalties   <- energy_terms (added terms, with metrics)
    step the energy
    if the sampler trains this step:     <- trains_sampler (every extension must agree)
        L_G = loss.sampler_loss(E(x_G)) + penalties; step the sampler
    loss.update_state

Extensions also bring callbacks (:meth:`StepExtension.callbacks`, run before the
trainer's own) and checkpointed state (:meth:`StepExtension.stateful`). The built-in
ones: :class:`DataOnlyStep` (``--sampler none``), :class:`FreezeSampler`
(``train.sampler_steps``) and :class:`ebkit.core.semi_supervised.SemiSupervised`
(``--labels``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from torch import Tensor

from ebkit.core.errors import UsageError
from ebkit.core.interfaces import EnergyOutput, LossOutput

if TYPE_CHECKING:
    from ebkit.core.engine import Components, Trainer

__all__ = [
    "NO_SAMPLES",
    "Callback",
    "ContrastiveSamples",
    "DataOnlyStep",
    "FreezeSampler",
    "Metrics",
    "Stateful",
    "StepExtension",
    "implied_extensions",
    "metrics_to_floats",
]

Metrics = dict[str, Tensor | float]
"""The metrics of a step by name: detached tensors (read only when logged) or floats."""


def metrics_to_floats(metrics: Metrics) -> dict[str, float]:
    """Convert logged tensors to floats (one host sync for all of them)."""
    tensors = {k: v for k, v in metrics.items() if isinstance(v, Tensor)}
    values = {k: float(v) for k, v in metrics.items() if not isinstance(v, Tensor)}
    if tensors:
        stacked = torch.stack([t.detach().float().reshape(()) for t in tensors.values()]).cpu()
        values.update(zip(tensors, stacked.tolist(), strict=True))
    return values


class Callback:
    """Hooks into the training loop around the step; override what you need."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def before_checkpoint(self, trainer: Trainer) -> None:
        """Bring state kept on the device (read only at logged steps) into what the
        checkpoint about to be saved holds (:func:`ebkit.runs.checkpoints.save_checkpoint`)."""


class Stateful(Protocol):
    """Something whose state a checkpoint keeps: tensors or plain JSON values, like a
    :class:`ebkit.Dataset`'s."""

    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ContrastiveSamples:
    """The contrastive samples of one step, ``(B, *event_shape)`` each: ``for_energy``,
    whose energy the loss pushes up (the engine detaches them), and ``for_sampler``, on
    whose energy a trainable sampler trains (with its graph). ``None``: no samples."""

    for_energy: Tensor | None
    for_sampler: Tensor | None


NO_SAMPLES = ContrastiveSamples(None, None)
"""What a step without contrastive samples draws (the loss then gets ``fake=None``)."""


class StepExtension:
    """A named variant of the training step. Every hook's default leaves the step as it is.

    Give a trainer its extensions with ``Trainer(..., extensions=[...])``, or let a
    component bring the ones it needs in every run from its ``step_extensions()`` (how a
    plugin's component reaches ``ebkit train`` runs); ``ebkit train`` builds the
    built-in ones from the ``train`` options. Hooks receive the
    trainer, whose ``components``, ``settings``, ``step`` (steps done before this one),
    ``device``, generators and ``batch`` (the step's data, ``DataBatch(x, y)`` on the
    device) they may read.
    """

    name: ClassVar[str] = "extension"
    """Names the extension in messages."""

    def attach(self, trainer: Trainer) -> None:
        """Called once when the trainer is built, after its components are on its
        device and before its optimisers exist: check what the extension needs and
        raise :class:`ebkit.UsageError` (one line) when the components cannot provide it."""

    def draw_contrastive(
        self, trainer: Trainer, labels: Tensor | None
    ) -> ContrastiveSamples | None:
        """The step's contrastive samples, to replace the sampler's draw; ``None``
        leaves the draw to the sampler. The first extension that returns samples wins."""
        return None

    def trains_sampler(self, trainer: Trainer) -> bool:
        """Whether a trainable sampler takes its step this time; it does only when every
        extension agrees."""
        return True

    def energy_terms(
        self, trainer: Trainer, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput | None:
        """A term added, already weighted, to the energy's loss after the loss's own
        penalties; its metrics join the step's. ``real``, ``fake``: the energies of the
        data and of the detached contrastive samples (``None`` without samples)."""
        return None

    def callbacks(self) -> Sequence[Callback]:
        """Callbacks of the extension; the trainer runs them before its own."""
        return ()

    def stateful(self) -> Mapping[str, Stateful]:
        """The parts whose state checkpoints keep, by the prefix of their keys."""
        return {}


class DataOnlyStep(StepExtension):
    """The step without contrastive samples, for a sampler whose ``draws_samples`` is
    false (the built-in ``none``): the energy trains on the data alone with a loss whose
    ``needs_contrastive`` is false (the built-in ``none``, the Ladder network's
    baseline). Chosen by the trainer when it is built with such a sampler."""

    name = "data-only"

    def attach(self, trainer: Trainer) -> None:
        components = trainer.components
        sampler, loss = components.sampler, components.loss
        if loss.needs_contrastive:
            raise UsageError(
                f"the sampler {type(sampler).__name__} draws no contrastive samples, which "
                f"the loss {type(loss).__name__} needs with these options: choose a sampler "
                "that draws them, options of the loss that need none, "
                "or --loss none (the data's energy alone)"
            )
        if components.regularizers:
            raise UsageError("regularizers need contrastive samples, which --sampler none lacks")

    def draw_contrastive(self, trainer: Trainer, labels: Tensor | None) -> ContrastiveSamples:
        return NO_SAMPLES


class FreezeSampler(StepExtension):
    """Train a trainable sampler only during the first ``after`` steps; afterwards it
    still draws the contrastive samples, frozen, while the energy trains on: EBGAN-LN's
    schedule (Zhao et al. 2017, appendix D: the generator's training is turned off
    after the first 60,000 steps), set with ``train.sampler_steps``."""

    name = "freeze-sampler"

    def __init__(self, after: int) -> None:
        if after < 1:
            raise ValueError(f"the sampler must train for at least one step, not {after}")
        self.after = after

    def trains_sampler(self, trainer: Trainer) -> bool:
        return trainer.step < self.after


def implied_extensions(components: Components) -> list[StepExtension]:
    """The extensions the components themselves call for: :class:`DataOnlyStep` for a
    sampler that draws no samples, then those the energy, the sampler and the loss list
    in their ``step_extensions()``."""
    implied: list[StepExtension] = [] if components.sampler.draws_samples else [DataOnlyStep()]
    for part in (components.energy, components.sampler, components.loss):
        implied.extend(part.step_extensions())
    return implied
