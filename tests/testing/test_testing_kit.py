"""Tests for the plugin authors' testing kit (ebkit.testing): the conformance checks pass
on the built-in components and catch deliberately broken ones; the fixtures isolate. (Each
first-party plugin runs the checks on its own components in its tests/.)"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ebkit import (
    Component,
    ContrastiveSampler,
    DataBatch,
    Dataset,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    LossFunctional,
    LossOutput,
    Option,
    Regularizer,
)
from ebkit.builtins.datasets.hooks import ebkit_datasets
from ebkit.builtins.energies.hooks import ebkit_energies
from ebkit.builtins.losses.hooks import ebkit_losses
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.plugin.components import ALL_KINDS
from ebkit.plugin.manager import PluginManager, get_plugin_manager, module_plugin
from ebkit.testing import (
    check_conditional_energy,
    check_conditional_sampler,
    check_dataset,
    check_energy,
    check_loss,
    check_option_round_trip,
    check_regularizer,
    check_sampler,
)

VECTORS = DataSpec((2,), -4.0, 4.0)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models train far faster on one thread, above all on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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


# -- deliberately broken losses -------------------------------------------------------------------


class HealthyLoss(LossFunctional):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() - fake.energy.mean())

    def sampler_loss(self, fake):
        return LossOutput(fake.energy.mean())


class VectorLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy - fake.energy)


class NanLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() * float("nan"))


class AttachedMetric(HealthyLoss):
    def energy_loss(self, real, fake):
        loss = real.energy.mean() - fake.energy.mean()
        return LossOutput(loss, {"loss_energy": loss})


class VectorMetric(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(super().energy_loss(real, fake).loss, {"gap": fake.energy.detach()})


class DetachedLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput((real.energy.mean() - fake.energy.mean()).detach())


class SamplerLossIgnoresFakes(HealthyLoss):
    def sampler_loss(self, fake):
        return LossOutput(torch.zeros((), requires_grad=True))


class RandomLoss(HealthyLoss):
    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() + torch.rand(()))


class HiddenLossState(HealthyLoss):
    """Counts updates in a plain attribute, so checkpoints lose it."""

    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.updates = 0

    def energy_loss(self, real, fake):
        return LossOutput(real.energy.mean() - self.updates * fake.energy.mean())

    def update_state(self, real, fake):
        self.updates += 1
        return {"updates": float(self.updates)}


class ReturnsTensorNotLossOutput(HealthyLoss):
    def energy_loss(self, real, fake):
        return real.energy.mean() - fake.energy.mean()


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (VectorLoss, "energy loss must be a 0-d tensor"),
        (NanLoss, "energy loss is not finite"),
        (AttachedMetric, "keeps a graph"),
        (VectorMetric, "not a scalar"),
        (DetachedLoss, "detached from the energies"),
        (SamplerLossIgnoresFakes, "ignores the contrastive energies"),
        (RandomLoss, "not deterministic"),
        (HiddenLossState, "state_dict does not capture"),
        (ReturnsTensorNotLossOutput, "LossOutput"),
    ],
)
def test_check_loss_catches_broken_losses(broken, message) -> None:
    with pytest.raises((AssertionError, RuntimeError), match=message) as caught:
        check_loss(broken)
    if broken is not DetachedLoss:
        assert caught.type is AssertionError


def test_check_loss_passes_a_healthy_loss() -> None:
    check_loss(HealthyLoss)


def test_check_loss_catches_an_energy_loss_that_ignores_the_contrastive_samples() -> None:
    class OnlyReal(HealthyLoss):
        def energy_loss(self, real, fake):
            return LossOutput(real.energy.mean())

    with pytest.raises(AssertionError):
        check_loss(OnlyReal)


# -- deliberately broken regularizers --------------------------------------------------------------


class HealthyRegularizer(Regularizer):
    requires = frozenset({"features"})

    def __init__(self, spec, *, weight: float = 0.1) -> None:
        super().__init__(spec, weight=weight, target="sampler")

    def penalty(self, real, fake):
        return fake.features.pow(2).mean()


class VectorPenalty(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.features.pow(2).mean(1)


class IgnoresFeatures(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.energy.mean()


class NanPenalty(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.features.mean() * float("inf")


class RandomPenalty(HealthyRegularizer):
    def penalty(self, real, fake):
        return fake.features.pow(2).mean() + torch.rand(())


class IntegerWeight(HealthyRegularizer):
    def __init__(self, spec) -> None:
        super().__init__(spec)
        self.weight = 1


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (VectorPenalty, "penalty must be a 0-d tensor"),
        (IgnoresFeatures, "penalty ignores features"),
        (NanPenalty, "penalty is not finite"),
        (RandomPenalty, "not deterministic"),
        (IntegerWeight, "weight must be a float"),
    ],
)
def test_check_regularizer_catches_broken_regularizers(broken, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_regularizer(broken)


def test_check_regularizer_passes_a_healthy_regularizer() -> None:
    check_regularizer(HealthyRegularizer, weight=0.3)


# -- datasets --------------------------------------------------------------------------------------


class HealthyDataset(Dataset):
    """Uniform points in [0, 1]² with labels 0..2, drawn from the generator only."""

    def __init__(self, path=None, *, scale: float = 1.0) -> None:
        self.scale = scale
        self.spec = DataSpec((2,), 0.0, scale, num_classes=3)

    def sample(self, batch_size, generator):
        x = self.scale * torch.rand(batch_size, 2, generator=generator)
        y = torch.randint(3, (batch_size,), generator=generator)
        return DataBatch(x, y)


class EpochsDataset(HealthyDataset):
    """A finite dataset served in shuffled epochs: its position is state."""

    def __init__(self, path=None, **options) -> None:
        super().__init__(path, **options)
        self.data = torch.linspace(0, 1, 22).reshape(11, 2)
        self.order = torch.arange(11)
        self.position = 11

    def sample(self, batch_size, generator):
        rows = []
        while len(rows) < batch_size:
            if self.position == len(self.order):
                self.order, self.position = torch.randperm(11, generator=generator), 0
            rows.append(int(self.order[self.position]))
            self.position += 1
        return DataBatch(self.data[rows], None)

    def state_dict(self):
        return {"order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state):
        self.order, self.position = state["order"], state["position"]


class ForgetsPositionDataset(EpochsDataset):
    def state_dict(self):
        return {"order": self.order.clone()}

    def load_state_dict(self, state):
        self.order = state["order"]


class UnserialisableStateDataset(EpochsDataset):
    def state_dict(self):
        return {"order": self.order.clone(), "position": self.position, "extra": object()}


class OutOfRangeDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        batch = super().sample(batch_size, generator)
        return DataBatch(batch.x + 2.0, batch.y)


class WrongShapeDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        return DataBatch(torch.rand(batch_size, 3, generator=generator))


class GlobalRandomnessDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        return DataBatch(torch.rand(batch_size, 2))


class LabelsWithoutClassesDataset(HealthyDataset):
    def __init__(self, path=None, **options) -> None:
        super().__init__(path, **options)
        self.spec = DataSpec((2,), 0.0, self.scale)


class FloatLabelsDataset(HealthyDataset):
    def sample(self, batch_size, generator):
        batch = super().sample(batch_size, generator)
        return DataBatch(batch.x, batch.y.float())


class NoSpecDataset(HealthyDataset):
    def __init__(self, path=None, **options) -> None:
        super().__init__(path, **options)
        self.spec = (2,)


def test_check_dataset_passes_healthy_datasets() -> None:
    check_dataset(HealthyDataset, scale=2.0)
    check_dataset(EpochsDataset, batch=4)  # batches that cross an epoch boundary
    check_dataset(
        Component("healthy", "uniform", HealthyDataset, (Option("scale", float, 1.0, "x"),))
    )


@pytest.mark.parametrize(
    "name", ["8gaussians", "25gaussians", "moons", "swissroll", "rings", "digits"]
)
def test_check_dataset_passes_the_builtin_datasets(name) -> None:
    check_dataset(record(ebkit_datasets(), name))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (ForgetsPositionDataset, "a build restored from state_dict: different samples"),
        (UnserialisableStateDataset, "state 'extra' is neither a tensor nor JSON"),
        (OutOfRangeDataset, "outside the spec's"),
        (WrongShapeDataset, r"x shape \(7, 3\), expected \(7, \*\(2,\)\)"),
        (GlobalRandomnessDataset, "same generator seed: different samples"),
        (LabelsWithoutClassesDataset, "labels need spec.num_classes"),
        (FloatLabelsDataset, r"y must be \(B,\) int64"),
        (NoSpecDataset, "spec must be an ebkit.DataSpec"),
    ],
)
def test_check_dataset_catches_broken_datasets(broken, message) -> None:
    with pytest.raises(AssertionError, match=message):
        check_dataset(broken)


def test_check_dataset_passes_the_path_to_the_factory(tmp_path) -> None:
    seen = []

    def factory(path, **options):
        seen.append(path)
        return HealthyDataset(path, **options)

    check_dataset(factory, str(tmp_path))
    assert seen and set(seen) == {str(tmp_path)}


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


class CentredByClass(EnergyFunction):
    """E(x | y) = ‖x − μ_y‖² with learned centres; ``ignore_labels`` breaks it."""

    accepts_labels = True

    def __init__(self, spec: DataSpec, *, ignore_labels: bool = False) -> None:
        super().__init__(spec)
        self.centres = nn.Parameter(torch.randn(spec.num_classes or 1, spec.dim))
        self.ignore_labels = ignore_labels

    def forward(self, x, labels=None) -> EnergyOutput:
        if labels is None:
            raise ValueError("labels needed")
        centres = self.centres[torch.zeros_like(labels) if self.ignore_labels else labels]
        return EnergyOutput(energy=(x.flatten(1) - centres).square().sum(1))


class ShiftByClass(ContrastiveSampler):
    """G(z, y) = z + b_y; ``ignore_labels`` breaks it."""

    trainable = True
    accepts_labels = True

    def __init__(self, spec: DataSpec, *, ignore_labels: bool = False) -> None:
        super().__init__(spec)
        self.shifts = nn.Parameter(torch.randn(spec.num_classes or 1, spec.dim))
        self.ignore_labels = ignore_labels

    def sample(self, n, energy, generator, labels=None):
        noise = torch.randn(n, self.spec.dim, generator=generator)
        chosen = torch.zeros_like(labels) if self.ignore_labels else labels
        return (noise + self.shifts[chosen]).view(n, *self.spec.event_shape)


def test_conditional_checks_pass_on_conditional_components():
    check_conditional_energy(CentredByClass)
    check_conditional_sampler(ShiftByClass)


def test_conditional_checks_catch_components_that_ignore_labels():
    with pytest.raises(AssertionError, match="the label does not change the energy"):
        check_conditional_energy(CentredByClass, ignore_labels=True)
    with pytest.raises(AssertionError, match="the labels do not change the samples"):
        check_conditional_sampler(ShiftByClass, ignore_labels=True)


def test_conditional_checks_need_accepts_labels():
    class Plain(CentredByClass):
        accepts_labels = False

    with pytest.raises(AssertionError, match="does not set accepts_labels"):
        check_conditional_energy(Plain)
