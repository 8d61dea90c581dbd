"""The Ladder baseline of EBGAN-LN in ebkit's engine: semi-supervised steps with no
contrastive samples (``--sampler none --loss none``) train it on data and labels."""

from __future__ import annotations

import torch

from ebkit.builtins.datasets.digits import Digits
from ebkit.builtins.losses.none import DataEnergyLoss
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
