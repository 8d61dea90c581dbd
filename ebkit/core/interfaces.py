"""The interfaces every component implements: energies, samplers, losses, regularizers
and datasets.

One training step uses them like the algorithm box of the papers (Goodfellow et al.
2014, Algorithm 1, with the energy-based losses of Zhao et al. 2017, eq. 1–2)::

    x, y = dataset.sample(B, generator)                   # (B, *event_shape); y: labels
    x_neg, x_gen = sampler.training_samples(B, energy, generator, y)  # usually the same
    real, fake = energy(x, y), energy(x_neg.detach(), y)  # EnergyOutput each
    loss.energy_loss(real, fake) (+ weighted regularizers) -> step the energy
    if the sampler trains (a trainable sampler, every step extension agreeing):
        fake = energy(x_gen, y)                           # with the graph to the sampler
        loss.sampler_loss(fake) (+ weighted regularizers) -> step the sampler
    loss.update_state(real, fake)                         # BEGAN's k_t, schedules

``y`` is ``None`` unless the run is conditional. Variants of the step (semi-supervision,
a sampler frozen after N steps, no contrastive samples) are step extensions
(:mod:`ebkit.core.extensions`), not branches of it.

Randomness always comes from an explicit ``torch.Generator`` so runs are reproducible
and resumable; no component touches the global RNG.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from ebkit.core.contributions import RunContributions

__all__ = [
    "ContrastiveSampler",
    "DataBatch",
    "DataSpec",
    "Dataset",
    "EnergyFunction",
    "EnergyOutput",
    "LossFunctional",
    "LossOutput",
    "Regularizer",
    "RunContributions",
    "energy_metrics",
]


@dataclass(frozen=True)
class DataSpec:
    """What components need to know about the data, without the data itself.

    ``event_shape`` is the shape of one sample: ``(D,)`` for vectors (``(2,)`` for the
    2-D toys) or ``(C, H, W)`` for images. Samples lie in ``[low, high]``.
    ``num_classes`` is set when the dataset has labels.

    ``conditional`` is set for a conditional run (``--conditional``): components then
    model p(x | y) and receive the class labels with every batch (see
    :attr:`EnergyFunction.accepts_labels`). It needs ``num_classes``.
    """

    event_shape: tuple[int, ...]
    low: float = -1.0
    high: float = 1.0
    num_classes: int | None = None
    conditional: bool = False

    def __post_init__(self) -> None:
        if self.conditional and not self.num_classes:
            raise ValueError("a conditional DataSpec needs num_classes")

    @property
    def dim(self) -> int:
        """Number of scalars per sample (pixels times channels for images)."""
        return math.prod(self.event_shape)

    @property
    def is_image(self) -> bool:
        return len(self.event_shape) == 3


@dataclass
class EnergyOutput:
    """The structured output of an :class:`EnergyFunction` for a batch of B samples.

    ``energy`` is always present. The optional fields carry what losses and regularizers
    need beyond the scalar; an energy lists the ones it fills in ``EnergyFunction.provides``.

    - ``energy``: ``(B,)``, one scalar per sample, lower on the data.
    - ``features``: ``(B, F)``, the encoder's code (the pulling-away term uses it).
    - ``reconstruction``: ``(B, *event_shape)``, for auto-encoder energies.
    - ``logits``: ``(B, num_classes)``, for energies that also classify (Ladder networks).
    - ``residual``: ``(B, *event_shape)``, ``reconstruction − x`` of auto-encoder energies,
      for losses built on per-pixel errors (BEGAN's L(v) = mean |v − D(v)|^η).
    """

    energy: Tensor
    features: Tensor | None = None
    reconstruction: Tensor | None = None
    logits: Tensor | None = None
    residual: Tensor | None = None

    def in_full_precision(self) -> EnergyOutput:
        """Itself, or a copy with float16/bfloat16 fields in float32 (differentiably)."""
        half = (torch.float16, torch.bfloat16)
        if all(value is None or value.dtype not in half for value in self._values()):
            return self
        return EnergyOutput(
            *(v if v is None or v.dtype not in half else v.float() for v in self._values())
        )

    def detach(self) -> EnergyOutput:
        return EnergyOutput(
            *(None if value is None else value.detach() for value in self._values())
        )

    def _values(self) -> tuple[Tensor | None, ...]:
        return (self.energy, self.features, self.reconstruction, self.logits, self.residual)


class EnergyFunction(RunContributions, nn.Module, ABC):
    """Maps a batch to one scalar energy per sample.

    ``forward(x: (B, *event_shape)) -> EnergyOutput`` with ``energy: (B,)``.
    Subclasses set ``provides`` to the optional :class:`EnergyOutput` fields they fill,
    so that a regularizer needing ``features`` can refuse an energy without them before
    training starts.

    **Conditioning.** An energy that can model E(x | y) sets ``accepts_labels = True``;
    when its ``spec.conditional`` is set it builds its label layers and is called as
    ``forward(x, labels)`` with ``labels: (B,)`` int64 class indices on ``x``'s device.
    Otherwise it is called as ``forward(x)``. Call sites that may hold labels use
    :meth:`evaluate`. An energy without ``accepts_labels`` is refused, with one line, by a
    conditional run.
    """

    provides: ClassVar[frozenset[str]] = frozenset()
    accepts_labels: ClassVar[bool] = False

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.spec = spec

    @abstractmethod
    def forward(self, x: Tensor) -> EnergyOutput:
        """``x: (B, *event_shape) -> EnergyOutput`` with ``energy: (B,)``."""

    def evaluate(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        """``self(x)``, or ``self(x, labels)`` when labels are given (conditional runs).

        Under autocast (``--precision bf16``/``fp16``) the fields come back in float32:
        losses, regularizers and Langevin gradients are computed in float32."""
        output = self(x) if labels is None else self(x, labels)
        return output.in_full_precision()

    def energy(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Just the scalar energies, ``(B, *event_shape) -> (B,)``."""
        return self.evaluate(x, labels).energy

    def contrastive_scope(self) -> AbstractContextManager[object]:
        """The context in which the engine evaluates contrastive samples (default: none):
        an energy whose running statistics serve evaluation (the Ladder network's
        BatchNorm) can return one that keeps contrastive samples out of them."""
        return nullcontext()


class ContrastiveSampler(RunContributions, nn.Module, ABC):
    """Produces the contrastive samples whose energy the loss pushes up.

    Three families share this interface:

    - trainable samplers (a generator) set ``trainable = True``, own parameters, and
      return samples that carry a graph to those parameters; the engine trains them
      with ``LossFunctional.sampler_loss``;
    - stateless samplers (Langevin) only read the energy;
    - stateful samplers (a replay buffer) keep their state in registered buffers or in
      ``extra_state_dict`` so checkpoints restore it exactly;
    - compositions (a generator refined by Langevin) own other samplers as sub-modules.

    A sampler with ``draws_samples = False`` (the built-in ``none``) stands for "no
    contrastive samples": the engine then never calls it, and pairs it only with a loss
    whose ``needs_contrastive`` is false.

    **Conditioning.** A sampler that can draw samples of a requested class sets
    ``accepts_labels = True``; in a conditional run (``spec.conditional``) the engine
    passes ``labels: (n,)`` int64 to :meth:`sample` and :meth:`training_samples`, and
    the sampler conditions on them (a generator G(z, y)) or hands them to the energy
    (MCMC on E(x | y), through :meth:`EnergyFunction.evaluate`). In other runs
    ``labels`` is ``None``.

    **Modes.** Training steps call it with gradients on and the energy in training mode;
    pictures, ``ebkit sample`` and ``evaluate`` under ``torch.no_grad()``, energy in eval
    mode. Chains on ∇ₓE enable grad themselves and keep it off the energy's parameters
    (helpers: :mod:`ebkit.core.chains`; the table in ``docs/plugins.md``).
    """

    trainable: ClassVar[bool] = False
    draws_samples: ClassVar[bool] = True
    accepts_labels: ClassVar[bool] = False

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.spec = spec

    @abstractmethod
    def sample(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Draw ``n`` contrastive samples, ``(n, *event_shape)``, for ``energy``.

        ``generator`` is the only source of randomness and lives on the samples' device.
        Samples of a trainable sampler keep their graph; others should be detached.
        ``labels: (n,)`` are the requested classes in a conditional run, else ``None``
        (a sampler without ``accepts_labels`` may leave the parameter out).
        """

    def training_samples(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """The samples of one training step: ``(for the energy step, for the sampler
        step)``, each ``(n, *event_shape)``.

        The engine detaches the first and pushes its energy up; a trainable sampler is
        trained on the energy of the second, which keeps its graph. The default draws
        once and returns ``(s, s)`` with ``s = self.sample(n, energy, generator)``.
        Override it when the two differ: ``generator-langevin`` returns
        (Langevin-refined G(z), raw G(z)) from the same z, so that the energy learns from
        refined samples while G trains on its own. When the loss asks for a fresh batch
        for the sampler step, the engine calls this again and uses the second.
        ``labels`` as in :meth:`sample`.
        """
        samples = self.draw(n, energy, generator, labels)
        return samples, samples

    def draw(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """:meth:`sample`, passing ``labels`` only when there are some, so that samplers
        written without a ``labels`` parameter keep working: what callers use."""
        if labels is None:
            return self.sample(n, energy, generator)
        return self.sample(n, energy, generator, labels)

    def metrics(self) -> dict[str, Tensor | float]:
        """Diagnostics from the last ``sample`` call (acceptance rate, gradient norm...)."""
        return {}


@dataclass
class LossOutput:
    """A scalar loss and the metrics to log with it (tensors are fine: the engine reads
    them only when it logs, so no device sync happens on every step)."""

    loss: Tensor
    metrics: dict[str, Tensor | float] = field(default_factory=dict)


def energy_metrics(real: Tensor, fake: Tensor) -> dict[str, Tensor | float]:
    """The diagnostics every contrastive loss logs, as detached tensors (no host sync):
    ``energy_real`` and ``energy_fake`` (mean energies of data and contrastive samples,
    ``(B,)`` each) and ``energy_gap`` = fake − real (positive while the energy separates
    them, as the contrastive losses ask: Zhao, Mathieu & LeCun 2017, eq. 1; Du & Mordatch
    2019)."""
    with torch.no_grad():
        energy_real, energy_fake = real.mean(), fake.mean()
        return {
            "energy_real": energy_real,
            "energy_fake": energy_fake,
            "energy_gap": energy_fake - energy_real,
        }


class LossFunctional(RunContributions, nn.Module, ABC):
    """Turns energies of data and contrastive samples into losses.

    ``energy_loss`` shapes the energy surface; ``sampler_loss`` trains a trainable
    sampler. State carried between steps (BEGAN's k_t, the step of a margin schedule)
    lives in registered buffers, so it is checkpointed with the rest, and changes only in
    ``update_state``, called once at the end of every step.

    A loss that wants the sampler step to draw a fresh batch instead of reusing the
    energy step's samples (BEGAN's z_G) sets ``fresh_sampler_batch = True``.
    ``requires`` lists the :class:`EnergyOutput` fields it reads beyond ``energy``; the
    engine checks them against ``EnergyFunction.provides`` before training.
    A loss with ``needs_contrastive = False`` (the built-in ``none``) is used without
    contrastive samples, and receives ``fake=None``.
    """

    fresh_sampler_batch: ClassVar[bool] = False
    requires: ClassVar[frozenset[str]] = frozenset()
    needs_contrastive: ClassVar[bool] = True

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.spec = spec

    @abstractmethod
    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        """Loss for the energy's parameters; ``fake`` holds energies of detached samples."""

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        """Loss for a trainable sampler; ``fake`` carries the graph to its parameters."""
        raise NotImplementedError(f"{type(self).__name__} cannot train a sampler")

    def update_state(self, real: EnergyOutput, fake: EnergyOutput) -> dict[str, Tensor | float]:
        """Advance the loss's state after a step; return metrics to log (default: none)."""
        return {}


class Regularizer(nn.Module, ABC):
    """An extra weighted term on the energy's or the sampler's loss.

    The engine adds ``weight * penalty(real, fake)`` to the loss named by ``target``.
    ``requires`` lists the :class:`EnergyOutput` fields the penalty reads; the engine
    checks them against ``EnergyFunction.provides`` before training.
    """

    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, spec: DataSpec, *, weight: float, target: Literal["energy", "sampler"]
    ) -> None:
        super().__init__()
        if target not in ("energy", "sampler"):
            raise ValueError(f"target must be 'energy' or 'sampler', not {target!r}")
        if not weight >= 0:
            raise ValueError(f"weight must be a non-negative number, not {weight!r}")
        self.spec = spec
        self.weight = float(weight)
        self.target = target

    @abstractmethod
    def penalty(self, real: EnergyOutput | None, fake: EnergyOutput) -> Tensor:
        """The unweighted scalar penalty. ``real`` is ``None`` on the sampler's loss."""


@dataclass
class DataBatch:
    """A batch of samples ``x: (B, *event_shape)`` and, if the data has them, labels
    ``y: (B,)`` (int64)."""

    x: Tensor
    y: Tensor | None = None


class Dataset(ABC):
    """A source of training batches.

    Implement ``spec`` and ``sample``. Finite datasets can subclass
    :class:`ebkit.core.data.TensorDataset`, which draws batches epoch by epoch.
    Datasets that keep state (an epoch position) expose it through ``state_dict`` and
    ``load_state_dict`` with tensors or plain JSON values, so a resumed run continues
    with exactly the batches it would have seen.
    """

    spec: DataSpec

    @abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        """Draw a batch on the CPU using only ``generator`` for randomness."""

    def state_dict(self) -> dict[str, Tensor | int | float | str]:
        return {}

    def load_state_dict(self, state: dict[str, Tensor | int | float | str]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state but got {sorted(state)}")
