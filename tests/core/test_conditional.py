"""Conditional runs in the core: the conditional DataSpec, the builder's refusals, the
engine handing the data's labels to the energy and the sampler, class grids, and saved
conditional runs (sampling by class, energies with and without labels)."""

from __future__ import annotations

import json

import pytest
import torch

import ebkit
from ebkit import (
    Component,
    ContrastiveSampler,
    DataSpec,
    EnergyFunction,
    EnergyOutput,
    Option,
    UsageError,
)
from ebkit.core.labels import class_cycle, class_grid, class_rows
from ebkit.plugin.manager import PluginManager, module_plugin
from ebkit.runs.checkpoints import latest_checkpoint, load_checkpoint, spec_from_meta


class ClassCentres(EnergyFunction):
    """E(x | y) = ½‖x − μ_y‖² with one learned centre per class; remembers the labels
    of every call."""

    accepts_labels = True

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        classes = spec.num_classes if spec.conditional else 1
        self.centres = torch.nn.Parameter(torch.randn(classes, spec.dim) * 0.1)
        self.calls: list[torch.Tensor | None] = []

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> EnergyOutput:
        self.calls.append(None if labels is None else labels.clone())
        centres = self.centres[labels] if self.spec.conditional else self.centres[0]
        return EnergyOutput(energy=0.5 * (x.flatten(1) - centres).square().sum(1))


class ClassShift(ContrastiveSampler):
    """G(z, y) = z + b_y, trainable; remembers the labels of every call."""

    trainable = True
    accepts_labels = True

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        classes = spec.num_classes if spec.conditional else 1
        self.shifts = torch.nn.Parameter(torch.zeros(classes, spec.dim))
        self.calls: list[torch.Tensor | None] = []

    def sample(self, n, energy, generator, labels=None):
        self.calls.append(None if labels is None else labels.clone())
        noise = torch.randn(n, self.spec.dim, generator=generator, device=self.shifts.device)
        shift = self.shifts[labels] if labels is not None else self.shifts[0]
        return (noise + shift).view(n, *self.spec.event_shape)


class Unconditional(ClassCentres):
    accepts_labels = False


class ClassifyingCentres(ClassCentres):
    """ClassCentres that also returns logits (as a semi-supervised energy would)."""

    provides = frozenset({"logits"})

    def forward(self, x, labels=None):
        output = super().forward(x, labels)
        output.logits = -(x.flatten(1).unsqueeze(1) - self.centres).square().sum(2)
        return output


class RealDigits(ContrastiveSampler):
    """Returns real digits of the requested class (or of class y + ``offset``), so that
    the class-match share has a known answer."""

    accepts_labels = True

    def __init__(self, spec: DataSpec, *, offset: int = 0) -> None:
        super().__init__(spec)
        from ebkit.builtins.datasets.digits import Digits

        digits = Digits()
        self.images, self.classes, self.offset = digits.x, digits.y, offset

    def sample(self, n, energy, generator, labels=None):
        wanted = (labels.cpu() + self.offset) % 10
        picks = [torch.nonzero(self.classes == label)[k % 50, 0] for k, label in enumerate(wanted)]
        return self.images[torch.stack(picks)].to(labels.device)


PLUGIN = module_plugin(
    "conditional-test",
    ebkit_energies=lambda: [
        Component(name="class-centres", summary="½‖x − μ_y‖²", factory=ClassCentres),
        Component(name="no-labels", summary="refuses labels", factory=Unconditional),
        Component(name="classifying", summary="with logits", factory=ClassifyingCentres),
    ],
    ebkit_samplers=lambda: [
        Component(name="class-shift", summary="z + b_y", factory=ClassShift),
        Component(
            name="real-digits",
            summary="real digits",
            factory=RealDigits,
            options=(Option("offset", int, 0, "class shift"),),
        ),
    ],
)


@pytest.fixture(scope="module")
def plugins() -> PluginManager:
    return PluginManager(environ={}, extra_plugins={"conditional-test": PLUGIN})


def train_small(plugins, tmp_path, *, energy="class-centres", sampler="class-shift", **extra):
    options = {"train.conditional": True, "train.batch_size": 20, **extra}
    return ebkit.train(
        energy=energy,
        sampler=sampler,
        loss="gan",
        data="digits",
        steps=3,
        options=options,
        out=tmp_path / "run",
        progress=False,
        manager=plugins,
    )


def test_conditional_spec_needs_classes():
    with pytest.raises(ValueError, match="num_classes"):
        DataSpec((2,), conditional=True)
    assert DataSpec((2,), num_classes=3, conditional=True).conditional


def test_engine_hands_the_batch_labels_to_energy_and_sampler(plugins, tmp_path):
    from ebkit.runs.config import resolve_config
    from ebkit.runs.training import build_trainer

    config = resolve_config(
        plugins,
        names={"energy": "class-centres", "sampler": "class-shift", "loss": "gan"},
        train={"steps": 2, "batch_size": 12, "conditional": True},
    )
    trainer = build_trainer(config, plugins)
    energy, sampler = trainer.components.energy, trainer.components.sampler
    assert energy.spec.conditional and sampler.spec.conditional
    dataset, batches = trainer.components.dataset, []
    draw = dataset.sample
    dataset.sample = lambda size, generator: batches.append(draw(size, generator)) or batches[-1]
    trainer.train_step()
    (batch,) = batches
    expected = batch.y
    assert sampler.calls and all(torch.equal(call, expected) for call in sampler.calls)
    # real, fake for the energy step and fake again for the sampler step
    assert len(energy.calls) == 3
    assert all(torch.equal(call, expected) for call in energy.calls)


def test_unconditional_runs_pass_no_labels(plugins):
    from ebkit.runs.config import resolve_config
    from ebkit.runs.training import build_trainer

    config = resolve_config(
        plugins,
        names={"energy": "class-centres", "sampler": "class-shift", "loss": "gan"},
        train={"steps": 1, "batch_size": 8},
    )
    trainer = build_trainer(config, plugins)
    trainer.train_step()
    assert trainer.components.energy.calls == [None, None, None]
    assert trainer.components.sampler.calls == [None]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"data": "moons"}, "--conditional needs a dataset with class labels; 'ebkit/moons'"),
        ({"energy": "no-labels"}, "energy 'conditional-test/no-labels' cannot condition"),
        ({"sampler": "replay", "loss": "cd"}, "sampler 'ebkit/replay' cannot condition on class"),
    ],
)
def test_conditional_runs_refuse_what_cannot_condition(plugins, tmp_path, names, message):
    from ebkit.runs.config import resolve_config
    from ebkit.runs.training import build_trainer

    chosen = {"energy": "class-centres", "sampler": "class-shift", "loss": "gan"} | names
    config = resolve_config(plugins, names=chosen, train={"conditional": True})
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(")) as error:
        build_trainer(config, plugins)
    assert "\n" not in str(error.value)


def test_conditional_and_semi_supervised_do_not_combine(plugins):
    from ebkit.runs.config import resolve_config
    from ebkit.runs.training import build_trainer

    config = resolve_config(
        plugins,
        names={"energy": "classifying", "sampler": "none", "loss": "none"},
        train={"conditional": True, "labels": 20},
    )
    with pytest.raises(UsageError, match=r"^--labels \(semi-supervised\) and --conditional"):
        build_trainer(config, plugins)


def test_class_labels_for_pictures():
    assert class_cycle(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert class_rows(3, 2).tolist() == [0, 0, 1, 1, 2, 2]
    spec = DataSpec((1, 8, 8), num_classes=10, conditional=True)
    labels, per_row = class_grid(spec, 64)
    assert per_row == 7 and labels.tolist() == class_rows(10, 7).tolist()
    assert class_grid(DataSpec((1, 8, 8), num_classes=10), 64) == (None, None)


def test_saved_conditional_run_samples_by_class(plugins, tmp_path):
    run = train_small(plugins, tmp_path)
    _, meta = load_checkpoint(latest_checkpoint(run.path))
    assert meta["spec"]["conditional"] is True
    assert spec_from_meta(meta).conditional
    config = json.loads((run.path / "config.json").read_text())
    assert config["train"]["conditional"] is True

    shifts = run.sampler.shifts.detach()
    with torch.no_grad():
        run.sampler.shifts.copy_(torch.arange(10.0).unsqueeze(1).expand_as(shifts) * 100)
    threes = run.sample(5, seed=1, labels=3)
    assert threes.mean().item() == pytest.approx(300, abs=5)
    mixed = run.sample(4, seed=1, labels=torch.tensor([0, 9, 9, 0]))
    assert mixed.flatten(1).mean(1).round(decimals=-2).tolist() == [0, 900, 900, 0]
    cycled = run.sample(12, seed=1)
    assert cycled.flatten(1).mean(1).round(decimals=-2).tolist() == [
        100.0 * k for k in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    ]
    with pytest.raises(UsageError, match=r"class 10 is not one of the run's 10 classes \(0–9\)"):
        run.sample(2, labels=10)


def test_saved_conditional_energies_with_and_without_labels(plugins, tmp_path):
    run = train_small(plugins, tmp_path)
    x = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    given = run.energies(x, labels)
    per_class = torch.stack([run.energies(x, torch.full((6,), k)) for k in range(10)])
    torch.testing.assert_close(given, per_class[labels, torch.arange(6)])
    # Without labels: the energy of the best class, min over y of E(x | y).
    torch.testing.assert_close(run.energies(x), per_class.amin(0))


def test_unconditional_run_refuses_a_class(plugins, tmp_path):
    run = ebkit.train(
        energy="class-centres",
        sampler="class-shift",
        loss="gan",
        data="digits",
        steps=2,
        options={"train.batch_size": 8},
        out=tmp_path / "plain",
        progress=False,
        manager=plugins,
    )
    with pytest.raises(UsageError, match="was not trained with --conditional"):
        run.sample(2, labels=1)


def test_conditional_run_resumes_exactly(plugins, tmp_path):
    from ebkit.runs.checkpoints import latest_checkpoint, load_checkpoint

    options = {"train.conditional": True, "train.batch_size": 12, "train.checkpoint_every": 2}
    common = dict(energy="class-centres", sampler="class-shift", loss="gan", data="digits")
    straight = ebkit.train(
        **common, steps=4, options=options, out=tmp_path / "a", progress=False, manager=plugins
    )
    ebkit.train(
        **common, steps=2, options=options, out=tmp_path / "b", progress=False, manager=plugins
    )
    resumed = ebkit.resume(tmp_path / "b", steps=4, manager=plugins)
    first, _ = load_checkpoint(latest_checkpoint(straight.path))
    second, meta = load_checkpoint(latest_checkpoint(resumed.path))
    assert meta["step"] == 4 and meta["spec"]["conditional"] is True
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize(("offset", "low", "high"), [(0, 0.9, 1.0), (1, 0.0, 0.1)])
def test_class_match_share_of_samples_with_a_known_answer(
    plugins, tmp_path, monkeypatch, offset, low, high
):
    """Real digits of the requested class match it (the classifier's accuracy); real
    digits of the next class almost never do."""
    from ebkit.evaluation.evaluate import evaluate_run

    monkeypatch.setenv("EBKIT_CACHE_DIR", str(tmp_path / "cache"))
    run = ebkit.train(
        energy="class-centres",
        sampler="real-digits",
        loss="cd",
        data="digits",
        steps=1,
        options={"train.conditional": True, "train.batch_size": 10, "sampler.offset": offset},
        out=tmp_path / "run",
        progress=False,
        manager=plugins,
    )
    metrics = evaluate_run(run, n=200, manager=plugins)["sets"]["samples"]
    assert low <= metrics["class_match_share"] <= high
