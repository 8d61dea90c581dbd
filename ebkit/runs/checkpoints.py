"""The run directory and its checkpoints (safetensors weights + a JSON sidecar).

Layout (what ``docs/quickstart.md`` shows users)::

    RUN/config.json                 the resolved configuration
    RUN/metrics.jsonl               one JSON object per logged step
    RUN/checkpoints/step-000300.safetensors + step-000300.json
    RUN/samples/step-000300.png     pictures at intervals, samples/final.png at the end

Every file is written to a temporary name and renamed into place, and a checkpoint's
JSON sidecar is written last, so a crash never leaves a checkpoint that looks complete
but is not. Nothing is ever unpickled: tensors come from safetensors, the rest is JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.core.errors import EbkitError, UsageError

if TYPE_CHECKING:
    from torch import Tensor

    from ebkit.core.engine import Trainer
    from ebkit.core.interfaces import DataSpec

CHECKPOINT_FORMAT = 1


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` and rename the result to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))


def prepare_run_dir(path: str | Path) -> Path:
    """Create a new run directory; refuse one that already holds files."""
    run_dir = Path(path)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out {run_dir} exists and is not a directory")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise UsageError(
            f"--out {run_dir} already holds files; choose a new directory "
            "(nothing in it was changed)"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".ebkit-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise EbkitError(f"cannot write to --out {run_dir}: {error.strerror or error}") from None
    return run_dir


# -- checkpoints ----------------------------------------------------------------------


def checkpoint_paths(run_dir: Path, step: int) -> tuple[Path, Path]:
    stem = run_dir / "checkpoints" / f"step-{step:07d}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(trainer: Trainer, run_dir: Path) -> Path:
    """Write everything needed to continue ``trainer`` exactly; return the weights path."""
    from safetensors.torch import save_file

    trainer.check_finite()  # a run whose loss went NaN or infinite saves nothing
    tensors, meta = trainer_state(trainer)
    weights, sidecar = checkpoint_paths(run_dir, trainer.step)
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp)))
    write_json(sidecar, meta)
    return weights


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The ``config.json`` of an existing run, as JSON."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UsageError(f"{run_dir} is not an ebkit run directory (no config.json)")
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise EbkitError(f"{path} is not valid JSON ({error})") from None


def truncate_metrics(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop metric records after ``step`` (logged after the checkpoint a run resumes
    from); return the records kept."""
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            break  # a line cut short by a kill: nothing after it was written either
        if record.get("step", 0) > step:
            break
        kept.append(record)
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in kept)))
    return kept


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint whose sidecar exists (sidecars are written last)."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    complete = [
        weights
        for weights in folder.glob("step-*.safetensors")
        if weights.with_suffix(".json").is_file()
    ]
    return max(complete, default=None, key=lambda weights: weights.stem)


def load_checkpoint(weights: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint; a damaged one is one clear line, never a traceback."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        meta = json.loads(weights.with_suffix(".json").read_text())
    except (OSError, ValueError) as error:
        raise EbkitError(f"checkpoint {weights} has an unreadable JSON sidecar ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise EbkitError(f"checkpoint {weights} is not an ebkit checkpoint (format mismatch)")
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        raise EbkitError(f"checkpoint {weights} is damaged ({error})") from None
    return tensors, meta


def trainer_state(trainer: Trainer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split the trainer's state into tensors (for safetensors) and JSON metadata."""
    tensors: dict[str, Tensor] = {}
    for prefix, module in trainer.modules().items():
        for key, value in module.state_dict().items():
            tensors[f"{prefix}.{key}"] = value
    optimizers: dict[str, Any] = {}
    for name, optimizer in trainer.optimizers().items():
        state = optimizer.state_dict()
        optimizers[name] = {"param_groups": state["param_groups"]}
        for index, slots in state["state"].items():
            for key, value in slots.items():
                tensors[f"optimizer.{name}.{index}.{key}"] = value
    tensors["rng.data"] = trainer.data_generator.get_state()
    tensors["rng.sample"] = trainer.sample_generator.get_state()
    tensors["rng.modules"] = trainer.module_rng_state
    if trainer.module_cuda_rng_state is not None:
        tensors["rng.modules_cuda"] = trainer.module_cuda_rng_state
    data_meta: dict[str, Any] = {}
    for prefix, dataset in _datasets(trainer).items():
        for key, value in dataset.state_dict().items():
            if hasattr(value, "shape"):
                tensors[f"{prefix}.{key}"] = value
            elif prefix == "data":
                data_meta[key] = value
            else:
                data_meta.setdefault(prefix, {})[key] = value
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in tensors.items()}
    spec = trainer.components.energy.spec  # the dataset's, marked conditional if it is
    meta = {
        "format": CHECKPOINT_FORMAT,
        "step": trainer.step,
        "spec": {
            "event_shape": list(spec.event_shape),
            "low": spec.low,
            "high": spec.high,
            "num_classes": spec.num_classes,
            "conditional": spec.conditional,
        },
        "optimizers": optimizers,
        "data": data_meta,
    }
    return tensors, meta


def _datasets(trainer: Trainer) -> dict[str, Any]:
    """The stateful datasets of a run by checkpoint prefix: ``data`` and the parts its
    step extensions keep (``labelled``, the labelled examples of a semi-supervised run)."""
    return {"data": trainer.components.dataset, **trainer.extension_state()}


def spec_from_meta(meta: Mapping[str, Any]) -> DataSpec:
    """The :class:`DataSpec` a checkpoint was trained on (no data needed to rebuild it)."""
    from ebkit.core.interfaces import DataSpec

    try:
        saved = meta["spec"]
        return DataSpec(
            event_shape=tuple(int(size) for size in saved["event_shape"]),
            low=float(saved["low"]),
            high=float(saved["high"]),
            num_classes=saved["num_classes"],
            conditional=bool(saved.get("conditional", False)),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise EbkitError(f"checkpoint metadata has no valid data spec ({error})") from None


def restore_trainer_state(
    trainer: Trainer, tensors: Mapping[str, Tensor], meta: Mapping[str, Any]
) -> None:
    """Inverse of :func:`trainer_state`; mismatches raise :class:`EbkitError`."""
    try:
        for prefix, module in trainer.modules().items():
            own = {
                key[len(prefix) + 1 :]: value
                for key, value in tensors.items()
                if key.startswith(prefix + ".")
            }
            module.load_state_dict(own, strict=True)
        for name, optimizer in trainer.optimizers().items():
            saved = meta["optimizers"][name]
            state: dict[int, dict[str, Tensor]] = {}
            marker = f"optimizer.{name}."
            for key, value in tensors.items():
                if key.startswith(marker):
                    index, slot = key[len(marker) :].split(".", 1)
                    state.setdefault(int(index), {})[slot] = value
            optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
        trainer.data_generator.set_state(tensors["rng.data"])
        trainer.sample_generator.set_state(tensors["rng.sample"])
        trainer.module_rng_state = tensors["rng.modules"].clone()
        if trainer.module_cuda_rng_state is not None:
            # A run moved from the CPU to CUDA has no saved CUDA state; keep the fresh one.
            saved = tensors.get("rng.modules_cuda")
            if saved is not None:
                trainer.module_cuda_rng_state = saved.clone()
        # meta["data"] holds the main dataset's JSON values and, nested under their
        # prefix, those of the others.
        saved_meta: dict[str, Any] = dict(meta.get("data", {}))
        datasets = _datasets(trainer)
        plain = {prefix: dict(saved_meta.pop(prefix, {})) for prefix in datasets}
        plain["data"] = saved_meta
        for prefix, dataset in datasets.items():
            state = plain[prefix]
            state.update(
                {
                    key[len(prefix) + 1 :]: value
                    for key, value in tensors.items()
                    if key.startswith(prefix + ".")
                }
            )
            dataset.load_state_dict(state)
        trainer.step = int(meta["step"])
    except (KeyError, RuntimeError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise EbkitError(f"checkpoint does not match this run's components ({message})") from None
