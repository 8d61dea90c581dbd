"""Standard FID, KID and Inception score: the FID Inception network of
:mod:`ebkit.metrics.inception` and the formulas of torchmetrics.

torchmetrics (the Lightning project's metrics library) computes FID (Heusel et al. 2017,
eq. 6), KID (Bińkowski et al. 2018, eq. 4, cubic polynomial kernel over 100 subsets) and
the Inception score (Salimans et al. 2016, mean ± std over 10 splits) from features; it
is installed with the ``standard-metrics`` extra (``pip install 'ebkit[standard-metrics]'``).
The network runs once per image here and hands torchmetrics its features: the 2048-d pool
features to FID and KID, the 1008 logits without bias to the Inception score (what
torch-fidelity and torchmetrics' own Inception compute).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ebkit.core.errors import UsageError
from ebkit.metrics.inception import FIDInception

__all__ = [
    "EXTRA_HINT",
    "InceptionFeatures",
    "StandardMetrics",
    "inception_features",
    "require_torchmetrics",
    "standard_metrics",
    "to_uint8_rgb",
]

EXTRA_HINT = "pip install 'ebkit[standard-metrics]'"
INCEPTION_SCORE_SPLITS = 10
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def require_torchmetrics() -> str:
    """torchmetrics' version, or a :class:`UsageError` naming the extra to install."""
    try:
        import torchmetrics
    except ImportError:
        raise UsageError(
            f"the standard metrics need torchmetrics, which is not installed: {EXTRA_HINT}"
        ) from None
    return str(torchmetrics.__version__)


def to_uint8_rgb(images: Tensor, low: float = -1.0, high: float = 1.0) -> Tensor:
    """Images ``(N, C, H, W)`` with values in ``[low, high]`` as the 0..255 ``uint8``
    RGB the Inception reads: scaled and rounded as a PNG of them would be; one grey
    channel repeated three times (C = 1), three channels kept, other counts refused.
    Non-finite values (a diverged sampler) become black (NaN) or the range's ends."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise UsageError(
            f"the standard metrics need grey or RGB images (N, 1 or 3, H, W), "
            f"not shape {tuple(images.shape)}"
        )
    pixels = torch.nan_to_num(images.detach().to("cpu", torch.float32), nan=low)
    pixels = ((pixels - low) * (255.0 / (high - low))).clamp(0, 255).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1).contiguous() if pixels.shape[1] == 1 else pixels


@dataclass(frozen=True)
class InceptionFeatures:
    """The network's outputs for one image set: ``pool (N, 2048)`` and
    ``logits (N, 1008)``, float64 on the CPU."""

    pool: Tensor
    logits: Tensor

    def __len__(self) -> int:
        return len(self.pool)


@torch.no_grad()
def inception_features(
    network: FIDInception,
    images: Tensor,
    *,
    batch_size: int = 50,
    progress: Callable[[int, int], None] | None = None,
) -> InceptionFeatures:
    """:class:`InceptionFeatures` of ``uint8 (N, 3, H, W)`` images, ``batch_size`` at a
    time on the network's device; ``progress(done, total)`` after each batch."""
    pools, logits = [], []
    for start in range(0, len(images), batch_size):
        pool, logit = network(images[start : start + batch_size])
        pools.append(pool.double().cpu())
        logits.append(logit.double().cpu())
        if progress is not None:
            progress(min(start + batch_size, len(images)), len(images))
    return InceptionFeatures(torch.cat(pools), torch.cat(logits))


@dataclass(frozen=True)
class StandardMetrics:
    """Standard metrics of one generated set against the real set.

    Lower is better: ``standard_fid``, ``standard_kid`` (± ``standard_kid_std`` over
    subsets of ``kid_subset_size``). Higher is better: ``standard_is`` (±
    ``standard_is_std`` over ``is_splits`` splits of the generated set)."""

    standard_fid: float
    standard_kid: float
    standard_kid_std: float
    standard_is: float
    standard_is_std: float
    kid_subset_size: int
    is_splits: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Columns(nn.Module):
    """Columns ``start:stop`` of precomputed features: torchmetrics calls its "feature"
    module on what it is given, and gets the Inception's outputs computed once."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop
        self.num_features = stop - start

    def forward(self, features: Tensor) -> Tensor:
        return features[:, self.start : self.stop]


def standard_metrics(
    real: InceptionFeatures,
    fake: InceptionFeatures,
    *,
    seed: int = 0,
    kid_subset_size: int = KID_SUBSET_SIZE,
    kid_subsets: int = KID_SUBSETS,
    is_splits: int = INCEPTION_SCORE_SPLITS,
) -> StandardMetrics:
    """FID, KID and IS of ``fake`` against ``real`` by torchmetrics. KID's subsets hold
    ``min(kid_subset_size, len(real), len(fake))`` samples; IS's splits hold at least two
    samples each. ``seed`` fixes KID's subsets and IS's shuffling (torchmetrics draws them
    from torch's global generator, which is restored afterwards)."""
    require_torchmetrics()
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore
    from torchmetrics.image.kid import KernelInceptionDistance

    if len(real) < 2 or len(fake) < 2:
        raise UsageError("the standard metrics need at least 2 real and 2 generated images")
    if real.pool.shape[1:] != fake.pool.shape[1:] or real.logits.shape[1:] != fake.logits.shape[1:]:
        raise ValueError("real and fake features must have the same widths")
    subset = min(kid_subset_size, len(real), len(fake))
    splits = max(1, min(is_splits, len(fake) // 2))  # a one-sample split's IS is 1
    width = real.pool.shape[1]
    both_real = torch.cat([real.pool, real.logits], dim=1)
    both_fake = torch.cat([fake.pool, fake.logits], dim=1)
    pool_columns = _Columns(0, width)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # IS and KID keep every feature in memory and say so at each construction.
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(seed)
        fid = FrechetInceptionDistance(feature=pool_columns)
        kid = KernelInceptionDistance(feature=pool_columns, subsets=kid_subsets, subset_size=subset)
        score = InceptionScore(feature=_Columns(width, both_fake.shape[1]), splits=splits)
        for metric in (fid, kid):
            metric.update(both_real, real=True)
            metric.update(both_fake, real=False)
        score.update(both_fake)
        fid_value = float(fid.compute())
        kid_mean, kid_std = (float(value) for value in kid.compute())
        is_mean, is_std = (float(value) for value in score.compute())
    return StandardMetrics(
        standard_fid=fid_value,
        standard_kid=kid_mean,
        standard_kid_std=kid_std,
        standard_is=is_mean,
        standard_is_std=is_std,
        kid_subset_size=subset,
        is_splits=splits,
    )
