"""The Ladder network's Gaussian corruption and the separate noise stream of contrastive
samples (see :class:`ebkit_ladder.ladder.LadderEnergy`, ``contrastive_noise``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

CONTRASTIVE_NOISE_SALT = 0x5EED_C0DE
"""Mixed into the seed of the contrastive samples' own noise stream, so that it is not the
stream the data's next pass draws from."""


def gaussian_noise(like: Tensor, std: float, generator: torch.Generator | None) -> Tensor | None:
    """σ·N(0, I) noise shaped like ``like`` from ``generator`` (torch's global RNG when
    ``None``), or ``None`` when σ = 0 so a noiseless path draws nothing."""
    if std == 0:
        return None
    return std * torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


@contextmanager
def own_noise_stream(device: torch.device) -> Iterator[None]:
    """Within this block torch's global RNG (the CPU's and, for a CUDA ``device``, that
    device's) draws from a stream seeded from its current state, which is restored on
    exit: what the block draws is reproducible, differs from what the caller draws next,
    and the caller's later draws are exactly those it would make without the block."""
    cuda = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if (device.type == "cuda")
        else []
    )
    with torch.random.fork_rng(devices=cuda):
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64)) ^ CONTRASTIVE_NOISE_SALT
        torch.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        yield
