"""Tests for the standard FID / KID / IS path: the FID Inception network's input
pipeline, its weights file (generated here with the published keys and shapes), and the
torchmetrics glue, checked against hand-computed values and ebkit's own formulas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebkit.core.errors import UsageError
from ebkit.metrics import (
    InceptionFeatures,
    ebgan_inception_score,
    frechet_distance_of_features,
    inception_input,
    inception_score,
    kernel_inception_distance,
    load_inception,
    resize_bilinear_tf1,
    standard_metrics,
    to_uint8_rgb,
)
from ebkit.metrics.inception import expected_state_shapes, find_inception_weights
from ebkit.metrics.standard import require_torchmetrics

# -- the input pipeline ------------------------------------------------------------------


def test_resizing_reads_source_pixel_i_times_in_over_out_like_tensorflow_1() -> None:
    # f(y, x) = 20y + 10x on a 2 × 2 grid; to 4 × 4 the rows and columns read source
    # coordinates 0, 0.5, 1, 1.5 → clamped to the last pixel: 0, 0.5, 1, 1.
    image = torch.tensor([[[[0.0, 10.0], [20.0, 30.0]]]])
    expected = torch.tensor(
        [[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]],
        dtype=torch.float32,
    )
    assert torch.equal(resize_bilinear_tf1(image, 4)[0, 0], expected)
    # PyTorch's half-pixel bilinear resize gives other values: the standard is not it.
    half_pixel = torch.nn.functional.interpolate(image, size=4, mode="bilinear")
    assert not torch.allclose(half_pixel[0, 0], expected)


def test_the_network_input_is_299_pixels_mapped_by_x_minus_128_over_128() -> None:
    levels = torch.tensor([0, 128, 255], dtype=torch.uint8)
    images = levels.view(3, 1, 1, 1).expand(3, 3, 299, 299).contiguous()
    x = inception_input(images)
    assert x.shape == (3, 3, 299, 299)
    assert torch.equal(x[:, 0, 17, 42], torch.tensor([-1.0, 0.0, 127 / 128]))
    small = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert inception_input(small).shape == (2, 3, 299, 299)
    with pytest.raises(ValueError, match="uint8"):
        inception_input(small.float())


def test_samples_become_uint8_rgb_as_a_png_would_store_them() -> None:
    grey = torch.tensor([-1.0, 0.0, 1.0, float("nan")]).view(1, 1, 2, 2)
    pixels = to_uint8_rgb(grey)
    assert pixels.dtype == torch.uint8 and pixels.shape == (1, 3, 2, 2)
    assert pixels[0, :, 0, 0].tolist() == [0, 0, 0]
    assert pixels[0, 2].flatten().tolist() == [0, 128, 255, 0]  # 127.5 rounds to even
    assert torch.equal(
        to_uint8_rgb(torch.zeros(1, 3, 2, 2), 0.0, 1.0), torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    )
    with pytest.raises(UsageError, match="grey or RGB"):
        to_uint8_rgb(torch.zeros(1, 2, 4, 4))


# -- the weights file ----------------------------------------------------------------------


def test_the_layout_has_the_published_files_keys_and_shapes() -> None:
    shapes = expected_state_shapes()
    # Shapes of the TensorFlow graph's tensors, as the published conversion names them.
    assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert shapes["Conv2d_1a_3x3.bn.running_var"] == (32,)
    assert shapes["Mixed_5b.branch_pool.conv.weight"] == (32, 192, 1, 1)
    assert shapes["Mixed_6e.branch7x7dbl_5.conv.weight"] == (192, 192, 1, 7)
    assert shapes["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert shapes["fc.weight"] == (1008, 2048) and shapes["fc.bias"] == (1008,)
    assert not [key for key in shapes if "Aux" in key or "num_batches" in key]
    assert len(shapes) == 94 * 5 + 2  # 94 convolutions with batch norm, and fc


def test_generated_weights_load_and_give_pool_features_and_unbiased_logits(
    inception_weights: Path, inception_state: dict
) -> None:
    network = load_inception(inception_weights)
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    pool, logits = network(images)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(pool).all() and (pool >= 0).all()  # averages of ReLU outputs
    assert pool.std() > 0
    # The Inception score's logits leave out the bias, as the original code did.
    assert torch.allclose(logits, pool @ inception_state["fc.weight"].T, atol=1e-4)
    assert not torch.allclose(logits, logits + inception_state["fc.bias"], atol=1e-4)


@pytest.mark.parametrize("container", ["safetensors", "legacy-pickle-with-batch-counts"])
def test_other_containers_of_the_same_weights_load(
    container: str, inception_state: dict, tmp_path: Path
) -> None:
    if container == "safetensors":
        from safetensors.torch import save_file

        path = tmp_path / "inception.safetensors"
        save_file(inception_state, str(path))
    else:
        path = tmp_path / "inception.pth"
        counts = {
            key.replace("running_var", "num_batches_tracked"): torch.tensor(0)
            for key in inception_state
            if key.endswith("running_var")
        }
        torch.save({**inception_state, **counts}, path, _use_new_zipfile_serialization=False)
    network = load_inception(path)
    assert torch.equal(network.fc.weight, inception_state["fc.weight"])
    assert torch.equal(
        network.Mixed_7c.branch_pool.bn.running_mean,
        inception_state["Mixed_7c.branch_pool.bn.running_mean"],
    )


def test_a_file_with_other_keys_or_shapes_gets_one_line(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048), "AuxLogits.fc.weight": torch.zeros(1)}, path)
    with pytest.raises(UsageError) as caught:
        load_inception(path)
    message = str(caught.value)
    assert "\n" not in message and "not the FID Inception-v3 weights" in message
    assert "471 missing: Conv2d_1a_3x3.conv.weight" in message
    assert "1 unexpected: AuxLogits.fc.weight" in message
    assert "1 shape: fc.weight (10, 2048) (expected (1008, 2048))" in message


class _RunsCode:
    def __reduce__(self):  # unpickling this would call os.system
        return (os.system, ("echo unpickled",))


def test_pickled_code_and_other_objects_are_refused(tmp_path: Path) -> None:
    code = tmp_path / "code.pth"
    torch.save({"fc.weight": _RunsCode()}, code)
    with pytest.raises(UsageError, match="not a readable weights file") as caught:
        load_inception(code)
    assert "\n" not in str(caught.value)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(UsageError, match="holds list, not a state dict"):
        load_inception(listed)


def test_weights_are_found_in_torch_hubs_cache_or_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    with pytest.raises(UsageError) as caught:
        find_inception_weights()
    message = str(caught.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message and str(folder) in message
    assert "--inception-weights PATH" in message and "\n" not in message
    folder.mkdir(parents=True)
    (folder / "weights-inception-2015-12-05-6726825d.pth").write_bytes(b"")
    assert find_inception_weights().name.startswith("weights-inception")
    with pytest.raises(UsageError, match=r"--inception-weights nowhere\.pth: no such file"):
        find_inception_weights("nowhere.pth")


# -- the torchmetrics glue -----------------------------------------------------------------


def _features(seed: int, count: int = 12, width: int = 6, classes: int = 5) -> InceptionFeatures:
    generator = torch.Generator().manual_seed(seed)
    pool = torch.randn(count, width, generator=generator, dtype=torch.float64)
    return InceptionFeatures(
        pool, 3 * torch.randn(count, classes, generator=generator, dtype=torch.float64)
    )


def test_fid_kid_and_is_agree_with_ebkits_own_formulas() -> None:
    real, fake = _features(0), _features(1)
    fake = InceptionFeatures(fake.pool + 0.5, fake.logits)
    scores = standard_metrics(real, fake, kid_subsets=1, kid_subset_size=len(real), is_splits=1)
    assert scores.standard_fid == pytest.approx(
        float(frechet_distance_of_features(real.pool, fake.pool)), rel=1e-6
    )
    kid, _ = kernel_inception_distance(real.pool, fake.pool, num_subsets=1, subset_size=len(real))
    assert scores.standard_kid == pytest.approx(float(kid), rel=1e-6)
    probabilities = fake.logits.softmax(dim=1)
    assert scores.standard_is == pytest.approx(float(inception_score(probabilities)), rel=1e-6)
    assert scores.standard_is != pytest.approx(float(ebgan_inception_score(probabilities)))


def test_fid_of_a_set_with_itself_is_zero_and_order_does_not_matter() -> None:
    real, fake = _features(0), _features(1)
    assert abs(standard_metrics(real, real).standard_fid) < 1e-8
    order = torch.randperm(len(fake), generator=torch.Generator().manual_seed(3))
    shuffled = InceptionFeatures(fake.pool[order], fake.logits[order])
    everything = {"kid_subset_size": len(real), "kid_subsets": 3, "is_splits": 1}
    first, second = (
        standard_metrics(real, fake, **everything),
        standard_metrics(real, shuffled, **everything),
    )
    assert first.standard_fid > 0.1
    assert second.standard_fid == pytest.approx(first.standard_fid, rel=1e-9)
    assert second.standard_kid == pytest.approx(first.standard_kid, rel=1e-9)
    assert second.standard_is == pytest.approx(first.standard_is, rel=1e-9)


def test_only_the_pool_features_reach_fid_and_only_the_logits_reach_is() -> None:
    real, fake = _features(0), _features(1)
    same_pool = InceptionFeatures(real.pool.clone(), fake.logits)
    scores = standard_metrics(real, same_pool, seed=5)
    assert abs(scores.standard_fid) < 1e-8
    assert scores.standard_is == standard_metrics(fake, same_pool, seed=5).standard_is
    assert scores.is_splits == 6 and scores.kid_subset_size == 12  # 2 samples a split at least


def test_the_seed_fixes_kids_subsets_and_leaves_the_global_generator_alone() -> None:
    real, fake = _features(0, count=20), _features(1, count=20)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    one = standard_metrics(real, fake, seed=1, kid_subset_size=5)
    assert torch.rand(1) == before
    assert standard_metrics(real, fake, seed=1, kid_subset_size=5).standard_kid == one.standard_kid
    assert standard_metrics(real, fake, seed=2, kid_subset_size=5).standard_kid != one.standard_kid


def test_a_missing_torchmetrics_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    with pytest.raises(UsageError, match=r"pip install 'ebkit\[standard-metrics\]'"):
        require_torchmetrics()


def test_importing_the_standard_path_does_not_import_torchmetrics() -> None:
    code = (
        "import sys, ebkit.metrics, ebkit.evaluation.standard; print('torchmetrics' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.stdout.strip() == "False", result.stderr
