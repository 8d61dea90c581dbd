"""Tests for the probability-based image metrics of ebkit.metrics.images: IS, I′, class
coverage and class match share on hand-computed cases."""

from __future__ import annotations

import math
import re

import pytest
import torch

from ebkit.metrics import (
    class_coverage,
    class_match_share,
    ebgan_inception_score,
    inception_score,
)

F64 = torch.float64
K = 10


def smoothed_one_hot(labels: list[int], classes: int = K, epsilon: float = 1e-6) -> torch.Tensor:
    """Confident predictions: 1 − ε on the label, ε/(K − 1) elsewhere."""
    rows = torch.full((len(labels), classes), epsilon / (classes - 1), dtype=F64)
    rows[torch.arange(len(labels)), torch.tensor(labels)] = 1 - epsilon
    return rows


def test_inception_score_of_uniform_predictions_is_one() -> None:
    assert inception_score(torch.full((50, K), 1 / K)) == pytest.approx(1.0)


def test_inception_score_of_confident_evenly_spread_predictions_is_the_class_count() -> None:
    one_hot = torch.eye(K, dtype=F64).repeat(7, 1)
    assert inception_score(one_hot) == pytest.approx(K)


def test_inception_score_of_a_confident_collapse_is_one() -> None:
    assert inception_score(torch.eye(K, dtype=F64)[[3] * 20]) == pytest.approx(1.0)


def test_inception_score_hand_computed() -> None:
    probabilities = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=F64)
    # p(y) = (¾, ¼); KL₁ = log(4/3); KL₂ = ½ log(⅔) + ½ log 2.
    kl = (math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)) / 2
    assert inception_score(probabilities) == pytest.approx(math.exp(kl))


def test_ebgan_score_of_uniform_predictions_is_zero() -> None:
    assert ebgan_inception_score(torch.full((50, K), 1 / K)) == pytest.approx(0.0, abs=1e-12)


def test_ebgan_score_of_confident_evenly_spread_predictions_has_the_closed_form() -> None:
    epsilon = 1e-6
    # p(y) uniform: I′ = −log K − (1/K)(log(1 − ε) + (K − 1) log(ε/(K − 1))).
    expected = -math.log(K) - (math.log(1 - epsilon) + (K - 1) * math.log(epsilon / (K - 1))) / K
    probabilities = smoothed_one_hot(list(range(K)) * 3, epsilon=epsilon)
    assert ebgan_inception_score(probabilities) == pytest.approx(expected)


def test_ebgan_score_is_infinite_for_exact_zeros_and_hand_computed_otherwise() -> None:
    assert ebgan_inception_score(torch.eye(K, dtype=F64)) == math.inf
    probabilities = torch.tensor([[0.75, 0.25], [0.25, 0.75]], dtype=F64)
    # p(y) = (½, ½): each row gives ½ log(½/¾) + ½ log(½/¼).
    expected = 0.5 * math.log(2 / 3) + 0.5 * math.log(2)
    assert ebgan_inception_score(probabilities) == pytest.approx(expected)


def test_ebgan_score_rates_a_two_class_collapse_close_to_an_even_spread() -> None:
    # The caveat of its docstring, the reason I′ is never reported alone: IS drops from 10 to 2.
    even = smoothed_one_hot(list(range(K)) * 2)
    collapse = smoothed_one_hot([0, 1] * K)
    assert inception_score(collapse) / inception_score(even) < 0.25
    assert ebgan_inception_score(collapse) / ebgan_inception_score(even) > 0.5


def test_class_coverage_hand_computed() -> None:
    labels = [0] * 50 + [1] * 30 + [2] * 19 + [3]
    coverage = class_coverage(smoothed_one_hot(labels))
    assert coverage.num_classes == K
    assert coverage.min_share == pytest.approx(0.01)
    assert coverage.classes_covered == 4  # class 3 has exactly 1 % of 100
    assert coverage.histogram[:4] == pytest.approx((0.5, 0.3, 0.19, 0.01))
    shares = torch.tensor([0.5, 0.3, 0.19, 0.01], dtype=F64)
    assert coverage.entropy == pytest.approx(float(-(shares * shares.log()).sum()))
    assert coverage.normalized_entropy == pytest.approx(coverage.entropy / math.log(K))
    assert class_coverage(smoothed_one_hot(labels), min_share=0.2).classes_covered == 2


def test_class_coverage_extremes() -> None:
    even = class_coverage(torch.eye(K, dtype=F64).repeat(3, 1))
    assert even.classes_covered == K
    assert even.normalized_entropy == pytest.approx(1.0)
    single = class_coverage(smoothed_one_hot([4] * 30))
    assert single.classes_covered == 1
    assert single.entropy == 0.0


def test_class_match_share_hand_computed() -> None:
    probabilities = smoothed_one_hot([0, 1, 2, 3])
    assert class_match_share(probabilities, torch.tensor([0, 1, 2, 3])) == 1.0
    assert class_match_share(probabilities, torch.tensor([0, 1, 5, 5])) == 0.5
    assert class_match_share(probabilities, torch.tensor([9, 9, 9, 9])) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inception_score(torch.full((3,), 1 / 3)), "shape (N, K)"),
        (lambda: inception_score(torch.zeros(0, 3)), "empty"),
        (lambda: inception_score(torch.full((2, 3), 0.5)), "sum to 1"),
        (lambda: inception_score(torch.tensor([[1.5, -0.5]])), "non-negative"),
        (lambda: ebgan_inception_score(torch.tensor([[math.nan, 1.0]])), "finite"),
        (lambda: class_coverage(torch.eye(3), min_share=0), "min_share"),
        (lambda: class_match_share(torch.eye(3), torch.tensor([0, 1])), "shape (3,)"),
        (lambda: class_match_share(torch.eye(3), torch.tensor([0, 1, 3])), "integers in [0, 3)"),
        (
            lambda: class_match_share(torch.eye(3), torch.tensor([0.0, 1.0, 2.0])),
            "integers in [0, 3)",
        ),
    ],
)
def test_bad_input_is_a_one_line_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        call()
    assert "\n" not in str(error.value)
