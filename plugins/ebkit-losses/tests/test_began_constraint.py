"""The began loss's two additions against collapse: the bound on the generated samples'
error in the energy's loss, and BEGAN-CS's latent constraint (by hand, by gradcheck and
in training)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ebkit import DataSpec, UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer
from ebkit_losses.began import BEGANLoss, began_energy_loss
from ebkit_losses.latent_constraint import LatentConstraintStep, latent_constraint


def test_bounded_energy_loss_by_hand() -> None:
    real = torch.tensor([0.1, 0.3])  # mean 0.2
    fake = torch.tensor([0.2, 0.9])  # 0.9 is capped at 0.4: mean 0.3
    torch.testing.assert_close(began_energy_loss(real, fake, 0.5, 0.4), torch.tensor(0.05))
    # No bound (0, the paper's): 0.2 − 0.5·0.55.
    torch.testing.assert_close(began_energy_loss(real, fake, 0.5), torch.tensor(-0.075))


def test_the_bound_stops_the_push_on_samples_above_it() -> None:
    fake = torch.tensor([0.2, 0.9], requires_grad=True)
    began_energy_loss(torch.tensor([0.1]), fake, 0.5, 0.4).backward()
    # Below the bound D pushes with −k_t / B; above it, not at all.
    torch.testing.assert_close(fake.grad, torch.tensor([-0.25, 0.0]))


def test_latent_constraint_by_hand_and_gradcheck() -> None:
    code = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    z = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    # |1| + |0| + |−1| + |1| over 4 values.
    torch.testing.assert_close(latent_constraint(code, z), torch.tensor(0.75))
    generator = torch.Generator().manual_seed(0)
    code = torch.randn(3, 4, dtype=torch.float64, generator=generator).requires_grad_()
    z = code.detach() + 0.5 * torch.sign(
        torch.randn(3, 4, dtype=torch.float64, generator=generator)
    )
    assert torch.autograd.gradcheck(lambda c: latent_constraint(c, z), (code,))


def test_a_code_of_another_size_than_the_noise_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"code, of shape \(2, 3\).*noise z, of shape \(2, 4\)"):
        latent_constraint(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(UsageError, match="needs the energy's code"):
        latent_constraint(None, torch.zeros(2, 4))


@pytest.mark.parametrize("option", ["bound", "constraint", "constraint_generator"])
def test_negative_weights_are_errors(option: str) -> None:
    with pytest.raises(ValueError, match=f"{option} must be a non-negative number"):
        BEGANLoss(DataSpec((2,)), **{option: -0.1})


def test_without_a_constraint_the_loss_adds_no_step_extension() -> None:
    assert BEGANLoss(DataSpec((1, 8, 8))).step_extensions() == []
    loss = BEGANLoss(DataSpec((1, 8, 8)), constraint=0.1)
    assert [type(e) for e in loss.step_extensions()] == [LatentConstraintStep]


def test_the_constraint_needs_a_generator() -> None:
    step = LatentConstraintStep(BEGANLoss(DataSpec((2,)), constraint=0.1))
    trainer = SimpleNamespace(components=SimpleNamespace(sampler=torch.nn.Linear(2, 2)))
    with pytest.raises(UsageError, match="needs a generator that draws noise z"):
        step.attach(trainer)


@pytest.fixture
def tiny_trainer(plugins: PluginManager, tiny_began: list[str]):
    """A trainer of BEGAN on the digits with the tiny nets and ``options``."""

    def build(*options: str):
        config = resolve_config(
            plugins,
            names={
                "energy": "autoencoder", "sampler": "generator", "loss": "began", "data": "digits"
            },
            train={"steps": 30},
            overrides=[*tiny_began, *options],
        )  # fmt: skip
        return build_trainer(config, plugins)

    return build


def test_the_recorded_noise_is_the_one_the_generator_drew(tiny_trainer) -> None:
    trainer = tiny_trainer("loss.constraint=0.1")
    sampler, loss = trainer.components.sampler, trainer.components.loss
    samples = sampler.sample(5, trainer.components.energy, torch.Generator().manual_seed(3))
    assert loss.latent.shape == (5, 4)
    torch.testing.assert_close(sampler.generate(loss.latent), samples)


def test_training_with_the_constraint_makes_the_encoder_invert_the_generator(
    tiny_trainer,
) -> None:
    # The paper's γ and k_0 (k_t starts at 0), so the constraint is what the encoder learns.
    trainer = tiny_trainer(
        "loss.constraint=5", "loss.constraint_generator=5", "train.energy_lr=0.01",
        "loss.gamma=0.5", "loss.k0=0",
    )  # fmt: skip
    history = [trainer.train_step() for _ in range(30)]
    assert {"constraint", "constraint_sampler"} <= set(history[0])
    first = sum(float(m["constraint"]) for m in history[:3]) / 3
    last = sum(float(m["constraint"]) for m in history[-3:]) / 3
    assert last < 0.7 * first, (first, last)
