"""Tests for the ``mlp`` energy (ebkit.builtins.energies.networks.MLPEnergy): architecture,
per-sample energies, input scaling, features, spectral norm, gradients and the record."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit import DataSpec, UsageError
from ebkit.builtins.energies.hooks import ENERGY_ACTIVATIONS, ebkit_energies
from ebkit.builtins.energies.networks import MLPEnergy, make_activation
from ebkit.testing import check_energy, check_option_round_trip

TOY = DataSpec((2,), -4.0, 4.0)
DIGITS = DataSpec((1, 8, 8))


def component():
    (record,) = [c for c in ebkit_energies() if c.name == "mlp"]
    return record


def linears(energy: MLPEnergy) -> list[nn.Linear]:
    return [module for module in energy.modules() if isinstance(module, nn.Linear)]


@pytest.mark.parametrize("activation", ENERGY_ACTIVATIONS)
def test_mlp_conforms(activation: str) -> None:
    check_energy(component(), width=16, n_layers=2, activation=activation)


def test_mlp_with_spectral_norm_conforms() -> None:
    check_energy(component(), spectral_norm=True, width=16)


def test_mlp_with_default_options_conforms() -> None:
    check_energy(component())


@pytest.mark.parametrize("n_layers", [1, 3])
def test_layers_and_widths(n_layers: int) -> None:
    energy = MLPEnergy(DIGITS, width=24, n_layers=n_layers)
    layers = linears(energy)
    # n_layers hidden layers, then the one-unit head.
    assert len(layers) == n_layers + 1
    assert layers[0].in_features == 64 and layers[-1].out_features == 1
    assert all(layer.in_features == 24 for layer in layers[1:])
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.Dropout)) for m in energy.modules())


@pytest.mark.parametrize(
    ("name", "kind"),
    [("swish", nn.SiLU), ("relu", nn.ReLU), ("leaky_relu", nn.LeakyReLU), ("elu", nn.ELU)],
)
def test_activation_choice(name: str, kind: type) -> None:
    energy = MLPEnergy(TOY, width=8, n_layers=2, activation=name)
    activations = [m for m in energy.hidden if not isinstance(m, nn.Linear)]
    assert len(activations) == 2 and all(type(m) is kind for m in activations)
    assert ENERGY_ACTIVATIONS == ("swish", "relu", "leaky_relu", "elu")


def test_leaky_relu_slope_is_02() -> None:
    assert make_activation("leaky_relu").negative_slope == 0.2


def test_the_energy_of_a_sample_does_not_depend_on_its_batch() -> None:
    # MCMC moves each chain by its own energy; BatchNorm would couple the chains.
    energy = MLPEnergy(TOY, width=16)
    x = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    together = energy(x).energy
    alone = torch.cat([energy(x[i : i + 1]).energy for i in range(10)])
    torch.testing.assert_close(together, alone)


def test_features_are_the_last_hidden_layer_and_the_head_reads_them() -> None:
    energy = MLPEnergy(TOY, width=16, n_layers=2)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    output = energy(x)
    assert output.features.shape == (5, 16)
    torch.testing.assert_close(output.energy, energy.head(output.features).squeeze(1))
    assert energy.provides == frozenset({"features"})


def test_inputs_are_mapped_from_the_data_range_to_minus_one_one() -> None:
    # The same weights on data four times wider give the same energies at scaled inputs.
    narrow = MLPEnergy(DataSpec((2,), -1.0, 1.0), width=8, input_scale="unit")
    wide = MLPEnergy(DataSpec((2,), -4.0, 4.0), width=8, input_scale="unit")
    wide.load_state_dict(narrow.state_dict())
    x = torch.rand(6, 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
    torch.testing.assert_close(wide(4 * x).energy, narrow(x).energy)
    # An off-centre range [0, 2] maps 1 to 0.
    shifted = MLPEnergy(DataSpec((2,), 0.0, 2.0), width=8, input_scale="unit")
    shifted.load_state_dict(narrow.state_dict())
    torch.testing.assert_close(shifted(x + 1).energy, narrow(x).energy)


def test_images_are_flattened() -> None:
    # An image energy is the vector energy of the flattened pixels, with the same weights.
    image = MLPEnergy(DIGITS, width=8)
    vector = MLPEnergy(DataSpec((64,)), width=8, input_scale="unit", activation="swish")
    vector.load_state_dict(image.state_dict())
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 2 - 1
    torch.testing.assert_close(image(x).energy, vector(x.reshape(3, 64)).energy)


def test_spectral_norm_bounds_every_weight_to_unit_spectral_norm() -> None:
    energy = MLPEnergy(TOY, width=32, spectral_norm=True)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    for _ in range(30):  # power iterations run in training mode, one per forward
        energy(x)
    energy.eval()
    layers = linears(energy)
    assert len(layers) == 4
    for layer in layers:
        assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
        norm = torch.linalg.matrix_norm(layer.weight.detach(), ord=2)
        assert norm.item() == pytest.approx(1.0, abs=1e-3)
    plain = MLPEnergy(TOY, width=32)
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in linears(plain))


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_input_gradcheck(spectral_norm: bool) -> None:
    energy = MLPEnergy(TOY, width=6, n_layers=2, spectral_norm=spectral_norm).double().eval()
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    assert torch.autograd.gradcheck(lambda t: energy.energy(t), (x.requires_grad_(),))


def test_wrong_input_shape_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expected samples of shape \(2,\)"):
        MLPEnergy(TOY, width=4)(torch.zeros(3, 3))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"width": 0}, "width must be at least 1"),
        ({"n_layers": 0}, "n_layers must be at least 1"),
        ({"activation": "tanh"}, "activation must be one of swish, relu, leaky_relu, elu"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MLPEnergy(TOY, **options)


def test_vectors_default_to_raw_inputs_and_leaky_relu_images_to_unit_range_and_swish() -> None:
    # Mapping the 25-Gaussian grid's ±4.7 onto ±1 shrinks each σ = 0.05 mode to 0.011,
    # which the default initialisation barely resolves; vectors are read as they are.
    wide = MLPEnergy(DataSpec((2,), -4.0, 4.0), width=8)
    assert isinstance(wide.scale_input, torch.nn.Identity)
    assert isinstance(wide.hidden[1], torch.nn.LeakyReLU)
    image = MLPEnergy(DIGITS, width=8)
    assert not isinstance(image.scale_input, torch.nn.Identity)
    assert isinstance(image.hidden[1], torch.nn.SiLU)


def test_an_empty_data_range_is_refused() -> None:
    with pytest.raises(ValueError, match="data range"):
        MLPEnergy(DataSpec((2,), 1.0, 1.0), input_scale="unit")


def test_component_record_and_class_defaults() -> None:
    record = component()
    check_option_round_trip(record)
    assert record.load_factory() is MLPEnergy
    energy = MLPEnergy(TOY)
    defaults = {option.name: option.default for option in record.options}
    assert defaults == {
        "width": 128,
        "n_layers": 3,
        "activation": "auto",
        "spectral_norm": False,
        "label_dim": None,
        "input_scale": "auto",
        "dropout": False,
    }
    assert len(linears(energy)) == defaults["n_layers"] + 1
    assert linears(energy)[0].out_features == defaults["width"]
    with pytest.raises(UsageError, match=r"energy\.activation: 'tanh' is not one of"):
        record.resolve_options({"activation": "tanh"}, prefix="energy")
