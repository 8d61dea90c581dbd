"""Tests for the typed component records in ebkit.plugin.components."""

from __future__ import annotations

import pytest

from ebkit import Component, Option, UsageError
from ebkit.plugin.components import KINDS, as_components, type_name


def factory(spec, **options):
    return ("built", spec, options)


def component(**changes) -> Component:
    fields = {
        "name": "thing",
        "summary": "a thing for tests",
        "factory": factory,
        "options": (
            Option("width", int, 8, "hidden width", minimum=1, maximum=4096),
            Option("rate", float, 0.5, "a rate", minimum=0.0, maximum=1.0),
            Option("mode", str, "a", "the mode", choices=("a", "b")),
            Option("flag", bool, False, "a switch"),
            Option("sizes", list[int], [1, 2], "layer sizes", minimum=1),
            Option("scales", list[float], [0.5], "scales"),
            Option("margin", float, None, "auto = derived from the data"),
        ),
    }
    fields.update(changes)
    return Component(**fields)


# -- Option.coerce ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option_type", "value", "expected"),
    [
        (int, "12", 12),
        (int, 12, 12),
        (int, " 7 ", 7),
        (float, "0.25", 0.25),
        (float, 3, 3.0),
        (float, "1e-3", 1e-3),
        (str, "hello", "hello"),
        (bool, "true", True),
        (bool, "Yes", True),
        (bool, "on", True),
        (bool, "1", True),
        (bool, "false", False),
        (bool, "no", False),
        (bool, "OFF", False),
        (bool, "0", False),
        (bool, True, True),
        (list[int], "1,2,3", [1, 2, 3]),
        (list[int], "4 5", [4, 5]),
        (list[int], [6, 7], [6, 7]),
        (list[int], "", []),
        (list[float], "0.5, 1", [0.5, 1.0]),
        (list[float], [1, 2.5], [1.0, 2.5]),
    ],
)
def test_coerce_converts_cli_text_and_toml_values(option_type, value, expected) -> None:
    option = Option("field", option_type, None, "auto = something")
    result = option.coerce(value)
    assert result == expected
    if isinstance(expected, list):
        assert [type(item) for item in result] == [type(item) for item in expected]
    else:
        assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("option_type", "value", "type_label"),
    [
        (int, "abc", "int"),
        (int, "3.5", "int"),
        (int, 3.5, "int"),
        (int, True, "int"),
        (float, "fast", "float"),
        (float, False, "float"),
        (bool, "maybe", "bool"),
        (bool, 1, "bool"),
        (str, 5, "str"),
        (list[int], "1,x", "list[int]"),
        (list[int], 5, "list[int]"),
        (list[float], "0.1,nope", "list[float]"),
    ],
)
def test_coerce_errors_name_field_value_and_type(option_type, value, type_label) -> None:
    option = Option("field", option_type, None, "auto = something")
    with pytest.raises(UsageError) as caught:
        option.coerce(value, where="energy.field")
    message = str(caught.value)
    assert message.startswith("energy.field:")
    assert repr(value) in message
    assert type_label in message
    assert "\n" not in message


def test_coerce_without_where_uses_the_option_name() -> None:
    with pytest.raises(UsageError, match=r"^width: 'x'"):
        Option("width", int, 1, "h").coerce("x")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan")])
def test_float_must_be_finite(value) -> None:
    with pytest.raises(UsageError, match="finite"):
        Option("rate", float, 0.1, "h").coerce(value, where="loss.rate")


def test_bool_error_suggests_true_or_false() -> None:
    with pytest.raises(UsageError, match="true or false"):
        Option("flag", bool, False, "h").coerce("yep")


def test_choices_restrict_strings() -> None:
    option = Option("f", str, "identity", "the f", choices=("identity", "square"))
    assert option.coerce("square") == "square"
    with pytest.raises(UsageError) as caught:
        option.coerce("cube", where="loss.f")
    message = str(caught.value)
    assert message.startswith("loss.f:")
    assert "'cube'" in message and "'identity'" in message and "'square'" in message


def test_minimum_and_maximum_bound_numbers() -> None:
    option = Option("width", int, 8, "h", minimum=1, maximum=10)
    assert option.coerce("1") == 1 and option.coerce("10") == 10
    with pytest.raises(UsageError, match=r"energy\.width: '0' is below the minimum 1"):
        option.coerce("0", where="energy.width")
    with pytest.raises(UsageError, match=r"energy\.width: '11' is above the maximum 10"):
        option.coerce("11", where="energy.width")
    rate = Option("rate", float, 0.5, "h", minimum=0.0, maximum=1.0)
    with pytest.raises(UsageError, match="maximum"):
        rate.coerce(1.5)


def test_minimum_applies_to_every_list_item() -> None:
    option = Option("sizes", list[int], [1], "h", minimum=1)
    assert option.coerce("1,2") == [1, 2]
    with pytest.raises(UsageError, match=r"sizes: '3,0' is below the minimum 1"):
        option.coerce("3,0")


# -- Option declaration ----------------------------------------------------------------


def test_default_is_coerced_and_validated_at_declaration() -> None:
    assert Option("rate", float, 1, "h").default == 1.0
    assert type(Option("rate", float, 1, "h").default) is float
    assert Option("sizes", list[int], (1, 2), "h").default == [1, 2]
    with pytest.raises(UsageError, match="default"):
        Option("width", int, "wide", "h")
    with pytest.raises(UsageError, match="minimum"):
        Option("width", int, 0, "h", minimum=1)
    with pytest.raises(UsageError):
        Option("mode", str, "c", "h", choices=("a", "b"))


@pytest.mark.parametrize("bad_type", [dict, list[str], list[bool], bytes, tuple[int]])
def test_unsupported_option_types_are_rejected(bad_type) -> None:
    with pytest.raises(ValueError, match="unsupported type"):
        Option("x", bad_type, None, "auto")


@pytest.mark.parametrize("bad_name", ["Width", "1st", "with-dash", "a b", ""])
def test_option_names_must_be_lowercase_identifiers(bad_name) -> None:
    with pytest.raises(ValueError, match="lower-case identifier"):
        Option(bad_name, int, 1, "h")


def test_option_needs_help() -> None:
    with pytest.raises(ValueError, match="help"):
        Option("width", int, 1, "")


def test_type_names_and_default_description() -> None:
    assert [type_name(t) for t in (int, float, str, bool, list[int], list[float])] == [
        "int",
        "float",
        "str",
        "bool",
        "list[int]",
        "list[float]",
    ]
    assert Option("sizes", list[float], [1.0], "h").type_name == "list[float]"
    assert Option("m", float, None, "auto = x").describe_default() == "auto"
    assert Option("m", float, 2.0, "h").describe_default() == "2.0"


# -- Component ---------------------------------------------------------------------------


def test_kinds_are_in_build_order() -> None:
    assert KINDS == ("energy", "sampler", "loss", "regularizer", "dataset")


@pytest.mark.parametrize("bad_name", ["Thing", "-thing", "my thing", "thing!", "", "a/b", 3])
def test_component_names_are_validated(bad_name) -> None:
    with pytest.raises(ValueError, match="component name"):
        component(name=bad_name)


@pytest.mark.parametrize("good_name", ["mlp", "25gaussians", "generator-langevin", "a_b"])
def test_component_name_forms_that_are_accepted(good_name) -> None:
    assert component(name=good_name).name == good_name


@pytest.mark.parametrize(
    "bad_factory",
    ["module.Class", "module:", ":Class", "module:Class:extra", "my module:Class", "1mod:Class"],
)
def test_factory_strings_must_look_like_module_colon_attribute(bad_factory) -> None:
    with pytest.raises(ValueError, match=r"package\.module:Class"):
        component(factory=bad_factory)


def test_factory_must_be_callable_or_string() -> None:
    with pytest.raises(ValueError, match="callable"):
        component(factory=42)


def test_component_needs_a_summary() -> None:
    with pytest.raises(ValueError, match="summary"):
        component(summary="  ")


def test_duplicate_option_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        component(options=(Option("width", int, 1, "h"), Option("width", float, 1.0, "h")))


def test_options_must_be_option_records() -> None:
    with pytest.raises(ValueError, match="Option"):
        component(options=({"name": "width"},))


def test_options_are_stored_as_a_tuple_and_found_by_name() -> None:
    record = component(options=[Option("width", int, 1, "h")])
    assert isinstance(record.options, tuple)
    assert record.option("width") is record.options[0]
    assert record.option("height") is None


def test_resolve_options_fills_defaults() -> None:
    assert component().resolve_options({}, prefix="energy") == {
        "width": 8,
        "rate": 0.5,
        "mode": "a",
        "flag": False,
        "sizes": [1, 2],
        "scales": [0.5],
        "margin": None,
    }


def test_resolve_options_coerces_given_values_and_keeps_none_as_default() -> None:
    resolved = component().resolve_options(
        {"width": "16", "flag": "yes", "sizes": "3,4", "margin": None, "rate": 1},
        prefix="energy",
    )
    assert resolved["width"] == 16
    assert resolved["flag"] is True
    assert resolved["sizes"] == [3, 4]
    assert resolved["margin"] is None
    assert resolved["rate"] == 1.0 and type(resolved["rate"]) is float


def test_resolve_options_error_uses_prefix() -> None:
    with pytest.raises(UsageError, match=r"^sampler\.width: 'abc' is not a valid int"):
        component().resolve_options({"width": "abc"}, prefix="sampler")


def test_resolve_options_rejects_unknown_keys_naming_the_accepted_ones() -> None:
    with pytest.raises(UsageError) as caught:
        component().resolve_options({"widht": 3}, prefix="energy")
    message = str(caught.value)
    assert message.startswith("energy.widht: unknown option for 'thing'")
    for name in ("width", "rate", "mode", "flag", "sizes", "scales", "margin"):
        assert name in message.split("accepted:")[1]


def test_resolve_options_without_options_says_none_accepted() -> None:
    with pytest.raises(UsageError, match=r"accepted: none"):
        component(options=()).resolve_options({"x": 1}, prefix="data")


def test_load_factory_returns_a_callable_factory_unchanged() -> None:
    assert component().load_factory() is factory


def test_load_factory_resolves_module_colon_attribute() -> None:
    from ebkit.builtins.datasets.toy import TwentyFiveGaussians

    record = component(factory="ebkit.builtins.datasets.toy:TwentyFiveGaussians")
    assert record.load_factory() is TwentyFiveGaussians


def test_load_factory_resolves_dotted_attributes() -> None:
    import os.path

    assert component(factory="os:path.join").load_factory() is os.path.join


def test_load_factory_is_lazy() -> None:
    # A string factory pointing nowhere is accepted until the component is built.
    record = component(factory="ebkit_no_such_module:Thing")
    with pytest.raises(ModuleNotFoundError):
        record.load_factory()
    with pytest.raises(AttributeError):
        component(factory="ebkit.plugin.components:NoSuchThing").load_factory()


def test_as_components_accepts_none_one_or_many_records() -> None:
    record = component()
    assert as_components(None) == []
    assert as_components(record) == [record]
    assert as_components((record, record)) == [record, record]
    with pytest.raises(ValueError, match="'str'"):
        as_components([record, "nope"])


def test_saved_default_is_coerced_and_checked() -> None:
    option = Option("mode", str, "new", "how", choices=("new", "old"), saved_default="old")
    assert option.saved_default == "old"
    assert Option("n", int, 3, "count", saved_default="2").saved_default == 2
    assert Option("n", int, 3, "count").saved_default is None
    with pytest.raises(UsageError, match="saved_default: 'older' is not one of 'new', 'old'"):
        Option("mode", str, "new", "how", choices=("new", "old"), saved_default="older")
