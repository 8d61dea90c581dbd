"""The rules of data-parallel runs that need no second process: how ranks share the
data, seed their generators and hear the launcher's arguments; the helpers plugins use
are the identity in one process."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ebkit import all_reduce_mean, is_main_process, process_rank, world_size
from ebkit.cli.launch import without_nproc
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import DataSpec
from ebkit.runs.distributed import (
    RankShard,
    SizedRankShard,
    on_main,
    rank_seed,
    requested_world_size,
    saved_world_size,
    shard_for_rank,
)
from ebkit.runs.rank_checkpoints import rank_paths


def _numbers(n: int) -> TensorDataset:
    x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    return TensorDataset(x, None, DataSpec(event_shape=(1,), low=0.0, high=float(n)))


def test_the_ranks_slices_tile_the_global_batch_without_overlap_within_an_epoch() -> None:
    world, per_rank, n = 3, 4, 36  # 3 global batches of 12 per epoch
    whole = _numbers(n)
    shards = [SizedRankShard(_numbers(n), rank, world) for rank in range(world)]
    generators = [torch.Generator().manual_seed(5) for _ in range(world + 1)]
    seen: list[float] = []
    for _ in range(3):  # one epoch
        parts = [shard.sample(per_rank, generators[r]).x for r, shard in enumerate(shards)]
        global_batch = whole.sample(per_rank * world, generators[world]).x
        assert torch.equal(torch.cat(parts), global_batch)  # one process at the global batch
        seen += torch.cat(parts).flatten().tolist()
    assert sorted(seen) == [float(i) for i in range(n)]  # each example on exactly one rank
    assert len(shards[0]) == n and not hasattr(RankShard, "__len__")
    assert shards[1].state_dict()["position"] == n


def test_rank_seeds_start_distinct_streams_and_rank_0_keeps_the_run_seed() -> None:
    assert rank_seed(7, 0) == 7
    firsts = {
        torch.randint(
            1 << 30, (1,), generator=torch.Generator().manual_seed(rank_seed(7, r))
        ).item()
        for r in range(8)
    }
    assert len(firsts) == 8  # torch keeps a seed's lower 32 bits: the stride avoids 2**32


def test_in_one_process_the_plugin_helpers_are_the_identity() -> None:
    value = torch.tensor([1.5, -2.0])
    assert all_reduce_mean(value) is value
    assert (world_size(), process_rank(), is_main_process()) == (1, 0, True)
    assert on_main(None, lambda: 42) == 42


def test_launcher_arguments_and_saved_world_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["train", "--nproc", "2", "--steps", "5", "--nproc=3", "--out", "r"]
    assert without_nproc(argv) == ["train", "--steps", "5", "--out", "r"]
    assert saved_world_size({}) == 1
    assert saved_world_size({"distributed": {"world_size": 4}}) == 4
    assert rank_paths(Path("run"), 300, 2)[0] == Path(
        "run/checkpoints/step-0000300.rank-2.safetensors"
    )
    monkeypatch.setenv("WORLD_SIZE", "x")
    with pytest.raises(UsageError, match="WORLD_SIZE='x' is not a whole number"):
        requested_world_size()


def test_nproc_under_torchrun_is_refused_in_one_line(
    ebkit_cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = ebkit_cli("train", "--nproc", "2", "--steps", "2")  # type: ignore[operator]
    assert result.exit_code == 2
    assert "under torchrun, set the number of processes with torchrun's --nproc-per-node" in (
        result.output
    )


def test_under_torchrun_every_rank_must_name_the_run_and_others_stay_quiet(
    ebkit_cli: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = ebkit_cli("train", "--energy", "mlp", "--sampler", "langevin", "--loss", "cd")  # type: ignore[operator]
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error (rank 0): --out is required under torchrun: every rank must name the same run"
    )
    monkeypatch.setenv("RANK", "1")  # rank 0 says it; the others exit quietly
    result = ebkit_cli("train", "--energy", "mlp", "--sampler", "langevin", "--loss", "cd")  # type: ignore[operator]
    assert (result.exit_code, result.output.strip()) == (2, "")


def test_a_streamed_dataset_reads_its_own_share_instead_of_a_slice(tmp_path: Path) -> None:
    import numpy as np

    from ebkit.builtins.datasets.npz import npz_dataset
    from ebkit.core.streaming import Streamed

    np.savez(
        tmp_path / "images.npz", x=np.repeat(np.arange(40, dtype=np.uint8), 64).reshape(40, 8, 8)
    )
    shares = []
    for rank in range(2):
        dataset = shard_for_rank(npz_dataset(tmp_path / "images.npz"), 4, rank, 2)
        assert isinstance(dataset, Streamed) and (dataset.rank, dataset.world_size) == (rank, 2)
        batches = [dataset.sample(4, torch.Generator().manual_seed(3)).x for _ in range(5)]
        shares.append({tuple(x.flatten().tolist()) for x in torch.cat(batches)})
    assert len(shares[0]) == len(shares[1]) == 20 and not shares[0] & shares[1]
    with pytest.raises(UsageError, match="global batch of 24"):
        shard_for_rank(_numbers(20), 8, 0, 3)
