"""Tests for the MLP auto-encoder energy of the EBGAN MNIST grid."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit_autoencoder import DISTANCES
from ebkit_autoencoder.mlp import DROPOUT_P, WEIGHT_STD, MLPAutoEncoderEnergy


def count(module: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(child, kind) for child in module.modules())


def test_is_an_energy_function_that_provides_features_reconstruction_and_residual() -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), width=8)
    assert isinstance(energy, EnergyFunction)
    assert energy.provides == frozenset({"features", "reconstruction", "residual"})
    assert energy.spec == DataSpec((2,))
    assert energy.distance == "l2"  # what distance="auto" means for the MLP


@pytest.mark.parametrize("event_shape", [(2,), (1, 8, 8), (3, 4, 4)])
@pytest.mark.parametrize("distance", DISTANCES)
def test_output_shapes(event_shape: tuple[int, ...], distance: str) -> None:
    energy = MLPAutoEncoderEnergy(DataSpec(event_shape), n_layers=3, width=16, distance=distance)
    x = torch.randn(5, *event_shape)
    out = energy(x)
    assert isinstance(out, EnergyOutput)
    assert out.energy.shape == (5,)
    assert out.features is not None and out.features.shape == (5, 16)
    assert out.reconstruction is not None and out.reconstruction.shape == x.shape
    assert out.residual is not None
    torch.testing.assert_close(out.residual, out.reconstruction - x)
    assert out.logits is None
    torch.testing.assert_close(energy.energy(x), out.energy)


def test_energy_is_the_chosen_distance_of_the_returned_reconstruction() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 1, 8, 8)
    for distance, formula in {
        "l2": lambda d: d.flatten(1).norm(dim=1),
        "mse": lambda d: d.flatten(1).pow(2).mean(dim=1),
        "l1": lambda d: d.flatten(1).abs().sum(dim=1),
        "mae": lambda d: d.flatten(1).abs().mean(dim=1),
    }.items():
        out = MLPAutoEncoderEnergy(DataSpec((1, 8, 8)), width=4, distance=distance)(x)
        torch.testing.assert_close(out.energy, formula(out.reconstruction - x))


def test_hand_set_weights_give_the_hand_computed_energy() -> None:
    # Identity encoder and decoder: the reconstruction is ReLU(x), so the error is the
    # negative part of x: [[1, −3], [2, 2]] -> r − x = [[0, 3], [0, 0]].
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), n_layers=2, width=2)
    linear_layers = [m for m in energy.modules() if isinstance(m, nn.Linear)]
    assert len(linear_layers) == 2
    with torch.no_grad():
        for layer in linear_layers:
            layer.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, -3.0], [2.0, 2.0]])
    out = energy(x)
    torch.testing.assert_close(out.reconstruction, torch.tensor([[1.0, 0.0], [2.0, 2.0]]))
    # On vectors the features are the values before the code's ReLU (features="linear").
    torch.testing.assert_close(out.features, torch.tensor([[1.0, -3.0], [2.0, 2.0]]))
    torch.testing.assert_close(out.energy, torch.tensor([3.0, 0.0]))
    energy.distance = "mse"
    torch.testing.assert_close(energy(x).energy, torch.tensor([4.5, 0.0]))


@pytest.mark.parametrize("n_layers", [2, 3, 5])
def test_layer_counts_follow_the_paper_grid(n_layers: int) -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((1, 8, 8)), n_layers=n_layers, width=8)
    assert count(energy, nn.Linear) == n_layers
    assert count(energy.encoder, nn.Linear) == n_layers - 1
    assert count(energy.decoder, nn.Linear) == 1
    # No BatchNorm on the input layer nor on the reconstruction.
    assert count(energy, nn.BatchNorm1d) == n_layers - 2
    assert count(energy, nn.ReLU) == n_layers - 1
    assert count(energy, nn.Dropout) == 0
    # The first encoder layer reads the flattened input, the decoder writes it back.
    assert energy.encoder[0].in_features == 64
    assert energy.decoder[-1].out_features == 64
    # The decoder's output is the reconstruction: no activation after it.
    assert isinstance(energy.decoder[-1], nn.Linear)


def test_batchnorm_can_be_switched_off() -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), n_layers=4, width=8, batchnorm=False)
    assert count(energy, nn.BatchNorm1d) == 0


def test_dropout_follows_every_encoder_layer_with_p_one_half() -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), n_layers=4, width=8, dropout=True)
    dropouts = [m for m in energy.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 3
    assert all(m.p == DROPOUT_P == 0.5 for m in dropouts)


def test_dropout_is_active_only_in_training() -> None:
    torch.manual_seed(0)
    energy = MLPAutoEncoderEnergy(DataSpec((16,)), n_layers=2, width=64, dropout=True)
    x = torch.randn(8, 16)
    energy.train()
    assert not torch.equal(energy(x).reconstruction, energy(x).reconstruction)
    energy.eval()
    torch.testing.assert_close(energy(x).reconstruction, energy(x).reconstruction)


def test_initialisation_is_normal_0_0002_with_zero_biases() -> None:
    torch.manual_seed(0)
    energy = MLPAutoEncoderEnergy(DataSpec((1, 16, 16)), n_layers=3, width=512)
    weights = torch.cat([m.weight.flatten() for m in energy.modules() if isinstance(m, nn.Linear)])
    assert WEIGHT_STD == 0.002
    assert weights.std().item() == pytest.approx(0.002, rel=0.02)
    assert weights.mean().abs().item() < 1e-4
    for module in energy.modules():
        if isinstance(module, nn.Linear):
            assert torch.count_nonzero(module.bias) == 0


def test_a_wrong_event_shape_is_an_error() -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((1, 8, 8)), width=4)
    with pytest.raises(ValueError, match=r"\(1, 8, 8\)"):
        energy(torch.randn(2, 64))


@pytest.mark.parametrize(
    ("options", "match"),
    [({"n_layers": 1}, "n_layers"), ({"width": 0}, "width"), ({"distance": "l3"}, "distance")],
)
def test_invalid_options_are_errors(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MLPAutoEncoderEnergy(DataSpec((2,)), **options)


@pytest.mark.parametrize("distance", DISTANCES)
def test_gradcheck_whole_energy_in_eval_mode(distance: str) -> None:
    torch.manual_seed(0)
    energy = MLPAutoEncoderEnergy(DataSpec((2, 2)), n_layers=3, width=5, distance=distance)
    energy = energy.double().eval()
    # Larger weights than the paper's init, so the reconstruction is not ≈ 0 and the
    # check also exercises the path through the encoder.
    with torch.no_grad():
        for parameter in energy.parameters():
            parameter.normal_()
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: energy(t).energy, (x,))


def test_gradcheck_through_the_parameters() -> None:
    torch.manual_seed(1)
    energy = MLPAutoEncoderEnergy(DataSpec((3,)), n_layers=3, width=4).double().eval()
    x = torch.randn(4, 3, dtype=torch.float64)
    names, params = zip(*energy.named_parameters(), strict=True)

    def energy_of(*values: torch.Tensor) -> torch.Tensor:
        state = dict(zip(names, values, strict=True))
        return torch.func.functional_call(energy, state, (x,)).energy

    inputs = tuple(p.detach().normal_().requires_grad_() for p in params)
    assert torch.autograd.gradcheck(energy_of, inputs)


def test_input_gradient_includes_the_target_path() -> None:
    # With every weight zero the reconstruction is the (zero) bias, so D(x) = ‖x‖ and
    # ∇ₓD = x / ‖x‖: a detached target would give a zero gradient instead.
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), width=3)
    with torch.no_grad():
        for parameter in energy.parameters():
            parameter.zero_()
    x = torch.tensor([[3.0, 4.0]], requires_grad=True)
    energy(x).energy.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.6, 0.8]]))


def test_vectors_default_to_a_128_unit_code_without_batchnorm_images_to_the_papers() -> None:
    vector = MLPAutoEncoderEnergy(DataSpec((2,)), n_layers=3)
    assert vector.encoder[0].out_features == 128
    assert count(vector, nn.BatchNorm1d) == 0
    image = MLPAutoEncoderEnergy(DataSpec((1, 8, 8)), n_layers=3)
    assert image.encoder[0].out_features == 1024
    assert count(image, nn.BatchNorm1d) == 1


def test_vectors_default_to_three_encoder_layers_images_to_one() -> None:
    vector = MLPAutoEncoderEnergy(DataSpec((2,)))
    assert count(vector, nn.Linear) == 4 and count(vector.encoder, nn.Linear) == 3
    assert [m.out_features for m in vector.modules() if isinstance(m, nn.Linear)] == [
        128,
        128,
        128,
        2,
    ]
    image = MLPAutoEncoderEnergy(DataSpec((1, 8, 8)))
    assert count(image, nn.Linear) == 2 and count(image.encoder, nn.Linear) == 1
    assert count(MLPAutoEncoderEnergy(DataSpec((2,)), n_layers=2), nn.Linear) == 2


def test_a_bottleneck_narrows_the_code_and_the_decoder_reads_it_through_a_hidden_layer() -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), width=16, bottleneck=1)
    out = energy(torch.randn(7, 2, generator=torch.Generator().manual_seed(0)))
    assert out.features.shape == (7, 1)
    linears = [module for module in energy.decoder if isinstance(module, nn.Linear)]
    assert [(layer.in_features, layer.out_features) for layer in linears] == [(1, 16), (16, 2)]
    # A one-number code: every reconstruction is the decoder's image of that number.
    torch.testing.assert_close(energy.decoder(out.features), out.reconstruction)


def test_vectors_default_to_the_linear_features_before_the_codes_relu() -> None:
    torch.manual_seed(0)
    energy = MLPAutoEncoderEnergy(DataSpec((2,)), width=16)
    with torch.no_grad():
        energy.encoder[-1].bias.fill_(-0.5)  # some values below 0, where the ReLU cuts
    out = energy(torch.randn(9, 2))
    assert energy.features == "linear"
    assert (out.features < 0).any()  # signed, so a batch's cosines can reach 0
    # The decoder reads the ReLU of the features: the energy is unchanged by the option.
    torch.testing.assert_close(energy.decoder(torch.relu(out.features)), out.reconstruction)


def test_features_code_returns_the_relu_code_and_the_same_energy() -> None:
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(1))
    outputs = {}
    for features in ("linear", "code"):
        torch.manual_seed(0)
        energy = MLPAutoEncoderEnergy(DataSpec((2,)), width=16, features=features)
        with torch.no_grad():
            energy.encoder[-1].bias.fill_(-0.5)
        outputs[features] = energy(x)
    assert (outputs["code"].features >= 0).all()
    torch.testing.assert_close(outputs["code"].features, torch.relu(outputs["linear"].features))
    torch.testing.assert_close(outputs["code"].energy, outputs["linear"].energy)


def test_images_keep_the_relu_code_as_features() -> None:
    energy = MLPAutoEncoderEnergy(DataSpec((1, 4, 4)), width=8)
    assert energy.features == "code"
    assert (energy(torch.randn(3, 1, 4, 4)).features >= 0).all()


def test_unknown_features_are_an_error() -> None:
    with pytest.raises(ValueError, match="features must be one of auto, code, linear"):
        MLPAutoEncoderEnergy(DataSpec((2,)), features="relu")
