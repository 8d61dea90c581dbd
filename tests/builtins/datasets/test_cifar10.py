"""Tests for the CIFAR-10 binary loader, on small files written in the same format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ebkit.builtins.datasets.byte_records import StreamedByteImages
from ebkit.builtins.datasets.cifar10 import CIFAR10, cifar10_dataset
from ebkit.core.errors import UsageError


def write_batch(path: Path, labels: list[int], seed: int = 0) -> np.ndarray:
    """Write records (label byte + 3072 pixel bytes); return the pixels (n, 3, 32, 32)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (len(labels), 3, 32, 32), np.uint8)
    records = np.concatenate(
        [np.asarray(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1
    )
    path.write_bytes(records.tobytes())
    return pixels


@pytest.fixture
def cifar_dir(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    pixels = [
        write_batch(tmp_path / f"data_batch_{index}.bin", [index % 10, 9, 0], seed=index)
        for index in range(1, 6)
    ]
    pixels.append(write_batch(tmp_path / "test_batch.bin", [3, 4], seed=9))
    return tmp_path, pixels


def test_reads_the_train_batches_in_order(cifar_dir) -> None:
    directory, pixels = cifar_dir
    data = CIFAR10(directory)
    assert data.x.shape == (15, 3, 32, 32) and data.x.dtype == torch.float32
    assert data.y.tolist() == [1, 9, 0, 2, 9, 0, 3, 9, 0, 4, 9, 0, 5, 9, 0]
    expected = torch.from_numpy(np.concatenate(pixels[:5]).astype(np.float32)) / 127.5 - 1
    torch.testing.assert_close(data.x, expected)
    assert data.spec.event_shape == (3, 32, 32) and data.spec.num_classes == 10


def test_channel_layout_is_red_then_green_then_blue(tmp_path: Path) -> None:
    record = np.zeros(3073, np.uint8)
    record[0] = 7
    record[1 : 1 + 1024] = 255  # red plane
    record[1 + 1024 + 33] = 255  # green pixel at row 1, column 1
    (tmp_path / "test_batch.bin").write_bytes(record.tobytes())
    data = CIFAR10(tmp_path, split="test")
    assert data.y.tolist() == [7]
    assert torch.all(data.x[0, 0] == 1.0)
    assert data.x[0, 1, 1, 1] == 1.0 and data.x[0, 1].sum() == 1.0 - 1023.0
    assert torch.all(data.x[0, 2] == -1.0)


def test_test_split_and_auto(cifar_dir) -> None:
    directory, _ = cifar_dir
    test = CIFAR10(directory, split="test")
    assert test.y.tolist() == [3, 4]
    (directory / "data_batch_1.bin").unlink()
    with pytest.raises(UsageError, match=r"lacks data_batch_1\.bin .*data\.partial=true"):
        CIFAR10(directory, split="train")
    assert len(CIFAR10(directory, split="train", partial=True)) == 12
    assert CIFAR10(directory).y.tolist() == [3, 4]  # auto: no data_batch_1.bin -> test


def test_a_size_that_is_not_whole_records_is_refused(tmp_path: Path) -> None:
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073 * 2 + 5))
    with pytest.raises(UsageError, match=r"6151 bytes, not a whole number of 3073-byte"):
        CIFAR10(tmp_path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(UsageError, match="holds 0 bytes"):
        CIFAR10(tmp_path)


def test_a_label_above_nine_is_refused(tmp_path: Path) -> None:
    write_batch(tmp_path / "test_batch.bin", [1, 2, 57])
    with pytest.raises(UsageError, match=r"record 2 has label 57.*CIFAR-100"):
        CIFAR10(tmp_path)


def test_the_pickled_version_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "data_batch_1").write_bytes(b"\x80\x02}q")
    with pytest.raises(UsageError, match="pickled Python version; download the binary"):
        CIFAR10(tmp_path)


def test_missing_path_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --data-path DIR"):
        CIFAR10(None)
    with pytest.raises(UsageError, match="must be a directory"):
        CIFAR10(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="'valid' is not one of"):
        CIFAR10(tmp_path, split="valid")


def test_the_error_messages_are_one_line(tmp_path: Path) -> None:
    write_batch(tmp_path / "test_batch.bin", [1, 200])
    with pytest.raises(UsageError) as caught:
        CIFAR10(tmp_path)
    assert "\n" not in str(caught.value)


def test_registered_with_typed_options_and_check_dataset_passes(cifar_dir) -> None:
    from ebkit.plugin.manager import get_plugin_manager
    from ebkit.testing import check_dataset

    component = get_plugin_manager().lookup("dataset", "cifar10").component
    assert component.load_factory() is cifar10_dataset
    assert component.resolve_options({"partial": "true"}, prefix="data") == {
        "split": "auto",
        "partial": True,
        "stream": False,
    }
    with pytest.raises(UsageError, match="'valid' is not one of"):
        component.resolve_options({"split": "valid"}, prefix="data")
    directory, _ = cifar_dir
    check_dataset(component, path=str(directory))
    check_dataset(component, path=str(directory), stream=True)


def test_a_malformed_batch_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "test_batch.bin").write_bytes(bytes(100))
    result = subprocess.run(
        [sys.executable, "-m", "ebkit", "train", "--energy", "mlp", "--sampler",
         "generator", "--loss", "gan", "--data", "cifar10", "--data-path", str(tmp_path),
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a whole number of 3073-byte" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


# -- data.stream=true: the same values from the memory-mapped batch files


def test_streamed_cifar10_holds_the_in_memory_values(tmp_path: Path) -> None:
    for index in range(1, 6):
        write_batch(tmp_path / f"data_batch_{index}.bin", [index, 9, 0], seed=index)
    streamed = cifar10_dataset(tmp_path, stream=True)
    memory = cifar10_dataset(tmp_path)
    assert isinstance(streamed, StreamedByteImages) and len(streamed.source) == 15
    x, y = streamed.source.read(list(range(15)))
    x = x.float() / 127.5 - 1
    assert torch.equal(x, memory.x) and torch.equal(y, memory.y)
    # Records across two batch files, out of order.
    x, y = streamed.source.read([14, 0, 4])
    assert torch.equal(x.float() / 127.5 - 1, memory.x[[14, 0, 4]])
    assert y.tolist() == [0, 1, 9]


def test_streamed_cifar10_refuses_a_label_above_nine(tmp_path: Path) -> None:
    write_batch(tmp_path / "test_batch.bin", [3, 12])
    with pytest.raises(UsageError, match=r"record 1 has label 12, but CIFAR-10 labels are 0..9"):
        cifar10_dataset(tmp_path, stream=True)
