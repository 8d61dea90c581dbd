"""Tests for the metrics classifier (ebkit.metrics.classifier): training on digits, the
safetensors cache and its failure modes, and the image metrics computed through it."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch

from ebkit.builtins.datasets.digits import Digits
from ebkit.core.errors import EbkitError
from ebkit.metrics import (
    CLASSIFIER_VERSION,
    Classifier,
    cached_classifier,
    class_match_share,
    classifier_cache,
    classifier_cache_dir,
    default_epochs,
    image_metrics,
    load_classifier,
    split_indices,
    train_classifier,
)

EPOCHS = 5


@pytest.fixture(scope="module")
def digits() -> Digits:
    return Digits()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.fixture(scope="module")
def trained(digits: Digits, cache: Path) -> Classifier:
    return cached_classifier("digits", digits.x, digits.y, epochs=EPOCHS, cache_dir=cache)


@pytest.fixture(scope="module")
def heldout(digits: Digits) -> tuple[torch.Tensor, torch.Tensor]:
    _, index = split_indices(len(digits))
    return digits.x[index], digits.y[index]


@pytest.fixture
def small(digits: Digits) -> tuple[torch.Tensor, torch.Tensor]:
    """200 digits: enough to train for one epoch in a fraction of a second."""
    return digits.x[:200], digits.y[:200]


def entry_files(cache: Path, prefix: str = "digits") -> tuple[Path, Path]:
    (weights,) = cache.glob(f"{prefix}-*.safetensors")
    return weights, weights.with_suffix(".json")


def test_the_digits_classifier_is_accurate_on_held_out_digits(trained: Classifier) -> None:
    info = trained.info
    assert info is not None
    assert info.heldout_accuracy is not None and info.heldout_accuracy > 0.9
    assert info.train_accuracy > 0.9
    assert (info.dataset_id, info.image_shape, info.num_classes) == ("digits", (1, 8, 8), 10)
    assert (info.num_train, info.num_heldout) == (1797 - 359, 359)
    assert info.epochs == EPOCHS and info.version == CLASSIFIER_VERSION
    assert len(info.data_fingerprint) == 64
    assert not trained.training


def test_class_match_share_on_held_out_digits_is_high(
    trained: Classifier, heldout: tuple[torch.Tensor, torch.Tensor]
) -> None:
    images, labels = heldout
    share = class_match_share(trained.embed(images).probabilities, labels)
    assert share == pytest.approx(trained.info.heldout_accuracy)
    assert share > 0.9


def test_the_cache_entry_holds_weights_and_json_metadata(trained: Classifier, cache: Path) -> None:
    weights, sidecar = entry_files(cache)
    metadata = json.loads(sidecar.read_text())
    for key in ("dataset_id", "options", "image_shape", "num_classes", "train_accuracy"):
        assert key in metadata
    assert metadata["heldout_accuracy"] == trained.info.heldout_accuracy
    assert metadata["image_shape"] == [1, 8, 8]
    assert metadata["version"] == CLASSIFIER_VERSION
    assert weights.stat().st_size > 0


def test_loading_the_cache_gives_the_same_outputs_without_unpickling(
    trained: Classifier,
    cache: Path,
    digits: Digits,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache must not be unpickled or retrained")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(classifier_cache, "train_classifier", refuse)
    weights, _ = entry_files(cache)
    loaded = load_classifier(weights)
    again = cached_classifier("digits", digits.x, digits.y, epochs=EPOCHS, cache_dir=cache)
    expected = trained.embed(digits.x[:64])
    for other in (loaded, again):
        outputs = other.embed(digits.x[:64])
        assert torch.equal(outputs.features, expected.features)
        assert torch.equal(outputs.probabilities, expected.probabilities)
        assert other.info == trained.info


def test_image_metrics_of_real_digits_are_near_perfect(
    trained: Classifier, digits: Digits, heldout: tuple[torch.Tensor, torch.Tensor]
) -> None:
    train_index, _ = split_indices(len(digits))
    real = digits.x[train_index[:600]]
    same = image_metrics(trained, real, heldout[0], kid_subsets=10, kid_subset_size=300)
    noise = torch.rand(359, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = image_metrics(trained, real, noise, kid_subsets=10, kid_subset_size=300)
    assert same.classes_covered == 10
    # Held-out digits are about evenly spread over the classes (each 8–12 % of them).
    assert 0.1 <= same.largest_class_share < 0.15
    collapsed = image_metrics(
        trained, real, heldout[0][:1].repeat(50, 1, 1, 1), kid_subsets=2, kid_subset_size=25
    )
    assert collapsed.largest_class_share == 1.0  # one image, one class
    assert same.inception_score > 7 and same.real_inception_score > 7
    assert abs(same.kid) < 0.05 < bad.kid
    assert bad.frechet_distance > 10 * same.frechet_distance
    assert bad.inception_score < same.inception_score
    assert (same.num_real, same.num_fake) == (600, 359)
    assert json.loads(json.dumps(same.as_dict()))["classes_covered"] == 10


def test_training_is_seeded_and_leaves_the_global_rng_alone(
    small: tuple[torch.Tensor, torch.Tensor],
) -> None:
    before = torch.random.get_rng_state()
    first = train_classifier(*small, epochs=1, seed=3)
    second = train_classifier(*small, epochs=1, seed=3)
    other = train_classifier(*small, epochs=1, seed=4)
    assert torch.equal(torch.random.get_rng_state(), before)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])
    assert not torch.equal(first.head.weight, other.head.weight)


def test_default_epochs_aim_at_a_fixed_number_of_images() -> None:
    assert default_epochs(1438) == 14  # digits' training part
    assert default_epochs(8000) == 3  # 10 000 MNIST images
    assert default_epochs(100) == 20 and default_epochs(10**6) == 2


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 32, 32), (3, 32, 32), (1, 5, 7)])
def test_one_architecture_fits_every_image_size(shape: tuple[int, int, int]) -> None:
    classifier = Classifier(shape, 10)
    x = torch.rand(3, *shape) * 2 - 1
    assert classifier(x).shape == (3, 10)
    assert classifier.features(x).shape == (3, 128)


def test_upsampled_digits_train_at_mnist_size(digits: Digits) -> None:
    images = torch.nn.functional.interpolate(digits.x[:400], size=(28, 28), mode="bilinear")
    classifier = train_classifier(images.clamp(-1, 1), digits.y[:400], epochs=4)
    assert classifier.info.heldout_accuracy > 0.7  # 0.86 when written; chance is 0.1


def test_a_damaged_entry_is_one_clear_line_and_gets_retrained(
    small: tuple[torch.Tensor, torch.Tensor],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = cached_classifier("tiny", *small, epochs=1, cache_dir=tmp_path)
    weights, _ = entry_files(tmp_path, "tiny")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(EbkitError, match="is damaged") as error:
        load_classifier(weights)
    assert "\n" not in str(error.value)
    with caplog.at_level(logging.WARNING):
        again = cached_classifier("tiny", *small, epochs=1, cache_dir=tmp_path)
    assert "training a new classifier" in caplog.text
    assert torch.equal(again.head.weight, first.head.weight)
    assert load_classifier(weights).info == again.info


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda meta: "{not json", "is unreadable"),
        (lambda meta: json.dumps({**meta, "num_classes": 7}), "does not fit its metadata"),
        (lambda meta: json.dumps({**meta, "image_shape": [1, 8]}), "image_shape"),
        (lambda meta: json.dumps({**meta, "version": 0}), "has version 0"),
        (lambda meta: json.dumps({k: v for k, v in meta.items() if k != "seed"}), "lacks seed"),
        (lambda meta: json.dumps([meta]), "not a JSON object"),
    ],
)
def test_damaged_metadata_is_one_clear_line(
    small: tuple[torch.Tensor, torch.Tensor], tmp_path: Path, damage, message: str
) -> None:
    cached_classifier("tiny", *small, epochs=1, cache_dir=tmp_path)
    weights, sidecar = entry_files(tmp_path, "tiny")
    sidecar.write_text(damage(json.loads(sidecar.read_text())))
    with pytest.raises(EbkitError, match=message) as error:
        load_classifier(weights)
    assert "\n" not in str(error.value)


def test_missing_weights_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(EbkitError, match="is unreadable"):
        load_classifier(tmp_path / "nothing.safetensors")


def test_other_data_or_settings_get_their_own_entry(
    small: tuple[torch.Tensor, torch.Tensor], tmp_path: Path
) -> None:
    x, y = small
    cached_classifier("tiny", x, y, epochs=1, cache_dir=tmp_path)
    cached_classifier("tiny", x.flip(0), y.flip(0), epochs=1, cache_dir=tmp_path)
    cached_classifier("tiny", x, y, epochs=1, seed=1, cache_dir=tmp_path)
    cached_classifier("tiny", x, y, epochs=1, options={"pad": True}, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("tiny-*.json"))) == 4


def test_the_cache_directory_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EBKIT_CACHE_DIR", str(tmp_path / "ebkit"))
    assert classifier_cache_dir() == tmp_path / "ebkit" / "classifiers"
    monkeypatch.delenv("EBKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert classifier_cache_dir() == tmp_path / "xdg" / "ebkit" / "classifiers"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert classifier_cache_dir() == Path.home() / ".cache" / "ebkit" / "classifiers"


def test_the_default_cache_directory_is_used(
    small: tuple[torch.Tensor, torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EBKIT_CACHE_DIR", str(tmp_path))
    cached_classifier("tiny", *small, epochs=1)
    assert len(list((tmp_path / "classifiers").glob("tiny-*.safetensors"))) == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x, y: train_classifier(x[:, 0], y), "shape (N, C, H, W)"),
        (lambda x, y: train_classifier(x, y[:-1]), "y must be (200,) integer labels"),
        (lambda x, y: train_classifier(x, y.double()), "integer class labels"),
        (lambda x, y: train_classifier(x, y, num_classes=5), "labels go up to 9"),
        (lambda x, y: train_classifier(x, torch.zeros_like(y)), "at least 2 classes"),
        (lambda x, y: train_classifier(x, y, epochs=0), "epochs and batch_size"),
        (lambda x, y: train_classifier(x, y, heldout_share=1.0), "heldout_share"),
        (lambda x, y: Classifier((1, 8, 8), 10)(x[:, :, :4]), "images of shape (B, 1, 8, 8)"),
    ],
)
def test_bad_input_is_a_one_line_value_error(
    small: tuple[torch.Tensor, torch.Tensor], call, message: str
) -> None:

    with pytest.raises(ValueError, match=re.escape(message)) as error:
        call(*small)
    assert "\n" not in str(error.value)
