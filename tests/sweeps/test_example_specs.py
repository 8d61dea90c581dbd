"""The sweep specs in examples/sweeps: the full grids of Zhao, Mathieu & LeCun (2017),
EBGAN, Table 1 (512 EBGAN and 6,144 GAN runs) and the reduced digits grids validate
against the installed components; a linked parameter sets every option it names."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from ebkit.plugin.manager import get_plugin_manager
from ebkit.sweeps.spec import read_spec
from ebkit.sweeps.validate import resolve_trial_config, validate_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sweeps"
TABLE_1 = {
    "sampler.n_layers": (2, 3, 4, 5),
    "sampler.width": (400, 800, 1600, 3200),
    "energy.width": (128, 256, 512, 1024),
    "energy.dropout": (True, False),
}


def write_tiny_mnist(directory: Path) -> None:
    """A hundred random 28×28 images with labels as the t10k IDX files (what validation
    reads: the data's shape and labels)."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(100, 28, 28), dtype=np.uint8).tobytes()
    labels = (np.arange(100) % 10).astype(np.uint8).tobytes()
    (directory / "t10k-images-idx3-ubyte").write_bytes(
        struct.pack(">4I", 2051, 100, 28, 28) + images
    )
    (directory / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">2I", 2049, 100) + labels)


@pytest.mark.parametrize(("name", "size"), [("ebgan-table1", 512), ("gan-table1", 6144)])
def test_the_full_table_1_grids_validate(
    name: str, size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ebkit_autoencoder")
    monkeypatch.chdir(tmp_path)
    write_tiny_mnist(tmp_path / "data" / "mnist")
    spec = read_spec(EXAMPLES / f"{name}.toml")
    assert spec.grid and spec.size == size == len(spec.grid_points())
    choices = {parameter.name: parameter.choices for parameter in spec.parameters}
    assert {key: choices[key] for key in TABLE_1} == TABLE_1
    d_layers = (2, 3, 4, 5) if name == "ebgan-table1" else (1, 2, 3, 4)  # see the comment
    assert choices["energy.n_layers"] == d_layers
    if name == "gan-table1":
        assert choices["train.energy_optimizer"] == choices["train.sampler_optimizer"]
        assert choices["train.energy_optimizer"] == ("adam", "sgd")
        assert choices["train.energy_lr+train.sampler_lr"] == (0.01, 0.001, 0.0001)
    objective = validate_spec(get_plugin_manager(), spec)
    assert (objective.source, objective.metric) == ("evaluate", "ebgan_inception_score")


@pytest.mark.parametrize(
    ("name", "size"), [("ebgan-digits", 8), ("ebgan-pt-digits", 8), ("gan-digits", 24)]
)
def test_the_reduced_digits_grids_validate(name: str, size: int) -> None:
    pytest.importorskip("ebkit_autoencoder")
    pytest.importorskip("ebkit_pt")
    spec = read_spec(EXAMPLES / f"{name}.toml")
    assert spec.size == size
    validate_spec(get_plugin_manager(), spec)


def test_a_linked_parameter_sets_every_option_it_names() -> None:
    spec = read_spec(EXAMPLES / "gan-digits.toml")
    config = resolve_trial_config(
        get_plugin_manager(), spec, {"train.energy_lr+train.sampler_lr": 0.01}
    )
    assert config.train.optimisation.energy_lr == config.train.optimisation.sampler_lr == 0.01
