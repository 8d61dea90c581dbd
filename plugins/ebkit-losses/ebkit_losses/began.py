"""BEGAN's boundary-equilibrium loss: the auto-encoder losses L(v), the proportional
control variable k_t and the convergence measure M_global.

Berthelot, Schumm & Metz, *BEGAN: Boundary Equilibrium Generative Adversarial Networks*
(2017), §3.4 (the losses and the control of k_t) and §3.4.1 (M_global). The formulas are
the plain tensor functions below; :class:`BEGANLoss` adds the options, the k_t buffer and
the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ebkit import (
    DataSpec,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    R1Penalty,
    StepExtension,
    all_reduce_mean,
)
from ebkit import world_size as ebkit_world_size
from ebkit_losses.latent_constraint import LatentConstraintStep, latent_constraint


def reconstruction_loss(residual: Tensor, eta: float = 1.0) -> Tensor:
    """BEGAN's auto-encoder loss of each sample (§3.1)::

        L(v) = mean over the d scalars of v of |v − D(v)|^η

    where D(v) is the auto-encoder's reconstruction, so ``residual = D(v) − v`` (the sign
    does not matter). The paper writes |v − D(v)|^η, "the pixel-wise auto-encoder loss",
    with η ∈ {1, 2}; as in its implementations the sum over pixels is a mean, so L does
    not grow with the image size. Any η > 0 is accepted.

    ``residual: (B, *event_shape) -> (B,)``.
    """
    if not eta > 0:
        raise ValueError(f"eta must be a positive number (1 or 2 in the paper), not {eta!r}")
    magnitude = residual.reshape(residual.shape[0], -1).abs()
    if eta != 1:
        magnitude = magnitude.pow(eta)
    return magnitude.mean(dim=1)


def began_energy_loss(
    real_loss: Tensor, fake_loss: Tensor, k: float | Tensor, bound: float = 0.0
) -> Tensor:
    """The discriminator's (energy's) loss, BEGAN §3.4::

        L_D = L(x) − k_t · L(G(z_D))

    with each term the batch mean of the per-sample losses. Unlike EBGAN there is no
    margin: k_t ∈ [0, 1] decides how hard D pushes the generated samples' loss up.

    ``bound`` > 0 replaces each L(G(z_D)) by min(L(G(z_D)), bound): D raises a generated
    sample's error up to the bound and no further, which is EBGAN's hinge
    [m − D(G(z))]⁺ (Zhao et al. 2017, eq. 1) with m = bound, weighted by k_t. Without it
    D can raise the error without limit wherever k_t·P_G > P_data.

    ``real_loss: (B,)``, ``fake_loss: (B',)``, ``k``: a number or a 0-d tensor
    (treated as a constant) -> a scalar.
    """
    if bound > 0:
        fake_loss = fake_loss.clamp(max=bound)
    return real_loss.mean() - k * fake_loss.mean()


def began_sampler_loss(fake_loss: Tensor) -> Tensor:
    """The generator's loss, BEGAN §3.4: ``L_G = L(G(z_G))``, the batch mean, on a batch
    drawn with fresh noise z_G. ``fake_loss: (B,) -> a scalar``."""
    return fake_loss.mean()


def began_k_update(
    k: Tensor,
    real_loss: Tensor,
    fake_loss: Tensor,
    gamma: float,
    lambda_k: float,
    k_min: float = 0.0,
) -> Tensor:
    """One step of BEGAN's proportional control of the equilibrium (§3.4)::

        k_{t+1} = clip(k_t + λ_k · (γ · L(x) − L(G(z_G))), k_min, 1)

    γ = E[L(G(z))] / E[L(x)] is the diversity ratio the control steers to and λ_k the
    proportional gain (0.001 in the paper). The paper clips k_t to [0, 1] in the text
    (``k_min`` = 0). A floor k_min > 0 keeps the energy pushing on any region the
    generator draws at more than 1/k_min times its share of the data: the energy's loss
    raises a region's error only where k_t·P_G > P_data (see :class:`BEGANLoss`).

    ``k``: 0-d; ``real_loss``, ``fake_loss``: 0-d batch means (or any tensors
    broadcasting with ``k``) -> the new k, 0-d. Nothing is differentiated through it.
    """
    return (k + lambda_k * (gamma * real_loss - fake_loss)).clamp(k_min, 1.0)


def convergence_measure(real_loss: Tensor, fake_loss: Tensor, gamma: float) -> Tensor:
    """BEGAN's global measure of convergence (§3.4.1)::

        M_global = L(x) + |γ · L(x) − L(G(z_G))|

    the auto-encoder's loss on data plus how far the pair is from the equilibrium
    E[L(G(z))] = γ·E[L(x)]. It falls as training converges and the paper uses it to
    decide when to halve the learning rate. Inputs are batch means -> 0-d.
    """
    return real_loss + (gamma * real_loss - fake_loss).abs()


IMAGE_GAMMA = 1.0
"""γ on images when not set. The paper's CelebA figures use γ = 0.5 (Berthelot et al.
2017, §4; the paper-scale recipe sets it); with it, and k_0 = 0, k_t stayed below 0.12 and
the generator drew nearly one class on the 8×8 digits (2–4 of 10 classes, FD 93–99) and
on MNIST. γ = 1 is the value at which a generator that matches the data leaves k_t
where it is, so k_t stays near :data:`IMAGE_K0`."""
IMAGE_K0 = 0.8
"""k_0 on images when not set. The auto-encoder's loss L(x) − k_t·L(G(z)) raises the
reconstruction error of a class only where k_t times its share of the samples exceeds
the data's, so from k_t = 0.8 no class may hold much more than 1.25 times its share:
10 of 10 classes on the digits on each of 5 seeds (the largest 15–17 %), where the
paper's k_0 = 0 gave 2–4."""
VECTOR_GAMMA = 1.0
"""γ on vectors (the 2-D toys) when not set. γ < 1 asks for generated samples that are
easier to reconstruct than the data; on images that is blur, on points it is
concentrating on the best-reconstructed mode (one mode of 8 at γ = 0.5). γ = 1 is the
only value for which a generator that matches the data leaves k_t where it is."""
IMAGE_LAMBDA_K = 0.001
"""λ_k on images when not set, the paper's."""
VECTOR_K0 = 1.0
"""k_0 on vectors when not set. The energy's loss L(x) − k_t·L(G(z)) raises the
reconstruction error of a region R only where k_t·P_G(R) > P_data(R), so a generator
that puts its samples on m of M equal modes is left alone once k_t ≤ m/M: a run settles
on about k_t·M modes (2–4 of 8 at the k_t ≈ 0.2–0.37 that the control reached on the
ring). Only k_t = 1 pushes on every over-drawn region."""
VECTOR_LAMBDA_K = 0.0
"""λ_k on vectors when not set: the control is off and k_t stays at k_0 = 1. With γ = 1
the control lowers k_t whenever L(G(z)) > L(x), which is what D's push on a collapse
produces, so it steers k_t to the collapsed equilibrium above. At k_t = 1, L_D =
L(x) − L(G(z)) is the critic loss of a Wasserstein GAN (Arjovsky, Chintala & Bottou 2017,
eq. 3) with the reconstruction error as the critic; :data:`VECTOR_R1` keeps it in check."""
VECTOR_R1 = 1.0
"""γ of the R1 penalty (Mescheder, Geiger & Nowozin 2018, eq. 9) on vectors when not set,
on the auto-encoder's energy E(x) = ‖D(x) − x‖ at the data. At k_t = 1 nothing else
limits how steeply D's error rises between the data and the generated points, and the
generator hops between modes; with it the error has a well at every mode and rises
gently between them (on the ring, seed 0: 0.1 gave 8 of 8 modes at 75 % high quality,
1 gave 8 of 8 at 86 %)."""


def vector_bound(spec: DataSpec, eta: float) -> float:
    """The cap on each generated sample's L in L_D on vectors when ``bound`` is auto:
    (high − low)^η, the loss of a reconstruction that misses every coordinate by the width
    of the data's box. No reconstruction worth pushing on is worse than that. At k_t = 1
    without a cap, L(x) and L(G(z)) can rise together without changing L_D, and the R1
    penalty does not pull them back once the energy is flat: on the pinwheel (seed 2)
    both ran away to about 70 and the energy ended flat with the samples off the arms
    (sliced Wasserstein 0.032). With the cap (2.8 there) D stops pushing on a sample
    whose loss reaches it and lowers L(x) instead: 0.00055, and on the ring (seed 0)
    93.4 % → 94.4 % high quality. It is EBGAN's margin (Zhao et al. 2017, eq. 1) in
    BEGAN's units, weighted by k_t (:func:`began_energy_loss`). It has a known cost: the
    losses then sit just under the cap, and on ``swissroll`` seed 0 the energy ended as a
    shallow trough (0.0082 against 0.0013 uncapped); docs/quality.md compares it with
    holding k_t just below 1."""
    return float((spec.high - spec.low) ** eta)


VECTOR_SAMPLER_LR = 2e-3
"""The generator's learning rate on vectors when ``train.sampler_lr`` is auto: twice the
energy's (two time-scale updates, Heusel et al. 2017, as the margin loss has on vectors).
With k_t held at 1 the generator's samples sat a few σ beside the ring's modes at the
end; the faster generator put more of them inside (seed 1: 48 % → 59 % high quality)."""
VECTOR_BATCH_SIZE = 256
"""The batch (data and generated samples) on vectors when ``train.batch_size`` is auto.
With k_t held at 1 the energy's loss is a critic's, and both players follow minibatch
estimates of E[L(x)] − E[L(G(z))]; with 64 samples their noise kept the generator's
samples jittering a few σ around the modes and between them. Four times the batch halves
the noise's standard deviation (ring, seed 1: 59 % → 91 % high quality; grid, seed 0:
18 of 25 modes at 9 % → 23 at 47 %) for about 1.5 times the CPU time."""
VECTOR_ADAM_BETAS = (0.0, 0.9)
"""Adam's (β1, β2) on vectors when ``train.beta1`` and ``train.beta2`` are auto: those of
the WGAN-GP critic and generator (Gulrajani et al. 2017, Algorithm 1: β1 = 0, β2 = 0.9).
Momentum in a two-player game adds rotation to the players' joint motion, so the
generator circles its targets instead of settling (Gidel et al. 2019, "Negative momentum
for improved game dynamics", §4); with β1 = 0 it did less of that (grid, seed 0, batch
256: 23 of 25 modes at 47 % → 25 at 68 %)."""


class BEGANLoss(LossFunctional):
    """BEGAN's loss (:func:`began_energy_loss`, :func:`began_sampler_loss`) with its
    control variable k_t (:func:`began_k_update`) and M_global
    (:func:`convergence_measure`).

    The per-sample loss L(v) is :func:`reconstruction_loss` of the energy's ``residual``
    (so ``requires = {"residual"}``; the ``autoencoder`` energy provides it for every
    ``arch``); the scalar ``energy`` is not read. ``eta`` is η, ``gamma`` γ,
    ``lambda_k`` λ_k, ``k0`` the initial k_0, ``r1`` the weight of the R1 penalty on
    the data (:class:`ebkit.R1Penalty`, from :meth:`step_extensions`) and ``bound`` the
    cap on L(G(z)) in L_D (:func:`began_energy_loss`); left as ``None`` they are
    :data:`IMAGE_GAMMA`, the paper's 0.001, :data:`IMAGE_K0`, no penalty and no cap on
    images, and :data:`VECTOR_GAMMA`, :data:`VECTOR_LAMBDA_K`, :data:`VECTOR_K0`,
    :data:`VECTOR_R1` and :func:`vector_bound` on vectors (k_t held at 1).

    The engine draws a fresh batch z_G for the generator step
    (``fresh_sampler_batch = True``), so L_D uses G(z_D) and L_G the independent G(z_G).
    :meth:`update_state`, called once at the end of each step with the step's
    ``real`` (x, as D saw it in the energy step) and ``fake`` (G(z_G), after D's
    update), advances k_t. k_t is the 0-d buffer ``k``: checkpoints save it and
    ``--resume`` restores it exactly. With a sampler that is not trainable, ``fake`` is
    the energy step's contrastive batch.

    Metrics (detached 0-d tensors, so logging needs no device sync each step):
    ``energy_loss`` gives ``loss_energy`` (L_D), ``k`` (the k_t this step's L_D used),
    ``l_real`` (L(x)) and ``l_fake`` (L(G(z_D))); ``sampler_loss`` gives
    ``loss_sampler`` (L_G = L(G(z_G))); ``update_state`` gives ``m_global`` (M_global
    from this step's L(x) and L(G(z_G))). The k_{t+1} this step produces is the next
    step's ``k``.
    """

    fresh_sampler_batch = True
    requires = frozenset({"residual"})

    k: Tensor

    def __init__(
        self,
        spec: DataSpec,
        *,
        eta: float = 1.0,
        gamma: float | None = None,
        lambda_k: float | None = None,
        k0: float | None = None,
        constraint: float = 0.0,
        constraint_generator: float = 0.0,
        bound: float | None = None,
        k_min: float = 0.0,
        r1: float | None = None,
    ) -> None:
        super().__init__(spec)
        vectors = not spec.is_image
        if gamma is None:
            gamma = VECTOR_GAMMA if vectors else IMAGE_GAMMA
        if lambda_k is None:
            lambda_k = VECTOR_LAMBDA_K if vectors else IMAGE_LAMBDA_K
        if not 0 <= k_min <= 1:
            raise ValueError(
                f"k_min must lie in [0, 1] (k_t is clipped to [k_min, 1]), not {k_min!r}"
            )
        if k0 is None:
            k0 = max(VECTOR_K0 if vectors else IMAGE_K0, k_min)
        elif k0 < k_min:
            raise ValueError(f"k0 must be at least k_min ({k_min:g}), the floor of k_t, not {k0!r}")
        if not eta > 0:
            raise ValueError(f"eta must be a positive number (1 or 2 in the paper), not {eta!r}")
        if not gamma > 0:
            raise ValueError(
                f"gamma must be a positive number (the paper uses values up to 1), not {gamma!r}"
            )
        if not lambda_k >= 0:
            raise ValueError(f"lambda_k must be a non-negative number, not {lambda_k!r}")
        if not 0 <= k0 <= 1:
            raise ValueError(f"k0 must lie in [0, 1] (k_t is clipped to it), not {k0!r}")
        self.eta = float(eta)
        self.gamma = float(gamma)
        self.lambda_k = float(lambda_k)
        self.k0 = float(k0)
        self.k_min = float(k_min)
        self.register_buffer("k", torch.tensor(self.k0, dtype=torch.get_default_dtype()))
        for name, value in (
            ("constraint", constraint),
            ("constraint_generator", constraint_generator),
            ("bound", bound),
        ):
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be a non-negative number (0: off), not {value!r}")
        self.constraint = float(constraint or 0.0)
        self.constraint_generator = float(constraint_generator or 0.0)
        if bound is None:
            bound = vector_bound(spec, eta) if vectors else 0.0
        self.bound = float(bound)
        self.r1 = R1Penalty.weight_of(r1, spec, on_vectors=VECTOR_R1)
        # The generator's latest noise z, recorded by LatentConstraintStep.
        self.latent: Tensor | None = None

    def step_extensions(self) -> Sequence[StepExtension]:
        extensions: list[StepExtension] = []
        if self.constraint > 0 or self.constraint_generator > 0:
            extensions.append(LatentConstraintStep(self))
        return extensions + R1Penalty.extensions(self.r1)

    def train_defaults(self) -> dict[str, int | float]:
        """On vectors, the generator's learning rate :data:`VECTOR_SAMPLER_LR`, the batch
        :data:`VECTOR_BATCH_SIZE` and Adam's :data:`VECTOR_ADAM_BETAS` where the run leaves
        those ``train`` options at auto; images keep the data kind's defaults."""
        if self.spec.is_image:
            return {}
        beta1, beta2 = VECTOR_ADAM_BETAS
        return {
            "sampler_lr": VECTOR_SAMPLER_LR,
            "batch_size": VECTOR_BATCH_SIZE,
            "beta1": beta1,
            "beta2": beta2,
        }

    def per_sample_loss(self, output: EnergyOutput) -> Tensor:
        """L(v) of each sample of ``output``, ``(B,)``, from its ``residual``."""
        if output.residual is None:
            raise ValueError(
                "the began loss reads the energy's per-pixel residual, which this energy "
                "output lacks (use an auto-encoder energy such as 'autoencoder')"
            )
        return reconstruction_loss(output.residual, self.eta)

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        real_loss = self.per_sample_loss(real)
        fake_loss = self.per_sample_loss(fake)
        k = self.k.detach()
        loss = began_energy_loss(real_loss, fake_loss, k, self.bound)
        with torch.no_grad():
            metrics: dict[str, Tensor | float] = {
                "loss_energy": loss.detach(),
                "k": k.clone(),
                "l_real": real_loss.mean(),
                "l_fake": fake_loss.mean(),
            }
        return LossOutput(loss, metrics)

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        loss = began_sampler_loss(self.per_sample_loss(fake))
        metrics: dict[str, Tensor | float] = {"loss_sampler": loss.detach()}
        if self.constraint_generator > 0:
            term = latent_constraint(fake.features, self.latent)
            metrics["constraint_sampler"] = term.detach()
            loss = loss + self.constraint_generator * term
        return LossOutput(loss, metrics)

    def update_state(self, real: EnergyOutput, fake: EnergyOutput) -> dict[str, Tensor | float]:
        """k_t → k_{t+1} from this step's L(x) and L(G(z_G)); returns ``m_global``.

        In a data-parallel run both are means over the global batch
        (:func:`ebkit.all_reduce_mean`), so every rank holds the same k_t and M_global."""
        with torch.no_grad():
            real_loss = self.per_sample_loss(real).mean()
            fake_loss = self.per_sample_loss(fake).mean()
            if ebkit_world_size() > 1:
                real_loss, fake_loss = all_reduce_mean(torch.stack([real_loss, fake_loss]))
            self.k.copy_(
                began_k_update(self.k, real_loss, fake_loss, self.gamma, self.lambda_k, self.k_min)
            )
            return {"m_global": convergence_measure(real_loss, fake_loss, self.gamma)}

    def extra_repr(self) -> str:
        extra = "".join(
            f", {name}={value:g}"
            for name, value in (
                ("k_min", self.k_min),
                ("bound", self.bound),
                ("r1", self.r1),
                ("constraint", self.constraint),
                ("constraint_generator", self.constraint_generator),
            )
            if value
        )
        return (
            f"eta={self.eta:g}, gamma={self.gamma:g}, lambda_k={self.lambda_k:g}, "
            f"k0={self.k0:g}{extra}"
        )
