"""The hand-written loop of ``benchmarks/overhead.py``: a minimal EBGAN step in plain
PyTorch on copies of ebkit's initial modules, the baseline every ratio is taken against."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ebkit.core.data import TensorDataset
from ebkit.core.engine import Components
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import Dataset
from ebkit.runs.config import RunConfig
from ebkit.runs.training import settings_from_config
from ebkit_autoencoder.conv import ConvAutoEncoderEnergy
from ebkit_autoencoder.mlp import MLPAutoEncoderEnergy


class HandLoop:
    """Minimal EBGAN in plain PyTorch on copies of ebkit's initial modules.

    The energy is called through its plain ``nn.Sequential`` parts (``encoder`` and
    ``decoder``) and the generator through its network ``net``, with the arithmetic of
    their ``forward`` (flattening, the conv energy's padding and crop, the output map to
    the data range) written out, so that no ebkit code but the networks' own layers runs
    inside the step and the results are bit-for-bit those of the ebkit modules.
    """

    def __init__(self, components: Components, config: RunConfig, device: torch.device) -> None:
        energy, sampler, loss = components.energy, components.sampler, components.loss
        if not isinstance(energy, (MLPAutoEncoderEnergy, ConvAutoEncoderEnergy)):
            raise UsageError("the hand loop implements the MLP and conv auto-encoders only")
        if loss.f != "identity" or getattr(loss, "schedule", "constant") != "constant":
            raise UsageError("the hand loop implements the constant margin loss with f = identity")
        # Copied before any step: the same initial weights and buffers as ebkit's.
        self.encoder: nn.Module = copy.deepcopy(energy.encoder).to(device)
        self.decoder: nn.Module = copy.deepcopy(energy.decoder).to(device)
        # The MLP auto-encoder applies its code's ReLU between encoder and decoder.
        self.code_activation: nn.Module = copy.deepcopy(
            getattr(energy, "code_activation", nn.Identity())
        )
        self.generator: nn.Module = copy.deepcopy(sampler.net).to(device)
        self.distance: str = energy.distance
        # F.pad's (left, right, top, bottom) for the conv energy; None for the MLP.
        self.padding: tuple[int, int, int, int] | None = getattr(energy, "_padding", None)
        self.margin = float(loss.margin)
        self.latent_dim: int = sampler.latent_dim
        spec = components.dataset.spec
        self.event_shape = spec.event_shape
        self.low, self.high = spec.low, spec.high
        self.device = device
        # The engine's settings, as the timed Trainer gets them (auto options at its defaults).
        optimisation = settings_from_config(config)
        self.batch_size = optimisation.batch_size
        betas = (optimisation.beta1, optimisation.beta2)
        energy_parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        # PyTorch's fused Adam where it runs, as ebkit's engine uses (the same arithmetic).
        fused = True if device.type in ("cpu", "cuda") else None
        self.energy_optimizer = torch.optim.Adam(
            energy_parameters, lr=optimisation.energy_lr, betas=betas, fused=fused
        )
        self.generator_optimizer = torch.optim.Adam(
            self.generator.parameters(), lr=optimisation.sampler_lr, betas=betas, fused=fused
        )
        seed = optimisation.seed
        self.data_generator = torch.Generator().manual_seed(seed)
        self.noise_generator = torch.Generator(device).manual_seed(seed + 1)
        self.dtype = next(self.generator.parameters()).dtype
        self._next_batch = _batch_drawer(components.dataset, self.batch_size, self.data_generator)

    def energy(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        if self.padding is None:
            code = self.code_activation(self.encoder(x.reshape(batch, -1)))
            reconstruction = self.decoder(code).reshape(x.shape)
        else:
            left, right, top, bottom = self.padding
            decoded = self.decoder(self.encoder(torch.nn.functional.pad(x, self.padding)))
            height, width = decoded.shape[-2:]
            reconstruction = decoded[..., top : height - bottom, left : width - right]
        difference = (reconstruction - x).reshape(batch, -1)
        if self.distance == "l2":
            return torch.linalg.vector_norm(difference, ord=2, dim=1)
        if self.distance == "mse":
            return difference.square().mean(dim=1)
        return difference.abs().sum(dim=1)

    def step(self) -> None:
        x = self._next_batch().to(self.device, non_blocking=True)
        z = torch.randn(
            self.batch_size,
            self.latent_dim,
            generator=self.noise_generator,
            device=self.device,
            dtype=self.dtype,
        )
        unit = self.generator(z)
        fake = (self.low + (unit + 1) * (0.5 * (self.high - self.low))).reshape(
            self.batch_size, *self.event_shape
        )

        energy_loss = (
            self.energy(x).mean()
            + torch.clamp(self.margin - self.energy(fake.detach()), min=0).mean()
        )
        self.energy_optimizer.zero_grad(set_to_none=True)
        energy_loss.backward()
        self.energy_optimizer.step()

        generator_loss = self.energy(fake).mean()
        self.generator_optimizer.zero_grad(set_to_none=True)
        generator_loss.backward()
        self.generator_optimizer.step()

    def named_tensors(self) -> dict[str, Tensor]:
        """Parameters and buffers, named as in the ebkit energy/sampler state dicts."""
        tensors = {f"energy.encoder.{k}": v for k, v in self.encoder.state_dict().items()}
        tensors.update({f"energy.decoder.{k}": v for k, v in self.decoder.state_dict().items()})
        tensors.update({f"sampler.net.{k}": v for k, v in self.generator.state_dict().items()})
        return tensors


def _batch_drawer(
    dataset: Dataset, batch_size: int, generator: torch.Generator
) -> Callable[[], Tensor]:
    """The hand loop's data: shuffled epochs over the tensor of a finite dataset, the last
    incomplete batch dropped (what ebkit's TensorDataset does); other datasets are
    sampled through a private copy of the dataset object."""
    if not isinstance(dataset, TensorDataset):
        private = copy.deepcopy(dataset)
        return lambda: private.sample(batch_size, generator).x
    data, count = dataset.x, len(dataset)
    order: Tensor | None = None
    position = 0

    def next_batch() -> Tensor:
        nonlocal order, position
        if order is None or position + batch_size > count:
            order = torch.randperm(count, generator=generator)
            position = 0
        index = order[position : position + batch_size]
        position += batch_size
        return data[index]

    return next_batch
