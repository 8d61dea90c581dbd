"""Data files whose headers lie: the readers compare a header's claims with the file's
size before they allocate anything that large (a few bytes must never cost gigabytes)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from idx_files import idx_bytes, write_idx_files
from PIL import Image

from ebkit.builtins.datasets.image_folder import ImageFolder
from ebkit.builtins.datasets.mnist import MNIST
from ebkit.builtins.datasets.npz import NpzArrays
from ebkit.core.errors import UsageError

MAX_ALLOCATED = 50 * 2**20
"""Far below what any lying header here claims (gigabytes to terabytes)."""


def load_with_peak(load) -> tuple[pytest.ExceptionInfo[UsageError], int]:
    """Run ``load`` (which must raise UsageError); return the error and the peak of
    Python-tracked allocations."""
    tracemalloc.start()
    try:
        with pytest.raises(UsageError) as error:
            load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return error, peak


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_label_header_claiming_four_billion_labels_allocates_nothing(
    tmp_path: Path, gz: bool
) -> None:
    labels = idx_bytes(2049, (0xFFFFFFFF,), bytes(10))  # 18 bytes claiming 4.3 GB
    write_idx_files(tmp_path, idx_bytes(2051, (10, 1, 1), bytes(10)), labels, gz=gz)
    error, peak = load_with_peak(lambda: MNIST(tmp_path))
    assert "train-labels-idx1-ubyte" in str(error.value) and "4294967295" in str(error.value)
    assert "\n" not in str(error.value)
    assert peak < MAX_ALLOCATED


@pytest.mark.parametrize("gz", [False, True])
def test_an_idx_image_header_claiming_65535_squared_pixels_is_one_line(
    tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = idx_bytes(2051, (1, 65535, 65535), bytes(2))
    write_idx_files(tmp_path, images, idx_bytes(2049, (1,), bytes(1)), gz=gz)

    def no_allocation(*args: object, **kwargs: object) -> None:
        raise AssertionError("the image tensor was allocated before the header was checked")

    monkeypatch.setattr("ebkit.builtins.datasets.mnist.torch.zeros", no_allocation)
    with pytest.raises(UsageError) as error:
        MNIST(tmp_path)
    assert "train-images-idx3-ubyte" in str(error.value)
    assert str(65535 * 65535) in str(error.value)


def npz_with_header(shape: tuple[int, ...], payload: bytes, key: str = "x") -> bytes:
    """An .npz whose member ``key`` has a valid .npy header for float64 ``shape`` but
    only ``payload`` after it."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    member = header.getvalue() + payload  # the header starts with the .npy magic
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{key}.npy", member)
    return buffer.getvalue()


def test_an_npz_header_claiming_a_trillion_rows_is_one_line(tmp_path: Path) -> None:
    file = tmp_path / "bomb.npz"
    file.write_bytes(npz_with_header((10**12, 2), bytes(16)))
    error, peak = load_with_peak(lambda: NpzArrays(file))
    message = str(error.value)
    assert "bomb.npz" in message and "(1000000000000, 2)" in message and "\n" not in message
    assert peak < MAX_ALLOCATED


def test_an_honest_npz_written_by_hand_still_loads(tmp_path: Path) -> None:
    file = tmp_path / "fine.npz"
    values = np.linspace(-1, 1, 8).reshape(4, 2)
    file.write_bytes(npz_with_header((4, 2), values.astype("<f8").tobytes()))
    assert NpzArrays(file).x.shape == (4, 2)


def test_an_image_above_pillows_warning_size_is_refused_before_decoding(tmp_path: Path) -> None:
    # 10000 x 10000 pixels: above Pillow's 89-megapixel warning, below its error.
    image = tmp_path / "huge.png"
    Image.new("L", (10000, 10000)).save(image)
    assert image.stat().st_size < 1_000_000
    with pytest.raises(UsageError) as error:
        ImageFolder(tmp_path, size=8)
    assert "huge.png" in str(error.value) and "\n" not in str(error.value)
