"""Issue 12, finding 8: method parameters are checked and labelled by the value used.

check_params returns Python bool/int/float (a numpy float32 parameter becomes the float
it holds), so a label spells the value actually used and parse_label reads it back; two
different parameters never share one label. Bad names and overflowing parameters raise
ValueError, like every other bad input.
"""

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from softmaxlab.methods import check_params, label, method_defaults, normalize, parse_label


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_narrow_float_parameter_labels_its_own_value(dtype):
    value = dtype(0.1)  # not 0.1: 0.100000001490116... in float32
    assert float(value) != 0.1
    text = label("softmax", {"temperature": value})
    assert text != label("softmax", {"temperature": 0.1}) == "softmax(temperature=0.1)"
    name, params = parse_label(text)
    assert name == "softmax" and params["temperature"] == float(value)
    assert label("softmax", params) == text


@given(st.floats(min_value=float(np.float32(1e-30)), max_value=float(np.float32(1e30)), width=32))
def test_float32_labels_round_trip_and_separate_values(value):
    v32 = np.float32(value)
    text = label("escort", {"p": v32})
    if float(v32) != 2.0:
        assert parse_label(text) == ("escort", {"p": float(v32)})
    # A float64 value differs from the float32 one unless they are the same number.
    other = np.nextafter(float(v32), math.inf)
    assert label("escort", {"p": other}) != text


def test_check_params_returns_python_types():
    full = check_params("gumbel_softmax", {"tau": np.float16(0.5), "seed": np.uint8(7)})
    assert full == {"tau": 0.5, "seed": 7}
    assert type(full["tau"]) is float and type(full["seed"]) is int
    full = check_params("softmax", {"stable": np.bool_(False), "base": np.int32(3)})
    assert type(full["stable"]) is bool and type(full["base"]) is float
    assert label("softmax", full) == "softmax(base=3, stable=False)"


def test_existing_labels_are_unchanged():
    assert label("softmax", {"base": 100, "stable": False}) == "softmax(base=100, stable=False)"
    assert label("taylor", {"order": 4}) == "taylor(order=4)"
    assert label("entmax", {"alpha": 1.25}) == "entmax(alpha=1.25)"
    assert label("softmax", {"temperature": 0.5}) == "softmax(temperature=0.5)"
    assert label("softmax", {"base": math.e}) == "softmax"
    assert label("spherical", {"eps": 1e-7}) == "spherical(eps=1e-07)"


def test_huge_parameters_are_labelled_and_read_back():
    text = label("softmax", {"temperature": 1e300})
    assert parse_label(text) == ("softmax", {"temperature": 1e300})


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: check_params("softmax", {"temperature": 10**400}), "temperature"),
        (lambda: check_params("softmax", {"base": -(10**400)}), "base"),
        (lambda: check_params("taylor", {"order": 10**400}), "order"),
        (lambda: check_params("gumbel_softmax", {"seed": 2**64}), "seed"),
        (lambda: label("softmax", {"temperature": 10**400}), "temperature"),
        (lambda: normalize([1.0, 2.0], "softmax", temperature=10**400), "temperature"),
        (lambda: check_params(["softmax"]), "valid methods"),
        (lambda: check_params(None), "valid methods"),
        (lambda: check_params({"a": 1}), "valid methods"),
        (lambda: normalize([1.0, 2.0], ["softmax"]), "valid methods"),
        (lambda: method_defaults(3), "valid methods"),
        (lambda: check_params("softmax", {1: 2, "temperature": 1}), "valid parameters"),
        (lambda: check_params("softmax", {None: 2}), "valid parameters"),
        (lambda: check_params("softmax", [("temperature", 1)]), "mapping"),
        (lambda: check_params("softmax", {"temperature": "1"}), "temperature"),
        (lambda: check_params("softmax", {"temperature": np.float32("nan")}), "temperature"),
    ],
)
def test_bad_names_and_parameters_raise_value_error(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert type(info.value) is ValueError and fragment in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
