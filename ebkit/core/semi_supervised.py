"""Semi-supervised training as a step extension: a cross-entropy on a few labelled
examples added to the energy's loss, and the error on held-out examples logged.

This is how EBGAN-LN (Zhao et al. 2017, §4.2 and appendix D) trains a Ladder network
(Rasmus et al. 2015) with 100 labels: the Ladder's denoising cost is the energy, and its
clean path classifies. :func:`ebkit.runs.splits.semi_supervised_split` makes the three
parts (labelled, unlabelled, held out) from a labelled dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ebkit.core.errors import UsageError
from ebkit.core.extensions import Callback, Metrics, Stateful, StepExtension
from ebkit.core.interfaces import Dataset, EnergyFunction, EnergyOutput, LossOutput

if TYPE_CHECKING:
    from ebkit.core.engine import Trainer

__all__ = ["HeldOutError", "SemiSupervised", "classification_error"]


class SemiSupervised(StepExtension):
    """Adds ``weight`` times the cross-entropy of the energy's ``logits`` on a batch of
    ``labelled`` to the energy's loss (logged as ``supervised_ce`` and
    ``supervised_error``), and logs ``test_error`` on the held-out ``test_x: (N,
    *event_shape)``, ``test_y: (N,)`` every ``eval_every`` steps and at the last one.

    The trainer's dataset then serves the unlabelled examples. The labelled batch is
    drawn with the trainer's data generator and goes through the energy in its own
    forward pass, so normalisation layers see labelled data apart from unlabelled data.
    """

    name = "semi-supervised"

    def __init__(
        self,
        labelled: Dataset,
        test_x: Tensor,
        test_y: Tensor,
        *,
        weight: float = 1.0,
        eval_every: int = 500,
    ) -> None:
        self.labelled = labelled
        self.test_x = test_x
        self.test_y = test_y
        self.weight = float(weight)
        self.eval_every = eval_every

    def attach(self, trainer: Trainer) -> None:
        energy = trainer.components.energy
        if energy.spec.conditional:
            raise UsageError(
                "--labels (semi-supervised) and --conditional cannot be combined; choose one"
            )
        if "logits" not in energy.provides:
            raise UsageError(
                f"--labels needs an energy that classifies (provides logits, such as ladder); "
                f"{type(energy).__name__} does not"
            )

    def energy_terms(
        self, trainer: Trainer, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput:
        # A hundred labels may be fewer than a batch: then every batch holds all of them.
        size = trainer.settings.batch_size
        if isinstance(self.labelled, Sized):
            size = min(size, len(self.labelled))
        batch = self.labelled.sample(size, trainer.data_generator)
        assert batch.y is not None  # the split keeps the labelled part's labels
        logits = trainer.components.energy(batch.x.to(trainer.device, non_blocking=True)).logits
        assert logits is not None  # checked by attach
        labels = batch.y.to(trainer.device, non_blocking=True)
        supervised = torch.nn.functional.cross_entropy(logits, labels)
        metrics: Metrics = {
            "supervised_ce": supervised.detach(),
            "supervised_error": (logits.detach().argmax(dim=1) != labels).float().mean(),
        }
        return LossOutput(self.weight * supervised, metrics)

    def callbacks(self) -> Sequence[Callback]:
        return [HeldOutError(self.test_x, self.test_y, every=self.eval_every)]

    def held_out_error(self, energy: EnergyFunction, device: Any) -> float:
        """The classification error of ``energy`` on the held-out examples."""
        return classification_error(energy, self.test_x, self.test_y, device)

    def stateful(self) -> Mapping[str, Stateful]:
        # "labelled": the prefix checkpoints have always used for its epoch order.
        return {"labelled": self.labelled}


class HeldOutError(Callback):
    """Adds ``test_error``, the classification error of the energy's ``logits`` (eval
    mode: the clean path of a Ladder network) on a held-out set, to the metrics of every
    ``every``-th step and of the last one. It runs before the callbacks that log, and
    touches no RNG and no training state."""

    def __init__(self, x: Tensor, y: Tensor, every: int) -> None:
        self.x = x
        self.y = y
        self.every = every

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if len(self.y) and (
            trainer.step % self.every == 0 or trainer.step == trainer.settings.steps
        ):
            metrics["test_error"] = classification_error(
                trainer.components.energy, self.x, self.y, trainer.device
            )


def classification_error(
    energy: EnergyFunction, x: Tensor, y: Tensor, device: Any, chunk: int = 1000
) -> float:
    """Share of ``x: (N, *event_shape)`` whose arg-max eval-mode logits miss ``y: (N,)``;
    the energy's training mode is restored."""
    was_training = energy.training
    energy.eval()
    wrong = 0
    try:
        with torch.no_grad():
            for start in range(0, len(y), chunk):
                logits = energy(x[start : start + chunk].to(device)).logits
                assert logits is not None  # an energy of a semi-supervised run classifies
                predicted = logits.argmax(dim=1).cpu()
                wrong += int((predicted != y[start : start + chunk]).sum())
    finally:
        energy.train(was_training)
    return wrong / len(y)
