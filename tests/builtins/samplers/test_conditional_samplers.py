"""Tests for the built-in samplers in conditional runs: G(z, y) for ``generator`` (every
architecture), conformance, unchanged unconditional behaviour, and the builder's refusal
of ``replay`` (the chains on E(x | y): test_conditional_chains.py)."""

from __future__ import annotations

import pytest
import torch
from sampler_doubles import ClassMeans, seeded
from torch import Tensor, nn

from ebkit import Component
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.core.errors import UsageError
from ebkit.core.interfaces import ContrastiveSampler, DataSpec
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.build import build_models
from ebkit.runs.config import resolve_config
from ebkit.runs.training import build_trainer
from ebkit.testing import check_sampler

RECORDS = {record.name: record for record in ebkit_samplers()}
DIGITS = DataSpec((1, 8, 8), num_classes=10)
CONDITIONAL_DIGITS = DataSpec((1, 8, 8), num_classes=10, conditional=True)

SMALL = {
    "mlp": {"latent_dim": 4, "width": 8},
    "conv": {"latent_dim": 4, "channels": [4]},
    "began": {"latent_dim": 4, "filters": 4},
    "deck": {"latent_dim": 4},
}


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
