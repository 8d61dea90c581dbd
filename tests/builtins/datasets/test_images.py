"""Tests for the file-backed datasets: mnist, folder and npz."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ebkit.builtins.datasets.image_folder import ImageFolder, pixel_batch
from ebkit.builtins.datasets.mnist import MNIST, mnist_dataset
from ebkit.builtins.datasets.npz import NpzArrays, npz_dataset
from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.streaming import StreamingDataset
from ebkit.plugin.manager import get_plugin_manager

REPO_ROOT = Path(__file__).resolve().parents[3]
# The real MNIST test set lives in the shared folder beside the checkout.
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"

needs_mnist = pytest.mark.skipif(
    not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"the real MNIST test set is not at {SHARED_MNIST}",
)


def assert_one_line(error: pytest.ExceptionInfo[UsageError], *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


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


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


def write_idx_set(
    directory: Path,
    prefix: str = "train",
    *,
    n: int = 5,
    n_labels: int | None = None,
    gz: bool = False,
    image_magic: int = 2051,
    label_magic: int = 2049,
    cut_images: int = 0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Write ``n`` random 28×28 images and their labels as IDX files; return them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels, dtype=np.uint8)
    payloads = {
        f"{prefix}-images-idx3-ubyte": idx_bytes(image_magic, (n, 28, 28), images.tobytes()),
        f"{prefix}-labels-idx1-ubyte": idx_bytes(label_magic, (len(labels),), labels.tobytes()),
    }
    for name, data in payloads.items():
        if cut_images and "images" in name:
            data = data[:-cut_images]
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return images, labels


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
# Image folder


def make_image_tree(root: Path) -> None:
    """cats/: two RGB images of different sizes; dogs/: a grayscale one and a JPEG."""
    (root / "cats").mkdir(parents=True)
    (root / "dogs" / "nested").mkdir(parents=True)
    red = Image.new("RGB", (40, 20), (255, 0, 0))
    red.paste((0, 0, 255), (0, 0, 10, 20))  # a blue strip that the centre crop removes
    red.save(root / "cats" / "a.png")
    Image.new("RGB", (8, 8), (0, 255, 0)).save(root / "cats" / "b.PNG")
    Image.new("L", (16, 16), 0).save(root / "dogs" / "c.bmp")
    Image.new("RGB", (32, 32), (255, 255, 255)).save(root / "dogs" / "nested" / "d.jpg")
    (root / "dogs" / "notes.txt").write_text("not an image")
    (root / "dogs" / ".hidden.png").write_bytes(b"resource fork junk")


def test_folder_reads_all_images_sorted_resized_and_scaled(tmp_path: Path) -> None:
    make_image_tree(tmp_path)
    folder = ImageFolder(tmp_path, size=4)
    assert isinstance(folder, StreamingDataset)  # nothing decoded but the first image
    assert [file.name for file in folder.files] == ["a.png", "b.PNG", "c.bmp", "d.jpg"]
    data = folder.in_memory(10)
    assert data.x.shape == (4, 3, 4, 4) and data.spec.event_shape == (3, 4, 4)
    assert data.y is None and data.spec.num_classes is None
    assert data.x.min() >= -1.0 and data.x.max() <= 1.0
    # Centre crop of the 40×20 image keeps only red; pure red is (1, −1, −1).
    assert torch.allclose(data.x[0], torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1))
    assert torch.allclose(data.x[1], torch.tensor([-1.0, 1.0, -1.0]).view(3, 1, 1))
    assert (data.x[2] == -1.0).all()  # black grayscale, repeated over RGB
    assert data.x[3].min() > 0.95  # white JPEG, up to compression error


def test_folder_grayscale_and_labels(tmp_path: Path) -> None:
    make_image_tree(tmp_path)
    folder = ImageFolder(tmp_path, size=6, channels=1, labels=True)
    data = folder.in_memory(10)
    assert data.x.shape == (4, 1, 6, 6)
    assert folder.classes == ["cats", "dogs"] and data.spec.num_classes == 2
    assert data.y is not None and data.y.tolist() == [0, 0, 1, 1]
    red_luma = 0.299 * 255 / 127.5 - 1  # ITU-R 601, Pillow's "L" conversion
    assert abs(float(data.x[0].mean()) - red_luma) < 0.01
    batch = folder.sample(2, torch.Generator().manual_seed(0))
    assert batch.x.shape == (2, 1, 6, 6) and batch.y is not None
    assert batch.x.dtype == torch.float32 and batch.x.min() >= -1.0


def test_folder_labels_need_class_subfolders(tmp_path: Path) -> None:
    make_image_tree(tmp_path)
    Image.new("L", (4, 4)).save(tmp_path / "loose.png")
    assert len(ImageFolder(tmp_path)) == 5
    with pytest.raises(UsageError) as error:
        ImageFolder(tmp_path, labels=True)
    assert_one_line(error, "loose.png", "class sub-folder")


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.txt").write_text("no images here")
    with pytest.raises(UsageError) as error:
        ImageFolder(tmp_path)
    assert_one_line(error, f"no images found under {tmp_path}", ".png", ".webp")


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    make_image_tree(tmp_path)
    broken = tmp_path / "cats" / "broken.png"  # sorted second: found when it is read
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    folder = ImageFolder(tmp_path)
    with pytest.raises(UsageError) as error:
        folder.in_memory(10)
    assert_one_line(error, f"cannot read image {broken}")
    # From a worker process too: one line, not the worker's traceback.
    folder.configure(workers=1)
    with pytest.raises(UsageError) as error:
        folder.sample(5, torch.Generator().manual_seed(0))
    assert_one_line(error, f"cannot read image {broken}")


def test_a_folder_whose_first_image_is_corrupt_is_refused_when_built(tmp_path: Path) -> None:
    make_image_tree(tmp_path)
    broken = tmp_path / "cats" / "0.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(UsageError) as error:
        ImageFolder(tmp_path)
    assert_one_line(error, f"cannot read image {broken}")


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    image = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)).save(image)
    image.write_bytes(image.read_bytes()[:300])
    with pytest.raises(UsageError) as error:
        ImageFolder(tmp_path)
    assert_one_line(error, f"cannot read image {image}")


def test_folder_bad_arguments(tmp_path: Path) -> None:
    make_image_tree(tmp_path)
    with pytest.raises(UsageError, match="needs --data-path DIR"):
        ImageFolder(None)
    with pytest.raises(UsageError, match=r"data.channels: 2 must be 1 \(grayscale\) or 3"):
        ImageFolder(tmp_path, channels=2)
    with pytest.raises(UsageError, match="is not a directory"):
        ImageFolder(tmp_path / "cats" / "a.png")


# --------------------------------------------------------------------------------------
# npz


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("shape", "event_shape"),
    [
        ((6, 5), (5,)),
        ((6, 4, 5), (1, 4, 5)),
        ((6, 1, 4, 5), (1, 4, 5)),
        ((6, 3, 4, 5), (3, 4, 5)),
        ((6, 4, 5, 1), (1, 4, 5)),
    ],
)
def test_npz_shape_conventions(tmp_path: Path, shape: tuple[int, ...], event_shape: tuple) -> None:
    values = np.linspace(-0.5, 0.5, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    data = NpzArrays(save_npz(tmp_path / "a.npz", x=values))
    assert data.spec.event_shape == event_shape and data.x.shape == (6, *event_shape)
    assert data.x.dtype == torch.float32
    # Within [-1, 1] already: auto keeps the values.
    assert torch.equal(data.x.reshape(-1).sort().values, torch.from_numpy(values).reshape(-1))


def test_npz_channels_last_is_transposed(tmp_path: Path) -> None:
    hwc = np.random.default_rng(0).random((2, 4, 5, 3)).astype(np.float32)
    data = NpzArrays(save_npz(tmp_path / "a.npz", x=hwc))
    assert data.spec.event_shape == (3, 4, 5)
    assert torch.equal(data.x, torch.from_numpy(hwc).permute(0, 3, 1, 2))


def test_npz_uint8_maps_0_255_onto_minus_one_one(tmp_path: Path) -> None:
    pixels = np.array([[[0, 255], [51, 204]]] * 3, dtype=np.uint8)  # (3, 2, 2)
    data = NpzArrays(save_npz(tmp_path / "a.npz", x=pixels))
    assert (data.spec.low, data.spec.high) == (-1.0, 1.0)
    expected = torch.tensor([[-1.0, 1.0], [-0.6, 0.6]])
    assert torch.allclose(data.x[0, 0], expected, atol=1e-6)


def test_npz_scale_minmax_none_and_auto_out_of_range(tmp_path: Path) -> None:
    values = np.array([[2.0, 4.0], [6.0, 10.0]])  # float64, outside [-1, 1]
    file = save_npz(tmp_path / "a.npz", x=values)
    auto = NpzArrays(file)
    minmax = NpzArrays(file, scale="minmax")
    assert torch.allclose(auto.x, torch.tensor([[-1.0, -0.5], [0.0, 1.0]]))
    assert torch.equal(auto.x, minmax.x) and (auto.spec.low, auto.spec.high) == (-1.0, 1.0)
    kept = NpzArrays(file, scale="none")
    assert torch.equal(kept.x, torch.tensor(values, dtype=torch.float32))
    assert (kept.spec.low, kept.spec.high) == (2.0, 10.0)


def test_npz_labels_are_used_when_present(tmp_path: Path) -> None:
    x = np.zeros((4, 3), np.float32)
    data = NpzArrays(save_npz(tmp_path / "a.npz", x=x, y=np.array([0, 2, 1, 2])))
    assert data.y is not None and data.y.tolist() == [0, 2, 1, 2]
    assert data.y.dtype == torch.int64 and data.spec.num_classes == 3
    custom = NpzArrays(save_npz(tmp_path / "b.npz", samples=x, t=np.arange(4)), key="samples")
    assert custom.y is None
    assert NpzArrays(tmp_path / "b.npz", key="samples", label_key="t").spec.num_classes == 4


def test_npz_missing_key_names_the_available_arrays(tmp_path: Path) -> None:
    file = save_npz(tmp_path / "a.npz", images=np.zeros((2, 3)), labels=np.zeros(2))
    with pytest.raises(UsageError) as error:
        NpzArrays(file)
    assert_one_line(error, "no array 'x'", "'images'", "'labels'")


def test_npz_mismatched_labels(tmp_path: Path) -> None:
    file = save_npz(tmp_path / "a.npz", x=np.zeros((4, 3)), y=np.arange(3))
    with pytest.raises(UsageError) as error:
        NpzArrays(file)
    assert_one_line(error, "'y'", "4 samples")


@pytest.mark.parametrize("content", [b"just some text", b""])
def test_non_npz_file(tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "data.npz"
    file.write_bytes(content)
    with pytest.raises(UsageError) as error:
        NpzArrays(file)
    assert_one_line(error, str(file), "not an .npz file")


def test_npz_rejects_bad_shapes_values_and_paths(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"shape \(4, 2, 2, 2\); expected"):
        NpzArrays(save_npz(tmp_path / "a.npz", x=np.zeros((4, 2, 2, 2))))
    with pytest.raises(UsageError, match="NaN or infinite"):
        NpzArrays(save_npz(tmp_path / "b.npz", x=np.array([[0.0, np.nan]])))
    with pytest.raises(UsageError, match="holds no samples"):
        NpzArrays(save_npz(tmp_path / "c.npz", x=np.zeros((0, 3))))
    with pytest.raises(UsageError, match=r"needs --data-path FILE\.npz"):
        NpzArrays(None)


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


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EBKIT_DEBUG": ""}
    return subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_mnist
@pytest.mark.slow
def test_cli_trains_a_gan_on_real_mnist(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
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
    result = run_cli(
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


@pytest.mark.parametrize("channels", [1, 3])
def test_pixel_batch_turns_pillow_arrays_channels_first(channels: int) -> None:
    shape = (3, 3) if channels == 1 else (3, 3, 3)
    rows = [
        np.arange(27, dtype=np.uint8)[: np.prod(shape)].reshape(shape) + 100 * i for i in (0, 1)
    ]
    batch = pixel_batch(rows, 3, "L" if channels == 1 else "RGB")
    assert batch.shape == (2, channels, 3, 3) and batch.dtype == torch.uint8
    assert batch.is_contiguous()
    for i, row in enumerate(rows):
        expected = torch.from_numpy(row).reshape(3, 3, channels).permute(2, 0, 1)
        assert torch.equal(batch[i], expected)
