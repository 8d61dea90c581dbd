"""Checkpoints of a data-parallel run (:mod:`ebkit.runs.distributed`).

Rank 0 writes the usual checkpoint (``checkpoints/step-NNNNNNN.safetensors`` + its JSON
sidecar), which holds the weights, optimiser moments and data order shared by every
rank, and rank 0's own generators and buffers. Each other rank r writes what is its
own: ``checkpoints/step-NNNNNNN.rank-r.safetensors`` (+ ``.json`` with its SHA-256),
holding its generators (``rng.*``) and the buffers of its modules, such as the chains
of a replay buffer, which stay rank-local. The other ranks write first; after a
barrier rank 0 writes the shared checkpoint, whose sidecar comes last, so a shared
checkpoint that looks complete always has its rank files.

To resume, every rank loads the shared checkpoint and then its own file; the ranks
agree on the newest step that every one of them can load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.core.errors import EbkitError
from ebkit.core.files import atomic_write, sha256_of, write_json
from ebkit.runs.callbacks import Checkpoints
from ebkit.runs.checkpoints import (
    CHECKPOINT_FORMAT,
    LoadedCheckpoint,
    checkpoint_paths,
    checkpoint_step,
    first_non_finite,
    newest_valid_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    trainer_state,
)
from ebkit.runs.directory import say

if TYPE_CHECKING:
    from torch import Tensor

    from ebkit.core.engine import Trainer
    from ebkit.runs.distributed import Parallel

__all__ = [
    "RankCheckpoints",
    "load_agreed_checkpoint",
    "rank_paths",
    "restore_rank_state",
    "save_rank_state",
]


def rank_paths(run_dir: Path, step: int, rank: int) -> tuple[Path, Path]:
    """The weights and sidecar of rank ``rank``'s file of step ``step``."""
    stem = run_dir / "checkpoints" / f"step-{step:07d}.rank-{rank}"
    return stem.parent / f"{stem.name}.safetensors", stem.parent / f"{stem.name}.json"


def rank_local_state(trainer: Trainer) -> dict[str, Tensor]:
    """The tensors of the trainer's state that may differ between ranks: its generators
    and the buffers of its modules."""
    tensors, _ = trainer_state(trainer)
    local = {key: value for key, value in tensors.items() if key.startswith("rng.")}
    for prefix, module in trainer.modules().items():
        for name, _ in module.named_buffers():
            key = f"{prefix}.{name}"
            if key in tensors:
                local[key] = tensors[key]
    return local


def save_rank_state(trainer: Trainer, run_dir: Path, rank: int, world_size: int) -> Path:
    """Write rank ``rank``'s file of the trainer's step; return its weights path."""
    from safetensors.torch import save_file

    trainer.check_finite()
    tensors = rank_local_state(trainer)
    weights, sidecar = rank_paths(run_dir, trainer.step, rank)
    weights.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp)))
    meta = {"format": CHECKPOINT_FORMAT, "step": trainer.step, "rank": rank}
    write_json(sidecar, {**meta, "world_size": world_size, "sha256": sha256_of(weights)})
    return weights


def restore_rank_state(trainer: Trainer, run_dir: Path, step: int, rank: int) -> None:
    """Load rank ``rank``'s file of step ``step`` into the trainer (after the shared
    checkpoint); a missing or damaged one is one line (:class:`EbkitError`)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, sidecar = rank_paths(run_dir, step, rank)
    try:
        meta = json.loads(sidecar.read_text())
        intact = meta.get("step") == step and meta.get("sha256") == sha256_of(weights)
        tensors = load_file(str(weights)) if intact else {}
    except (OSError, ValueError, AttributeError, SafetensorError) as error:
        problem = f"rank {rank}'s checkpoint file {weights} is unreadable ({error})"
        raise EbkitError(problem) from None
    if not intact or first_non_finite(tensors) is not None:
        raise EbkitError(f"rank {rank}'s checkpoint file {weights} is damaged")
    modules = trainer.modules()
    try:
        for key, value in tensors.items():
            if key == "rng.sample":
                trainer.sample_generator.set_state(value)
            elif key == "rng.modules":
                trainer.module_rng.cpu_state = value.clone()
            elif key == "rng.modules_cuda" and trainer.module_rng.cuda_state is not None:
                trainer.module_rng.cuda_state = value.clone()
            elif not key.startswith("rng."):
                prefix, name = _split_module_key(key, modules)
                modules[prefix].get_buffer(name).copy_(value)
    except (KeyError, RuntimeError, AttributeError) as error:
        raise EbkitError(
            f"rank {rank}'s checkpoint file {weights} does not match this run ({error})"
        ) from None


def _split_module_key(key: str, modules: dict[str, Any]) -> tuple[str, str]:
    for prefix in sorted(modules, key=len, reverse=True):
        if key.startswith(prefix + "."):
            return prefix, key[len(prefix) + 1 :]
    raise KeyError(key)


def remove_rank_files(run_dir: Path, step: int) -> None:
    for path in (run_dir / "checkpoints").glob(f"step-{step:07d}.rank-*"):
        path.unlink(missing_ok=True)


class RankCheckpoints(Checkpoints):
    """:class:`Checkpoints` on every rank of a data-parallel run: the other ranks write
    their files, then (after a barrier) rank 0 writes the shared checkpoint and prunes
    old ones with their rank files."""

    def __init__(self, run_dir: Path, every: int, keep: int, parallel: Parallel) -> None:
        super().__init__(run_dir, every, keep)
        self.parallel = parallel
        self.saved_step: int | None = None

    def save(self, trainer: Trainer) -> Path:
        weights, _ = checkpoint_paths(self.run_dir, trainer.step)
        if self.saved_step == trainer.step:
            return weights
        parallel = self.parallel
        if parallel.rank:
            save_rank_state(trainer, self.run_dir, parallel.rank, parallel.world_size)
        parallel.barrier()
        if parallel.is_main:
            self.last_saved = save_checkpoint(trainer, self.run_dir)
            for removed in prune_checkpoints(self.run_dir, self.keep):
                remove_rank_files(self.run_dir, checkpoint_step(removed) or 0)
        self.saved_step = trainer.step
        return weights


def load_agreed_checkpoint(
    trainer: Trainer,
    run_dir: Path,
    parallel: Parallel,
    restore: Callable[[dict[str, Tensor], dict[str, Any]], None],
) -> LoadedCheckpoint | None:
    """The newest checkpoint every rank can load (the shared one and its own file),
    restored into ``trainer`` on every rank; ``None`` when the run has none."""
    import torch.distributed as dist

    limit: int | None = None
    report = say if parallel.is_main else _quiet
    for _ in range(2):

        def accept(
            tensors: dict[str, Tensor], meta: dict[str, Any], limit: int | None = limit
        ) -> None:
            step = int(meta["step"])
            if limit is not None and step > limit:
                raise EbkitError(f"checkpoint of step {step}: another rank's file is unusable")
            restore(tensors, meta)
            if parallel.rank:
                restore_rank_state(trainer, run_dir, step, parallel.rank)

        problem = ""
        try:
            loaded = newest_valid_checkpoint(run_dir, accept=accept, report=report)
        except EbkitError as error:
            loaded, problem = None, f"rank {parallel.rank}: {error}"
        found: list[Any] = [None] * parallel.world_size
        step = -1 if loaded is None else loaded.step
        dist.all_gather_object(found, (step, problem), group=parallel.control)
        problems = [text for _, text in found if text]
        if problems:
            raise EbkitError(problems[0])
        steps = {step for step, _ in found}
        if len(steps) == 1:
            return loaded
        if min(steps) < 0:
            raise EbkitError(f"{run_dir}: some ranks find no usable checkpoint of their own")
        limit = min(steps)
    raise EbkitError(f"{run_dir}: the ranks cannot agree on a checkpoint to resume from")


def _quiet(text: str) -> None:
    pass
