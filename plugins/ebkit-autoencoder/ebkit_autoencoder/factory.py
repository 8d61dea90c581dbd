"""Builds the ``autoencoder`` energy: picks the MLP, the conv or BEGAN's auto-encoder from
``arch``."""

from __future__ import annotations

from collections.abc import Sequence

from ebkit import DataSpec, EnergyFunction, choose_architecture
from ebkit_autoencoder.began import BEGANAutoEncoderEnergy
from ebkit_autoencoder.conv import ConvAutoEncoderEnergy
from ebkit_autoencoder.mlp import MLPAutoEncoderEnergy


def autoencoder_energy(
    spec: DataSpec,
    *,
    arch: str = "auto",
    n_layers: int | None = None,
    width: int | None = None,
    channels: Sequence[int] = (64, 128, 256),
    filters: int = 64,
    embedding: int = 64,
    distance: str = "auto",
    dropout: bool = False,
    batchnorm: bool | None = None,
    label_dim: int | None = None,
    bottleneck: int | None = None,
    features: str = "auto",
) -> EnergyFunction:
    """The EBGAN auto-encoder energy for data described by ``spec``.

    ``arch``: ``mlp`` (:class:`~ebkit_autoencoder.mlp.MLPAutoEncoderEnergy`, the paper's
    MNIST grid), ``conv`` (:class:`~ebkit_autoencoder.conv.ConvAutoEncoderEnergy`, the
    paper's App. C conv net, images only) or ``auto``: conv for images whose height and
    width are both at least 16, the MLP otherwise (so the 8×8 digits and the 2-D toys
    get the MLP; :func:`ebkit.choose_architecture`, the rule the generator uses too).

    ``began`` (:class:`~ebkit_autoencoder.began.BEGANAutoEncoderEnergy`) is BEGAN's
    ELU auto-encoder with an embedding, for images with sides of 8·2^k pixels; never
    chosen by ``auto``.

    ``n_layers``, ``width`` and ``dropout`` shape the MLP only, ``channels`` the conv
    net only, ``filters`` and ``embedding`` BEGAN's only; ``distance`` applies to all
    (``auto``: ``l2`` for mlp and conv, ``mae`` for began) and ``batchnorm`` to mlp and
    conv (BEGAN's net has none). ``dropout=True`` with a conv net is an error rather
    than silently ignored.

    Every architecture conditions on class labels in a conditional run
    (``spec.conditional``): the MLP concatenates a learned ``label_dim``-value embedding
    (auto: ``num_classes``) to its flattened input, the conv nets one learned map per
    class to their input image. ``label_dim`` shapes the MLP's embedding only and is
    unused in unconditional runs.

    ``features`` picks what the MLP returns as ``features`` (what the pulling-away term
    reads): ``code`` (the ReLU code), ``linear`` (the encoder output layer's values before
    that ReLU) or ``auto`` (linear on vectors, code on images); the conv and BEGAN nets
    return their code, so ``linear`` with them is an error.
    """
    if features == "linear" and (arch == "began" or choose_architecture(spec, arch) != "mlp"):
        raise ValueError("features=linear applies to the mlp auto-encoder only; set arch='mlp'")
    if arch == "began":
        if dropout:
            raise ValueError("dropout applies to the mlp auto-encoder only; set dropout=false")
        return BEGANAutoEncoderEnergy(spec, filters=filters, embedding=embedding, distance=distance)
    resolved = choose_architecture(spec, arch)
    if resolved == "mlp":
        return MLPAutoEncoderEnergy(
            spec,
            n_layers=n_layers,
            width=width,
            distance=distance,
            dropout=dropout,
            batchnorm=batchnorm,
            label_dim=label_dim,
            bottleneck=bottleneck,
            features=features,
        )
    if dropout:
        reason = f" (arch='auto' chose conv for {tuple(spec.event_shape)} data)"
        raise ValueError(
            "dropout applies to the mlp auto-encoder only"
            + (reason if arch == "auto" else "")
            + "; set arch='mlp' or dropout=false"
        )
    return ConvAutoEncoderEnergy(spec, channels=channels, distance=distance, batchnorm=batchnorm)
