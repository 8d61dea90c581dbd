"""Tests for --precision, --compile and --device (ebkit/core/hardware.py and where the
engine, checkpoints and the command line use it). No test needs a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ebkit
from ebkit.core import hardware
from ebkit.core.engine import Callback, Components, Trainer, TrainSettings
from ebkit.core.errors import NonFiniteLossError, UsageError
from ebkit.core.hardware import Precision, resolve_device
from ebkit.runs.checkpoints import (
    _restore_sample_generator,
    complete_checkpoints,
)

NAMES = {"energy": "mlp", "sampler": "generator", "loss": "gan", "data": "8gaussians"}
SMALL = {
    "energy.width": 8,
    "sampler.width": 8,
    "sampler.latent_dim": 2,
    "train.log_every": 5,
    "train.sample_every": 0,
    "train.sample_count": 8,
    "train.lr_decay_start": 1.0,
}


@pytest.fixture(autouse=True)
def _plugins(ebkit_plugins):
    ebkit_plugins()


def small_run(path: Path, steps: int = 10, **changes) -> ebkit.SavedRun:
    options = {**SMALL, **changes.pop("options", {})}
    return ebkit.train(**NAMES, steps=steps, batch_size=8, options=options, out=path, **changes)


def trainer(precision: str = "fp32", *, compiled: bool = False) -> Trainer:
    data = ebkit.build_component("dataset", "8gaussians")
    energy = ebkit.build_component("energy", "mlp", data.spec, width=8, seed=0)
    sampler = ebkit.build_component("sampler", "generator", data.spec, width=8, seed=1)
    loss = ebkit.build_component("loss", "gan", data.spec)
    components = Components(data, energy, sampler, loss)
    settings = TrainSettings(batch_size=8)
    return Trainer(components, settings, precision=precision, compiled=compiled)


# -- precision -------------------------------------------------------------------------


def test_bf16_runs_the_layers_in_bf16_and_the_losses_in_float32() -> None:
    run = trainer("bf16")
    layer_dtypes: list[torch.dtype] = []
    for module in (run.components.energy, run.components.sampler):
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                layer.register_forward_hook(lambda m, i, out: layer_dtypes.append(out.dtype))
    metrics = run.train_step()
    assert set(layer_dtypes) == {torch.bfloat16}
    assert all(value.dtype == torch.float32 for value in metrics.values() if torch.is_tensor(value))
    assert {e.dtype for e in run.last_energies.values()} == {torch.float32}
    parameters = [*run.components.energy.parameters(), *run.components.sampler.parameters()]
    assert {p.dtype for p in parameters} == {torch.float32}
    assert run.draw_samples(4, seed=0).dtype == torch.float32


def test_fp32_runs_nothing_under_autocast() -> None:
    run = trainer("fp32")
    dtypes: list[torch.dtype] = []
    for layer in run.components.energy.modules():
        if isinstance(layer, torch.nn.Linear):
            layer.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    run.train_step()
    assert set(dtypes) == {torch.float32} and run.precision.scalers == {}


def test_the_energy_output_comes_back_in_float32_under_autocast() -> None:
    energy = ebkit.build_component("energy", "mlp", ebkit.DataSpec((2,)), width=8, seed=0)
    x = torch.randn(5, 2, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert energy(x).energy.dtype == torch.bfloat16  # the raw forward
        output = energy.evaluate(x)
    assert output.energy.dtype == torch.float32
    (grad,) = torch.autograd.grad(output.energy.sum(), x)  # still differentiable
    assert grad.dtype == torch.float32


def test_langevin_chains_from_a_bf16_start_step_in_float32() -> None:
    spec = ebkit.DataSpec((2,))
    energy = ebkit.build_component("energy", "mlp", spec, width=8, seed=0)
    langevin = ebkit.build_component("sampler", "langevin", spec, steps=3)
    start = torch.randn(6, 2).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        end = langevin.refine(start, energy, torch.Generator().manual_seed(0))
    assert end.dtype == torch.float32


def test_fp16_scales_each_optimisers_gradients_and_resumes_the_scalers(tmp_path: Path) -> None:
    whole = small_run(tmp_path / "whole", precision="fp16", options={"train.checkpoint_every": 5})
    sidecar = json.loads((whole.path / "checkpoints" / "step-0000010.json").read_text())
    assert set(sidecar["grad_scalers"]) == {"energy", "sampler"}
    assert sidecar["grad_scalers"]["energy"]["_growth_tracker"] > 0  # it counted steps
    # Stopped at step 5, then resumed: the same weights and scaler states at step 10.
    half = small_run(tmp_path / "half", steps=5, precision="fp16")
    resumed = ebkit.resume(half.path, steps=10)
    ours = json.loads((resumed.path / "checkpoints" / "step-0000010.json").read_text())
    assert ours["grad_scalers"] == sidecar["grad_scalers"]
    theirs = load_file(whole.path / "checkpoints" / "step-0000010.safetensors")
    mine = load_file(resumed.path / "checkpoints" / "step-0000010.safetensors")
    assert all(torch.equal(theirs[key], mine[key]) for key in theirs)


def test_a_scaler_state_restores_into_a_fresh_scaler() -> None:
    first = Precision("fp16", torch.device("cpu"), ["energy"])
    first.scalers["energy"].load_state_dict({**first.state_dict()["energy"], "scale": 512.0})
    second = Precision("fp16", torch.device("cpu"), ["energy"])
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert second.scalers["energy"].get_scale() == 512.0
    Precision("fp16", torch.device("cpu"), ["energy"]).load_state_dict({})  # bf16 before
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, fp16"):
        Precision("fp8", torch.device("cpu"), [])


class PoisonLossAt(Callback):
    """Makes the energy's output NaN from step ``step`` on."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer: Trainer, metrics: dict) -> None:
        if trainer.step == self.step - 1:
            energy = trainer.components.energy
            energy.register_forward_hook(
                lambda m, i, out: type(out)(out.energy * float("nan"), *out._values()[1:])
            )


def test_a_bf16_run_stops_on_a_non_finite_loss_before_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteLossError, match="at step 7"):
        small_run(
            tmp_path / "run",
            precision="bf16",
            options={"train.checkpoint_every": 5, "train.log_every": 9},
            callbacks=[PoisonLossAt(7)],
        )
    assert [p.name for p in complete_checkpoints(tmp_path / "run")] == ["step-0000005.safetensors"]


# -- compile ---------------------------------------------------------------------------


COMPILED_AND_EAGER = """
import torch
import ebkit
from ebkit.core.engine import Components, Trainer, TrainSettings
from ebkit.runs.checkpoints import restore_trainer_state, trainer_state

torch.set_num_threads(1)


def trainer(compiled):
    data = ebkit.build_component("dataset", "8gaussians")
    energy = ebkit.build_component("energy", "mlp", data.spec, width=8, seed=0)
    sampler = ebkit.build_component("sampler", "generator", data.spec, width=8, seed=1)
    components = Components(data, energy, sampler, ebkit.build_component("loss", "gan", data.spec))
    return Trainer(components, TrainSettings(batch_size=8), compiled=compiled)


eager, compiled = trainer(False), trainer(True)
assert compiled.components.energy._compiled_call_impl is not None
for run in (eager, compiled):
    run.train_step()
    run.train_step()
plain, tensors_and_meta = trainer_state(eager), trainer_state(compiled)
saved = tensors_and_meta[0]
assert sorted(saved) == sorted(plain[0]), "no _orig_mod. prefixes"
for key in plain[0]:  # the same computation, up to the compiler's rounding
    torch.testing.assert_close(saved[key], plain[0][key], rtol=1e-3, atol=1e-4)
# A compiled run resumes an eager checkpoint and the other way round.
restore_trainer_state(compiled, *plain)
restore_trainer_state(eager, *tensors_and_meta)
assert compiled.step == eager.step == 2
# The gan loss's R1 penalty (on by default on vectors) differentiates the compiled energy
# twice: it runs eagerly (torch.compiler.set_stance), or this step would fail.
assert "penalty_r1" in compiled.train_step()
print("ok")
"""


def test_compiled_and_eager_trainers_keep_the_same_keys_and_read_each_other() -> None:
    # In a fresh process: Inductor imports setuptools, whose distutils shim no longer
    # loads in a process where pip ran before (as other tests run it in-process).
    # (``ebkit train --compile`` probes first and trains eagerly then, with one line.)
    done = subprocess.run(
        [sys.executable, "-c", COMPILED_AND_EAGER], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_compile_falls_back_to_eager_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(hardware, "compile_unavailable", lambda: "RuntimeError: no C compiler")
    compiled: list[torch.nn.Module] = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    small_run(tmp_path / "run", steps=2, compile=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "--compile" in line]
    assert lines == [
        "--compile: torch.compile cannot run here (RuntimeError: no C compiler); "
        "training without it"
    ]
    assert compiled == []


def test_compile_wraps_the_energy_and_trainable_samplers_only() -> None:
    spec = ebkit.DataSpec((2,))
    energy = ebkit.build_component("energy", "mlp", spec, width=8)
    generator = ebkit.build_component("sampler", "generator", spec, width=8)
    langevin = ebkit.build_component("sampler", "langevin", spec)
    assert hardware.compiled_modules(energy, generator) == [energy, generator]
    assert hardware.compiled_modules(energy, langevin) == [energy]


# -- devices ---------------------------------------------------------------------------


def test_device_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match=r"--device 'gpu' is not a device \(accepted: auto"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(UsageError, match="--device cuda:1: no CUDA device is available here"):
        resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(UsageError, match=r"has 2 CUDA device\(s\) \(accepted: cuda:0 to cuda:1"):
        resolve_device("cuda:2")


def test_cuda_on_a_machine_without_it_is_one_line_and_writes_nothing(
    tmp_path: Path, ebkit_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["train", "--energy", "mlp", "--sampler", "generator", "--loss", "gan"]
    out = tmp_path / "run"
    result = ebkit_cli(*args, "--data", "8gaussians", "--device", "cuda", "--out", str(out))
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --device cuda: no CUDA device is available here (accepted: auto, cpu)"
    ]
    assert not out.exists()
    result = ebkit_cli(*args, "--data", "8gaussians", "--precision", "fp8", "--out", str(out))
    assert result.exit_code == 2 and "'fp8' is not one of 'fp32', 'bf16', 'fp16'" in result.output


class FakeGenerator:
    """A generator whose state has another size (a CUDA one, as seen from the CPU)."""

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def get_state(self) -> torch.Tensor:
        return torch.zeros(16, dtype=torch.uint8)

    def manual_seed(self, seed: int) -> None:
        self.seeds.append(seed)


def test_a_run_moved_between_devices_reseeds_its_sampler_generator_reproducibly() -> None:
    cpu_state = torch.Generator().manual_seed(3).get_state()
    first, second = FakeGenerator(), FakeGenerator()
    _restore_sample_generator(first, cpu_state)  # type: ignore[arg-type]
    _restore_sample_generator(second, cpu_state)  # type: ignore[arg-type]
    assert first.seeds == second.seeds and 0 <= first.seeds[0] < 2**63
    same = torch.Generator()
    _restore_sample_generator(same, cpu_state)
    assert torch.equal(same.get_state(), cpu_state)
