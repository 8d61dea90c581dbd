"""The run directory and its checkpoints (safetensors weights + a JSON sidecar).

Layout (what ``docs/quickstart.md`` shows users)::

    RUN/config.json                 the resolved configuration
    RUN/metrics.jsonl               one JSON object per logged step
    RUN/checkpoints/step-000300.safetensors + step-000300.json
    RUN/samples/step-000300.png     pictures at intervals, samples/final.png at the end

Every file is written to a temporary name, flushed to the disk and renamed into place
(:mod:`ebkit.core.files`), and a checkpoint's JSON sidecar is written last and holds the
SHA-256 of the weights, so a crash never leaves a checkpoint that looks complete but is
not, and damage found later is recognised. A checkpoint is only written when every
tensor of the state is finite. Nothing is ever unpickled: tensors come from
safetensors, the rest is JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebkit.core.errors import EbkitError, NonFiniteStateError
from ebkit.core.files import atomic_write, fsync_file, sha256_of, write_json
from ebkit.runs.directory import prepare_run_dir as prepare_run_dir
from ebkit.runs.directory import read_run_config as read_run_config
from ebkit.runs.directory import say
from ebkit.runs.directory import truncate_metrics as truncate_metrics

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from ebkit.core.engine import Trainer
    from ebkit.core.interfaces import DataSpec

CHECKPOINT_FORMAT = 1
KEEP_SUFFIX = ".keep"
"""``checkpoints/step-NNNNNNN.keep`` marks a checkpoint that pruning never removes."""
_WEIGHTS_NAME = re.compile(r"step-(\d+)\.safetensors")


# -- checkpoints ----------------------------------------------------------------------


def checkpoint_paths(run_dir: Path, step: int) -> tuple[Path, Path]:
    stem = run_dir / "checkpoints" / f"step-{step:07d}"
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def checkpoint_step(weights: Path) -> int | None:
    """The step in a checkpoint's file name (``None`` for another name)."""
    match = _WEIGHTS_NAME.fullmatch(weights.name)
    return int(match.group(1)) if match else None


def save_checkpoint(trainer: Trainer, run_dir: Path) -> Path:
    """Write everything needed to continue ``trainer`` exactly; return the weights path.

    A state holding NaN or infinite values is never written: :class:`NonFiniteStateError`
    names the step and the first such tensor, and the checkpoints on disk stay as
    they were."""
    from safetensors.torch import save_file

    trainer.check_finite()  # a run whose loss went NaN or infinite saves nothing
    for callback in trainer.callbacks:
        callback.before_checkpoint(trainer)
    try:
        tensors, meta = trainer_state(trainer)
    except NonFiniteStateError as error:
        newest = latest_checkpoint(run_dir)
        kept = f"the newest checkpoint, {newest}, is intact" if newest else "none was written"
        raise NonFiniteStateError(f"{error}; {kept}") from None
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        fsync_file(metrics)  # the records up to this step survive a power loss with it
    weights, sidecar = checkpoint_paths(run_dir, trainer.step)
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp)))
    write_json(sidecar, {**meta, "sha256": sha256_of(weights)})
    return weights


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoints whose sidecar exists (sidecars are written last), oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [
        (step, weights)
        for weights in folder.glob("step-*.safetensors")
        if (step := checkpoint_step(weights)) is not None and weights.with_suffix(".json").is_file()
    ]
    return [weights for _, weights in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (by step), valid or not."""
    complete = complete_checkpoints(run_dir)
    return complete[-1] if complete else None


@dataclass
class LoadedCheckpoint:
    """A checkpoint that passed every check, and the damaged newer ones skipped for it."""

    weights: Path
    tensors: dict[str, Tensor]
    meta: dict[str, Any]
    skipped: list[Path] = field(default_factory=list)

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def newest_valid_checkpoint(
    run_dir: Path,
    *,
    report: Callable[[str], None] = say,
    accept: Callable[[dict[str, Tensor], dict[str, Any]], None] | None = None,
) -> LoadedCheckpoint | None:
    """Load the newest checkpoint that passes :func:`load_checkpoint`'s checks and
    ``accept(tensors, meta)`` (which raises :class:`EbkitError` for one that does not fit,
    e.g. by restoring it); each damaged newer one is skipped with one line to
    ``report``. ``None`` when the run has no complete checkpoint; :class:`EbkitError`
    when every one is damaged."""
    complete = complete_checkpoints(run_dir)
    skipped: list[Path] = []
    errors: list[EbkitError] = []
    for weights in reversed(complete):
        try:
            tensors, meta = load_checkpoint(weights)
            if accept is not None:
                accept(tensors, meta)
        except EbkitError as error:
            skipped.append(weights)
            errors.append(error)
            continue
        for error in errors:
            report(f"skipping damaged checkpoint: {error}")
        return LoadedCheckpoint(weights, tensors, meta, skipped)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise EbkitError(
            f"no usable checkpoint in {run_dir}: all {len(errors)} are damaged (the newest: "
            f"{errors[0]})"
        )
    return None


def load_checkpoint(weights: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint, checking that its sidecar is ebkit's, names the step in the file
    name, matches the weights' SHA-256 and that every tensor is finite; a damaged one is
    one clear line (:class:`EbkitError`), never a traceback."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        meta = json.loads(weights.with_suffix(".json").read_text())
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise EbkitError(f"checkpoint {weights} has an unreadable JSON sidecar ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise EbkitError(f"checkpoint {weights} is not an ebkit checkpoint (format mismatch)")
    step, named = meta.get("step"), checkpoint_step(weights)
    if type(step) is not int or step < 0 or (named is not None and step != named):
        raise EbkitError(
            f"checkpoint {weights} is damaged (its sidecar says step {step!r}, its name "
            f"step {named})"
        )
    try:
        digest = sha256_of(weights)
    except OSError as error:
        raise EbkitError(f"checkpoint {weights} is unreadable ({error})") from None
    if "sha256" in meta and meta["sha256"] != digest:
        raise EbkitError(f"checkpoint {weights} is damaged (its bytes changed since it was saved)")
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        raise EbkitError(f"checkpoint {weights} is damaged ({error})") from None
    bad = first_non_finite(tensors)
    if bad is not None:
        raise EbkitError(f"checkpoint {weights} holds NaN or infinite values in {bad}")
    return tensors, meta


def first_non_finite(tensors: Mapping[str, Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or an infinity, else
    ``None``. One fused reduction per device: a single host synchronisation each."""
    import torch

    by_device: dict[Any, list[tuple[str, Tensor]]] = {}
    for name, tensor in tensors.items():
        if tensor.is_floating_point() or tensor.is_complex():
            by_device.setdefault(tensor.device, []).append((name, tensor))
    for named in by_device.values():
        finite = torch.stack([torch.isfinite(tensor).all() for _, tensor in named])
        if not bool(finite.all()):
            return named[int((~finite).nonzero()[0, 0])][0]
    return None


def prune_checkpoints(run_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` complete checkpoints (0: keep all), never the
    newest one nor those marked with a ``step-NNNNNNN.keep`` file; return the removed
    weights. The sidecar goes first, so an interrupted removal leaves an incomplete
    checkpoint, which is ignored."""
    if keep <= 0:
        return []
    removed = []
    for weights in complete_checkpoints(run_dir)[: -max(keep, 1)]:
        if weights.with_suffix(KEEP_SUFFIX).exists():
            continue
        weights.with_suffix(".json").unlink(missing_ok=True)
        weights.unlink(missing_ok=True)
        removed.append(weights)
    return removed


def set_aside_later_checkpoints(run_dir: Path, step: int, damaged: list[Path]) -> None:
    """Before a run resumes from ``step``, move the damaged checkpoints it skipped to
    ``checkpoints/damaged/`` and remove unfinished writes of later steps (weights
    without a sidecar), one line each, so that training on never overwrites them
    silently."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink()  # a write cut short by a kill; the rename never happened
    for weights in damaged:
        aside = folder / "damaged"
        aside.mkdir(exist_ok=True)
        for part in (weights, weights.with_suffix(".json")):
            if part.exists():
                part.replace(aside / part.name)
        say(f"moved damaged checkpoint {weights.name} (and its sidecar) to {aside}")
    for weights in folder.glob("step-*.safetensors"):
        later = (checkpoint_step(weights) or 0) > step
        if later and not weights.with_suffix(".json").exists():
            weights.unlink()
            say(f"removed {weights}: a checkpoint write of a later step that never finished")


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
    tensors["rng.modules"] = trainer.module_rng.cpu_state
    if trainer.module_rng.cuda_state is not None:
        tensors["rng.modules_cuda"] = trainer.module_rng.cuda_state
    data_meta: dict[str, Any] = {}
    for prefix, dataset in _datasets(trainer).items():
        for key, value in dataset.state_dict().items():
            if hasattr(value, "shape"):
                tensors[f"{prefix}.{key}"] = value
            elif prefix == "data":
                data_meta[key] = value
            else:
                data_meta.setdefault(prefix, {})[key] = value
    bad = first_non_finite(tensors)
    if bad is not None:
        raise NonFiniteStateError(
            f"step {trainer.step}: {bad} holds NaN or infinite values (a non-finite gradient "
            "or update reached the run's state); training stopped without saving it"
        )
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
    scalers = trainer.precision.state_dict()
    if scalers:  # fp16 runs: the gradient scale and its growth counter, per optimiser
        meta["grad_scalers"] = scalers
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
        trainer.precision.load_state_dict(meta.get("grad_scalers", {}))
        trainer.data_generator.set_state(tensors["rng.data"])
        _restore_sample_generator(trainer.sample_generator, tensors["rng.sample"])
        trainer.module_rng.cpu_state = tensors["rng.modules"].clone()
        if trainer.module_rng.cuda_state is not None:
            # A run moved from the CPU to CUDA has no saved CUDA state; keep the fresh one.
            saved = tensors.get("rng.modules_cuda")
            if saved is not None:
                trainer.module_rng.cuda_state = saved.clone()
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


def _restore_sample_generator(generator: torch.Generator, saved: Tensor) -> None:
    """Restore the sampler's generator; a run moved between the CPU and CUDA (whose
    generators keep states of different kinds) continues from a seed derived from the
    saved state, so that resuming the same checkpoint twice still draws the same."""
    if saved.numel() == generator.get_state().numel():
        generator.set_state(saved)
        return
    digest = hashlib.sha256(saved.numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
