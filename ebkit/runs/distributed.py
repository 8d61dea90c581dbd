"""Data-parallel training: one model trained by N processes ("ranks") with PyTorch's own
``torch.distributed``, launched by ``torchrun`` (or ``ebkit train --nproc N``).

The rules a run follows (``docs/scaling.md`` shows the commands):

- **Batches.** ``--batch-size`` is per rank; the global batch is ``batch × world size``.
  Every rank draws the same global batch from one data generator seeded with the run's
  seed and keeps its own slice (:class:`RankShard`): slices never overlap within an
  epoch, and N ranks see exactly the data one process would at the global batch.
- **Randomness.** Each rank has its own sampler generator and module RNG, seeded from
  (seed, rank) (:func:`rank_seed`); rank 0's are those of a one-process run.
- **Gradients.** The energy and a trainable sampler are each wrapped in
  ``DistributedDataParallel``, which averages their gradients over the ranks. The
  energy's gradients are averaged on its calls with inputs that need no gradient (the
  energy's step on data and detached samples); its calls on samples that carry a
  gradient (the sampler's step, MCMC chains) run unwrapped, since the sampler's
  optimiser never reads the energy's gradients.
- **BatchNorm.** The energy meets data and samples in two calls before one backward, so
  DDP's per-call buffer broadcast (an in-place write into tensors autograd saved) is off;
  instead the ranks average the running statistics of every normalisation layer after
  each step, so all ranks and the checkpoint hold the same.
- **Agreement.** Loss state driven by batch statistics uses the global batch
  (:func:`ebkit.all_reduce_mean`, e.g. BEGAN's k_t); logged metrics are averaged over
  the ranks; a stop (SIGTERM, Ctrl-C) or a non-finite loss on any rank stops every rank
  at the same step (:mod:`ebkit.runs.rank_agreement`).
- **Files.** Rank 0 alone writes metrics, pictures and the shared checkpoint; every
  other rank writes its own checkpoint file (:mod:`ebkit.runs.rank_checkpoints`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Callable, Mapping, Sized
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ebkit.core.engine import Trainer
from ebkit.core.errors import EbkitError, UsageError
from ebkit.core.hardware import ModuleRNG
from ebkit.core.interfaces import DataBatch, Dataset

if TYPE_CHECKING:
    import torch

__all__ = [
    "Parallel",
    "RankShard",
    "describe",
    "join_ranks",
    "make_data_parallel",
    "mark_finished",
    "on_main",
    "rank_seed",
    "requested_world_size",
    "saved_world_size",
    "setup",
    "shard_for_rank",
]

T = TypeVar("T")

TIMEOUT_VARIABLE = "EBKIT_COLLECTIVE_TIMEOUT"
"""Seconds a rank waits in a collective for the others before it fails (default
:data:`DEFAULT_TIMEOUT`): a rank that hangs stops the job instead of blocking it."""

DEFAULT_TIMEOUT = 600

RANK_SEED_STRIDE = 1_000_003
"""Rank r's generators are seeded from seed + r·1000003 (a prime, far from the +1 and +2
the trainer adds for its streams; torch's CPU generator keeps only a seed's lower 32
bits, so the stride must not be a multiple of 2³²)."""


@dataclass(frozen=True)
class Parallel:
    """This process's place in a data-parallel run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    control: Any
    """The process group of host-side agreement (gloo, CPU tensors): stop flags, metrics."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier(group=self.control)


_current: Parallel | None = None


def requested_world_size() -> int:
    """The world size torchrun announced (``WORLD_SIZE``), 1 outside torchrun."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        raise UsageError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a whole number (torchrun sets it)"
        ) from None


def collective_timeout() -> float:
    text = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise UsageError(f"{TIMEOUT_VARIABLE}={text!r}: accepted: a positive number of seconds")
    return seconds


def setup(device: torch.device) -> Parallel | None:
    """Join the process group that torchrun describes in the environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``...): NCCL for CUDA, gloo for the CPU. ``None`` in one
    process (a world of 1 trains exactly like a plain run)."""
    global _current
    if _current is not None:
        return _current
    world_size = requested_world_size()
    if world_size == 1:
        return None
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    timeout = timedelta(seconds=collective_timeout())
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout)
        atexit.register(_leave_process_group)
    control = dist.group.WORLD if backend == "gloo" else dist.new_group(backend="gloo")
    _current = Parallel(dist.get_rank(), dist.get_world_size(), local_rank, backend, control)
    return _current


_finished = False


def mark_finished() -> None:
    """Note that this rank's work ended without an error: at exit it then waits for the
    other ranks before the process group is shut down (:func:`_leave_process_group`)."""
    global _finished
    _finished = True


def _leave_process_group() -> None:
    """Shut the process group down while the interpreter still runs: left to the
    interpreter's own teardown, its backend's threads were at times destroyed while
    still running ("terminate called without an active exception"), aborting a rank
    that had finished its work. A rank that finished waits for the others first: one
    that shut down and exited while another still tore its group down aborted that one
    the same way (3 of 16 two-rank runs on a 2-core machine; none of 48 with the wait).
    A rank that failed does not wait, so its launcher stops the job at once."""
    import torch.distributed as dist

    if dist.is_initialized():
        if _finished and _current is not None:
            # A rank that failed meanwhile ends the wait (with the collective timeout at
            # the latest); its launcher reports it.
            with contextlib.suppress(Exception):
                dist.barrier(group=_current.control)
        dist.destroy_process_group()


def join_ranks(device_name: str) -> Parallel | None:
    """:func:`setup` for the device a run's options name (before the trainer is built,
    so that CUDA runs build on their rank's device)."""
    if requested_world_size() == 1:
        return None
    from ebkit.runs.build import resolve_device

    return setup(resolve_device(device_name))


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own generators (rank 0: ``seed`` itself)."""
    return seed + rank * RANK_SEED_STRIDE


class RankShard(Dataset):
    """Rank ``rank``'s slice of the global batch drawn from ``dataset`` (see the module
    notes): ``sample(b, generator)`` draws ``b · world_size`` examples and keeps
    examples ``rank·b`` to ``(rank + 1)·b``. Its state is the dataset's (the same on
    every rank)."""

    def __init__(self, dataset: Dataset, rank: int, world_size: int) -> None:
        self.dataset = dataset
        self.spec = dataset.spec
        self.rank = rank
        self.world_size = world_size

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        batch = self.dataset.sample(batch_size * self.world_size, generator)
        part = slice(self.rank * batch_size, (self.rank + 1) * batch_size)
        return DataBatch(batch.x[part], None if batch.y is None else batch.y[part])

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)


class SizedRankShard(RankShard):
    """A :class:`RankShard` of a finite dataset, whose size it reports."""

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


def shard_for_rank(dataset: Dataset, batch_size: int, rank: int, world_size: int) -> Dataset:
    """Rank ``rank``'s view of ``dataset``: a streamed dataset
    (:class:`ebkit.core.streaming.Streamed`) reads its own share of every epoch
    (``configure(rank=, world_size=)``; its epoch seed is drawn from the data generator,
    the same on every rank); any other is sliced from the global batch (:class:`RankShard`)."""
    from ebkit.core.streaming import Streamed

    if isinstance(dataset, Streamed):
        dataset.configure(rank=rank, world_size=world_size)
        return dataset
    _check_global_batch(dataset, batch_size, world_size)
    shard = SizedRankShard if isinstance(dataset, Sized) else RankShard
    return shard(dataset, rank, world_size)


def _method_module(module: torch.nn.Module, method: str) -> torch.nn.Module:
    """A module whose forward is ``module.method`` (the class's), for DDP to wrap."""
    import torch

    unbound = getattr(type(module), method)

    class MethodCall(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, *args: Any) -> Any:
            return unbound(self.module, *args)

    return MethodCall()


def make_data_parallel(trainer: Trainer, parallel: Parallel) -> None:
    """Shard the data, seed rank ``parallel.rank``'s generators and wrap the energy and a
    trainable sampler in DistributedDataParallel (see the module notes). Called on every
    rank, before a checkpoint is restored (DDP broadcasts rank 0's state when it wraps)."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    components = trainer.components
    components.dataset = shard_for_rank(
        components.dataset, trainer.settings.batch_size, parallel.rank, parallel.world_size
    )
    if parallel.rank:
        seed = rank_seed(trainer.settings.seed, parallel.rank)
        trainer.sample_generator.manual_seed(seed + 1)
        trainer.module_rng = ModuleRNG(seed + 2, trainer.device)

    def wrap(module: torch.nn.Module, method: str) -> DistributedDataParallel:
        return DistributedDataParallel(
            _method_module(module, method), forward_sync_buffers=False, init_sync=True
        )

    energy = components.energy
    energy_ddp = wrap(energy, "evaluate")
    plain_evaluate = energy.evaluate

    def evaluate(x: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        if torch.is_grad_enabled() and not x.requires_grad:
            return energy_ddp(x, labels)
        return plain_evaluate(x, labels)

    energy.evaluate = evaluate  # type: ignore[method-assign]
    wrappers = [energy_ddp]
    sampler = components.sampler
    if sampler.trainable and any(p.requires_grad for p in sampler.parameters()):
        sampler_ddp = wrap(sampler, "training_samples")
        plain_training_samples = sampler.training_samples

        def training_samples(n: int, energy: Any, generator: Any, labels: Any = None) -> Any:
            if torch.is_grad_enabled():
                return sampler_ddp(n, energy, generator, labels)
            return plain_training_samples(n, energy, generator, labels)

        sampler.training_samples = training_samples  # type: ignore[method-assign]
        wrappers.append(sampler_ddp)
    trainer.data_parallel = wrappers  # type: ignore[attr-defined]


def _check_global_batch(dataset: object, batch_size: int, world_size: int) -> None:
    total = batch_size * world_size
    size = len(dataset) if isinstance(dataset, Sized) else None
    if size is not None and total > size:
        raise UsageError(
            f"--batch-size {batch_size} per rank × {world_size} ranks = a global batch of "
            f"{total}, more than the {size} training examples (accepted: at most "
            f"{size // world_size} per rank)"
        )


def on_main(parallel: Parallel | None, action: Callable[[], T]) -> T | None:
    """Run ``action`` on rank 0 alone (in one process: run it). An :class:`EbkitError`
    it raises is raised on every rank, so no rank waits for one that stopped; the
    other ranks return ``None`` once it is done."""
    if parallel is None:
        return action()
    import torch.distributed as dist

    result, failure, outcome = None, None, [None]
    if parallel.is_main:
        try:
            result = action()
        except EbkitError as error:
            failure = error
            outcome = [(type(error), str(error))]
    dist.broadcast_object_list(outcome, src=0, group=parallel.control)
    if failure is not None:
        raise failure
    if outcome[0] is not None:
        kind, message = outcome[0]
        error = kind(message)
        error.shown_by_rank_0 = True  # one line for the whole job, from rank 0
        raise error
    return result


def describe(parallel: Parallel, batch_size: int) -> dict[str, Any]:
    """The ``distributed`` section of a data-parallel run's ``config.json``."""
    return {
        "world_size": parallel.world_size,
        "backend": parallel.backend,
        "batch_size_per_rank": batch_size,
        "global_batch_size": batch_size * parallel.world_size,
    }


def saved_world_size(config_json: Mapping[str, Any]) -> int:
    """The world size a run was trained with (1 for a one-process run)."""
    section = config_json.get("distributed") or {}
    return int(section.get("world_size", 1))
