"""Tests for the PNG writers in ebkit.pictures (grids, curves)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ebkit.core.interfaces import DataSpec
from ebkit.pictures import curves, grids
from ebkit.pictures.curves import save_curves
from ebkit.pictures.grids import save_image_grid, save_samples, save_scatter

PAD = grids.GRID_PADDING


def grid_size(count: int, columns: int, height: int, width: int, scale: int) -> tuple[int, int]:
    rows = math.ceil(count / columns)
    return (
        columns * (width * scale + PAD) + PAD,
        rows * (height * scale + PAD) + PAD,
    )


def only_file(directory: Path) -> Path:
    (path,) = directory.iterdir()
    return path


def test_greyscale_grid_size_and_mode(tmp_path: Path) -> None:
    images = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    path = save_image_grid(images, tmp_path / "grid.png")
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.mode == "L"
        # 10 images: ceil(sqrt(10)) = 4 per row, 3 rows, each enlarged 4×.
        assert picture.size == grid_size(10, 4, 8, 8, 4) == (138, 104)


def test_rgb_grid_with_nrow_and_scale(tmp_path: Path) -> None:
    images = torch.zeros(6, 3, 5, 7)
    path = save_image_grid(images, tmp_path / "grid.png", nrow=6, scale=1)
    with Image.open(path) as picture:
        assert picture.mode == "RGB"
        assert picture.size == grid_size(6, 6, 5, 7, 1)


def test_values_map_from_the_range_to_0_255_and_clamp(tmp_path: Path) -> None:
    images = torch.tensor([-5.0, 0.0, 0.5, 1.0, 9.0]).reshape(5, 1, 1, 1)
    path = save_image_grid(images, tmp_path / "grid.png", low=0.0, high=1.0, nrow=5, scale=3)
    with Image.open(path) as picture:
        pixels = np.asarray(picture)
    centres = [pixels[PAD + 1, PAD + 1 + column * (3 + PAD)] for column in range(5)]
    assert centres == [0, 0, 128, 255, 255]
    # Nearest-neighbour enlargement: every pixel of a 3×3 tile is the same value.
    tile = pixels[PAD : PAD + 3, PAD + 2 * (3 + PAD) : PAD + 2 * (3 + PAD) + 3]
    assert (tile == 128).all()
    assert pixels[0, 0] == grids.GRID_PAD_VALUE


def test_grid_rejects_unsupported_channels(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1 or 3"):
        save_image_grid(torch.zeros(2, 2, 4, 4), tmp_path / "grid.png")
    assert not any(tmp_path.iterdir())


def test_scatter_writes_a_500_pixel_png(tmp_path: Path) -> None:
    real = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    path = save_scatter(real, real + 0.5, tmp_path / "scatter.png", title="step 10", bounds=(-3, 3))
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size == (500, 500)


def test_scatter_without_data_and_bad_shapes(tmp_path: Path) -> None:
    assert save_scatter(None, torch.zeros(5, 2), tmp_path / "s.png").is_file()
    with pytest.raises(ValueError, match="samples must be"):
        save_scatter(None, torch.zeros(5, 3), tmp_path / "bad.png")


def test_curve_series_skip_what_cannot_be_plotted() -> None:
    records = [
        {"step": 0, "loss": 1.0, "name": "x", "done": True, "k_t": 0},
        {"step": 1, "loss": float("nan"), "k_t": 0.5},
        {"loss": 3.0},
        {"step": 2, "loss": 0.5, "extra": [1, 2]},
    ]
    series = curves._curve_series(records)
    assert series == {"loss": ([0.0, 2.0], [1.0, 0.5]), "k_t": ([0.0, 1.0], [0.0, 0.5])}


@pytest.mark.parametrize("smooth", [0.0, 0.9])
def test_curves_png(tmp_path: Path, smooth: float) -> None:
    records = [{"step": step, "loss/energy": 1 / (step + 1), "gap": step % 3} for step in range(50)]
    path = save_curves(records, tmp_path / "curves.png", smooth=smooth)
    with Image.open(path) as picture:
        # Two metrics side by side, 4 inches each at 100 dpi.
        assert picture.size == (800, 280)


def test_curves_without_metrics_still_write_a_png(tmp_path: Path) -> None:
    assert save_curves([{"step": 1, "note": "hi"}], tmp_path / "curves.png").is_file()


def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    save_image_grid(torch.zeros(4, 1, 8, 8), tmp_path / "a.png")
    save_scatter(torch.zeros(3, 2), torch.ones(3, 2), tmp_path / "b.png")
    save_curves([{"step": 0, "loss": 1.0}], tmp_path / "c.png")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "grid.png"
    save_image_grid(torch.zeros(4, 1, 8, 8), target)
    before = target.read_bytes()

    def write_half_then_fail(self: Image.Image, path: str, *args: object, **kwargs: object) -> None:
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_image_grid(torch.ones(4, 1, 8, 8), target)
    assert only_file(tmp_path) == target
    assert target.read_bytes() == before


def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = save_image_grid(torch.zeros(1, 1, 8, 8), tmp_path / "samples" / "step_1.png")
    assert path.is_file()


def test_save_samples_image_spec_enlarges_small_images(tmp_path: Path) -> None:
    spec = DataSpec(event_shape=(1, 8, 8))
    path = save_samples(torch.zeros(16, 1, 8, 8), tmp_path / "s.png", spec)
    with Image.open(path) as picture:
        assert picture.size == grid_size(16, 4, 8, 8, 4)


def test_save_samples_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, tuple[int, ...], dict]] = []
    monkeypatch.setattr(
        grids,
        "save_image_grid",
        lambda images, path, **kw: calls.append(("grid", tuple(images.shape), kw)),
    )
    monkeypatch.setattr(
        grids,
        "save_scatter",
        lambda real, fake, path, **kw: calls.append(("scatter", tuple(fake.shape), kw)),
    )
    save_samples(torch.zeros(5, 3, 32, 32), tmp_path / "a.png", DataSpec((3, 32, 32)))
    save_samples(torch.zeros(5, 2), tmp_path / "b.png", DataSpec((2,), low=-4.7, high=4.7))
    save_samples(torch.zeros(5, 16), tmp_path / "c.png", DataSpec((16,)))
    assert calls == [
        ("grid", (5, 3, 32, 32), {"low": -1.0, "high": 1.0, "scale": 1, "nrow": None}),
        ("scatter", (5, 2), {"bounds": (-4.7, 4.7)}),
        ("grid", (5, 1, 4, 4), {"low": -1.0, "high": 1.0, "scale": 8, "nrow": None}),
    ]
    calls.clear()
    save_samples(torch.zeros(6, 1, 8, 8), tmp_path / "d.png", DataSpec((1, 8, 8)), per_row=3)
    assert calls == [("grid", (6, 1, 8, 8), {"low": -1.0, "high": 1.0, "scale": 4, "nrow": 3})]


def test_save_samples_scatter_and_lines(tmp_path: Path) -> None:
    reference = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    scatter = save_samples(
        torch.zeros(10, 2), tmp_path / "s.png", DataSpec((2,)), reference=reference
    )
    lines = save_samples(torch.zeros(10, 5), tmp_path / "l.png", DataSpec((5,)))
    with Image.open(scatter) as first, Image.open(lines) as second:
        assert first.size == (500, 500)
        assert second.size == (600, 400)


def test_save_samples_rejects_a_shape_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected"):
        save_samples(torch.zeros(4, 3), tmp_path / "x.png", DataSpec((2,)))
