"""The engine's step is the textbook D/G step: three steps of ``Trainer.train_step``
equal the same steps written out in plain PyTorch (the GAN losses of Goodfellow et al.
2014 on the logit −E, and Adam's update of Kingma & Ba 2015, Algorithm 1): the first
loss bit for bit, everything after an Adam update up to float32 rounding, since the
engine's fused Adam orders the update's arithmetic in its own way."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ebkit.builtins.energies.networks import MLPEnergy
from ebkit.builtins.losses.gan import GANLoss
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.core.interfaces import DataBatch, Dataset, DataSpec

SPEC = DataSpec((2,))
SETTINGS = TrainSettings(
    steps=3, batch_size=16, seed=5, energy_lr=2e-3, sampler_lr=1e-3, beta1=0.5, beta2=0.9
)


class GaussianData(Dataset):
    """x ~ N((1, −1), 0.25 I): one ``randn`` per batch from the given generator."""

    spec = SPEC

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        noise = torch.randn(batch_size, 2, generator=generator)
        return DataBatch(noise * 0.5 + torch.tensor([1.0, -1.0]))


def adam_update(
    parameters: list[torch.nn.Parameter],
    moments: dict[int, tuple[torch.Tensor, torch.Tensor]],
    step: int,
    lr: float,
    betas: tuple[float, float],
    eps: float = 1e-8,
) -> None:
    """θ ← θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε), m and v the moving averages of g
    and g² (bias-corrected as torch does: the step size takes 1/(1 − β₁ᵗ))."""
    beta1, beta2 = betas
    with torch.no_grad():
        for parameter in parameters:
            grad = parameter.grad
            m, v = moments.setdefault(
                id(parameter), (torch.zeros_like(parameter), torch.zeros_like(parameter))
            )
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = lr / (1 - beta1**step)
            denominator = (v.sqrt() / (1 - beta2**step) ** 0.5).add_(eps)
            parameter.addcdiv_(m, denominator, value=-step_size)


ROUNDING = {"rtol": 1e-6, "atol": 1e-7}
"""A few float32 roundings of Adam's update, far below a wrong formula's differences
(a β or a bias correction off changes the weights by 1e-4 and more here)."""


def test_three_engine_steps_equal_hand_written_d_and_g_steps() -> None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        energy = MLPEnergy(SPEC, width=16, n_layers=2)
        sampler = GeneratorSampler(SPEC, latent_dim=3, width=16)
    # r1=0: the hand-written steps are the plain GAN's (the R1 penalty, on by default on
    # vectors, is tested in tests/builtins/losses/test_gan_loss.py).
    loss = GANLoss(SPEC, r1=0)
    trainer = Trainer(Components(GaussianData(), energy, sampler, loss), SETTINGS)
    # The hand loop's own copies of the initial networks D (the energy) and G.
    D, G = copy.deepcopy(energy), copy.deepcopy(sampler)
    data_generator = torch.Generator().manual_seed(SETTINGS.seed)
    noise_generator = torch.Generator().manual_seed(SETTINGS.seed + 1)
    d_moments: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    g_moments: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    betas = (SETTINGS.beta1, SETTINGS.beta2)

    for step in range(1, SETTINGS.steps + 1):
        metrics = trainer.train_step()

        x = GaussianData().sample(SETTINGS.batch_size, data_generator).x
        z = torch.randn(SETTINGS.batch_size, G.latent_dim, generator=noise_generator)
        fake = G(z)
        # D step: L_D = −mean log σ(−E(x)) − mean log(1 − σ(−E(G(z)))), G(z) detached.
        loss_d = -F.logsigmoid(-D(x).energy).mean() - F.logsigmoid(D(fake.detach()).energy).mean()
        D.zero_grad(set_to_none=True)
        loss_d.backward()
        adam_update(list(D.parameters()), d_moments, step, SETTINGS.energy_lr, betas)
        # G step on the updated D: L_G = −mean log σ(−E(G(z))), the same z.
        loss_g = -F.logsigmoid(-D(fake).energy).mean()
        G.zero_grad(set_to_none=True)
        loss_g.backward()
        adam_update(list(G.parameters()), g_moments, step, SETTINGS.sampler_lr, betas)

        if step == 1:  # before any update: the same operations on the same weights
            assert torch.equal(metrics["loss_energy"], loss_d.detach())
        torch.testing.assert_close(metrics["loss_energy"], loss_d.detach(), **ROUNDING)
        torch.testing.assert_close(metrics["loss_sampler"], loss_g.detach(), **ROUNDING)
        for mine, theirs in ((energy, D), (sampler, G)):
            for (name, value), hand in zip(
                mine.state_dict().items(), theirs.state_dict().values(), strict=True
            ):
                torch.testing.assert_close(value, hand, **ROUNDING, msg=f"{step} {name}")
    assert trainer.step == SETTINGS.steps
