"""Tests for the ``gan`` loss (ebkit.builtins.losses.gan): binary cross-entropy on the logit −E,
both generator losses, numerical stability, gradients, the R1 penalty and the registered
component."""

from __future__ import annotations

import math
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from sampler_doubles import Quadratic

from ebkit import DataSpec, EnergyFunction, EnergyOutput, UsageError
from ebkit.builtins.losses.gan import (
    VECTOR_BATCH_SIZE,
    GANLoss,
    discriminator_probability,
    gan_energy_loss,
    gan_sampler_loss,
)
from ebkit.builtins.losses.hooks import GAN_GENERATOR_LOSSES, VECTOR_R1, ebkit_losses
from ebkit.core.gradient_penalty import R1Penalty, r1_penalty
from ebkit.core.interfaces import DataBatch
from ebkit.runs.settings import TrainOptions
from ebkit.runs.train_defaults import resolve_train_defaults
from ebkit.testing import check_loss, check_option_round_trip

SPEC = DataSpec((2,), -1.0, 1.0)
LN3 = math.log(3.0)
# D = σ(−E): E = 0 gives D = 1/2; E = ln 3 gives D = 1/4; E = −ln 3 gives D = 3/4.
REAL = torch.tensor([0.0, LN3], dtype=torch.float64)
FAKE = torch.tensor([0.0, -LN3], dtype=torch.float64)


def component():
    (record,) = [c for c in ebkit_losses() if c.name == "gan"]
    return record


def test_discriminator_probability_by_hand() -> None:
    torch.testing.assert_close(
        discriminator_probability(torch.tensor([0.0, LN3, -LN3], dtype=torch.float64)),
        torch.tensor([0.5, 0.25, 0.75], dtype=torch.float64),
    )


def test_energy_loss_by_hand() -> None:
    # −mean log D(x) = −(log ½ + log ¼)/2 = 1.5 ln 2;
    # −mean log(1 − D(G(z))) = −(log ½ + log ¼)/2 = 1.5 ln 2.
    torch.testing.assert_close(
        gan_energy_loss(REAL, FAKE), torch.tensor(3 * math.log(2), dtype=torch.float64)
    )


def test_energy_loss_is_binary_cross_entropy_on_the_logit_minus_e() -> None:
    generator = torch.Generator().manual_seed(0)
    real = 3 * torch.randn(7, dtype=torch.float64, generator=generator)
    fake = 3 * torch.randn(7, dtype=torch.float64, generator=generator)
    expected = (
        F.binary_cross_entropy_with_logits(
            torch.cat([-real, -fake]), torch.cat([torch.ones(7), torch.zeros(7)]).double()
        )
        * 2
    )  # BCE averages over both batches together; L_D averages each, then adds
    torch.testing.assert_close(gan_energy_loss(real, fake), expected)
    # ... and the softplus form of the docstring.
    torch.testing.assert_close(
        gan_energy_loss(real, fake), F.softplus(real).mean() + F.softplus(-fake).mean()
    )


def test_generator_losses_by_hand() -> None:
    # non-saturating: −mean log D = −(log ½ + log ¾)/2; minimax: mean log(1 − D) = (log ½ + log ¼)/2
    torch.testing.assert_close(
        gan_sampler_loss(FAKE),
        torch.tensor((math.log(2) + math.log(4 / 3)) / 2, dtype=torch.float64),
    )
    torch.testing.assert_close(
        gan_sampler_loss(FAKE, "minimax"), torch.tensor(-1.5 * math.log(2), dtype=torch.float64)
    )


def test_extreme_energies_stay_finite_and_exact() -> None:
    big = torch.tensor([1e4, -1e4], dtype=torch.float64, requires_grad=True)
    # mean softplus(±1e4) + mean softplus(∓1e4) = 5e3 + 5e3 (a naive log σ gives inf).
    loss = gan_energy_loss(big, -big.detach())
    torch.testing.assert_close(loss, torch.tensor(1e4, dtype=torch.float64))
    loss.backward()
    assert torch.isfinite(big.grad).all()
    for name in GAN_GENERATOR_LOSSES:
        assert torch.isfinite(gan_sampler_loss(big, name))


def test_only_the_non_saturating_loss_keeps_a_gradient_when_d_rejects_the_samples() -> None:
    # E(G(z)) = 10: D(G(z)) = σ(−10) ≈ 4.5e-5, confidently fake.
    for name, expected in (("non_saturating", 1.0), ("minimax", 0.0)):
        fake = torch.tensor([10.0], dtype=torch.float64, requires_grad=True)
        gan_sampler_loss(fake, name).backward()
        assert fake.grad.item() == pytest.approx(expected, abs=1e-4), name


@pytest.mark.parametrize("generator_loss", GAN_GENERATOR_LOSSES)
def test_gradcheck(generator_loss: str) -> None:
    generator = torch.Generator().manual_seed(1)
    real = (2 * torch.randn(4, dtype=torch.float64, generator=generator)).requires_grad_()
    fake = (2 * torch.randn(3, dtype=torch.float64, generator=generator)).requires_grad_()
    assert torch.autograd.gradcheck(gan_energy_loss, (real, fake))
    assert torch.autograd.gradcheck(lambda f: gan_sampler_loss(f, generator_loss), (fake,))


def test_metrics_by_hand() -> None:
    loss = GANLoss(SPEC)
    result = loss.energy_loss(EnergyOutput(REAL), EnergyOutput(FAKE))
    expected = {
        "loss_energy": 3 * math.log(2),
        "energy_real": LN3 / 2,
        "energy_fake": -LN3 / 2,
        "energy_gap": -LN3,
        "d_real": 0.375,
        "d_fake": 0.625,
    }
    assert set(result.metrics) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(
            result.metrics[name], torch.tensor(value, dtype=torch.float64), msg=name
        )
    sampler = GANLoss(SPEC, generator_loss="minimax").sampler_loss(EnergyOutput(FAKE))
    torch.testing.assert_close(sampler.metrics["loss_sampler"], sampler.loss)


@pytest.mark.parametrize("generator_loss", GAN_GENERATOR_LOSSES)
def test_gan_conforms(generator_loss: str) -> None:
    check_loss(component(), generator_loss=generator_loss)


def test_component_record_and_class_defaults() -> None:
    record = component()
    check_option_round_trip(record)
    assert record.load_factory() is GANLoss
    assert record.option("generator_loss").choices == GAN_GENERATOR_LOSSES
    assert GANLoss(SPEC).generator_loss == record.option("generator_loss").default


def test_unknown_generator_loss_is_refused_with_one_line() -> None:
    with pytest.raises(UsageError, match=r"loss\.generator_loss: 'wasserstein' is not one of"):
        component().resolve_options({"generator_loss": "wasserstein"}, prefix="loss")
    with pytest.raises(ValueError, match="generator_loss must be one of non_saturating, minimax"):
        GANLoss(SPEC, generator_loss="wasserstein")
    with pytest.raises(ValueError, match="generator_loss must be one of"):
        gan_sampler_loss(FAKE, "wasserstein")


def test_r1_penalty_by_hand() -> None:
    # E = ½·s·‖x − c‖² has ∇ₓE = s·(x − c): R1 = γ/2 · s² · mean ‖x − c‖²
    # = 2/2 · 9 · (‖(1, 2)‖² + ‖(0, −1)‖²)/2 = 9 · 3 = 27, and ∂R1/∂s = γ·s·mean ‖x − c‖² = 18.
    energy = Quadratic(SPEC, centre=1.0, scale=3.0).double()
    x = torch.tensor([[2.0, 3.0], [1.0, 0.0]], dtype=torch.float64)
    penalty = r1_penalty(energy, x, gamma=2.0)
    torch.testing.assert_close(penalty, torch.tensor(27.0, dtype=torch.float64))
    (slope,) = torch.autograd.grad(penalty, energy.scale)
    torch.testing.assert_close(slope, torch.tensor(18.0, dtype=torch.float64))
    assert not x.requires_grad  # the caller's batch is left as it was


def test_r1_penalty_gradcheck() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)
    ).double()
    x = torch.randn(3, 2, dtype=torch.float64)

    def penalty(weight: torch.Tensor) -> torch.Tensor:
        class Energy(EnergyFunction):
            def forward(self, points: torch.Tensor) -> EnergyOutput:
                hidden = torch.tanh(points @ weight.T + net[0].bias)
                return EnergyOutput(net[2](hidden).squeeze(1))

        return r1_penalty(Energy(SPEC), x, gamma=0.7)

    weight = net[0].weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(penalty, (weight,))


def test_r1_auto_is_on_for_vectors_only_and_brings_its_step_extension() -> None:
    assert GANLoss(SPEC).r1 == VECTOR_R1 > 0
    (extension,) = GANLoss(SPEC).step_extensions()
    assert isinstance(extension, R1Penalty) and extension.gamma == VECTOR_R1
    images = DataSpec((1, 8, 8), 0.0, 1.0)
    assert GANLoss(images).r1 == 0.0 and GANLoss(images).step_extensions() == []
    assert GANLoss(SPEC, r1=0).step_extensions() == []
    assert component().option("r1").saved_default == 0.0  # saved runs train as before
    with pytest.raises(UsageError, match=r"loss\.r1"):
        component().resolve_options({"r1": -1}, prefix="loss")


def test_batches_of_256_on_vectors_unless_the_run_sets_the_batch() -> None:
    assert GANLoss(SPEC).train_defaults() == {"batch_size": VECTOR_BATCH_SIZE}
    assert VECTOR_BATCH_SIZE == 256
    images = DataSpec((1, 8, 8), 0.0, 1.0)
    assert GANLoss(images).train_defaults() == {}
    auto = TrainOptions.from_values({})
    assert resolve_train_defaults(auto, SPEC, (GANLoss(SPEC),))["batch_size"] == 256
    assert resolve_train_defaults(auto, images, (GANLoss(images),))["batch_size"] == 64
    given = TrainOptions.from_values({"batch_size": 32})
    assert resolve_train_defaults(given, SPEC, (GANLoss(SPEC),))["batch_size"] == 32


def test_r1_weight_of_a_loss_option() -> None:
    images = DataSpec((1, 8, 8), 0.0, 1.0)
    assert R1Penalty.weight_of(None, SPEC, on_vectors=0.3) == 0.3  # auto on vectors
    assert R1Penalty.weight_of(None, images, on_vectors=0.3) == 0.0  # auto on images: none
    assert R1Penalty.weight_of(2, images, on_vectors=0.3) == 2.0  # an explicit weight stays
    for bad in (-0.1, math.nan):
        with pytest.raises(ValueError, match=r"r1 must be a non-negative number \(0: none\)"):
            R1Penalty.weight_of(bad, SPEC, on_vectors=0.3)
    (extension,) = R1Penalty.extensions(0.5)
    assert isinstance(extension, R1Penalty) and extension.gamma == 0.5
    assert R1Penalty.extensions(0.0) == []


def test_r1_penalty_is_added_to_the_energy_loss_of_a_training_step() -> None:
    energy = Quadratic(SPEC, centre=0.5, scale=2.0)
    extension = R1Penalty(4.0)
    x = torch.tensor([[0.0, 0.0], [1.5, 0.5]])
    trainer = SimpleNamespace(
        batch=DataBatch(x),
        conditional=False,
        components=SimpleNamespace(energy=energy),
        precision=SimpleNamespace(autocast=nullcontext),
    )
    term = extension.energy_terms(trainer, EnergyOutput(energy.energy(x)), None)
    # γ/2 · s² · mean ‖x − c‖² = 2 · 4 · (0.5 + 1)/2 = 6
    torch.testing.assert_close(term.loss, torch.tensor(6.0))
    torch.testing.assert_close(term.metrics["penalty_r1"], torch.tensor(6.0))
    with pytest.raises(ValueError, match="R1 weight must be positive"):
        R1Penalty(0.0)
