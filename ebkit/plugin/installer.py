"""Installing and removing plugin distributions with pip, and reporting what changed.

``ebkit install`` and ``ebkit uninstall`` run ``python -m pip`` with the interpreter that
runs ebkit, so plugins land in the environment that will load them. Every such child
runs in safe-path mode (:func:`python_module_command`): ``python -m`` would otherwise put
the working directory first on the import path, so a ``pip/`` or ``ebkit/`` folder in an
untrusted directory would run instead of the real one. They never import a
plugin themselves: the components before and after are listed by a fresh ``python -m
ebkit plugins --json`` process each time, which also sees entry points that a running
process would have cached, and keeps working when an installed plugin is broken.

``ebkit plugins --requirements`` prints ebkit and its plugin distributions as pip
requirement lines, with the PEP 610 ``direct_url.json`` of local and editable installs,
so ``ebkit install -r FILE`` rebuilds the same set.

Nothing here imports torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ebkit.core.errors import EbkitError, UsageError
from ebkit.plugin.compat import EBKIT_DISTRIBUTION, canonical_name, plugin_distributions
from ebkit.plugin.components import KINDS

LISTING_TIMEOUT_S = 300
"""A listing imports every plugin's hook module; generous for a slow, busy machine."""

# pip options that take a value as the next argument; their values are not names.
_PIP_VALUE_OPTIONS = frozenset(
    {
        "-r",
        "--requirement",
        "--root-user-action",
        "--log",
        "--proxy",
        "--retries",
        "--timeout",
        "--exists-action",
        "--trusted-host",
        "--cert",
        "--client-cert",
        "--cache-dir",
        "--python",
        "--use-feature",
        "--use-deprecated",
        "--keyring-provider",
    }
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PipFailed(EbkitError):
    """pip exited with an error; ebkit exits with pip's code (pip already explained)."""

    def __init__(self, command: str, exit_code: int) -> None:
        super().__init__(
            f"pip {command} failed with exit code {exit_code} (see pip's messages above); "
            "nothing was changed by ebkit"
        )
        self.exit_code = exit_code


@dataclass(frozen=True)
class Snapshot:
    """The plugins and components a fresh ebkit process sees."""

    plugins: dict[str, dict[str, Any]]
    """``ebkit plugins --json`` records by plugin name."""

    @property
    def components(self) -> set[tuple[str, str, str]]:
        """``(kind, name, plugin)`` of every component of a loaded plugin."""
        return {
            (kind, name, plugin)
            for plugin, info in self.plugins.items()
            for kind, names in (info.get("components") or {}).items()
            for name in names
        }


SAFE_MODULE_RUNNER = (
    "import sys\n"
    "if not getattr(sys.flags, 'safe_path', False): del sys.path[0]\n"
    "import runpy; "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)
"""``python -m`` without the working directory on the import path, for Python 3.10
(which lacks ``-P``): ``-c`` puts the directory first on ``sys.path``; the builtin ``sys``
removes it before anything else is imported."""


def python_module_command(
    module: str, *arguments: str, safe_path_flag: bool | None = None
) -> list[str]:
    """``python -m MODULE ARGUMENTS...`` with this interpreter, in safe-path mode: the
    working directory is never searched for modules. ``-P`` (Python 3.11+) or, on 3.10,
    :data:`SAFE_MODULE_RUNNER`; ``safe_path_flag`` picks one (tests try both)."""
    if safe_path_flag is None:
        safe_path_flag = sys.version_info >= (3, 11)
    if safe_path_flag:
        return [sys.executable, "-P", "-m", module, *arguments]
    return [sys.executable, "-c", SAFE_MODULE_RUNNER, module, *arguments]


def take_snapshot() -> Snapshot | None:
    """List plugins and components in a fresh process; ``None`` if that fails (ebkit
    itself was just removed, or the environment is broken)."""
    environment = dict(os.environ)
    # A broken plugin must not stop the listing: it is reported in the listing instead.
    environment.pop("EBKIT_STRICT_PLUGINS", None)
    try:
        listed = subprocess.run(
            python_module_command("ebkit", "plugins", "--json"),
            capture_output=True,
            text=True,
            env=environment,
            timeout=LISTING_TIMEOUT_S,
        )
        payload = json.loads(listed.stdout) if listed.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    if not isinstance(payload, list):
        return None
    return Snapshot({item["name"]: item for item in payload if isinstance(item, dict)})


def run_pip(command: str, arguments: Sequence[str]) -> None:
    """Run ``python -m pip COMMAND ARGUMENTS...`` with this interpreter; pip prints to the
    terminal. A failure raises :class:`PipFailed` carrying pip's exit code."""
    if importlib.util.find_spec("pip") is None:
        raise EbkitError(
            f"pip is not available to {sys.executable}; install it with "
            f"`{sys.executable} -m ensurepip` and try again"
        )
    exit_code = subprocess.call(python_module_command("pip", command, *arguments))
    if exit_code != 0:
        raise PipFailed(command, exit_code)


def names_in(arguments: Sequence[str]) -> list[str]:
    """The distribution names among pip arguments (not options, not option values)."""
    names = []
    takes_value = False
    for argument in arguments:
        if takes_value:
            takes_value = False
        elif argument.startswith("-"):
            takes_value = argument in _PIP_VALUE_OPTIONS
        else:
            match = _NAME.match(argument)
            names.append(match.group(0) if match else argument)
    return names


def check_uninstallable(names: Sequence[str], *, force: bool) -> None:
    """Refuse to remove ebkit itself or a distribution that is not an ebkit plugin,
    unless forced: ``ebkit uninstall`` is for plugins."""
    if force:
        return
    plugins = plugin_distributions()
    for name in names:
        canonical = canonical_name(name)
        if canonical == EBKIT_DISTRIBUTION:
            raise UsageError(
                "refusing to uninstall ebkit itself, which runs this command; pass --force "
                "to remove it anyway"
            )
        if canonical in plugins:
            continue
        installed = ", ".join(sorted(plugins)) or "none"
        if _is_installed(canonical):
            raise UsageError(
                f"{name!r} is not an ebkit plugin (it declares no 'ebkit' entry point); "
                f"pass --force to uninstall it anyway (installed plugins: {installed})"
            )
        raise UsageError(f"{name!r} is not installed (installed plugins: {installed})")


def _is_installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def describe_changes(before: Snapshot | None, after: Snapshot | None) -> list[str]:
    """Lines saying which plugins changed and which components appeared (``+``) or
    disappeared (``-``)."""
    if after is None:
        return ["ebkit could not list its plugins afterwards (`ebkit plugins` says why)"]
    if before is None:
        before = Snapshot({})
        lines = ["(ebkit could not list its plugins beforehand: every plugin is shown as new)"]
    else:
        lines = []
    for name in sorted(set(before.plugins) | set(after.plugins)):
        if (after.plugins.get(name) or before.plugins.get(name) or {}).get("source") == "builtin":
            continue  # ebkit's own families come and go with ebkit, not with plugins
        old, new = before.plugins.get(name), after.plugins.get(name)
        if new is None:
            lines.append(f"plugin {name} {_version(old)}: removed")
        elif old is None:
            lines.append(f"plugin {name} {_version(new)}: installed, {_status(new)}")
        elif (old.get("version"), _status(old)) != (new.get("version"), _status(new)):
            version = _version(new)
            if old.get("version") != new.get("version"):
                version = f"{_version(old)} -> {version}"
            lines.append(f"plugin {name} {version}: {_status(new)}")
    order = {kind: index for index, kind in enumerate(KINDS)}

    def ordered(items: set[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        return sorted(items, key=lambda item: (order.get(item[0], len(order)), item[1], item[2]))

    for kind, name, plugin in ordered(after.components - before.components):
        lines.append(f"+ {kind} {name} ({plugin})")
    for kind, name, plugin in ordered(before.components - after.components):
        lines.append(f"- {kind} {name} ({plugin})")
    if not lines:
        lines.append("No plugin or component changed.")
    return lines


def _version(info: dict[str, Any] | None) -> str:
    return str((info or {}).get("version") or "(no version)")


def _status(info: dict[str, Any]) -> str:
    status = str(info.get("status"))
    return f"{status}: {info['error']}" if info.get("error") else status


# -- pinned requirements ----------------------------------------------------------------


def requirement_lines() -> list[str]:
    """ebkit, then every installed plugin distribution, as pip requirement lines."""
    lines = []
    if _is_installed("ebkit"):  # not when run from a source tree without installing
        lines.append(requirement_line(metadata.distribution("ebkit")))
    for name, plugin in sorted(plugin_distributions().items()):
        if name != EBKIT_DISTRIBUTION and plugin.distribution is not None:
            lines.append(requirement_line(plugin.distribution))
    return lines


def requirement_line(distribution: metadata.Distribution) -> str:
    """``name==version``, or, for a distribution installed from a URL, a line that
    installs it from there again (PEP 610): ``-e file:///…`` for an editable install,
    ``name @ file:///…`` for a local folder or archive, ``name @ git+https://…@commit``
    for a version-control checkout."""
    name = distribution.metadata["Name"]
    try:
        origin = json.loads(distribution.read_text("direct_url.json") or "null")
    except ValueError:
        origin = None
    if not isinstance(origin, dict) or not isinstance(origin.get("url"), str):
        return f"{name}=={distribution.version}"
    url: str = origin["url"]
    if "vcs_info" in origin:
        vcs = origin["vcs_info"]
        revision = vcs.get("commit_id") or vcs.get("requested_revision")
        url = f"{vcs.get('vcs', 'git')}+{url}" + (f"@{revision}" if revision else "")
    editable = bool((origin.get("dir_info") or {}).get("editable"))
    subdirectory = origin.get("subdirectory")
    if subdirectory and editable and url.startswith("file:"):
        url = f"{url.rstrip('/')}/{subdirectory}"
    elif subdirectory:
        url = f"{url}#subdirectory={subdirectory}"
    return f"-e {url}" if editable else f"{name} @ {url}"
