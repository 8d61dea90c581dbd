"""The regularised auto-encoder energies: denoising, contractive and sparse.

Each energy is a reconstruction error, low where the auto-encoder reconstructs well. An
auto-encoder free to learn the identity would reconstruct everything, a flat energy; the
three regularisers are LeCun's strategies 5–7 for keeping the volume of low energy small
without contrastive samples (LeCun et al. 2006, §1.3 and §2.2; Ranzato et al. 2007):

- denoising (Vincent et al. 2008): reconstruct x from x̃ = x + σ·ε, which the identity
  cannot do; the energy *is* the expected denoising error;
- contractive (Rifai et al. 2011): + λ·‖∂h/∂x‖_F² on the data, so the code (or the
  reconstruction) varies only along the data;
- sparse (Ranzato et al. 2007; Lee et al. 2007): + λ·‖h‖₁ on the data, so few code units
  are active and few inputs can be coded cheaply.

So they train with ``--sampler none --loss none`` (the data's mean energy pushed down, the
regulariser doing the rest) and, as EBGAN's discriminator, with ``--sampler generator
--loss margin`` (the penalty still on the data's term only).

**How the penalty reaches the loss.** ``ebkit`` regularizers see only the energy's output
(not the input a Jacobian is taken at) and are refused with ``--sampler none``, so the
penalty is the energy's own: on data in training mode, the forward pass also computes
λ·Ω, and the step extension the energy brings (:class:`AutoEncoderStep`, through
``EnergyFunction.step_extensions``) adds it to the energy's loss and logs it. Contrastive
samples, which the engine evaluates inside ``contrastive_scope()``, get no penalty, and
the reported energy never includes it.

**Randomness.** The denoising energy draws its corruption in training mode from the
generator the trainer gives it: :class:`AutoEncoderStep` hands it the trainer's
contrastive-sample generator when it is attached, which checkpoints save and restore, so
a resumed run draws the same noise. Outside a trainer it falls back to torch's global RNG
(like ``nn.Dropout``). In evaluation mode it averages over fixed noise (a generator seeded
with :data:`EVAL_NOISE_SEED` at every call), so the energy of a point is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from ebkit import DataSpec, EnergyFunction, EnergyOutput, LossOutput, StepExtension
from ebkit_rae.network import AutoEncoderNetwork
from ebkit_rae.penalties import (
    DISTANCES,
    contractive_penalty,
    reconstruction_error,
    sparse_penalty,
)

if TYPE_CHECKING:
    from ebkit import Trainer

EVAL_NOISE_SEED = 0
"""Seed of the fixed corruptions the denoising energy averages over in evaluation mode."""

JACOBIANS: tuple[str, ...] = ("reconstruction", "code")
"""What the contractive penalty differentiates: the reconstruction r(x) (Alain & Bengio
2014) or the encoder's code h(x) (Rifai et al. 2011)."""


class RegularisedAutoEncoderEnergy(EnergyFunction):
    """E(x) = reconstruction error of an :class:`~ebkit_rae.network.AutoEncoderNetwork`.

    ``x: (B, *event_shape) -> EnergyOutput`` with ``energy: (B,)``, ``features: (B, code)``
    (the code h), ``reconstruction`` and ``residual`` (reconstruction − x), both
    ``(B, *event_shape)``. Subclasses choose the regulariser (:meth:`data_penalty`).
    """

    provides: ClassVar[frozenset[str]] = frozenset({"features", "reconstruction", "residual"})
    penalty_name: ClassVar[str] = ""
    """Names the logged penalty ``penalty_NAME``; empty: no penalty term."""

    def __init__(
        self,
        spec: DataSpec,
        *,
        width: int = 128,
        depth: int = 2,
        code: int = 64,
        activation: str = "tanh",
        distance: str = "mse",
        weight: float = 0.0,
        code_activation: str | None = None,
    ) -> None:
        super().__init__(spec)
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, not {distance!r}")
        if not (weight >= 0 and weight < float("inf")):
            raise ValueError(f"weight must be a finite number >= 0, not {weight!r}")
        self.network = AutoEncoderNetwork(
            spec.dim,
            width=width,
            depth=depth,
            code=code,
            activation=activation,
            code_activation=code_activation,
        )
        self.distance = distance
        self.weight = float(weight)
        self.generator_source: Callable[[], torch.Generator] | None = None
        """Gives the generator training-mode noise comes from (the trainer's, set by
        :class:`AutoEncoderStep`); ``None``: torch's global RNG."""
        self._contrastive = False
        self._pending_penalty: Tensor | None = None

    # -- what the engine calls -------------------------------------------------------

    def forward(self, x: Tensor) -> EnergyOutput:
        if tuple(x.shape[1:]) != tuple(self.spec.event_shape):
            raise ValueError(
                f"expected samples of shape {tuple(self.spec.event_shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        flat = x.reshape(x.shape[0], -1)
        on_data = self.training and not self._contrastive and self.weight > 0
        code, reconstruction, penalty = self.encode(flat, with_penalty=on_data)
        if on_data:
            self._pending_penalty = penalty
        residual = reconstruction - flat
        return EnergyOutput(
            energy=self.energy_of(flat, reconstruction),
            features=code,
            reconstruction=reconstruction.reshape(x.shape),
            residual=residual.reshape(x.shape),
        )

    def contrastive_scope(self) -> AbstractContextManager[object]:
        """Contrastive samples are evaluated without the data's penalty."""
        return self._scope()

    def step_extensions(self) -> Sequence[StepExtension]:
        return (AutoEncoderStep(self),)

    # -- what subclasses vary --------------------------------------------------------

    def encode(self, flat: Tensor, *, with_penalty: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(code, reconstruction, mean penalty Ω over the batch or None)``."""
        code, reconstruction = self.network(flat)
        return code, reconstruction, None

    def energy_of(self, flat: Tensor, reconstruction: Tensor) -> Tensor:
        """The per-sample energy ``(B,)``: the reconstruction error."""
        return reconstruction_error(reconstruction - flat, self.distance)

    # -- the penalty's way to the loss -----------------------------------------------

    def take_penalty(self) -> Tensor | None:
        """The mean penalty Ω of the last training-mode forward pass on data (with its
        graph), once; ``None`` if there was none since the last call."""
        penalty, self._pending_penalty = self._pending_penalty, None
        return penalty

    @contextmanager
    def _scope(self) -> Iterator[None]:
        previous, self._contrastive = self._contrastive, True
        try:
            yield
        finally:
            self._contrastive = previous

    def extra_repr(self) -> str:
        return f"distance={self.distance!r}, weight={self.weight:g}"


class ContractiveAutoEncoderEnergy(RegularisedAutoEncoderEnergy):
    """The contractive auto-encoder (Rifai et al. 2011, eq. 2 and 3): E(x) = (1/d)·‖r(x) − x‖²,
    and on the data's loss + λ·‖J(x)‖_F² (:func:`~ebkit_rae.penalties.contractive_penalty`)
    with J = ∂r/∂x (``jacobian="reconstruction"``, Alain & Bengio 2014, eq. 5) or ∂h/∂x
    (``jacobian="code"``, Rifai et al.). The Jacobian is exact (carried through the
    layers: :mod:`ebkit_rae.network`), d × (width) numbers per sample and layer.
    """

    penalty_name = "contractive"

    def __init__(
        self,
        spec: DataSpec,
        *,
        width: int = 128,
        depth: int = 2,
        code: int = 64,
        activation: str = "tanh",
        distance: str = "mse",
        weight: float = 0.1,
        jacobian: str = "reconstruction",
    ) -> None:
        super().__init__(
            spec,
            width=width,
            depth=depth,
            code=code,
            activation=activation,
            distance=distance,
            weight=weight,
        )
        if jacobian not in JACOBIANS:
            raise ValueError(f"jacobian must be one of {', '.join(JACOBIANS)}, not {jacobian!r}")
        self.jacobian = jacobian

    def encode(self, flat: Tensor, *, with_penalty: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        if not with_penalty:
            return (*self.network(flat), None)
        code, reconstruction, jacobian = self.network.with_jacobian(flat, self.jacobian)
        return code, reconstruction, contractive_penalty(jacobian).mean()


class SparseAutoEncoderEnergy(RegularisedAutoEncoderEnergy):
    """The sparse auto-encoder (Ranzato et al. 2007, §2): E(x) = (1/d)·‖r(x) − x‖², and on
    the data's loss + λ·‖h(x)‖₁ (:func:`~ebkit_rae.penalties.sparse_penalty`).

    The code is rectified, h = max(0, ·) (Glorot, Bordes & Bengio 2011), so a unit can be
    exactly off (a softplus code only approaches 0, and its L1 norm then has a floor that
    drowns the reconstruction); the decoder reads h through unit-norm columns, so h cannot
    shrink for free (:class:`~ebkit_rae.network.UnitColumnLinear`). Rectified units can
    all die under a strong penalty or a large learning rate, which leaves a constant
    reconstruction and a flat energy: it did on the ring of 8 Gaussians at lr 5e-3 (width
    32, code 16, two softplus hidden layers, 400 steps), not at the default 1e-3. The
    reported energy leaves λ·‖h‖₁ out: with it in, the same trained network separated data
    from the rest of the plane less (mean energy on the data / over the data's box 0.80
    against 0.24).
    """

    penalty_name = "sparse"

    def __init__(
        self,
        spec: DataSpec,
        *,
        width: int = 128,
        depth: int = 2,
        code: int = 64,
        activation: str = "tanh",
        distance: str = "mse",
        weight: float = 0.01,
    ) -> None:
        super().__init__(
            spec,
            width=width,
            depth=depth,
            code=code,
            activation=activation,
            distance=distance,
            weight=weight,
            code_activation="relu",
        )

    def encode(self, flat: Tensor, *, with_penalty: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        code, reconstruction = self.network(flat)
        return code, reconstruction, sparse_penalty(code).mean() if with_penalty else None


class AutoEncoderStep(StepExtension):
    """What a regularised auto-encoder energy brings to every training step: the trainer's
    contrastive-sample generator for its noise (:meth:`attach`), and λ·Ω of the data batch
    on the energy's loss, logged as ``penalty_NAME`` (:meth:`energy_terms`)."""

    name = "regularised-autoencoder"

    def __init__(self, energy: RegularisedAutoEncoderEnergy) -> None:
        self.energy = energy

    def attach(self, trainer: Trainer) -> None:
        # The trainer makes its generators after attaching extensions: read it when used.
        self.energy.generator_source = lambda: trainer.sample_generator

    def energy_terms(
        self, trainer: Trainer, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput | None:
        penalty = self.energy.take_penalty()
        if penalty is None:
            return None
        metrics: dict[str, Tensor | float] = {
            f"penalty_{self.energy.penalty_name}": penalty.detach()
        }
        return LossOutput(self.energy.weight * penalty, metrics)
