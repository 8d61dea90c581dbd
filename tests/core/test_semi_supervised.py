"""Tests for training without contrastive samples and with a labelled subset."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebkit.builtins.datasets.digits import Digits
from ebkit.builtins.losses.gan import GANLoss
from ebkit.builtins.losses.none import DataEnergyLoss, data_energy_loss
from ebkit.builtins.samplers.generator import GeneratorSampler
from ebkit.builtins.samplers.none import NoSampler
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.core.errors import UsageError
from ebkit.core.extensions import FreezeSampler
from ebkit.core.interfaces import DataSpec, EnergyFunction, EnergyOutput
from ebkit.core.semi_supervised import HeldOutError, SemiSupervised, classification_error
from ebkit.runs.splits import semi_supervised_split


class LinearClassifierEnergy(EnergyFunction):
    """A softmax classifier whose energy is the squared norm of its input map."""

    provides = frozenset({"logits"})

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        self.linear = torch.nn.Linear(spec.dim, spec.num_classes or 2)

    def forward(self, x):
        logits = self.linear(x.flatten(1))
        return EnergyOutput(energy=logits.square().sum(1), logits=logits)


def digits_split(labels: int = 20):
    return semi_supervised_split(Digits(), labels=labels, test_fraction=0.2, seed=0)


def semi_supervised(split, **options) -> SemiSupervised:
    return SemiSupervised(split.labelled, split.test_x, split.test_y, **options)


def test_the_data_energy_loss_is_the_mean_energy() -> None:
    real = torch.tensor([1.0, 2.0, 6.0], requires_grad=True)
    loss = data_energy_loss(real)
    assert float(loss.detach()) == 3.0
    loss.backward()
    assert torch.equal(real.grad, torch.full((3,), 1 / 3))
    out = DataEnergyLoss(DataSpec((2,))).energy_loss(EnergyOutput(real.detach()), None)
    assert float(out.loss) == 3.0 and float(out.metrics["loss_energy"]) == 3.0


def test_the_none_sampler_refuses_to_sample() -> None:
    with pytest.raises(RuntimeError, match="draws no samples"):
        NoSampler(DataSpec((2,))).sample(3, None, torch.Generator())


def test_the_supervised_term_is_weighted_into_the_energy_loss() -> None:
    split = digits_split()
    spec = split.unlabelled.spec
    grads = []
    for weight in (0.0, 1.0):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            energy = LinearClassifierEnergy(spec)
        components = Components(split.unlabelled, energy, NoSampler(spec), DataEnergyLoss(spec))
        extension = semi_supervised(split, weight=weight)
        trainer = Trainer(components, TrainSettings(batch_size=8), extensions=[extension])
        trainer.energy_optimizer.step = lambda: None  # keep the gradient to look at it
        trainer.train_step()
        grads.append(energy.linear.bias.grad.clone())
    # Without the cross-entropy the bias gradient is that of the energy alone.
    assert not torch.allclose(grads[0], grads[1])


def test_requirements_of_the_none_pairing_and_of_labels() -> None:
    spec = Digits().spec
    data = Digits()
    energy = LinearClassifierEnergy(spec)
    gan = GANLoss(spec)
    with pytest.raises(UsageError, match=r"draws no contrastive samples.*--loss none"):
        Trainer(Components(data, energy, NoSampler(spec), gan), TrainSettings())
    generator = GeneratorSampler(spec, latent_dim=4, width=8)
    with pytest.raises(
        UsageError, match="ignores contrastive samples; pair it with --sampler none"
    ):
        Trainer(Components(data, energy, generator, DataEnergyLoss(spec)), TrainSettings())

    class NoLogits(EnergyFunction):
        def forward(self, x):
            return EnergyOutput(energy=x.flatten(1).sum(1))

    labelled = semi_supervised(digits_split())
    with pytest.raises(UsageError, match="--labels needs an energy that classifies"):
        Trainer(
            Components(data, NoLogits(spec), NoSampler(spec), DataEnergyLoss(spec)),
            TrainSettings(),
            extensions=[labelled],
        )


def test_the_sampler_stops_training_after_sampler_steps() -> None:
    split = digits_split()
    spec = split.unlabelled.spec
    sampler = GeneratorSampler(spec, latent_dim=4, width=8)
    components = Components(split.unlabelled, LinearClassifierEnergy(spec), sampler, GANLoss(spec))
    trainer = Trainer(
        components,
        TrainSettings(batch_size=8),
        extensions=[semi_supervised(split), FreezeSampler(after=2)],
    )
    snapshots = []
    for _ in range(4):
        trainer.train_step()
        # Parameters only: BatchNorm's running statistics follow every forward pass.
        snapshots.append({k: v.detach().clone() for k, v in sampler.named_parameters()})
    assert any(not torch.equal(snapshots[0][k], snapshots[1][k]) for k in snapshots[0])
    assert all(torch.equal(snapshots[2][k], snapshots[3][k]) for k in snapshots[2])


def test_held_out_error_is_added_to_the_logged_metrics() -> None:
    split = digits_split()
    spec = split.unlabelled.spec
    energy = LinearClassifierEnergy(spec)
    extension = semi_supervised(split, eval_every=3)
    trainer = Trainer(
        Components(split.unlabelled, energy, NoSampler(spec), DataEnergyLoss(spec)),
        TrainSettings(steps=4, batch_size=8),
        extensions=[extension],
    )
    (callback,) = trainer.callbacks  # the extension brings its callback
    assert isinstance(callback, HeldOutError)
    seen = []
    for _ in range(4):
        metrics = trainer.train_step()
        callback.on_step_end(trainer, metrics)
        seen.append("test_error" in metrics)
    assert seen == [False, False, True, True]  # every 3 steps and at the last one
    assert energy.training  # evaluation restored the training mode
    expected = classification_error(energy, split.test_x, split.test_y, "cpu")
    assert metrics["test_error"] == expected and 0.0 <= expected <= 1.0


# -- through the command line and the run directory ----------------------------------------

LADDER_RUN = [
    "--energy", "ladder", "--labels", "30", "--steps", "40", "--batch-size", "32",
    "-o", "energy.sizes=32,16", "-o", "train.eval_every=20", "-o", "train.log_every=10",
    "-o", "train.sample_every=0",
]  # fmt: skip


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ebkit", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.integration("ebkit-ladder")
def test_the_ladder_baseline_from_the_cli_logs_and_reports_the_held_out_error(
    tmp_path: Path,
) -> None:
    out = tmp_path / "ladder"
    result = cli("train", *LADDER_RUN, "--sampler", "none", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["loss"]["id"] == "ebkit/none"  # implied by --sampler none
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [record["step"] for record in records if "test_error" in record]
    assert logged == [20, 40]
    assert all("supervised_ce" in record for record in records)
    assert not (out / "samples").exists()
    evaluated = cli("evaluate", str(out), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["test_error"] == pytest.approx(records[-1]["test_error"])
    assert report["test_size"] == 359  # 20% of each digit class of the 1797
    refused = cli("sample", str(out))
    assert refused.returncode == 2 and "--sampler none" in refused.stderr


@pytest.mark.integration("ebkit-ladder", "ebkit-losses")
def test_ebgan_ln_from_the_cli_stops_the_generator(tmp_path: Path) -> None:
    out = tmp_path / "ebgan-ln"
    result = cli(
        "train", *LADDER_RUN, "--sampler", "generator", "--loss", "margin",
        "-o", "loss.margin=16", "-o", "loss.schedule=linear", "-o", "loss.final_margin=0",
        "-o", "loss.schedule_steps=20", "-o", "train.sampler_steps=20",
        "-o", "sampler.width=16", "-o", "sampler.latent_dim=8", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    margins = {r["step"]: r["margin"] for r in records}
    assert margins[10] > margins[20] > margins[30] == margins[40] == 0.0  # 16 -> 0 in 20 steps
    assert "loss_sampler" in records[0] and "loss_sampler" not in records[-1]


@pytest.mark.integration("ebkit-ladder")
def test_labels_errors_are_one_line(tmp_path: Path) -> None:
    for args, expected in (
        (["--energy", "mlp", "--sampler", "generator", "--loss", "gan",
          "--labels", "20"], "--labels needs an energy that classifies"),
        (["--energy", "ladder", "--sampler", "none", "--labels", "5"],
         "at least one labelled example per class"),
        (["--energy", "ladder", "--sampler", "none", "--labels", "20", "--data", "moons"],
         "needs a labelled dataset"),
        (["--energy", "ladder", "--sampler", "none", "--loss", "gan", "--labels", "20"],
         "draws no contrastive samples"),
        (["--energy", "ladder", "--sampler", "none", "--labels", "20",
          "-o", "train.lr_decay_start=0.5", "-o", "train.lr_halve_patience=5"],
         "cannot be combined"),
    ):  # fmt: skip
        result = cli("train", *args, "--steps", "2", "--out", str(tmp_path / "run"))
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert not (tmp_path / "run").exists()


def test_a_semi_supervised_run_resumes_bit_identically(tmp_path: Path) -> None:
    from ebkit import Component
    from ebkit.core.engine import Callback
    from ebkit.core.errors import TrainingInterrupted
    from ebkit.plugin.manager import PluginManager, module_plugin
    from ebkit.runs.checkpoints import latest_checkpoint, load_checkpoint
    from ebkit.runs.config import resolve_config
    from ebkit.runs.training import resume_run, train_run

    classifier = Component("linear-classifier", "a classifying energy", LinearClassifierEnergy)
    plugin = module_plugin("semi-test", ebkit_energies=lambda: [classifier])
    manager = PluginManager(
        load_entry_points=False, environ={}, extra_plugins={"semi-test": plugin}
    )

    def config(steps: int):
        return resolve_config(
            manager,
            names={"energy": "linear-classifier", "sampler": "generator", "loss": "gan"},
            train={"steps": steps, "batch_size": 16, "labels": 20},
            overrides=["sampler.width=16", "sampler.latent_dim=4",
                       "train.sample_every=0", "train.lr_decay_start=0.5",
                       "train.checkpoint_every=0", "train.eval_every=5"],
        )  # fmt: skip

    class StopAtSeven(Callback):
        def on_step_end(self, trainer, metrics) -> None:
            if trainer.step == 7:  # Ctrl-C: a checkpoint at the step's end, then the exit
                os.kill(os.getpid(), signal.SIGINT)

    train_run(config(12), tmp_path / "whole", manager=manager, progress=False)
    with pytest.raises(TrainingInterrupted):
        train_run(
            config(12), tmp_path / "split", manager=manager, progress=False,
            extra_callbacks=(StopAtSeven(),),
        )  # fmt: skip
    resume_run(tmp_path / "split", manager=manager, progress=False)
    whole, _ = load_checkpoint(latest_checkpoint(tmp_path / "whole"))
    split, meta = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert meta["step"] == 12 and whole.keys() == split.keys()
    assert any(key.startswith("labelled.") for key in whole)  # its epoch order is saved
    assert all(torch.equal(whole[key], split[key]) for key in whole)
