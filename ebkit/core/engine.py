"""The training engine: the alternating energy/sampler step and a thin callback loop.

:meth:`Trainer.train_step` reads like the algorithm box of the EBGAN paper; logging,
checkpoints, pictures and progress hang off :class:`Callback` objects so the step stays
free of bookkeeping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence, Sized
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ebkit.core.errors import NonFiniteLossError, UsageError
from ebkit.core.interfaces import (
    ContrastiveSampler,
    Dataset,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    LossFunctional,
    Regularizer,
)

Metrics = dict[str, Tensor | float]


@dataclass
class Components:
    """The built pieces of a run.

    ``labelled`` is set for semi-supervised runs: a dataset of labelled examples whose
    batches add a cross-entropy term on the energy's ``logits`` to the energy's loss,
    while ``dataset`` then serves the unlabelled examples.
    """

    dataset: Dataset
    energy: EnergyFunction
    sampler: ContrastiveSampler
    loss: LossFunctional
    regularizers: dict[str, Regularizer] = field(default_factory=dict)
    labelled: Dataset | None = None


@dataclass
class TrainSettings:
    """The engine's own settings (the ``train`` options of a run)."""

    steps: int = 2000
    batch_size: int = 64
    seed: int = 0
    energy_lr: float = 1e-3
    sampler_lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    supervised_weight: float = 1.0
    sampler_steps: int = 0
    """Train a trainable sampler only during the first ``sampler_steps`` steps (0: all);
    afterwards it still draws contrastive samples, frozen (EBGAN-LN's schedule)."""


class Callback:
    """Hooks into the training loop; override what you need."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


class Trainer:
    """Trains an energy against a contrastive sampler with a loss functional.

    Randomness comes from two generators seeded from ``settings.seed``: one on the CPU
    for data batches, one on ``device`` for the sampler. Both, like every parameter,
    optimiser moment, buffer and the step counter, are part of :meth:`state`.
    """

    def __init__(
        self,
        components: Components,
        settings: TrainSettings,
        *,
        device: torch.device | str = "cpu",
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.components = components
        self.settings = settings
        self.device = torch.device(device)
        self.callbacks = list(callbacks)
        self.held_out: tuple[Tensor, Tensor] | None = None
        """Held-out examples and labels of a semi-supervised run (set by the builder)."""
        self.step = 0
        self.last_energies: dict[str, Tensor] = {}
        """The per-sample energies ``(B,)`` of the last step's ``data`` and ``contrastive``
        batches, detached and where they were computed (no host sync): loggers draw their
        histograms from them at logged steps."""
        self.conditional = components.energy.spec.conditional
        """A conditional run: the data's labels go to the energy and the sampler."""
        components.energy.to(self.device)
        components.sampler.to(self.device)
        components.loss.to(self.device)
        for regularizer in components.regularizers.values():
            regularizer.to(self.device)
        _check_requirements(components)

        betas = (settings.beta1, settings.beta2)
        self.energy_optimizer = torch.optim.Adam(
            components.energy.parameters(), lr=settings.energy_lr, betas=betas
        )
        self.sampler_optimizer = None
        if components.sampler.trainable:
            self.sampler_optimizer = torch.optim.Adam(
                components.sampler.parameters(), lr=settings.sampler_lr, betas=betas
            )
        self.data_generator = torch.Generator().manual_seed(settings.seed)
        self.sample_generator = torch.Generator(self.device).manual_seed(settings.seed + 1)
        # Modules such as nn.Dropout draw from torch's global RNG and offer no generator
        # argument; each step runs them on this saved state instead (see train_step).
        self.module_rng_state = torch.Generator().manual_seed(settings.seed + 2).get_state()
        self._cuda_devices = [self.device.index or 0] if self.device.type == "cuda" else []
        self.module_cuda_rng_state = (
            torch.Generator(self.device).manual_seed(settings.seed + 2).get_state()
            if self._cuda_devices
            else None
        )
        self._energy_regularizers = _targeting(components.regularizers, "energy")
        self._sampler_regularizers = _targeting(components.regularizers, "sampler")

    # -- the algorithm ---------------------------------------------------------------

    def train_step(self) -> Metrics:
        """One step: energy update on data vs detached contrastive samples, then the
        sampler update (if it is trainable), then the loss's state update.

        Whatever the modules draw from torch's global RNG comes from the trainer's own
        saved state, and the caller's global RNG is left untouched."""
        with torch.random.fork_rng(devices=self._cuda_devices):
            torch.set_rng_state(self.module_rng_state)
            if self.module_cuda_rng_state is not None:
                torch.cuda.set_rng_state(self.module_cuda_rng_state, self.device)
            metrics = self._step()
            self.module_rng_state = torch.get_rng_state()
            if self.module_cuda_rng_state is not None:
                self.module_cuda_rng_state = torch.cuda.get_rng_state(self.device)
        return metrics

    def _step(self) -> Metrics:
        energy, sampler, loss = (
            self.components.energy,
            self.components.sampler,
            self.components.loss,
        )
        batch_size = self.settings.batch_size
        batch = self.components.dataset.sample(batch_size, self.data_generator)
        x = batch.x.to(self.device, non_blocking=True)
        # A conditional run draws its contrastive samples for the data batch's classes.
        labels = None
        if self.conditional:
            assert batch.y is not None  # the builder checked that the data has labels
            labels = batch.y.to(self.device, non_blocking=True)
        train_sampler = self.sampler_optimizer is not None and (
            not self.settings.sampler_steps or self.step < self.settings.sampler_steps
        )

        fake = sampler_samples = None
        if sampler.draws_samples:
            # A trainable sampler past sampler_steps needs no graph; others may well
            # differentiate the energy (MCMC), so their grad mode is left as it is.
            with torch.set_grad_enabled(train_sampler or not sampler.trainable):
                contrastive, sampler_samples = sampler.training_samples(
                    batch_size, energy, self.sample_generator, labels
                )
        real = energy.evaluate(x, labels)
        if sampler.draws_samples:
            with energy.contrastive_scope():
                fake = energy.evaluate(contrastive.detach(), labels)
        self.last_energies = {"data": real.energy.detach()}
        if fake is not None:
            self.last_energies["contrastive"] = fake.energy.detach()
        energy_term = loss.energy_loss(real, fake)
        metrics: Metrics = dict(energy_term.metrics)
        total = energy_term.loss
        if fake is not None:
            total = self._add_penalties(total, self._energy_regularizers, real, fake, metrics)
        if self.components.labelled is not None:
            total = total + self.settings.supervised_weight * self._supervised_term(metrics)
        self._check_finite(total, "energy loss")
        self.energy_optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.energy_optimizer.step()

        sampler_fake = fake
        if train_sampler:
            if loss.fresh_sampler_batch:
                _, sampler_samples = sampler.training_samples(
                    batch_size, energy, self.sample_generator, labels
                )
            with energy.contrastive_scope():
                sampler_fake = energy.evaluate(sampler_samples, labels)
            sampler_term = loss.sampler_loss(sampler_fake)
            metrics.update(sampler_term.metrics)
            total = self._add_penalties(
                sampler_term.loss, self._sampler_regularizers, None, sampler_fake, metrics
            )
            self._check_finite(total, "sampler loss")
            self.sampler_optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.sampler_optimizer.step()

        metrics.update(sampler.metrics())
        detached = None if sampler_fake is None else sampler_fake.detach()
        metrics.update(loss.update_state(real.detach(), detached))
        self.step += 1
        return metrics

    def _supervised_term(self, metrics: Metrics) -> Tensor:
        """Cross-entropy of the energy's logits on a labelled batch (its own forward
        pass, so normalisation layers see labelled data apart from unlabelled data)."""
        labelled = self.components.labelled
        assert labelled is not None
        # A hundred labels may be fewer than a batch: then every batch holds all of them.
        size = self.settings.batch_size
        if isinstance(labelled, Sized):
            size = min(size, len(labelled))
        batch = labelled.sample(size, self.data_generator)
        assert batch.y is not None
        logits = self.components.energy(batch.x.to(self.device, non_blocking=True)).logits
        assert logits is not None  # checked by _check_requirements
        labels = batch.y.to(self.device, non_blocking=True)
        supervised = torch.nn.functional.cross_entropy(logits, labels)
        metrics["supervised_ce"] = supervised.detach()
        metrics["supervised_error"] = (logits.detach().argmax(dim=1) != labels).float().mean()
        return supervised

    def _add_penalties(
        self,
        loss: Tensor,
        regularizers: list[tuple[str, Regularizer]],
        real: EnergyOutput | None,
        fake: EnergyOutput,
        metrics: Metrics,
    ) -> Tensor:
        for name, regularizer in regularizers:
            penalty = regularizer.penalty(real, fake)
            metrics[f"penalty_{name}"] = penalty.detach()
            loss = loss + regularizer.weight * penalty
        return loss

    def _check_finite(self, value: Tensor, what: str) -> None:
        number = value.item()  # one host sync, and the value for the message
        if not math.isfinite(number):
            raise NonFiniteLossError(
                f"the {what} became {number} at step {self.step + 1}; "
                "training stopped (try a lower learning rate or a smaller margin)"
            )

    # -- the loop --------------------------------------------------------------------

    def fit(self) -> None:
        """Run steps until ``settings.steps``, calling the callbacks."""
        for callback in self.callbacks:
            callback.on_train_start(self)
        self.set_mode(training=True)
        while self.step < self.settings.steps:
            metrics = self.train_step()
            for callback in self.callbacks:
                callback.on_step_end(self, metrics)
        for callback in self.callbacks:
            callback.on_train_end(self)

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
        :func:`class_cycle`)."""
        if self.conditional and labels is None:
            num_classes = self.components.energy.spec.num_classes
            assert num_classes is not None
            labels = class_cycle(n, num_classes)
        if labels is not None:
            labels = labels.to(self.device)
        self.set_mode(training=False)
        try:
            generator = torch.Generator(self.device).manual_seed(seed)
            with torch.enable_grad():  # MCMC samplers differentiate the energy
                sampler, energy = self.components.sampler, self.components.energy
                samples = sampler.draw(n, energy, generator, labels)
            return samples.detach().cpu()
        finally:
            self.set_mode(training=True)


def marginal_energy(energy: EnergyFunction, x: Tensor) -> Tensor:
    """The energies ``(B,)`` of ``x`` when no class is given: E(x) for an unconditional
    energy; for a conditional one, min over y of E(x | y), the energy of the class that
    fits each sample best (what an energy-based model infers when y is unknown)."""
    spec = energy.spec
    if not spec.conditional:
        return energy(x).energy
    assert spec.num_classes is not None  # a conditional spec always has classes
    per_class = [
        energy(x, torch.full((len(x),), label, device=x.device)).energy
        for label in range(spec.num_classes)
    ]
    return torch.stack(per_class).amin(dim=0)


def class_cycle(n: int, num_classes: int) -> Tensor:
    """Labels 0, 1, …, K − 1, 0, 1, … for ``n`` samples: every class equally often."""
    return torch.arange(n) % num_classes


def class_rows(num_classes: int, per_class: int) -> Tensor:
    """Labels for a class grid: ``per_class`` samples of class 0, then of class 1, …; a
    grid with ``per_class`` columns shows one class per row."""
    return torch.arange(num_classes).repeat_interleave(per_class)


def class_grid(spec: DataSpec, count: int) -> tuple[Tensor | None, int | None]:
    """Labels and row length for a picture of about ``count`` samples: for a conditional
    ``spec``, one row per class of ⌈count / K⌉ samples (:func:`class_rows`); otherwise
    ``(None, None)``, unconditional samples in a square grid."""
    if not spec.conditional:
        return None, None
    assert spec.num_classes is not None  # a conditional spec always has classes
    per_class = max(1, math.ceil(count / spec.num_classes))
    return class_rows(spec.num_classes, per_class), per_class


def _targeting(regularizers: dict[str, Regularizer], target: str) -> list[tuple[str, Regularizer]]:
    return [(name, reg) for name, reg in regularizers.items() if reg.target == target]


def _check_requirements(components: Components) -> None:
    provided = components.energy.provides
    sampler, loss = components.sampler, components.loss
    if not sampler.draws_samples and loss.needs_contrastive:
        raise UsageError(
            f"the sampler {type(sampler).__name__} draws no contrastive samples, which the "
            f"loss {type(loss).__name__} needs (use --loss none: the data's energy alone)"
        )
    if sampler.draws_samples and not loss.needs_contrastive:
        raise UsageError(
            f"the loss {type(loss).__name__} ignores contrastive samples; pair it with "
            "--sampler none"
        )
    if not sampler.draws_samples and components.regularizers:
        raise UsageError("regularizers need contrastive samples, which --sampler none lacks")
    if components.labelled is not None and components.energy.spec.conditional:
        raise UsageError(
            "--labels (semi-supervised) and --conditional cannot be combined; choose one"
        )
    if components.labelled is not None and "logits" not in provided:
        raise UsageError(
            f"--labels needs an energy that classifies (provides logits, such as ladder); "
            f"{type(components.energy).__name__} does not"
        )
    readers = [(f"loss {type(components.loss).__name__}", components.loss.requires)]
    readers += [
        (f"regularizer {name!r}", reg.requires) for name, reg in components.regularizers.items()
    ]
    for reader, required in readers:
        missing = sorted(required - provided)
        if missing:
            raise UsageError(
                f"{reader} needs the energy's {', '.join(missing)}, which "
                f"{type(components.energy).__name__} does not provide "
                f"(it provides: {', '.join(sorted(provided)) or 'only the energy'})"
            )
    if components.regularizers and not components.sampler.trainable:
        sampler_side = [n for n, r in components.regularizers.items() if r.target == "sampler"]
        if sampler_side:
            raise UsageError(
                f"regularizer {sampler_side[0]!r} acts on the sampler's loss, but the "
                f"sampler {type(components.sampler).__name__} is not trainable"
            )


def metrics_to_floats(metrics: Metrics) -> dict[str, float]:
    """Convert logged tensors to floats (one host sync for all of them)."""
    tensors = {k: v for k, v in metrics.items() if isinstance(v, Tensor)}
    values = {k: float(v) for k, v in metrics.items() if not isinstance(v, Tensor)}
    if tensors:
        stacked = torch.stack([t.detach().float().reshape(()) for t in tensors.values()]).cpu()
        values.update(zip(tensors, stacked.tolist(), strict=True))
    return values
