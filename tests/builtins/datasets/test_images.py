"""Tests for the folder and npz datasets and the batch assembly of decoded images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_checks import assert_one_line
from PIL import Image

from ebkit.builtins.datasets.image_folder import ImageFolder, pixel_batch
from ebkit.builtins.datasets.npz import NpzArrays
from ebkit.core.errors import UsageError
from ebkit.core.streaming import StreamingDataset

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
