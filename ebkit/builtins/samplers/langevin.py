"""The ``langevin`` sampler: Langevin MCMC on the energy, from noise or from given points.

One step (SPEC §5; seed 001, Algorithm 1, line 3, with IGEBM's clipping and clamping)::

    x ← clip(x − η·clip(∇ₓE(x), ±c) + σ·ξ, [lo, hi]),   ξ ~ N(0, I)

:func:`langevin_step` is that formula; :func:`mala_log_acceptance` is the Metropolis
correction; :class:`LangevinSampler` adds the options, the chain loop and its
diagnostics. Two conventions tie the noise σ to the step size η, and both are named:

- ``independent``: σ is its own number (``noise_scale``, default 0.005), the practice of
  IGEBM and of the seed's tutorial (K = 60, η = 10, σ = 0.005, c = 0.03 on [-1, 1]);
- ``coupled``: σ = s·√(2η) with s = ``noise_scale`` (default 1), exact Langevin
  dynamics, whose samples follow exp(−E/s²) as η → 0 (torchebm's convention).

Either way the chain behaves like Langevin dynamics at the *effective temperature*
T = σ²/(2η): it samples exp(−E/T) in the small-step limit. The independent defaults give
T = 0.005²/20 = 1.25·10⁻⁶, so the chain is close to noisy gradient descent; this is
intended (short-run MCMC), not a bug. At finite η the unadjusted chain samples a
discretised distribution, not exp(−E/T) (``tests/builtins/test_langevin_statistics.py``
computes both for a Gaussian); the Metropolis correction (``mala``) removes that bias.

In a conditional run the chains sample E(x | y): every evaluation of the energy (each
step's gradient, MALA's acceptance, the start energies of the diagnostics) receives the
chains' class labels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import Tensor

from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.nets import checked_labels

__all__ = [
    "ANNEAL_SCHEDULES",
    "ANNEAL_TARGETS",
    "DEFAULT_NOISE_SCALE",
    "INITS",
    "LANGEVIN_OPTION_NAMES",
    "NOISE_CONVENTIONS",
    "LangevinSampler",
    "anneal_factors",
    "langevin_step",
    "mala_log_acceptance",
]

NOISE_CONVENTIONS = ("independent", "coupled")
INITS = ("uniform", "gaussian")
ANNEAL_SCHEDULES = ("none", "linear", "geometric")
ANNEAL_TARGETS = ("noise", "step_size")
DEFAULT_NOISE_SCALE = {"independent": 0.005, "coupled": 1.0}
"""``noise_scale`` when it is not set: σ for ``independent``, s for ``coupled``."""
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
)
"""The keyword options of :class:`LangevinSampler`, which the samplers built on it share."""


DIAGNOSTIC_STEPS = 5
"""How many steps of an unadjusted chain its diagnostics observe (see :class:`LangevinSampler`)."""


def diagnostic_steps(steps: int) -> frozenset[int]:
    """The 0-based steps, at most :data:`DIAGNOSTIC_STEPS` of them evenly spread from the
    first to the last, whose gradient norm and step distance the diagnostics record."""
    if steps <= DIAGNOSTIC_STEPS:
        return frozenset(range(steps))
    last = steps - 1
    return frozenset(round(i * last / (DIAGNOSTIC_STEPS - 1)) for i in range(DIAGNOSTIC_STEPS))


def langevin_step(
    x: Tensor,
    grad: Tensor,
    noise: Tensor | None,
    *,
    step_size: float,
    grad_clip: float = 0.0,
    low: float | None = None,
    high: float | None = None,
) -> Tensor:
    """One unadjusted Langevin step, x' = clip(x − η·clip(∇ₓE(x), ±c) + σ·ξ, [lo, hi]).

    ``x``, ``grad`` = ∇ₓE(x) and ``noise`` = σ·ξ (already scaled; ``None`` for σ = 0) are
    ``(B, *event_shape)``; returns x' of the same shape. ``grad_clip`` c = 0 leaves the
    gradient as it is; ``low``/``high`` ``None`` leaves x' unclamped.
    """
    drift = grad.clamp(-grad_clip, grad_clip) if grad_clip > 0 else grad
    moved = torch.add(x, drift, alpha=-step_size)
    if noise is not None:
        moved = moved.add_(noise)
    if low is not None and high is not None:
        moved = moved.clamp_(low, high)
    return moved


def mala_log_acceptance(
    x: Tensor,
    proposal: Tensor,
    energy_x: Tensor,
    energy_proposal: Tensor,
    drift_x: Tensor,
    drift_proposal: Tensor,
    *,
    step_size: float,
    noise_std: float,
) -> Tensor:
    """Log Metropolis–Hastings acceptance of a Langevin proposal y from x (MALA).

    With the proposal density q(b | a) = N(b; a − η·d(a), σ²I), the drift d the
    (possibly clipped) gradient, and the target exp(−E/T) at T = σ²/(2η)::

        log α = −(E(y) − E(x))/T + log q(x | y) − log q(y | x)
              = −(E(y) − E(x))·2η/σ² − (‖x − y + η·d(y)‖² − ‖y − x + η·d(x)‖²)/(2σ²)

    ``x``, ``proposal`` y and the drifts are ``(B, *event_shape)``; the energies are
    ``(B,)``; returns ``(B,)`` (not capped at 0: compare log u < log α). Clipping the
    drift keeps the correction exact, since the same clipped drift defines q both ways.
    """
    inverse_variance = 1.0 / (noise_std * noise_std)
    forward = (proposal - x + step_size * drift_x).flatten(1).square().sum(1)
    backward = (x - proposal + step_size * drift_proposal).flatten(1).square().sum(1)
    log_target = (energy_x - energy_proposal) * (2.0 * step_size * inverse_variance)
    return log_target - 0.5 * inverse_variance * (backward - forward)


def anneal_factors(schedule: str, final: float, steps: int) -> list[float]:
    """The factor of each of ``steps`` steps: 1 at the first, ``final`` at the last.

    ``linear``: 1 + (f − 1)·k/(K − 1); ``geometric``: f^(k/(K − 1)); ``none``: 1.
    """
    if schedule not in ANNEAL_SCHEDULES:
        raise ValueError(f"anneal must be one of {', '.join(ANNEAL_SCHEDULES)}, not {schedule!r}")
    last = max(steps - 1, 1)
    if schedule == "linear":
        return [1.0 + (final - 1.0) * k / last for k in range(steps)]
    if schedule == "geometric":
        return [final ** (k / last) for k in range(steps)]
    return [1.0] * steps


@contextlib.contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` of the module's trainable parameters, then restore
    exactly those (parameters that were frozen before stay frozen)."""
    trainable = [parameter for parameter in module.parameters() if parameter.requires_grad]
    for parameter in trainable:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)


def floating_dtype(module: torch.nn.Module) -> torch.dtype:
    """The dtype of the module's first floating parameter or buffer (samples are drawn in
    it, so a float64 energy gets float64 chains), else torch's default dtype."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def _energy_and_grad(
    energy: EnergyFunction, x: Tensor, labels: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``x: (B, *event_shape) -> (E(x): (B,), ∇ₓE(x): (B, *event_shape))``, both detached;
    E(x | y) for ``labels`` y: ``(B,)`` in a conditional run.

    ``x`` must be a tensor without a graph (a leaf); it requires grad only meanwhile.
    """
    x.requires_grad_(True)
    try:
        values = energy.evaluate(x, labels).energy
        if not values.requires_grad:
            raise RuntimeError(
                f"the energy {type(energy).__name__} does not depend on its input, "
                "so Langevin dynamics has no gradient to follow"
            )
        (grad,) = torch.autograd.grad(values.sum(), x)
    finally:
        x.requires_grad_(False)
    return values.detach(), grad


def _gaussian(like: Tensor, std: float, generator: torch.Generator) -> Tensor:
    """σ·ξ, ξ ~ N(0, I), shaped like ``like``: one call, no separate scaling."""
    return torch.normal(
        0.0, std, like.shape, generator=generator, device=like.device, dtype=like.dtype
    )


def _per_sample_norm(x: Tensor) -> Tensor:
    return torch.linalg.vector_norm(x.flatten(1), dim=1)


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
            noise_scale = DEFAULT_NOISE_SCALE[noise]
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
        if generator is not None:
            device = generator.device
        shape = (n, *self.spec.event_shape)
        low, high = self.spec.low, self.spec.high
        if self.init == "uniform":
            unit = torch.rand(shape, generator=generator, device=device, dtype=dtype)
            return unit.mul_(high - low).add_(low)
        start = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        start = start.mul_(0.25 * (high - low)).add_(0.5 * (low + high))
        return start.clamp_(low, high) if self.clamp else start

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
        x = start.detach()
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
            values, grad = _energy_and_grad(energy, x, labels)
            if self._start_energy is None:
                self._start_energy = values
            noise = _gaussian(x, sigma, generator) if sigma > 0 else None
            moved = langevin_step(
                x, grad, noise, step_size=eta, grad_clip=self.grad_clip, low=low, high=high
            )
            if step in observed:
                grad_norms.append(_per_sample_norm(grad))
                distances.append(_per_sample_norm(moved - x))
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
        values, grad = _energy_and_grad(energy, x, labels)
        self._start_energy = values
        drift = self._drift(grad)
        for eta, sigma in zip(self.step_sizes, self.noise_stds, strict=True):
            grad_norms.append(_per_sample_norm(grad))
            noise = _gaussian(x, sigma, generator)
            proposal = langevin_step(x, drift, noise, step_size=eta)
            proposal_values, proposal_grad = _energy_and_grad(energy, proposal, labels)
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
            distances.append(_per_sample_norm(moved - x))
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
