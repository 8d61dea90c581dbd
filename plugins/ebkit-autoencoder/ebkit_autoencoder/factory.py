"""Builds the ``autoencoder`` energy: picks the MLP or the conv auto-encoder from ``arch``."""

from __future__ import annotations

from collections.abc import Sequence

from ebkit import DataSpec, EnergyFunction, choose_architecture
from ebkit_autoencoder.conv import ConvAutoEncoderEnergy
from ebkit_autoencoder.mlp import MLPAutoEncoderEnergy


def autoencoder_energy(
    spec: DataSpec,
    *,
    arch: str = "auto",
    n_layers: int = 2,
    width: int = 1024,
    channels: Sequence[int] = (64, 128, 256),
    distance: str = "l2",
    dropout: bool = False,
    batchnorm: bool = True,
) -> EnergyFunction:
    """The EBGAN auto-encoder energy for data described by ``spec``.

    ``arch``: ``mlp`` (:class:`~ebkit_autoencoder.mlp.MLPAutoEncoderEnergy`, the paper's
    MNIST grid), ``conv`` (:class:`~ebkit_autoencoder.conv.ConvAutoEncoderEnergy`, the
    paper's App. C conv net, images only) or ``auto``: conv for images whose height and
    width are both at least 16, the MLP otherwise (so the 8×8 digits and the 2-D toys
    get the MLP; :func:`ebkit.choose_architecture`, the rule the generator uses too).

    ``n_layers``, ``width`` and ``dropout`` shape the MLP only, ``channels`` the conv
    net only; ``distance`` and ``batchnorm`` apply to both. ``dropout=True`` with the
    conv net is an error rather than silently ignored.
    """
    resolved = choose_architecture(spec, arch)
    if resolved == "mlp":
        return MLPAutoEncoderEnergy(
            spec,
            n_layers=n_layers,
            width=width,
            distance=distance,
            dropout=dropout,
            batchnorm=batchnorm,
        )
    if dropout:
        reason = f" (arch='auto' chose conv for {tuple(spec.event_shape)} data)"
        raise ValueError(
            "dropout applies to the mlp auto-encoder only"
            + (reason if arch == "auto" else "")
            + "; set arch='mlp' or dropout=false"
        )
    return ConvAutoEncoderEnergy(spec, channels=channels, distance=distance, batchnorm=batchnorm)
