"""The Ladder baseline of EBGAN-LN in ebkit's engine: semi-supervised steps with no
contrastive samples (``--sampler none --loss none``) train it on data and labels."""

from __future__ import annotations

import torch

from ebkit import EnergyOutput, LossFunctional, LossOutput
from ebkit.builtins.datasets.digits import Digits
from ebkit.builtins.losses.none import DataEnergyLoss
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.none import NoSampler
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.core.semi_supervised import SemiSupervised, classification_error
from ebkit.runs.splits import semi_supervised_split
from ebkit_ladder.ladder import LadderEnergy


def digits_split(labels: int):
    return semi_supervised_split(Digits(), labels=labels, test_fraction=0.2, seed=0)


def semi_supervised(split) -> SemiSupervised:
    return SemiSupervised(split.labelled, split.test_x, split.test_y)


def test_a_ladder_baseline_step_trains_on_data_and_labels() -> None:
    split = digits_split(labels=50)
    spec = split.unlabelled.spec
    with torch.random.fork_rng():  # seeded initial weights, the global RNG left alone
        torch.manual_seed(0)
        energy = LadderEnergy(spec, sizes=[32, 16])
    components = Components(split.unlabelled, energy, NoSampler(spec), DataEnergyLoss(spec))
    trainer = Trainer(
        components, TrainSettings(batch_size=16, seed=0), extensions=[semi_supervised(split)]
    )
    before = classification_error(energy, split.test_x, split.test_y, "cpu")
    for _ in range(200):
        metrics = trainer.train_step()
    assert {"loss_energy", "supervised_ce", "supervised_error"} <= set(metrics)
    after = classification_error(energy, split.test_x, split.test_y, "cpu")
    assert after < min(before - 0.3, 0.5)  # chance is 0.9
    assert trainer.sampler_optimizer is None


class ZeroMarginHinge(LossFunctional):
    """EBGAN's hinge loss (Zhao et al. 2017, eq. 1) at margin 0: E(x) + [0 − E(G(z))]⁺,
    whose second term is 0 for an energy ≥ 0; the generator's loss is E(G(z)) (eq. 2)."""

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        return LossOutput(real.energy.mean() + torch.relu(-fake.energy).mean(), {})

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        return LossOutput(fake.energy.mean(), {})


def trained_ladder(contrastive: bool, contrastive_noise: str = "own") -> LadderEnergy:
    """The energy after a few semi-supervised steps, as the Ladder baseline or, with
    ``contrastive``, as EBGAN-LN with margin 0, whose hinge term is zero throughout."""
    split = digits_split(labels=20)
    spec = split.unlabelled.spec
    with torch.random.fork_rng():
        torch.manual_seed(0)
        energy = LadderEnergy(spec, sizes=[16, 8], contrastive_noise=contrastive_noise)
        sampler = GeneratorSampler(spec, latent_dim=4, width=8) if contrastive else NoSampler(spec)
    loss = ZeroMarginHinge(spec) if contrastive else DataEnergyLoss(spec)
    components = Components(split.unlabelled, energy, sampler, loss)
    trainer = Trainer(
        components, TrainSettings(batch_size=8, seed=0), extensions=[semi_supervised(split)]
    )
    for _ in range(3):
        trainer.train_step()
    return energy


def test_with_their_own_noise_contrastive_samples_change_nothing_but_the_margin_term() -> None:
    # With margin 0 the hinge [m − E(G(z))]⁺ is 0 (the energy is a cost ≥ 0): EBGAN-LN
    # then trains exactly the Ladder, because the generated samples' passes draw their
    # corruption from a stream of their own.
    ladder = trained_ladder(contrastive=False).state_dict()
    ebgan = trained_ladder(contrastive=True).state_dict()
    for key, value in ladder.items():
        torch.testing.assert_close(ebgan[key], value, rtol=0, atol=0, msg=key)
    # From the shared stream the generated samples take noise the data's passes then miss.
    shared = trained_ladder(contrastive=True, contrastive_noise="shared").state_dict()
    assert not torch.equal(shared["encoder.0.weight"], ladder["encoder.0.weight"])
