"""Loading a finished or stopped run back: its energy and sampler, ready to sample from
or to score data, without the training data."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ebkit.core.errors import EbkitError, UsageError
from ebkit.core.interfaces import ContrastiveSampler, DataSpec, EnergyFunction
from ebkit.core.labels import class_cycle, marginal_energy
from ebkit.plugin.manager import PluginManager, get_plugin_manager
from ebkit.runs.build import build_models, resolve_device
from ebkit.runs.checkpoints import (
    atomic_write,
    newest_valid_checkpoint,
    read_run_config,
    spec_from_meta,
)
from ebkit.runs.config import ComponentConfig, RunConfig, complete_saved_options, parse_override

SAMPLE_CHUNK = 1024
"""Samples drawn per call, so ``--n 100000`` does not need 100000 samples of activations."""


@dataclass
class SavedRun:
    """A run directory loaded from its newest valid checkpoint (eval mode)."""

    path: Path
    config: RunConfig
    spec: DataSpec
    step: int
    energy: EnergyFunction
    sampler: ContrastiveSampler
    device: torch.device

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        manager: PluginManager | None = None,
        device: str = "auto",
        sampler_overrides: Sequence[str] = (),
        sampler_options: Mapping[str, Any] | None = None,
    ) -> SavedRun:
        """Load ``path``; ``sampler_overrides`` (``sampler.KEY=VALUE`` texts) and
        ``sampler_options`` (``{KEY: value}``) change sampler options that do not affect
        its weights (e.g. a number of MCMC steps)."""
        path = Path(path)
        target = resolve_device(device)  # a device that is not there: refused before reading
        manager = manager or get_plugin_manager()
        config = complete_saved_options(manager, RunConfig.from_json(read_run_config(path)))
        config.sampler = _override_sampler(
            manager, config.sampler, sampler_overrides, sampler_options or {}
        )
        models: dict[str, Any] = {}

        def build(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
            spec = spec_from_meta(meta)
            energy, sampler, _, _ = build_models(manager, config, spec)
            for prefix, module in (("energy", energy), ("sampler", sampler)):
                own = {
                    key[len(prefix) + 1 :]: value
                    for key, value in tensors.items()
                    if key.startswith(prefix + ".")
                }
                try:
                    module.load_state_dict(own, strict=True)
                except RuntimeError as error:
                    first_line = str(error).strip().splitlines()[0]
                    raise EbkitError(
                        f"checkpoint of step {meta['step']} does not fit the run's {prefix} "
                        f"({first_line})"
                    ) from None
            models.update(spec=spec, energy=energy, sampler=sampler)

        # Damaged newer checkpoints are skipped with one line each.
        loaded = newest_valid_checkpoint(path, accept=build)
        if loaded is None:
            raise UsageError(f"{path} holds no complete checkpoint yet")
        spec, energy, sampler = models["spec"], models["energy"], models["sampler"]
        # Frozen, not no_grad: MCMC samplers still differentiate the energy w.r.t. x.
        for module in (energy, sampler):
            module.to(target).eval().requires_grad_(False)
        return cls(path, config, spec, loaded.step, energy, sampler, target)

    def sample(self, n: int, *, seed: int = 0, labels: int | Tensor | None = None) -> Tensor:
        """``n`` samples ``(n, *event_shape)`` on the CPU, reproducible for a seed.

        For a conditional run, ``labels`` is one class for all of them or ``(n,)``
        classes; by default the classes cycle 0, 1, …, K − 1, 0, … Other runs accept
        no labels."""
        if not self.sampler.draws_samples:
            raise UsageError(
                f"{self.path} was trained with --sampler none: it has no sampler to draw from"
            )
        classes = self.sample_labels(n, labels)
        generator = torch.Generator(self.device).manual_seed(seed)
        chunks = []
        for start in range(0, n, SAMPLE_CHUNK):
            size = min(SAMPLE_CHUNK, n - start)
            wanted = None if classes is None else classes[start : start + size].to(self.device)
            chunk = self.sampler.draw(size, self.energy, generator, wanted)
            chunks.append(chunk.detach().cpu())
        return torch.cat(chunks)

    def sample_labels(self, n: int, labels: int | Tensor | None) -> Tensor | None:
        """The ``(n,)`` classes to draw for ``labels`` (see :meth:`sample`), checked against
        the run; ``None`` for a run that is not conditional."""
        if not self.spec.conditional:
            if labels is not None:
                raise UsageError(
                    f"{self.path} was not trained with --conditional: it cannot sample by class"
                )
            return None
        num_classes = self.spec.num_classes
        assert num_classes is not None  # a conditional spec always has classes
        if labels is None:
            return class_cycle(n, num_classes)
        classes = torch.full((n,), labels) if isinstance(labels, int) else labels.long()
        if classes.shape != (n,):
            raise UsageError(f"expected {n} labels, got a tensor of shape {tuple(classes.shape)}")
        outside = classes[(classes < 0) | (classes >= num_classes)]
        if outside.numel():
            raise UsageError(
                f"class {int(outside[0])} is not one of the run's {num_classes} classes "
                f"(0–{num_classes - 1})"
            )
        return classes

    @torch.no_grad()
    def energies(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """Energies ``(N,)`` of samples ``x: (N, *event_shape)``, in chunks.

        A conditional run gives E(x | y) for ``labels: (N,)``; without labels it gives
        min over y of E(x | y), the energy of the class that fits each sample best (what
        an energy-based model infers when y is unknown). Other runs ignore ``labels``."""
        if not self.spec.conditional:
            labels = None
        results = []
        for start in range(0, len(x), SAMPLE_CHUNK):
            chunk = x[start : start + SAMPLE_CHUNK].to(self.device)
            if labels is None:
                results.append(marginal_energy(self.energy, chunk).cpu())
            else:
                wanted = labels[start : start + SAMPLE_CHUNK].to(self.device)
                results.append(self.energy.evaluate(chunk, wanted).energy.cpu())
        return torch.cat(results)

    def metrics_history(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl``: ``{"step": ..., "loss_energy": ...}``, one per
        logged step (a line cut short by a kill ends the list)."""
        path = self.path / "metrics.jsonl"
        records = []
        for line in path.read_text().splitlines() if path.is_file() else []:
            try:
                records.append(json.loads(line))
            except ValueError:
                break
        return records

    def save_samples(
        self, samples: Tensor, target: str | Path, *, per_row: int | None = None
    ) -> None:
        """Write a PNG picture (grid or scatter; ``per_row`` images per grid row) or an
        ``.npz`` with array ``samples``."""
        target = Path(target)
        if target.suffix == ".npz":
            array = samples.numpy().astype(np.float32)
            atomic_write(target, lambda tmp: _save_npz(tmp, array))
            return
        from ebkit.pictures.grids import save_samples

        save_samples(samples, target, self.spec, per_row=per_row)


def _save_npz(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.savez_compressed(handle, samples=array)


def _override_sampler(
    manager: PluginManager,
    choice: ComponentConfig,
    overrides: Sequence[str],
    options: Mapping[str, Any],
) -> ComponentConfig:
    if not overrides and not options:
        return choice
    values = dict(choice.options)
    for text in overrides:
        component, key, value = parse_override(text)
        if component != "sampler":
            raise UsageError(f"-o {text!r}: only sampler options can change when sampling")
        values[key] = value
    values.update(options)
    component = manager.lookup("sampler", choice.id).component
    return ComponentConfig(choice.id, component.resolve_options(values, prefix="sampler"))
