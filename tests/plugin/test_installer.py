"""Tests for ``ebkit install``, ``ebkit uninstall`` and ``ebkit plugins --requirements``
(ebkit/plugin/installer.py).

Nothing is ever installed into the environment the tests run in: these check the pieces,
the error paths (which stop before pip changes anything) and the command line; the tests
that install run ``ebkit`` inside an :class:`ebkit.testing.IsolatedVenv`
(test_installer_venv.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from cli_runs import ebkit, error_lines
from plugin_doubles import BROKEN_HOOKS

from ebkit.plugin.installer import (
    Snapshot,
    check_uninstallable,
    describe_changes,
    names_in,
    python_module_command,
    requirement_line,
    requirement_lines,
    run_pip,
    take_snapshot,
)
from ebkit.testing.venv import explain


def write_dist_info(
    folder: Path, name: str, *, direct_url: object = None, entry_point: str | None = None
) -> metadata.Distribution:
    """A ``*.dist-info`` folder as pip writes it, optionally with PEP 610 data."""
    info = folder / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    if direct_url is not None:
        text = direct_url if isinstance(direct_url, str) else json.dumps(direct_url)
        (info / "direct_url.json").write_text(text)
    if entry_point is not None:
        (info / "entry_points.txt").write_text(f"[ebkit]\nplugin = {entry_point}\n")
    return metadata.PathDistribution(info)


# -- pieces -------------------------------------------------------------------------------


def test_names_in_skips_options_and_their_values() -> None:
    arguments = ["-y", "ebkit-a", "-r", "reqs.txt", "--log=x.log", "Ebkit_B==1.0", "--yes"]
    assert names_in(arguments) == ["ebkit-a", "Ebkit_B"]
    assert names_in(["--root-user-action", "ignore", "ebkit-c"]) == ["ebkit-c"]


@pytest.mark.parametrize(
    ("direct_url", "expected"),
    [
        (None, "ebkit-x==1.2.3"),
        ({"url": "file:///src/ebkit-x", "dir_info": {"editable": True}}, "-e file:///src/ebkit-x"),
        ({"url": "file:///src/ebkit-x", "dir_info": {}}, "ebkit-x @ file:///src/ebkit-x"),
        (
            {"url": "file:///w/ebkit_x-1.2.3-py3-none-any.whl", "archive_info": {}},
            "ebkit-x @ file:///w/ebkit_x-1.2.3-py3-none-any.whl",
        ),
        (
            {
                "url": "https://github.com/o/ebkit-x.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
                "subdirectory": "plugin",
            },
            "ebkit-x @ git+https://github.com/o/ebkit-x.git@abc123#subdirectory=plugin",
        ),
        (
            {"url": "file:///repo", "dir_info": {"editable": True}, "subdirectory": "plugin"},
            "-e file:///repo/plugin",
        ),
        ("{not json", "ebkit-x==1.2.3"),
    ],
)
def test_requirement_line_rebuilds_how_the_distribution_was_installed(
    tmp_path, direct_url, expected
) -> None:
    assert requirement_line(write_dist_info(tmp_path, "ebkit-x", direct_url=direct_url)) == expected


def test_requirement_lines_list_ebkit_first_then_the_plugins(tmp_path, monkeypatch) -> None:
    plugin = write_dist_info(tmp_path, "ebkit-listed", entry_point="ebkit_listed_module")
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = requirement_lines()
    core = requirement_line(metadata.distribution("ebkit"))
    assert lines[0] == core
    assert requirement_line(plugin) in lines[1:]
    assert all(line.strip() and not line.startswith("#") for line in lines)


def test_requirements_lines_include_plugins_from_distributions_on_the_path(
    tmp_path, monkeypatch, ebkit_cli
) -> None:
    write_dist_info(tmp_path, "ebkit-pinned", entry_point="ebkit_pinned_missing_module")
    write_dist_info(tmp_path, "not-a-plugin")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = ebkit_cli("plugins", "--requirements")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "ebkit-pinned==1.2.3" in lines  # listed without importing its (missing) module
    assert not any(line.startswith("not-a-plugin") for line in lines)


def test_requirements_and_json_cannot_be_combined(ebkit_cli) -> None:
    result = ebkit_cli("plugins", "--requirements", "--json")
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        "Error: --requirements and --json cannot be combined; choose one"
    ]


def snapshot(**plugins: dict) -> Snapshot:
    return Snapshot({name.replace("_", "-"): info for name, info in plugins.items()})


def test_describe_changes_lists_plugins_and_components() -> None:
    before = snapshot(
        ebkit={"version": "0.1.0", "status": "loaded", "components": {"sampler": ["generator"]}},
        ebkit_old={"version": "1.0", "status": "loaded", "components": {"loss": ["old"]}},
        ebkit_up={"version": "1.0", "status": "broken", "error": "boom", "components": {}},
    )
    after = snapshot(
        ebkit={"version": "0.1.0", "status": "loaded", "components": {"sampler": ["generator"]}},
        ebkit_up={"version": "2.0", "status": "loaded", "components": {"energy": ["e"]}},
        ebkit_new={
            "version": "0.3",
            "status": "incompatible",
            "error": "it requires ebkit>=9",
            "components": {},
        },
    )
    assert describe_changes(before, after) == [
        "plugin ebkit-new 0.3: installed, incompatible: it requires ebkit>=9",
        "plugin ebkit-old 1.0: removed",
        "plugin ebkit-up 1.0 -> 2.0: loaded",
        "+ energy e (ebkit-up)",
        "- loss old (ebkit-old)",
    ]


def test_describe_changes_without_changes_or_listings() -> None:
    same = snapshot(ebkit_a={"version": "1", "status": "loaded", "components": {"loss": ["a"]}})
    assert describe_changes(same, same) == ["No plugin or component changed."]
    assert "could not list its plugins afterwards" in describe_changes(same, None)[0]
    lines = describe_changes(None, same)
    assert "could not list its plugins beforehand" in lines[0]
    assert lines[1:] == ["plugin ebkit-a 1: installed, loaded", "+ loss a (ebkit-a)"]


def test_check_uninstallable_accepts_plugins_in_any_spelling(tmp_path, monkeypatch) -> None:
    write_dist_info(tmp_path, "ebkit-first", entry_point="ebkit_first")
    write_dist_info(tmp_path, "ebkit-second", entry_point="ebkit_second")
    monkeypatch.syspath_prepend(str(tmp_path))
    check_uninstallable(["ebkit-first", "Ebkit_Second"], force=False)
    check_uninstallable(["numpy", "ebkit"], force=True)


def test_a_snapshot_lists_broken_plugins_even_in_strict_mode(tmp_path, monkeypatch) -> None:
    (tmp_path / "ebkit_tmp_snap.py").write_text(BROKEN_HOOKS)
    write_dist_info(tmp_path, "ebkit-tmp-snap", entry_point="ebkit_tmp_snap")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    monkeypatch.setenv("EBKIT_STRICT_PLUGINS", "1")
    taken = take_snapshot()
    assert taken is not None
    assert taken.plugins["ebkit-tmp-snap"]["status"] == "broken"
    assert ("loss", "gan") in {(kind, name) for kind, name, _ in taken.components}


# -- command-line errors: one line, non-zero, nothing installed --------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["install"], "Error: usage: ebkit install SPEC..."),
        (["uninstall"], "Error: usage: ebkit uninstall NAME..."),
        (["uninstall", "ebkit"], "Error: refusing to uninstall ebkit itself"),
        (["uninstall", "numpy"], "Error: 'numpy' is not an ebkit plugin"),
        (["uninstall", "ebkit-present", "no-such-dist"], "Error: 'no-such-dist' is not installed"),
    ],
)
def test_install_and_uninstall_usage_errors(
    ebkit_cli, tmp_path, monkeypatch, args, message
) -> None:
    write_dist_info(tmp_path, "ebkit-present", entry_point="ebkit_present")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = ebkit_cli(*args)
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(message)


def test_a_missing_pip_is_one_line_before_anything_runs(ebkit_cli, monkeypatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "pip" else real_find_spec(name, *args),
    )
    monkeypatch.setattr("ebkit.plugin.installer.take_snapshot", lambda: None)
    result = ebkit_cli("install", "ebkit-anything")
    assert result.exit_code == 1
    (line,) = error_lines(result.stderr)
    assert line.startswith("Error: pip is not available to ") and "ensurepip" in line


def test_a_pip_failure_exits_with_pips_code_and_one_line_of_ours(tmp_path) -> None:
    missing = tmp_path / "no-such-project"
    result = ebkit("install", "--no-index", "--no-deps", str(missing))
    assert result.returncode == 1, explain(result)
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr)[-1].startswith("Error: pip install failed with exit code 1")
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        error_lines(result.stderr)[-1]
    ]


@pytest.fixture
def hostile_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory holds ``pip/`` and ``ebkit/`` packages that announce
    themselves: ``python -m pip`` or ``-m ebkit`` run from here would run them."""
    for package in ("pip", "ebkit"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('print("HIJACKED")\n')
        (tmp_path / package / "__main__.py").write_text('print("HIJACKED")\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONSAFEPATH", raising=False)
    return tmp_path


@pytest.mark.parametrize("safe_path_flag", [True, False], ids=["-P", "python3.10-runner"])
def test_module_commands_never_import_from_the_working_directory(
    hostile_working_directory: Path, safe_path_flag: bool
) -> None:
    if safe_path_flag and sys.version_info < (3, 11):
        pytest.skip("-P needs Python 3.11")
    command = python_module_command("pip", "--version", safe_path_flag=safe_path_flag)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, explain(result)
    assert "HIJACKED" not in result.stdout and result.stdout.startswith("pip ")


def test_install_runs_the_real_pip_and_ebkit_in_a_hostile_folder(
    hostile_working_directory: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run_pip("--version", [])
    assert "HIJACKED" not in capfd.readouterr().out
    snapshot = take_snapshot()  # a fresh `python -m ebkit plugins --json`
    assert snapshot is not None
    assert any(info.get("source") == "builtin" for info in snapshot.plugins.values())


def test_install_runs_without_loading_plugins_even_when_one_is_broken(tmp_path) -> None:
    (tmp_path / "ebkit_tmp_strict.py").write_text(BROKEN_HOOKS)
    write_dist_info(tmp_path, "ebkit-tmp-strict", entry_point="ebkit_tmp_strict")
    path = os.pathsep.join([str(tmp_path), *sys.path])
    strict = {"EBKIT_STRICT_PLUGINS": "1", "PYTHONPATH": path}
    listed = ebkit("components", **strict)
    assert listed.returncode == 1 and "ebkit-tmp-strict" in listed.stderr
    # The same environment does not stop install or uninstall from getting to their work.
    installed = ebkit("install", **strict)
    assert installed.returncode == 2
    assert error_lines(installed.stderr) == [
        "Error: usage: ebkit install SPEC... (a name, a folder, a wheel or -e PATH; "
        "pip options such as -U pass through)"
    ]
    removed = ebkit("uninstall", "numpy", **strict)
    assert removed.returncode == 2 and "not an ebkit plugin" in removed.stderr
