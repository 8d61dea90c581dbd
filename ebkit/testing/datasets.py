"""The conformance check of datasets: batches within the spec, seeded determinism, and a
``state_dict`` from which a fresh build continues with the same batches."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ebkit.testing.conformance import Factory, _make

if TYPE_CHECKING:
    from ebkit.core.interfaces import Dataset, DataSpec

__all__ = ["check_dataset"]


def check_dataset(
    factory: Factory, path: str | None = None, *, batch: int = 7, **options: Any
) -> None:
    """Check a dataset: a :class:`DataSpec`; batches ``x: (B, *event_shape)`` of finite
    floats within ``[low, high]`` and labels ``y: (B,)`` int64 below ``num_classes`` (or
    ``None``); the same batches from two builds and the same generator seed; and a
    ``state_dict`` (tensors or JSON values) from which a fresh build continues with the
    same batches. ``path`` is the ``--data-path`` the factory receives."""
    import torch

    from ebkit.core.interfaces import DataBatch, Dataset, DataSpec

    dataset = _build_dataset(factory, path, options)
    assert isinstance(dataset, Dataset), f"built {type(dataset).__name__}"
    spec = dataset.spec
    assert isinstance(spec, DataSpec), "spec must be an ebkit.DataSpec"
    first = dataset.sample(batch, torch.Generator().manual_seed(3))
    assert isinstance(first, DataBatch), "sample must return a DataBatch"
    _check_batch(first, spec, batch)
    twin = _build_dataset(factory, path, options)
    again = twin.sample(batch, torch.Generator().manual_seed(3))
    _assert_same_batch(first, again, "two builds sampled with the same generator seed")
    state = dataset.state_dict()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            try:
                json.dumps(value)
            except TypeError:
                raise AssertionError(f"state {key!r} is neither a tensor nor JSON") from None
    saved = {
        key: value.clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)
        for key, value in state.items()
    }
    following = dataset.sample(batch, torch.Generator().manual_seed(4))
    _check_batch(following, spec, batch)
    restored = _build_dataset(factory, path, options)
    restored.load_state_dict(saved)
    resumed = restored.sample(batch, torch.Generator().manual_seed(4))
    _assert_same_batch(following, resumed, "a build restored from state_dict")


def _build_dataset(factory: Factory, path: str | None, options: Mapping[str, Any]) -> Dataset:
    return _make("dataset", factory, options, path=path)


def _check_batch(data: Any, spec: DataSpec, batch: int) -> None:
    import torch

    x = data.x
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (batch, *spec.event_shape), (
        f"x shape {tuple(getattr(x, 'shape', ()))}, expected ({batch}, *{spec.event_shape})"
    )
    assert x.is_floating_point() and torch.isfinite(x).all(), "x must be finite floats"
    assert spec.low <= float(x.min()) and float(x.max()) <= spec.high, (
        f"x spans [{float(x.min()):g}, {float(x.max()):g}], outside the spec's "
        f"[{spec.low:g}, {spec.high:g}]"
    )
    if data.y is not None:
        assert data.y.shape == (batch,) and data.y.dtype == torch.int64, "y must be (B,) int64"
        assert spec.num_classes is not None, "labels need spec.num_classes"
        assert int(data.y.min()) >= 0 and int(data.y.max()) < spec.num_classes, (
            "labels outside [0, num_classes)"
        )


def _assert_same_batch(first: Any, second: Any, what: str) -> None:
    import torch

    assert torch.equal(first.x, second.x), f"{what}: different samples"
    assert (first.y is None) == (second.y is None), f"{what}: labels differ"
    if first.y is not None:
        assert torch.equal(first.y, second.y), f"{what}: different labels"
