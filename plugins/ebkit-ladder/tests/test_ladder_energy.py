"""The Ladder energy: hand-computed costs on a tiny network, noise injection and the two
modes (the parameter inventory, gradients and validation: test_ladder_structure.py)."""

from __future__ import annotations

import math

import pytest
import torch
from ladder_doubles import activate, inputs, set_combinator, small_ladder

from ebkit import DataSpec
from ebkit_ladder.ladder import EVAL_NOISE_SEED, LadderEnergy, denoising_cost
from ebkit_ladder.normalization import BN_EPS, BN_MOMENTUM

# -- hand-computed costs ----------------------------------------------------------------


def tiny_ladder(costs: str = "full") -> LadderEnergy:
    """2 inputs, 3 hidden units, 2 classes, set weights, identity normalisation
    (running mean 0, variance 1 − ε), no noise, in evaluation mode."""
    weights = {"layer_weights": [3.0, 2.0]} if costs == "full" else {}
    energy = LadderEnergy(
        DataSpec((2,), num_classes=2),
        sizes=[3],
        noise_std=0.0,
        costs=costs,
        bottom_weight=4.0,
        input_range="data",
        **weights,
    ).double()
    with torch.no_grad():
        energy.encoder[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        energy.encoder[1].weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, 1.0]]))
        energy.betas[0].copy_(torch.tensor([0.0, -1.0, 0.5]))
        energy.betas[1].copy_(torch.tensor([0.5, 0.0]))
        energy.gamma.copy_(torch.tensor([2.0, 1.0]))
        energy.decoder[1].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        energy.decoder[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
        for statistics in (*energy.encoder_statistics, *energy.decoder_statistics):
            statistics.running_mean.zero_()
            statistics.running_var.fill_(1.0 - BN_EPS)
    set_combinator(energy, 2, a4=1.0, a10=0.5)  # ẑ = ½ z̃ + ½ u
    set_combinator(energy, 1, a4=1.0)  # ẑ = u
    set_combinator(energy, 0, a4=1.0, a10=0.5)  # ẑ = ½ z̃ + ½ u
    return energy.eval()


def tiny_expected() -> dict[str, object]:
    """The tiny ladder on x = (1, 2), by hand.

    Encoder: z¹ = W¹x = (1, 2, 3), h¹ = ReLU(z¹ + β¹) = (1, 1, 3.5), z² = W²h¹ = (0, 4.5),
    logits = γ ⊙ (z² + β²) = (1, 4.5), softmax = (s, 1 − s) with s = 1 / (1 + e^3.5).
    Decoder: ẑ² = ½ z² + ½ softmax = (s/2, 2.25 + (1 − s)/2); u¹ = V²ẑ² = (ẑ²₁, ẑ²₂, 2.75)
    and ẑ¹ = u¹; u⁰ = V¹ẑ¹ = (s/2, 2.75) and ẑ⁰ = ½ x + ½ u⁰ = (0.5 + s/4, 2.375).
    Costs λ_l/d_l · ‖z − ẑ‖² with λ = (4, 3, 2) and d = (2, 3, 2).
    """
    s = 1.0 / (1.0 + math.exp(3.5))
    top = (s / 2, 2.25 + (1 - s) / 2)
    hidden = (top[0], top[1], 2.75)
    bottom = (0.5 + s / 4, 2.375)
    return {
        "logits": (1.0, 4.5),
        "features": (1.0, 1.0, 3.5),
        "reconstructions": (bottom, hidden, top),
        "costs": (
            4.0 / 2 * ((1 - bottom[0]) ** 2 + (2 - bottom[1]) ** 2),
            3.0 / 3 * ((1 - hidden[0]) ** 2 + (2 - hidden[1]) ** 2 + (3 - hidden[2]) ** 2),
            2.0 / 2 * ((0 - top[0]) ** 2 + (4.5 - top[1]) ** 2),
        ),
    }


def as_row(values: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor([values], dtype=torch.float64)


def test_tiny_ladder_matches_the_hand_computation() -> None:
    energy, expected = tiny_ladder(), tiny_expected()
    result = energy.ladder_pass(torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    torch.testing.assert_close(result.clean.logits, as_row(expected["logits"]))
    torch.testing.assert_close(result.clean.hidden, as_row(expected["features"]))
    for layer, values in enumerate(expected["reconstructions"]):
        torch.testing.assert_close(result.reconstructions[layer], as_row(values))
    for layer, value in enumerate(expected["costs"]):
        torch.testing.assert_close(result.layer_costs[layer], torch.tensor([value]).double())
    torch.testing.assert_close(result.energy, torch.tensor([sum(expected["costs"])]).double())


def test_tiny_ladder_with_the_bottom_cost_only() -> None:
    energy = tiny_ladder(costs="bottom")
    result = energy.ladder_pass(torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    (bottom, *_) = tiny_expected()["costs"]
    assert result.layer_costs[1:] == [None, None]
    torch.testing.assert_close(result.energy, torch.tensor([bottom]).double())
    output = energy(torch.tensor([[1.0, 2.0]], dtype=torch.float64))
    torch.testing.assert_close(output.energy, torch.tensor([bottom]).double())
    torch.testing.assert_close(output.logits, as_row(tiny_expected()["logits"]))


def test_training_costs_normalise_the_reconstruction_with_the_clean_batch_statistics() -> None:
    # W¹ = I, no noise and combinators that keep the corrupted code (ẑ = z̃ = z): the
    # input is reconstructed exactly, and layer 1 compares z with (z − mean)/√(var + ε).
    energy = LadderEnergy(
        DataSpec((2,), num_classes=2),
        sizes=[2],
        noise_std=0.0,
        costs="full",
        bottom_weight=1.0,
        layer_weights=[1.0, 1.0],
        input_range="data",
    ).double()
    with torch.no_grad():
        energy.encoder[0].weight.copy_(torch.eye(2))
    for layer in range(3):
        set_combinator(energy, layer, a10=1.0)
    x = torch.tensor([[1.0, 2.0], [3.0, -2.0]], dtype=torch.float64)
    result = energy.train().ladder_pass(x)
    # Pre-activations = x: means (2, 0), biased variances (1, 4).
    mean, var = (2.0, 0.0), (1.0, 4.0)
    expected = []
    for sample in range(2):
        total = 0.0
        for unit in range(2):
            z = (x[sample, unit].item() - mean[unit]) / math.sqrt(var[unit] + BN_EPS)
            z_bn = (z - mean[unit]) / math.sqrt(var[unit] + BN_EPS)
            total += (z - z_bn) ** 2
        expected.append(total / 2)
    torch.testing.assert_close(result.layer_costs[0], torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(result.layer_costs[1], torch.tensor(expected).double())


def test_reconstructions_are_compared_after_normalising_with_the_clean_statistics() -> None:
    energy = activate(small_ladder(costs="full")).train()
    torch.manual_seed(2)
    result = energy.ladder_pass(inputs())
    for layer in (1, 2, 3):
        clean_mean, clean_var = result.clean.mean[layer], result.clean.var[layer]
        corrupted_mean = result.corrupted.mean[layer]
        assert not torch.allclose(clean_mean, corrupted_mean)
        estimate = (result.reconstructions[layer] - clean_mean) / torch.sqrt(clean_var + BN_EPS)
        expected = (result.clean.z[layer] - estimate).square().mean(dim=1)
        torch.testing.assert_close(
            result.layer_costs[layer], energy.layer_weights[layer] * expected
        )


def test_the_decoder_starts_from_the_normalised_corrupted_softmax() -> None:
    energy = small_ladder().train()
    set_combinator(energy, 3, a4=1.0)  # ẑ⁽ᴸ⁾ = u⁽ᴸ⁾
    torch.manual_seed(2)
    result = energy.ladder_pass(inputs())
    probabilities = torch.softmax(result.corrupted.logits, dim=1)
    mean, var = probabilities.mean(dim=0), probabilities.var(dim=0, unbiased=False)
    expected = (probabilities - mean) / torch.sqrt(var + BN_EPS)
    torch.testing.assert_close(result.reconstructions[3], expected)


def test_denoising_cost_is_the_mean_squared_error_per_sample() -> None:
    clean = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    estimate = torch.tensor([[1.0, 0.0, 0.0], [1.0, -1.0, 1.0]])
    torch.testing.assert_close(denoising_cost(clean, estimate), torch.tensor([13 / 3, 1.0]))
    with pytest.raises(ValueError, match="does not match"):
        denoising_cost(clean, estimate[:, :2])


def test_at_initialisation_the_energy_is_the_weighted_squared_norm_of_the_input() -> None:
    # Every combinator starts at ẑ ≡ 0, so C₀ = λ₀/d · ‖x − 0‖², in both modes.
    energy = small_ladder(bottom_weight=1000.0)
    x = inputs()
    expected = 1000.0 * x.flatten(1).square().mean(dim=1)
    torch.testing.assert_close(energy.train()(x).energy, expected)
    torch.testing.assert_close(energy.eval()(x).energy, expected)


# -- noise ------------------------------------------------------------------------------


def test_without_noise_the_corrupted_path_is_the_clean_path() -> None:
    energy = small_ladder(noise_std=0.0).train()
    result = energy.ladder_pass(inputs())
    for clean, corrupted in zip(result.clean.z, result.corrupted.z, strict=True):
        assert torch.equal(clean, corrupted)
    assert torch.equal(result.clean.logits, result.corrupted.logits)
    assert result.corrupted.noise == [None, None, None, None]


def test_noise_is_added_to_the_input_and_after_every_normalisation() -> None:
    spec = DataSpec((64,), num_classes=10)
    torch.manual_seed(0)
    energy = LadderEnergy(spec, sizes=[200, 100], noise_std=0.3, input_range="data").train()
    x = inputs(batch=256, spec=spec)
    torch.manual_seed(1)
    result = energy.ladder_pass(x)
    assert result.clean.noise == [None, None, None, None]
    noise = result.corrupted.noise
    assert len(noise) == 4
    for layer_noise in noise:
        assert abs(layer_noise.std().item() - 0.3) < 0.02
        assert abs(layer_noise.mean().item()) < 0.02
    assert torch.equal(result.corrupted.z[0], x + noise[0])
    for layer in range(1, 4):
        # z̃ − n is the batch-normalised pre-activation: the noise comes after N.
        normalised = result.corrupted.z[layer] - noise[layer]
        torch.testing.assert_close(
            normalised.mean(dim=0), torch.zeros(normalised.shape[1]), rtol=0, atol=1e-5
        )
        torch.testing.assert_close(
            normalised.var(dim=0, unbiased=False),
            torch.ones(normalised.shape[1]),
            rtol=0,
            atol=1e-3,
        )


def test_training_noise_comes_from_the_global_rng() -> None:
    energy, x = activate(small_ladder()), inputs()
    torch.manual_seed(3)
    first = energy(x).energy
    torch.manual_seed(3)
    again = energy(x).energy
    torch.manual_seed(4)
    other = energy(x).energy
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_evaluation_still_corrupts_with_fixed_noise_and_leaves_the_global_rng_alone() -> None:
    energy, x = activate(small_ladder()).eval(), inputs()
    state = torch.get_rng_state()
    result = energy.ladder_pass(x)
    assert torch.equal(torch.get_rng_state(), state)
    generator = torch.Generator().manual_seed(EVAL_NOISE_SEED)
    expected = 0.3 * torch.randn(x.flatten(1).shape, generator=generator)
    assert torch.equal(result.corrupted.noise[0], expected)
    assert torch.equal(energy(x).energy, energy(x).energy)
    assert not torch.equal(result.corrupted.z[1], result.clean.z[1])
    energy.noise_std = 0.0
    assert not torch.equal(energy(x).energy, result.energy)


# -- the two modes ------------------------------------------------------------------------


def test_training_logits_are_the_corrupted_paths() -> None:
    energy, x = small_ladder().train(), inputs()
    torch.manual_seed(5)
    output = energy(x)
    torch.manual_seed(5)
    result = energy.ladder_pass(x)
    assert torch.equal(output.logits, result.corrupted.logits)
    assert not torch.equal(output.logits, result.clean.logits)
    assert torch.equal(output.features, result.clean.hidden)
    assert torch.equal(output.energy, result.energy)


def test_evaluation_logits_are_the_clean_paths_and_classify_gives_them() -> None:
    energy, x = small_ladder(), inputs()
    energy.train()(x)  # move the running statistics away from their initial values
    energy.eval()
    output = energy(x)
    result = energy.ladder_pass(x)
    assert torch.equal(output.logits, result.clean.logits)
    assert torch.equal(energy.classify(x), output.logits)
    assert torch.equal(output.features, result.clean.hidden)
    # Running statistics: a sample's logits do not depend on its batch.
    torch.testing.assert_close(energy.classify(x[:3]), output.logits[:3])


def test_training_updates_the_running_statistics_from_the_clean_path() -> None:
    energy, x = activate(small_ladder()), inputs()
    pre_activation = x.flatten(1) @ energy.encoder[0].weight.detach().T
    energy.train()(x)
    statistics = energy.encoder_statistics[0]
    torch.testing.assert_close(statistics.running_mean, BN_MOMENTUM * pre_activation.mean(0))
    unbiased = pre_activation.var(0, unbiased=True)
    torch.testing.assert_close(statistics.running_var, 1 - BN_MOMENTUM + BN_MOMENTUM * unbiased)
    assert not torch.equal(energy.decoder_statistics[0].running_mean, torch.zeros(16))


def test_classify_and_frozen_statistics_leave_the_running_statistics_alone() -> None:
    energy, x = small_ladder().train(), inputs()
    before = {key: value.clone() for key, value in energy.state_dict().items()}

    def unchanged() -> bool:
        return all(torch.equal(value, before[key]) for key, value in energy.state_dict().items())

    logits = energy.classify(x)
    assert unchanged()
    assert torch.equal(logits, energy.ladder_pass(x).clean.logits)  # batch statistics
    energy.load_state_dict(before)
    with energy.frozen_statistics():
        energy(x)
        with energy.frozen_statistics():
            energy(x)
        energy(x)
        assert unchanged()
    energy(x)
    assert not unchanged()
