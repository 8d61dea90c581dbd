"""Tests for the testing kit's checks of losses and regularizers (ebkit.testing): they
pass healthy components and catch deliberately broken ones; and the conditional checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit import (
    ContrastiveSampler,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    Regularizer,
)
from ebkit.testing import (
    check_conditional_energy,
    check_conditional_sampler,
    check_loss,
    check_regularizer,
)

VECTORS = DataSpec((2,), -4.0, 4.0)

# -- deliberately broken losses -------------------------------------------------------------------


class HealthyLoss(LossFunctional):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() - fake.energy.mean())

    def sampler_loss(self, fake):
        return LossOutput(fake.energy.mean())


class VectorLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy - fake.energy)


class NanLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() * float("nan"))


class AttachedMetric(HealthyLoss):
    def energy_loss(self, real, fake):
        loss = real.energy.mean() - fake.energy.mean()
        return LossOutput(loss, {"loss_energy": loss})


class VectorMetric(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(super().energy_loss(real, fake).loss, {"gap": fake.energy.detach()})


class DetachedLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput((real.energy.mean() - fake.energy.mean()).detach())


class SamplerLossIgnoresFakes(HealthyLoss):
    def sampler_loss(self, fake):
        return LossOutput(torch.zeros((), requires_grad=True))


class RandomLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() + torch.rand(()))


class HiddenLossState(HealthyLoss):
    """Counts updates in a plain attribute, so checkpoints lose it."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.updates = 0

    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() - self.updates * fake.energy.mean())

    def update_state(self, real, fake):
        self.updates += 1
        return {"updates": float(self.updates)}


class ReturnsTensorNotLossOutput(HealthyLoss):
    def energy_loss(self, real, fake):
        return real.energy.mean() - fake.energy.mean()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (VectorLoss, "energy loss must be a 0-d tensor"),
        (NanLoss, "energy loss is not finite"),
        (AttachedMetric, "keeps a graph"),
        (VectorMetric, "not a scalar"),
        (DetachedLoss, "detached from the energies"),
        (SamplerLossIgnoresFakes, "ignores the contrastive energies"),
        (RandomLoss, "not deterministic"),
        (HiddenLossState, "state_dict does not capture"),
        (ReturnsTensorNotLossOutput, "LossOutput"),
    ],
)
def test_check_loss_catches_broken_losses(broken, message) -> None:
    with pytest.raises((AssertionError, RuntimeError), match=message) as caught:
        check_loss(broken)
    if broken is not DetachedLoss:
        assert caught.type is AssertionError


def test_check_loss_passes_a_healthy_loss() -> None:
    check_loss(HealthyLoss)


def test_check_loss_catches_an_energy_loss_that_ignores_the_contrastive_samples() -> None:
    class OnlyReal(HealthyLoss):
        def energy_loss(self, real, fake):
            return LossOutput(real.energy.mean())

    with pytest.raises(AssertionError):
        check_loss(OnlyReal)


# -- deliberately broken regularizers --------------------------------------------------------------


class HealthyRegularizer(Regularizer):
    requires = frozenset({"features"})

    def __init__(self, spec, *, weight: float = 0.1) -> None:
        super().__init__(spec, weight=weight, target="sampler")

    def penalty(self, real, fake):
        return fake.features.pow(2).mean()


class VectorPenalty(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.features.pow(2).mean(1)


class IgnoresFeatures(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.energy.mean()


class NanPenalty(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.features.mean() * float("inf")


class RandomPenalty(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.features.pow(2).mean() + torch.rand(())


class IntegerWeight(HealthyRegularizer):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.weight = 1


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (VectorPenalty, "penalty must be a 0-d tensor"),
        (IgnoresFeatures, "penalty ignores features"),
        (NanPenalty, "penalty is not finite"),
        (RandomPenalty, "not deterministic"),
        (IntegerWeight, "weight must be a float"),
    ],
)
def test_check_regularizer_catches_broken_regularizers(broken, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_regularizer(broken)


def test_check_regularizer_passes_a_healthy_regularizer() -> None:
    check_regularizer(HealthyRegularizer, weight=0.3)


class CentredByClass(EnergyFunction):
    """E(x | y) = ‖x − μ_y‖² with learned centres; ``ignore_labels`` breaks it."""

    accepts_labels = True

    def __init__(self, spec: DataSpec, *, ignore_labels: bool = False) -> None:
        super().__init__(spec)
        self.centres = nn.Parameter(torch.randn(spec.num_classes or 1, spec.dim))
        self.ignore_labels = ignore_labels

    def forward(self, x, labels=None) -> EnergyOutput:
        if labels is None:
            raise ValueError("labels needed")
        centres = self.centres[torch.zeros_like(labels) if self.ignore_labels else labels]
        return EnergyOutput(energy=(x.flatten(1) - centres).square().sum(1))


class ShiftByClass(ContrastiveSampler):
    """G(z, y) = z + b_y; ``ignore_labels`` breaks it."""

    trainable = True
    accepts_labels = True

    def __init__(self, spec: DataSpec, *, ignore_labels: bool = False) -> None:
        super().__init__(spec)
        self.shifts = nn.Parameter(torch.randn(spec.num_classes or 1, spec.dim))
        self.ignore_labels = ignore_labels

    def sample(self, n, energy, generator, labels=None):
        noise = torch.randn(n, self.spec.dim, generator=generator)
        chosen = torch.zeros_like(labels) if self.ignore_labels else labels
        return (noise + self.shifts[chosen]).view(n, *self.spec.event_shape)


def test_conditional_checks_pass_on_conditional_components():
    check_conditional_energy(CentredByClass)
    check_conditional_sampler(ShiftByClass)


def test_conditional_checks_catch_components_that_ignore_labels():
    with pytest.raises(AssertionError, match="the label does not change the energy"):
        check_conditional_energy(CentredByClass, ignore_labels=True)
    with pytest.raises(AssertionError, match="the labels do not change the samples"):
        check_conditional_sampler(ShiftByClass, ignore_labels=True)


def test_conditional_checks_need_accepts_labels():
    class Plain(CentredByClass):
        accepts_labels = False

    with pytest.raises(AssertionError, match="does not set accepts_labels"):
        check_conditional_energy(Plain)
