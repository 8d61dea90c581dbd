"""Small Ladder networks and inputs shared by the Ladder energy's tests."""

from __future__ import annotations

import torch

from ebkit import DataSpec
from ebkit_ladder.ladder import LadderEnergy

LABELLED = DataSpec((1, 4, 4), num_classes=3)


def small_ladder(**options: object) -> LadderEnergy:
    """A small Ladder fed its inputs as they are, so that the tests can follow them
    through the network (the unit input range has its own test)."""
    torch.manual_seed(0)
    return LadderEnergy(LABELLED, sizes=[6, 5], **{"input_range": "data", **options})


def activate(energy: LadderEnergy) -> LadderEnergy:
    """Move every combinator off its initial ẑ ≡ 0, as training would."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for combinator in energy.combinators:
            combinator.a.add_(0.5 * torch.randn(combinator.a.shape, generator=generator))
    return energy


def inputs(batch: int = 8, seed: int = 1, spec: DataSpec = LABELLED) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch, *spec.event_shape), generator=generator) * 2 - 1


def set_combinator(energy: LadderEnergy, layer: int, **values: float) -> None:
    """Set a combinator's a_k (keyword ``a4=1.0``...) for every unit; the others to 0."""
    with torch.no_grad():
        a = energy.combinators[layer].a
        a.zero_()
        for name, value in values.items():
            a[int(name[1:]) - 1] = value
