"""softmaxlab.kernels.formats against numpy's and ml_dtypes' own casts, bit for bit, and
against an exact oracle (rational arithmetic on the format's list of values).

- round_to from float32 and float64 to each narrow format: on every value of the format,
  every midpoint between neighbours (the ties), each +-1 ulp in float32 and in float64,
  the overflow boundary (the midpoint between the max and the next value the exponent
  range would give), the subnormal boundaries, +-0, +-inf and NaNs of many payloads; and
  hypothesis arrays of float32/float64 values and of raw bit patterns.
- widen on every bit pattern of each format, to float32 and float64.
- finite_rows and overflow_rows against np.isfinite, on every bit pattern.
- The numpy paths (no numba, or USE_KERNELS off) give the same bits, and the sweep's
  summary is the same with and without the kernels.
"""

import functools
import threading
import warnings

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sweeps import TINY
from without_numba import kernels_without_numba

from softmaxlab import config as sl_config
from softmaxlab import sweep
from softmaxlab.dtypes import DTYPES

formats = pytest.importorskip("softmaxlab.kernels.formats")

# The oracles (numpy's and ml_dtypes' casts) warn on NaN patterns and on overflow.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(invalid value|overflow) encountered in cast:RuntimeWarning"
)

NARROW = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]
SOURCES = [np.float32, np.float64]
UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


@pytest.fixture(params=[True, False], ids=["kernels", "numpy"])
def engine(request, monkeypatch):
    """Run the test with the compiled kernels and with the numpy paths."""
    if request.param and not formats.AVAILABLE:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(formats, "USE_KERNELS", request.param)
    return request.param


def bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(UINT[a.dtype.itemsize])


def every_value(name: str) -> np.ndarray:
    """Every bit pattern of the format, as the format."""
    dtype = DTYPES[name]
    return np.arange(2 ** (8 * dtype.itemsize)).astype(UINT[dtype.itemsize]).view(dtype)


@functools.cache
def ladder(name: str) -> tuple[float, ...]:
    """The format's finite values >= +0 in increasing order (as Python floats; the list
    index is the code), then the value the exponent range would give after the max (the
    code above the max: inf, or float8_e4m3fn's NaN), the step from the max repeated."""
    info = ml_dtypes.finfo(DTYPES[name])
    values = every_value(name)
    positive = values[bits(values) <= bits(np.array(info.max, dtype=DTYPES[name]))]
    steps = [float(v) for v in positive.astype(np.float64)]
    assert steps == sorted(steps) and steps[0] == 0.0
    return (*steps, 2 * steps[-1] - steps[-2])


def exact_codes(x: np.ndarray, name: str) -> np.ndarray:
    """The codes of x (float32 or float64) rounded once to the format, to nearest with ties
    to the even code, or -1 for NaN. Exact: every value of the format and every midpoint
    between neighbours is a float64 (the formats have at most 11 significant bits), so
    comparing x with the midpoint of the two values around it decides. Beyond the max the
    ladder's virtual value above it stands for the code +inf rounds to."""
    dtype = DTYPES[name]
    values = np.array(ladder(name))
    mids = (values[:-1] + values[1:]) / 2
    assert np.array_equal(2 * mids - values[:-1], values[1:])  # the midpoints are exact
    top = len(values) - 1
    m = np.abs(x.astype(np.float64).reshape(-1))
    hi = np.clip(np.searchsorted(values, m), 1, top)  # values[hi - 1] < m <= values[hi]
    mid = mids[hi - 1]
    even_hi = hi % 2 == 0
    up = (m > mid) | ((m == mid) & even_hi)
    code = np.where(m > values[top], top, np.where(up, hi, hi - 1))
    overflow = int(bits(np.array(np.inf, dtype=np.float32).astype(dtype)))
    code = np.where(code == top, overflow, code)
    code = code | np.where(np.signbit(x.reshape(-1)), 1 << (8 * dtype.itemsize - 1), 0)
    return np.where(np.isnan(m), -1, code)


def assert_codes(got: np.ndarray, x: np.ndarray, name: str, what: str) -> None:
    """got (the format) holds exact_codes of x (NaN: a NaN)."""
    expected = exact_codes(x, name)
    got_bits = bits(got).reshape(-1).astype(np.int64)
    got_nan = np.isnan(got.astype(np.float32)).reshape(-1)
    bad = np.flatnonzero(np.where(expected < 0, ~got_nan, got_bits != expected))
    if bad.size:
        pytest.fail(
            f"{what}: {x.reshape(-1)[bad[:5]].tolist()} gave "
            f"{[hex(b) for b in got_bits[bad[:5]]]}, exact {[hex(e) for e in expected[bad[:5]]]}"
        )


def assert_same_bits(got, expected, what: str) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape, what
    bad = np.flatnonzero(bits(got) != bits(expected))
    if bad.size:
        x = expected.reshape(-1)[bad[:5]].astype(np.float64)
        pytest.fail(
            f"{what}: at {bad[:5].tolist()} ({x.tolist()}) "
            f"got {[hex(b) for b in bits(got).reshape(-1)[bad[:5]]]} "
            f"astype {[hex(b) for b in bits(expected).reshape(-1)[bad[:5]]]}"
        )


def astype(x: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(all="ignore"):
        return x.astype(dtype)


def probes(name: str) -> np.ndarray:
    """float64 values where rounding to the format can go wrong: every value (both signs),
    every midpoint between neighbours (the ties; exact in float32, as the formats have at
    most 11 significant bits), the overflow boundary and the virtual value above the max,
    values 2 to 8 times the largest (whose bits would run past the code of inf), +-0,
    +-inf and the extremes of float32 and float64."""
    values = np.array(ladder(name))
    mids = (values[:-1] + values[1:]) / 2
    base = np.concatenate([values, mids])
    in_float32 = base[base <= np.finfo(np.float32).max]  # not bfloat16's virtual 2^128
    assert np.array_equal(in_float32.astype(np.float32).astype(np.float64), in_float32)
    extremes = [
        np.finfo(np.float32).max,
        np.finfo(np.float32).smallest_subnormal,
        np.finfo(np.float32).tiny,
        np.finfo(np.float64).max,
        np.finfo(np.float64).smallest_subnormal,
        np.finfo(np.float64).tiny,
        np.inf,
    ]
    beyond = (values[-9:] * 2.0 ** np.arange(1, 4)[:, None]).reshape(-1)  # codes past inf's
    base = np.concatenate([base, beyond, extremes, values[1:2] / 4, values[1:2] * 0.75])
    return np.concatenate([base, -base])


def around(x: np.ndarray, source) -> np.ndarray:
    """x in the source format with its neighbours one ulp below and above."""
    with np.errstate(all="ignore"):
        x = x.astype(source)
        return np.concatenate(
            [x, np.nextafter(x, source(-np.inf)), np.nextafter(x, source(np.inf))]
        )


NAN_BITS = {
    np.float32: [0x7F800001, 0x7FC00000, 0x7F800100, 0x7FA00000, 0x7F802000, 0x7FFFFFFF,
                 0xFF800001, 0xFFC00001, 0x7F810000, 0x7FBFFFFF],
    np.float64: [0x7FF0000000000001, 0x7FF8000000000000, 0x7FF0000020000000, 0x7FF0040000000000,
                 0x7FF4000000000000, 0xFFF0000000000001, 0x7FFFFFFFFFFFFFFF, 0xFFF8000000000001,
                 0x7FF0020000000000],
}  # fmt: skip


def nans(source) -> np.ndarray:
    """Quiet and signalling NaNs of both signs, payloads at the top, bottom and middle."""
    itemsize = np.dtype(source).itemsize
    return np.array(NAN_BITS[source], dtype=UINT[itemsize]).view(source)


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("source", SOURCES, ids=["float32", "float64"])
def test_round_to_is_astype_at_every_value_midpoint_and_boundary(engine, name, source):
    x = np.concatenate([around(probes(name), source), nans(source)])
    dtype = DTYPES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # round_to never warns (astype does, on overflow)
        got = formats.round_to(x, dtype)
    assert_same_bits(got, astype(x, dtype), f"{np.dtype(source).name} -> {name}")


@pytest.mark.parametrize("name", NARROW)
def test_round_to_rounds_float32_once_to_nearest_even(engine, name):
    """float32 input: the exact rounding at every value, midpoint and neighbour."""
    x = around(probes(name), np.float32)
    assert_codes(formats.round_to(x, DTYPES[name]), x, name, f"float32 -> {name}")


@pytest.mark.parametrize("name", NARROW)
def test_round_to_float64_direct_rounds_once_default_as_ml_dtypes(engine, name):
    """float64 input: ``direct`` rounds once, exactly; the default is astype's, which for
    ml_dtypes' formats rounds to float32 first, and numpy's float16 rounds once."""
    x = around(probes(name), np.float64)
    dtype = DTYPES[name]
    assert_codes(formats.round_to(x, dtype, direct=True), x, name, f"direct float64 -> {name}")
    with np.errstate(over="ignore"):
        first = x if name == "float16" else x.astype(np.float32)
    assert_codes(formats.round_to(x, dtype), first, name, f"float64 -> {name}")


def test_double_rounding_and_overflow_boundaries_known_values(engine):
    """Values worked out by hand: ml_dtypes rounds float64 through float32 (1 + 2^-8 +
    2^-30 is just above bfloat16's midpoint 1 + 2^-8, float32 rounds it onto it, and the
    tie goes to 1); float8_e4m3fn's max 448 (code 0x7E, even) keeps the tie at 464 and
    gives NaN above it and for +-inf; float16's max 65504 (code 0x7BFF, odd) loses the tie
    at 65520 to inf; subnormals round to even multiples of the smallest step (2^-9 in
    float8_e4m3fn, 2^-24 in float16) at the ties."""
    bf16, e4m3, e5m2 = DTYPES["bfloat16"], DTYPES["float8_e4m3fn"], DTYPES["float8_e5m2"]
    x = np.array([1 + 2**-8 + 2**-30, -(1 + 2**-8 + 2**-30)])
    assert bits(formats.round_to(x, bf16)).tolist() == [0x3F80, 0xBF80]
    assert bits(formats.round_to(x, bf16, direct=True)).tolist() == [0x3F81, 0xBF81]
    x = np.array([448.0, 464.0, np.nextafter(464.0, 0), np.nextafter(464.0, 500), 480, -464.0,
                  -465.0, np.inf, -np.inf, 2.0**-10, 3 * 2.0**-10, 5 * 2.0**-10, -0.0])  # fmt: skip
    got = bits(formats.round_to(x, e4m3, direct=True)).tolist()
    assert got == [0x7E, 0x7E, 0x7E, 0x7F, 0x7F, 0xFE, 0xFF, 0x7F, 0xFF, 0x00, 0x02, 0x02, 0x80]
    x = np.array([65504.0, 65519.99, 65520.0, -65520.0, 2.0**-24 * 1.5, 2.0**-24 * 2.5])
    got = bits(formats.round_to(x, np.float16)).tolist()
    assert got == [0x7BFF, 0x7BFF, 0x7C00, 0xFC00, 0x0002, 0x0002]
    x = np.array([57344.0, 61440.0, np.nextafter(np.float32(61440), np.float32(0))], np.float32)
    assert bits(formats.round_to(x, e5m2)).tolist() == [0x7B, 0x7C, 0x7B]


@pytest.mark.parametrize("source", SOURCES, ids=["float32", "float64"])
def test_nan_keeps_its_sign_and_is_the_format_s_nan(engine, source):
    """ml_dtypes gives its one quiet NaN with the input's sign; numpy's float16 keeps the
    payload's top bits, and a payload that would vanish becomes 1 (still a NaN)."""
    x = nans(source)
    negative = np.signbit(x)
    shift = 13 if source == np.float32 else 42
    mantissa = bits(x) & np.array(2 ** (23 if source == np.float32 else 52) - 1, bits(x).dtype)
    payload = (mantissa >> shift).astype(np.int64)
    expected16 = np.where(negative, 0x8000, 0) | 0x7C00 | np.where(payload == 0, 1, payload)
    assert bits(formats.round_to(x, np.float16)).tolist() == expected16.tolist()
    for name, quiet in (("bfloat16", 0x7FC0), ("float8_e4m3fn", 0x7F), ("float8_e5m2", 0x7E)):
        sign = 0x8000 if name == "bfloat16" else 0x80
        expected = np.where(negative, sign, 0) | quiet
        assert bits(formats.round_to(x, DTYPES[name])).tolist() == expected.tolist(), name


_ANY32 = hnp.arrays(
    np.float32, hnp.array_shapes(max_dims=3, max_side=9), elements=st.floats(width=32)
)
_ANY64 = hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=9), elements=st.floats())
_BITS32 = hnp.arrays(np.uint32, st.integers(0, 60))
_BITS64 = hnp.arrays(np.uint64, st.integers(0, 60))


@settings(max_examples=200, deadline=None)
@given(
    x=st.one_of(_ANY32, _ANY64, _BITS32.map(lambda b: b.view(np.float32)),
                _BITS64.map(lambda b: b.view(np.float64))),
    name=st.sampled_from(NARROW),
)  # fmt: skip
def test_round_to_is_astype_on_random_arrays(x, name):
    """Any float32/float64 array (subnormals, NaN payloads, any shape) rounds to astype's
    bits, and float32 input to the exact rounding."""
    dtype = DTYPES[name]
    got = formats.round_to(x, dtype)
    assert_same_bits(got, astype(x, dtype), f"{x.dtype} -> {name}")
    if x.dtype == np.float32:
        assert_codes(got, x, name, f"float32 -> {name}")
    else:
        assert_codes(formats.round_to(x, dtype, direct=True), x, name, f"direct -> {name}")


def test_round_to_keeps_shape_and_order_of_non_contiguous_input(engine):
    x = np.random.default_rng(3).standard_normal((6, 8)).astype(np.float32)[:, ::3].T
    for name in NARROW:
        assert_same_bits(formats.round_to(x, DTYPES[name]), astype(x, DTYPES[name]), name)
    assert formats.round_to(np.float32(2.5), np.float16).shape == ()
    # Targets of float32 and wider, and other inputs, are numpy's astype.
    assert formats.round_to(x, np.float64).dtype == np.float64
    assert_same_bits(
        formats.round_to(np.arange(3), np.float16), np.arange(3).astype(np.float16), "int"
    )


@pytest.mark.parametrize("name", NARROW)
@pytest.mark.parametrize("to", SOURCES, ids=["float32", "float64"])
def test_widen_is_astype_on_every_bit_pattern(engine, name, to):
    values = every_value(name)
    assert_same_bits(formats.widen(values, to), values.astype(to), f"{name} -> {np.dtype(to)}")
    grid = np.resize(values, 240).reshape(4, 6, 10)[:, ::2]  # a non-contiguous 3-d view
    assert_same_bits(formats.widen(grid, to), grid.astype(to), f"{name} 3-d")
    # The exact values, not only astype's: every finite value is the ladder's (both signs).
    finite = values[np.isfinite(values.astype(np.float32))]
    wide = formats.widen(finite, np.float64)
    assert set(np.abs(wide).tolist()) == set(ladder(name)[:-1])


def test_kept_widenings_are_computed_once_and_only_in_their_block():
    """formats.keep + keeping_widenings (the sweep widens a chunk once for 32 methods): the
    same array on every call for a kept array, its bits astype's; a fresh one for an
    unkept array, an equal copy of a kept one, and outside the block; nested blocks keep
    their own."""
    x = every_value("float16")
    with formats.keeping_widenings():
        kept = formats.keep(x)
        assert kept is x
        first = formats.widen(x, np.float32)
        assert formats.widen(x, np.float32) is first
        assert_same_bits(first, x.astype(np.float32), "kept float32")
        wide = formats.widen(x, np.float64)
        assert wide is formats.widen(x, np.float64) and wide is not first
        assert_same_bits(wide, x.astype(np.float64), "kept float64")
        assert formats.widen(x.copy(), np.float32) is not first
        with formats.keeping_widenings():
            assert formats.widen(x, np.float32) is not first  # not kept in this block
        assert formats.widen(x, np.float32) is first
    assert formats.widen(x, np.float32) is not first
    assert formats.keep(x) is x  # a no-op outside a block
    assert formats.widen(x, np.float32) is not formats.widen(x, np.float32)


def test_kept_widenings_are_per_thread():
    """Two threads' keeping_widenings blocks, interleaved (A enters, B enters, A leaves, B
    leaves): neither sees the other's registry, and once both have left no registry is
    active in either thread, so a kept array written to afterwards widens to its new
    values. With one registry for the process, B would restore A's on leaving, and A's
    stale widening would be served after the write."""
    x = every_value("float16")
    steps = [threading.Event() for _ in range(3)]
    wait = 30  # seconds: a failing thread must not hang the suite
    seen = {}

    def first():
        with formats.keeping_widenings():
            formats.keep(x)
            seen["a"] = formats.widen(x, np.float32)
            steps[0].set()
            assert steps[1].wait(wait)
        steps[2].set()

    def second():
        assert steps[0].wait(wait)
        with formats.keeping_widenings():
            seen["b sees a's"] = formats.widen(x, np.float32) is seen["a"]
            steps[1].set()
            assert steps[2].wait(wait)
        seen["b after"] = formats.widen(x, np.float32) is formats.widen(x, np.float32)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (seen["b sees a's"], seen["b after"]) == (False, False)
    y = x.copy()
    with formats.keeping_widenings():
        formats.keep(y)
        formats.widen(y, np.float32)
    y[:] = 0
    assert_same_bits(formats.widen(y, np.float32), np.zeros(y.shape, np.float32), "written")


def test_widen_of_the_wide_formats_is_astype(engine):
    x = np.array([1.5, -np.inf, np.nan, 2.0**-140], dtype=np.float32)
    assert_same_bits(formats.widen(x, np.float64), x.astype(np.float64), "float32")
    y = x.astype(np.float64)
    assert formats.widen(y, np.longdouble).dtype == np.longdouble
    for name in NARROW:  # a 0-d array stays 0-d
        scalar = formats.widen(np.array(1.5, dtype=DTYPES[name]), np.float64)
        assert scalar.shape == () and scalar == 1.5


@pytest.mark.parametrize("name", [*NARROW, "float32", "float64"])
def test_finite_rows_is_isfinite_all_on_every_bit_pattern(engine, name):
    dtype = DTYPES[name]
    if dtype.itemsize <= 2:
        values = every_value(name)
    else:
        rng = np.random.default_rng(8)
        raw = rng.integers(0, 2 ** (8 * dtype.itemsize), 60000, dtype=UINT[dtype.itemsize])
        special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1.0], dtype=dtype)
        values = np.concatenate([raw.view(dtype), special, nans(dtype.type)])
    finite = np.isfinite(values.astype(np.float64))
    assert np.array_equal(formats.finite_rows(values[:, None]), finite)
    # Rows of 7 (a non-finite entry anywhere in a row), 3-d, K = 0 and one row.
    n = values.size // 7 * 7
    rows = values[:n].reshape(-1, 7)
    assert np.array_equal(formats.finite_rows(rows), finite[:n].reshape(-1, 7).all(axis=-1))
    cube = values[:n].reshape(7, -1, 1)[:, ::3]
    assert np.array_equal(formats.finite_rows(cube), np.isfinite(cube.astype(np.float64)).all(-1))
    assert formats.finite_rows(np.empty((3, 0), dtype=dtype)).tolist() == [True] * 3
    assert formats.finite_rows(values[:5]).shape == ()


@pytest.mark.parametrize("name", NARROW)
def test_overflow_rows_is_finite_in_wide_but_not_in_the_format(engine, name):
    """Rows of float32 values around the format's max (some beyond it, some inf or NaN
    already): flagged where rounding made a finite entry non-finite."""
    dtype = DTYPES[name]
    top = float(ml_dtypes.finfo(dtype).max)
    rng = np.random.default_rng(9)
    wide = (rng.uniform(-1.2, 1.2, (4000, 5)) * top).astype(np.float32)
    wide[rng.random(wide.shape) < 0.05] = np.inf
    wide[rng.random(wide.shape) < 0.05] = np.nan
    narrow = astype(wide, dtype)
    expected = np.any(np.isfinite(wide) & ~np.isfinite(narrow.astype(np.float32)), axis=-1)
    assert 0 < expected.sum() < len(expected)
    assert np.array_equal(formats.overflow_rows(wide, narrow), expected)
    with pytest.raises(ValueError, match="shapes differ"):
        formats.overflow_rows(wide, narrow[:2])


def test_decode_table_is_read_only_and_indexed_by_code():
    table = formats.decode_table(DTYPES["float8_e4m3fn"])
    assert table.dtype == np.float32 and table.shape == (256,) and not table.flags.writeable
    assert table[0x7E] == 448 and table[0x01] == 2.0**-9 and np.isnan(table[0xFF])


def test_without_numba_the_numpy_paths_give_the_same_bits(monkeypatch):
    """Where numba cannot be imported the module says so and every function still works,
    in numpy, with the same bits."""
    x = np.concatenate([around(probes("float8_e5m2"), np.float32), nans(np.float32)])
    x64 = around(probes("bfloat16"), np.float64)
    without = kernels_without_numba(monkeypatch, "formats")
    assert not without.AVAILABLE
    for name in NARROW:
        dtype = DTYPES[name]
        assert_same_bits(without.round_to(x, dtype), astype(x, dtype), name)
        assert_codes(without.round_to(x64, dtype, direct=True), x64, name, f"direct {name}")
        values = every_value(name)
        assert_same_bits(without.widen(values, np.float64), values.astype(np.float64), name)
        finite = np.isfinite(values.astype(np.float32))
        assert np.array_equal(without.finite_rows(values[:, None]), finite)


def test_sweep_summary_is_the_same_without_the_kernels(monkeypatch):
    """The summary of a small sweep in every format and both compute modes is the same
    bytes with the compiled casts and with astype."""
    if not formats.AVAILABLE:
        pytest.skip("numba is not installed")
    config = sl_config.validate(
        {
            **TINY,
            "scales": [0.1, 30.0, 1000.0],
            "k": [3, 200],
            "dtypes": list(DTYPES),
            "compute": {"float16": ["float32", "native"], "bfloat16": ["float32", "native"]},
        }
    )
    summaries = []
    for compiled in (True, False):
        monkeypatch.setattr(formats, "USE_KERNELS", compiled)
        with np.errstate(all="ignore"):
            frame = sweep.run_cells(config, sweep.cells(config))
        summaries.append(frame.to_csv(index=False, lineterminator="\n"))
    assert summaries[0] == summaries[1]
