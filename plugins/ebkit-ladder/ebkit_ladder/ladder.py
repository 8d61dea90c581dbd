"""The Ladder network energy of EBGAN-LN: a denoising Ladder network (Rasmus et al. 2015)
whose denoising cost is the energy and whose clean path classifies."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ebkit import DataSpec, EnergyFunction, EnergyOutput
from ebkit_ladder import CONTRASTIVE_NOISES, CONTRASTIVE_NORMALIZATIONS, INPUT_RANGES
from ebkit_ladder.combinator import VanillaCombinator
from ebkit_ladder.noise import gaussian_noise, own_noise_stream
from ebkit_ladder.normalization import RunningStatistics, batch_normalize
from ebkit_ladder.options import resolve_layer_weights, resolve_num_classes

DEFAULT_SIZES: tuple[int, ...] = (1000, 500, 250, 250, 250)
"""Hidden layer sizes of the permutation-invariant MNIST Ladder (784-1000-500-250-250-250-10;
Zhao, Mathieu & LeCun 2017, App. D)."""

COSTS: tuple[str, ...] = ("bottom", "full")
"""Accepted ``costs``: only the input reconstruction (EBGAN-LN's bottom-layer cost) or the
weighted denoising costs of every layer (the full Ladder)."""

DEFAULT_BOTTOM_WEIGHT = 1000.0
"""λ₀, the weight of the input reconstruction cost: EBGAN's tuned 1000/784 per pixel
(App. D) and Rasmus et al.'s MNIST value."""

EVAL_NOISE_SEED = 0
"""Seed of the noise that corrupts the input in evaluation mode: the same noise at every
call, so that eval-mode energies are a deterministic function of the batch."""


def denoising_cost(clean: Tensor, estimate: Tensor) -> Tensor:
    """The unweighted denoising cost of one layer, per sample (Rasmus et al. 2015, eq. 3)::

        C_l / λ_l = (1 / d_l) · ‖z⁽ˡ⁾ − ẑ_BN⁽ˡ⁾‖²

    ``clean``: the clean path's code z⁽ˡ⁾ (the clean input x at l = 0) and ``estimate``:
    the decoder's reconstruction, batch-normalised with the clean path's statistics for
    l ≥ 1 (ẑ_BN) and as it is at l = 0. ``(B, d_l), (B, d_l) -> (B,)``. At l = 0 with
    λ₀ = 1000 and d₀ = 784 this is EBGAN-LN's energy λ₀/784 · ‖x − ẑ⁽⁰⁾‖² (Zhao, Mathieu
    & LeCun 2017, App. D).
    """
    if clean.shape != estimate.shape:
        raise ValueError(
            f"the reconstruction {tuple(estimate.shape)} does not match the code "
            f"{tuple(clean.shape)}"
        )
    return (clean - estimate).square().mean(dim=1)


@dataclass
class EncoderPass:
    """One pass through the encoder, layer by layer (l = 0 is the flattened input, L the
    top), each tensor ``(B, d_l)``.

    - ``z[l]``: the normalised pre-activation with its noise (the input with its noise at
      l = 0); the lateral signal of the decoder and, on the clean path, its target;
    - ``noise[l]``: the noise that was added, ``None`` on a noiseless path;
    - ``mean[l]``, ``var[l]``: the statistics that normalised layer l (``None`` at l = 0);
    - ``hidden``: h⁽ᴸ⁻¹⁾, the last hidden layer's output ``(B, sizes[-1])``;
    - ``logits``: γ ⊙ (z⁽ᴸ⁾ + β⁽ᴸ⁾), ``(B, num_classes)``; their softmax is h⁽ᴸ⁾.
    """

    z: list[Tensor]
    noise: list[Tensor | None]
    mean: list[Tensor | None]
    var: list[Tensor | None]
    hidden: Tensor
    logits: Tensor


@dataclass
class LadderPass:
    """Everything one forward pass of the Ladder computes.

    ``clean`` and ``corrupted`` are the two encoder passes; ``reconstructions[l]`` is the
    decoder's ẑ⁽ˡ⁾ ``(B, d_l)``; ``layer_costs[l]`` is the weighted cost λ_l · C_l
    ``(B,)``, or ``None`` for a layer whose cost is not computed (every l ≥ 1 with
    ``costs="bottom"``); ``energy`` ``(B,)`` is the sum of the computed costs.
    """

    clean: EncoderPass
    corrupted: EncoderPass
    reconstructions: list[Tensor]
    layer_costs: list[Tensor | None]
    energy: Tensor


class LadderEnergy(EnergyFunction):
    """A Ladder network (Rasmus et al. 2015) whose denoising cost is the energy, as in
    EBGAN-LN (Zhao, Mathieu & LeCun 2017, §4.2 and App. D).

    ``x: (B, *event_shape) -> EnergyOutput`` with ``energy: (B,)``, ``logits:
    (B, num_classes)`` and ``features: (B, sizes[-1])``. Images are flattened and, with
    ``input_range="unit"`` (the default), the data range [low, high] is mapped onto
    [0, 1]: the Ladder papers feed MNIST pixels in [0, 1], and their λ₀ = 1000 and
    σ = 0.3 are tuned for that range. Fed ebkit's [-1, 1] pixels as they are
    (``input_range="data"``), the background alone costs λ₀ at initialisation (ẑ = 0
    against −1), the same noise corrupts half as much, and on MNIST with 100 labels the
    Ladder then classifies worse than the supervised network alone (measured:
    29% vs 14% held-out error after 500 steps; docs/components/ladder.md).

    **Encoder** (widths d₀ = input size, ``sizes``, d_L = ``num_classes``), per layer
    l = 1..L, with W⁽ˡ⁾ shared by both paths::

        z⁽ˡ⁾ = N(W⁽ˡ⁾ h⁽ˡ⁻¹⁾) + n⁽ˡ⁾            N: batch norm without a learned affine map
        h⁽ˡ⁾ = ReLU(z⁽ˡ⁾ + β⁽ˡ⁾)                  l < L
        logits = γ ⊙ (z⁽ᴸ⁾ + β⁽ᴸ⁾),  h⁽ᴸ⁾ = softmax(logits)

    with h⁽⁰⁾ = z⁽⁰⁾ = x + n⁽⁰⁾. β is learned at every layer, γ only at the top (ReLU
    needs no scale). The *corrupted* path draws n⁽ˡ⁾ ~ N(0, σ²), σ = ``noise_std``, at the
    input and at every layer; the *clean* path has n = 0 and provides the targets.

    **Decoder**, top-down for l = L..0, with its own weights V⁽ˡ⁾ and one
    :class:`~ebkit_ladder.combinator.VanillaCombinator` per layer::

        u⁽ᴸ⁾ = N(h̃⁽ᴸ⁾),  u⁽ˡ⁾ = N(V⁽ˡ⁺¹⁾ ẑ⁽ˡ⁺¹⁾),  ẑ⁽ˡ⁾ = g(z̃⁽ˡ⁾, u⁽ˡ⁾)

    **Energy**: E(x) = Σ_l λ_l · ‖z⁽ˡ⁾ − ẑ_BN⁽ˡ⁾‖² / d_l (:func:`denoising_cost`), where
    ẑ_BN⁽ˡ⁾ is ẑ⁽ˡ⁾ normalised with the clean path's statistics (ẑ⁽⁰⁾ itself at l = 0).
    By default (``costs="bottom"``) only l = 0 counts: E(x) = λ₀/d₀ · ‖x − ẑ⁽⁰⁾‖², the
    bottom-layer-cost Ladder of EBGAN-LN; the decoder still runs down to layer 0 but
    the upper layers' costs are not computed. ``costs="full"`` adds λ₁..λ_L
    (``layer_weights``). At initialisation every ẑ is 0 (see
    :data:`~ebkit_ladder.combinator.COMBINATOR_INIT`), so E(x) = λ₀/d₀ · ‖x‖² (x in the
    network's input range).

    **Modes** (the contract the engine relies on):

    - training mode: batch statistics (the clean path's update the running ones, unless
      inside :meth:`frozen_statistics`); the noise comes from torch's global RNG, like
      dropout, which the trainer forks and restores around each step; ``logits`` are the
      **corrupted** path's, to train the classifier with (cross-entropy on them);
    - evaluation mode: running statistics everywhere, so a sample's outputs do not depend
      on its batch; the energy is still a denoising cost, with the noise drawn from a
      generator seeded with :data:`EVAL_NOISE_SEED` at every call (deterministic for a
      given batch shape); ``logits`` are the **clean** path's, to predict with;
    - contrastive samples (EBGAN-LN's G(z)), which the engine evaluates in
      :meth:`contrastive_scope`: training mode, but they never update the running
      statistics, and with ``contrastive_normalization="data"`` (the default) every
      layer normalises them with the running statistics of the data instead of their own
      batch's. Batch statistics would re-centre and re-scale a batch of fakes at every
      layer, hiding from the energy exactly how they differ from data; measured on MNIST
      with 100 labels (1000 steps, seed 0), EBGAN-LN's held-out error was 14.05% with
      ``batch`` and 11.65% with ``data`` (the Ladder alone: 12.80%). With
      ``contrastive_noise="own"`` (the default) their corruption comes from a noise
      stream of their own (:func:`~ebkit_ladder.noise.own_noise_stream`), so the data's
      passes draw the same noise as in a Ladder run without contrastive samples: with
      the same seed, EBGAN-LN and the Ladder then differ by the margin term alone, which
      makes their per-seed comparison a paired one (common random numbers).

    ``features`` is h⁽ᴸ⁻¹⁾ of the clean path (the code the classifier reads), so the
    pulling-away term works with EBGAN-LN. :meth:`classify` runs the clean path alone.
    Batches need at least 2 samples in training mode.

    Weights W and V start from N(0, 1/fan_in) as in the reference code, β at 0, γ at 1.
    """

    provides: ClassVar[frozenset[str]] = frozenset({"logits", "features"})

    def __init__(
        self,
        spec: DataSpec,
        *,
        sizes: Sequence[int] = DEFAULT_SIZES,
        num_classes: int | None = None,
        noise_std: float = 0.3,
        costs: str = "bottom",
        bottom_weight: float = DEFAULT_BOTTOM_WEIGHT,
        layer_weights: Sequence[float] | None = None,
        input_range: str = "unit",
        contrastive_normalization: str = "data",
        contrastive_noise: str = "own",
    ) -> None:
        super().__init__(spec)
        if contrastive_noise not in CONTRASTIVE_NOISES:
            raise ValueError(
                f"contrastive_noise must be one of {', '.join(CONTRASTIVE_NOISES)}, "
                f"not {contrastive_noise!r}"
            )
        self.contrastive_noise = contrastive_noise
        if contrastive_normalization not in CONTRASTIVE_NORMALIZATIONS:
            raise ValueError(
                "contrastive_normalization must be one of "
                f"{', '.join(CONTRASTIVE_NORMALIZATIONS)}, not {contrastive_normalization!r}"
            )
        self.contrastive_normalization = contrastive_normalization
        if input_range not in INPUT_RANGES:
            raise ValueError(
                f"input_range must be one of {', '.join(INPUT_RANGES)}, not {input_range!r}"
            )
        if input_range == "unit" and not spec.high > spec.low:
            raise ValueError(f"the data range [{spec.low}, {spec.high}] is empty")
        self.input_range = input_range
        sizes = list(sizes)
        if not sizes or any(size < 1 for size in sizes):
            raise ValueError(
                f"sizes must list at least one hidden layer of at least 1 unit, not {sizes}"
            )
        if not (math.isfinite(noise_std) and noise_std >= 0):
            raise ValueError(f"noise_std must be a finite number >= 0, not {noise_std}")
        if costs not in COSTS:
            raise ValueError(f"costs must be one of {', '.join(COSTS)}, not {costs!r}")
        if not (math.isfinite(bottom_weight) and bottom_weight >= 0):
            raise ValueError(f"bottom_weight must be a finite number >= 0, not {bottom_weight}")
        classes = resolve_num_classes(spec, num_classes)
        self.widths: tuple[int, ...] = (spec.dim, *sizes, classes)
        self.noise_std = float(noise_std)
        self.costs = costs
        self.layer_weights: tuple[float, ...] = (
            float(bottom_weight),
            *resolve_layer_weights(layer_weights, len(sizes), costs),
        )
        """λ₀..λ_L; λ₁..λ_L are used only with ``costs="full"``."""

        depth = len(self.widths) - 1
        self.encoder = nn.ModuleList(
            nn.Linear(self.widths[k], self.widths[k + 1], bias=False) for k in range(depth)
        )
        """``encoder[l - 1]`` is W⁽ˡ⁾, from layer l − 1 to layer l."""
        self.betas = nn.ParameterList(nn.Parameter(torch.zeros(w)) for w in self.widths[1:])
        """``betas[l - 1]`` is β⁽ˡ⁾."""
        self.gamma = nn.Parameter(torch.ones(classes))
        self.decoder = nn.ModuleList(
            nn.Linear(self.widths[k + 1], self.widths[k], bias=False) for k in range(depth)
        )
        """``decoder[l]`` is V⁽ˡ⁺¹⁾, from layer l + 1 down to layer l."""
        self.combinators = nn.ModuleList(VanillaCombinator(w) for w in self.widths)
        """``combinators[l]`` is g at layer l = 0..L."""
        self.encoder_statistics = nn.ModuleList(RunningStatistics(w) for w in self.widths[1:])
        self.decoder_statistics = nn.ModuleList(RunningStatistics(w) for w in self.widths)
        self._statistics_frozen = False
        self._normalize_with_running = False
        for linear in (*self.encoder, *self.decoder):
            nn.init.normal_(linear.weight, mean=0.0, std=linear.in_features**-0.5)

    @property
    def num_classes(self) -> int:
        return self.widths[-1]

    def forward(self, x: Tensor) -> EnergyOutput:
        result = self.ladder_pass(x)
        path = result.corrupted if self.training else result.clean
        return EnergyOutput(energy=result.energy, features=result.clean.hidden, logits=path.logits)

    def ladder_pass(self, x: Tensor) -> LadderPass:
        """Run the clean encoder, the corrupted encoder and the decoder on ``x: (B,
        *event_shape)`` and compute the denoising costs (see the class docstring)."""
        inputs = self._inputs(x)
        update = self.training and not self._statistics_frozen
        clean = self._encode(inputs, noise_std=0.0, generator=None, update=update)
        generator = None
        if not self.training and self.noise_std > 0:
            generator = torch.Generator(device=inputs.device).manual_seed(EVAL_NOISE_SEED)
        corrupted = self._encode(
            inputs, noise_std=self.noise_std, generator=generator, update=False
        )
        reconstructions = self._decode(corrupted, update=update)
        layers = range(len(self.widths)) if self.costs == "full" else range(1)
        layer_costs: list[Tensor | None] = [None] * len(self.widths)
        for layer in layers:
            estimate = reconstructions[layer]
            mean, var = clean.mean[layer], clean.var[layer]
            if mean is not None and var is not None:
                estimate = batch_normalize(estimate, mean, var)
            cost = denoising_cost(clean.z[layer], estimate)
            layer_costs[layer] = self.layer_weights[layer] * cost
        energy = torch.stack([cost for cost in layer_costs if cost is not None]).sum(dim=0)
        return LadderPass(clean, corrupted, reconstructions, layer_costs, energy)

    def classify(self, x: Tensor) -> Tensor:
        """Class logits of the clean path alone, ``(B, *event_shape) -> (B, num_classes)``:
        in evaluation mode exactly ``forward(x).logits``, at the cost of one encoder pass
        instead of two encoders and a decoder. In training mode it normalises with the
        batch's statistics without updating the running ones."""
        return self._encode(self._inputs(x), noise_std=0.0, generator=None, update=False).logits

    def contrastive_scope(self) -> AbstractContextManager[None]:
        """The engine evaluates contrastive samples in this scope: in
        :meth:`frozen_statistics`, so the running statistics used for classification come
        from data only, and, with ``contrastive_normalization="data"``, normalised with
        those running statistics of the data rather than with their own batch's (see the
        class docstring)."""
        return self._contrastive_pass()

    @contextmanager
    def _contrastive_pass(self) -> Iterator[None]:
        normalization = (
            self.frozen_statistics()
            if self.contrastive_normalization == "batch"
            else self._data_normalized_contrast()
        )
        device = next(self.parameters()).device
        noise = own_noise_stream(device) if self.contrastive_noise == "own" else nullcontext()
        with normalization, noise:
            yield

    @contextmanager
    def _data_normalized_contrast(self) -> Iterator[None]:
        previous, self._normalize_with_running = self._normalize_with_running, True
        try:
            with self.frozen_statistics():
                yield
        finally:
            self._normalize_with_running = previous

    @contextmanager
    def frozen_statistics(self) -> Iterator[None]:
        """Within this block, training-mode passes leave the running statistics alone
        (for contrastive samples, whose statistics should not end up in the ones used
        for evaluation)."""
        previous, self._statistics_frozen = self._statistics_frozen, True
        try:
            yield
        finally:
            self._statistics_frozen = previous

    @property
    def _batch_statistics(self) -> bool:
        """Normalise with the batch's own statistics (training mode, data) rather than
        the running ones (evaluation mode, and contrastive samples in training)."""
        return self.training and not self._normalize_with_running

    def _inputs(self, x: Tensor) -> Tensor:
        """The flattened batch in the network's input range (see ``input_range``)."""
        if tuple(x.shape[1:]) != tuple(self.spec.event_shape):
            raise ValueError(
                f"expected samples of shape {tuple(self.spec.event_shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )
        flat = x.reshape(x.shape[0], -1)
        if self.input_range == "unit":
            return (flat - self.spec.low) / (self.spec.high - self.spec.low)
        return flat

    def _encode(
        self,
        inputs: Tensor,
        *,
        noise_std: float,
        generator: torch.Generator | None,
        update: bool,
    ) -> EncoderPass:
        noise = gaussian_noise(inputs, noise_std, generator)
        h = inputs if noise is None else inputs + noise
        result = EncoderPass(z=[h], noise=[noise], mean=[None], var=[None], hidden=h, logits=h)
        top = len(self.encoder) - 1
        for layer, (weight, statistics, beta) in enumerate(
            zip(self.encoder, self.encoder_statistics, self.betas, strict=True)
        ):
            pre_activation = weight(h)
            mean, var = statistics.statistics(
                pre_activation, use_batch=self._batch_statistics, update=update
            )
            z = batch_normalize(pre_activation, mean, var)
            noise = gaussian_noise(z, noise_std, generator)
            if noise is not None:
                z = z + noise
            result.z.append(z)
            result.noise.append(noise)
            result.mean.append(mean)
            result.var.append(var)
            if layer < top:
                h = torch.relu(z + beta)
                result.hidden = h
            else:
                result.logits = self.gamma * (z + beta)
        return result

    def _decode(self, corrupted: EncoderPass, *, update: bool) -> list[Tensor]:
        # Top-down: u⁽ᴸ⁾ comes from the corrupted softmax, u⁽ˡ⁾ from ẑ⁽ˡ⁺¹⁾ through V.
        signal = torch.softmax(corrupted.logits, dim=1)
        top_down: list[Tensor] = []
        for layer in range(len(self.widths) - 1, -1, -1):
            if top_down:
                signal = self.decoder[layer](top_down[-1])
            mean, var = self.decoder_statistics[layer].statistics(
                signal, use_batch=self._batch_statistics, update=update
            )
            u = batch_normalize(signal, mean, var)
            top_down.append(self.combinators[layer](corrupted.z[layer], u))
        return top_down[::-1]
