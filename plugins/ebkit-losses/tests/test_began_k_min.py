"""Tests for the floor k_min of BEGAN's control variable: k_{t+1} = clip(k_t + λ_k·(γ·L(x) −
L(G(z_G))), k_min, 1), computed by hand."""

from __future__ import annotations

import pytest
import torch

from ebkit import DataSpec, EnergyOutput
from ebkit_losses.began import BEGANLoss, began_k_update

SPEC = DataSpec((1, 2, 2))


def output_with_loss(value: float, batch: int = 2) -> EnergyOutput:
    """An auto-encoder output whose every sample has L(v) = ``value`` (η = 1)."""
    signs = torch.tensor([1.0, -1.0, -1.0, 1.0]).reshape(1, 1, 2, 2)
    residual = (value * signs).expand(batch, 1, 2, 2).clone()
    return EnergyOutput(energy=torch.zeros(batch), residual=residual)


def test_the_floor_clips_the_update_from_below_by_hand() -> None:
    k, real, fake = torch.tensor(0.5), torch.tensor(0.2), torch.tensor(1.0)
    # 0.5 + 0.5·(1·0.2 − 1.0) = 0.1: the paper's clip keeps it, a floor of 0.4 lifts it.
    torch.testing.assert_close(began_k_update(k, real, fake, 1.0, 0.5), torch.tensor(0.1))
    torch.testing.assert_close(began_k_update(k, real, fake, 1.0, 0.5, 0.4), torch.tensor(0.4))
    # Above the floor the update is the paper's: 0.5 + 0.5·(0.6 − 0.4) = 0.6.
    up = began_k_update(k, torch.tensor(0.6), torch.tensor(0.4), 1.0, 0.5, 0.4)
    torch.testing.assert_close(up, torch.tensor(0.6))


def test_the_loss_holds_k_at_the_floor_and_lets_it_rise_again() -> None:
    loss = BEGANLoss(SPEC, gamma=1.0, lambda_k=0.5, k0=0.5, k_min=0.4)
    # Generated samples far harder to reconstruct than the data: k would fall to 0.1, then
    # −0.3, but stays at 0.4.
    loss.update_state(output_with_loss(0.2), output_with_loss(1.0))
    assert float(loss.k) == pytest.approx(0.4)
    loss.update_state(output_with_loss(0.2), output_with_loss(1.0))
    assert float(loss.k) == pytest.approx(0.4)
    # L_D of the next step uses k_t = 0.4: 0.3 − 0.4·0.5 = 0.1.
    term = loss.energy_loss(output_with_loss(0.3), output_with_loss(0.5))
    assert float(term.loss) == pytest.approx(0.1)
    assert float(term.metrics["k"]) == pytest.approx(0.4)
    # Easier fakes raise it as in the paper: 0.4 + 0.5·(1.0 − 0.2) = 0.8.
    loss.update_state(output_with_loss(1.0), output_with_loss(0.2))
    assert float(loss.k) == pytest.approx(0.8)


def test_an_automatic_k0_starts_at_the_floor_and_a_set_one_below_it_is_refused() -> None:
    # Images: the automatic k_0 = 0.8 is raised to the floor; vectors' 1 stays above 0.2.
    assert BEGANLoss(SPEC, k_min=0.9).k0 == pytest.approx(0.9)
    assert float(BEGANLoss(SPEC, k_min=0.9).k) == pytest.approx(0.9)
    assert BEGANLoss(DataSpec((2,)), k_min=0.2).k0 == pytest.approx(1.0)
    assert BEGANLoss(SPEC).k_min == 0.0
    with pytest.raises(ValueError, match="k0 must be at least k_min"):
        BEGANLoss(SPEC, k0=0.2, k_min=0.5)
    with pytest.raises(ValueError, match=r"k_min must lie in \[0, 1\]"):
        BEGANLoss(SPEC, k_min=1.5)
    assert "k_min=0.5" in repr(BEGANLoss(SPEC, k0=0.8, k_min=0.5))
