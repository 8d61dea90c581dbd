"""Tests for the generator sampler's architecture choice and its DCGAN-style conv net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.core.architectures import CONV_MIN_SIDE, choose_architecture
from ebkit.core.interfaces import DataSpec


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def layers(module: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [child for child in module.modules() if isinstance(child, kind)]


@pytest.mark.parametrize(
    ("event_shape", "expected"),
    [
        ((2,), "mlp"),
        ((784,), "mlp"),
        ((1, 8, 8), "mlp"),  # the digits stay an MLP
        ((3, 15, 64), "mlp"),
        ((1, 16, 16), "mlp"),
        ((1, 28, 28), "mlp"),  # MNIST: the paper's MLP grid
        ((1, 64, 64), "conv"),
        ((3, 16, 16), "conv"),
        ((3, 32, 32), "conv"),
        ((3, 64, 64), "conv"),
    ],
)
def test_auto_picks_mlp_for_grayscale_digits_and_conv_for_colour(event_shape, expected) -> None:
    assert CONV_MIN_SIDE == 16
    spec = DataSpec(event_shape)
    assert choose_architecture(spec) == expected
    assert GeneratorSampler(spec, width=8, channels=[4, 2]).arch == expected


def test_explicit_arch_wins_and_conv_needs_images() -> None:
    assert choose_architecture(DataSpec((1, 28, 28)), "mlp") == "mlp"
    assert choose_architecture(DataSpec((1, 8, 8)), "conv") == "conv"
    with pytest.raises(ValueError, match=r"needs image data .*\(2,\)"):
        GeneratorSampler(DataSpec((2,)), arch="conv")
    with pytest.raises(ValueError, match="arch must be one of"):
        choose_architecture(DataSpec((2,)), "resnet")


@pytest.mark.parametrize(
    "event_shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64), (1, 8, 8), (2, 5, 7), (1, 2, 3)]
)
def test_output_shape_follows_the_data_exactly(event_shape: tuple[int, ...]) -> None:
    spec = DataSpec(event_shape, low=-2.0, high=3.0)
    sampler = GeneratorSampler(spec, arch="conv", latent_dim=6, channels=[8, 4, 2])
    x = sampler.sample(3, None, seeded(0))
    assert x.shape == (3, *event_shape)
    assert spec.low <= x.min() and x.max() <= spec.high


def test_architecture_is_dcgan_style() -> None:
    # 28×28 with three doublings grows from ⌈28 / 8⌉ = 4 to 32 and is cropped.
    sampler = GeneratorSampler(
        DataSpec((1, 28, 28)), arch="conv", latent_dim=10, channels=[16, 8, 4]
    )
    net = sampler.net
    assert net.start == (16, 4, 4)
    assert (net.project.in_features, net.project.out_features) == (10, 16 * 4 * 4)
    deconvs = layers(net, nn.ConvTranspose2d)
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(16, 8), (8, 4), (4, 1)]
    for layer in deconvs:
        assert layer.kernel_size == (4, 4) and layer.stride == (2, 2) and layer.padding == (1, 1)
    # BatchNorm + ReLU after the projection and every hidden layer, not after the output.
    assert [m.num_features for m in layers(net, nn.BatchNorm2d)] == [16, 8, 4]
    assert len(layers(net, nn.ReLU)) == 3
    assert isinstance(net.body[-1], nn.Tanh) and isinstance(net.body[-2], nn.ConvTranspose2d)
    # Biases only where no BatchNorm follows.
    assert net.project.bias is None
    assert [d.bias is not None for d in deconvs] == [False, False, True]


def test_batchnorm_can_be_switched_off() -> None:
    sampler = GeneratorSampler(DataSpec((1, 16, 16)), arch="conv", channels=[8, 4], batchnorm=False)
    assert not layers(sampler, nn.BatchNorm2d)
    assert sampler.net.project.bias is not None
    assert all(d.bias is not None for d in layers(sampler, nn.ConvTranspose2d))
    assert sampler.sample(1, None, seeded(0)).shape == (1, 1, 16, 16)


def test_output_is_the_centre_crop_of_the_grown_image() -> None:
    sampler = GeneratorSampler(DataSpec((1, 5, 7)), arch="conv", latent_dim=4, channels=[4, 2])
    sampler.eval()
    grown = {}
    sampler.net.body.register_forward_hook(lambda module, args, out: grown.update(out=out))
    x = sampler.sample(2, None, seeded(0))
    # 5 × 7 grows from 2 × 2 to 8 × 8; the crop drops one row above, two below and one
    # column on the right. On [-1, 1] data the map from tanh's range is the identity.
    assert grown["out"].shape == (2, 1, 8, 8)
    torch.testing.assert_close(x, grown["out"][:, :, 1:6, 0:7])


@pytest.mark.parametrize(("bias", "expected"), [(0.0, 0.5), (20.0, 3.0), (-20.0, -2.0)])
def test_tanh_is_mapped_onto_the_data_range(bias: float, expected: float) -> None:
    sampler = GeneratorSampler(
        DataSpec((1, 16, 16), low=-2.0, high=3.0), arch="conv", channels=[4, 2]
    )
    output = layers(sampler, nn.ConvTranspose2d)[-1]
    with torch.no_grad():
        output.weight.zero_()
        output.bias.fill_(bias)
    x = sampler.sample(3, None, seeded(0))
    assert torch.allclose(x, torch.full_like(x, expected), atol=1e-5)


def test_initial_weights_are_normal_with_std_002() -> None:
    torch.manual_seed(0)
    sampler = GeneratorSampler(DataSpec((3, 32, 32)), channels=[128, 64], batchnorm=False)
    weights = [m.weight.flatten() for m in layers(sampler, (nn.Linear, nn.ConvTranspose2d))]
    weights = torch.cat(weights)
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert weights.mean().abs().item() < 1e-3
    biases = [m.bias for m in layers(sampler, (nn.Linear, nn.ConvTranspose2d))]
    assert all(torch.count_nonzero(bias) == 0 for bias in biases)


def test_samples_keep_their_graph_and_gradients_reach_every_parameter() -> None:
    sampler = GeneratorSampler(DataSpec((3, 16, 16)), latent_dim=8, channels=[8, 4])
    x = sampler.sample(4, None, seeded(0))
    assert x.requires_grad
    (x**2).sum().backward()
    for name, parameter in sampler.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_generate_matches_sample_with_the_same_noise() -> None:
    sampler = GeneratorSampler(
        DataSpec((1, 28, 28)), arch="conv", latent_dim=8, channels=[8, 4]
    ).eval()
    z = torch.randn(5, 8, generator=seeded(7))
    torch.testing.assert_close(sampler.sample(5, None, seeded(7)), sampler.generate(z))
    with pytest.raises(ValueError, match=r"expected \(n, 8\)"):
        sampler.generate(torch.zeros(5, 9))


@pytest.mark.parametrize("channels", [[], [4, 0]])
def test_bad_channels_are_errors(channels: list[int]) -> None:
    with pytest.raises(ValueError, match="channels"):
        GeneratorSampler(DataSpec((1, 16, 16)), arch="conv", channels=channels)


def test_mlp_state_keys_are_unchanged() -> None:
    # Checkpoints of the MLP generator from before the conv option still load.
    # (Those runs recorded batchnorm=true and an implicit tanh, which has no parameters.)
    keys = GeneratorSampler(DataSpec((2,)), n_layers=2, width=4, batchnorm=True)
    keys = keys.state_dict().keys()
    assert "net.0.weight" in keys and "net.3.bias" in keys


def test_the_record_declares_arch_and_channels() -> None:
    component = next(record for record in ebkit_samplers() if record.name == "generator")
    defaults = {option.name: option.default for option in component.options}
    assert defaults == {
        "arch": "auto",
        "latent_dim": None,
        "noise": "auto",
        "n_layers": 3,
        "width": None,
        "channels": [256, 128, 64],
        "filters": 64,
        "batchnorm": None,
        "label_dim": None,
        "output": "auto",
        "weight_init": "auto",
    }
    assert component.option("arch").choices == ("auto", "mlp", "conv", "began", "deck")
    assert component.option("noise").choices == ("auto", "normal", "uniform")
    assert component.option("channels").help.startswith("conv only")
    assert component.option("filters").help.startswith("began only")
    for name in ("n_layers", "width", "output"):
        assert component.option(name).help.startswith("mlp only")
    import inspect

    parameters = inspect.signature(GeneratorSampler).parameters
    for option in component.options:
        default = parameters[option.name].default
        assert (list(default) if option.name == "channels" else default) == option.default
