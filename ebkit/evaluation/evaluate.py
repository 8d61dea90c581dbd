"""Evaluating a saved run (``ebkit evaluate``) and scoring data with its energy
(``ebkit score``).

:func:`evaluate_run` draws samples from the run's newest checkpoint and computes the
metrics of :mod:`ebkit.metrics` that fit its data: mode coverage for the Gaussian
mixtures, sliced Wasserstein and MMD² for any 2-D data, classifier-based image metrics
for labelled images (on request, the standard Inception FID, KID and IS of
:mod:`ebkit.evaluation.standard`), the held-out classification error of semi-supervised
runs, and the mean energy of data and samples for every run. A sampler that refines a generator
(``generator-langevin``) is evaluated twice: refined, and raw with ``steps=0`` (and
``latent_steps=0``: G(z) itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ebkit.core.data import TensorDataset
from ebkit.core.errors import UsageError
from ebkit.core.files import atomic_write, write_json
from ebkit.core.interfaces import Dataset
from ebkit.core.streaming import Streamed
from ebkit.plugin.manager import PluginManager, get_plugin_manager
from ebkit.runs.build import build_component, build_dataset
from ebkit.runs.saved import SavedRun

EVAL_SEED_OFFSET = 31337
"""Real batches for the metrics come from their own generator (run seed + this)."""

STREAMED_EVALUATION_LIMIT = 20_000
"""Samples of a streaming dataset (an image folder, shards) that evaluation and scoring
read into memory: all of a smaller one, else a seeded random subset."""

RAW_SAMPLER_OVERRIDES = ("steps", "latent_steps")
"""Sampler options set to 0 to draw a refining sampler's raw proposals, where it has them."""


def sample_sets(run: SavedRun, n: int, seed: int, labels: Tensor | None) -> dict[str, Tensor]:
    """The run's samples by name: ``samples``, and ``raw`` (``steps=0``, ``latent_steps=0``)
    for a trainable sampler that refines its proposals by steps (``generator-langevin``);
    empty for a run without a sampler. A conditional run's samples are drawn for
    ``labels: (n,)``."""
    if not run.sampler.draws_samples:
        return {}
    sets = {"samples": run.sample(n, seed=seed, labels=labels)}
    options = run.config.sampler.options
    # None is auto (a number of steps by data kind); only 0 means no refinement.
    refining = [name for name in RAW_SAMPLER_OVERRIDES if name in options]
    if run.sampler.trainable and any(options[name] != 0 for name in refining):
        raw = SavedRun.open(
            run.path,
            device=str(run.device),
            sampler_overrides=[f"sampler.{name}=0" for name in refining],
        )
        sets["raw"] = raw.sample(n, seed=seed, labels=labels)
    return sets


def evaluate_run(
    run: SavedRun,
    *,
    n: int = 2000,
    seed: int = 0,
    manager: PluginManager | None = None,
    progress: Callable[[str], None] | None = None,
    metrics: str = "offline",
    inception_weights: str | None = None,
) -> dict[str, Any]:
    """Every metric that fits the run's data, as a JSON-ready dict:
    ``{"run": ..., "step": ..., "sets": {"samples": {metric: value}, ...}, ...}``.

    ``metrics`` picks the image metrics: ``"offline"`` (the dataset's own classifier),
    ``"standard"`` (FID, KID, IS with the Inception weights of ``inception_weights`` or
    torch hub's cache, see :mod:`ebkit.evaluation.standard`) or ``"all"``."""
    from ebkit.evaluation.standard import check_metric_choice

    check_metric_choice(metrics, inception_weights)
    if n < 2:
        raise UsageError(f"--n {n}: at least 2 samples are needed")
    manager = manager or get_plugin_manager()
    report = progress or (lambda message: None)
    config = run.config
    try:
        dataset = build_dataset(manager, config)
    except UsageError as error:
        raise UsageError(f"cannot rebuild the run's data to compare with: {error}") from None
    standard = None
    if metrics != "offline":
        from ebkit.evaluation.standard import prepare_standard

        report("loading the Inception network")
        standard = prepare_standard(run.spec, inception_weights, run.device, metrics=metrics)
    generator = torch.Generator().manual_seed(config.train.optimisation.seed + EVAL_SEED_OFFSET)
    if isinstance(dataset, Streamed):
        # Metrics compare sets held at once: a random subset of streamed data.
        dataset = dataset.in_memory(STREAMED_EVALUATION_LIMIT, generator)
    real, real_labels = _real_samples(dataset, n, generator)
    if run.spec.conditional and real_labels is None:
        raise UsageError("the run is conditional, but its rebuilt data has no labels")
    report("drawing samples")
    # A conditional run is evaluated on every class equally often (None for other runs).
    labels = run.sample_labels(n, None)
    sets = sample_sets(run, n, seed, labels)
    results: dict[str, Any] = {
        "run": str(run.path),
        "step": run.step,
        "energy": config.energy.id,
        "sampler": config.sampler.id,
        "loss": config.loss.id,
        "data": config.data.id,
        "num_samples": n,
        "seed": seed,
        "data_energy": float(run.energies(real, real_labels).mean()),
        "sets": {},
    }
    classifier = None
    if metrics != "standard" and run.spec.is_image and _labels(dataset) is not None:
        report("preparing the offline classifier (cached after the first time)")
        classifier = _classifier(dataset, config.data.id, config.data.options)
    for name, samples in sets.items():
        report(f"metrics of the {name} samples")
        values: dict[str, Any] = {"energy": float(run.energies(samples, labels).mean())}
        if samples.shape[1:] == (2,) and torch.isfinite(samples).all():
            values.update(_point_metrics(dataset, real, samples, seed))
        if classifier is not None:
            from ebkit.metrics import image_metrics

            # Subsets of half the smaller set, so that KID's spread means something.
            subset = max(2, min(1000, len(real) // 2, len(samples) // 2))
            scores = image_metrics(
                classifier, real, samples, kid_subset_size=subset, requested_labels=labels
            )
            values.update(scores.as_dict())
        if standard is not None:
            from ebkit.evaluation.standard import standard_set_metrics

            values.update(standard_set_metrics(standard, real, samples, seed=seed, progress=report))
        results["sets"][name] = values
    if standard is not None:
        results["standard_metrics"] = standard.provenance()
    from ebkit.runs.splits import semi_supervised

    # The split the run trained with, from its options.
    _, labelled = semi_supervised(
        dataset, config.train.semi_supervised, config.train.optimisation.seed
    )
    if labelled is not None and len(labelled.test_y):
        results["test_error"] = labelled.held_out_error(run.energy, run.device)
        results["test_size"] = len(labelled.test_y)
    return finite_or_none(results)


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON's ``null``):
    a diverged energy must not make eval.json invalid JSON (``Infinity`` is not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def write_evaluation(run_dir: Path, results: dict[str, Any]) -> Path:
    """``eval.json`` in the run, written atomically."""
    path = run_dir / "eval.json"
    write_json(path, results)
    return path


def _real_samples(
    dataset: Dataset, n: int, generator: torch.Generator
) -> tuple[Tensor, Tensor | None]:
    """Up to ``n`` real samples and their labels (``None`` for unlabelled data)."""
    if isinstance(dataset, TensorDataset):
        chosen = torch.randperm(len(dataset), generator=generator)[: min(n, len(dataset))]
        return dataset.x[chosen], None if dataset.y is None else dataset.y[chosen]
    batch = dataset.sample(n, generator)
    return batch.x, batch.y


def _labels(dataset: Dataset) -> Tensor | None:
    return dataset.y if isinstance(dataset, TensorDataset) else None


def _classifier(dataset: Dataset, data_id: str, options: dict[str, Any]) -> Any:
    from ebkit.metrics import cached_classifier

    assert isinstance(dataset, TensorDataset) and dataset.y is not None
    return cached_classifier(
        data_id,
        dataset.x,
        dataset.y,
        options=options,
        num_classes=dataset.spec.num_classes,
    )


def _point_metrics(
    dataset: Dataset, real: Tensor, samples: Tensor, seed: int
) -> dict[str, float | int | None]:
    from ebkit.metrics import mode_coverage, rbf_mmd2, sliced_wasserstein

    metrics: dict[str, float | int | None] = {
        "sliced_wasserstein": float(
            sliced_wasserstein(real, samples, generator=torch.Generator().manual_seed(seed))
        ),
        "mmd2": float(rbf_mmd2(real, samples)),
    }
    modes, mode_std = getattr(dataset, "modes", None), getattr(dataset, "mode_std", None)
    if modes is not None and mode_std is not None:
        coverage = mode_coverage(samples, modes, float(mode_std))
        metrics.update(
            modes_covered=coverage.modes_covered,
            num_modes=coverage.num_modes,
            high_quality_share=coverage.high_quality_share,
            reverse_kl=coverage.reverse_kl,
        )
    return metrics


# -- scoring ---------------------------------------------------------------------------


def load_inputs(
    text: str, run: SavedRun, *, manager: PluginManager | None = None, data_path: str | None = None
) -> tuple[Tensor, Tensor | None]:
    """Samples (and labels, if any) from an ``.npz`` file, an image folder (resized to
    the run's image size and channels) or a dataset name, checked against the run's
    event shape."""
    path = Path(text)
    spec = run.spec
    manager = manager or get_plugin_manager()
    dataset: Dataset
    if path.suffix == ".npz" and path.is_file():
        dataset = build_component(manager, "dataset", "npz", {}, path=path)
    elif path.is_dir():
        if not spec.is_image or spec.event_shape[1] != spec.event_shape[2]:
            raise UsageError(
                f"{text} is a folder of images, but the run's samples have shape "
                f"{spec.event_shape} (an image folder needs square images)"
            )
        size = {"size": spec.event_shape[1], "channels": spec.event_shape[0]}
        dataset = build_component(manager, "dataset", "folder", size, path=path)
    else:
        try:
            manager.lookup("dataset", text)
        except UsageError:
            raise UsageError(
                f"{text!r} is neither an .npz file, an image folder nor a dataset name"
            ) from None
        dataset = build_component(manager, "dataset", text, {}, path=data_path)
    if tuple(dataset.spec.event_shape) != tuple(spec.event_shape):
        raise UsageError(
            f"{text}: samples of shape {tuple(dataset.spec.event_shape)}, but the run's "
            f"energy takes {tuple(spec.event_shape)}"
        )
    if isinstance(dataset, Streamed):
        dataset = dataset.in_memory(STREAMED_EVALUATION_LIMIT, torch.Generator().manual_seed(0))
    if isinstance(dataset, TensorDataset):
        return dataset.x, dataset.y
    return dataset.sample(10000, torch.Generator().manual_seed(0)).x, None


def score_summary(energies: Tensor, ood: Tensor | None) -> dict[str, float]:
    """Mean, standard deviation and range of ``energies``; with ``ood`` energies of
    outliers, their mean and the AUROC (outliers should have the higher energy)."""
    from ebkit.metrics import energy_auroc

    summary = {
        "count": float(len(energies)),
        "mean": float(energies.mean()),
        "std": float(energies.std()) if len(energies) > 1 else math.nan,
        "min": float(energies.min()),
        "max": float(energies.max()),
    }
    if ood is not None:
        summary["ood_count"] = float(len(ood))
        summary["ood_mean"] = float(ood.mean())
        summary["auroc"] = energy_auroc(energies, ood)
    return summary


def write_energies(target: Path, energies: Tensor, labels: Tensor | None) -> None:
    """Per-sample energies (and labels, if any), atomically: ``.npz`` with arrays
    ``energy`` and ``label``, or CSV ``index,energy[,label]`` for any other suffix."""

    def write(path: Path) -> None:
        if target.suffix == ".npz":
            import numpy as np

            arrays = {"energy": energies.numpy()}
            if labels is not None:
                arrays["label"] = labels.numpy()
            with path.open("wb") as handle:
                np.savez_compressed(handle, **arrays)
            return
        lines = ["index,energy" + (",label" if labels is not None else "")]
        for index, value in enumerate(energies.tolist()):
            label = f",{int(labels[index])}" if labels is not None else ""
            lines.append(f"{index},{value!r}{label}")
        path.write_text("\n".join(lines) + "\n")

    atomic_write(target, write)
