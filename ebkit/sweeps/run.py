"""``ebkit sweep SPEC.toml``: validate the spec, open the study, run the workers.

The sweep folder holds ``sweep.json`` (the study's name and storage, what ``ebkit sweep
report`` reads), ``study.journal`` (the default storage) and ``trials/NNNN/``, one
ordinary run directory per trial.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ebkit.core.errors import EbkitError, UsageError
from ebkit.plugin.manager import PluginManager
from ebkit.sweeps.spec import SweepSpec, read_spec
from ebkit.sweeps.validate import parse_objective, validate_spec

__all__ = ["SWEEP_FILE", "SweepOutcome", "read_sweep_file", "require_optuna", "run_sweep"]

SWEEP_FILE = "sweep.json"
EXTRA = "sweep"


def require_optuna() -> None:
    """One line naming the extra to install when Optuna is missing."""
    if importlib.util.find_spec("optuna") is None:
        raise EbkitError(f"ebkit sweep needs Optuna: pip install 'ebkit[{EXTRA}]'")


@dataclass
class SweepOutcome:
    """The study's trials by state once this process's workers have stopped."""

    sweep_dir: Path
    counts: dict[str, int]
    unfinished: int


def read_sweep_file(sweep_dir: Path) -> dict[str, Any]:
    """The ``sweep.json`` of a sweep folder; a folder without one is refused."""
    path = sweep_dir / SWEEP_FILE
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{sweep_dir} is not a sweep folder (no {SWEEP_FILE})") from None
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} cannot be read ({error})") from None
    if not isinstance(payload, dict) or "study" not in payload:
        raise UsageError(f"{path} is not an ebkit sweep file")
    return payload


def _sweep_record(spec: SweepSpec, storage_url: str | None) -> dict[str, Any]:
    return {
        "study": spec.name,
        "storage": storage_url,
        "spec": str(spec.path.absolute()),
        "fingerprint": spec.fingerprint(),
        "objective": spec.objective,
        "direction": spec.direction,
        "parameters": [parameter.name for parameter in spec.parameters],
        "grid": spec.grid,
        "size": spec.size,
    }


def _check_folder(sweep_dir: Path, spec: SweepSpec) -> None:
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise UsageError(f"--out {sweep_dir} is a file, not a folder")
    if (sweep_dir / SWEEP_FILE).exists():
        record = read_sweep_file(sweep_dir)
        if record.get("fingerprint") != spec.fingerprint() or record.get("study") != spec.name:
            raise UsageError(
                f"{sweep_dir} holds the sweep {record.get('study')!r} of a different spec; "
                "give this one another [sweep] name or --out"
            )


def run_sweep(
    manager: PluginManager,
    spec_file: str | Path,
    *,
    out: str | None = None,
    storage_url: str | None = None,
    jobs: int = 1,
    worker: bool = False,
    say: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run (or continue) the sweep of ``spec_file`` with ``jobs`` worker processes.

    Everything is validated before the sweep folder or the storage is touched. A
    ``worker`` (a process started by ``--jobs``) skips the validation its parent did.
    """
    require_optuna()
    spec = read_spec(spec_file)
    objective = parse_objective(spec.objective) if worker else validate_spec(manager, spec)
    sweep_dir = spec.sweep_dir(out)
    _check_folder(sweep_dir, spec)
    # Checked: from here on the sweep folder and the study are written.
    import optuna

    from ebkit.core.files import atomic_write
    from ebkit.sweeps.storage import open_storage, open_study
    from ebkit.sweeps.worker import run_worker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(spec, sweep_dir, storage_url)
    study = open_study(storage, spec)
    if not worker:
        record = json.dumps(_sweep_record(spec, storage_url), indent=2) + "\n"
        atomic_write(sweep_dir / SWEEP_FILE, lambda path: path.write_text(record))
    if jobs > 1:
        _run_processes(spec, sweep_dir, storage_url, jobs)
    else:
        _one_thread()
        run_worker(manager, spec, objective, storage, study, sweep_dir, say)
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    unfinished = counts.get("WAITING", 0) + counts.get("RUNNING", 0)
    return SweepOutcome(sweep_dir, counts, unfinished)


def _one_thread() -> None:
    """One thread per trial: a sweep fills the cores with trials (``--jobs``), and tiny
    models train faster on one thread than on several that contend."""
    import torch

    torch.set_num_threads(1)


def _run_processes(spec: SweepSpec, sweep_dir: Path, storage_url: str | None, jobs: int) -> None:
    """``jobs`` worker processes on this machine, each on one thread; waits for all."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "ebkit", "sweep", "run", str(spec.path)]
    command += ["--out", str(sweep_dir), "--worker"]
    if storage_url is not None:
        command += ["--storage", storage_url]
    processes = [subprocess.Popen(command, env=env) for _ in range(jobs)]
    try:
        for process in processes:
            process.wait()
    except KeyboardInterrupt:
        # The workers got the same Ctrl-C: they fail their trials for a retry and stop.
        for process in processes:
            process.wait()
        raise
