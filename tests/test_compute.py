"""compute="float32": the narrow formats computed as the frameworks' kernels do (inputs and
outputs in the format, arithmetic in float32), against an exact oracle (mpmath) rounded to
the format."""

import math

import ml_dtypes
import mpmath
import numpy as np
import pytest

from softmaxlab.methods import COMPUTE_MODES, compute_dtype, evaluate, normalize

NARROW = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}


def test_compute_dtype_per_format_and_mode():
    for dtype in NARROW.values():
        assert compute_dtype(dtype, "native") == dtype
        assert compute_dtype(dtype, "float32") == np.float32
    for dtype in (np.float32, np.float64, np.longdouble):
        assert compute_dtype(dtype, "float32") == dtype  # never narrower than the input
    assert COMPUTE_MODES == ("native", "float32")
    with pytest.raises(ValueError, match="valid modes: native, float32"):
        compute_dtype(np.float16, "float64")
    with pytest.raises(ValueError, match="unknown compute mode"):
        normalize(np.ones(3, np.float16), "softmax", compute="fp32")


def _exact_softmax(row: np.ndarray) -> list:
    """softmax of the row's exact values, 50 digits (mpmath)."""
    with mpmath.workdps(50):
        terms = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
        total = mpmath.fsum(terms)
        return [t / total for t in terms]


def _rounded(values: list, dtype) -> np.ndarray:
    """Exact values rounded to the format: float64 first is harmless here (the formats
    have at most 11 significant bits, so a double rounding through 53 bits cannot move a
    value across a format midpoint unless it lies within 2^-42 relative of it)."""
    return np.array([float(v) for v in values]).astype(dtype)


@pytest.mark.parametrize("name", list(NARROW))
def test_float32_compute_rounds_the_exact_softmax(name):
    """In float32 mode the only error that survives is the final rounding to the format:
    each entry is the exact value rounded to the format, except where the exact value lies
    within float32's error of a midpoint (then a neighbour). Native arithmetic rounds every
    step and misses more often."""
    dtype = NARROW[name]
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((200, 12)) * 3).astype(dtype)
    p32 = normalize(x, "softmax", compute="float32")
    native = normalize(x, "softmax")
    assert p32.dtype == dtype and native.dtype == dtype
    hits32 = hits_native = total = 0
    for row, got32, got_native in zip(x, p32, native, strict=True):
        exact = _rounded(_exact_softmax(row), dtype)
        hits32 += int(np.sum(got32.astype(np.float64) == exact.astype(np.float64)))
        hits_native += int(np.sum(got_native.astype(np.float64) == exact.astype(np.float64)))
        total += len(row)
        # Never further than one step of the format from the exact value.
        step = np.spacing(np.abs(exact.astype(np.float32)).astype(dtype).astype(np.float32))
        assert np.all(np.abs(got32.astype(np.float32) - exact.astype(np.float32)) <= step)
    assert hits32 / total >= 0.99
    assert hits32 >= hits_native


def test_float32_compute_does_not_overflow_where_the_format_would():
    """Naive softmax of [12, 0] in float16: e^12 = 162755 > 65504 overflows float16's
    arithmetic (the thread's edge), not float32's; the output [1 - e^-12, e^-12] is finite."""
    x = np.array([[12.0, 0.0]], dtype=np.float16)
    p_native, overflow_native = evaluate(x, "softmax", stable=False)
    p32, overflow32 = evaluate(x, "softmax", stable=False, compute="float32")
    assert overflow_native.tolist() == [True] and np.isnan(p_native[0, 0])  # inf / inf
    assert overflow32.tolist() == [False]
    expected = np.array([1 / (1 + math.exp(-12)), math.exp(-12) / (1 + math.exp(-12))])
    assert np.array_equal(p32[0], expected.astype(np.float16))


@pytest.mark.parametrize("method", ["softmax", "linear", "sparsemax", "entmax15", "stablemax"])
def test_wide_inputs_ignore_the_mode(method):
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((16, 7)).astype(dtype)
        a, fa = evaluate(x, method)
        b, fb = evaluate(x, method, compute="float32")
        assert a.dtype == b.dtype == dtype
        assert np.array_equal(a, b, equal_nan=True) and np.array_equal(fa, fb)


def test_float32_mode_is_the_float32_computation_rounded_once():
    """An independent statement of the mode: cast up (exact), compute in float32, round."""
    rng = np.random.default_rng(11)
    for dtype in NARROW.values():
        x = (rng.standard_normal((32, 9)) * 4).astype(dtype)
        for method in ("softmax", "sigmoid", "entmax15"):
            expected = normalize(x.astype(np.float32), method).astype(dtype)
            got = normalize(x, method, compute="float32")
            assert np.array_equal(
                got.astype(np.float64), expected.astype(np.float64), equal_nan=True
            )


def test_edge_conventions_hold_in_float32_mode():
    x = np.array([[0.0, np.inf, 0.0], [-np.inf, -np.inf, -np.inf]], dtype=np.float16)
    assert np.isnan(normalize(x, "softmax", compute="float32")).all()
    assert normalize(np.float16(2.0), "softmax", compute="float32") == 1
    empty = normalize(np.empty((0, 4), np.float16), "softmax", compute="float32")
    assert empty.shape == (0, 4) and empty.dtype == np.float16


# --- the sweep: compute modes as cells, the cast apart from the method ----------------------

SWEEP = {
    "seed": 7,
    "scales": [1.0, 100.0, 316.227766, 1000.0],
    "k": [2, 1000],
    "dtypes": ["float64", "float16", "float8_e4m3fn"],
    "compute": {"float16": ["float32", "native"], "float8_e4m3fn": ["native", "float32"]},
    "distributions": {"normal": {"family": "normal"}},
    "methods": [
        {"method": "argmax"},
        {"method": "softmax"},
        {"method": "softmax", "stable": False},
    ],
    "vectors": {"elements": 60000, "min": 60, "max": 300},
    "grad_vectors": 4,
    "error_vectors": 4,
}


@pytest.fixture(scope="module")
def modes_summary():
    from softmaxlab import config, sweep

    cfg = config.validate(SWEEP)
    return sweep.run_cells(cfg, sweep.cells(cfg))


def _rows(summary, **keys):
    mask = np.ones(len(summary), dtype=bool)
    for column, value in keys.items():
        mask &= (summary[column] == value).to_numpy()
    return summary[mask]


def test_every_format_and_mode_is_a_cell(modes_summary):
    pairs = set(map(tuple, modes_summary[["dtype", "compute"]].drop_duplicates().to_numpy()))
    assert pairs == {
        ("float64", "native"),
        ("float16", "native"),
        ("float16", "float32"),
        ("float8_e4m3fn", "native"),
        ("float8_e4m3fn", "float32"),
    }


def test_headline_and_native_rows_split_the_narrow_formats_modes(modes_summary):
    """headline_rows keeps float32 arithmetic for a narrow format measured in both modes and
    native for float64 (its one mode); native_rows is exactly the rest: the narrow formats'
    native rows, none of float64's, and together they are every row once."""
    from softmaxlab import sweep

    headline = sweep.headline_rows(modes_summary)
    native = sweep.native_rows(modes_summary)

    def pairs(frame):
        return set(map(tuple, frame[["dtype", "compute"]].drop_duplicates().to_numpy()))

    assert pairs(headline) == {
        ("float64", "native"),
        ("float16", "float32"),
        ("float8_e4m3fn", "float32"),
    }
    assert pairs(native) == {("float16", "native"), ("float8_e4m3fn", "native")}
    assert len(headline) + len(native) == len(modes_summary)
    # a summary without the compute column has no native rows to give
    assert sweep.native_rows(headline.drop(columns="compute")).empty


def test_input_nonfinite_is_the_cast_and_the_methods_skip_those_vectors(modes_summary):
    """float8_e4m3fn's max is 448: normal logits at scale 316 exceed it in a share of
    vectors that is 1 - P(max |z| <= 448/316)^... counted exactly from the draws; those
    vectors are left out of every method metric (n falls by their number)."""
    from softmaxlab import config, sweep
    from softmaxlab.sampling import sample_z

    cfg = config.validate(SWEEP)
    for k in (2, 1000):
        n = sweep.n_vectors(cfg, k)
        z = sample_z(cfg["seed"], "normal", cfg["distributions"]["normal"], k, n)
        for scale in SWEEP["scales"]:
            x = (scale * z).astype(ml_dtypes.float8_e4m3fn)
            bad = int((~np.isfinite(x.astype(np.float64)).all(axis=-1)).sum())
            for mode in ("native", "float32"):
                cell = _rows(modes_summary, dtype="float8_e4m3fn", compute=mode, k=k, scale=scale)
                cast = _rows(cell, metric="input_nonfinite", label="softmax")
                assert int(cast["n"].iloc[0]) == n
                assert cast["mean"].iloc[0] == pytest.approx(bad / n, abs=1e-15)
                tv = _rows(cell, metric="tv_to_argmax", label="softmax")
                out = _rows(cell, metric="nonfinite_output", label="softmax")
                assert int(out["n"].iloc[0]) == n - bad  # the method ran on the finite rest
                dropped = round(float(np.nan_to_num(out["mean"].iloc[0])) * (n - bad))
                assert int(tv["n"].iloc[0]) == n - bad - dropped
    assert bad > 0  # scale 1000 at K = 1000: the cast leaves nothing


def test_float8_e4m3fn_argmax_is_never_invalid_in_float32_mode(modes_summary):
    rows = _rows(modes_summary, dtype="float8_e4m3fn", compute="float32", label="argmax")
    invalid = _rows(rows, metric="invalid")
    measured = invalid[invalid["n"] > 0]
    assert len(measured) and (measured["mean"] == 0).all()
    assert (_rows(rows, metric="nonfinite_output")["mean"].fillna(0) == 0).all()


def test_naive_float16_softmax_reports_its_nonfinite_share(modes_summary):
    """Naive float16 softmax overflows at scale 100 (e^x > 65504 for x > 11.09): its accuracy
    metrics are measured on the finite outputs only, and nonfinite_output says how many were
    left out, matching the overflow count; the tables' note names it."""
    from softmaxlab import tables

    naive = _rows(modes_summary, dtype="float16", compute="native", label="softmax(stable=False)")
    at_100 = _rows(naive, scale=100.0, k=1000)
    share = _rows(at_100, metric="nonfinite_output")["mean"].iloc[0]
    assert share > 0.9
    n_all = _rows(at_100, metric="nonfinite_output")["n"].iloc[0]
    n_tv = _rows(at_100, metric="tv_to_argmax")["n"].iloc[0]
    assert n_tv == round(n_all * (1 - share))
    note = tables.excluded_note(_rows(modes_summary, compute="native"), ["softmax(stable=False)"])
    assert "softmax(stable=False)" in note and "float16" in note
