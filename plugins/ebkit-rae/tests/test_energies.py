"""The rae energies: conformance, the penalty's way to the loss, noise and evaluation."""

from __future__ import annotations

import pytest
import torch
from ebkit_rae import ebkit_energies
from ebkit_rae.denoising import DenoisingAutoEncoderEnergy
from ebkit_rae.energies import (
    AutoEncoderStep,
    ContractiveAutoEncoderEnergy,
    SparseAutoEncoderEnergy,
)
from ebkit_rae.penalties import contractive_penalty, sparse_penalty

from ebkit import Component, DataSpec
from ebkit.testing import check_energy, check_option_round_trip

COMPONENTS: dict[str, Component] = {c.name: c for c in ebkit_energies()}
SMALL = {"width": 8, "depth": 1, "code": 6}
POINTS = DataSpec((2,), low=-2.0, high=2.0)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_energies_conform(name: str) -> None:
    check_energy(COMPONENTS[name], **SMALL)
    check_option_round_trip(COMPONENTS[name])


def test_conformance_with_the_other_choices() -> None:
    check_energy(COMPONENTS["contractive-ae"], POINTS, jacobian="code", activation="sigmoid")
    check_energy(COMPONENTS["sparse-ae"], POINTS, activation="tanh", distance="l2")
    check_energy(COMPONENTS["denoising-ae"], POINTS, noise_std=0.5, eval_draws=1)


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_option_defaults_match_the_class_keywords(name: str) -> None:
    import inspect

    component = COMPONENTS[name]
    parameters = inspect.signature(component.load_factory()).parameters
    for option in component.options:
        assert parameters[option.name].default == option.default, option.name
    assert set(parameters) - {"spec"} == {option.name for option in component.options}


def _data(n: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def test_the_contractive_penalty_is_the_datas_mean_jacobian_norm() -> None:
    torch.manual_seed(0)
    energy = ContractiveAutoEncoderEnergy(POINTS, **SMALL, weight=0.5)
    x = _data()
    output = energy(x)
    penalty = energy.take_penalty()
    rows = [
        torch.autograd.functional.jacobian(
            lambda p: energy.network(p.unsqueeze(0))[1].squeeze(0), point
        )
        for point in x
    ]  # ∂r/∂x, (2, 2) at each point
    torch.testing.assert_close(penalty, contractive_penalty(torch.stack(rows)).mean())
    # The energy itself is the reconstruction error alone.
    torch.testing.assert_close(output.energy, output.residual.square().mean(dim=1))
    assert energy.take_penalty() is None  # taken once


def test_the_sparse_penalty_is_the_codes_mean_l1_norm() -> None:
    torch.manual_seed(0)
    energy = SparseAutoEncoderEnergy(POINTS, **SMALL)
    output = energy(_data())
    torch.testing.assert_close(energy.take_penalty(), sparse_penalty(output.features).mean())


@pytest.mark.parametrize("kind", [ContractiveAutoEncoderEnergy, SparseAutoEncoderEnergy])
def test_no_penalty_on_contrastive_samples_in_eval_mode_or_at_weight_zero(kind: type) -> None:
    torch.manual_seed(0)
    energy = kind(POINTS, **SMALL)
    with energy.contrastive_scope():
        energy(_data())
    assert energy.take_penalty() is None
    energy.eval()
    energy(_data())
    assert energy.take_penalty() is None
    energy = kind(POINTS, **SMALL, weight=0.0).train()
    energy(_data())
    assert energy.take_penalty() is None


def test_the_step_extension_adds_the_weighted_penalty_and_logs_it() -> None:
    torch.manual_seed(0)
    energy = SparseAutoEncoderEnergy(POINTS, **SMALL, weight=0.25)
    (step,) = energy.step_extensions()
    assert isinstance(step, AutoEncoderStep)
    real = energy(_data())
    term = step.energy_terms(None, real, None)  # type: ignore[arg-type]
    expected = sparse_penalty(real.features).mean()
    torch.testing.assert_close(term.loss, 0.25 * expected)
    torch.testing.assert_close(term.metrics["penalty_sparse"], expected)
    assert not term.metrics["penalty_sparse"].requires_grad
    assert step.energy_terms(None, real, None) is None  # type: ignore[arg-type]


def test_the_denoising_energy_compares_the_reconstruction_of_noisy_points_with_clean_ones() -> None:
    torch.manual_seed(0)
    energy = DenoisingAutoEncoderEnergy(POINTS, **SMALL, noise_std=0.3)
    x = _data()
    generator = torch.Generator().manual_seed(5)
    energy.generator_source = lambda: generator
    output = energy(x)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    _, reconstruction = energy.network(x + 0.3 * noise)
    torch.testing.assert_close(output.energy, (reconstruction - x).square().mean(dim=1))
    torch.testing.assert_close(output.residual, reconstruction - x)
    # The noise came from the generator it was given, which has moved on.
    assert not torch.equal(generator.get_state(), torch.Generator().manual_seed(5).get_state())
    assert energy.take_penalty() is None  # the noise is its regulariser: no penalty term


def test_the_denoising_energy_in_eval_mode_averages_fixed_draws_per_point() -> None:
    torch.manual_seed(0)
    energy = DenoisingAutoEncoderEnergy(POINTS, **SMALL, noise_std=0.3, eval_draws=4).eval()
    x = _data(6)
    with torch.no_grad():
        together = energy(x).energy
        alone = torch.cat([energy(x[i : i + 1]).energy for i in range(6)])
        reversed_batch = energy(x.flip(0)).energy.flip(0)
    torch.testing.assert_close(together, alone)  # a point's energy ignores its batch
    torch.testing.assert_close(together, reversed_batch)
    noise = torch.randn((4, 1, 2), generator=torch.Generator().manual_seed(0))
    point = x[0]
    errors = [(energy.network(point + 0.3 * n)[1] - point).square().mean() for n in noise]
    torch.testing.assert_close(together[0], torch.stack(errors).mean())


def test_the_identity_scores_the_noise_under_the_denoising_energy() -> None:
    # With r the identity, E(x) = σ²·mean ε² whatever x: the flat energy the noise forbids
    # the auto-encoder to reach at zero.
    energy = DenoisingAutoEncoderEnergy(POINTS, **SMALL, noise_std=0.5, eval_draws=3).eval()
    energy.network.forward = lambda flat: (flat, flat)  # type: ignore[method-assign]
    noise = torch.randn((3, 1, 2), generator=torch.Generator().manual_seed(0))
    expected = (0.25 * noise.square().mean(dim=(1, 2))).mean()
    torch.testing.assert_close(energy(_data()).energy, expected.expand(5))


def test_auto_noise_is_a_tenth_of_the_half_range() -> None:
    assert DenoisingAutoEncoderEnergy(
        DataSpec((2,), low=-3.0, high=3.0)
    ).noise_std == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (ContractiveAutoEncoderEnergy, {"jacobian": "hessian"}, "jacobian"),
        (SparseAutoEncoderEnergy, {"weight": -1.0}, "weight"),
        (SparseAutoEncoderEnergy, {"distance": "l1"}, "distance"),
        (SparseAutoEncoderEnergy, {"activation": "relu"}, "activation"),
        (SparseAutoEncoderEnergy, {"width": 0}, "width"),
        (DenoisingAutoEncoderEnergy, {"noise_std": 0.0}, "noise_std"),
        (DenoisingAutoEncoderEnergy, {"eval_draws": 0}, "eval_draws"),
    ],
)
def test_bad_options_are_value_errors(kind: type, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kind(POINTS, **options)
