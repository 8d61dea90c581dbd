"""The Ladder energy: hand-computed costs on a tiny network, noise injection, the two
modes, the parameter inventory, gradients and option validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from ebkit import DataSpec
from ebkit_ladder.ladder import EVAL_NOISE_SEED, LadderEnergy, denoising_cost
from ebkit_ladder.normalization import BN_EPS, BN_MOMENTUM
from ebkit_ladder.options import resolve_layer_weights

LABELLED = DataSpec((1, 4, 4), num_classes=3)


def small_ladder(**options: object) -> LadderEnergy:
    """A small Ladder fed its inputs as they are, so that the tests can follow them
    through the network (the unit input range has its own test)."""
    torch.manual_seed(0)
    return LadderEnergy(LABELLED, sizes=[6, 5], **{"input_range": "data", **options})


def activate(energy: LadderEnergy) -> LadderEnergy:
    """Move every combinator off its initial ẑ ≡ 0, as training would."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for combinator in energy.combinators:
            combinator.a.add_(0.5 * torch.randn(combinator.a.shape, generator=generator))
    return energy


def inputs(batch: int = 8, seed: int = 1, spec: DataSpec = LABELLED) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch, *spec.event_shape), generator=generator) * 2 - 1


def set_combinator(energy: LadderEnergy, layer: int, **values: float) -> None:
    """Set a combinator's a_k (keyword ``a4=1.0``...) for every unit; the others to 0."""
    with torch.no_grad():
        a = energy.combinators[layer].a
        a.zero_()
        for name, value in values.items():
            a[int(name[1:]) - 1] = value


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


# -- structure ----------------------------------------------------------------------------


def test_parameter_inventory_beta_everywhere_gamma_only_on_top() -> None:
    energy = small_ladder()  # widths 16-6-5-3
    shapes = {name: tuple(p.shape) for name, p in energy.named_parameters()}
    assert shapes == {
        "encoder.0.weight": (6, 16),
        "encoder.1.weight": (5, 6),
        "encoder.2.weight": (3, 5),
        "betas.0": (6,),
        "betas.1": (5,),
        "betas.2": (3,),
        "gamma": (3,),
        "decoder.0.weight": (16, 6),
        "decoder.1.weight": (6, 5),
        "decoder.2.weight": (5, 3),
        "combinators.0.a": (10, 16),
        "combinators.1.a": (10, 6),
        "combinators.2.a": (10, 5),
        "combinators.3.a": (10, 3),
    }
    assert all(torch.equal(beta, torch.zeros_like(beta)) for beta in energy.betas)
    assert torch.equal(energy.gamma.detach(), torch.ones(3))


def test_normalisation_has_no_learned_affine_map() -> None:
    energy = small_ladder()
    batchnorms = (torch.nn.BatchNorm1d, torch.nn.LayerNorm, torch.nn.GroupNorm)
    assert not any(isinstance(module, batchnorms) for module in energy.modules())
    assert all(linear.bias is None for linear in (*energy.encoder, *energy.decoder))
    buffers = {name.rsplit(".", 1)[-1] for name, _ in energy.named_buffers()}
    assert buffers == {"running_mean", "running_var"}


def test_weights_start_from_a_normal_with_variance_one_over_fan_in() -> None:
    torch.manual_seed(0)
    energy = LadderEnergy(DataSpec((400,), num_classes=10), sizes=[300])
    weight = energy.encoder[0].weight.detach()
    assert abs(weight.std().item() - 400**-0.5) < 0.002
    assert abs(weight.mean().item()) < 0.002


def test_bottom_and_full_costs_share_the_bottom_term() -> None:
    bottom, full = activate(small_ladder()), small_ladder(costs="full")
    full.load_state_dict(bottom.state_dict())
    x = inputs()
    torch.manual_seed(7)
    bottom_result = bottom.train().ladder_pass(x)
    torch.manual_seed(7)
    full_result = full.train().ladder_pass(x)
    assert bottom_result.layer_costs[1:] == [None, None, None]
    assert torch.equal(bottom_result.energy, bottom_result.layer_costs[0])
    assert all(cost is not None for cost in full_result.layer_costs)
    torch.testing.assert_close(full_result.layer_costs[0], bottom_result.energy)
    torch.testing.assert_close(full_result.energy, sum(full_result.layer_costs))
    assert (full_result.energy > bottom_result.energy).all()


def test_full_costs_default_to_rasmus_weights() -> None:
    assert LadderEnergy(DataSpec((784,), num_classes=10), costs="full").layer_weights == (
        1000.0, 10.0, 0.1, 0.1, 0.1, 0.1, 0.1,
    )  # fmt: skip
    assert resolve_layer_weights(None, 2, "full") == (10.0, 0.1, 0.1)


def test_images_are_flattened_and_vectors_accepted() -> None:
    energy = small_ladder()
    assert energy.widths == (16, 6, 5, 3)
    vectors = LadderEnergy(DataSpec((5,), num_classes=4), sizes=[3])
    assert vectors(torch.randn(4, 5)).logits.shape == (4, 4)
    assert energy.num_classes == 3


# -- gradients ----------------------------------------------------------------------------


def perturbed_ladder() -> LadderEnergy:
    """A float64 ladder with every parameter and running statistic moved off its
    initial value, so that every term of the combinators is active."""
    torch.manual_seed(0)
    energy = LadderEnergy(DataSpec((1, 2, 3), num_classes=3), sizes=[4, 3], costs="full")
    energy = energy.double()
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for parameter in energy.parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.add_(0.5 * noise)
        for name, buffer in energy.named_buffers():
            shift = torch.rand(buffer.shape, generator=generator, dtype=torch.float64)
            buffer.add_(shift if name.endswith("var") else shift - 0.5)
    return energy


def test_gradcheck_of_energy_and_logits_with_respect_to_the_input_in_eval_mode() -> None:
    energy = perturbed_ladder().eval()
    x = torch.randn(3, 1, 2, 3, dtype=torch.float64, requires_grad=True)

    def outputs(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = energy(batch)
        return output.energy, output.logits

    assert torch.autograd.gradcheck(outputs, (x,))


def test_gradcheck_with_respect_to_the_input_with_batch_statistics() -> None:
    energy = perturbed_ladder().train()
    energy.noise_std = 0.0
    x = torch.randn(4, 1, 2, 3, dtype=torch.float64, requires_grad=True)
    with energy.frozen_statistics():
        assert torch.autograd.gradcheck(lambda batch: energy(batch).energy, (x,))


def test_gradcheck_with_respect_to_the_combinator_parameters() -> None:
    energy = perturbed_ladder().eval()
    x = torch.randn(3, 1, 2, 3, dtype=torch.float64)
    names = [f"combinators.{layer}.a" for layer in range(4)]
    parameters = dict(energy.named_parameters())
    values = tuple(parameters[name].detach().clone().requires_grad_(True) for name in names)

    def energies(*combinators: torch.Tensor) -> torch.Tensor:
        return functional_call(energy, dict(zip(names, combinators, strict=True)), (x,)).energy

    assert torch.autograd.gradcheck(energies, values)


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        (DataSpec((4,)), {}, r"needs a labelled dataset \(num_classes\)"),
        (DataSpec((4,), num_classes=3), {"num_classes": 5}, "disagrees with the dataset's 3"),
        (DataSpec((4,)), {"num_classes": 1}, "num_classes must be at least 2"),
        (LABELLED, {"sizes": []}, "sizes must list at least one hidden layer"),
        (LABELLED, {"sizes": [4, 0]}, "at least 1 unit"),
        (LABELLED, {"noise_std": -0.1}, "noise_std must be a finite number >= 0"),
        (LABELLED, {"noise_std": float("nan")}, "noise_std must be a finite number"),
        (LABELLED, {"costs": "top"}, "costs must be one of bottom, full, not 'top'"),
        (LABELLED, {"bottom_weight": -1.0}, "bottom_weight must be a finite number >= 0"),
        (LABELLED, {"layer_weights": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}, "only with costs=full"),
        (LABELLED, {"costs": "full", "layer_weights": [1.0]}, "needs 6 values"),
        (LABELLED, {"costs": "full", "sizes": [3], "layer_weights": [1, -1]}, ">= 0"),
    ],
)
def test_bad_options_are_one_line_errors(spec, options, message) -> None:
    with pytest.raises(ValueError, match=message) as error:
        LadderEnergy(spec, **options)
    assert "\n" not in str(error.value)


def test_an_unlabelled_dataset_works_with_an_explicit_num_classes() -> None:
    energy = LadderEnergy(DataSpec((4,)), sizes=[3], num_classes=2)
    assert energy(torch.randn(5, 4)).logits.shape == (5, 2)


def test_wrong_input_shapes_and_single_samples_in_training_are_refused() -> None:
    energy = small_ladder()
    with pytest.raises(ValueError, match=r"expected samples of shape \(1, 4, 4\)"):
        energy(torch.randn(2, 16))
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        energy.train()(inputs(batch=1))
    assert energy.eval()(inputs(batch=1)).energy.shape == (1,)


def test_contrastive_samples_leave_the_running_statistics_alone() -> None:
    energy = LadderEnergy(DataSpec((6,), num_classes=3), sizes=[5])
    before = {k: v.clone() for k, v in energy.state_dict().items()}
    with energy.contrastive_scope():
        energy(torch.randn(8, 6))
    assert all(torch.equal(before[k], v) for k, v in energy.state_dict().items())
    energy(torch.randn(8, 6))
    assert not all(torch.equal(before[k], v) for k, v in energy.state_dict().items())


def test_unit_input_range_maps_the_data_range_onto_zero_one() -> None:
    spec = DataSpec((3,), low=-1.0, high=3.0, num_classes=2)
    torch.manual_seed(0)
    unit = LadderEnergy(spec, sizes=[4], noise_std=0.0).double().eval()
    as_given = LadderEnergy(spec, sizes=[4], noise_std=0.0, input_range="data").double().eval()
    as_given.load_state_dict(unit.state_dict())
    x = torch.tensor([[-1.0, 1.0, 3.0], [0.0, 2.0, -1.0]], dtype=torch.float64)
    mapped = (x + 1.0) / 4.0  # [-1, 3] -> [0, 1]
    unit_pass, given_pass = unit.ladder_pass(x), as_given.ladder_pass(mapped)
    torch.testing.assert_close(unit_pass.energy, given_pass.energy)
    torch.testing.assert_close(unit_pass.clean.z[0], mapped)
    torch.testing.assert_close(unit.classify(x), as_given.classify(mapped))
    # ẑ = 0 at initialisation, so the energy starts as λ₀/d · ‖x‖² of the mapped input.
    torch.testing.assert_close(unit_pass.energy, 1000.0 * mapped.square().mean(dim=1))


def test_input_range_is_checked() -> None:
    with pytest.raises(ValueError, match="input_range must be one of unit, data, not 'pixels'"):
        LadderEnergy(DataSpec((3,), num_classes=2), input_range="pixels")


def test_contrastive_samples_are_normalised_with_the_data_statistics() -> None:
    energy = activate(small_ladder(noise_std=0.0)).train()
    energy(inputs())  # a data batch moves the running statistics off their initial values
    before = {key: value.clone() for key, value in energy.state_dict().items()}
    fakes = inputs() * 0.5 + 0.3  # shifted and shrunk: batch statistics would hide it
    with energy.contrastive_scope():
        scoped = energy.ladder_pass(fakes)
    for key, value in energy.state_dict().items():
        assert torch.equal(value, before[key]), key  # nothing learnt from the fakes
    for layer, statistics in enumerate(energy.encoder_statistics, start=1):
        assert torch.equal(scoped.clean.mean[layer], statistics.running_mean)
        assert torch.equal(scoped.clean.var[layer], statistics.running_var)
    energy.eval()  # without noise, evaluation mode is the same computation
    torch.testing.assert_close(scoped.energy, energy.ladder_pass(fakes).energy)


def test_batch_contrastive_normalisation_uses_the_fake_batch_statistics() -> None:
    energy = activate(small_ladder(noise_std=0.0, contrastive_normalization="batch")).train()
    fakes = inputs() * 0.5 + 0.3
    before = {key: value.clone() for key, value in energy.state_dict().items()}
    with energy.contrastive_scope():
        scoped = energy.ladder_pass(fakes)
    assert all(torch.equal(value, before[key]) for key, value in energy.state_dict().items())
    pre_activation = energy.encoder[0](scoped.clean.z[0])
    torch.testing.assert_close(scoped.clean.mean[1], pre_activation.mean(dim=0))


def test_contrastive_samples_keep_their_gradients_in_the_scope() -> None:
    energy = activate(small_ladder()).train()
    energy(inputs())
    fakes = inputs().requires_grad_(True)
    with energy.contrastive_scope():
        energy(fakes).energy.sum().backward()
    assert fakes.grad is not None and fakes.grad.abs().sum() > 0
    assert energy.encoder[0].weight.grad is not None
    assert energy._batch_statistics  # the scope is over: data batches again


def test_contrastive_normalization_is_checked() -> None:
    with pytest.raises(ValueError, match="contrastive_normalization must be one of data, batch"):
        LadderEnergy(DataSpec((3,), num_classes=2), contrastive_normalization="own")


def test_contrastive_samples_draw_their_noise_from_a_stream_of_their_own() -> None:
    energy = activate(small_ladder()).train()
    fakes = inputs() * 0.5 + 0.3
    torch.manual_seed(7)
    with energy.contrastive_scope():
        first = energy.ladder_pass(fakes).corrupted.noise[0]
    after = torch.get_rng_state()
    torch.manual_seed(7)
    assert torch.equal(after, torch.get_rng_state())  # the global stream did not move
    with energy.contrastive_scope():
        again = energy.ladder_pass(fakes).corrupted.noise[0]
    assert first is not None and torch.equal(first, again)  # reproducible
    data_noise = energy.ladder_pass(fakes).corrupted.noise[0]
    assert not torch.allclose(first, data_noise)  # not the noise the data's pass draws next


def test_shared_contrastive_noise_draws_from_the_global_stream() -> None:
    energy = activate(small_ladder(contrastive_noise="shared")).train()
    torch.manual_seed(7)
    with energy.contrastive_scope():
        energy.ladder_pass(inputs())
    after = torch.get_rng_state()
    torch.manual_seed(7)
    assert not torch.equal(after, torch.get_rng_state())


def test_contrastive_noise_is_checked() -> None:
    with pytest.raises(ValueError, match="contrastive_noise must be one of own, shared"):
        LadderEnergy(DataSpec((3,), num_classes=2), contrastive_noise="global")
