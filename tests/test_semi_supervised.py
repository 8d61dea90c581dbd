"""Tests for training without contrastive samples and with a labelled subset."""

from __future__ import annotations

import pytest
import torch

from ebkit.builtins.digits import Digits
from ebkit.builtins.generator import GeneratorSampler
from ebkit.builtins.no_contrast import DataEnergyLoss, NoSampler, data_energy_loss
from ebkit.callbacks import HeldOutError, classification_error
from ebkit.engine import Components, Trainer, TrainSettings
from ebkit.errors import UsageError
from ebkit.interfaces import DataSpec, EnergyFunction, EnergyOutput
from ebkit.splits import semi_supervised_split
from ebkit_ladder.ladder import LadderEnergy
from ebkit_losses.margin import MarginLoss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class LinearClassifierEnergy(EnergyFunction):
    """A softmax classifier whose energy is the squared norm of its input map."""

    provides = frozenset({"logits"})

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        self.linear = torch.nn.Linear(spec.dim, spec.num_classes or 2)

    def forward(self, x):
        logits = self.linear(x.flatten(1))
        return EnergyOutput(energy=logits.square().sum(1), logits=logits)


def digits_split(labels: int = 20):
    return semi_supervised_split(Digits(), labels=labels, test_fraction=0.2, seed=0)


def test_the_data_energy_loss_is_the_mean_energy() -> None:
    real = torch.tensor([1.0, 2.0, 6.0], requires_grad=True)
    loss = data_energy_loss(real)
    assert float(loss.detach()) == 3.0
    loss.backward()
    assert torch.equal(real.grad, torch.full((3,), 1 / 3))
    out = DataEnergyLoss(DataSpec((2,))).energy_loss(EnergyOutput(real.detach()), None)
    assert float(out.loss) == 3.0 and float(out.metrics["loss_energy"]) == 3.0


def test_the_none_sampler_refuses_to_sample() -> None:
    with pytest.raises(RuntimeError, match="draws no samples"):
        NoSampler(DataSpec((2,))).sample(3, None, torch.Generator())


def test_a_ladder_baseline_step_trains_on_data_and_labels() -> None:
    split = digits_split(labels=50)
    spec = split.unlabelled.spec
    energy = LadderEnergy(spec, sizes=[32, 16])
    components = Components(
        split.unlabelled, energy, NoSampler(spec), DataEnergyLoss(spec), labelled=split.labelled
    )
    trainer = Trainer(components, TrainSettings(batch_size=16, seed=0))
    before = classification_error(energy, split.test_x, split.test_y, "cpu")
    for _ in range(200):
        metrics = trainer.train_step()
    assert {"loss_energy", "supervised_ce", "supervised_error"} <= set(metrics)
    after = classification_error(energy, split.test_x, split.test_y, "cpu")
    assert after < min(before - 0.3, 0.5)  # chance is 0.9
    assert trainer.sampler_optimizer is None


def test_the_supervised_term_is_weighted_into_the_energy_loss() -> None:
    split = digits_split()
    spec = split.unlabelled.spec
    grads = []
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        energy = LinearClassifierEnergy(spec)
        components = Components(
            split.unlabelled, energy, NoSampler(spec), DataEnergyLoss(spec),
            labelled=split.labelled,
        )  # fmt: skip
        trainer = Trainer(components, TrainSettings(batch_size=8, supervised_weight=weight))
        trainer.energy_optimizer.step = lambda: None  # keep the gradient to look at it
        trainer.train_step()
        grads.append(energy.linear.bias.grad.clone())
    # Without the cross-entropy the bias gradient is that of the energy alone.
    assert not torch.allclose(grads[0], grads[1])


def test_requirements_of_the_none_pairing_and_of_labels() -> None:
    spec = Digits().spec
    data = Digits()
    energy = LinearClassifierEnergy(spec)
    margin = MarginLoss(spec, margin=1.0)
    with pytest.raises(UsageError, match=r"draws no contrastive samples.*--loss none"):
        Trainer(Components(data, energy, NoSampler(spec), margin), TrainSettings())
    generator = GeneratorSampler(spec, latent_dim=4, width=8)
    with pytest.raises(
        UsageError, match="ignores contrastive samples; pair it with --sampler none"
    ):
        Trainer(Components(data, energy, generator, DataEnergyLoss(spec)), TrainSettings())

    class NoLogits(EnergyFunction):
        def forward(self, x):
            return EnergyOutput(energy=x.flatten(1).sum(1))

    with pytest.raises(UsageError, match="--labels needs an energy that classifies"):
        Trainer(
            Components(data, NoLogits(spec), NoSampler(spec), DataEnergyLoss(spec), labelled=data),
            TrainSettings(),
        )


def test_the_sampler_stops_training_after_sampler_steps() -> None:
    split = digits_split()
    spec = split.unlabelled.spec
    sampler = GeneratorSampler(spec, latent_dim=4, width=8)
    components = Components(
        split.unlabelled, LadderEnergy(spec, sizes=[16]), sampler, MarginLoss(spec, margin=1.0),
        labelled=split.labelled,
    )  # fmt: skip
    trainer = Trainer(components, TrainSettings(batch_size=8, sampler_steps=2))
    snapshots = []
    for _ in range(4):
        trainer.train_step()
        # Parameters only: BatchNorm's running statistics follow every forward pass.
        snapshots.append({k: v.detach().clone() for k, v in sampler.named_parameters()})
    assert any(not torch.equal(snapshots[0][k], snapshots[1][k]) for k in snapshots[0])
    assert all(torch.equal(snapshots[2][k], snapshots[3][k]) for k in snapshots[2])


def test_held_out_error_is_added_to_the_logged_metrics() -> None:
    split = digits_split()
    spec = split.unlabelled.spec
    energy = LinearClassifierEnergy(spec)
    trainer = Trainer(
        Components(split.unlabelled, energy, NoSampler(spec), DataEnergyLoss(spec),
                   labelled=split.labelled),
        TrainSettings(steps=4, batch_size=8),
    )  # fmt: skip
    callback = HeldOutError(split.test_x, split.test_y, every=3)
    seen = []
    for _ in range(4):
        metrics = trainer.train_step()
        callback.on_step_end(trainer, metrics)
        seen.append("test_error" in metrics)
    assert seen == [False, False, True, True]  # every 3 steps and at the last one
    assert energy.training  # evaluation restored the training mode
    expected = classification_error(energy, split.test_x, split.test_y, "cpu")
    assert metrics["test_error"] == expected and 0.0 <= expected <= 1.0
