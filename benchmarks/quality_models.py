"""The rows of the quality benchmark (``benchmarks/quality.py``): which components each
model is trained with, and how the rows trained without a sampler are sampled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LANGEVIN_AT_T1", "MODELS", "SEED_MODELS", "Model", "labels"]


@dataclass(frozen=True)
class Model:
    """One row of the benchmark: the components ``ebkit train`` is given."""

    label: str
    energy: str
    sampler: str
    loss: str
    regularizers: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    """Options of this model beyond the shared network widths."""
    sampled_with: dict[str, Any] | None = None
    """With ``--sampler none``: the options of the ``langevin`` sampler that draws them."""


LANGEVIN_AT_T1 = dict(steps=1000, noise="coupled", noise_scale=1.0, mala=True)
"""How rows trained with ``--sampler none`` are sampled: exact Langevin for exp(−E) with
MALA's correction from uniform noise, η = 2·10⁻⁵·(high − low)², as
``plugins/ebkit-estimation/examples/langevin_samples.py`` does."""


EBGAN = ("autoencoder", "generator", "margin")
REPLAY_HMC = {"sampler.kernel": "hmc", "sampler.kernel_options": "steps=5 leapfrog_steps=4"}
MODELS: dict[str, Model] = {
    "gan": Model("GAN", "mlp", "generator", "gan"),
    "ebgan": Model("EBGAN", *EBGAN),
    "ebgan-pt": Model("EBGAN-PT", *EBGAN, ("pt",)),
    "began": Model("BEGAN", "autoencoder", "generator", "began"),
    "hybrid": Model("hybrid", "mlp", "generator-langevin", "gan"),
    "replay": Model("replay EBM", "mlp", "replay", "cd"),
    "dsm": Model("DSM", "mlp", "none", "dsm", sampled_with=LANGEVIN_AT_T1),
    "ssm": Model(
        "SSM",
        "mlp",
        "none",
        "ssm",
        options={"energy.activation": "swish"},
        sampled_with=LANGEVIN_AT_T1,
    ),
    "nce": Model("NCE", "mlp", "none", "nce", sampled_with=LANGEVIN_AT_T1),
    "hmc": Model("HMC EBM", "mlp", "hmc", "cd"),
    # The replay EBM with HMC chains at the Langevin chains' cost: 5 × 4 = 20 gradients a call.
    "replay-hmc": Model("replay EBM, HMC", "mlp", "replay", "cd", options=REPLAY_HMC),
    "ebgan-dae": Model(
        "EBGAN, denoising AE", "denoising-ae", "generator", "margin", options={"loss.units": "mse"}
    ),
    "ebgan-cae": Model(
        "EBGAN, contractive AE",
        "contractive-ae",
        "generator",
        "margin",
        options={"loss.units": "mse"},
    ),
    "ebgan-sae": Model(
        "EBGAN, sparse AE", "sparse-ae", "generator", "margin", options={"loss.units": "mse"}
    ),
    **{  # EBGAN with each loss of LeCun et al. (2006, Table 1), from ebkit-lecun
        loss: Model(f"EBGAN, {loss}", "autoencoder", "generator", loss)
        for loss in ("square-square", "square-exponential", "pair-hinge", "log-loss", "mce")
    },
}
"""The rows, in the order the tables print them. A row may name a plugin's components;
running it needs that plugin installed (``--models`` picks the rows to run)."""
SEED_MODELS = ("gan", "ebgan", "ebgan-pt", "began", "hybrid", "replay")
"""The rows run by default; the plugins' rows run by name or with ``--models all``."""


def labels() -> dict[str, str]:
    """Each model's name mapped to the label the tables print, in the order of MODELS."""
    return {name: model.label for name, model in MODELS.items()}
