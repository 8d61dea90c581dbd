"""Seeded splits of a labelled dataset for semi-supervised runs: a held-out test split,
a class-balanced labelled subset and the unlabelled rest.

The split is a pure function of the labels, the fractions and the seed, so a run, its
``--resume`` and ``ebkit evaluate`` rebuild exactly the same three parts from the run's
configuration without storing any index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ebkit.core.data import TensorDataset
from ebkit.core.interfaces import Dataset
from ebkit.core.semi_supervised import SemiSupervised

if TYPE_CHECKING:
    from ebkit.runs.settings import SemiSupervisedSettings

__all__ = [
    "SPLIT_SEED_OFFSET",
    "SemiSupervisedSplit",
    "balanced_labelled_subset",
    "semi_supervised",
    "semi_supervised_split",
    "stratified_holdout",
]

SPLIT_SEED_OFFSET = 104729
"""Added to the run's seed for the split generator, so the split does not share a stream
with the data batches or the parameter initialisation."""


@dataclass
class SemiSupervisedSplit:
    """The three disjoint parts of a labelled dataset.

    ``unlabelled`` serves the training batches whose labels are never read, ``labelled``
    the supervised batches, ``test_x``/``test_y`` the held-out evaluation set (possibly
    empty when the test fraction is 0).
    """

    unlabelled: TensorDataset
    labelled: TensorDataset
    test_x: Tensor
    test_y: Tensor


def stratified_holdout(labels: Tensor, fraction: float, generator: torch.Generator) -> Tensor:
    """Indices of a held-out set with ``round(fraction · count)`` samples of each class
    (``labels: (N,)`` int64 -> sorted indices). The classes keep their proportions, so
    a 20% test split of MNIST has 20% of every digit."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the test fraction must be in [0, 1), not {fraction}")
    chosen = []
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        count = round(fraction * len(members))
        chosen.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.sort(torch.cat(chosen)).values


def balanced_labelled_subset(
    labels: Tensor, count: int, num_classes: int, generator: torch.Generator
) -> Tensor:
    """Indices of ``count`` samples spread evenly over the classes: ``count // C`` of
    each, and one more for ``count % C`` classes chosen at random (``labels: (N,)``
    -> sorted indices)."""
    if count < num_classes:
        raise ValueError(
            f"--labels {count}: at least one labelled example per class is needed "
            f"({num_classes} classes)"
        )
    per_class = torch.full((num_classes,), count // num_classes, dtype=torch.int64)
    extra = torch.randperm(num_classes, generator=generator)[: count % num_classes]
    per_class[extra] += 1
    chosen = []
    for label in range(num_classes):
        members = torch.nonzero(labels == label).flatten()
        wanted = int(per_class[label])
        if len(members) < wanted:
            raise ValueError(
                f"--labels {count}: class {label} has only {len(members)} training "
                f"examples, {wanted} are needed"
            )
        chosen.append(members[torch.randperm(len(members), generator=generator)[:wanted]])
    return torch.sort(torch.cat(chosen)).values


def semi_supervised_split(
    dataset: Dataset, labels: int, test_fraction: float, seed: int
) -> SemiSupervisedSplit:
    """Split ``dataset`` into a held-out test set (``test_fraction`` of each class), a
    class-balanced labelled subset of ``labels`` examples from the rest, and the
    remaining training examples, whose labels are dropped."""
    if not isinstance(dataset, TensorDataset) or dataset.y is None:
        raise ValueError(
            f"--labels needs a dataset with labels held in memory (such as digits, mnist, "
            f"npz with labels or folder with -o data.labels=true); "
            f"{type(dataset).__name__} has none"
        )
    num_classes = dataset.spec.num_classes or int(dataset.y.max()) + 1
    generator = torch.Generator().manual_seed(seed + SPLIT_SEED_OFFSET)
    test = stratified_holdout(dataset.y, test_fraction, generator)
    train = torch.ones(len(dataset), dtype=torch.bool)
    train[test] = False
    train_index = torch.nonzero(train).flatten()
    chosen = balanced_labelled_subset(dataset.y[train_index], labels, num_classes, generator)
    labelled_index = train_index[chosen]
    unlabelled = train.clone()
    unlabelled[labelled_index] = False
    unlabelled_index = torch.nonzero(unlabelled).flatten()
    if len(unlabelled_index) == 0:
        raise ValueError(f"--labels {labels}: no unlabelled training examples are left")
    spec = dataset.spec
    return SemiSupervisedSplit(
        unlabelled=TensorDataset(dataset.x[unlabelled_index], None, spec),
        labelled=TensorDataset(dataset.x[labelled_index], dataset.y[labelled_index], spec),
        test_x=dataset.x[test],
        test_y=dataset.y[test],
    )


def semi_supervised(
    dataset: Dataset, options: SemiSupervisedSettings, seed: int
) -> tuple[Dataset, SemiSupervised | None]:
    """What a run's semi-supervised options make of its dataset: with ``labels``, the
    unlabelled examples it trains on and the :class:`SemiSupervised` extension holding
    the labelled and held-out ones (split by :func:`semi_supervised_split` from
    ``test_fraction`` and the run's ``seed``); otherwise ``(dataset, None)``. Training
    and ``ebkit evaluate`` both call it, so they see the same split. ``ValueError``: a
    dataset that cannot be split so."""
    if not options.labels:
        return dataset, None
    split = semi_supervised_split(dataset, options.labels, options.test_fraction, seed)
    extension = SemiSupervised(
        split.labelled,
        split.test_x,
        split.test_y,
        weight=options.supervised_weight,
        eval_every=options.eval_every,
    )
    return split.unlabelled, extension
