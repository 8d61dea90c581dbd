"""BEGAN-CS's latent constraint: the auto-encoder's encoder maps a generated sample back
to the noise it came from.

Chang, Lin, Lee, Juan, Wei & Chen, *Escaping from Collapsing Modes in a Constrained
Space* (ECCV 2018), §3: the discriminator of BEGAN-CS minimises

    L_D = L(x) − k_t·L(G(z)) + α·L_c,     L_c = ‖z − Enc(G(z))‖ (a mean of |·| here)

where Enc is the auto-encoder's encoder, so D's code of a generated sample must recover
its z; the generator's loss is BEGAN's. ``constraint_generator`` adds α_G·L_c to the
generator's loss as well, so that G is trained to be invertible by that encoder, the
reconstructor term of VEEGAN (Srivastava et al. 2017, eq. 8) with D's encoder as the
reconstructor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from ebkit import EnergyOutput, LossOutput, StepExtension, UsageError

if TYPE_CHECKING:
    from ebkit_losses.began import BEGANLoss


def latent_constraint(code: Tensor | None, z: Tensor | None) -> Tensor:
    """L_c = the mean over the batch and the h values of |Enc(G(z)) − z|.

    ``code: (B, h)``, the encoder's code of G(z) (the energy's ``features``); ``z: (B, h)``,
    the noise G drew it from -> a scalar. A code of another size than the noise is a
    :class:`ebkit.UsageError` naming both."""
    if code is None or z is None:
        raise UsageError(
            "the latent constraint needs the energy's code (features) and the generator's "
            "noise; use --energy autoencoder with --sampler generator"
        )
    if code.shape != z.shape:
        raise UsageError(
            f"the latent constraint compares the auto-encoder's code, of shape "
            f"{tuple(code.shape)}, with the generator's noise z, of shape {tuple(z.shape)}: "
            "make them equal (energy.bottleneck or energy.embedding = sampler.latent_dim)"
        )
    return (code - z).abs().mean()


class LatentConstraintStep(StepExtension):
    """Adds α·L_c on the energy step's generated batch to the energy's loss.

    The noise z of each batch is read as the generator is called (a forward pre-hook on
    the sampler), so the constraint uses exactly the z the sampler drew, whatever its
    noise: the energy step's z_D when the energy's loss is built, the generator step's
    fresh z_G when the generator's is (:meth:`BEGANLoss.sampler_loss`)."""

    name = "began-latent-constraint"

    def __init__(self, loss: BEGANLoss) -> None:
        self.loss = loss

    def attach(self, trainer: Any) -> None:
        sampler = trainer.components.sampler
        if not isinstance(sampler, nn.Module) or not hasattr(sampler, "latent_dim"):
            raise UsageError(
                "the began loss's latent constraint needs a generator that draws noise z "
                f"(--sampler generator), not {type(sampler).__name__}"
            )
        sampler.register_forward_pre_hook(self._record_noise)

    def _record_noise(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.loss.latent = args[0].detach()

    def energy_terms(
        self, trainer: Any, real: EnergyOutput, fake: EnergyOutput | None
    ) -> LossOutput | None:
        if self.loss.constraint == 0 or fake is None:
            return None
        term = latent_constraint(fake.features, self.loss.latent)
        return LossOutput(self.loss.constraint * term, {"constraint": term.detach()})
