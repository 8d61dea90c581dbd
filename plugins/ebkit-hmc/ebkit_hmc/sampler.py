"""The ``hmc`` sampler: Hamiltonian Monte Carlo on exp(−E(x)/T) (Neal 2011).

Each of ``steps`` transitions draws a momentum p ~ N(0, m·I), runs ``leapfrog_steps``
leapfrog steps of size ε (:func:`~ebkit_hmc.dynamics.leapfrog`) and accepts the end
point with probability min(1, exp(H(x, p) − H(x', p'))), else keeps x
(:func:`~ebkit_hmc.dynamics.log_acceptance`). The chain leaves exp(−E/T) exactly
invariant at any step size. With ``adapt``, ε follows dual averaging towards
``target_acceptance`` (:func:`~ebkit_hmc.dynamics.dual_averaging_step`) while the sampler
is in training mode, and stays fixed in eval mode (pictures, ``ebkit sample``).

:class:`HMCSampler` is also a chain kernel (``ebkit.ChainKernel``): ``replay`` and
``generator-langevin`` run it with ``-o sampler.kernel=hmc``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebkit import (
    ContrastiveSampler,
    DataSpec,
    EnergyFunction,
    all_reduce_mean,
    energy_and_grad,
    floating_dtype,
    frozen,
    start_points,
)
from ebkit.nets import checked_labels
from ebkit_hmc.dynamics import dual_averaging_step, hamiltonian, leapfrog, log_acceptance

__all__ = ["IMAGE_TEMPERATURE", "INITS", "VECTOR_TEMPERATURE", "HMCSampler"]

INITS = ("uniform", "gaussian")  # the start distributions of ebkit.start_points

VECTOR_TEMPERATURE = 0.0025
"""T on vector data when ``temperature`` is auto: that of ebkit's ``langevin`` sampler at
its defaults there (coupled noise, s = 0.05, T = s²), so ``hmc`` replaces it as it is."""

IMAGE_TEMPERATURE = 0.005**2 / (2 * 10.0)
"""T on images when ``temperature`` is auto: that of ``langevin`` at its image defaults
(σ = 0.005, η = 10, T = σ²/(2η) = 1.25·10⁻⁶, the short-run practice of Du & Mordatch 2019)."""


class HMCSampler(ContrastiveSampler):
    """Hamiltonian Monte Carlo on the energy, from ``init`` noise or from given points.

    Options (the defaults of the ``hmc`` record): ``init`` (``uniform`` in [low, high] or
    ``gaussian`` with mean (low + high)/2 and standard deviation (high − low)/4),
    ``steps`` HMC transitions per call, ``leapfrog_steps`` L ≥ 1 per transition,
    ``step_size`` ε > 0 (the first one when ``adapt``), ``mass`` m > 0, ``temperature``
    T > 0 (``None``: the ``langevin`` sampler's default temperature for the data, see
    :data:`VECTOR_TEMPERATURE`), ``clamp`` (proposals leaving [low, high] are rejected,
    which is exact for the target restricted to that box), ``adapt`` and
    ``target_acceptance`` δ in (0, 1).

    State: the buffers ``log_step_size`` (log ε now), ``adapt_iteration`` (m) and
    ``adapt_error`` (H̄), saved in checkpoints, so a resumed run continues with the same ε.
    Randomness, per transition: the momentum, then the acceptance uniforms, all from
    ``generator``. The energy's parameters are frozen while the chains run; the samples
    are detached. In a conditional run every energy evaluation is E(x | y) for the
    chains' ``labels``.

    :meth:`metrics` of the last call: ``acceptance_rate`` (share of accepted transitions
    over chains and transitions), ``step_size`` (ε of the last transition),
    ``step_distance`` (mean ‖x_k − x_{k−1}‖ per transition), ``energy_error`` (mean
    |H(x', p') − H(x, p)| of the proposals, finite ones; 0 for exact dynamics) and
    ``temperature``.
    """

    accepts_labels = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        init: str = "uniform",
        steps: int = 15,
        leapfrog_steps: int = 4,
        step_size: float = 0.005,
        mass: float = 1.0,
        temperature: float | None = None,
        clamp: bool = True,
        adapt: bool = True,
        target_acceptance: float = 0.65,
    ) -> None:
        super().__init__(spec)
        if temperature is None:
            temperature = IMAGE_TEMPERATURE if spec.is_image else VECTOR_TEMPERATURE
        if init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, not {init!r}")
        if not (isinstance(steps, int) and steps >= 0):
            raise ValueError(f"steps must be a whole number >= 0, not {steps!r}")
        if not (isinstance(leapfrog_steps, int) and leapfrog_steps >= 1):
            raise ValueError(f"leapfrog_steps must be a whole number >= 1, not {leapfrog_steps!r}")
        for name, value in (("step_size", step_size), ("mass", mass), ("temperature", temperature)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, not {value!r}")
        if not 0.0 < target_acceptance < 1.0:
            raise ValueError(f"target_acceptance must be in (0, 1), not {target_acceptance!r}")
        if not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        self.init = init
        self.steps = steps
        self.leapfrog_steps = leapfrog_steps
        self.initial_step_size = float(step_size)
        self.mass = float(mass)
        self.temperature = float(temperature)
        self.clamp = bool(clamp)
        self.adapt = bool(adapt)
        self.target_acceptance = float(target_acceptance)
        self.register_buffer("log_step_size", torch.tensor(math.log(step_size)))
        self.register_buffer("adapt_iteration", torch.zeros((), dtype=torch.int64))
        self.register_buffer("adapt_error", torch.zeros(()))
        self._diagnostics: dict[str, list[Tensor]] = {}
        self._start_energy: Tensor | None = None

    @property
    def step_size(self) -> float:
        """ε now (after the adaptation so far)."""
        return float(self.log_step_size.exp())

    # -- drawing -----------------------------------------------------------------------

    def initial(
        self,
        n: int,
        generator: torch.Generator | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` start points ``(n, *event_shape)`` from ``init``, drawn from ``generator``
        on its device, or from torch's default generator on ``device`` without one."""
        return start_points(
            self.spec, n, generator, init=self.init, clamp=self.clamp, dtype=dtype, device=device
        )

    def sample(
        self,
        n: int,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """``n`` chains from ``init`` noise after ``steps`` transitions: ``(n,
        *event_shape)``, detached, in the dtype of the energy's parameters."""
        labels = checked_labels(self.spec, labels, n)
        start = self.initial(n, generator, dtype=floating_dtype(energy))
        return self.refine(start, energy, generator, labels)

    def refine(
        self,
        start: Tensor,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None = None,
    ) -> Tensor:
        """Run ``steps`` transitions from ``start: (B, *event_shape)`` (not modified) and
        return the detached end points, same shape."""
        labels = checked_labels(self.spec, labels, start.shape[0])
        x = start.detach()
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # a leapfrog step is far below half precision's resolution
        self._diagnostics = {"accepted": [], "step_distance": [], "energy_error": []}
        self._start_energy = None
        if self.steps == 0:
            return x
        with torch.enable_grad(), frozen(energy):
            return self._chain(x, energy, generator, labels)

    def _chain(
        self,
        x: Tensor,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None,
    ) -> Tensor:
        temperature, mass = self.temperature, self.mass
        batch_shape = (x.shape[0],) + (1,) * (x.ndim - 1)

        def potential_and_grad(point: Tensor) -> tuple[Tensor, Tensor]:
            """U(x) = E(x)/T and ∇U(x), detached."""
            values, grad = energy_and_grad(energy, point.detach(), labels)
            return values / temperature, grad / temperature

        potential, grad = potential_and_grad(x)
        self._start_energy = potential * temperature
        accepted, distances = self._diagnostics["accepted"], self._diagnostics["step_distance"]
        errors = self._diagnostics["energy_error"]
        log_step = self.log_step_size.to(x.device)
        for _ in range(self.steps):
            step_size = log_step.exp().to(x.dtype)
            momentum = torch.randn(
                x.shape, generator=generator, device=x.device, dtype=x.dtype
            ) * math.sqrt(mass)
            proposal, end_momentum, proposal_potential, proposal_grad = leapfrog(
                x,
                momentum,
                grad,
                potential_and_grad,
                step_size=step_size,
                steps=self.leapfrog_steps,
                mass=mass,
            )
            start_h = hamiltonian(potential, momentum, mass)
            end_h = hamiltonian(proposal_potential, end_momentum, mass)
            log_alpha = log_acceptance(start_h, end_h)
            if self.clamp:
                inside = ((proposal >= self.spec.low) & (proposal <= self.spec.high)).flatten(1)
                log_alpha = log_alpha.masked_fill(~inside.all(1), -math.inf)
            uniform = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
            accept = uniform.log() < log_alpha
            keep = accept.view(batch_shape)
            moved = torch.where(keep, proposal, x)
            accepted.append(accept)
            distances.append(torch.linalg.vector_norm((moved - x).flatten(1), dim=1))
            error = (end_h - start_h).abs()
            errors.append(torch.where(torch.isfinite(error), error, torch.zeros_like(error)))
            x = moved
            potential = torch.where(accept, proposal_potential, potential)
            grad = torch.where(keep, proposal_grad, grad)
            if self.adapt and self.training:
                log_step = self._adapt(log_alpha.clamp(max=0.0).exp().mean())
        return x.detach()

    def _adapt(self, acceptance: Tensor) -> Tensor:
        """One dual-averaging iteration on the buffers; returns log ε for the next
        transition (on the device of ``acceptance``, without a host sync). In a
        data-parallel run the acceptance is averaged over the ranks first, so that every
        rank keeps the same ε (in one process it is left as it is)."""
        acceptance = all_reduce_mean(acceptance)
        iteration = self.adapt_iteration + 1
        error, log_step = dual_averaging_step(
            self.adapt_error,
            iteration.to(self.adapt_error.dtype),
            acceptance.to(self.adapt_error.dtype),
            target=self.target_acceptance,
            shrink_towards=math.log(10.0 * self.initial_step_size),
        )
        self.adapt_iteration.copy_(iteration)
        self.adapt_error.copy_(error)
        self.log_step_size.copy_(log_step)
        return log_step

    # -- diagnostics -------------------------------------------------------------------

    @property
    def start_energy(self) -> Tensor | None:
        """Energies E ``(B,)`` of the last call's start points (``None`` before a call and
        when ``steps`` = 0)."""
        return self._start_energy

    def metrics(self) -> dict[str, Tensor | float]:
        """Diagnostics of the last call, as tensors (no host sync until they are logged)."""
        metrics: dict[str, Tensor | float] = {"temperature": self.temperature}
        if self._diagnostics.get("accepted"):
            metrics["acceptance_rate"] = torch.stack(self._diagnostics["accepted"]).float().mean()
            metrics["step_distance"] = torch.stack(self._diagnostics["step_distance"]).mean()
            metrics["energy_error"] = torch.stack(self._diagnostics["energy_error"]).mean()
        metrics["step_size"] = self.log_step_size.exp()  # a new tensor: later adaptation leaves it
        return metrics

    def extra_repr(self) -> str:
        return (
            f"steps={self.steps}, leapfrog_steps={self.leapfrog_steps}, "
            f"step_size={self.step_size:.3g}, mass={self.mass:g}, "
            f"temperature={self.temperature:.3g}, clamp={self.clamp}, adapt={self.adapt}"
        )
