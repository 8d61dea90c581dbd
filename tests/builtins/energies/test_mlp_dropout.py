"""The ``mlp`` energy's ``dropout`` option: p = 0.5 after every hidden layer in training
only (the GAN grid's dropoutD, Zhao et al. 2017, EBGAN, Table 1)."""

from __future__ import annotations

import torch
from torch import nn

from ebkit import DataSpec
from ebkit.builtins.energies.hooks import ebkit_energies
from ebkit.builtins.energies.networks import MLPEnergy
from ebkit.testing import check_energy

DIGITS = DataSpec((1, 8, 8))


def test_dropout_follows_every_hidden_layer_in_training_only() -> None:
    energy = MLPEnergy(DIGITS, width=16, n_layers=3, dropout=True)
    dropouts = [module for module in energy.hidden if isinstance(module, nn.Dropout)]
    assert len(dropouts) == 3 and all(module.p == 0.5 for module in dropouts)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.manual_seed(0)
    first, second = energy(x).energy, energy(x).energy
    assert not torch.equal(first, second)  # training: random masks
    energy.eval()
    assert torch.equal(energy(x).energy, energy(x).energy)


def test_without_dropout_the_saved_weight_names_are_unchanged() -> None:
    names = list(MLPEnergy(DIGITS, width=4, n_layers=2).state_dict())
    assert names == list(MLPEnergy(DIGITS, width=4, n_layers=2, dropout=False).state_dict())
    assert names == [
        "hidden.0.weight",
        "hidden.0.bias",
        "hidden.2.weight",
        "hidden.2.bias",
        "head.weight",
        "head.bias",
    ]


def test_mlp_with_dropout_conforms() -> None:
    (record,) = [component for component in ebkit_energies() if component.name == "mlp"]
    check_energy(record, width=16, n_layers=2, dropout=True)
