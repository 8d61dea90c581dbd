"""The ``csv`` logger: one row ``step,tag,value`` per value a run logs."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ebkit import Logger, UsageError


class CsvLogger(Logger):
    """Metrics as ``step,NAME,VALUE``; pictures as ``step,image/TAG,PATH`` (relative to
    the run directory); histograms as ``step,TAG/mean,MEAN``."""

    def __init__(self, file: str) -> None:
        if Path(file).name != file or not file.endswith(".csv"):
            raise UsageError(f"logger.csv.file: {file!r} must be a file name ending in .csv")
        self.file = file
        self.run_dir = Path()
        self._handle: Any = None
        self._writer: Any = None

    def start(self, run_dir: Path, config: Mapping[str, Any], step: int) -> None:
        self.run_dir = Path(run_dir)
        path = self.run_dir / self.file
        # A resumed run starts again from its checkpoint: rows logged after it are stale.
        kept = []
        if step > 0 and path.is_file():
            with path.open(newline="") as handle:
                kept = [
                    row for row in csv.reader(handle) if row[0] == "step" or int(row[0]) <= step
                ]
        self._handle = path.open("w", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerows(kept or [["step", "tag", "value"]])

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self._writer.writerows([step, name, repr(value)] for name, value in scalars.items())
        self._handle.flush()  # so that the file can be watched while the run trains

    def log_image(self, step: int, tag: str, path: Path) -> None:
        self._writer.writerow([step, f"image/{tag}", Path(path).relative_to(self.run_dir)])

    def log_histogram(self, step: int, tag: str, values: np.ndarray) -> None:
        self._writer.writerow([step, f"{tag}/mean", repr(float(np.mean(values)))])

    def finish(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
