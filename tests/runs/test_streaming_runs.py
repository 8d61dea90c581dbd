"""Runs on streamed data: a generated image folder trains with worker processes in
bounded memory, a run killed with SIGKILL resumes onto exactly the batches of an
uninterrupted one, and bad input is one line before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ebkit
from ebkit.builtins.datasets.image_folder import ImageFolder

STEPS = 30
OPTIONS = [
    ("data.size", "8"),
    ("energy.width", "8"),
    ("sampler.width", "8"),
    ("train.checkpoint_every", "10"),
    ("train.sample_every", "0"),
]
ARGS = [
    "train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan", "--data", "folder",
    "--steps", str(STEPS), "--batch-size", "8", "--quiet",
    *[item for key, value in OPTIONS for item in ("-o", f"{key}={value}")],
]  # fmt: skip


def write_images(folder: Path, count: int, side: int, *, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(0, 256, (side, side + 2, 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:05d}.png", compress_level=0)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 44 images, batches of 8: 5 batches an epoch, 4 left over; 30 steps are 6 epochs.
    return write_images(tmp_path_factory.mktemp("data") / "images", 44, 10)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step-{STEPS:07d}.safetensors")


def test_a_killed_streaming_run_resumes_onto_the_uninterrupted_batches(
    folder: Path, tmp_path: Path, kill_after_checkpoint
) -> None:
    options = {key: value for key, value in OPTIONS}
    reference = tmp_path / "reference"
    ebkit.train(
        energy="mlp", sampler="generator", loss="gan", data="folder", data_path=folder,
        steps=STEPS, batch_size=8, options=options, out=reference,
    )  # fmt: skip
    killed = tmp_path / "killed"
    kill_after_checkpoint([*ARGS, "--data-path", str(folder), "--workers", "2"], killed, 10)
    assert not (killed / "checkpoints" / f"step-{STEPS:07d}.json").exists()
    resumed = ebkit.resume(killed, workers=1)  # how data is read may change, not what
    assert resumed.config.train.hardware.workers == 1

    expected, actual = weights(reference), weights(killed)
    assert [key for key in expected if not torch.equal(expected[key], actual[key])] == []
    assert (reference / "metrics.jsonl").read_text() == (killed / "metrics.jsonl").read_text()
    # The checkpoint holds the epoch position as integers, not the order.
    assert not [key for key in actual if key.startswith("data.")]


def resident_peak_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))


def test_a_folder_streams_in_bounded_memory_with_workers(tmp_path: Path) -> None:
    # 1000 RGB images of 32×32: 12 MB as float32, which the folder must never hold; what
    # it holds is the batches in flight (2 workers × 4 prefetched × 60 kB).
    images = write_images(tmp_path / "big", 1000, 32, seed=1)
    float_bytes = 1000 * 3 * 32 * 32 * 4
    warm_up = ImageFolder(write_images(tmp_path / "small", 20, 32), size=32)
    warm_up.configure(workers=2)
    warm_up.sample(20, torch.Generator())  # imports done, the worker server started
    del warm_up
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current size
    except OSError:
        pytest.skip("this kernel cannot reset the resident peak")
    before = resident_peak_kb()
    dataset = ImageFolder(images, size=32)
    dataset.configure(workers=2)
    generator = torch.Generator()
    delivered = sum(len(dataset.sample(20, generator).x) for _ in range(50))  # one epoch
    grown = (resident_peak_kb() - before) * 1024
    assert delivered == 1000
    assert grown < float_bytes / 4, f"resident peak grew by {grown / 1e6:.1f} MB"


@pytest.fixture
def run_cli(ebkit_plugins, ebkit_cli):
    ebkit_plugins()  # the built-ins only
    return ebkit_cli


def test_bad_input_is_one_line_and_writes_nothing(run_cli, folder: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images")
    cases = [
        (["--data-path", str(tmp_path / "missing")], "does not exist"),
        (["--data-path", str(empty)], f"no images found under {empty}"),
        (
            ["--data-path", str(folder), "--workers", "-1"],
            "train.workers: -1 is below the minimum 0",
        ),
    ]
    for extra, expected in cases:
        out = tmp_path / "run"
        result = run_cli(*ARGS, *extra, "--out", str(out))
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2, result.stderr
        assert len(lines) == 1 and expected in lines[0], lines
        assert not out.exists()
    with pytest.raises(ebkit.UsageError, match="workers"):
        ebkit.train(
            energy="mlp", sampler="generator", loss="gan", data="folder", data_path=folder,
            workers=-1, out=out,
        )  # fmt: skip
    assert not out.exists()
