"""Step extensions (ebkit.core.extensions) and the step's freedom from host syncs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ebkit.builtins.energies.networks import MLPEnergy
from ebkit.builtins.losses.cd import CDLoss
from ebkit.builtins.losses.gan import GANLoss
from ebkit.builtins.losses.none import DataEnergyLoss
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.langevin import LangevinSampler
from ebkit.builtins.samplers.none import NoSampler
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.core.errors import NonFiniteLossError
from ebkit.core.extensions import Callback, DataOnlyStep, FreezeSampler, StepExtension
from ebkit.core.interfaces import DataBatch, Dataset, DataSpec, EnergyOutput, LossOutput
from ebkit.runs.callbacks import Checkpoints, MetricsLog
from ebkit.runs.checkpoints import latest_checkpoint

SPEC = DataSpec((2,))


class GaussianData(Dataset):
    spec = SPEC

    def sample(self, batch_size: int, generator: torch.Generator) -> DataBatch:
        return DataBatch(torch.randn(batch_size, 2, generator=generator))


def components(sampler: str = "generator") -> Components:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        energy = MLPEnergy(SPEC, width=8, n_layers=2)
        if sampler == "generator":
            return Components(
                GaussianData(), energy, GeneratorSampler(SPEC, latent_dim=2, width=8), GANLoss(SPEC)
            )
        if sampler == "langevin":
            langevin = LangevinSampler(SPEC, steps=3)
            return Components(GaussianData(), energy, langevin, CDLoss(SPEC))
        return Components(GaussianData(), energy, NoSampler(SPEC), DataEnergyLoss(SPEC))


# -- no host synchronisation on steps where nothing is read -------------------------------

SYNCING = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


@pytest.fixture
def host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts the tensor methods that wait for the device (``.item()``, ``bool(t)``,
    ``.cpu()``…) when called from outside torch (torch's own optimisers read their step
    counters, which live on the host)."""
    calls: list[str] = []
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, __original=original, __name=name, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if not caller.startswith("torch"):
                calls.append(f"{__name} from {caller}")
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    yield calls


@pytest.mark.parametrize("sampler", ["generator", "langevin", "none"])
def test_steps_read_nothing_back_from_the_device(sampler: str, host_reads: list[str]) -> None:
    trainer = Trainer(components(sampler), TrainSettings(batch_size=8), extensions=[])
    for _ in range(3):
        trainer.train_step()
    assert host_reads == []
    trainer.check_finite()
    assert len(host_reads) == 1  # reading the finiteness record is one sync


def test_fit_reads_from_the_device_only_on_logged_steps(
    host_reads: list[str], tmp_path: Path
) -> None:
    read_at: list[int] = []

    class NoteReads(MetricsLog):
        def on_step_end(self, trainer: Trainer, metrics) -> None:
            before = len(host_reads)
            super().on_step_end(trainer, metrics)
            read_at.extend([trainer.step] * (len(host_reads) - before))

    log = NoteReads(tmp_path / "metrics.jsonl", every=4)
    trainer = Trainer(components(), TrainSettings(steps=9, batch_size=8), callbacks=[log])
    trainer.fit()
    logged = [record["step"] for record in log.history]
    assert logged == [4, 8, 9]
    assert sorted(set(read_at)) == logged  # the reads of logging, nothing else
    assert len(host_reads) == len(read_at) + 1  # and the check at the end of fit


# -- a non-finite loss is caught before anything is saved ---------------------------------


class BlowUpAt(StepExtension):
    """A third-party extension: adds an infinite term to the energy's loss at step ``at``."""

    name = "blow-up"

    def __init__(self, at: int) -> None:
        self.at = at

    def energy_terms(self, trainer: Trainer, real: EnergyOutput, fake) -> LossOutput | None:
        if trainer.step + 1 != self.at:
            return None
        return LossOutput(real.energy.mean() * float("inf"), {})


@pytest.mark.parametrize("log_every", [1, 100])
def test_a_non_finite_loss_stops_the_run_before_the_next_checkpoint(
    log_every: int, tmp_path: Path
) -> None:
    trainer = Trainer(
        components(),
        TrainSettings(steps=10, batch_size=8),
        callbacks=[MetricsLog(tmp_path / "metrics.jsonl", log_every), Checkpoints(tmp_path, 3)],
        extensions=[BlowUpAt(5)],
    )
    with pytest.raises(NonFiniteLossError, match=r"^the energy loss became (-?inf|nan) at step 5;"):
        trainer.fit()
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step-0000003.safetensors"
    assert trainer.step == (5 if log_every == 1 else 6)  # stopped when it was read or saved


# -- the built-in extensions ---------------------------------------------------------------


def test_freeze_sampler_trains_the_sampler_for_its_first_steps_only() -> None:
    parts = components()
    trainer = Trainer(parts, TrainSettings(batch_size=8), extensions=[FreezeSampler(after=2)])
    snapshots, trained = [], []
    for _ in range(4):
        trained.append(trainer.sampler_trains())
        metrics = trainer.train_step()
        assert ("loss_sampler" in metrics) == trained[-1]
        snapshots.append([p.detach().clone() for p in parts.sampler.parameters()])
    assert trained == [True, True, False, False]
    assert not all(map(torch.equal, snapshots[0], snapshots[1]))
    assert all(map(torch.equal, snapshots[1], snapshots[3]))
    with pytest.raises(ValueError, match="at least one step"):
        FreezeSampler(after=0)


def test_the_none_sampler_implies_the_data_only_step() -> None:
    trainer = Trainer(components("none"), TrainSettings(batch_size=8))
    assert [type(extension) for extension in trainer.extensions] == [DataOnlyStep]
    metrics = trainer.train_step()
    assert set(metrics) == {"loss_energy"}
    assert trainer.sampler_optimizer is None


def test_an_extension_can_add_an_energy_term_and_a_callback() -> None:
    class WeightDecayTerm(StepExtension):
        """L2 on the energy's weights, logged as ``weight_norm``, with a step counter."""

        name = "weight-decay"

        def __init__(self) -> None:
            self.ends = 0

        def energy_terms(self, trainer, real, fake) -> LossOutput:
            norm = sum(p.square().sum() for p in trainer.components.energy.parameters())
            return LossOutput(1e-3 * norm, {"weight_norm": norm.detach()})

        def callbacks(self):
            extension = self

            class CountSteps(Callback):
                def on_step_end(self, trainer, metrics) -> None:
                    extension.ends += 1

            return [CountSteps()]

    extension = WeightDecayTerm()
    trainer = Trainer(components(), TrainSettings(steps=2, batch_size=8), extensions=[extension])
    plain = Trainer(components(), TrainSettings(steps=2, batch_size=8))
    metrics, plain_metrics = trainer.train_step(), plain.train_step()
    assert "weight_norm" in metrics and "weight_norm" not in plain_metrics
    assert not torch.equal(metrics["loss_energy"], metrics["weight_norm"])
    changed = [
        not torch.equal(a, b)
        for a, b in zip(
            trainer.components.energy.parameters(),
            plain.components.energy.parameters(),
            strict=True,
        )
    ]
    assert any(changed)  # the term moved the energy's weights
    trainer.fit()
    assert extension.ends == 1  # fit ran the one remaining step, with the extension's callback


def test_a_component_brings_the_extensions_it_needs() -> None:
    class Counting(StepExtension):
        name = "counting"

        def energy_terms(self, trainer, real, fake) -> LossOutput:
            return LossOutput(real.energy.sum() * 0.0, {"counted_step": float(trainer.step)})

    class LossWithExtension(GANLoss):
        def __init__(self, spec: DataSpec) -> None:
            super().__init__(spec)
            self.extension = Counting()

        def step_extensions(self):
            return [self.extension]

    parts = components()
    parts.loss = LossWithExtension(SPEC)
    trainer = Trainer(parts, TrainSettings(batch_size=8), extensions=[FreezeSampler(after=5)])
    assert [type(e) for e in trainer.extensions] == [Counting, FreezeSampler]  # its own first
    trainer.train_step()
    assert trainer.train_step()["counted_step"] == 1.0
