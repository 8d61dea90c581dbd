"""The formulas of ebkit-rae on hand-computed values, and their gradients."""

from __future__ import annotations

import pytest
import torch
from ebkit_rae.network import AutoEncoderNetwork, JacobianMLP, UnitColumnLinear
from ebkit_rae.penalties import (
    contractive_penalty,
    denoising_error,
    reconstruction_error,
    sparse_penalty,
)


def test_reconstruction_error_by_hand() -> None:
    residual = torch.tensor([[3.0, 4.0], [1.0, -1.0]])
    # mse: (9 + 16)/2, (1 + 1)/2; l2: 5, √2.
    torch.testing.assert_close(reconstruction_error(residual), torch.tensor([12.5, 1.0]))
    torch.testing.assert_close(reconstruction_error(residual, "l2"), torch.tensor([5.0, 2.0**0.5]))
    with pytest.raises(ValueError, match="distance"):
        reconstruction_error(residual, "l1")


def test_denoising_error_compares_with_the_clean_input() -> None:
    clean = torch.tensor([[1.0, 2.0]])
    # The reconstruction of x̃ is compared with x: ((1.5 − 1)² + (1 − 2)²)/2 = 0.625.
    torch.testing.assert_close(
        denoising_error(torch.tensor([[1.5, 1.0]]), clean), torch.tensor([0.625])
    )
    # The identity on x̃ = x + σε scores σ²‖ε‖²/d, not 0.
    noise = torch.tensor([[0.3, -0.4]])
    torch.testing.assert_close(denoising_error(clean + noise, clean), torch.tensor([0.125]))
    with pytest.raises(ValueError, match="match"):
        denoising_error(torch.zeros(1, 3), clean)


def test_contractive_penalty_by_hand() -> None:
    jacobian = torch.tensor([[[1.0, 2.0], [0.0, -2.0]], [[0.5, 0.0], [0.0, 0.5]]])
    torch.testing.assert_close(contractive_penalty(jacobian), torch.tensor([9.0, 0.5]))
    with pytest.raises(ValueError, match=r"\(B, k, d\)"):
        contractive_penalty(torch.zeros(2, 3))


def test_sparse_penalty_by_hand() -> None:
    code = torch.tensor([[0.5, -1.5, 0.0], [2.0, 0.0, 0.25]])
    torch.testing.assert_close(sparse_penalty(code), torch.tensor([2.0, 2.25]))
    with pytest.raises(ValueError, match=r"\(B, k\)"):
        sparse_penalty(torch.zeros(2, 3, 1))


def test_penalties_gradcheck() -> None:
    generator = torch.Generator().manual_seed(0)
    jacobian = torch.randn(3, 4, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(contractive_penalty, (jacobian,))
    # Away from 0, where |h| has a derivative.
    code = torch.randn(3, 5, dtype=torch.float64, generator=generator)
    code = (code + code.sign() * 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(sparse_penalty, (code,))
    reconstruction = torch.randn(3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    clean = torch.randn(3, 4, dtype=torch.float64, generator=generator)
    for distance in ("mse", "l2"):
        assert torch.autograd.gradcheck(
            lambda r, distance=distance: denoising_error(r, clean, distance), (reconstruction,)
        )


def test_one_sigmoid_layer_gives_rifais_closed_form() -> None:
    # Rifai et al. 2011, eq. 5: ‖J_f(x)‖_F² = Σ_j (h_j(1 − h_j))² Σ_i W_ji² for h = s(Wx + b).
    # W = [[1, 2], [0, −1]], b = 0, x = (0, 0): h = (½, ½), h(1 − h) = ¼, Σ_i W_ji² = 5, 1,
    # so the penalty is (1/16)·5 + (1/16)·1 = 3/8.
    layer = JacobianMLP([2, 2], "sigmoid", last="sigmoid")
    with torch.no_grad():
        layer.layers[0].weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0]]))
        layer.layers[0].bias.zero_()
    x = torch.zeros(1, 2)
    _, jacobian = layer.with_jacobian(x, torch.eye(2).expand(1, 2, 2))
    torch.testing.assert_close(contractive_penalty(jacobian), torch.tensor([0.375]))


@pytest.mark.parametrize("activation", ["softplus", "tanh", "sigmoid"])
@pytest.mark.parametrize("of", ["code", "reconstruction"])
def test_carried_jacobian_equals_autograds(activation: str, of: str) -> None:
    torch.manual_seed(0)
    network = AutoEncoderNetwork(3, width=5, depth=2, code=4, activation=activation).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    code, reconstruction, jacobian = network.with_jacobian(x, of)
    torch.testing.assert_close((code, reconstruction), network(x))
    for b in range(6):

        def output(point: torch.Tensor) -> torch.Tensor:
            h, r = network(point.unsqueeze(0))
            return (h if of == "code" else r).squeeze(0)

        expected = torch.autograd.functional.jacobian(output, x[b])
        torch.testing.assert_close(jacobian[b], expected)


class _CarriedJacobian(torch.nn.Module):
    """J = ∂r/∂x of ``network.with_jacobian`` as a forward pass, for ``functional_call``."""

    def __init__(self, network: AutoEncoderNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.with_jacobian(x, "reconstruction")[2]


def test_contractive_penalty_of_the_network_gradcheck() -> None:
    # The penalty through the carried Jacobian, in the input and in every weight.
    torch.manual_seed(1)
    module = _CarriedJacobian(
        AutoEncoderNetwork(2, width=3, depth=1, code=3, activation="tanh").double()
    )
    names = [name for name, _ in module.named_parameters()]
    values = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)

    def penalty(point: torch.Tensor, *parameters: torch.Tensor) -> torch.Tensor:
        state = dict(zip(names, parameters, strict=True))
        return contractive_penalty(torch.func.functional_call(module, state, (point,)))

    assert torch.autograd.gradcheck(penalty, (x, *values))


def test_unit_column_linear_normalises_each_column() -> None:
    layer = UnitColumnLinear(2, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 0.0], [4.0, 0.0], [0.0, 2.0]]))
        layer.bias.zero_()
    # Columns (3, 4, 0)/5 and (0, 0, 2)/2.
    torch.testing.assert_close(layer(torch.tensor([[1.0, 1.0]])), torch.tensor([[0.6, 0.8, 1.0]]))
