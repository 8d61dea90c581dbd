"""Tests for the class-conditional ``mlp`` and ``conv`` energies (issue 9): label layers
only in conditional runs, E(x | y) on hand-checked cases, gradients to the label layers,
the conditional CIFAR-10 discriminator (``arch=deck``) and ``arch=auto``, and unchanged
unconditional networks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ebkit import DataSpec, EnergyFunction, UsageError
from ebkit.builtins.energies.hooks import ebkit_energies
from ebkit.builtins.energies.networks import ConvEnergy, MLPEnergy, conv_energy_architecture
from ebkit.nets import LabelChannel, LabelEmbedding
from ebkit.testing import check_conditional_energy, check_energy, check_option_round_trip

TOY = DataSpec((2,), -4.0, 4.0)
TOY_CLASSES = DataSpec((2,), -4.0, 4.0, num_classes=3, conditional=True)
DIGITS = DataSpec((1, 8, 8), num_classes=10, conditional=True)
CIFAR = DataSpec((3, 32, 32), num_classes=10, conditional=True)
MNIST = DataSpec((1, 28, 28), num_classes=10, conditional=True)


def component(name: str):
    (record,) = [c for c in ebkit_energies() if c.name == name]
    return record


def build(factory: Callable[..., EnergyFunction], spec: DataSpec, **options) -> EnergyFunction:
    torch.manual_seed(0)
    return factory(spec, **options)


def inputs(spec: DataSpec, batch: int, seed: int = 0) -> torch.Tensor:
    unit = torch.rand((batch, *spec.event_shape), generator=torch.Generator().manual_seed(seed))
    return spec.low + (spec.high - spec.low) * unit


def shapes(energy: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(value.shape) for name, value in energy.state_dict().items()}


def check_seeded_and_differentiable(
    factory: Callable[..., EnergyFunction], spec: DataSpec, batch: int = 6, **options
) -> None:
    """What ebkit.testing.check_conditional_energy leaves to check_energy, for
    energy(x, labels): the same weights from the same seed, finite gradients to the input
    and to every parameter (the label layer included), eval-mode determinism."""
    energy = build(factory, spec, **options)
    twin = build(factory, spec, **options)
    for (name, value), (_, again) in zip(
        energy.state_dict().items(), twin.state_dict().items(), strict=True
    ):
        assert torch.equal(value, again), name
    x = inputs(spec, batch, seed=1).requires_grad_(True)
    labels = torch.arange(batch) % spec.num_classes
    output = energy(x, labels)
    assert output.energy.shape == (batch,) and torch.isfinite(output.energy).all()
    assert output.features.shape[0] == batch and output.features.ndim == 2
    output.energy.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, parameter in energy.named_parameters():
        assert parameter.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(parameter.grad).all(), name
    energy.eval()
    with torch.no_grad():
        probe = inputs(spec, batch, seed=2)
        assert torch.equal(energy(probe, labels).energy, energy(probe, labels).energy)
        assert torch.equal(energy.evaluate(probe, labels).energy, energy(probe, labels).energy)


# -- unconditional networks are unchanged -------------------------------------------------


def test_unconditional_mlp_parameters_are_pinned() -> None:
    energy = MLPEnergy(TOY, width=4, n_layers=2, label_dim=7)  # label_dim unused here
    assert energy.label_embedding is None
    assert shapes(energy) == {
        "hidden.0.weight": (4, 2),
        "hidden.0.bias": (4,),
        "hidden.2.weight": (4, 4),
        "hidden.2.bias": (4,),
        "head.weight": (1, 4),
        "head.bias": (1,),
    }


def test_unconditional_conv_parameters_are_pinned() -> None:
    # A labelled but unconditional dataset (num_classes set) builds no label layer.
    energy = ConvEnergy(DataSpec((3, 32, 32), num_classes=10), channels=[2, 3])
    assert energy.arch == "plain" and energy.label_channel is None
    assert shapes(energy) == {
        "body.0.weight": (2, 3, 3, 3),
        "body.0.bias": (2,),
        "body.2.weight": (3, 2, 3, 3),
        "body.2.bias": (3,),
        "head.weight": (1, 3 * 8 * 8),
        "head.bias": (1,),
    }


def test_unconditional_energies_still_conform() -> None:
    check_energy(component("mlp"), width=8, label_dim=3)
    check_energy(component("conv"), DataSpec((1, 8, 8)), channels=[4, 8])
    check_energy(component("conv"), DataSpec((1, 8, 8)), arch="deck", channels=[4, 8])
    check_energy(component("conv"), DataSpec((3, 32, 32), num_classes=10), channels=[2, 2])


@pytest.mark.parametrize(
    "energy",
    [
        lambda: MLPEnergy(TOY, width=4),
        lambda: ConvEnergy(DataSpec((1, 8, 8)), channels=[2]),
        lambda: ConvEnergy(DataSpec((1, 8, 8)), arch="deck", channels=[2]),
    ],
)
def test_an_unconditional_energy_refuses_labels(energy: Callable[[], EnergyFunction]) -> None:
    built = energy()
    x = inputs(built.spec, 2)
    with pytest.raises(
        ValueError, match="labels were given to a component built for an unconditional run"
    ):
        built(x, torch.zeros(2, dtype=torch.long))
    assert built.evaluate(x).energy.shape == (2,)  # no labels: the unconditional call


def test_both_energies_accept_labels() -> None:
    assert MLPEnergy.accepts_labels and ConvEnergy.accepts_labels


# -- the conditional mlp -----------------------------------------------------------------


@pytest.mark.parametrize(("label_dim", "width"), [(None, 3), (5, 5)])
def test_conditional_mlp_concatenates_the_embedding_to_the_mapped_input(
    label_dim: int | None, width: int
) -> None:
    energy = build(MLPEnergy, TOY_CLASSES, width=6, n_layers=2, label_dim=label_dim)
    assert isinstance(energy.label_embedding, LabelEmbedding)
    # auto = num_classes (3), the size of a one-hot label.
    assert energy.label_embedding.embedding.weight.shape == (3, width)
    assert energy.hidden[0].in_features == 2 + width
    # By hand: the hidden layers and head of an unconditional MLP on [x, emb[y]] (vectors
    # are read unscaled by default).
    plain = MLPEnergy(DataSpec((2 + width,)), width=6, n_layers=2)
    state = {k: v for k, v in energy.state_dict().items() if not k.startswith("label")}
    plain.load_state_dict(state)
    x = inputs(TOY_CLASSES, 4)
    labels = torch.tensor([0, 2, 1, 2])
    by_hand = torch.cat([x, energy.label_embedding.embedding.weight[labels]], dim=1)
    torch.testing.assert_close(energy(x, labels).energy, plain(by_hand).energy)


def test_conditional_mlp_conforms() -> None:
    check_conditional_energy(component("mlp"), width=8)
    check_conditional_energy(component("mlp"), DIGITS, width=8, label_dim=2, spectral_norm=True)
    check_seeded_and_differentiable(MLPEnergy, TOY_CLASSES, width=8)
    check_seeded_and_differentiable(MLPEnergy, DIGITS, width=8, label_dim=2, spectral_norm=True)


def test_conditional_mlp_gradcheck_through_input_and_embedding() -> None:
    energy = build(MLPEnergy, TOY_CLASSES, width=5, n_layers=2, label_dim=2).double().eval()
    labels = torch.tensor([0, 1, 2, 1])
    x = inputs(TOY_CLASSES, 4).double().requires_grad_(True)
    table = energy.label_embedding.embedding.weight.detach().clone().requires_grad_(True)
    key = "label_embedding.embedding.weight"

    def conditional_energy(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(energy, {key: table}, (x, labels)).energy

    assert torch.autograd.gradcheck(conditional_energy, (x, table))


def test_a_step_on_one_label_moves_only_that_labels_embedding() -> None:
    energy = build(MLPEnergy, TOY_CLASSES, width=8, n_layers=2)
    x = inputs(TOY_CLASSES, 1)
    zero, one = torch.tensor([0]), torch.tensor([1])
    before = {label: energy(x, torch.tensor([label])).energy.item() for label in (0, 1)}
    assert before[0] != before[1]  # the label changes the energy at initialisation
    table = energy.label_embedding.embedding.weight
    rows = table.detach().clone()
    optimizer = torch.optim.SGD(energy.parameters(), lr=0.1)
    energy(x, zero).energy.sum().backward()
    optimizer.step()
    assert not torch.equal(table[0], rows[0]) and torch.equal(table[1:], rows[1:])
    after = {label: energy(x, torch.tensor([label])).energy.item() for label in (0, 1)}
    assert after[0] < before[0]  # the step lowered E(x | 0)
    assert after[0] != after[1]
    assert energy(x, one).energy.item() == after[1]


# -- the conditional conv ------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["plain", "deck"])
def test_conditional_conv_adds_one_label_map_channel(arch: str) -> None:
    energy = build(ConvEnergy, DIGITS, arch=arch, channels=[4, 5])
    assert isinstance(energy.label_channel, LabelChannel)
    assert energy.label_channel.maps.weight.shape == (10, 8 * 8)
    assert energy.body[0].in_channels == 2
    # By hand: the same layers on the mapped image with the class's map as channel 2.
    x, labels = inputs(DIGITS, 3), torch.tensor([9, 0, 4])
    maps = energy.label_channel.maps.weight[labels].view(3, 1, 8, 8)
    energy.eval()
    features = energy.body(torch.cat([x, maps], dim=1)).flatten(1)  # [-1, 1]: identity
    if energy.dense is not None:
        features = energy.dense(features)
    head = energy.head(features).squeeze(1)
    expected = F.softplus(head) if arch == "deck" else head
    torch.testing.assert_close(energy(x, labels).energy, expected)


@pytest.mark.parametrize("arch", ["plain", "deck"])
def test_conditional_conv_conforms(arch: str) -> None:
    odd = DataSpec((3, 5, 7), 0.0, 1.0, 2, True)
    check_conditional_energy(component("conv"), DIGITS, arch=arch, channels=[4, 4])
    check_conditional_energy(component("conv"), odd, arch=arch, channels=[3])
    check_seeded_and_differentiable(ConvEnergy, DIGITS, arch=arch, channels=[4, 4])
    check_seeded_and_differentiable(ConvEnergy, odd, arch=arch, channels=[3])


@pytest.mark.parametrize("arch", ["plain", "deck"])
def test_labels_change_the_conv_energy(arch: str) -> None:
    energy = build(ConvEnergy, DIGITS, arch=arch, channels=[4, 4]).eval()
    x = inputs(DIGITS, 1).expand(10, 1, 8, 8)
    energies = energy(x, torch.arange(10)).energy
    assert len(set(energies.tolist())) == 10  # ten classes, ten energies of the same x


@pytest.mark.parametrize(
    "energy",
    [lambda: build(MLPEnergy, DIGITS, width=4), lambda: build(ConvEnergy, DIGITS, channels=[2])],
)
def test_a_conditional_energy_without_labels_is_a_clear_error(
    energy: Callable[[], EnergyFunction],
) -> None:
    built = energy()
    x = inputs(DIGITS, 2)
    with pytest.raises(ValueError, match="built for a conditional run and needs labels"):
        built(x)
    with pytest.raises(ValueError, match=r"expected labels of shape \(2,\), got \(3,\)"):
        built(x, torch.zeros(3, dtype=torch.long))


def test_conditional_conv_input_gradcheck() -> None:
    spec = DataSpec((1, 5, 5), num_classes=2, conditional=True)
    energy = build(ConvEnergy, spec, arch="deck", channels=[2, 3]).double().eval()
    x = inputs(spec, 2).double().requires_grad_(True)
    labels = torch.tensor([1, 0])
    assert torch.autograd.gradcheck(lambda t: energy.energy(t, labels), (x,))


# -- the conditional CIFAR-10 discriminator (arch=deck) ----------------------------------------


def convolutions(energy: ConvEnergy) -> list[nn.Conv2d]:
    return [m for m in energy.body if isinstance(m, nn.Conv2d)]


def test_deck_on_conditional_cifar_is_the_decks_table() -> None:
    energy = build(ConvEnergy, CIFAR)  # auto: deck, channels 128, 128, 64
    assert energy.arch == "deck"
    layers = convolutions(energy)
    assert [(c.in_channels, c.out_channels) for c in layers] == [(4, 128), (128, 128), (128, 64)]
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in layers)
    # BatchNorm after the 2nd and 3rd convolution only; those have no bias.
    kinds = [type(m) for m in energy.body]
    assert kinds == [
        nn.Conv2d, nn.LeakyReLU,
        nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU,
        nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU,
    ]  # fmt: skip
    assert [c.bias is not None for c in layers] == [True, False, False]
    assert all(m.negative_slope == 0.2 for m in energy.modules() if isinstance(m, nn.LeakyReLU))
    # 32 → 16 → 8 → 4: flatten 64·4·4 → Dense 64 → LeakyReLU → Dense 1.
    assert [type(m) for m in energy.dense] == [nn.Linear, nn.LeakyReLU]
    assert (energy.dense[0].in_features, energy.dense[0].out_features) == (64 * 4 * 4, 64)
    assert (energy.head.in_features, energy.head.out_features) == (64, 1)
    x = inputs(CIFAR, 2)
    activations = nn.Sequential(*energy.body[:3])(torch.cat([x, x[:, :1]], dim=1))
    assert activations.shape == (2, 128, 8, 8)
    output = energy(x, torch.tensor([3, 7]))
    assert output.energy.shape == (2,) and output.features.shape == (2, 64)


def test_deck_works_on_28x28_grayscale() -> None:
    energy = build(ConvEnergy, DataSpec((1, 28, 28)), arch="deck")
    assert [(c.in_channels, c.out_channels) for c in convolutions(energy)] == [
        (1, 128),
        (128, 128),
        (128, 64),
    ]
    # 28 → 14 → 7 → 4 (ceil-halving), so Dense 64 reads 64·4·4.
    assert energy.dense[0].in_features == 64 * 4 * 4
    assert energy(inputs(MNIST, 3)).energy.shape == (3,)
    conditional = build(ConvEnergy, MNIST, arch="deck", channels=[8, 8, 4])
    assert conditional.body[0].in_channels == 2
    assert conditional.label_channel.maps.weight.shape == (10, 28 * 28)
    assert conditional(inputs(MNIST, 3), torch.tensor([0, 5, 9])).features.shape == (3, 64)


def test_deck_energy_is_softplus_of_its_head_and_never_negative() -> None:
    energy = build(ConvEnergy, DIGITS, arch="deck", channels=[2, 2]).eval()
    x, labels = inputs(DIGITS, 5), torch.arange(5)
    output = energy(x, labels)
    torch.testing.assert_close(output.energy, F.softplus(energy.head(output.features)).squeeze(1))
    with torch.no_grad():
        energy.head.bias.fill_(-50.0)  # a very negative head: E = softplus(·) → 0⁺
    low = energy(x, labels).energy
    assert (low >= 0).all() and (low < 1e-15).all()
    plain = build(ConvEnergy, DIGITS, arch="plain", channels=[2, 2]).eval()
    with torch.no_grad():
        plain.head.bias.fill_(-50.0)
    assert (plain(x, labels).energy < 0).all()  # plain keeps a linear, signed output


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (CIFAR, "deck"),
        (DataSpec((3, 32, 32), num_classes=10), "plain"),  # unconditional CIFAR-10
        (DataSpec((3, 32, 32)), "plain"),
        (MNIST, "plain"),
        (DataSpec((3, 16, 16), num_classes=10, conditional=True), "plain"),
        (DataSpec((1, 32, 32), num_classes=10, conditional=True), "plain"),
    ],
)
def test_auto_picks_deck_only_for_conditional_3x32x32(spec: DataSpec, expected: str) -> None:
    assert conv_energy_architecture(spec) == expected
    assert conv_energy_architecture(spec, "plain") == "plain"
    assert conv_energy_architecture(spec, "deck") == "deck"


def test_auto_channels_and_activation_follow_the_architecture() -> None:
    plain = build(ConvEnergy, DataSpec((3, 32, 32), num_classes=10, conditional=False))
    assert [c.out_channels for c in convolutions(plain)] == [32, 64, 128]
    assert isinstance(plain.body[1], nn.SiLU) and plain.dense is None
    deck = build(ConvEnergy, DIGITS, arch="deck", activation="swish", channels=[3])
    assert [type(m) for m in deck.body] == [nn.Conv2d, nn.SiLU]
    assert isinstance(deck.dense[1], nn.SiLU)


def test_deck_with_spectral_norm_wraps_every_weight_layer() -> None:
    energy = build(ConvEnergy, DIGITS, arch="deck", channels=[2, 2], spectral_norm=True)
    weighted = [*convolutions(energy), energy.dense[0], energy.head]
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in weighted)


# -- options and records ---------------------------------------------------------------------


def test_bad_options_are_refused_with_one_line() -> None:
    with pytest.raises(ValueError, match="arch must be one of auto, plain, deck, not 'dcgan'"):
        ConvEnergy(CIFAR, arch="dcgan")
    with pytest.raises(
        ValueError, match="label_dim must be at least 1 \\(or unset: num_classes\\), not 0"
    ):
        MLPEnergy(TOY_CLASSES, label_dim=0)
    with pytest.raises(UsageError, match=r"energy\.arch: 'dcgan' is not one of"):
        component("conv").resolve_options({"arch": "dcgan"}, prefix="energy")
    with pytest.raises(UsageError, match=r"energy\.label_dim: '0' is below the minimum 1"):
        component("mlp").resolve_options({"label_dim": "0"}, prefix="energy")


def test_records_declare_the_conditional_options() -> None:
    mlp, conv = component("mlp"), component("conv")
    for record in (mlp, conv):
        check_option_round_trip(record)
    assert mlp.option("label_dim").default is None
    assert mlp.option("label_dim").help.startswith("conditional runs only")
    assert conv.option("arch").choices == ("auto", "plain", "deck")
    assert conv.option("channels").default is None
    assert "auto = 32,64,128 for plain, 128,128,64 for deck" in conv.option("channels").help
    assert conv.option("activation").choices == ("auto", "swish", "relu", "leaky_relu", "elu")
    options = conv.resolve_options({"arch": "deck", "channels": "4,4"}, prefix="energy")
    energy = conv.load_factory()(CIFAR, **options)
    assert (
        energy.arch == "deck" and energy(inputs(CIFAR, 2), torch.tensor([1, 2])).energy.min() >= 0
    )
