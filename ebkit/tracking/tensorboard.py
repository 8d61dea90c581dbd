"""The built-in TensorBoard logger (``--logger tensorboard``).

Writes event files with TensorBoard's own writer and protocol buffers (the
``tensorboard`` package alone: no TensorFlow, no ``torch.utils.tensorboard``) into
``RUN_DIR/tensorboard``, so ``tensorboard --logdir runs`` shows every run side by side.
Scalars are the ``metrics.jsonl`` values (stored as 32-bit floats, as TensorBoard
stores every scalar), images the very PNG files the run writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ebkit.core.errors import UsageError
from ebkit.tracking.logger import Logger

EXTRA_HINT = "pip install 'ebkit[tensorboard]'"

HISTOGRAM_BINS = 30


def _tensorboard() -> Any:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise UsageError(
            f"--logger tensorboard needs the tensorboard package, which is not installed "
            f"(install it with: {EXTRA_HINT})"
        ) from None
    return EventFileWriter, event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2


class TensorBoardLogger(Logger):
    """Scalars, images, histograms and the configuration as TensorBoard events."""

    def __init__(self, flush_secs: int = 10, histograms: bool = True) -> None:
        # Imported here, before the run directory exists: a missing extra is one line.
        (
            self._writer_class,
            self._event_pb2,
            self._summary_pb2,
            self._tensor_pb2,
            self._shape_pb2,
        ) = _tensorboard()
        self.flush_secs = flush_secs
        self.histograms = histograms
        self._writer: Any = None
        self.log_dir: Path | None = None

    def start(self, run_dir: Path, config: Mapping[str, Any], step: int) -> None:
        self.log_dir = Path(run_dir) / "tensorboard"
        self._writer = self._writer_class(str(self.log_dir), flush_secs=self.flush_secs)
        if step > 0:
            # A resumed run: TensorBoard drops the events after the checkpoint's step
            # (those from this step + 1 on) that the first attempt wrote before it
            # stopped, as metrics.jsonl is truncated.
            session = self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START)
            self._write(self._event_pb2.Event(step=step + 1, session_log=session))
        text = "```json\n" + json.dumps(dict(config), indent=2) + "\n```"
        self._add(step, self._text_value("config", text))

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        values = [
            self._summary_pb2.Summary.Value(tag=key, simple_value=float(value))
            for key, value in scalars.items()
        ]
        self._add(step, *values)

    def log_image(self, step: int, tag: str, path: Path) -> None:
        encoded = Path(path).read_bytes()
        with Image.open(path) as picture:
            width, height = picture.size
            channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(picture.mode, 3)
        image = self._summary_pb2.Summary.Image(
            height=height, width=width, colorspace=channels, encoded_image_string=encoded
        )
        self._add(step, self._summary_pb2.Summary.Value(tag=tag, image=image))

    def log_histogram(self, step: int, tag: str, values: np.ndarray) -> None:
        if not self.histograms:
            return
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        histogram = self._summary_pb2.HistogramProto(
            min=float(values.min()),
            max=float(values.max()),
            num=float(values.size),
            sum=float(values.sum()),
            sum_squares=float(np.square(values).sum()),
            bucket_limit=edges[1:].tolist(),  # each bucket's right edge
            bucket=counts.astype(np.float64).tolist(),
        )
        self._add(step, self._summary_pb2.Summary.Value(tag=tag, histo=histogram))

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _text_value(self, tag: str, text: str) -> Any:
        # The text plugin's format: a string tensor with the plugin named in the metadata.
        metadata = self._summary_pb2.SummaryMetadata(
            plugin_data=self._summary_pb2.SummaryMetadata.PluginData(plugin_name="text")
        )
        tensor = self._tensor_pb2.TensorProto(
            dtype=7,  # DT_STRING
            string_val=[text.encode()],
            tensor_shape=self._shape_pb2.TensorShapeProto(),
        )
        return self._summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)

    def _add(self, step: int, *values: Any) -> None:
        summary = self._summary_pb2.Summary(value=list(values))
        self._write(self._event_pb2.Event(step=step, summary=summary))

    def _write(self, event: Any) -> None:
        if self._writer is None:
            raise RuntimeError("the TensorBoard logger was not started")
        event.wall_time = time.time()
        self._writer.add_event(event)
