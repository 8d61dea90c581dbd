"""A fully connected auto-encoder that can carry its Jacobian through the layers.

The contractive penalty needs ‖∂h/∂x‖_F² at every training input. Autograd would give it
one code unit (or one input direction) per pass; an MLP of Linear layers and elementwise
activations gives it exactly in the same forward pass instead, by the chain rule layer by
layer::

    J ← W·J           after a Linear layer a = W·h + b
    J ← σ'(a) ⊙ J     after an activation h = σ(a)          (J starts as the identity)

which costs one (k × d) matrix per sample and layer and is differentiable with plain
autograd (no double backward), so its gradient reaches every weight.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS: tuple[str, ...] = ("softplus", "tanh", "sigmoid")
"""Smooth activations: the contractive penalty's gradient reaches the pre-activations only
through σ'', which a ReLU's is not (it is 0 almost everywhere)."""


def activation_and_slope(
    name: str,
) -> tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]:
    """σ and σ' of the activation ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "softplus":
        return F.softplus, torch.sigmoid
    if name == "tanh":
        return torch.tanh, lambda a: 1.0 - torch.tanh(a).square()
    if name == "sigmoid":
        return torch.sigmoid, lambda a: torch.sigmoid(a) * (1.0 - torch.sigmoid(a))
    if name == "relu":  # the sparse code only: exact zeros; its penalty needs no Jacobian
        return F.relu, lambda a: (a > 0).to(a.dtype)
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")


class UnitColumnLinear(nn.Linear):
    """A Linear layer whose weight's columns are rescaled to unit norm at every call,
    W = V / ‖V‖_columns, the constraint sparse coding puts on its dictionary (Lee et al.
    2007, eq. 1: ‖b_j‖² ≤ 1).

    The decoder reads the code through it, so a penalty on the code's size (L1, or the
    code's Jacobian) cannot be dodged by shrinking the code while this layer grows to undo
    it: the scale of each code unit now changes what the decoder sees.
    """

    def normalised_weight(self) -> Tensor:
        norms = torch.linalg.vector_norm(self.weight, dim=0, keepdim=True)
        return self.weight / norms.clamp_min(torch.finfo(self.weight.dtype).eps)

    def forward(self, inputs: Tensor) -> Tensor:
        return F.linear(inputs, self.normalised_weight(), self.bias)


class JacobianMLP(nn.Module):
    """Linear layers, each but the last followed by ``activation``, the last by ``last``
    (``None``: no activation).

    ``forward(h: (B, n_in)) -> (B, n_out)``; :meth:`with_jacobian` also returns
    ``∂out/∂x: (B, n_out, d)`` given ``∂h/∂x: (B, n_in, d)``.
    """

    def __init__(
        self,
        sizes: list[int],
        activation: str,
        *,
        last: str | None,
        first_unit: bool = False,
    ) -> None:
        super().__init__()
        self.function, self.slope = activation_and_slope(activation)
        self.last_function, self.last_slope = (
            (None, None) if last is None else activation_and_slope(last)
        )
        kinds = [
            UnitColumnLinear if first_unit and i == 0 else nn.Linear for i in range(len(sizes) - 1)
        ]
        self.layers = nn.ModuleList(
            kind(size_in, size_out)
            for kind, size_in, size_out in zip(kinds, sizes[:-1], sizes[1:], strict=True)
        )

    def _weight(self, layer: nn.Linear) -> Tensor:
        return layer.normalised_weight() if isinstance(layer, UnitColumnLinear) else layer.weight

    def _activation(self, index: int) -> tuple[Callable | None, Callable | None]:
        if index < len(self.layers) - 1:
            return self.function, self.slope
        return self.last_function, self.last_slope

    def forward(self, h: Tensor) -> Tensor:
        for index, layer in enumerate(self.layers):
            h = layer(h)
            function, _ = self._activation(index)
            if function is not None:
                h = function(h)
        return h

    def with_jacobian(self, h: Tensor, jacobian: Tensor) -> tuple[Tensor, Tensor]:
        """``(out, ∂out/∂x)`` from ``h: (B, n_in)`` and ``∂h/∂x: (B, n_in, d)``."""
        for index, layer in enumerate(self.layers):
            weight = self._weight(layer)
            h = F.linear(h, weight, layer.bias)
            jacobian = torch.einsum("oi,bid->bod", weight, jacobian)
            function, slope = self._activation(index)
            if function is not None and slope is not None:
                jacobian = slope(h).unsqueeze(2) * jacobian
                h = function(h)
        return h, jacobian


class AutoEncoderNetwork(nn.Module):
    """The auto-encoder r = g∘f of the ``rae`` energies, on flattened samples of d scalars::

        f (encoder): Linear(d, w) -> σ -> … (depth times) -> Linear(w, k) -> σ   the code h
        g (decoder): UnitColumnLinear(k, w) -> σ -> … (depth times) -> Linear(w, d)

    w = ``width``, k = ``code``, σ = ``activation``; ``code_activation`` replaces σ on the
    code (``relu`` for the sparse code: exact zeros). PyTorch's default initialisation.
    """

    def __init__(
        self,
        dim: int,
        *,
        width: int,
        depth: int,
        code: int,
        activation: str,
        code_activation: str | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}"
            )
        for name, value in (("width", width), ("depth", depth), ("code", code)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        hidden = [width] * depth
        self.encoder = JacobianMLP(
            [dim, *hidden, code], activation, last=code_activation or activation
        )
        self.decoder = JacobianMLP([code, *hidden, dim], activation, last=None, first_unit=True)

    def forward(self, flat: Tensor) -> tuple[Tensor, Tensor]:
        """``flat: (B, d) -> (code h: (B, k), reconstruction r: (B, d))``."""
        code = self.encoder(flat)
        return code, self.decoder(code)

    def with_jacobian(self, flat: Tensor, of: str) -> tuple[Tensor, Tensor, Tensor]:
        """``(h, r, J)`` with J = ∂h/∂x ``(B, k, d)`` (``of="code"``) or ∂r/∂x ``(B, d, d)``
        (``of="reconstruction"``), exact (see the module docstring)."""
        batch, dim = flat.shape
        identity = torch.eye(dim, dtype=flat.dtype, device=flat.device).expand(batch, dim, dim)
        code, code_jacobian = self.encoder.with_jacobian(flat, identity)
        if of == "code":
            return code, self.decoder(code), code_jacobian
        if of == "reconstruction":
            reconstruction, jacobian = self.decoder.with_jacobian(code, code_jacobian)
            return code, reconstruction, jacobian
        raise ValueError(f"the Jacobian is of 'code' or 'reconstruction', not {of!r}")
