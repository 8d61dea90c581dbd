"""Tests for the plugin authors' testing kit (ebkit.testing): the conformance checks pass
on the built-in components and catch deliberately broken ones; the fixtures isolate. (Each
first-party plugin runs the checks on its own components in its tests/.) The checks of
losses, regularizers, datasets and conditional components are tested beside this file."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ebkit import (
    Component,
    ContrastiveSampler,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    Option,
)
from ebkit.builtins.energies.hooks import ebkit_energies
from ebkit.builtins.losses.hooks import ebkit_losses
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.plugin.components import ALL_KINDS
from ebkit.plugin.manager import PluginManager, get_plugin_manager, module_plugin
from ebkit.testing import (
    check_energy,
    check_loss,
    check_option_round_trip,
    check_sampler,
)

VECTORS = DataSpec((2,), -4.0, 4.0)


def record(records, name: str) -> Component:
    (found,) = [item for item in records if item.name == name]
    return found


MLP = record(ebkit_energies(), "mlp")
GENERATOR = record(ebkit_samplers(), "generator")
GAN = record(ebkit_losses(), "gan")


# -- first-party components pass -------------------------------------------------------------------


def test_mlp_energy_passes() -> None:
    check_energy(MLP, width=8)
    check_energy(MLP, VECTORS, width=8, n_layers=2, activation="elu", spectral_norm=True)


def test_generator_sampler_passes() -> None:
    check_sampler(GENERATOR, width=8, latent_dim=4)
    check_sampler(GENERATOR, VECTORS, width=8, latent_dim=4, n_layers=2, batchnorm=False)


def test_gan_loss_passes() -> None:
    check_loss(GAN)
    check_loss(GAN, generator_loss="minimax")


def test_checks_accept_plain_callables() -> None:
    check_energy(Healthy, VECTORS)
    check_sampler(NoiseSampler, VECTORS)


def test_option_round_trip_passes_on_every_installed_component() -> None:
    """The built-ins, and the first-party plugins where they are installed."""
    manager = PluginManager(environ={})
    entries = [entry for kind in ALL_KINDS for entry in manager.components(kind)]
    assert {"mlp", "generator", "gan", "digits"} <= {entry.component.name for entry in entries}
    for entry in entries:
        check_option_round_trip(entry.component)


def test_option_round_trip_catches_a_default_that_does_not_read_back() -> None:
    class Sneaky(Option):
        def coerce(self, value, *, where=""):
            result = super().coerce(value, where=where)
            return result + 1 if isinstance(value, str) else result

    component = Component(
        name="sneaky", summary="s", factory=lambda spec: None, options=(Sneaky("n", int, 1, "h"),)
    )
    with pytest.raises(AssertionError, match="reads back"):
        check_option_round_trip(component)


def test_unknown_options_are_rejected_by_the_checks() -> None:
    with pytest.raises(Exception, match="unknown option"):
        check_energy(MLP, widht=8)


# -- deliberately broken energies ------------------------------------------------------------------


class Healthy(EnergyFunction):
    """E(x) = w·‖x‖² + b, with the parts the broken variants below change."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.w = nn.Parameter(torch.ones(()))
        self.b = nn.Parameter(torch.zeros(()))

    def scalar(self, x):
        return self.w * x.flatten(1).pow(2).sum(1) + self.b

    def forward(self, x):
        return EnergyOutput(energy=self.scalar(x))


class WrongShape(Healthy):
    def forward(self, x):
        return EnergyOutput(energy=self.scalar(x)[:, None])


class NotFinite(Healthy):
    def forward(self, x):
        energy = self.scalar(x)
        return EnergyOutput(energy=energy + torch.where(energy > 0, float("nan"), 0.0))


class PlainTensor(Healthy):
    def forward(self, x):
        return self.scalar(x)


class ClaimsFeatures(Healthy):
    provides = frozenset({"features"})


class FeaturesOfWrongRank(Healthy):
    provides = frozenset({"features"})

    def forward(self, x):
        return EnergyOutput(energy=self.scalar(x), features=x[:, None, :1].expand(-1, 2, 1))


class UnusedParameter(Healthy):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.unused = nn.Parameter(torch.ones(3))


class NoParameters(EnergyFunction):
    def forward(self, x):
        return EnergyOutput(energy=x.flatten(1).pow(2).sum(1))


class IgnoresInput(Healthy):
    def forward(self, x):
        return EnergyOutput(energy=self.w * torch.ones(x.shape[0]) + self.b)


class UnseededInit(Healthy):
    counter = 0

    def __init__(self, spec) -> None:
        super().__init__(spec)
        UnseededInit.counter += 1
        with torch.no_grad():
            self.w.fill_(float(UnseededInit.counter))


class NoisyInEval(Healthy):
    def forward(self, x):
        noise = torch.rand(x.shape[0])  # global RNG, even in eval mode
        return EnergyOutput(energy=self.scalar(x) + noise)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (WrongShape, "energy shape"),
        (NotFinite, "not finite"),
        (PlainTensor, "EnergyOutput"),
        (ClaimsFeatures, "features is in provides"),
        (FeaturesOfWrongRank, "features must be"),
        (UnusedParameter, "'unused' gets no gradient"),
        (NoParameters, "trainable parameters"),
        (IgnoresInput, "input gradient"),
        (UnseededInit, "two builds with the same seed"),
        (NoisyInEval, "eval-mode energies differ"),
    ],
)
def test_check_energy_catches_broken_energies(broken, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_energy(broken, VECTORS)


def test_check_energy_catches_a_broken_energy_wrapped_in_a_component() -> None:
    component = Component(name="wrong-shape", summary="broken", factory=WrongShape)
    with pytest.raises(AssertionError, match="energy shape"):
        check_energy(component)


def test_check_energy_catches_a_factory_building_the_wrong_kind() -> None:
    with pytest.raises(AssertionError, match="built NoiseSampler"):
        check_energy(NoiseSampler, VECTORS)


# -- deliberately broken samplers ------------------------------------------------------------------


class NoiseSampler(ContrastiveSampler):
    """Uniform noise in the data range, from the given generator (a healthy fixed sampler)."""

    def sample(self, n, energy, generator):
        unit = torch.rand((n, *self.spec.event_shape), generator=generator)
        return self.spec.low + (self.spec.high - self.spec.low) * unit


class IgnoresGenerator(NoiseSampler):
    def sample(self, n, energy, generator):
        return torch.rand((n, *self.spec.event_shape))


class AttachedFixedSampler(NoiseSampler):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.scale = nn.Parameter(torch.ones(()))

    def sample(self, n, energy, generator):
        return super().sample(n, energy, generator) * self.scale


class DetachedTrainableSampler(AttachedFixedSampler):
    trainable = True

    def sample(self, n, energy, generator):
        return super().sample(n, energy, generator).detach()


class WrongCount(NoiseSampler):
    def sample(self, n, energy, generator):
        return super().sample(n + 1, energy, generator)


class NonFiniteSampler(NoiseSampler):
    def sample(self, n, energy, generator):
        return super().sample(n, energy, generator) / 0.0


class HiddenState(NoiseSampler):
    """Keeps an offset drawn at construction outside its state_dict."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.offset = torch.randn(spec.event_shape)  # a plain attribute, not a buffer

    def sample(self, n, energy, generator):
        return super().sample(n, energy, generator) + self.offset


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (IgnoresGenerator, "same generator seed gave different samples"),
        (AttachedFixedSampler, "fixed sampler must be detached"),
        (DetachedTrainableSampler, "must keep their graph"),
        (WrongCount, "samples shape"),
        (NonFiniteSampler, "not finite"),
        (HiddenState, "state_dict does not capture"),
    ],
)
def test_check_sampler_catches_broken_samplers(broken, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_sampler(broken, VECTORS)


def test_check_sampler_uses_a_given_energy() -> None:
    seen = []

    class Spy(NoiseSampler):
        def sample(self, n, energy, generator):
            seen.append(energy)
            return super().sample(n, energy, generator)

    target = Healthy(VECTORS)
    check_sampler(Spy, VECTORS, energy=target)
    assert seen and all(energy is target for energy in seen)


# -- fixtures --------------------------------------------------------------------------------------


def test_ebkit_plugins_installs_an_isolated_manager(ebkit_plugins) -> None:
    plugin = module_plugin(
        "kit",
        ebkit_energies=lambda: [Component(name="healthy", summary="ok", factory=Healthy)],
    )
    manager = ebkit_plugins({"kit": plugin})
    assert isinstance(manager, PluginManager)
    assert get_plugin_manager() is manager
    builtins = {"ebkit.energies", "ebkit.samplers", "ebkit.losses", "ebkit.datasets"}
    builtins.add("ebkit.loggers")
    assert set(manager.plugins) == {*builtins, "kit"}  # no entry points by default
    check_energy(manager.lookup("energy", "healthy").component, VECTORS)
    everything = ebkit_plugins(entry_points=True)
    assert get_plugin_manager() is everything
    assert set(everything.plugins) == set(PluginManager(environ={}).plugins)  # the installed
    disabled = ebkit_plugins({"kit": plugin}, environ={"EBKIT_DISABLE_PLUGINS": "kit"})
    assert disabled.plugins["kit"].status == "disabled"


def test_ebkit_cli_uses_the_manager_of_the_test(ebkit_plugins, ebkit_cli) -> None:
    result = ebkit_cli("components", "energy", "--json")
    assert result.exit_code == 0
    assert {item["plugin"] for item in json.loads(result.stdout)} <= {"ebkit.energies"}
    ebkit_plugins(
        {
            "kit": module_plugin(
                "kit",
                ebkit_energies=lambda: [Component(name="healthy", summary="ok", factory=Healthy)],
            )
        }
    )
    result = ebkit_cli("components", "energy", "--json")
    assert '"id": "kit/healthy"' in result.stdout
