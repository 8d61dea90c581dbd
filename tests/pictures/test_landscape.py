"""Tests for the 2-D energy landscape pictures: bounds, grid evaluation (layout, eval
mode, no autograd, chunks, mode restored), colour levels, the PNG, and the
``SamplePictures`` callback writing them during training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit.pictures.landscapes import (
    energy_levels,
    energy_on_grid,
    landscape_bounds,
    save_energy_landscape,
)
from ebkit.plugin.manager import PluginManager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import train_run

TOY = DataSpec((2,), -2.0, 2.0)


class Plane(EnergyFunction):
    """E(x, y) = x + 10·y, recording its mode, autograd state and batch sizes per call."""

    def __init__(self, spec: DataSpec = TOY) -> None:
        super().__init__(spec)
        self.weight = torch.nn.Parameter(torch.tensor([1.0, 10.0]))
        self.calls: list[tuple[bool, bool, int]] = []

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        self.calls.append((self.training, torch.is_grad_enabled(), x.shape[0]))
        return EnergyOutput(energy=x @ self.weight)


def test_bounds_are_a_padded_square_around_the_points_by_hand() -> None:
    points = torch.tensor([[0.0, 0.0], [2.0, 1.0]])
    # Larger side 2, padded by 0.1·2 on each end: half-width 1.2 around the centre (1, 0.5).
    (x_range, y_range) = landscape_bounds(points)
    assert x_range == pytest.approx((-0.2, 2.2)) and y_range == pytest.approx((-0.7, 1.7))
    assert landscape_bounds(points, padding=0.0) == ((0.0, 2.0), (-0.5, 1.5))


def test_bounds_of_coinciding_points_and_bad_input() -> None:
    assert landscape_bounds(torch.ones(3, 2)) == ((0.5, 1.5), (0.5, 1.5))
    with pytest.raises(ValueError, match="points must be"):
        landscape_bounds(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="points must be"):
        landscape_bounds(torch.zeros(4, 3))


def test_grid_values_and_layout() -> None:
    energy = Plane()
    values = energy_on_grid(energy, ((-1.0, 1.0), (0.0, 2.0)), resolution=5)
    assert values.shape == (5, 5) and values.dtype == torch.float64
    xs, ys = torch.linspace(-1, 1, 5), torch.linspace(0, 2, 5)
    # Row i is y_i, column j is x_j.
    expected = xs[None, :] + 10 * ys[:, None]
    torch.testing.assert_close(values, expected.double())


@pytest.mark.parametrize("training", [True, False])
def test_grid_is_evaluated_in_eval_mode_without_autograd_and_restores_the_mode(
    training: bool,
) -> None:
    energy = Plane()
    energy.train(training)
    energy_on_grid(energy, ((-1.0, 1.0), (-1.0, 1.0)), resolution=4)
    assert energy.calls and all(not mode and not grad for mode, grad, _ in energy.calls)
    assert energy.training is training


def test_grid_is_evaluated_in_the_energys_dtype() -> None:
    energy = Plane().double()
    values = energy_on_grid(energy, ((-1.0, 1.0), (-1.0, 1.0)), resolution=3)
    torch.testing.assert_close(values[2, 2], torch.tensor(11.0, dtype=torch.float64))


def test_grid_is_evaluated_in_chunks_with_the_same_values() -> None:
    energy = Plane()
    bounds = ((-1.0, 1.0), (-1.0, 1.0))
    whole = energy_on_grid(energy, bounds, resolution=6)
    energy.calls.clear()
    chunked = energy_on_grid(energy, bounds, resolution=6, chunk_size=7, device="cpu")
    torch.testing.assert_close(chunked, whole)
    assert [size for _, _, size in energy.calls] == [7, 7, 7, 7, 7, 1]


def test_the_mode_is_restored_when_the_energy_fails() -> None:
    class Broken(Plane):
        def forward(self, x: torch.Tensor) -> EnergyOutput:
            raise RuntimeError("boom")

    energy = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        energy_on_grid(energy, ((-1.0, 1.0), (-1.0, 1.0)), resolution=3)
    assert energy.training


def test_grid_refuses_non_2d_energies_and_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"needs 2-D data, not \(1, 8, 8\)"):
        energy_on_grid(Plane(DataSpec((1, 8, 8))), ((0, 1), (0, 1)))
    with pytest.raises(ValueError, match="resolution must be >= 2"):
        energy_on_grid(Plane(), ((0, 1), (0, 1)), resolution=1)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        energy_on_grid(Plane(), ((0, 1), (0, 1)), chunk_size=0)


def test_levels_are_quantiles_of_the_finite_values() -> None:
    values = torch.tensor([[0.0, 1.0], [2.0, float("inf")], [3.0, 4.0]])
    assert energy_levels(values, bands=4) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert energy_levels(torch.full((3, 3), 2.5)) == [2.5, 3.5]  # flat: one band
    with pytest.raises(ValueError, match="not finite anywhere"):
        energy_levels(torch.full((2, 2), float("nan")))


def test_landscape_png(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    data = torch.randn(100, 2, generator=generator) * 0.3
    samples = torch.randn(50, 2, generator=generator)
    energy = Plane()
    path = save_energy_landscape(
        energy, tmp_path / "sub" / "landscape.png", data=data, samples=samples, title="step 7"
    )
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size == (600, 500)
        colours = len(picture.convert("RGB").getcolors(maxcolors=1 << 20))
    assert colours > 50  # a heat map, not a blank figure
    assert sorted(p.name for p in path.parent.iterdir()) == ["landscape.png"]  # no temporaries
    assert energy.training


def test_landscape_without_points_spans_the_data_range(tmp_path: Path) -> None:
    class Recording(Plane):
        def forward(self, x: torch.Tensor) -> EnergyOutput:
            self.points.append(x)
            return super().forward(x)

    energy = Recording()
    energy.points = []
    assert save_energy_landscape(energy, tmp_path / "a.png").is_file()
    points = torch.cat(energy.points)
    assert points.shape == (200 * 200, 2)  # the default resolution
    assert points.amin(0).tolist() == [-2.0, -2.0] and points.amax(0).tolist() == [2.0, 2.0]
    assert save_energy_landscape(energy, tmp_path / "b.png", samples=torch.zeros(3, 2)).is_file()


def test_landscape_refuses_bad_points(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data must be"):
        save_energy_landscape(Plane(), tmp_path / "x.png", data=torch.zeros(5, 3))
    with pytest.raises(ValueError, match="samples must be"):
        save_energy_landscape(Plane(), tmp_path / "x.png", samples=torch.zeros(5))
    assert not any(tmp_path.iterdir())


# -- written during training ------------------------------------------------------------


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    return PluginManager(environ={})


def train(plugins: PluginManager, out: Path, *, energy: str, data: str, **extra: str) -> None:
    overrides = ["sampler.width=8", "sampler.latent_dim=2", "train.sample_every=2"]
    overrides += [f"{key}={value}" for key, value in extra.items()]
    config = resolve_config(
        plugins,
        names={"energy": energy, "sampler": "generator", "loss": "cd", "data": data},
        train={"steps": 3, "batch_size": 8},
        overrides=overrides,
    )
    trainer = train_run(config, out, manager=plugins, progress=False)
    assert trainer.components.energy.training  # the pictures gave the mode back


def test_training_on_2d_data_writes_landscapes_at_intervals_and_at_the_end(
    plugins: PluginManager, tmp_path: Path
) -> None:
    train(plugins, tmp_path / "run", energy="mlp", data="moons", **{"energy.width": "8"})
    names = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert names == [
        "final.png",
        "landscape-step-0000002.png",
        "landscape.png",
        "step-0000002.png",
    ]


@pytest.mark.integration("ebkit-autoencoder")
def test_an_autoencoder_energy_gets_a_landscape_too(plugins: PluginManager, tmp_path: Path) -> None:
    extra = {"energy.width": "8", "train.sample_every": "0"}
    train(plugins, tmp_path / "run", energy="autoencoder", data="25gaussians", **extra)
    names = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert names == ["final.png", "landscape.png"]


def test_the_reference_points_leave_a_finite_datasets_epoch_order_alone(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from ebkit.core.data import TensorDataset
    from ebkit.runs.callbacks import SamplePictures

    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    drawn, untouched = TensorDataset(points, None, TOY), TensorDataset(points, None, TOY)
    for dataset in (drawn, untouched):  # mid-epoch, as on resume
        dataset.sample(8, torch.Generator().manual_seed(1))
    trainer = SimpleNamespace(components=SimpleNamespace(dataset=drawn))
    pictures = SamplePictures(tmp_path, every=0, count=4, seed=0)
    pictures.on_train_start(trainer)  # type: ignore[arg-type]
    assert pictures._reference is not None and pictures._reference.shape == (50, 2)
    for _ in range(8):  # across the epoch boundary
        expected = untouched.sample(8, torch.Generator().manual_seed(2)).x
        assert torch.equal(drawn.sample(8, torch.Generator().manual_seed(2)).x, expected)


def test_image_data_gets_no_landscape(plugins: PluginManager, tmp_path: Path) -> None:
    train(plugins, tmp_path / "run", energy="mlp", data="digits", **{"energy.width": "8"})
    names = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert "landscape.png" not in names and "final.png" in names
