"""The ``shards`` dataset: WebDataset-style tar shards streamed shard by shard, batches
independent of the worker count, disjoint shares per rank, resume exact to the sample,
and one line for every bad input."""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ebkit
from ebkit.builtins.datasets.shards import ImageShards
from ebkit.core.errors import UsageError


def write_shards(folder: Path, shards: int, per_shard: int, *, classes: int = 4) -> Path:
    """``shards`` tar files of ``per_shard`` random 6×6 RGB PNGs with a ``.cls`` each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for shard in range(shards):
        with tarfile.open(folder / f"train-{shard:04d}.tar", "w") as archive:
            for index in range(per_shard):
                key = f"{shard:04d}{index:04d}"
                png = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (6, 6, 3), np.uint8)).save(png, "PNG")
                label = str(int(rng.integers(0, classes))).encode()
                for suffix, content in (("png", png.getvalue()), ("cls", label)):
                    info = tarfile.TarInfo(f"{key}.{suffix}")
                    info.size = len(content)
                    archive.addfile(info, io.BytesIO(content))
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"), 4, 11)  # 44 samples


def batches(dataset: ImageShards, count: int, size: int = 8, seed: int = 3) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [dataset.sample(size, generator) for _ in range(count)]


def rows(batch_list: list) -> list[tuple]:
    return [tuple(row.flatten().tolist()) for batch in batch_list for row in batch.x]


def test_shards_deliver_every_sample_once_an_epoch_with_labels(shards: Path) -> None:
    dataset = ImageShards(shards, size=6, classes=4)
    assert dataset.spec.event_shape == (3, 6, 6) and dataset.spec.num_classes == 4
    whole = dataset.in_memory(1000)
    assert whole.x.shape == (44, 3, 6, 6) and whole.y is not None
    epoch = batches(dataset, 5)  # 40 of the epoch's 44 samples; 4 are dropped
    state = dataset.state_dict()
    assert (state["epoch"], state["shard"], state["offset"]) == (0, 3, 7)  # 4 samples left
    index = {row: i for i, row in enumerate(rows([whole]))}
    seen = [index[row] for row in rows(epoch)]
    assert len(set(seen)) == 40
    labels = torch.cat([batch.y for batch in epoch])
    assert torch.equal(labels, whole.y[seen])  # labels travel with their images
    batches(dataset, 1)  # too few left for a batch: the next comes from epoch 1
    assert dataset.state_dict()["epoch"] == 1


def test_batches_do_not_depend_on_the_worker_count(shards: Path) -> None:
    delivered = {}
    for workers in (0, 2):
        dataset = ImageShards(shards, size=6)
        dataset.configure(workers=workers)
        delivered[workers] = batches(dataset, 12)  # over two epochs
    assert rows(delivered[0]) == rows(delivered[2])


def test_resume_is_exact_to_the_sample(shards: Path) -> None:
    uninterrupted = batches(ImageShards(shards, size=6), 9, size=5)
    first = ImageShards(shards, size=6)
    before = batches(first, 4, size=5)  # 20 samples: mid-shard
    state = first.state_dict()
    assert state["offset"] not in (0, 11) and set(state) == {
        *("seed", "epoch", "shard", "offset", "shards")
    }
    resumed = ImageShards(shards, size=6)
    resumed.configure(workers=1)
    resumed.load_state_dict(state)
    after = batches(resumed, 5, size=5, seed=99)  # the generator is not used again
    assert rows(before + after) == rows(uninterrupted)
    with pytest.raises(ValueError, match="saved with 5 shards, the data now has 4"):
        resumed.load_state_dict({**state, "shards": 5})


def test_ranks_read_disjoint_shards(shards: Path) -> None:
    shares = []
    for rank in range(2):
        dataset = ImageShards(shards, size=6)
        dataset.configure(rank=rank, world_size=2, seed=7)
        shares.append(set(rows(batches(dataset, 2, size=11))))  # its two shards
    assert len(shares[0]) == len(shares[1]) == 22 and not shares[0] & shares[1]
    with pytest.raises(UsageError, match="4 shards cannot be shared among 5 processes"):
        ImageShards(shards, size=6).configure(rank=0, world_size=5)


def test_a_run_on_shards_trains_and_resumes_onto_the_same_weights(
    shards: Path, tmp_path: Path
) -> None:
    chosen = {"energy": "mlp", "sampler": "generator", "loss": "gan", "data": "shards"}
    options = {"data.size": 6, "energy.width": 8, "sampler.width": 8, "train.sample_every": 0}
    common = {**chosen, "data_path": shards, "batch_size": 8, "options": options}
    ebkit.train(**common, steps=14, out=tmp_path / "whole")
    ebkit.train(**common, steps=7, out=tmp_path / "halves")
    ebkit.resume(tmp_path / "halves", steps=14)
    expected = load_file(tmp_path / "whole" / "checkpoints" / "step-0000014.safetensors")
    actual = load_file(tmp_path / "halves" / "checkpoints" / "step-0000014.safetensors")
    assert [key for key in expected if not torch.equal(expected[key], actual[key])] == []


def one_line(error: pytest.ExceptionInfo[UsageError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_bad_shards_are_one_line(shards: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        ImageShards(tmp_path / "missing")
    one_line(error, "does not exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as error:
        ImageShards(tmp_path / "empty")
    one_line(error, "no shards (.tar, .tar.gz, .tgz, .tar.bz2, .tar.xz) found")
    garbage = write_shards(tmp_path / "garbage", 2, 3)
    (garbage / "train-0001.tar").write_bytes(b"not a tar archive at all" * 40)
    with pytest.raises(UsageError) as error:
        ImageShards(garbage, size=6)
    one_line(error, "cannot read shard", "train-0001.tar", "not a tar header at byte 0")
    with pytest.raises(UsageError) as error:
        ImageShards(shards, size=6, classes=2)  # a .cls of 2 or 3
    one_line(error, "outside 0..1 (data.classes=2)")


def test_a_shard_damaged_inside_stops_with_one_line(tmp_path: Path) -> None:
    folder = write_shards(tmp_path / "cut", 2, 6)
    damaged = folder / "train-0001.tar"
    damaged.write_bytes(damaged.read_bytes()[:2000])  # a valid start, then cut off
    dataset = ImageShards(folder, size=6)
    dataset.configure(workers=1)
    with pytest.raises(UsageError) as error:
        batches(dataset, 3, size=4)
    one_line(error, "train-0001.tar")


def test_compressed_shards_are_found_and_read_with_the_others(shards: Path, tmp_path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for index, source in enumerate(sorted(shards.glob("*.tar"))):
        data = source.read_bytes()
        suffix, packed = [(".tar", data), (".tar.gz", gzip.compress(data))][index % 2]
        (mixed / f"train-{index:04d}{suffix}").write_bytes(packed)
    (mixed / "notes.txt").write_text("not a shard")
    dataset = ImageShards(mixed, size=6, classes=4)
    assert [Path(shard).name for shard in dataset.shards] == [
        "train-0000.tar",
        "train-0001.tar.gz",
        "train-0002.tar",
        "train-0003.tar.gz",
    ]
    original = ImageShards(shards, size=6, classes=4).in_memory(1000)
    assert torch.equal(dataset.in_memory(1000).x, original.x)


def test_shards_need_no_webdataset(shards: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "webdataset", None)  # import raises ImportError
    assert len(ImageShards(shards, size=6).in_memory(1000)) == 44
