"""``ebkit sweep report DIR...``: the trials of one or more sweeps as a rich table, a CSV
file and PNG pictures (:mod:`ebkit.sweeps.figures`).

Each trial's fate is spelled out: ``complete`` with its objective, ``failed`` with the
run's reason (a non-finite loss...), ``lost`` for a trial whose worker stopped sending
heartbeats (killed), with the trial that retried it, and ``running``/``waiting``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebkit.core.errors import UsageError
from ebkit.sweeps.run import SWEEP_FILE, read_sweep_file
from ebkit.sweeps.storage import JOURNAL_NAME
from ebkit.sweeps.trial import FAILURE_ATTR, RUN_DIR_ATTR, WORKER_ATTR

__all__ = [
    "ReportResult",
    "SweepTable",
    "TrialRow",
    "load_sweep",
    "print_table",
    "table_csv",
    "write_report",
]


@dataclass
class TrialRow:
    """One trial of a sweep as the report shows it."""

    number: int
    state: str
    """``complete``, ``failed``, ``lost``, ``running`` or ``waiting``."""
    params: dict[str, Any]
    value: float | None
    seconds: float | None
    note: str
    run_dir: str


@dataclass
class SweepTable:
    """The trials of one sweep, with its study name, objective and parameter names."""

    sweep_dir: Path
    study: str
    objective: str
    direction: str
    parameters: list[str]
    rows: list[TrialRow] = field(default_factory=list)

    def values(self) -> list[float]:
        """The objective of every completed trial."""
        return [row.value for row in self.rows if row.state == "complete" and row.value is not None]


@dataclass
class ReportResult:
    tables: list[SweepTable]
    files: list[Path]


def _open_study(sweep_dir: Path, record: dict[str, Any], storage_url: str | None) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url or record.get("storage")
    if url is None:
        journal = sweep_dir / JOURNAL_NAME
        if not journal.is_file():
            raise UsageError(f"{sweep_dir} has no {JOURNAL_NAME}: pass --storage URL")
        storage: Any = JournalStorage(JournalFileBackend(str(journal)))
    else:
        storage = url
    try:
        return optuna.load_study(study_name=record["study"], storage=storage)
    except KeyError:
        raise UsageError(f"the storage of {sweep_dir} holds no study {record['study']!r}") from None


def load_sweep(sweep_dir: str | Path, storage_url: str | None = None) -> SweepTable:
    """The trials of the sweep in ``sweep_dir`` (its ``sweep.json`` names the study)."""
    from optuna.trial import TrialState

    sweep_dir = Path(sweep_dir)
    record = read_sweep_file(sweep_dir)
    study = _open_study(sweep_dir, record, storage_url)
    trials = study.get_trials(deepcopy=False)
    retried_by = {
        int(trial.system_attrs["retry_history"][-1]): trial.number
        for trial in trials
        if trial.system_attrs.get("retry_history")
    }
    table = SweepTable(
        sweep_dir,
        record["study"],
        record.get("objective", "objective"),
        record.get("direction", "minimize"),
        list(record.get("parameters", [])),
    )
    for trial in trials:
        seconds = None
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        failure = trial.user_attrs.get(FAILURE_ATTR)
        state, note = trial.state.name.lower(), ""
        if trial.state == TrialState.FAIL:
            state, note = "failed", failure or ""
            if failure is None:
                worker = trial.user_attrs.get(WORKER_ATTR, "its worker")
                state, note = "lost", f"no heartbeat from {worker} (killed?)"
            if trial.number in retried_by:
                note += f"; retried as trial {retried_by[trial.number]}"
        elif trial.state == TrialState.COMPLETE:
            if "failed_trial" in trial.system_attrs:
                note = f"retry of trial {trial.system_attrs['retry_history'][-1]}"
        else:
            state = {"RUNNING": "running", "WAITING": "waiting"}.get(trial.state.name, state)
        table.rows.append(
            TrialRow(
                trial.number,
                state,
                dict(trial.params or trial.system_attrs.get("fixed_params", {})),
                trial.value if trial.state == TrialState.COMPLETE else None,
                seconds,
                note,
                str(trial.user_attrs.get(RUN_DIR_ATTR, "")),
            )
        )
    return table


def table_csv(table: SweepTable) -> str:
    """The trials as CSV: number, state, each parameter, the objective, seconds, note,
    run directory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["trial", "state", *table.parameters, table.objective, "seconds", "note", "run_dir"]
    )
    for row in table.rows:
        writer.writerow(
            [
                row.number,
                row.state,
                *(row.params.get(name, "") for name in table.parameters),
                "" if row.value is None else repr(row.value),
                "" if row.seconds is None else f"{row.seconds:.1f}",
                row.note,
                row.run_dir,
            ]
        )
    return buffer.getvalue()


def print_table(console: Any, table: SweepTable) -> None:
    """The trials as a rich table, best objective first among the completed ones."""
    from rich.table import Table

    counts: dict[str, int] = {}
    for row in table.rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    view = Table(title=f"{table.study} ({table.sweep_dir}): {summary}")
    for name in ("trial", "state", *table.parameters, table.objective, "time (s)", "note"):
        view.add_column(name, overflow="fold")
    for row in table.rows:
        view.add_row(
            str(row.number),
            row.state,
            *(str(row.params.get(name, "")) for name in table.parameters),
            "" if row.value is None else f"{row.value:.6g}",
            "" if row.seconds is None else f"{row.seconds:.1f}",
            row.note,
        )
    console.print(view)


def write_report(
    sweep_dirs: list[str],
    *,
    out: str | None = None,
    storage_url: str | None = None,
    bins: int = 20,
) -> ReportResult:
    """Load the sweeps, write ``trials.csv`` per sweep (``NAME-trials.csv`` for
    several), the objective histogram and the objective against each parameter into
    ``out`` (default: ``DIR/report`` for one sweep)."""
    from ebkit.sweeps.figures import objective_by_parameter, objective_histograms
    from ebkit.sweeps.run import require_optuna

    require_optuna()
    if len(sweep_dirs) > 1 and out is None:
        raise UsageError("several sweeps: give --out DIR for the report's files")
    for folder in sweep_dirs:
        if not (Path(folder) / SWEEP_FILE).is_file():
            raise UsageError(f"{folder} is not a sweep folder (no {SWEEP_FILE})")
    if len(sweep_dirs) > 1 and storage_url is not None:
        raise UsageError("--storage names one study's storage: report one sweep with it")
    tables = [load_sweep(folder, storage_url) for folder in sweep_dirs]
    target = Path(out) if out is not None else Path(sweep_dirs[0]) / "report"
    target.mkdir(parents=True, exist_ok=True)
    from ebkit.core.files import atomic_write

    files: list[Path] = []
    for table in tables:
        name = "trials.csv" if len(tables) == 1 else f"{table.study}-trials.csv"
        text = table_csv(table)
        atomic_write(target / name, lambda path, text=text: path.write_text(text))
        files.append(target / name)
    files.append(objective_histograms(tables, target / "objective-histogram.png", bins))
    for table in tables:
        prefix = "" if len(tables) == 1 else f"{table.study}-"
        files.append(objective_by_parameter(table, target / f"{prefix}objective-by-parameter.png"))
    return ReportResult(tables, files)
