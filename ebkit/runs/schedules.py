"""Learning-rate schedules: halving every learning rate when a logged metric (BEGAN's
M_global) stops improving, and the Ladder papers' linear decay to 0 at the end.

BEGAN (Berthelot et al. 2017, §4.1) trains with Adam at 1e-4 and halves the learning rate
"when the measure of convergence stalls". :class:`LRHalving` does that for any logged
metric where lower is better, as a :class:`~ebkit.core.engine.Callback`; ``ebkit train``
adds it when ``-o train.lr_halve_patience=N`` is set (:func:`lr_halving_from_train_options`).

Its state (the smoothed metric, the best value, the steps since it improved) rides in
the first parameter group of the energy's optimiser, under the key
:data:`STATE_KEY`, the way torch's own schedulers keep ``initial_lr`` there: every
checkpoint already saves the optimisers' parameter groups (as JSON) and ``--resume``
loads them back, so the halved learning rates and the schedule's state are restored
exactly without a checkpoint format of its own. :meth:`LRHalving.state_dict` and
:meth:`LRHalving.load_state_dict` export and import the same state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ebkit.core.engine import Callback, Metrics
from ebkit.core.errors import UsageError
from ebkit.runs.settings import ScheduleSettings

if TYPE_CHECKING:
    from ebkit.core.engine import Trainer

STATE_KEY = "lr_halving"
"""The key of :class:`LRHalving`'s state in the energy optimiser's first parameter group."""

MIN_RELATIVE_IMPROVEMENT = 1e-3
"""The smoothed metric counts as improved only when it falls below the best value so
far by more than this fraction of it (0.1 %), so that a plateau's slow drift of the
moving average does not keep postponing the halving."""


@dataclass
class LRHalvingState:
    """What :class:`LRHalving` carries from step to step.

    ``smoothed``: the exponential moving average of the metric (``None`` before the first
    step); ``best``: its lowest value since training started; ``since_best``: steps since
    ``best`` last improved (or since the last halving); ``halvings``: how many times the
    learning rates were halved; ``pending``: metric values of steps the rule has not
    seen yet (a checkpoint saved between two checks of the rule keeps them).
    """

    smoothed: float | None = None
    best: float | None = None
    since_best: int = 0
    halvings: int = 0
    pending: list[float] = field(default_factory=list)


def smoothed_value(previous: float | None, value: float, smoothing: float) -> float:
    """One step of the exponential moving average ``s_t = β·s_{t−1} + (1 − β)·v_t`` with
    β = ``smoothing``, started at ``s_1 = v_1``."""
    if previous is None:
        return value
    return smoothing * previous + (1 - smoothing) * value


def improved(smoothed: float, best: float | None, min_relative: float) -> bool:
    """Whether ``smoothed`` beats ``best`` by more than ``min_relative·|best|`` (lower is
    better; anything beats ``None``)."""
    return best is None or smoothed < best - min_relative * abs(best)


class LRHalving(Callback):
    """Halves every optimiser's learning rate when ``metric`` has not improved for
    ``patience`` steps.

    After every step, with v the step's ``metric`` (lower is better, e.g. ``m_global``)::

        s ← smoothing·s + (1 − smoothing)·v             (s starts at the first v)
        if s < best − 0.001·|best|:  best ← s, since_best ← 0
        else:                         since_best ← since_best + 1
        if since_best ≥ patience:    lr ← max(lr / 2, min_lr) for every parameter group
                                      of every optimiser; since_best ← 0

    M_global is noisy from batch to batch, hence the moving average (``smoothing`` =
    0.99 averages over about 100 steps; 0 uses the raw value) and the 0.1 % margin
    (:data:`MIN_RELATIVE_IMPROVEMENT`). ``best`` is kept across halvings, so the next
    halving again needs ``patience`` steps without a new best.

    Reading the metric means waiting for the device (a host synchronisation), so the
    rule runs every ``every`` steps (``ebkit train`` passes ``train.log_every``: the
    steps whose metrics are read for the log anyway) and at the last step, over the
    values of every step since, in order: the moving average, the best value and the
    stall count are those of a check after every step, and a halving the rule calls for
    takes effect at the check, at most ``every`` − 1 steps after the stall's last step.
    ``every`` = 1 checks after every step. A checkpoint saved between checks keeps the
    values not yet seen (:meth:`before_checkpoint`), so a resumed run halves exactly
    when the uninterrupted one would.

    It adds ``lr_energy`` and ``lr_sampler`` (when the sampler is trained) to the step's
    metrics: the learning rates this step used, before any halving it triggers. So it
    must come before the metrics log in the callback list, and before the checkpoints,
    so that a checkpoint holds the state after this step's update.
    """

    def __init__(
        self,
        patience: int,
        *,
        metric: str = "m_global",
        smoothing: float = 0.99,
        min_lr: float = 1e-6,
        every: int = 1,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1 step, not {every}")
        if patience < 1:
            raise ValueError(f"patience must be at least 1 step, not {patience}")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must lie in [0, 1), not {smoothing}")
        if not min_lr >= 0:
            raise ValueError(f"min_lr must be a non-negative number, not {min_lr}")
        self.patience = patience
        self.metric = metric
        self.smoothing = smoothing
        self.min_lr = min_lr
        self.every = every
        self.state = LRHalvingState()
        self._unread: list[Tensor | float] = []  # this process's values since the check

    # -- state ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The state as plain JSON values (``pending`` only when values wait)."""
        state = asdict(self.state)
        if not state["pending"]:
            del state["pending"]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - set(asdict(LRHalvingState()))
        if unknown:
            raise ValueError(f"unknown LRHalving state keys {sorted(unknown)}")
        self.state = LRHalvingState(**state)
        self._unread = []

    def _state_group(self, trainer: Trainer) -> dict[str, Any]:
        return trainer.energy_optimizer.param_groups[0]

    # -- callback ------------------------------------------------------------------

    def on_train_start(self, trainer: Trainer) -> None:
        saved = self._state_group(trainer).get(STATE_KEY)
        if saved is not None:  # a resumed run: the checkpoint restored the groups
            self.load_state_dict(saved)
        self._state_group(trainer)[STATE_KEY] = self.state_dict()

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if self.metric not in metrics:
            logged = ", ".join(sorted(metrics)) or "none"
            raise UsageError(
                f"train.lr_halve_metric: this run logs no metric {self.metric!r} "
                f"(it logs: {logged})"
            )
        for name, optimizer in trainer.optimizers().items():
            metrics[f"lr_{name}"] = float(optimizer.param_groups[0]["lr"])
        value = metrics[self.metric]
        self._unread.append(value.detach() if isinstance(value, Tensor) else float(value))
        step = 0 if self.every == 1 else trainer.step
        if step % self.every == 0 or step == trainer.settings.steps:
            values, self.state.pending = [*self.state.pending, *self._read()], []
            for value in values:
                self._apply_rule(trainer, value)
        self._state_group(trainer)[STATE_KEY] = self.state_dict()

    def before_checkpoint(self, trainer: Trainer) -> None:
        """Keep the values the rule has not seen yet in the state a checkpoint saves."""
        self.state.pending = [*self.state.pending, *self._read()]
        self._state_group(trainer)[STATE_KEY] = self.state_dict()

    def _read(self) -> list[float]:
        """The unread values as floats, in order: one host synchronisation for all."""
        tensors = [value for value in self._unread if isinstance(value, Tensor)]
        read = iter(
            torch.stack([t.double().reshape(()) for t in tensors]).tolist() if tensors else []
        )
        values = [next(read) if isinstance(value, Tensor) else value for value in self._unread]
        self._unread = []
        return values

    def _apply_rule(self, trainer: Trainer, value: float) -> None:
        """One step of the rule of the class docstring on the metric ``value``."""
        if not math.isfinite(value):
            return  # the engine stops on a non-finite loss; a non-finite metric is skipped
        state = self.state
        state.smoothed = smoothed_value(state.smoothed, value, self.smoothing)
        if improved(state.smoothed, state.best, MIN_RELATIVE_IMPROVEMENT):
            state.best = state.smoothed
            state.since_best = 0
        else:
            state.since_best += 1
        if state.since_best >= self.patience:
            for optimizer in trainer.optimizers().values():
                for group in optimizer.param_groups:
                    group["lr"] = max(group["lr"] / 2, self.min_lr)
            state.since_best = 0
            state.halvings += 1


def lr_halving_from_train_options(
    schedule: ScheduleSettings, *, every: int = 1
) -> LRHalving | None:
    """The :class:`LRHalving` callback the ``train.lr_halve_*`` options ask for, checking
    its rule every ``every`` steps, or ``None`` when ``train.lr_halve_patience`` is 0."""
    if schedule.lr_halve_patience == 0:
        return None
    try:
        return LRHalving(
            schedule.lr_halve_patience,
            metric=schedule.lr_halve_metric,
            smoothing=schedule.lr_halve_smoothing,
            min_lr=schedule.lr_halve_min_lr,
            every=every,
        )
    except ValueError as error:
        raise UsageError(f"train.lr_halve_*: {error}") from None


def linear_decay_factor(step: int, total: int, start: int) -> float:
    """The learning-rate factor of the ``step``-th step (1-based) of ``total``: 1 up to
    step ``start``, then (total − step + 1)/(total − start), falling linearly to
    1/(total − start) at the last step (the Ladder papers' decay to 0)."""
    if step <= start or total <= start:
        return 1.0
    return (total - step + 1) / (total - start)


class LinearDecay(Callback):
    """Decays every learning rate linearly to 0 over the steps after ``start_fraction``
    of training (Rasmus et al. 2015 and EBGAN-LN: from two thirds of the steps on).

    Stateless: the rates are a function of the step and of the configured rates
    (``train.energy_lr``, ``train.sampler_lr``), so a resumed run continues the same
    schedule. It sets the rates of the next step after each step and logs the rates each
    step used as ``lr_energy`` and ``lr_sampler``, so it must come before the metrics log.
    """

    def __init__(self, start_fraction: float) -> None:
        if not 0.0 <= start_fraction <= 1.0:
            raise ValueError(f"start fraction must lie in [0, 1], not {start_fraction}")
        self.start_fraction = start_fraction

    def on_train_start(self, trainer: Trainer) -> None:
        self._set_rates(trainer, trainer.step + 1)

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        for name, optimizer in trainer.optimizers().items():
            metrics[f"lr_{name}"] = float(optimizer.param_groups[0]["lr"])
        self._set_rates(trainer, trainer.step + 1)

    def _set_rates(self, trainer: Trainer, step: int) -> None:
        total = trainer.settings.steps
        factor = linear_decay_factor(step, total, int(self.start_fraction * total))
        base = {"energy": trainer.settings.energy_lr, "sampler": trainer.settings.sampler_lr}
        for name, optimizer in trainer.optimizers().items():
            for group in optimizer.param_groups:
                group["lr"] = base[name] * factor


def lr_schedule_from_train_options(
    schedule: ScheduleSettings, *, every: int = 1
) -> Callback | None:
    """The learning-rate callback the ``train`` options ask for: :class:`LRHalving`
    (``lr_halve_patience`` > 0), :class:`LinearDecay` (``lr_decay_start`` < 1) or none.
    Both at once are refused: a decay from the configured rates would undo halvings.
    ``every``: the steps between checks of the halving rule (the log interval)."""
    halving = lr_halving_from_train_options(schedule, every=every)
    decay_start = schedule.lr_decay_start
    if decay_start >= 1.0:
        return halving
    if halving is not None:
        raise UsageError(
            "train.lr_decay_start and train.lr_halve_patience cannot be combined; "
            "choose one learning-rate schedule"
        )
    return LinearDecay(decay_start)
