"""Tests for the mnist dataset: the real MNIST test set, IDX files written by the tests
(raw and gzipped, damaged ones), training on them from the command line, and how the
file-backed datasets are registered."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runs import ebkit
from dataset_checks import assert_one_line
from idx_files import write_idx_set

from ebkit.builtins.datasets.image_folder import ImageFolder
from ebkit.builtins.datasets.mnist import MNIST, mnist_dataset
from ebkit.builtins.datasets.npz import npz_dataset
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.plugin.manager import get_plugin_manager

REPO_ROOT = Path(__file__).resolve().parents[3]
# The real MNIST test set lives in the shared folder beside the checkout.
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"

needs_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test set is not at {SHARED_MNIST}",
)


# --------------------------------------------------------------------------------------
# MNIST on the real test set


@pytest.fixture(scope="module")
def mnist() -> MNIST:
    return MNIST(str(SHARED_MNIST))


def reference_images() -> np.ndarray:
    """An independent whole-file parse of the real t10k images."""
    data = gzip.decompress((SHARED_MNIST / "t10k-images-idx3-ubyte.gz").read_bytes())
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


@needs_mnist
def test_real_mnist_test_set_shape_range_and_spec(mnist: MNIST) -> None:
    assert isinstance(mnist, TensorDataset)
    assert len(mnist) == 10_000
    assert mnist.x.shape == (10_000, 1, 28, 28) and mnist.x.dtype == torch.float32
    assert mnist.x.min() == -1.0 and mnist.x.max() == 1.0
    assert mnist.spec.event_shape == (1, 28, 28)
    assert (mnist.spec.low, mnist.spec.high, mnist.spec.num_classes) == (-1.0, 1.0, 10)
    # auto picks the t10k files, the only ones in the shared folder.
    assert mnist.files[0].name == "t10k-images-idx3-ubyte.gz"


@needs_mnist
def test_real_mnist_pixels_match_an_independent_parse(mnist: MNIST) -> None:
    expected = torch.from_numpy(reference_images().astype(np.float32)) / 127.5 - 1
    assert torch.allclose(mnist.x[:, 0], expected, atol=1e-6)


@needs_mnist
def test_real_mnist_labels(mnist: MNIST) -> None:
    assert mnist.y is not None and mnist.y.dtype == torch.int64
    assert mnist.y[0] == 7  # the first test digit is a 7
    assert mnist.y[:5].tolist() == [7, 2, 1, 0, 4]
    counts = torch.bincount(mnist.y, minlength=10)
    assert len(counts) == 10
    assert counts.min() >= 850 and counts.max() <= 1150  # 892 fives ... 1135 ones
    # A digit is mostly background: the median pixel is −1.
    assert mnist.x[0].median() == -1.0


@needs_mnist
def test_real_mnist_padded_to_32_with_background_border(mnist: MNIST) -> None:
    padded = MNIST(str(SHARED_MNIST), pad=True, split="test")
    assert padded.x.shape == (10_000, 1, 32, 32) and padded.spec.event_shape == (1, 32, 32)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (padded.x[:, 0][:, border] == -1.0).all()
    assert torch.equal(padded.x[:, :, 2:30, 2:30], mnist.x)


@needs_mnist
def test_real_mnist_has_no_train_split() -> None:
    with pytest.raises(UsageError) as error:
        MNIST(str(SHARED_MNIST), split="train")
    assert_one_line(error, "train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]")


# --------------------------------------------------------------------------------------
# MNIST on small synthetic IDX files


@pytest.mark.parametrize("gz", [False, True])
def test_synthetic_idx_raw_and_gzip_round_trip(tmp_path: Path, gz: bool) -> None:
    images, labels = write_idx_set(tmp_path, gz=gz)
    data = MNIST(tmp_path)
    assert data.x.shape == (5, 1, 28, 28)
    expected = torch.from_numpy(images.astype(np.float32)).unsqueeze(1) / 127.5 - 1
    assert torch.allclose(data.x, expected, atol=1e-6)
    assert data.y is not None and data.y.tolist() == labels.tolist()


def test_gzip_is_detected_by_magic_bytes_without_the_suffix(tmp_path: Path) -> None:
    images, _ = write_idx_set(tmp_path, gz=True)
    for file in tmp_path.glob("*.gz"):
        file.rename(file.with_suffix(""))
    assert torch.equal(MNIST(tmp_path).x[0, 0], torch.from_numpy(images[0]).float() / 127.5 - 1)


def test_split_auto_prefers_train_and_test_selects_t10k(tmp_path: Path) -> None:
    write_idx_set(tmp_path, "train", n=4, seed=1)
    write_idx_set(tmp_path, "t10k", n=3, seed=2, gz=True)
    assert len(MNIST(tmp_path)) == 4
    assert len(MNIST(tmp_path, split="train")) == 4
    assert len(MNIST(tmp_path, split="test")) == 3


def test_sampling_is_seeded_and_labelled(tmp_path: Path) -> None:
    write_idx_set(tmp_path, n=20)
    first = MNIST(tmp_path).sample(8, torch.Generator().manual_seed(3))
    again = MNIST(tmp_path).sample(8, torch.Generator().manual_seed(3))
    assert first.x.shape == (8, 1, 28, 28) and first.y is not None
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)


def test_no_path_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as error:
        MNIST(None)
    assert_one_line(error, "dataset 'mnist' needs --data-path DIR", "train-images-idx3-ubyte")


def test_missing_files_are_listed(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, str(tmp_path), "train-images-idx3-ubyte[.gz]", "t10k-labels")
    write_idx_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, "lacks train-labels-idx1-ubyte[.gz]")
    assert "images" not in str(error.value)


def test_a_file_instead_of_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path / "train-images-idx3-ubyte")
    assert_one_line(error, "must be a directory")


@pytest.mark.parametrize(
    ("kwargs", "culprit", "fragment"),
    [
        ({"image_magic": 2049}, "train-images-idx3-ubyte", "magic number 2049"),
        ({"label_magic": 2051}, "train-labels-idx1-ubyte", "magic number 2051"),
        ({"n_labels": 4}, "train-images-idx3-ubyte", "5 images but"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_bad_headers_and_counts(
    tmp_path: Path, kwargs: dict[str, int], culprit: str, fragment: str, gz: bool
) -> None:
    write_idx_set(tmp_path, gz=gz, **kwargs)
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, culprit, fragment)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload_names_the_file_and_both_sizes(tmp_path: Path, gz: bool) -> None:
    write_idx_set(tmp_path, gz=gz, cut_images=100)
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    expected = 5 * 28 * 28
    assert_one_line(error, "train-images-idx3-ubyte", str(expected), str(expected - 100))


def test_trailing_bytes_are_reported(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    with (tmp_path / "train-labels-idx1-ubyte").open("ab") as handle:
        handle.write(b"\0\0\0")
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, "train-labels-idx1-ubyte", "5 bytes", "holds 8")


def test_truncated_gzip_stream_is_one_line(tmp_path: Path) -> None:
    write_idx_set(tmp_path, gz=True)
    file = tmp_path / "train-images-idx3-ubyte.gz"
    file.write_bytes(file.read_bytes()[:-200])
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, str(file), "truncated or corrupt")


def test_gz_suffix_on_a_file_that_is_not_gzip(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    file = tmp_path / "train-images-idx3-ubyte"
    file.rename(tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, "train-images-idx3-ubyte.gz", "truncated or corrupt")


def test_empty_file_is_too_short(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert_one_line(error, "train-images-idx3-ubyte", "too short")


# --------------------------------------------------------------------------------------
# Registration and the command line


def test_datasets_are_registered_with_typed_options() -> None:
    manager = get_plugin_manager()
    for name, factory in [("mnist", mnist_dataset), ("folder", ImageFolder), ("npz", npz_dataset)]:
        component = manager.lookup("dataset", name).component
        assert component.load_factory() is factory
    folder = manager.lookup("dataset", "folder").component
    assert folder.resolve_options({"size": "16"}, prefix="data") == {
        "size": 16,
        "channels": 3,
        "labels": False,
    }
    npz = manager.lookup("dataset", "npz").component
    with pytest.raises(UsageError, match="'log' is not one of"):
        npz.resolve_options({"scale": "log"}, prefix="data")


@needs_mnist
@pytest.mark.slow
def test_cli_trains_a_gan_on_real_mnist(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = ebkit(
        "train",
        "--energy",
        "mlp",
        "--sampler",
        "generator",
        "--loss",
        "gan",
        "--data",
        "mnist",
        "--data-path",
        str(SHARED_MNIST),
        "--steps",
        "20",
        "--out",
        str(out),
        "--quiet",
        # Narrow MLPs keep the test fast on a CPU.
        "-o",
        "energy.width=32",
        "-o",
        "sampler.width=32",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "config.json").is_file() and (out / "metrics.jsonl").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["path"] == str(SHARED_MNIST)


def test_cli_reports_a_bad_data_file_in_one_line(tmp_path: Path) -> None:
    write_idx_set(tmp_path, image_magic=1234)
    result = ebkit(
        "train",
        "--energy",
        "mlp",
        "--sampler",
        "generator",
        "--loss",
        "gan",
        "--data",
        "mnist",
        "--data-path",
        str(tmp_path),
        "--steps",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "magic number 1234" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
