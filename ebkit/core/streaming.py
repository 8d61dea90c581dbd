"""Datasets that stream: batches read from files as training asks for them, through
:class:`torch.utils.data.DataLoader` (optionally in worker processes).

A :class:`StreamingDataset` holds no samples. Its :class:`EpochOrder` says which sample
indices each batch of each epoch holds: a permutation derived from ``(seed, epoch)``, so
a checkpoint records four small integers (``seed``, ``epoch``, ``position``, ``size``)
instead of the order itself, and a resumed run reads exactly the batches an uninterrupted
one would have read. With ``(rank, world_size)`` each process of a multi-process run
takes a disjoint share of every epoch's permutation.

Images stay uint8 (a quarter of float32) from the file to the device: the batch is
moved first (from pinned memory on CUDA), then converted and scaled to [-1, 1] there.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataBatch, Dataset, DataSpec

__all__ = [
    "EpochOrder",
    "SampleSource",
    "Streamed",
    "StreamingDataset",
    "epoch_seed",
    "to_unit_range",
]


def epoch_seed(seed: int, epoch: int, *more: int) -> int:
    """The seed of epoch ``epoch``'s permutation (and of finer orders within it, named
    by ``more``): a hash of them, the same on every machine and Python version
    (``hash()`` of a tuple is not)."""
    text = ":".join(str(part) for part in (seed, epoch, *more))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class EpochOrder:
    """Which samples each epoch shows one process, in which order.

    Epoch ``e`` is ``torch.randperm(size)`` drawn from :func:`epoch_seed` ``(seed, e)``;
    process ``rank`` of ``world_size`` takes every ``world_size``-th entry from its
    ``rank``, cut to ``size // world_size`` so that every rank has as many samples (the
    shares of one epoch are disjoint and, with ``world_size`` = 1, the whole epoch).
    """

    def __init__(self, size: int, seed: int, *, rank: int = 0, world_size: int = 1) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of world size {world_size}: need 0 <= rank < size")
        if size < world_size:
            raise ValueError(f"{size} samples cannot be shared among {world_size} processes")
        self.size, self.seed, self.rank, self.world_size = size, seed, rank, world_size

    @property
    def per_rank(self) -> int:
        """Samples of each epoch that this process sees."""
        return self.size // self.world_size

    def indices(self, epoch: int) -> Tensor:
        """This process's share of epoch ``epoch``: ``(per_rank,)`` int64 indices."""
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        permutation = torch.randperm(self.size, generator=generator)
        return permutation[self.rank :: self.world_size][: self.per_rank]

    def batches(self, batch_size: int, epoch: int, position: int) -> Iterator[list[int]]:
        """Index batches from sample ``position`` of ``epoch`` on, for ever. Batches never
        straddle epochs: an epoch's last incomplete batch is dropped."""
        if batch_size > self.per_rank:
            raise ValueError(f"batch size {batch_size} exceeds the {self.per_rank} samples")
        while True:
            order = self.indices(epoch)
            while position + batch_size <= self.per_rank:
                yield order[position : position + batch_size].tolist()
                position += batch_size
            epoch, position = epoch + 1, 0


class SampleSource(ABC, torch.utils.data.Dataset):
    """Random access to the samples of a :class:`StreamingDataset`, as the DataLoader
    uses it: indexed by a list of sample indices, it returns the batch's images as
    ``(B, C, H, W)`` uint8 and its labels ``(B,)`` int64 (or ``None``).

    Sources are pickled into worker processes: keep file handles out of ``__init__``
    (open them on first use). A bad file is reported as a :class:`UsageError`, which
    reaches the training process as one line."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, indices: Sequence[int]) -> tuple[Tensor, Tensor | None]: ...

    def __getitem__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor | None] | str:
        try:
            return self.read(indices)
        except UsageError as error:
            # Returned, not raised: the DataLoader would re-raise it in the training
            # process wrapped in the worker's traceback, many lines long.
            return str(error)


def to_unit_range(x: Tensor) -> Tensor:
    """uint8 byte values as float32 in [-1, 1] (pixel / 127.5 − 1), on ``x``'s device."""
    return x.to(torch.float32).div_(127.5).sub_(1.0)


def _worker_start_method() -> str:
    """Workers start from a fresh server process (``forkserver``), not as forks of the
    training process: a fork would share its open files, among them the lock on the run
    directory, and hold it after the training process is killed until the workers notice
    (seconds later), refusing an immediate ``--resume``."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _keep(batch: Any) -> Any:
    """The DataLoader's collate function: sources return whole batches already."""
    return batch


class Streamed(Dataset):
    """What every streamed dataset shares: worker processes, the device batches are
    delivered to, the process's share ``(rank, world_size)`` of each epoch, and the seed
    of the epoch orders. :meth:`configure` sets them; :meth:`in_memory` reads samples
    at once for evaluation. Subclasses say in :meth:`check_share` how many processes
    their data can be shared among."""

    def __init__(self, spec: DataSpec) -> None:
        self.spec = spec
        self.workers = 0
        self.device = torch.device("cpu")
        self.rank, self.world_size = 0, 1
        self.seed: int | None = None
        self._batches: Iterator[Any] | None = None

    def configure(
        self,
        *,
        workers: int | None = None,
        device: torch.device | str | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        seed: int | None = None,
    ) -> None:
        """Change how batches are read (``workers``), where they go (``device``), and
        which share of each epoch this process takes (``rank`` of ``world_size``, with
        a ``seed`` that every rank passes alike). Where the batches come from next is
        unchanged by ``workers`` and ``device``."""
        if workers is not None:
            if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
                raise UsageError(f"--workers {workers!r}: must be an integer >= 0")
            self.workers = workers
        if device is not None:
            self.device = torch.device(device)
        rank = self.rank if rank is None else rank
        world_size = self.world_size if world_size is None else world_size
        try:
            self.check_share(rank, world_size)
        except ValueError as error:
            raise UsageError(str(error)) from None
        self.rank, self.world_size = rank, world_size
        if seed is not None:
            self.seed = seed
        self._batches = None  # dropping the iterator stops its worker processes

    @abstractmethod
    def check_share(self, rank: int, world_size: int) -> None:
        """Raise ValueError if this process cannot take share ``rank`` of ``world_size``."""

    @abstractmethod
    def in_memory(self, limit: int, generator: torch.Generator | None = None) -> TensorDataset:
        """Up to ``limit`` samples held at once (for evaluation and scoring)."""

    def loader(self, dataset: Any, sampler: Any = None, prefetch: int = 4) -> Iterator[Any]:
        """An iterator over ``dataset`` (whole batches, or whole shards) through a
        DataLoader with this dataset's workers and pinned memory on CUDA."""
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            sampler=sampler,
            num_workers=self.workers,
            collate_fn=_keep,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=prefetch if self.workers else None,
            multiprocessing_context=_worker_start_method() if self.workers else None,
            # Its own generator for the workers' base seed: the default draws from torch's
            # global RNG, which the trainer saves, so a resumed run would drift.
            generator=torch.Generator().manual_seed(0),
        )
        return iter(loader)

    def deliver(self, x: Tensor, y: Tensor | None) -> DataBatch:
        """A uint8 batch moved to the device, then converted there."""
        return DataBatch(to_unit_range(x.to(self.device, non_blocking=True)), y)


class StreamingDataset(Streamed):
    """A dataset read batch by batch from a :class:`SampleSource`.

    ``sample`` draws one integer seed from the run's data generator on the first batch
    (unless :meth:`configure` set one); from then on the batches follow
    :class:`EpochOrder` and the generator is not used.
    """

    def __init__(self, source: SampleSource, spec: DataSpec, *, workers: int = 0) -> None:
        if len(source) == 0:
            raise UsageError("the dataset is empty")
        super().__init__(spec)
        self.source = source
        self.epoch = 0
        self.position = 0
        self._batch_size = 0
        self._saved_order: Tensor | None = None
        """The rest of an epoch whose whole order a checkpoint of an earlier release
        holds (when ``folder`` was read into memory): served first, then epochs follow
        :class:`EpochOrder`."""
        self.configure(workers=workers)

    def __len__(self) -> int:
        """Samples per epoch of this process (all of them unless sharded)."""
        return len(self.source) // self.world_size

    def check_share(self, rank: int, world_size: int) -> None:
        EpochOrder(len(self.source), 0, rank=rank, world_size=world_size)

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} exceeds the {len(self)} samples")
        if self._saved_order is not None:
            return self._from_saved_order(batch_size)
        if self.seed is None:
            self.seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        if self._batches is None or batch_size != self._batch_size:
            self._open(batch_size)
        assert self._batches is not None
        batch = next(self._batches)
        if isinstance(batch, str):
            self._batches = None
            raise UsageError(batch)
        self.position += batch_size
        if self.position + batch_size > len(self):
            self.epoch, self.position = self.epoch + 1, 0
        return self.deliver(*batch)

    def in_memory(self, limit: int, generator: torch.Generator | None = None) -> TensorDataset:
        """Up to ``limit`` samples as an in-memory :class:`TensorDataset` (float32 in
        [-1, 1] on the CPU): all of them in stored order if there are no more, else a
        random subset drawn with ``generator``. For evaluation and scoring, which need
        the samples at once; training streams."""
        count = len(self.source)
        if count <= limit:
            chosen = list(range(count))
        else:
            chosen = sorted(torch.randperm(count, generator=generator)[:limit].tolist())
        chunks = [chosen[i : i + 512] for i in range(0, len(chosen), 512)]
        parts = [self._checked(self.source[chunk]) for chunk in chunks]
        x = torch.cat([to_unit_range(part[0]) for part in parts])
        labelled = [part[1] for part in parts if part[1] is not None]
        y = torch.cat(labelled) if len(labelled) == len(parts) else None
        return TensorDataset(x, y, self.spec)

    def _from_saved_order(self, batch_size: int) -> DataBatch:
        assert self._saved_order is not None
        chosen = self._saved_order[self.position : self.position + batch_size].tolist()
        x, y = self._checked(self.source[chosen])
        self.position += batch_size
        if self.position + batch_size > len(self._saved_order):
            self._saved_order, self.epoch, self.position = None, 1, 0
        return self.deliver(x, y)

    def state_dict(self) -> dict[str, Tensor | int | float | str]:
        if self._saved_order is not None:
            return {"order": self._saved_order.clone(), "position": self.position}
        if self.seed is None:
            return {}
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "position": self.position,
            "size": len(self.source),
        }

    def load_state_dict(self, state: dict[str, Tensor | int | float | str]) -> None:
        self._batches = None
        if not state:
            self.seed, self.epoch, self.position = None, 0, 0
            return
        self._saved_order = None
        if "order" in state:
            order = state["order"]
            if not isinstance(order, Tensor) or order.shape != (len(self.source),):
                raise ValueError("saved epoch order does not match this dataset's size")
            self.seed, self.epoch, self.position = None, 0, int(state["position"])
            self._saved_order = order.to(torch.int64)
            return
        if int(state["size"]) != len(self.source):
            raise ValueError(
                f"the checkpoint was saved with {int(state['size'])} samples, the data now "
                f"holds {len(self.source)}"
            )
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
        self.position = int(state["position"])

    def _open(self, batch_size: int) -> None:
        assert self.seed is not None
        order = EpochOrder(len(self.source), self.seed, rank=self.rank, world_size=self.world_size)
        self._batches = self.loader(
            self.source, order.batches(batch_size, self.epoch, self.position)
        )
        self._batch_size = batch_size

    @staticmethod
    def _checked(batch: Any) -> tuple[Tensor, Tensor | None]:
        if isinstance(batch, str):
            raise UsageError(batch)
        return batch
