"""NonFiniteWatch: the first NaN or infinite loss is found, across folds, without a sync."""

from __future__ import annotations

import pytest
import torch

from ebkit.core.errors import NonFiniteLossError
from ebkit.core.finite import NonFiniteWatch

NAMES = ("energy loss", "sampler loss")


def feed(watch: NonFiniteWatch, bad: dict[tuple[int, str], float], steps: int) -> None:
    for step in range(1, steps + 1):
        for name in NAMES:
            watch.record(torch.tensor(bad.get((step, name), 0.5 * step)), name, step)


def test_finite_losses_pass_the_check() -> None:
    watch = NonFiniteWatch(NAMES)
    watch.check()  # nothing recorded yet
    feed(watch, {}, steps=300)
    watch.check()


@pytest.mark.parametrize("block", [1, 3, 256])
def test_the_first_non_finite_loss_is_named_whatever_the_folding(block: int) -> None:
    watch = NonFiniteWatch(NAMES)
    watch.block = block
    bad = {(7, "sampler loss"): float("inf"), (9, "energy loss"): float("nan")}
    feed(watch, bad, steps=12)
    with pytest.raises(NonFiniteLossError) as caught:
        watch.check()
    assert str(caught.value).startswith("the sampler loss became inf at step 7;")


def test_a_later_fold_does_not_replace_the_first_record() -> None:
    watch = NonFiniteWatch(NAMES)
    watch.block = 4
    feed(watch, {(2, "energy loss"): float("-inf")}, steps=2)
    watch._fold()  # the first bad loss is now in the record
    feed(watch, {(1, "energy loss"): float("nan")}, steps=20)  # a later run of steps
    with pytest.raises(NonFiniteLossError, match="energy loss became -inf at step 2"):
        watch.check()


def test_pending_losses_are_bounded_by_the_block() -> None:
    watch = NonFiniteWatch(NAMES)
    watch.block = 8
    feed(watch, {}, steps=50)
    assert len(watch._pending) < 8


def test_losses_of_other_dtypes_fold_together() -> None:
    watch = NonFiniteWatch(NAMES)
    watch.record(torch.tensor(1.0, dtype=torch.float64), "energy loss", 1)
    watch.record(torch.tensor(float("nan"), dtype=torch.bfloat16), "sampler loss", 1)
    with pytest.raises(NonFiniteLossError, match="sampler loss became nan at step 1"):
        watch.check()
