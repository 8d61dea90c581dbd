"""Tests for the built-in samplers in conditional runs: G(z, y) for ``generator`` (every
architecture), Langevin on E(x | y) for ``langevin`` (MALA included), both for
``generator-langevin``, unchanged unconditional behaviour, and the builder's refusal of
``replay``."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from ebkit import Component, EnergyFunction, EnergyOutput
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.generator_langevin import GeneratorLangevinSampler
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import ContrastiveSampler, DataSpec
from ebkit.nets import checked_labels
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.build import build_models
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer
from ebkit.testing import check_sampler

RECORDS = {record.name: record for record in ebkit_samplers()}
DIGITS = DataSpec((1, 8, 8), num_classes=10)
CONDITIONAL_DIGITS = DataSpec((1, 8, 8), num_classes=10, conditional=True)
TOY = DataSpec((2,), -4.0, 4.0, num_classes=3, conditional=True)
MEANS = torch.tensor([[-2.0, 1.0], [0.0, -2.0], [2.0, 2.0]])
"""μ_y of the three classes of TOY."""

SMALL = {
    "mlp": {"latent_dim": 4, "width": 8},
    "conv": {"latent_dim": 4, "channels": [4]},
    "began": {"latent_dim": 4, "filters": 4},
    "deck": {"latent_dim": 4},
}


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class ClassMeans(EnergyFunction):
    """E(x | y) = ½‖x − μ_y‖², so ∇ₓE(x | y) = x − μ_y; records the labels of every call.

    μ_y are the rows of :data:`MEANS` (for 2-D data) or zeros, trainable."""

    accepts_labels = True

    def __init__(self, spec: DataSpec = TOY) -> None:
        super().__init__(spec)
        assert spec.num_classes is not None
        means = MEANS if spec.dim == 2 else torch.zeros(spec.num_classes, spec.dim)
        self.means = nn.Parameter(means[: spec.num_classes].clone())
        self.calls: list[Tensor | None] = []

    def forward(self, x: Tensor, labels: Tensor | None = None) -> EnergyOutput:
        self.calls.append(labels)
        labels = checked_labels(self.spec, labels, x.shape[0])
        centres = self.means[labels].view_as(x)
        return EnergyOutput(0.5 * (x - centres).flatten(1).square().sum(1))


def energy_by_hand(x: Tensor, labels: Tensor) -> Tensor:
    return 0.5 * (x - MEANS[labels]).square().sum(1)


def first_linear(sampler: GeneratorSampler) -> nn.Linear:
    return next(module for module in sampler.net.modules() if isinstance(module, nn.Linear))


# -- generator: G(z, y) ----------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["mlp", "conv", "began", "deck"])
@pytest.mark.parametrize(("label_dim", "expected"), [(None, 10), (3, 3)])
def test_the_label_embedding_widens_the_first_layer(arch: str, label_dim, expected: int) -> None:
    plain = GeneratorSampler(DIGITS, arch=arch, label_dim=label_dim, **SMALL[arch])
    conditional = GeneratorSampler(
        CONDITIONAL_DIGITS, arch=arch, label_dim=label_dim, **SMALL[arch]
    )
    assert first_linear(plain).in_features == 4 and plain.label_embedding is None
    assert first_linear(conditional).in_features == 4 + expected
    assert conditional.label_dim == expected
    assert conditional.label_embedding.embedding.weight.shape == (10, expected)
    # Only the first layer and the embedding differ.
    plain_shapes = {name: p.shape for name, p in plain.named_parameters()}
    conditional_shapes = {name: p.shape for name, p in conditional.named_parameters()}
    first = next(name for name in plain_shapes if name.endswith("weight"))
    assert conditional_shapes.pop("label_embedding.embedding.weight") == (10, expected)
    assert conditional_shapes.pop(first) == (plain_shapes.pop(first)[0], 4 + expected)
    assert conditional_shapes == plain_shapes


def test_unconditional_parameters_are_those_of_before() -> None:
    # The MLP generator of a labelled dataset in an unconditional run, as before labels.
    sampler = GeneratorSampler(DIGITS, latent_dim=4, width=8, label_dim=5)
    shapes = [(name, tuple(parameter.shape)) for name, parameter in sampler.named_parameters()]
    assert shapes == [
        ("net.0.weight", (8, 4)),
        ("net.0.bias", (8,)),
        ("net.1.weight", (8,)),
        ("net.1.bias", (8,)),
        ("net.3.weight", (8, 8)),
        ("net.3.bias", (8,)),
        ("net.4.weight", (8,)),
        ("net.4.bias", (8,)),
        ("net.6.weight", (64, 8)),
        ("net.6.bias", (64,)),
    ]
    assert "label_dim" not in repr(sampler)


@pytest.mark.parametrize("arch", ["mlp", "conv", "began", "deck"])
def test_the_same_z_gives_the_class_it_is_asked_for(arch: str) -> None:
    sampler = GeneratorSampler(CONDITIONAL_DIGITS, arch=arch, **SMALL[arch]).eval()
    z = torch.randn(4, 4, generator=seeded(0)).repeat(2, 1)
    with torch.no_grad():
        same = sampler.generate(z, torch.tensor([3, 3, 3, 3, 3, 3, 3, 3]))
        mixed = sampler.generate(z, torch.tensor([3, 3, 3, 3, 7, 1, 0, 9]))
    assert same.shape == (8, 1, 8, 8)
    assert torch.equal(same[:4], same[4:])  # same z, same label: the same sample
    assert torch.equal(mixed[:4], same[:4])
    for row in range(4, 8):  # same z, another label: another sample
        assert not torch.allclose(mixed[row], same[row])


@pytest.mark.parametrize(("arch", "noise"), [("mlp", "normal"), ("began", "uniform")])
def test_the_noise_draw_does_not_depend_on_the_labels(arch: str, noise: str) -> None:
    sampler = GeneratorSampler(CONDITIONAL_DIGITS, arch=arch, **SMALL[arch]).eval()
    assert sampler.noise == noise
    labels = torch.tensor([0, 4, 9, 4, 2])
    draw = (
        torch.randn
        if noise == "normal"
        else lambda *shape, generator: torch.rand(*shape, generator=generator).mul_(2).sub_(1)
    )
    z = draw(5, 4, generator=seeded(3))
    with torch.no_grad():
        expected = sampler.generate(z, labels)
        assert torch.equal(sampler.sample(5, None, seeded(3), labels), expected)
        other = sampler.sample(5, None, seeded(3), torch.tensor([1, 1, 1, 1, 1]))
        assert torch.equal(other, sampler.generate(z, torch.tensor([1, 1, 1, 1, 1])))


@pytest.mark.parametrize("arch", ["mlp", "deck"])
def test_the_gradient_reaches_the_embedding_rows_of_the_requested_classes(arch: str) -> None:
    sampler = GeneratorSampler(CONDITIONAL_DIGITS, arch=arch, **SMALL[arch])
    x = sampler.sample(6, None, seeded(0), torch.tensor([1, 1, 5, 5, 8, 8]))
    assert x.requires_grad
    x.square().sum().backward()
    grad = sampler.label_embedding.embedding.weight.grad
    used = torch.zeros(10, dtype=torch.bool)
    used[[1, 5, 8]] = True
    assert (grad[used].abs().sum(1) > 0).all()
    assert torch.count_nonzero(grad[~used]) == 0


def test_the_embedding_gradient_matches_finite_differences() -> None:
    sampler = GeneratorSampler(CONDITIONAL_DIGITS, latent_dim=3, width=6, label_dim=2)
    sampler = sampler.double().eval()
    z = torch.randn(3, 3, dtype=torch.float64, generator=seeded(1))
    labels = torch.tensor([2, 0, 2])
    weight = sampler.label_embedding.embedding.weight

    def from_embedding(table: Tensor) -> Tensor:
        parameters = {"label_embedding.embedding.weight": table}
        return torch.func.functional_call(sampler, parameters, (z, labels))

    assert torch.autograd.gradcheck(from_embedding, (weight.detach().clone().requires_grad_(),))


@pytest.mark.parametrize(
    ("spec", "labels", "message"),
    [
        (CONDITIONAL_DIGITS, None, "built for a conditional run and needs labels"),
        (CONDITIONAL_DIGITS, torch.tensor([1, 2]), r"expected labels of shape \(3,\), got \(2,\)"),
        (DIGITS, torch.tensor([1, 2, 3]), "labels were given to a component built for an "),
    ],
)
@pytest.mark.parametrize("sampler_name", ["generator", "langevin", "generator-langevin"])
def test_labels_that_do_not_fit_the_run_are_clear_errors(
    spec: DataSpec, labels, message: str, sampler_name: str
) -> None:
    options = {"langevin": {"steps": 1}}.get(sampler_name, {"latent_dim": 4, "width": 8})
    sampler = RECORDS[sampler_name].load_factory()(spec, **options)
    energy = ClassMeans(spec) if spec.conditional else None
    with pytest.raises(ValueError, match=message):
        sampler.sample(3, energy, seeded(0), labels)


def test_label_dim_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"label_dim must be at least 1 \(or unset: num_classes\)"):
        GeneratorSampler(CONDITIONAL_DIGITS, label_dim=0)


def test_the_record_documents_label_dim_as_conditional_only() -> None:
    for name in ("generator", "generator-langevin"):
        option = RECORDS[name].option("label_dim")
        assert option.default is None and option.type is int
        assert option.help.startswith("conditional runs only")


# -- langevin: MCMC on E(x | y) ----------------------------------------------------------------


def test_conditional_chains_descend_to_the_mean_of_their_class() -> None:
    # Without noise, clipping or clamping a step is x ← x − η(x − μ_y), so after K steps
    # x_K = μ_y + (1 − η)^K (x_0 − μ_y) exactly.
    steps, eta = 30, 0.1
    sampler = LangevinSampler(
        TOY,
        steps=steps,
        step_size=eta,
        noise="independent",
        noise_scale=0.0,
        grad_clip=0.0,
        clamp=False,
    )
    energy = ClassMeans()
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    start = sampler.initial(6, seeded(0), dtype=torch.float32)
    chains = sampler.sample(6, energy, seeded(0), labels)
    expected = MEANS[labels] + (1 - eta) ** steps * (start - MEANS[labels])
    torch.testing.assert_close(chains, expected)
    assert len(energy.calls) == steps
    assert all(torch.equal(call, labels) for call in energy.calls)
    torch.testing.assert_close(sampler.start_energy, energy_by_hand(start, labels))


def test_the_same_start_under_other_labels_goes_elsewhere() -> None:
    sampler = LangevinSampler(TOY, steps=40, step_size=0.1, noise="independent", grad_clip=0.0)
    first = sampler.sample(3, ClassMeans(), seeded(5), torch.tensor([0, 0, 0]))
    second = sampler.sample(3, ClassMeans(), seeded(5), torch.tensor([2, 2, 2]))
    assert (torch.linalg.vector_norm(first - MEANS[0], dim=1) < 1.0).all()
    assert (torch.linalg.vector_norm(second - MEANS[2], dim=1) < 1.0).all()
    unmoved = LangevinSampler(TOY, steps=0)
    assert torch.equal(
        unmoved.sample(3, ClassMeans(), seeded(5), torch.tensor([0, 0, 0])),
        unmoved.sample(3, ClassMeans(), seeded(5), torch.tensor([2, 1, 2])),
    )


def test_mala_samples_the_conditional_target_and_evaluates_every_proposal_with_labels() -> None:
    # Temperature s² = 0.05², so each chain ends within a few 0.05 of its class's mean.
    steps = 150
    sampler = LangevinSampler(
        TOY, steps=steps, step_size=0.1, noise="coupled", noise_scale=0.05, mala=True
    )
    energy = ClassMeans()
    labels = torch.arange(3).repeat(20)
    start = sampler.initial(60, seeded(1), dtype=torch.float32)
    chains = sampler.sample(60, energy, seeded(1), labels)
    distance = torch.linalg.vector_norm(chains - MEANS[labels], dim=1)
    assert distance.max() < 0.3
    # One evaluation at the start, then one per proposal, each for the chains' classes.
    assert len(energy.calls) == steps + 1
    assert all(torch.equal(call, labels) for call in energy.calls)
    metrics = sampler.metrics()
    assert metrics["acceptance_rate"] > 0.8
    torch.testing.assert_close(sampler.start_energy, energy_by_hand(start, labels))


def test_the_unconditional_chain_calls_the_energy_without_labels() -> None:
    calls: list[int] = []

    class Bowl(EnergyFunction):
        def forward(self, x: Tensor) -> EnergyOutput:  # no labels parameter at all
            calls.append(x.shape[0])
            return EnergyOutput(0.5 * x.square().sum(1))

    spec = DataSpec((2,), -4.0, 4.0, num_classes=3)
    for mala in (False, True):
        LangevinSampler(spec, steps=3, mala=mala).sample(4, Bowl(spec), seeded(0))
    assert calls == [4] * 3 + [4] * 4


# -- generator-langevin: G(z, y), then Langevin on E(x | y) ----------------------------------------


def hybrid(steps: int) -> GeneratorLangevinSampler:
    return GeneratorLangevinSampler(
        TOY,
        latent_dim=4,
        width=8,
        label_dim=2,
        steps=steps,
        step_size=0.1,
        noise_scale=0.0,
        grad_clip=0.0,
        clamp=False,
    ).eval()


def test_hybrid_training_samples_are_g_of_z_and_y_refined_on_e_of_x_given_y() -> None:
    sampler, energy, steps = hybrid(steps=10), ClassMeans(), 10
    labels = torch.tensor([2, 0, 1, 1])
    refined, raw = sampler.training_samples(4, energy, seeded(2), labels)
    z = torch.randn(4, 4, generator=seeded(2))
    torch.testing.assert_close(raw, sampler.generator.generate(z, labels))
    assert raw.requires_grad and not refined.requires_grad
    expected = MEANS[labels] + 0.9**steps * (raw.detach() - MEANS[labels])
    torch.testing.assert_close(refined, expected)
    # The chain's evaluations and the extra one for energy_refined all saw the labels.
    assert len(energy.calls) == steps + 1
    assert all(torch.equal(call, labels) for call in energy.calls)
    metrics = sampler.metrics()
    torch.testing.assert_close(metrics["energy_raw"], energy_by_hand(raw.detach(), labels).mean())
    torch.testing.assert_close(metrics["energy_refined"], energy_by_hand(refined, labels).mean())


@pytest.mark.parametrize("steps", [0, 5])
def test_hybrid_sample_is_refined_and_trains_the_embedding(steps: int) -> None:
    sampler, energy = hybrid(steps), ClassMeans()
    labels = torch.tensor([1, 1, 2])
    refined, _ = sampler.training_samples(3, energy, seeded(4), labels)
    samples = sampler.sample(3, energy, seeded(4), labels)
    torch.testing.assert_close(samples.detach(), refined)
    samples.sum().backward()
    grad = sampler.generator.label_embedding.embedding.weight.grad
    assert grad[[1, 2]].abs().sum() > 0 and torch.count_nonzero(grad[0]) == 0


# -- conformance --------------------------------------------------------------------------------


def check_conditional_sampler(name: str, spec: DataSpec, n: int = 6, **options) -> None:
    """check_sampler's checks, with labels: shape, finiteness, the graph of a trainable
    sampler, seeded determinism and a state_dict round trip."""
    factory = RECORDS[name].load_factory()
    energy = ClassMeans(spec)
    labels = torch.arange(n) % spec.num_classes
    torch.manual_seed(0)
    sampler = factory(spec, **options)
    assert isinstance(sampler, ContrastiveSampler) and sampler.accepts_labels
    samples = sampler.sample(n, energy, seeded(3), labels)
    assert samples.shape == (n, *spec.event_shape) and torch.isfinite(samples).all()
    assert samples.requires_grad == sampler.trainable
    sampler.eval()
    first = sampler.sample(n, energy, seeded(4), labels)
    assert torch.equal(first, sampler.sample(n, energy, seeded(4), labels))
    torch.manual_seed(99)
    clone = factory(spec, **options)
    clone.load_state_dict(sampler.state_dict())
    assert torch.equal(first, clone.eval().sample(n, energy, seeded(4), labels))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("generator", {"latent_dim": 4, "width": 8}),
        ("generator", {"arch": "deck", "latent_dim": 4}),
        ("generator", {"arch": "began", "latent_dim": 4, "filters": 4}),
        ("langevin", {"steps": 3}),
        ("langevin", {"steps": 3, "mala": True}),
        ("generator-langevin", {"latent_dim": 4, "width": 8, "steps": 3}),
    ],
)
def test_conditional_samplers_conform(name: str, options: dict) -> None:
    check_conditional_sampler(name, CONDITIONAL_DIGITS, **options)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("generator", {"latent_dim": 4, "width": 8, "label_dim": 3}),
        ("langevin", {"steps": 3}),
        ("generator-langevin", {"latent_dim": 4, "width": 8, "steps": 3}),
    ],
)
def test_unconditional_samplers_still_conform(name: str, options: dict) -> None:
    check_sampler(RECORDS[name], **options)


# -- runs ------------------------------------------------------------------------------------------


PLUGIN = module_plugin(
    "conditional-test",
    ebkit_energies=lambda: [
        Component(name="class-means", summary="½‖x − μ_y‖²", factory=ClassMeans)
    ],
)


def manager() -> PluginManager:
    return PluginManager(environ={}, extra_plugins={"conditional-test": PLUGIN})


@pytest.mark.parametrize(
    ("sampler", "overrides"),
    [
        ("generator", ["sampler.latent_dim=4", "sampler.width=8"]),
        ("langevin", ["sampler.steps=2"]),
        ("generator-langevin", ["sampler.latent_dim=4", "sampler.width=8", "sampler.steps=2"]),
    ],
)
def test_conditional_runs_train_and_draw_samples_of_each_class(sampler: str, overrides) -> None:
    plugins = manager()
    config = resolve_config(
        plugins,
        names={"energy": "class-means", "sampler": sampler, "loss": "cd", "data": "digits"},
        train={"steps": 2, "batch_size": 8, "conditional": True},
        overrides=overrides,
    )
    trainer = build_trainer(config, plugins)
    energy = trainer.components.energy
    for _ in range(2):
        trainer.train_step()
    assert energy.calls and all(call is not None and len(call) == 8 for call in energy.calls)
    samples = trainer.draw_samples(10, seed=0)
    assert samples.shape == (10, 1, 8, 8) and torch.isfinite(samples).all()


def test_a_conditional_run_refuses_replay_in_one_line() -> None:
    plugins = manager()
    config = resolve_config(
        plugins,
        names={"energy": "class-means", "sampler": "replay", "loss": "cd", "data": "digits"},
        train={"conditional": True},
    )
    with pytest.raises(UsageError) as refused:
        build_models(plugins, config, CONDITIONAL_DIGITS)
    message = str(refused.value)
    assert "'ebkit/replay' cannot condition on class labels" in message and "\n" not in message


def test_the_command_line_refuses_replay_in_a_conditional_run(ebkit_plugins, ebkit_cli, tmp_path):
    ebkit_plugins({"conditional-test": PLUGIN})
    result = ebkit_cli(
        "train",
        "--conditional",
        "--energy",
        "class-means",
        "--sampler",
        "replay",
        "--loss",
        "cd",
        "--out",
        str(tmp_path / "run"),
    )
    assert result.exit_code == 2, result.output
    assert "cannot condition on class labels" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
