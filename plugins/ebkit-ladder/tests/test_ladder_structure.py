"""The Ladder energy: the parameter inventory, gradients, option validation and how
contrastive samples are normalised and corrupted."""

from __future__ import annotations

import pytest
import torch
from ladder_doubles import LABELLED, activate, inputs, small_ladder
from torch.func import functional_call

from ebkit import DataSpec
from ebkit_ladder.ladder import LadderEnergy
from ebkit_ladder.options import resolve_layer_weights

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
