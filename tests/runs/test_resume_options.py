"""``resume_changes``: what a resumed run's request changes, for the components the run
chose by name (regularizers, loggers), worked out without training anything."""

from __future__ import annotations

import pytest

from ebkit.plugin.manager import get_plugin_manager
from ebkit.runs.library import resolve_run_config
from ebkit.runs.resume_options import resume_changes

pytestmark = pytest.mark.integration("ebkit-autoencoder", "ebkit-losses", "ebkit-pt")


def test_options_of_a_regularizer_the_run_has_and_of_one_it_lacks() -> None:
    manager = get_plugin_manager()
    with_pt = resolve_run_config(
        manager, energy="autoencoder", sampler="generator", loss="margin", data="8gaussians",
        regularizers="pt", options={"pt.weight": 0.1},
    )  # fmt: skip
    changes, _ = resume_changes(manager, with_pt, overrides=["pt.weight=0.5"])
    assert changes == ["pt.weight=0.5 differs (the run has 0.1)"]
    assert resume_changes(manager, with_pt, overrides=["pt.weight=0.1"])[0] == []
    without = resolve_run_config(
        manager, energy="mlp", sampler="generator", loss="gan", data="8gaussians"
    )
    changes, _ = resume_changes(manager, without, toml={"regularizers": {"pt": {"weight": 0.5}}})
    assert changes == [
        "--regularizer pt differs (the run has none)",
        "regularizer 'pt' is not one of the run's",
    ]


def test_options_of_a_logger_the_run_lacks() -> None:
    manager = get_plugin_manager()
    saved = resolve_run_config(
        manager, energy="mlp", sampler="generator", loss="gan", data="8gaussians"
    )
    changes, _ = resume_changes(manager, saved, overrides=["logger.tensorboard.flush_secs=3"])
    assert changes == ["logger 'tensorboard' is not one of the run's"]
