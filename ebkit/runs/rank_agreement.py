"""How the ranks of a data-parallel run stay in agreement between steps
(:mod:`ebkit.runs.distributed`): normalisation statistics, logged metrics, the metric a
schedule reads, and when to stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ebkit.core.engine import Callback, Metrics, Trainer, metrics_to_floats
from ebkit.core.errors import NonFiniteLossError
from ebkit.runs.callbacks import InterruptAtStepEnd, StopRequested

if TYPE_CHECKING:
    import torch

    from ebkit.runs.distributed import Parallel

__all__ = ["AgreedInterrupt", "AverageLoggedMetrics", "AverageMetric", "AverageNormStatistics"]


def _normalisation_statistics(trainer: Trainer) -> list[torch.Tensor]:
    from torch.nn.modules.batchnorm import _NormBase

    found = []
    for module in trainer.modules().values():
        for layer in module.modules():
            if isinstance(layer, _NormBase) and layer.track_running_stats:
                found += [t for t in (layer.running_mean, layer.running_var) if t is not None]
    return found


class AverageNormStatistics(Callback):
    """After each step, set the running mean and variance of every normalisation layer to
    their average over the ranks (one all-reduce; nothing when there are none)."""

    def __init__(self, parallel: Parallel) -> None:
        self.parallel = parallel

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        import torch
        import torch.distributed as dist

        statistics = _normalisation_statistics(trainer)
        if not statistics:
            return
        flat = torch.cat([t.reshape(-1).float() for t in statistics])
        dist.all_reduce(flat)
        flat /= self.parallel.world_size
        offset = 0
        for tensor in statistics:
            size = tensor.numel()
            tensor.copy_(flat[offset : offset + size].view_as(tensor))
            offset += size


class AverageLoggedMetrics(Callback):
    """At logged steps (every ``every``-th and the last), replace each metric by its mean
    over the ranks, after checking on every rank that no loss went non-finite: a
    non-finite loss on any rank stops all of them there."""

    def __init__(self, parallel: Parallel, every: int) -> None:
        self.parallel = parallel
        self.every = every

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        if trainer.step % self.every and trainer.step != trainer.settings.steps:
            return
        import torch
        import torch.distributed as dist

        failure: NonFiniteLossError | None = None
        try:
            trainer.check_finite()
        except NonFiniteLossError as error:
            failure = error
        values = metrics_to_floats(metrics) if failure is None else {}
        names = sorted(values)
        failed = torch.tensor([float(failure is not None)])
        dist.all_reduce(failed, group=self.parallel.control)
        if failure is not None:
            raise failure
        if failed.item() > 0:
            raise NonFiniteLossError(
                f"step {trainer.step}: another rank's loss went NaN or infinite (its message "
                "is above); all ranks stopped"
            )
        flat = torch.tensor([values[name] for name in names], dtype=torch.float64)
        dist.all_reduce(flat, group=self.parallel.control)
        for name, total in zip(names, flat.tolist(), strict=False):
            metrics[name] = total / self.parallel.world_size


class AverageMetric(Callback):
    """Replace the metric ``name`` by its mean over the ranks at every step, so a
    schedule that reads it (:class:`ebkit.runs.schedules.LRHalving`) decides the same on
    every rank."""

    def __init__(self, parallel: Parallel, name: str) -> None:
        self.parallel = parallel
        self.name = name

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        import torch
        import torch.distributed as dist

        if self.name not in metrics:
            return  # the schedule reports the missing metric itself
        value = torch.tensor([float(metrics[self.name])], dtype=torch.float64)
        dist.all_reduce(value, group=self.parallel.control)
        metrics[self.name] = value.item() / self.parallel.world_size


class AgreedInterrupt(InterruptAtStepEnd):
    """:class:`InterruptAtStepEnd` for several ranks: at each step's end the ranks learn
    whether any of them was asked to stop (one all-reduce of a flag), so all of them stop
    after the same step and save one checkpoint together."""

    def __init__(self, parallel: Parallel) -> None:
        super().__init__()
        self.parallel = parallel

    def on_step_end(self, trainer: Trainer, metrics: Metrics) -> None:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([self.requested or 0])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.parallel.control)
        if int(flag):
            self.restore()
            raise StopRequested(int(flag))
