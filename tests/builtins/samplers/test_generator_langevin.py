"""Tests for the generator-langevin sampler (ebkit.builtins.samplers.generator_langevin) and the
engine's use of ``ContrastiveSampler.training_samples``: the energy step sees refined
samples, the generator's gradient comes from raw G(z), and ``steps=0`` gives raw G(z)
from a saved run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from ebkit import Component, EnergyFunction, EnergyOutput, LossFunctional, LossOutput
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.generator_langevin import GeneratorLangevinSampler
from ebkit.builtins.samplers.hooks import ebkit_samplers
from ebkit.builtins.samplers.langevin import LANGEVIN_OPTION_NAMES
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.core.files import write_json
from ebkit.core.interfaces import ContrastiveSampler, DataSpec
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.checkpoints import prepare_run_dir, save_checkpoint
from ebkit.runs.config import resolve_config
from ebkit.runs.saved import SavedRun
from ebkit.runs.training import build_trainer
from ebkit.testing import check_option_round_trip, check_sampler

TOY = DataSpec((2,), -3.0, 3.0)
RECORDS = {component.name: component for component in ebkit_samplers()}
HYBRID = RECORDS["generator-langevin"]
SMALL = {"latent_dim": 4, "width": 16}


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Bowl(EnergyFunction):
    """E(x) = ½·scale·‖x − 1‖², recording what it is evaluated on."""

    def __init__(self, spec: DataSpec = TOY) -> None:
        super().__init__(spec)
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> EnergyOutput:
        self.inputs.append(x)
        return EnergyOutput(0.5 * self.scale * (x - 1.0).flatten(1).square().sum(1))


class MeanEnergy(LossFunctional):
    """L_energy = mean E(x⁺) − mean E(x⁻); L_sampler = mean E(G(z))."""

    def energy_loss(self, real: EnergyOutput, fake: EnergyOutput) -> LossOutput:
        return LossOutput(real.energy.mean() - fake.energy.mean())

    def sampler_loss(self, fake: EnergyOutput) -> LossOutput:
        return LossOutput(fake.energy.mean())


class FreshMeanEnergy(MeanEnergy):
    fresh_sampler_batch = True


class Points:
    """A dataset of fixed points (the engine only calls ``sample``)."""

    spec = TOY

    def sample(self, batch_size: int, generator: torch.Generator):
        from ebkit import DataBatch

        return DataBatch(torch.zeros(batch_size, 2))

    def state_dict(self) -> dict:
        return {}


# -- conformance and options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"steps": 3}, {"steps": 0}, {"steps": 2, "mala": True, "noise": "coupled", "step_size": 0.01}],
)
def test_conforms(options: dict) -> None:
    check_sampler(HYBRID, **SMALL, **options)


def test_the_record_offers_the_generators_and_langevins_options() -> None:
    check_option_round_trip(HYBRID)
    names = [option.name for option in HYBRID.options]
    generator_names = [option.name for option in RECORDS["generator"].options]
    renamed = [f"generator_{n}" if n in LANGEVIN_OPTION_NAMES else n for n in generator_names]
    langevin = [n for n in LANGEVIN_OPTION_NAMES if n != "init"]
    latent = ["latent_steps", "latent_step_size"]
    assert names == [*renamed, *langevin, "kernel", "kernel_options", *latent]
    assert "weight_init" in generator_names  # the generator's own option
    defaults = {option.name: option.default for option in HYBRID.options}
    assert (defaults["steps"], defaults["step_size"]) == (None, None)  # auto: by data kind
    assert (defaults["anneal"], defaults["anneal_target"]) == ("auto", "auto")
    assert "generator_noise" in names  # the generator's z distribution, next to Langevin's


IMAGES = DataSpec((1, 8, 8), -1.0, 1.0)


def test_images_keep_twenty_fixed_steps_of_size_one() -> None:
    chain = GeneratorLangevinSampler(IMAGES, arch="mlp", **SMALL).langevin
    assert (chain.steps, chain.step_size, chain.noise, chain.anneal) == (
        20,
        1.0,
        "independent",
        "none",
    )
    assert chain.step_sizes == [1.0] * 20 and chain.grad_clip == 0.03


def test_vectors_refine_from_coarse_to_fine_steps_scaled_to_the_data_range() -> None:
    ring = GeneratorLangevinSampler(DataSpec((2,), -1.2, 1.2), **SMALL).langevin
    grid = GeneratorLangevinSampler(DataSpec((2,), -4.7, 4.7), **SMALL).langevin
    for chain, data_range in ((ring, 2.4), (grid, 9.4)):
        assert chain.steps == 10 and chain.anneal == "geometric"
        assert chain.anneal_target == "step_size" and chain.noise == "independent"
        # The first clipped step moves a coordinate by at most 2.5 % of the range, the
        # last by a tenth of that.
        first, last = chain.step_sizes[0], chain.step_sizes[-1]
        assert first * chain.grad_clip == pytest.approx(0.025 * data_range)
        assert last == pytest.approx(0.1 * first)
        assert all(a > b for a, b in zip(chain.step_sizes[:-1], chain.step_sizes[1:], strict=True))


def test_on_vectors_the_first_samples_spread_instead_of_sitting_on_one_point() -> None:
    grid = DataSpec((2,), -4.7, 4.7)
    z = torch.randn(2000, 2, generator=generator(0))
    spreads = {}
    for weight_init in ("auto", "normal", "xavier"):
        torch.manual_seed(0)
        sampler = GeneratorLangevinSampler(grid, weight_init=weight_init)
        spreads[weight_init] = sampler.generator(z).detach().std(0).min().item()
    assert spreads["normal"] < 0.01 < 0.1 < spreads["xavier"] == spreads["auto"]
    torch.manual_seed(0)
    images = GeneratorLangevinSampler(IMAGES, arch="mlp", **SMALL)
    torch.manual_seed(0)
    plain = GeneratorSampler(IMAGES, arch="mlp", **SMALL)
    assert images.weight_init == "normal"  # images keep the paper's N(0, 0.02)
    for mine, theirs in zip(images.generator.parameters(), plain.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    with pytest.raises(ValueError, match="weight_init must be one of"):
        GeneratorLangevinSampler(grid, weight_init="orthogonal")


def test_options_set_on_vectors_win_over_the_auto_rules() -> None:
    chain = GeneratorLangevinSampler(TOY, steps=5, step_size=0.5, anneal="none", **SMALL).langevin
    assert (chain.steps, chain.step_size, chain.anneal) == (5, 0.5, "none")
    assert chain.step_sizes == [0.5] * 5
    coupled = GeneratorLangevinSampler(TOY, noise="coupled", **SMALL).langevin
    assert coupled.step_size == 1.0  # the range rule is for independent noise's clipped steps


def test_on_vectors_annealed_refinement_settles_closer_to_a_narrow_well() -> None:
    # E(x) = 40·‖x − 1‖₁, a kink at 1 like a (leaky-)ReLU energy's well: fixed clipped
    # steps jitter around it by η·c, the annealed ones end within a tenth of that.
    class Kink(Bowl):
        def forward(self, x: torch.Tensor) -> EnergyOutput:
            return EnergyOutput(40.0 * self.scale * (x - 1.0).abs().sum(1))

    start = torch.full((256, 2), 0.93) + 0.05 * torch.rand(256, 2, generator=generator(0))
    annealed = GeneratorLangevinSampler(TOY, noise_scale=0.0, **SMALL).langevin
    fixed = GeneratorLangevinSampler(
        TOY, noise_scale=0.0, anneal="none", step_size=annealed.step_size, **SMALL
    ).langevin
    errors = [
        (chain.refine(start, Kink(), generator(1)) - 1.0).abs().max() for chain in (annealed, fixed)
    ]
    assert errors[0] < 0.4 * errors[1]


def test_options_reach_the_generator_and_the_chain() -> None:
    sampler = GeneratorLangevinSampler(
        TOY, latent_dim=3, width=8, generator_noise="uniform", noise="coupled", steps=4
    )
    assert isinstance(sampler, ContrastiveSampler) and sampler.trainable
    assert sampler.generator.latent_dim == 3 and sampler.generator.noise == "uniform"
    assert sampler.langevin.noise == "coupled" and sampler.langevin.steps == 4
    with pytest.raises(ValueError, match="init does not apply"):
        GeneratorLangevinSampler(TOY, init="gaussian")
    with pytest.raises(ValueError, match="step_size must be a finite number > 0"):
        GeneratorLangevinSampler(TOY, step_size=0.0)


# -- what the sampler returns --------------------------------------------------------------------


def test_training_samples_are_refined_and_raw_from_the_same_z() -> None:
    sampler = GeneratorLangevinSampler(TOY, **SMALL, steps=5, step_size=0.5).eval()
    energy = Bowl()
    refined, raw = sampler.training_samples(6, energy, generator(1))

    state = generator(1)
    z = torch.randn(6, 4, generator=state)
    expected_raw = sampler.generator.generate(z)
    torch.testing.assert_close(raw, expected_raw)
    assert raw.requires_grad and not refined.requires_grad
    torch.testing.assert_close(refined, sampler.langevin.refine(expected_raw, energy, state))
    metrics = sampler.metrics()
    assert float(metrics["energy_refined"]) < float(metrics["energy_raw"])
    torch.testing.assert_close(metrics["energy_raw"], Bowl()(expected_raw).energy.mean())
    assert {"grad_norm", "step_distance", "temperature"} <= set(metrics)


def test_sample_is_refined_and_its_gradient_passes_straight_through() -> None:
    sampler = GeneratorLangevinSampler(TOY, **SMALL, steps=5, step_size=0.5).eval()
    refined, raw = sampler.training_samples(6, Bowl(), generator(2))
    samples = sampler.sample(6, Bowl(), generator(2))
    assert torch.equal(samples.detach(), refined)
    parameters = list(sampler.parameters())
    through_samples = torch.autograd.grad(
        (samples * torch.arange(12.0).view(6, 2)).sum(), parameters
    )
    through_raw = torch.autograd.grad((raw * torch.arange(12.0).view(6, 2)).sum(), parameters)
    for first, second in zip(through_samples, through_raw, strict=True):
        torch.testing.assert_close(first, second)


def test_without_steps_sample_is_raw_g_of_z() -> None:
    sampler = GeneratorLangevinSampler(TOY, **SMALL, steps=0).eval()
    raw = GeneratorSampler(TOY, **SMALL)
    raw.load_state_dict(sampler.generator.state_dict())
    raw.eval()
    assert torch.equal(sampler.sample(5, Bowl(), generator(0)), raw.sample(5, Bowl(), generator(0)))
    assert set(sampler.metrics()) == {"temperature"}


# -- the engine -----------------------------------------------------------------------------------


def _trainer(loss: LossFunctional, steps: int = 4) -> tuple[Trainer, Bowl]:
    energy = Bowl()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        sampler = GeneratorLangevinSampler(
            TOY, latent_dim=4, width=16, batchnorm=False, steps=steps, step_size=0.5
        )
    components = Components(Points(), energy, sampler, loss)
    return Trainer(components, TrainSettings(batch_size=8, seed=3)), energy


def test_the_energy_step_sees_refined_samples_and_g_trains_on_raw_g_of_z() -> None:
    trainer, energy = _trainer(MeanEnergy(TOY))
    sampler: GeneratorLangevinSampler = trainer.components.sampler
    initial = copy.deepcopy(sampler)
    energy_before = copy.deepcopy(energy)
    trainer.train_step()

    # What the step drew, recomputed from copies of the initial modules and the same seed.
    expected_refined, expected_raw = initial.training_samples(8, energy_before, generator(4))
    # Evaluated, in order: the Langevin chain (4 steps), the energy of the refined samples
    # (metrics), the data, the refined samples (energy step), raw G(z) (sampler step).
    inputs = energy.inputs[5:]
    assert len(inputs) == 3
    data, energy_step, sampler_step = inputs
    assert torch.equal(data, torch.zeros(8, 2))
    torch.testing.assert_close(energy_step, expected_refined)
    assert not energy_step.requires_grad
    torch.testing.assert_close(sampler_step.detach(), expected_raw.detach())
    assert sampler_step.requires_grad

    # G's gradient is that of mean E(G(z)) at the raw samples, under the updated energy.
    loss = 0.5 * energy.scale.detach() * (expected_raw - 1.0).square().sum(1).mean()
    expected_grads = torch.autograd.grad(loss, list(initial.parameters()))
    for parameter, expected in zip(sampler.parameters(), expected_grads, strict=True):
        torch.testing.assert_close(parameter.grad, expected)
    # The energy's gradient came from the refined samples: d/dscale of the loss.
    real = 0.5 * torch.zeros(8, 2).sub(1.0).square().sum(1).mean()
    fake = 0.5 * (expected_refined - 1.0).square().sum(1).mean()
    assert energy.scale.item() == pytest.approx(
        1.0 - 1e-3 * torch.sign(real - fake).item(), abs=1e-6
    )


def test_a_fresh_sampler_batch_draws_raw_g_of_z_again() -> None:
    trainer, energy = _trainer(FreshMeanEnergy(TOY), steps=2)
    initial = copy.deepcopy(trainer.components.sampler)
    energy_before = copy.deepcopy(energy)
    trainer.train_step()
    # Evaluated: the first draw (2 chain steps and the metrics' evaluation), the data and
    # the refined samples, the second draw (3 again), then raw G(z) in the sampler step.
    assert len(energy.inputs) == 3 + 2 + 3 + 1
    sampler_step = energy.inputs[-1]
    assert sampler_step.requires_grad

    # The second draw continues the same generator, under the updated energy.
    state = generator(4)
    initial.training_samples(8, energy_before, state)
    updated = Bowl()
    updated.load_state_dict(energy.state_dict())
    _, fresh_raw = initial.training_samples(8, updated, state)
    torch.testing.assert_close(sampler_step.detach(), fresh_raw.detach())
    assert not torch.equal(sampler_step.detach(), energy.inputs[4])


def test_a_run_samples_refined_by_default_and_raw_with_steps_0(tmp_path: Path) -> None:
    plugin = module_plugin(
        "hybrid-test",
        ebkit_energies=lambda: [Component(name="bowl", summary="½‖x − 1‖²", factory=Bowl)],
        ebkit_losses=lambda: [Component(name="mean", summary="means", factory=MeanEnergy)],
    )
    manager = PluginManager(environ={}, extra_plugins={"hybrid-test": plugin})
    config = resolve_config(
        manager,
        names={"energy": "bowl", "sampler": "generator-langevin", "loss": "mean", "data": "moons"},
        train={"steps": 3, "batch_size": 8},
        overrides=["sampler.latent_dim=4", "sampler.width=16", "sampler.steps=5"],
    )
    # A run directory as `ebkit train` leaves it, without the pictures (fast).
    trainer = build_trainer(config, manager)
    for _ in range(3):
        trainer.train_step()
    run = prepare_run_dir(tmp_path / "run")
    write_json(run / "config.json", config.as_json())
    save_checkpoint(trainer, run)

    refined_run = SavedRun.open(run, manager=manager, device="cpu")
    raw_run = SavedRun.open(
        run, manager=manager, device="cpu", sampler_overrides=["sampler.steps=0"]
    )
    assert raw_run.sampler.langevin.steps == 0 and refined_run.sampler.langevin.steps == 5
    raw = raw_run.sample(16, seed=1)
    expected = refined_run.sampler.generator.sample(16, None, torch.Generator().manual_seed(1))
    assert torch.equal(raw, expected.detach())
    refined = refined_run.sample(16, seed=1)
    assert not torch.equal(refined, raw)
    energies = refined_run.energies
    assert energies(refined).mean() < energies(raw).mean()
