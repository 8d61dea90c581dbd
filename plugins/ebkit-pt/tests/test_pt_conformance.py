"""The pulling-away term passes ebkit's conformance checks."""

from ebkit.testing import check_regularizer
from ebkit_pt import ebkit_regularizers

(PT,) = ebkit_regularizers()


def test_pt_conforms():
    check_regularizer(PT)


def test_pt_with_weight_conforms():
    check_regularizer(PT, weight=0.5)
