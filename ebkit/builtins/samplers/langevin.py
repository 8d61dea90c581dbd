"""The ``langevin`` sampler: Langevin MCMC on the energy, from noise or from given points.

One step of Langevin dynamics (Welling & Teh 2011), as IGEBM runs it with gradient
clipping and clamping (Du & Mordatch 2019, Algorithm 1)::

    x ← clip(x − η·clip(∇ₓE(x), ±c) + σ·ξ, [lo, hi]),   ξ ~ N(0, I)

:func:`~ebkit.builtins.samplers.mcmc.langevin_step` is that formula;
:func:`~ebkit.builtins.samplers.mcmc.mala_log_acceptance` is the Metropolis correction;
:class:`LangevinSampler` adds the options, the chain loop and its diagnostics. Two
conventions tie the noise σ to the step size η, and both are named:

- ``independent``: σ is its own number (``noise_scale``, default 0.005), the practice of
  IGEBM and of short-run MCMC (Du & Mordatch 2019; Nijkamp et al. 2019), in the values
  of its common tutorial form (K = 60, η = 10, σ = 0.005, c = 0.03 on [-1, 1]);
- ``coupled``: σ = s·√(2η) with s = ``noise_scale`` (default 1), exact Langevin
  dynamics, whose samples follow exp(−E/s²) as η → 0 (torchebm's convention).

Either way the chain behaves like Langevin dynamics at the *effective temperature*
T = σ²/(2η): it samples exp(−E/T) in the small-step limit. The independent defaults give
T = 0.005²/20 = 1.25·10⁻⁶, so the chain is close to noisy gradient descent; this is
intended (short-run MCMC), not a bug. At finite η the unadjusted chain samples a
discretised distribution, not exp(−E/T) (``tests/builtins/samplers/test_langevin_statistics.py``
computes both for a Gaussian); the Metropolis correction (``mala``) removes that bias.

In a conditional run the chains sample E(x | y): every evaluation of the energy (each
step's gradient, MALA's acceptance, the start energies of the diagnostics) receives the
chains' class labels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ebkit.builtins.samplers.mcmc import (
    ANNEAL_SCHEDULES,
    DIAGNOSTIC_STEPS,
    anneal_factors,
    diagnostic_steps,
    gaussian_noise,
    langevin_step,
    mala_log_acceptance,
    per_sample_norm,
)
from ebkit.core.chains import (
    START_DISTRIBUTIONS,
    energy_and_grad,
    floating_dtype,
    frozen,
    start_points,
)
from ebkit.core.hardware import full_precision
from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.nets import checked_labels

__all__ = [
    "ANNEAL_SCHEDULES",
    "ANNEAL_TARGETS",
    "DEFAULT_NOISE_SCALE",
    "DIAGNOSTIC_STEPS",
    "INITS",
    "LANGEVIN_OPTION_NAMES",
    "NOISE_CONVENTIONS",
    "LangevinSampler",
    "anneal_factors",
    "diagnostic_steps",
    "langevin_step",
    "mala_log_acceptance",
]

NOISE_CONVENTIONS = ("independent", "coupled")
INITS = START_DISTRIBUTIONS
ANNEAL_TARGETS = ("noise", "step_size")
DEFAULT_NOISE_SCALE = {"independent": 0.005, "coupled": 0.05}
"""``noise_scale`` when it is not set: σ for ``independent``, s for ``coupled`` (the
latter is the ``coupled_noise_scale`` option's default)."""
DEFAULT_STEP_SIZE = {"independent": 10.0, "coupled": 0.005}
"""``step_size`` when it is not set: IGEBM's η, or a small η for exact Langevin."""
DEFAULT_GRAD_CLIP = {"independent": 0.03, "coupled": 0.0}
"""``grad_clip`` when it is not set: IGEBM's c, or none (clipping biases the chain)."""
LANGEVIN_OPTION_NAMES = (
    "init",
    "steps",
    "step_size",
    "noise",
    "noise_scale",
    "grad_clip",
    "clamp",
    "mala",
    "anneal",
    "anneal_target",
    "anneal_final",
    "coupled_noise_scale",
)
"""The keyword options of :class:`LangevinSampler`, which the samplers built on it share."""


class LangevinSampler(ContrastiveSampler):
    """Langevin MCMC: ``steps`` steps of :func:`langevin_step` on the energy.

    :meth:`sample` starts from noise (``init``: ``uniform`` in ``[spec.low, spec.high]``,
    or ``gaussian`` with mean (low + high)/2 and standard deviation (high − low)/4);
    :meth:`refine` starts from given points (the replay and generator-langevin samplers
    use it). ``noise`` = ``auto`` picks ``independent`` with IGEBM's η = 10, σ = 0.005,
    c = 0.03 for images and ``coupled`` with η = 0.005, s = 1, no clipping (temperature 1)
    for vectors such as the 2-D toys, where IGEBM's temperature of about 10⁻⁶ teaches CD a
    flat energy; ``step_size``, ``noise_scale`` and ``grad_clip`` left unset follow the
    chosen convention. The step size η is ``step_size``; the noise σ follows ``noise`` (module
    docstring): σ = ``noise_scale`` (``independent``) or σ = ``noise_scale``·√(2η)
    (``coupled``). ``grad_clip`` c clips each gradient coordinate to [−c, c] (0: off);
    ``clamp`` keeps every state in [low, high].

    In a conditional run (``spec.conditional``) :meth:`sample` and :meth:`refine` take
    ``labels: (B,)``, one class per chain, and every evaluation of the energy (gradients,
    MALA's acceptance, the start energies) is E(x | y), ``energy(x, labels)``.

    ``anneal`` (``linear`` or ``geometric``) scales the ``anneal_target``, ``noise`` (σ,
    or s when coupled) or ``step_size`` (η; when coupled, σ follows), from its value at
    the first step to ``anneal_final`` times it at the last.

    ``mala`` adds the Metropolis–Hastings correction (:func:`mala_log_acceptance`) for
    the target exp(−E/T), T = σ²/(2η): the chain then samples exp(−E/T) exactly, at any
    step size. Gradient clipping keeps it exact (the clipped drift defines the proposal
    both ways). Clamping would not (it piles mass on the boundary), so under ``mala``,
    ``clamp`` rejects proposals that leave [low, high] instead, which is exact for the
    target restricted to that box. With annealing each step targets its own T.

    Gradients are taken with respect to x only: the energy's trainable parameters are
    frozen while sampling and restored afterwards, no graph is retained or created, no
    ``.grad`` is left on the parameters, and the samples are detached. It works inside
    ``torch.no_grad()`` too. The energy is evaluated in the mode its caller set (in
    training mode a BatchNorm energy normalises each chain batch with its own statistics
    and updates its running statistics at every step). All randomness comes from the
    ``generator`` argument.

    :meth:`metrics` describes the last call: ``grad_norm`` (mean ‖∇ₓE‖ over chains and
    steps, before clipping), ``step_distance`` (mean ‖x_k − x_{k−1}‖) — both observed at
    :data:`DIAGNOSTIC_STEPS` steps spread evenly along the chain (first and last
    included; every step under ``mala``), which keeps them off the chain's cost —, ``temperature``
    (σ²/(2η) of the last step) and, with ``mala``, ``acceptance_rate``.
    """

    accepts_labels = True

    def __init__(
        self,
        spec: DataSpec,
        *,
        init: str = "uniform",
        steps: int = 60,
        step_size: float | None = None,
        noise: str = "auto",
        noise_scale: float | None = None,
        coupled_noise_scale: float = DEFAULT_NOISE_SCALE["coupled"],
        grad_clip: float | None = None,
        clamp: bool = True,
        mala: bool = False,
        anneal: str = "none",
        anneal_target: str = "noise",
        anneal_final: float = 0.1,
    ) -> None:
        super().__init__(spec)
        if noise == "auto":
            noise = "independent" if spec.is_image else "coupled"
        for option, value, accepted in (
            ("init", init, INITS),
            ("noise", noise, NOISE_CONVENTIONS),
            ("anneal", anneal, ANNEAL_SCHEDULES),
            ("anneal_target", anneal_target, ANNEAL_TARGETS),
        ):
            if value not in accepted:
                raise ValueError(f"{option} must be one of {', '.join(accepted)}, not {value!r}")
        if noise_scale is None:
            noise_scale = coupled_noise_scale if noise == "coupled" else DEFAULT_NOISE_SCALE[noise]
        if step_size is None:
            step_size = DEFAULT_STEP_SIZE[noise]
        if grad_clip is None:
            grad_clip = DEFAULT_GRAD_CLIP[noise]
        if not (isinstance(steps, int) and steps >= 0):
            raise ValueError(f"steps must be a whole number >= 0, not {steps!r}")
        for option, value in (("step_size", step_size), ("anneal_final", anneal_final)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{option} must be a finite number > 0, not {value!r}")
        for option, value in (("noise_scale", noise_scale), ("grad_clip", grad_clip)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{option} must be a finite number >= 0, not {value!r}")
        if not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        if mala and noise_scale == 0:
            raise ValueError("mala needs noise: noise_scale must be > 0")
        self.init = init
        self.steps = steps
        self.step_size = float(step_size)
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.grad_clip = float(grad_clip)
        self.clamp = bool(clamp)
        self.mala = bool(mala)
        self.anneal = anneal
        self.anneal_target = anneal_target
        self.anneal_final = float(anneal_final)
        self.step_sizes, self.noise_stds, self.temperatures = self._schedule()
        self._diagnostics: dict[str, list[Tensor]] = {}
        self._start_energy: Tensor | None = None

    def _schedule(self) -> tuple[list[float], list[float], list[float]]:
        """(η_k, σ_k, T_k = σ_k²/(2η_k)) of every step, as Python floats (no device work
        per step); one entry when ``steps`` = 0, for the temperature."""
        factors = anneal_factors(self.anneal, self.anneal_final, max(self.steps, 1))
        step_sizes, stds, temperatures = [], [], []
        for factor in factors:
            eta = self.step_size * (factor if self.anneal_target == "step_size" else 1.0)
            scale = self.noise_scale * (factor if self.anneal_target == "noise" else 1.0)
            step_sizes.append(eta)
            if self.noise == "coupled":
                stds.append(scale * math.sqrt(2.0 * eta))
                temperatures.append(scale * scale)  # σ²/(2η) = s², exactly
            else:
                stds.append(scale)
                temperatures.append(scale * scale / (2.0 * eta))
        if self.steps == 0:
            return [], [], temperatures
        return step_sizes, stds, temperatures

    @property
    def temperature(self) -> float:
        """Effective temperature σ²/(2η) of the last step (of the first if ``steps`` = 0)."""
        return self.temperatures[-1]

    # -- drawing -----------------------------------------------------------------------

    def initial(
        self,
        n: int,
        generator: torch.Generator | None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """``n`` start points ``(n, *event_shape)`` from the ``init`` distribution, drawn
        from ``generator`` on its device (or from torch's default generator on ``device``
        when ``generator`` is ``None``; the replay buffer is filled that way when built)."""
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
        """``n`` chains from ``init`` noise after ``steps`` steps: ``(n, *event_shape)``,
        detached, in the dtype of the energy's parameters; on E(x | y) for ``labels`` y:
        ``(n,)`` in a conditional run (the start points do not depend on them)."""
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
        """Run ``steps`` steps from ``start: (B, *event_shape)`` (not modified; its graph,
        if any, is cut) and return the detached end points, same shape. In a conditional
        run ``labels: (B,)`` are the chains' classes and the energy is E(x | y)."""
        labels = checked_labels(self.spec, labels, start.shape[0])
        # A start drawn under autocast (a generator's bf16 output) chains in float32: the
        # step η·∇E and the noise are far below a half-precision number's resolution.
        x = full_precision(start.detach())
        self._diagnostics = {"grad_norm": [], "step_distance": [], "accepted": []}
        self._start_energy = None
        if self.steps == 0:
            return x
        with torch.enable_grad(), frozen(energy):
            if self.mala:
                return self._adjusted_chain(x, energy, generator, labels)
            return self._chain(x, energy, generator, labels)

    def _chain(
        self,
        x: Tensor,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None,
    ) -> Tensor:
        low, high = (self.spec.low, self.spec.high) if self.clamp else (None, None)
        grad_norms, distances = self._diagnostics["grad_norm"], self._diagnostics["step_distance"]
        observed = diagnostic_steps(self.steps)
        for step, (eta, sigma) in enumerate(zip(self.step_sizes, self.noise_stds, strict=True)):
            values, grad = energy_and_grad(energy, x, labels)
            if self._start_energy is None:
                self._start_energy = values
            noise = gaussian_noise(x, sigma, generator) if sigma > 0 else None
            moved = langevin_step(
                x, grad, noise, step_size=eta, grad_clip=self.grad_clip, low=low, high=high
            )
            if step in observed:
                grad_norms.append(per_sample_norm(grad))
                distances.append(per_sample_norm(moved - x))
            x = moved
        return x

    def _adjusted_chain(
        self,
        x: Tensor,
        energy: EnergyFunction,
        generator: torch.Generator,
        labels: Tensor | None,
    ) -> Tensor:
        """MALA: Langevin proposals accepted with :func:`mala_log_acceptance`; proposals
        outside [low, high] are rejected when ``clamp`` is on."""
        grad_norms, distances = self._diagnostics["grad_norm"], self._diagnostics["step_distance"]
        accepted = self._diagnostics["accepted"]
        batch_shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        values, grad = energy_and_grad(energy, x, labels)
        self._start_energy = values
        drift = self._drift(grad)
        for eta, sigma in zip(self.step_sizes, self.noise_stds, strict=True):
            grad_norms.append(per_sample_norm(grad))
            noise = gaussian_noise(x, sigma, generator)
            proposal = langevin_step(x, drift, noise, step_size=eta)
            proposal_values, proposal_grad = energy_and_grad(energy, proposal, labels)
            proposal_drift = self._drift(proposal_grad)
            log_alpha = mala_log_acceptance(
                x,
                proposal,
                values,
                proposal_values,
                drift,
                proposal_drift,
                step_size=eta,
                noise_std=sigma,
            )
            uniform = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
            accept = uniform.log() < log_alpha
            if self.clamp:
                inside = (proposal >= self.spec.low) & (proposal <= self.spec.high)
                accept &= inside.flatten(1).all(1)
            accepted.append(accept)
            keep = accept.view(batch_shape)
            moved = torch.where(keep, proposal, x)
            distances.append(per_sample_norm(moved - x))
            x = moved
            values = torch.where(accept, proposal_values, values)
            grad = torch.where(keep, proposal_grad, grad)
            drift = torch.where(keep, proposal_drift, drift)
        return x

    def _drift(self, grad: Tensor) -> Tensor:
        return grad.clamp(-self.grad_clip, self.grad_clip) if self.grad_clip > 0 else grad

    # -- diagnostics -------------------------------------------------------------------

    @property
    def start_energy(self) -> Tensor | None:
        """Energies ``(B,)`` of the last call's start points, as the chain saw them
        (``None`` before any call and when ``steps`` = 0)."""
        return self._start_energy

    def metrics(self) -> dict[str, Tensor | float]:
        """Diagnostics of the last call; tensors, so reading them costs no host sync
        until they are logged."""
        metrics: dict[str, Tensor | float] = {"temperature": self.temperature}
        for name, per_step in self._diagnostics.items():
            if per_step:
                stacked = torch.stack(per_step)
                metrics["acceptance_rate" if name == "accepted" else name] = (
                    stacked.float().mean() if name == "accepted" else stacked.mean()
                )
        return metrics

    def extra_repr(self) -> str:
        return (
            f"steps={self.steps}, step_size={self.step_size:g}, noise={self.noise!r}, "
            f"noise_scale={self.noise_scale:g}, grad_clip={self.grad_clip:g}, "
            f"clamp={self.clamp}, mala={self.mala}, temperature={self.temperature:.3g}"
        )
