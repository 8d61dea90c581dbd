"""Writing a new plugin project: ``ebkit plugin new NAME --kind KIND``.

The project is rendered from the templates in ``ebkit/plugin/templates/plugin`` (package data):
a ``pyproject.toml`` with the ``ebkit`` entry point and the supported ebkit range, a
hook module, one working component of the chosen kind with its formula as a plain
function, tests built on :mod:`ebkit.testing`, and a README. Templates use
:class:`string.Template` placeholders (``${package}``).

Nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ebkit.core.errors import UsageError
from ebkit.plugin.compat import canonical_name, running_version
from ebkit.plugin.hookspecs import COMPONENT_HOOKS, HOOK_VERSION

_DISTRIBUTION_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
"""PEP 508: what pip accepts as a project name."""

_TRAINING_DATA = "--data 25gaussians --steps 500"


@dataclass(frozen=True)
class KindTemplate:
    """What differs between the kinds of example component."""

    class_name: str
    summary: str
    train: str
    """``ebkit train`` arguments that use the component (``{component}`` is replaced)."""


KIND_TEMPLATES: dict[str, KindTemplate] = {
    "energy": KindTemplate(
        "MLPEnergy",
        "E(x) = softplus(MLP(x)): a small non-negative MLP energy",
        f"--energy {{component}} --sampler generator --loss margin {_TRAINING_DATA}",
    ),
    "sampler": KindTemplate(
        "LangevinSampler",
        "Gaussian noise refined by Langevin dynamics, x ← x − (ε/2)·∇E(x) + √ε·ξ",
        f"--energy autoencoder --sampler {{component}} --loss margin {_TRAINING_DATA}",
    ),
    "loss": KindTemplate(
        "ContrastiveDivergenceLoss",
        "contrastive divergence, energies kept small: L_E = E⁺ − E⁻ + α·(E⁺² + E⁻²)",
        f"--energy autoencoder --sampler generator --loss {{component}} {_TRAINING_DATA}",
    ),
    "regularizer": KindTemplate(
        "EnergyMagnitudePenalty",
        "energy-magnitude penalty on the energy's loss: mean E(x⁺)² + mean E(x⁻)²",
        "--energy autoencoder --sampler generator --loss margin "
        f"--regularizer {{component}} {_TRAINING_DATA}",
    ),
    "dataset": KindTemplate(
        "Checkerboard",
        "2-D toy: uniform on the dark squares of a checkerboard on [-2, 2]², seeded",
        "--energy autoencoder --sampler generator --loss margin --data {component} --steps 500",
    ),
}


@dataclass(frozen=True)
class PluginNames:
    """The names of a new plugin, all derived from the one the user gave."""

    dist: str
    """The distribution and plugin name, PEP 503-normalised: ``ebkit-foo``."""
    package: str
    """The import package: ``ebkit_foo``."""
    component: str
    """The example component's name: the plugin name without an ``ebkit-`` prefix."""


def plugin_names(name: str) -> PluginNames:
    """Validate NAME and derive the distribution, package and component names."""
    if not _DISTRIBUTION_NAME.match(name):
        raise UsageError(
            f"NAME {name!r} is not a valid distribution name: use letters, digits, '-', "
            "'_' and '.', starting and ending with a letter or digit (e.g. ebkit-foo)"
        )
    dist = canonical_name(name)
    package = dist.replace("-", "_").replace(".", "_")
    if not package.isidentifier() or keyword.iskeyword(package):
        raise UsageError(
            f"NAME {name!r} gives the package name {package!r}, which is not a Python "
            f"identifier; start it with a letter (e.g. ebkit-{dist})"
        )
    if dist == "ebkit" or package in ("ebkit", "torch", "test", "tests"):
        raise UsageError(f"NAME {name!r} is reserved; choose another (e.g. ebkit-{dist}-plugin)")
    if importlib.util.find_spec(package) is not None:
        raise UsageError(
            f"NAME {name!r}: a module named {package!r} is already importable here; "
            "choose another NAME"
        )
    component = dist.removeprefix("ebkit-")
    return PluginNames(dist, package, component)


def ebkit_requirement(version: str) -> str:
    """The compatible range for a plugin written against ``version``: the same minor
    series before 1.0 (``ebkit>=0.1,<0.2``), the same major series after."""
    from packaging.version import Version

    major, minor = ([*Version(version).release, 0])[:2]
    upper = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"ebkit>={major}.{minor},<{upper}"


@dataclass(frozen=True)
class PluginProject:
    """A plugin project written by :func:`new_plugin`."""

    path: Path
    names: PluginNames
    kind: str
    files: tuple[str, ...]
    """The written files, relative to ``path``."""

    @property
    def dist(self) -> str:
        return self.names.dist

    @property
    def component(self) -> str:
        return self.names.component

    def train_arguments(self) -> list[str]:
        """``ebkit train`` arguments that train with the example component."""
        return KIND_TEMPLATES[self.kind].train.format(component=self.component).split()

    def next_steps(self) -> list[str]:
        return [
            f"ebkit install -e {self.path}",
            f"python -m pytest {self.path / 'tests'}",
            f"ebkit train {' '.join(self.train_arguments())}",
        ]


def render(names: PluginNames, kind: str) -> dict[str, str]:
    """The project's files (relative path -> text) for ``kind``."""
    if kind not in KIND_TEMPLATES:
        accepted = ", ".join(KIND_TEMPLATES)
        raise UsageError(f"--kind: unknown component kind {kind!r} (accepted: {accepted})")
    details = KIND_TEMPLATES[kind]
    values = {
        "dist": names.dist,
        "package": names.package,
        "component": names.component,
        "kind": kind,
        "module": kind,
        "hook": COMPONENT_HOOKS[kind],
        "class_name": details.class_name,
        "summary": details.summary,
        "train": "ebkit train " + details.train.format(component=names.component),
        "ebkit_requirement": ebkit_requirement(running_version()),
        "ebkit_version": running_version(),
        "hook_version": str(HOOK_VERSION),
    }
    templates = resources.files("ebkit.plugin") / "templates" / "plugin"
    sources = {
        "pyproject.toml": templates / "pyproject.toml.tmpl",
        "README.md": templates / "README.md.tmpl",
        ".gitignore": templates / "gitignore.tmpl",
        f"{names.package}/__init__.py": templates / kind / "hooks.py.tmpl",
        f"{names.package}/{kind}.py": templates / kind / "component.py.tmpl",
        f"tests/test_{names.package}.py": templates / kind / "test_component.py.tmpl",
    }
    return {
        path: Template(source.read_text(encoding="utf-8")).substitute(values)
        for path, source in sources.items()
    }


def new_plugin(name: str, kind: str, parent: str | os.PathLike[str] = ".") -> PluginProject:
    """Write the project ``PARENT/<dist>``; an existing non-empty folder is refused, and
    a failure half-way leaves nothing behind."""
    names = plugin_names(name)
    files = render(names, kind)
    parent = Path(parent)
    target = parent / names.dist
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise UsageError(
            f"{target} already exists; choose another NAME or --dir (nothing was changed)"
        )
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--dir {parent} is not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkdtemp: its folder is private (0700), and it becomes the project.
        staging = parent / f".{names.dist}.{uuid.uuid4().hex[:8]}.partial"
        staging.mkdir()
    except OSError as error:
        raise UsageError(f"--dir {parent}: cannot create the project there ({error})") from None
    try:
        for relative, text in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PluginProject(target, names, kind, tuple(files))
