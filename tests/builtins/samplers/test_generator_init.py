"""The generator's initial weights (``weight_init``): the paper's N(0, 0.02) on images,
Glorot-uniform on vectors, so that the first samples do not all sit on one point."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.generator_langevin import GeneratorLangevinSampler
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.core.interfaces import DataSpec
from ebkit.nets import glorot_init

GRID = DataSpec((2,), -4.7, 4.7)
DIGITS = DataSpec((1, 8, 8))
COLOUR = DataSpec((3, 16, 16))


def built(seed: int, spec: DataSpec = GRID, **options: object) -> GeneratorSampler:
    torch.manual_seed(seed)
    return GeneratorSampler(spec, **options)


def linears(sampler: nn.Module) -> list[nn.Linear]:
    return [module for module in sampler.modules() if isinstance(module, nn.Linear)]


def test_auto_is_normal_on_images_and_xavier_on_vectors() -> None:
    assert built(0, DIGITS, width=32).weight_init == "normal"
    assert built(0).weight_init == "xavier"
    for layer in linears(built(0)):  # 2 → 128 → 128 → 2, Glorot's bound √(6 / (in + out))
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert 0.9 * bound < layer.weight.abs().max().item() <= bound
        assert torch.count_nonzero(layer.bias) == 0
    for layer in linears(built(0, weight_init="normal")):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.2)


def test_on_vectors_the_first_samples_spread_instead_of_sitting_on_one_point() -> None:
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    spread = {
        init: built(0, weight_init=init).generate(z).detach().std(0).min().item()
        for init in ("auto", "normal")
    }
    # N(0, 0.02): every sample within a few thousandths of the centre; Glorot: spread.
    assert spread["normal"] < 0.01 < 0.1 < spread["auto"]


def test_xavier_overwrites_the_normal_draw_as_the_hybrid_did() -> None:
    # generator-langevin drew N(0, 0.02) and then Glorot over its Linear layers; its seeded
    # runs keep exactly those weights and the draws that follow them.
    old = built(3, weight_init="normal")
    glorot_init(old.net, (nn.Linear,))
    after_old = torch.rand(4)
    new = built(3, weight_init="xavier")
    assert torch.equal(torch.rand(4), after_old)
    for mine, theirs in zip(new.parameters(), old.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    torch.manual_seed(3)
    hybrid = GeneratorLangevinSampler(GRID)
    assert hybrid.weight_init == "xavier"
    for mine, theirs in zip(hybrid.generator.parameters(), old.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_xavier_reaches_transposed_convolutions_without_biases() -> None:
    options = {"arch": "conv", "channels": (8, 4), "weight_init": "xavier"}
    sampler = built(0, COLOUR, **options)
    convs = [m for m in sampler.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert convs[0].bias is None  # followed by BatchNorm (DCGAN's convention)
    paper = built(0, COLOUR, **{**options, "weight_init": "normal"})
    paper_convs = [m for m in paper.modules() if isinstance(m, nn.ConvTranspose2d)]
    for xavier, normal in zip(convs, paper_convs, strict=True):
        assert xavier.weight.std().item() > 3 * normal.weight.std().item()


def test_began_keeps_glorot_and_bad_values_are_errors() -> None:
    padded = DataSpec((1, 16, 16))
    began = {"arch": "began", "filters": 4, "latent_dim": 3}
    first, second = built(0, padded, **began), built(0, padded, weight_init="normal", **began)
    assert first.weight_init == second.weight_init == "xavier"
    for mine, theirs in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    with pytest.raises(ValueError, match="weight_init must be one of auto, normal, xavier"):
        GeneratorSampler(GRID, weight_init="orthogonal")


def test_the_record_offers_weight_init_and_old_runs_read_normal() -> None:
    record = next(record for record in ebkit_samplers() if record.name == "generator")
    option = record.option("weight_init")
    assert option.choices == ("auto", "normal", "xavier")
    assert (option.default, option.saved_default) == ("auto", "normal")
