"""Tests for BEGAN's loss: L(v), L_D, L_G, the k_t control and M_global, by hand and
against a stored trajectory that hits both clamps of k_t."""

from __future__ import annotations

import math

import pytest
import torch

from ebkit import DataSpec, EnergyOutput, LossFunctional
from ebkit.testing import check_loss
from ebkit_losses import ebkit_losses
from ebkit_losses.began import (
    BEGANLoss,
    began_energy_loss,
    began_k_update,
    began_sampler_loss,
    convergence_measure,
    reconstruction_loss,
)

BEGAN = next(component for component in ebkit_losses() if component.name == "began")
SPEC = DataSpec((1, 2, 2))

# Two samples of 2×2 pixels: |r| = (1, 2, 3, 0) and (0.5, 0.5, 0.5, 0.5).
RESIDUAL = torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]], [[[0.5, -0.5], [0.5, -0.5]]]])

# A stored trajectory with γ = 0.5, λ_k = 0.5 and k_0 = 0.2, computed by hand. Each row:
# (L(x), L(G(z_D)), L(G(z_G)), k_t used by L_D, L_D = L(x) − k_t·L(G(z_D)),
#  M_global = L(x) + |γ·L(x) − L(G(z_G))|, k_{t+1} = clip(k_t + λ_k·(γ·L(x) − L(G(z_G))), 0, 1))
GAMMA, LAMBDA_K, K0 = 0.5, 0.5, 0.2
TRAJECTORY = [
    # 0.2 + 0.5·(0.5 − 0.2) = 0.35
    (1.0, 0.5, 0.2, 0.2, 1.0 - 0.2 * 0.5, 1.0 + 0.3, 0.35),
    # 0.35 + 0.5·(1.0 − 0.0) = 0.85
    (2.0, 0.4, 0.0, 0.35, 2.0 - 0.35 * 0.4, 2.0 + 1.0, 0.85),
    # 0.85 + 0.5·(0.6 − 0.1) = 1.1 → clipped to 1
    (1.2, 1.0, 0.1, 0.85, 1.2 - 0.85 * 1.0, 1.2 + 0.5, 1.0),
    # 1 + 0.5·(0.4 − 0.6) = 0.9
    (0.8, 0.5, 0.6, 1.0, 0.8 - 1.0 * 0.5, 0.8 + 0.2, 0.9),
    # 0.9 + 0.5·(0.1 − 2.0) = −0.05 → clipped to 0
    (0.2, 0.2, 2.0, 0.9, 0.2 - 0.9 * 0.2, 0.2 + 1.9, 0.0),
    # 0 + 0.5·(0.2 − 0.1) = 0.05; with k_t = 0 the fakes do not count in L_D
    (0.4, 3.0, 0.1, 0.0, 0.4, 0.4 + 0.1, 0.05),
]


def output_with_loss(value: float, batch: int = 2) -> EnergyOutput:
    """An auto-encoder output whose every sample has L(v) = ``value`` (η = 1): residuals
    of magnitude ``value`` with alternating signs, which |·| must undo."""
    signs = torch.tensor([1.0, -1.0, -1.0, 1.0]).reshape(1, 1, 2, 2)
    residual = (value * signs).expand(batch, 1, 2, 2).clone()
    return EnergyOutput(energy=torch.full((batch,), 123.0), residual=residual)


# -- the formulas ------------------------------------------------------------------------


def test_reconstruction_loss_by_hand() -> None:
    # η = 1: (1 + 2 + 3 + 0) / 4 = 1.5 and 0.5; η = 2: (1 + 4 + 9 + 0) / 4 = 3.5 and 0.25.
    torch.testing.assert_close(reconstruction_loss(RESIDUAL), torch.tensor([1.5, 0.5]))
    torch.testing.assert_close(reconstruction_loss(RESIDUAL, 2.0), torch.tensor([3.5, 0.25]))
    # Any positive η: (1 + √2 + √3) / 4 and √0.5.
    expected = torch.tensor([(1 + math.sqrt(2) + math.sqrt(3)) / 4, math.sqrt(0.5)])
    torch.testing.assert_close(reconstruction_loss(RESIDUAL, 0.5), expected)


def test_reconstruction_loss_is_a_mean_over_pixels_for_any_event_shape() -> None:
    # A constant residual of 0.3 gives L = 0.3 whatever the image size.
    for shape in [(3, 8, 8), (1, 32, 32), (5,)]:
        torch.testing.assert_close(
            reconstruction_loss(torch.full((2, *shape), -0.3)), torch.full((2,), 0.3)
        )


def test_reconstruction_loss_rejects_a_non_positive_eta() -> None:
    with pytest.raises(ValueError, match="eta must be a positive number"):
        reconstruction_loss(RESIDUAL, 0.0)


def test_energy_and_sampler_losses_by_hand() -> None:
    real = torch.tensor([1.0, 3.0])  # mean 2
    fake = torch.tensor([0.5, 1.5, 4.0])  # mean 2, a batch of another size
    torch.testing.assert_close(began_energy_loss(real, fake, 0.25), torch.tensor(1.5))
    torch.testing.assert_close(began_energy_loss(real, fake, torch.tensor(0.0)), torch.tensor(2.0))
    torch.testing.assert_close(began_sampler_loss(fake), torch.tensor(2.0))


def test_energy_loss_gradients_by_hand() -> None:
    real = torch.tensor([1.0, 3.0], requires_grad=True)
    fake = torch.tensor([0.5, 1.5], requires_grad=True)
    began_energy_loss(real, fake, 0.25).backward()
    torch.testing.assert_close(real.grad, torch.tensor([0.5, 0.5]))
    # D pushes the fakes' loss up with strength k_t: dL_D/dL(G(z)) = −k_t / B.
    torch.testing.assert_close(fake.grad, torch.tensor([-0.125, -0.125]))


@pytest.mark.parametrize("row", TRAJECTORY, ids=[f"t{t}" for t in range(len(TRAJECTORY))])
def test_each_step_of_the_trajectory_by_the_formulas(row: tuple[float, ...]) -> None:
    real, fake_d, fake_g, k, loss_d, m_global, k_next = (torch.tensor(v) for v in row)
    torch.testing.assert_close(began_energy_loss(real, fake_d, k), loss_d)
    torch.testing.assert_close(convergence_measure(real, fake_g, GAMMA), m_global)
    torch.testing.assert_close(began_k_update(k, real, fake_g, GAMMA, LAMBDA_K), k_next)


def test_the_trajectory_hits_both_clamps() -> None:
    # Guard the stored data itself: the unclipped update leaves [0, 1] at t2 and t4.
    unclipped = [k + LAMBDA_K * (GAMMA * real - fake_g) for real, _, fake_g, k, *_ in TRAJECTORY]
    assert unclipped[2] > 1 and unclipped[4] < 0
    assert (TRAJECTORY[2][-1], TRAJECTORY[4][-1]) == (1.0, 0.0)


def test_k_update_with_the_paper_defaults() -> None:
    # λ_k = 0.001, γ = 0.5: 0 + 0.001·(0.5·0.3 − 0.1) = 5e-5.
    k = began_k_update(torch.tensor(0.0), torch.tensor(0.3), torch.tensor(0.1), 0.5, 0.001)
    torch.testing.assert_close(k, torch.tensor(5e-5))


def test_gradcheck_of_the_formulas() -> None:
    generator = torch.Generator().manual_seed(0)
    # Away from 0, where |·| has its kink.
    magnitude = 0.2 + torch.rand(3, 1, 2, 2, dtype=torch.float64, generator=generator)
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64).reshape(1, 1, 2, 2)
    residual = (magnitude * signs).requires_grad_()
    for eta in (1.0, 2.0, 1.5):
        assert torch.autograd.gradcheck(lambda r, e=eta: reconstruction_loss(r, e), (residual,))
    real = torch.rand(4, dtype=torch.float64, generator=generator).requires_grad_()
    fake = torch.rand(5, dtype=torch.float64, generator=generator).requires_grad_()
    assert torch.autograd.gradcheck(lambda r, f: began_energy_loss(r, f, 0.3), (real, fake))
    assert torch.autograd.gradcheck(began_sampler_loss, (fake,))
    # M_global away from the kink of |γ·L(x) − L(G(z))|.
    pair = (torch.tensor(0.8, dtype=torch.float64, requires_grad=True),)
    assert torch.autograd.gradcheck(
        lambda r: convergence_measure(r, torch.tensor(0.1, dtype=torch.float64), 0.5), pair
    )


# -- the class ---------------------------------------------------------------------------


def test_the_loss_reads_the_residual_and_draws_a_fresh_generator_batch() -> None:
    loss = BEGANLoss(SPEC)
    assert isinstance(loss, LossFunctional)
    assert loss.requires == frozenset({"residual"})
    assert loss.fresh_sampler_batch is True
    # Images: γ = 1 and k_0 = 0.8 (the paper's 0.5 and 0 collapsed onto one class).
    assert (loss.eta, loss.gamma, loss.lambda_k, loss.k0) == (1.0, 1.0, 0.001, 0.8)
    assert float(loss.k) == pytest.approx(0.8)
    papers = BEGANLoss(SPEC, gamma=0.5, k0=0.0)
    assert (papers.gamma, papers.k0, float(papers.k)) == (0.5, 0.0, 0.0)


def test_class_follows_the_stored_trajectory_step_by_step() -> None:
    loss = BEGANLoss(SPEC, gamma=GAMMA, lambda_k=LAMBDA_K, k0=K0)
    for real, fake_d, fake_g, k, loss_d, m_global, k_next in TRAJECTORY:
        energy_term = loss.energy_loss(output_with_loss(real), output_with_loss(fake_d))
        sampler_term = loss.sampler_loss(output_with_loss(fake_g))
        logged = loss.update_state(output_with_loss(real), output_with_loss(fake_g))
        assert float(energy_term.loss) == pytest.approx(loss_d, abs=1e-6)
        assert float(sampler_term.loss) == pytest.approx(fake_g, abs=1e-6)
        metrics = {**energy_term.metrics, **sampler_term.metrics, **logged}
        expected = {
            "loss_energy": loss_d,
            "k": k,
            "l_real": real,
            "l_fake": fake_d,
            "loss_sampler": fake_g,
            "m_global": m_global,
        }
        assert set(metrics) == set(expected)
        for name, value in expected.items():
            assert float(metrics[name]) == pytest.approx(value, abs=1e-6), name
        assert float(loss.k) == pytest.approx(k_next, abs=1e-6)


def test_the_logged_k_is_the_one_the_step_used_even_after_the_update() -> None:
    # Metrics are read only when logged, after update_state changed the buffer in place.
    loss = BEGANLoss(SPEC, gamma=GAMMA, lambda_k=LAMBDA_K, k0=K0)
    term = loss.energy_loss(output_with_loss(1.0), output_with_loss(0.5))
    loss.update_state(output_with_loss(1.0), output_with_loss(0.2))
    assert float(loss.k) == pytest.approx(0.35)
    assert float(term.metrics["k"]) == pytest.approx(0.2)


def test_eta_two_uses_squared_residuals() -> None:
    loss = BEGANLoss(SPEC, eta=2.0, k0=0.0)
    real = EnergyOutput(energy=torch.zeros(2), residual=RESIDUAL)
    out = loss.energy_loss(real, output_with_loss(1.0))
    # k_0 = 0, so L_D = mean(3.5, 0.25) = 1.875.
    assert float(out.loss) == pytest.approx(1.875)


def test_the_loss_ignores_the_scalar_energy() -> None:
    loss = BEGANLoss(SPEC, k0=0.5)
    real, fake = output_with_loss(1.0), output_with_loss(0.5)
    first = loss.energy_loss(real, fake).loss
    real.energy, fake.energy = torch.zeros(2), torch.full((2,), -7.0)
    assert torch.equal(loss.energy_loss(real, fake).loss, first)


def test_gradients_flow_through_the_residual_to_both_batches() -> None:
    loss = BEGANLoss(SPEC, k0=0.5)
    real_residual = RESIDUAL.clone().requires_grad_()
    fake_residual = RESIDUAL.clone().requires_grad_()
    loss.energy_loss(
        EnergyOutput(torch.zeros(2), residual=real_residual),
        EnergyOutput(torch.zeros(2), residual=fake_residual),
    ).loss.backward()
    # d mean_b mean_pixels |r| / dr = sign(r) / (B·d) = sign(r) / 8; the fakes get −k_t times it.
    torch.testing.assert_close(real_residual.grad, torch.sign(RESIDUAL) / 8)
    torch.testing.assert_close(fake_residual.grad, -0.5 * torch.sign(RESIDUAL) / 8)
    generated = RESIDUAL.clone().requires_grad_()
    loss.sampler_loss(EnergyOutput(torch.zeros(2), residual=generated)).loss.backward()
    torch.testing.assert_close(generated.grad, torch.sign(RESIDUAL) / 8)


def test_k_gets_no_gradient_and_metrics_are_detached_scalars() -> None:
    loss = BEGANLoss(SPEC, k0=0.5)
    residual = RESIDUAL.clone().requires_grad_()
    out = EnergyOutput(torch.zeros(2), residual=residual)
    term = loss.energy_loss(out, out)
    term.loss.backward()
    assert loss.k.grad is None and not loss.k.requires_grad
    for name, value in {**term.metrics, **loss.update_state(out, out)}.items():
        assert isinstance(value, torch.Tensor) and value.ndim == 0, name
        assert not value.requires_grad, name


def test_an_output_without_a_residual_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="residual"):
        BEGANLoss(SPEC).energy_loss(EnergyOutput(torch.zeros(2)), EnergyOutput(torch.zeros(2)))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eta": 0.0}, "eta must be a positive number"),
        ({"gamma": 0.0}, "gamma must be a positive number"),
        ({"lambda_k": -0.1}, "lambda_k must be a non-negative number"),
        ({"k0": 1.5}, "k0 must lie in"),
    ],
)
def test_invalid_options_are_errors(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BEGANLoss(SPEC, **options)


# -- state --------------------------------------------------------------------------------


def test_k_is_a_buffer_that_survives_a_state_dict_round_trip() -> None:
    loss = BEGANLoss(SPEC, gamma=GAMMA, lambda_k=LAMBDA_K, k0=K0)
    for real, _, fake_g, *_ in TRAJECTORY[:2]:
        loss.update_state(output_with_loss(real), output_with_loss(fake_g))
    state = loss.state_dict()
    assert set(state) == {"k"}
    restored = BEGANLoss(SPEC, gamma=GAMMA, lambda_k=LAMBDA_K, k0=K0)
    restored.load_state_dict(state)
    assert torch.equal(restored.k, loss.k) and float(restored.k) == pytest.approx(0.85)


def test_k_survives_safetensors_exactly() -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    loss = BEGANLoss(SPEC, lambda_k=0.001)
    loss.update_state(output_with_loss(0.37), output_with_loss(0.011))
    restored = BEGANLoss(SPEC, lambda_k=0.001)
    restored.load_state_dict(safetensors.load(safetensors.save(loss.state_dict())))
    assert torch.equal(restored.k, loss.k) and float(restored.k) > 0


# -- conformance --------------------------------------------------------------------------


def test_began_conforms() -> None:
    check_loss(BEGAN)
    check_loss(BEGAN, DataSpec((3, 8, 8)), eta=2.0, gamma=0.3)


def test_began_with_a_moving_k_conforms() -> None:
    # A large gain moves k in the one update_state call, so the state round trip matters.
    check_loss(BEGAN, lambda_k=0.5, k0=0.5)
