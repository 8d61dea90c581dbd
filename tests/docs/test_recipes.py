"""The recipes in ``examples/recipes/``: every file loads through the ``--config`` path
(``load_toml`` + ``resolve_config``, what ``ebkit train --config`` does), the recipes on
built-in data build their components, and ``docs/recipes.md`` has a row for each."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebkit import UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.runs.build import build_components
from ebkit.runs.config import load_toml, resolve_config

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "examples" / "recipes").glob("*.toml"))
NEEDS_FILES = {"mnist", "folder", "cifar10"}
"""Datasets read from --data-path: their recipes are resolved, not built."""

pytestmark = pytest.mark.integration(
    "ebkit-autoencoder", "ebkit-losses", "ebkit-pt", "ebkit-ladder"
)


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    return PluginManager(environ={})


def test_there_is_a_cpu_and_a_paper_recipe_per_seed_system() -> None:
    names = {path.stem for path in RECIPES}
    for system in ("ebgan", "ebgan-pt", "ebgan-ln", "began", "replay-ebm"):
        assert any(name.startswith(f"{system}-") and name.endswith("-cpu") for name in names)
        assert any(name.startswith(f"{system}-") and name.endswith("-paper") for name in names)
    assert {"gan-8gaussians-cpu", "hybrid-8gaussians-cpu"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=[path.stem for path in RECIPES])
def test_every_recipe_loads_through_the_config_path(manager: PluginManager, path: Path) -> None:
    toml = load_toml(path)
    config = resolve_config(manager, toml=toml)
    # Every value written in the file is the value the run gets (none silently dropped).
    for section in ("energy", "sampler", "loss"):
        chosen = config.component(section)
        assert chosen.id.endswith(toml[section]["name"])
        for key, value in toml[section].items():
            if key != "name":
                assert chosen.options[key] == value, (path.name, section, key)
    for key, value in toml.get("train", {}).items():
        assert config.train[key] == value, (path.name, key)
    if toml["data"]["name"] not in NEEDS_FILES:
        components = build_components(manager, config)
        assert components.dataset.spec.dim >= 2


def test_a_recipe_with_a_mistyped_option_is_refused(manager: PluginManager, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    text = (ROOT / "examples" / "recipes" / "ebgan-8gaussians-cpu.toml").read_text()
    broken.write_text(text.replace('name = "margin"', 'name = "margin"\nmargni = 2.0'))
    with pytest.raises(UsageError, match="margni"):
        resolve_config(manager, toml=load_toml(broken))


def test_the_docs_have_a_row_for_every_recipe() -> None:
    docs = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    for path in RECIPES:
        assert f"[`{path.name}`]" in docs, path.name
