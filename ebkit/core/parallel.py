"""What components need to know about data-parallel training: which process they run in
and how to agree with the others.

A run launched by ``torchrun`` (or ``ebkit train --nproc N``) trains one model in N
processes ("ranks"), each on its own share of every batch (see
:mod:`ebkit.runs.distributed`). Gradients are averaged by DistributedDataParallel, so
parameters agree on every rank by construction; state that a component updates from
the batch itself does not. A loss whose state is driven by batch statistics (BEGAN's
control variable k_t, Berthelot et al. 2017, §3.4) must update it from the statistics of
the global batch, averaged over the ranks, or each rank would steer its own k_t::

    from ebkit import all_reduce_mean

    means = all_reduce_mean(torch.stack([real_loss, fake_loss]))  # the same on every rank

In one process these helpers are the identity (and import no torch.distributed code
path), so components stay bit-identical there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["all_reduce_mean", "is_main_process", "process_rank", "world_size"]


def _group_initialised() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """How many processes train the run (1 without torch.distributed)."""
    if not _group_initialised():
        return 1
    import torch.distributed as dist

    return dist.get_world_size()


def process_rank() -> int:
    """This process's rank, 0 to :func:`world_size` − 1 (0 in one process)."""
    if not _group_initialised():
        return 0
    import torch.distributed as dist

    return dist.get_rank()


def is_main_process() -> bool:
    """Whether this process is rank 0, the one that writes the run's files."""
    return process_rank() == 0


def all_reduce_mean(tensor: Tensor) -> Tensor:
    """The mean of ``tensor`` over all ranks, as a new tensor on every rank (``tensor``
    itself is left alone). Every rank must call it at the same point with a tensor of
    the same shape and dtype. In one process it returns ``tensor`` unchanged."""
    if world_size() == 1:
        return tensor
    import torch.distributed as dist

    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / dist.get_world_size()
