"""The optimiser choice of the energy and of a trainable sampler (``train.energy_optimizer``,
``train.sampler_optimizer``): Adam or plain SGD, the optimiser axes of the GAN grid of
Zhao et al. (2017), EBGAN, Table 1."""

from __future__ import annotations

import pytest
import torch

from ebkit import UsageError
from ebkit.core.optimizers import OPTIMIZERS, make_optimizer
from ebkit.plugin.manager import get_plugin_manager
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer

SMALL = ["energy.width=8", "sampler.width=8", "sampler.latent_dim=2", "train.batch_size=8"]


def trainer(*overrides: str):  # type: ignore[no-untyped-def]
    config = resolve_config(
        get_plugin_manager(),
        names={"energy": "mlp", "sampler": "generator", "loss": "gan", "data": "8gaussians"},
        overrides=[*SMALL, *overrides],
    )
    return build_trainer(config, get_plugin_manager())


def test_make_optimizer_builds_adam_with_betas_or_plain_sgd() -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    adam = make_optimizer("adam", [weight], 0.01, (0.5, 0.9))
    sgd = make_optimizer("sgd", [weight], 0.1, (0.5, 0.9))
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["betas"] == (0.5, 0.9)
    assert type(sgd) is torch.optim.SGD and sgd.param_groups[0]["momentum"] == 0
    weight.grad = torch.full((3,), 2.0)
    sgd.step()
    assert torch.allclose(weight.detach(), torch.full((3,), 0.8))  # w − lr·g
    assert OPTIMIZERS == ("adam", "sgd")
    with pytest.raises(ValueError, match="adam, sgd"):
        make_optimizer("rmsprop", [weight], 0.1, (0.5, 0.9))


def test_adam_is_fused_and_takes_adams_first_step() -> None:
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    adam = make_optimizer("adam", [weight], 0.1, (0.5, 0.9))
    assert adam.defaults["fused"] is True
    weight.grad = torch.tensor([0.5, -4.0])
    adam.step()
    # Step 1: m̂ = g and v̂ = g² after bias correction, so w − lr·g / (|g| + ε).
    expected = torch.tensor([1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8)])
    torch.testing.assert_close(weight.detach(), expected, rtol=0, atol=1e-7)


def test_fused_adam_follows_the_per_tensor_implementation() -> None:
    torch.manual_seed(0)
    fused_weights = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    plain_weights = [torch.nn.Parameter(w.detach().clone()) for w in fused_weights]
    fused = make_optimizer("adam", fused_weights, 1e-2, (0.5, 0.999))
    plain = torch.optim.Adam(plain_weights, lr=1e-2, betas=(0.5, 0.999), foreach=False)
    for _ in range(50):
        for a, b in zip(fused_weights, plain_weights, strict=True):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        fused.step()
        plain.step()
    for a, b in zip(fused_weights, plain_weights, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_each_network_gets_the_optimiser_its_option_names() -> None:
    chosen = trainer("train.energy_optimizer=sgd", "train.energy_lr=0.01")
    assert type(chosen.energy_optimizer) is torch.optim.SGD
    assert chosen.energy_optimizer.param_groups[0]["lr"] == 0.01
    assert type(chosen.sampler_optimizer) is torch.optim.Adam
    swapped = trainer("train.sampler_optimizer=sgd")
    assert type(swapped.energy_optimizer) is torch.optim.Adam
    assert type(swapped.sampler_optimizer) is torch.optim.SGD
    swapped.train_step()  # a step runs with SGD


def test_an_unknown_optimiser_is_refused_naming_the_choices() -> None:
    with pytest.raises(
        UsageError, match=r"train\.energy_optimizer: 'rmsprop' is not one of 'adam', 'sgd'"
    ):
        trainer("train.energy_optimizer=rmsprop")
