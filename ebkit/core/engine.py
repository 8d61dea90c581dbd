"""The training engine: the alternating energy/sampler step and a thin callback loop.

:meth:`Trainer.train_step` reads like the algorithm box of the papers (Goodfellow et al.
2014, Algorithm 1, with the energy-based losses of Zhao et al. 2017, eq. 1–2). Variants
of the step (semi-supervision, a sampler frozen after N steps, the data-only step) are
:class:`ebkit.core.extensions.StepExtension` objects; logging, checkpoints, pictures and
progress hang off :class:`Callback` objects, so the step stays free of bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ebkit.core.errors import NonFiniteLossError
from ebkit.core.extensions import (
    Callback,
    ContrastiveSamples,
    Metrics,
    Stateful,
    StepExtension,
    implied_extensions,
    metrics_to_floats,
)
from ebkit.core.finite import NonFiniteWatch
from ebkit.core.hardware import ModuleRNG, Precision, compile_networks, full_precision
from ebkit.core.interfaces import (
    ContrastiveSampler,
    DataBatch,
    Dataset,
    EnergyFunction,
    EnergyOutput,
    LossFunctional,
    Regularizer,
)
from ebkit.core.labels import class_cycle
from ebkit.core.optimizers import make_optimizer
from ebkit.core.requirements import check_requirements

__all__ = [
    "Callback",
    "Components",
    "Metrics",
    "TrainSettings",
    "Trainer",
    "metrics_to_floats",
]


@dataclass
class Components:
    """The built pieces of a run."""

    dataset: Dataset
    energy: EnergyFunction
    sampler: ContrastiveSampler
    loss: LossFunctional
    regularizers: dict[str, Regularizer] = field(default_factory=dict)


@dataclass
class TrainSettings:
    """The engine's own settings (those of the ``train`` options of a run)."""

    steps: int = 2000
    batch_size: int = 64
    seed: int = 0
    energy_lr: float = 1e-3
    sampler_lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    energy_optimizer: str = "adam"
    sampler_optimizer: str = "adam"


class Trainer:
    """Trains an energy against a contrastive sampler with a loss functional.

    Randomness comes from two generators seeded from ``settings.seed``: one on the CPU
    for data batches, one on ``device`` for the sampler. Both, like every parameter,
    optimiser moment, buffer and the step counter, are part of :meth:`state`.
    ``precision`` (``fp32``, ``bf16``, ``fp16``; :class:`~ebkit.core.hardware.Precision`)
    runs the networks' forward passes under autocast, losses in float32; ``compiled``
    compiles the networks (:func:`~ebkit.core.hardware.compile_networks`).
    ``extensions`` vary the step (see :mod:`ebkit.core.extensions`); those the
    components call for (:func:`~ebkit.core.extensions.implied_extensions`) come first,
    and the extensions' callbacks run before ``callbacks``. ``batch``, the step's data
    (``DataBatch(x, y)`` on the device, set first in :meth:`train_step`), is for extensions
    whose term needs the data themselves (score matching differentiates E in x). The
    energy's optimiser also trains the loss's own parameters (NCE's log-partition constant).
    """

    def __init__(
        self,
        components: Components,
        settings: TrainSettings,
        *,
        device: torch.device | str = "cpu",
        callbacks: Sequence[Callback] = (),
        extensions: Sequence[StepExtension] = (),
        precision: str = "fp32",
        compiled: bool = False,
    ) -> None:
        self.components = components
        self.settings = settings
        self.device = torch.device(device)
        self.extensions = [*implied_extensions(components), *extensions]
        self.callbacks = [*self.extension_callbacks(), *callbacks]
        self.step = 0
        self.batch: DataBatch | None = None
        self.last_energies: dict[str, Tensor] = {}
        """The per-sample energies ``(B,)`` of the last step's ``data`` and ``contrastive``
        batches, detached and where they were computed (no host sync): loggers draw their
        histograms from them at logged steps."""
        self.conditional = components.energy.spec.conditional
        """A conditional run: the data's labels go to the energy and the sampler."""
        for module in self.modules().values():
            module.to(self.device)
        if compiled:
            compile_networks(components.energy, components.sampler)
        check_requirements(components)
        for extension in self.extensions:
            extension.attach(self)

        betas = (settings.beta1, settings.beta2)
        trained_with_energy = [*components.energy.parameters(), *components.loss.parameters()]
        self.energy_optimizer = make_optimizer(
            settings.energy_optimizer, trained_with_energy, settings.energy_lr, betas
        )
        self.sampler_optimizer = None
        if components.sampler.trainable:
            self.sampler_optimizer = make_optimizer(
                settings.sampler_optimizer,
                components.sampler.parameters(),
                settings.sampler_lr,
                betas,
            )
        self.precision = Precision(precision, self.device, list(self.optimizers()))
        self.data_generator = torch.Generator().manual_seed(settings.seed)
        self.sample_generator = torch.Generator(self.device).manual_seed(settings.seed + 1)
        # Modules such as nn.Dropout draw from torch's global RNG and offer no generator
        # argument; each step runs them on this saved state instead (see train_step).
        self.module_rng = ModuleRNG(settings.seed + 2, self.device)
        self._energy_regularizers = _targeting(components.regularizers, "energy")
        self._sampler_regularizers = _targeting(components.regularizers, "sampler")
        self._non_finite = NonFiniteWatch(("energy loss", "sampler loss"))

    # -- the algorithm ---------------------------------------------------------------

    def train_step(self) -> Metrics:
        """One step: the energy's update on data against detached contrastive samples,
        then the sampler's (if it trains this step), then the loss's state update.

        Whatever the modules draw from torch's global RNG comes from the trainer's own
        saved state (:class:`~ebkit.core.hardware.ModuleRNG`). A non-finite loss is noted
        without a host synchronisation and raised by :meth:`check_finite`."""
        loss = self.components.loss
        with self.module_rng.scope():
            # A data batch (with its labels in a conditional run) and contrastive samples.
            x, labels = self._data_batch()
            self.batch = DataBatch(x, labels)
            sampler_trains = self.sampler_trains()
            samples = self._draw_contrastive(labels, sampler_trains)
            # The energies of both; the energy's loss, penalties and terms; its update.
            real = self._energy(x, labels)
            fake = self._contrastive_energy(samples.for_energy, labels, detach=True)
            self.last_energies = _energies_for_loggers(real, fake)
            energy_term = loss.energy_loss(real, fake)
            metrics: Metrics = dict(energy_term.metrics)
            total = self._add_penalties(
                energy_term.loss, self._energy_regularizers, real, fake, metrics
            )
            total = self._add_extension_terms(total, real, fake, metrics)
            self._descend("energy", total)
            # If the sampler trains: its loss and penalties; its update.
            sampler_fake = fake
            if sampler_trains:
                sampler_fake = self._contrastive_energy(
                    self._sampler_samples(samples, labels), labels
                )
                sampler_term = loss.sampler_loss(sampler_fake)
                metrics.update(sampler_term.metrics)
                total = self._add_penalties(
                    sampler_term.loss, self._sampler_regularizers, None, sampler_fake, metrics
                )
                self._descend("sampler", total)
            # The loss's state (BEGAN's k_t, schedules), once per step.
            metrics.update(self.components.sampler.metrics())
            metrics.update(loss.update_state(real.detach(), _detached(sampler_fake)))
        self.step += 1
        return metrics

    def sampler_trains(self) -> bool:
        """Whether the sampler takes its step this time: a trainable sampler whose
        extensions all agree (:meth:`StepExtension.trains_sampler`)."""
        return self.sampler_optimizer is not None and all(
            extension.trains_sampler(self) for extension in self.extensions
        )

    def _data_batch(self) -> tuple[Tensor, Tensor | None]:
        """``x: (B, *event_shape)`` on the device and, in a conditional run, its labels
        ``(B,)``, the classes the contrastive samples are drawn for (else ``None``)."""
        batch = self.components.dataset.sample(self.settings.batch_size, self.data_generator)
        x = batch.x.to(self.device, non_blocking=True)
        if not self.conditional:
            return x, None
        assert batch.y is not None  # the builder checked that the data has labels
        return x, batch.y.to(self.device, non_blocking=True)

    def _draw_contrastive(self, labels: Tensor | None, sampler_trains: bool) -> ContrastiveSamples:
        for extension in self.extensions:
            drawn = extension.draw_contrastive(self, labels)
            if drawn is not None:
                return drawn
        sampler = self.components.sampler
        # A trainable sampler that does not train this step needs no graph; others may
        # well differentiate the energy (MCMC), so their grad mode is left as it is.
        grad = torch.set_grad_enabled(sampler_trains or not sampler.trainable)
        with grad, self.precision.autocast():
            for_energy, for_sampler = sampler.training_samples(
                self.settings.batch_size, self.components.energy, self.sample_generator, labels
            )
        return ContrastiveSamples(_full(for_energy), _full(for_sampler))

    def _sampler_samples(self, samples: ContrastiveSamples, labels: Tensor | None) -> Tensor:
        """The samples of the sampler's step: the step's own, or a fresh batch for a loss
        that asks for one (BEGAN's z_G apart from z_D)."""
        if self.components.loss.fresh_sampler_batch:
            with self.precision.autocast():
                _, fresh = self.components.sampler.training_samples(
                    self.settings.batch_size, self.components.energy, self.sample_generator, labels
                )
            assert fresh is not None  # a sampler that trains draws samples
            return full_precision(fresh)
        assert samples.for_sampler is not None  # a sampler that trains draws samples
        return samples.for_sampler

    def _energy(self, x: Tensor, labels: Tensor | None) -> EnergyOutput:
        """The energy's output on ``x``, its forward pass under the run's autocast (the
        output comes back in float32: :meth:`EnergyFunction.evaluate`)."""
        with self.precision.autocast():
            return self.components.energy.evaluate(x, labels)

    def _contrastive_energy(
        self, samples: Tensor | None, labels: Tensor | None, *, detach: bool = False
    ) -> EnergyOutput | None:
        """The energy of contrastive samples, in the energy's ``contrastive_scope``."""
        if samples is None:
            return None
        with self.components.energy.contrastive_scope():
            return self._energy(samples.detach() if detach else samples, labels)

    def _add_penalties(
        self,
        loss: Tensor,
        regularizers: list[tuple[str, Regularizer]],
        real: EnergyOutput | None,
        fake: EnergyOutput | None,
        metrics: Metrics,
    ) -> Tensor:
        for name, regularizer in regularizers:
            assert fake is not None  # regularizers need contrastive samples (checked)
            penalty = regularizer.penalty(real, fake)
            metrics[f"penalty_{name}"] = penalty.detach()
            loss = loss + regularizer.weight * penalty
        return loss

    def _add_extension_terms(
        self, loss: Tensor, real: EnergyOutput, fake: EnergyOutput | None, metrics: Metrics
    ) -> Tensor:
        for extension in self.extensions:
            term = extension.energy_terms(self, real, fake)
            if term is not None:
                loss = loss + term.loss
                metrics.update(term.metrics)
        return loss

    def _descend(self, part: str, loss: Tensor) -> None:
        """Record whether ``loss`` is finite, then step the optimiser of ``part``."""
        self._non_finite.record(loss, f"{part} loss", self.step + 1)
        self.precision.descend(part, self.optimizers()[part], loss)

    def check_finite(self) -> None:
        """Raise :class:`ebkit.NonFiniteLossError` if a loss has been NaN or infinite,
        naming the first step where one was (one host synchronisation). Callbacks call
        it before they read metrics or save a checkpoint."""
        self._non_finite.check()

    # -- the loop --------------------------------------------------------------------

    def fit(self) -> None:
        """Run steps until ``settings.steps``, calling the callbacks."""
        for callback in self.callbacks:
            callback.on_train_start(self)
        self.set_mode(training=True)
        while self.step < self.settings.steps:
            try:
                metrics = self.train_step()
                for callback in self.callbacks:
                    callback.on_step_end(self, metrics)
            except NonFiniteLossError:
                raise
            except Exception:
                self.check_finite()  # a non-finite loss earlier is the cause to report
                raise
        self.check_finite()
        for callback in self.callbacks:
            callback.on_train_end(self)

    def extension_callbacks(self) -> list[Callback]:
        """The callbacks of the extensions, in their order."""
        return [callback for extension in self.extensions for callback in extension.callbacks()]

    def extension_state(self) -> dict[str, Stateful]:
        """The extensions' parts whose state checkpoints keep, by key prefix."""
        return {
            prefix: part
            for extension in self.extensions
            for prefix, part in extension.stateful().items()
        }

    def set_mode(self, *, training: bool) -> None:
        for module in self.modules().values():
            module.train(training)

    def modules(self) -> dict[str, torch.nn.Module]:
        """The stateful modules of the run, by the prefix used in checkpoints."""
        modules: dict[str, torch.nn.Module] = {
            "energy": self.components.energy,
            "sampler": self.components.sampler,
            "loss": self.components.loss,
        }
        for name, regularizer in self.components.regularizers.items():
            modules[f"regularizer.{name}"] = regularizer
        return modules

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        optimizers = {"energy": self.energy_optimizer}
        if self.sampler_optimizer is not None:
            optimizers["sampler"] = self.sampler_optimizer
        return optimizers

    @torch.no_grad()
    def draw_samples(self, n: int, seed: int, labels: Tensor | None = None) -> Tensor:
        """``n`` samples in eval mode from a generator seeded with ``seed`` (the same
        noise every time, so pictures taken at intervals show progress), on the CPU.
        In a conditional run ``labels: (n,)`` picks their classes (default:
        :func:`ebkit.core.labels.class_cycle`). A run whose loss went non-finite draws
        none (:meth:`check_finite`)."""
        self.check_finite()
        if self.conditional and labels is None:
            num_classes = self.components.energy.spec.num_classes
            assert num_classes is not None
            labels = class_cycle(n, num_classes)
        if labels is not None:
            labels = labels.to(self.device)
        self.set_mode(training=False)
        try:
            generator = torch.Generator(self.device).manual_seed(seed)
            with torch.enable_grad(), self.precision.autocast():  # MCMC differentiates E
                sampler, energy = self.components.sampler, self.components.energy
                samples = sampler.draw(n, energy, generator, labels)
            return full_precision(samples.detach()).cpu()
        finally:
            self.set_mode(training=True)


def _energies_for_loggers(real: EnergyOutput, fake: EnergyOutput | None) -> dict[str, Tensor]:
    energies = {"data": real.energy.detach()}
    return energies if fake is None else {**energies, "contrastive": fake.energy.detach()}


def _full(samples: Tensor | None) -> Tensor | None:
    return None if samples is None else full_precision(samples)


def _detached(output: EnergyOutput | None) -> EnergyOutput | None:
    return None if output is None else output.detach()


def _targeting(regularizers: dict[str, Regularizer], target: str) -> list[tuple[str, Regularizer]]:
    return [(name, reg) for name, reg in regularizers.items() if reg.target == target]
