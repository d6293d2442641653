"""The compiled kernels (softmaxlab.kernels) against what they replace, bit for bit.

- kernels.metrics.row_sums against np.sum over the last axis: numpy's pairwise summation
  (numpy/_core/src/umath/loops_utils.h.src), at every length up to 600 and at random
  lengths up to 10^6, on values chosen to make the order of the additions show.
- metrics.vector_metrics through the compiled pass against the numpy reference
  (metrics._vector_metrics_numpy), on the outputs of every method in every format and on
  rows of special values; the kernels' parts (four sums in one walk, order keys, padded
  output rows, the hardmax's log table) against their definitions.
- The fallback: without numba, vector_metrics runs the numpy reference, which matches the
  frozen formulas (tests/metrics_reference.py) as the compiled pass does.
- The sweep's summary: the same bytes with either engine.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import test_metrics
from sweeps import SMALL
from test_metrics import assert_same_bits, reference_output
from without_numba import kernels_without_numba

import softmaxlab
from softmaxlab import config as sl_config
from softmaxlab import metrics, provenance, sweep
from softmaxlab.dtypes import DTYPES, finfo, reference_dtype
from softmaxlab.kernels import formats
from softmaxlab.methods import maps

kernels = pytest.importorskip("softmaxlab.kernels.metrics")
needs_numba = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed")


def adversarial_rows(k: int, rng: np.random.Generator) -> np.ndarray:
    """Rows of length k whose float64 sum depends on the order of the additions:
    cancellation (+-2^60 pairs among small values), magnitudes over 40 decades, values
    near 1 (sums of probabilities), subnormals, signed zeros (a row of -0.0 only, and
    mixed), and rows with +-inf and NaN."""
    rows = [
        rng.standard_normal(k) * 10.0 ** rng.integers(-20, 20, k),
        rng.dirichlet(np.full(max(k, 1), 0.3))[:k],
        np.where(rng.random(k) < 0.5, 1.0, -1.0) * 2.0**60 + rng.standard_normal(k),
        rng.standard_normal(k) * 5e-324 * 2.0 ** rng.integers(0, 60, k),
        np.full(k, -0.0),
        np.where(rng.random(k) < 0.5, 0.0, -0.0),
        1.0 + rng.integers(-4, 5, k) * 2.0**-52,
    ]
    special = rng.standard_normal(k)
    if k:
        special[rng.integers(0, k, 2)] = rng.choice([np.inf, -np.inf, np.nan], 2)
    rows.append(special)
    return np.array(rows, dtype=np.float64).reshape(len(rows), k)


def assert_sums_match(a: np.ndarray, what: str) -> None:
    with np.errstate(all="ignore"):
        expected = np.sum(a, axis=-1)
    assert_same_bits(kernels.row_sums(a), expected, what)


@needs_numba
def test_pairwise_sum_matches_numpy_at_every_length():
    """Lengths 0 to 600: the sequential case (< 8), the eight accumulators (<= 128, every
    remainder mod 8) and up to two levels of splitting."""
    rng = np.random.default_rng(20)
    for k in range(601):
        assert_sums_match(adversarial_rows(k, rng), f"K = {k}")


@needs_numba
def test_pairwise_sum_matches_numpy_at_long_lengths():
    """Random lengths to 10^5, and 10^6: numpy sums a contiguous row in one pairwise call
    (no buffer-sized chunks of 8192, which would change the order)."""
    rng = np.random.default_rng(21)
    lengths = [8191, 8192, 8193, 16385, 10**6, *rng.integers(601, 10**5, 12).tolist()]
    for k in lengths:
        assert_sums_match(adversarial_rows(k, rng), f"K = {k}")


@needs_numba
def test_pairwise_sum_from_an_offset_matches_numpy_on_the_slice():
    """pairwise_sum(a, start, n) sums a[start:start + n] as numpy sums that slice."""
    rng = np.random.default_rng(22)
    a = rng.standard_normal(5000) * 10.0 ** rng.integers(-15, 15, 5000)
    spans, partial = kernels.pairwise_stack()
    for start, n in [(0, 0), (3, 5), (7, 129), (100, 1000), (1234, 3766)]:
        got = kernels.pairwise_sum(a, start, n, spans, partial)
        # np.add.reduce with initial -0.0: the pairwise sum itself (np.sum adds +0.0)
        expected = np.add.reduce(a[start : start + n], initial=-0.0)
        assert_same_bits(got, expected, f"{start}, {n}")


@needs_numba
def test_four_range_pairwise_sums_match_numpy_on_each_range():
    """One walk of _pairwise_sums over four equally long rows (as row_metrics sums its
    terms, the rows padded_stride apart) gives each row's own pairwise sum, at every
    remainder mod 8 and one to three levels of splitting."""
    rng = np.random.default_rng(26)
    spans, partial = kernels.pairwise_stack()
    for k in [*range(0, 140), 255, 256, 257, 600, 1000, 4099]:
        stride = kernels.padded_stride(k)
        rows = adversarial_rows(k, rng)[rng.permutation(8)[:4]]
        flat = np.zeros(4 * stride)
        for c in range(4):
            flat[c * stride : c * stride + k] = rows[c]
        with np.errstate(all="ignore"):
            expected = [np.add.reduce(row, initial=-0.0) for row in rows]
            got = kernels._pairwise_sums(flat, 0, stride, 4, k, spans, partial)
        for c in range(4):
            assert_same_bits(got[c], expected[c], f"K = {k}, row {c}")


@needs_numba
def test_order_keys_order_floats_as_comparisons_do():
    """_order_key is increasing in the float (-0.0 just below +0.0) and _key_value undoes
    it bit for bit, NaN payloads included: the maxima of keys are the float maxima."""
    tiny = np.finfo(np.float64).smallest_subnormal
    big = np.finfo(np.float64).max
    ascending = [-np.inf, -big, -1.0, -tiny, -0.0, 0.0, tiny, 1.0, big, np.inf]
    keys = [kernels._order_key(v) for v in ascending]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    rng = np.random.default_rng(27)
    values = rng.standard_normal(2000) * 10.0 ** rng.integers(-300, 300, 2000)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff([kernels._order_key(v) for v in values[order]]) > 0)
    bits = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, 2000, dtype=np.int64)
    for b in [*bits.tolist(), 0x7FF8000000000001, -0x0008000000000000]:
        v = np.int64(b).view(np.float64)
        back = np.float64(kernels._key_value(kernels._order_key(v)))
        assert back.view(np.int64) == b


def test_output_rows_start_in_distinct_cache_sets():
    """The output rows are padded_stride apart: at least n, less than 64 entries of
    padding, and any 64 consecutive rows start in 64 different sets of a 4 KiB L1 way
    (a stride of 2048 entries would put them all in one)."""
    for n in [0, 1, 3, 8, 9, 64, 72, 131, 512, 1000, 2048, 4096, 2**20]:
        stride = kernels.padded_stride(n)
        assert n <= stride < n + 64
        sets = {(c * stride * 8 // 64) % 64 for c in range(64)}
        assert len(sets) == 64, n
        out = kernels.output_rows(n)
        assert out.shape == (len(kernels.OUTPUTS), n)
        assert out.strides == (stride * 8, 8)


def test_log_hardmax_masses_are_the_references_logs():
    """The table row_metrics reads ln(1/m) from: numpy's log of the reference's 1/m at every
    m up to K, read-only (cached and shared)."""
    k = 1000
    masses = kernels.log_hardmax_masses(k)
    counts = np.arange(1, k + 1)
    expected = np.log(metrics._hardmax_value(counts, np.zeros(k, dtype=bool)))
    assert_same_bits(masses, expected, "ln(1/m)")
    assert not masses.flags.writeable
    assert kernels.log_hardmax_masses(k) is masses


def compare_paths(monkeypatch, x, p, overflow, p_ref, what):
    """vector_metrics compiled and through the numpy reference: the same bits."""
    monkeypatch.setattr(metrics, "USE_KERNELS", True)
    fused = metrics.vector_metrics(x, p, overflow, p_ref)
    monkeypatch.setattr(metrics, "USE_KERNELS", False)
    reference = metrics.vector_metrics(x, p, overflow, p_ref)
    assert set(fused) == set(reference)
    for name in reference:
        assert_same_bits(fused[name], reference[name], f"{what} {name}")


def logit_block(k: int, dtype, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A block of logits in the format: normal draws times scale (clipped to the format's
    max), rounded to integers in some rows (ties, and a constant row), a row with a NaN,
    a row with +inf, a row with -inf, and a row at the format's max."""
    info = finfo(dtype)
    big = float(info.max)
    z = rng.standard_normal((12, k))
    z[:3] = np.round(z[:3])
    z[3] = z[3, 0]
    x = np.clip(scale * z, -big, big)
    x[4, rng.integers(k)] = np.nan
    x[5, rng.integers(k)] = np.inf
    x[6, rng.integers(k)] = -np.inf
    x[7, rng.integers(k)] = big
    with np.errstate(all="ignore"):
        return x.astype(dtype)  # inf is NaN in float8_e4m3fn


@needs_numba
@pytest.mark.parametrize("method", softmaxlab.methods())
def test_compiled_metrics_match_numpy_on_every_method(monkeypatch, method):
    """Every method in every format at scales from 0.01 to 10^4 and K from 1 to 1000, with
    NaN, +-inf and max rows and ties: the compiled pass gives numpy's bits, with the
    wider reference (long double for float64, float64 otherwise) and without."""
    rng = np.random.default_rng(23)
    for name, dtype in DTYPES.items():
        for k in (1, 2, 3, 10, 129, 1000):
            for scale in (0.01, 1.0, 100.0, 1e4):
                x = logit_block(k, dtype, scale, rng)
                with np.errstate(all="ignore"):
                    p, overflow = softmaxlab.evaluate(x, method)
                    p_ref = reference_output(x, method)
                what = f"{method} {name} K={k} scale={scale:g}"
                compare_paths(monkeypatch, x, p, overflow, p_ref, what)
                compare_paths(monkeypatch, x, p, overflow, None, what + " no reference")


@needs_numba
def test_compiled_metrics_match_numpy_on_arbitrary_outputs(monkeypatch):
    """Outputs no method gives: negative and above-1 entries, +-inf, NaN, signed zeros
    (rows of +-0 only, whose max_prob sign numpy sets), subnormals; references a few ulp
    off or zero or negative."""
    rng = np.random.default_rng(24)
    specials = np.array([0.0, -0.0, 1.0, 2.0, -0.25, 5e-324, 1e-300, np.inf, -np.inf, np.nan])
    for k in (1, 2, 5, 8, 9, 64, 127, 128, 129, 300):
        for name, dtype in DTYPES.items():
            x = rng.standard_normal((16, k))
            x[:4] = np.round(x[:4])
            p = rng.dirichlet(np.full(k, 0.3), size=16)
            p.flat[rng.integers(0, p.size, 3 * k)] = rng.choice(specials, 3 * k)
            p[-1] = np.where(rng.random(k) < 0.5, 0.0, -0.0)
            p[-2] = -np.abs(p[-2])
            with np.errstate(all="ignore"):
                x, p = x.astype(dtype), p.astype(dtype)
            ref = reference_dtype(dtype)
            eps = np.finfo(ref).eps
            p_ref = p.astype(ref) * (1 + rng.integers(-4, 5, size=p.shape) * eps)
            p_ref[rng.random(p.shape) < 0.05] = 0
            overflow = rng.random(16) < 0.5
            compare_paths(monkeypatch, x, p, overflow, p_ref, f"{name} K={k}")


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_metrics_match_numpy_on_every_small_row_of_specials(monkeypatch, dtype):
    """Every row of three entries from {-inf, -1, -0, +0, 1/4, 1, inf, NaN} as p, against
    logits with one maximiser, two, three (all equal), a maximum 0 reached as +0 and -0,
    and a NaN: signed zeros and infinities at and off x's maximisers (argmax_agrees
    compares p's maxima at and off them), rows of -inf only, every NaN position; with a
    float64 reference of specials too, and without."""
    specials = np.array([-np.inf, -1.0, -0.0, 0.0, 0.25, 1.0, np.inf, np.nan])
    p = np.array(np.meshgrid(specials, specials, specials, indexing="ij")).reshape(3, -1).T
    rng = np.random.default_rng(28)
    p_ref = rng.choice(np.array([-1.0, -0.0, 0.0, 1e-300, 0.25, 0.5, 1.0, np.inf]), p.shape)
    p_ref[::3] = p[::3] * (1 + 2.0**-40)
    patterns = [[1, 0, 0], [0, 1, 1], [2, 2, 2], [0.0, -0.0, -1], [np.nan, 0, 1]]
    overflow = np.zeros(len(p), dtype=bool)
    for pattern in patterns:
        x = np.tile(np.array(pattern, dtype=dtype), (len(p), 1))
        what = f"{np.dtype(dtype).name} x={pattern}"
        compare_paths(monkeypatch, x, p.astype(dtype), overflow, p_ref, what)
        compare_paths(monkeypatch, x, p.astype(dtype), overflow, None, what + " no reference")
    # Long rows (the pairwise walk and the tied KL's), ties of many maximisers.
    k = 300
    x = rng.integers(0, 2, (64, k)).astype(dtype)
    x[0] = 1  # every entry a maximiser
    long_p = rng.choice(specials, (64, k), p=[0.02, 0.02, 0.1, 0.1, 0.3, 0.4, 0.03, 0.03])
    long_p[1:8] = np.abs(rng.standard_normal((7, k))) / k
    long_ref = np.abs(long_p) * (1 + rng.integers(-4, 5, long_p.shape) * 2.0**-52)
    what = f"{np.dtype(dtype).name} K={k}"
    compare_paths(monkeypatch, x, long_p.astype(dtype), np.zeros(64, bool), long_ref, what)


@needs_numba
@pytest.mark.parametrize("poison", [np.nan, np.inf, 7.0, 0.0])
def test_compiled_metrics_never_read_ln_p_where_p_is_not_positive(monkeypatch, poison):
    """metrics._log_p leaves ln p unset (np.empty) where p <= 0 or NaN, so that numpy's
    slow path there costs nothing: every metric keeps its bits whatever those entries
    hold (NaN, inf, a positive or a zero log), on outputs full of zeros, negatives, NaN and
    subnormals, with and without a reference."""
    rng = np.random.default_rng(31)
    specials = np.array([0.0, -0.0, -0.25, 5e-324, 1e-310, np.nan, 1.0, 2.0])
    log_p = metrics._log_p

    def poisoned(p, pw):
        values = log_p(p, pw)
        values[~(pw > 0)] = poison
        return values

    for k in (1, 3, 9, 130):
        for dtype in (np.float32, np.float64):
            x = np.round(rng.standard_normal((24, k))).astype(dtype)
            p = rng.dirichlet(np.full(k, 0.3), size=24)
            p.flat[rng.integers(0, p.size, 4 * k)] = rng.choice(specials, 4 * k)
            p[-1] = 0.0
            p = p.astype(dtype)
            p_ref = np.abs(p.astype(reference_dtype(dtype)))
            overflow = rng.random(24) < 0.5
            for ref in (p_ref, None):
                monkeypatch.setattr(metrics, "_log_p", log_p)
                clean = metrics.vector_metrics(x, p, overflow, ref)
                monkeypatch.setattr(metrics, "_log_p", poisoned)
                dirty = metrics.vector_metrics(x, p, overflow, ref)
                for name in clean:
                    assert_same_bits(dirty[name], clean[name], f"K = {k} {name} {poison}")


def assert_table_wherever_a_value_sits(
    table, values, fn, name: str, seed: int, alone: int | None = None
) -> None:
    """``table`` (an entry per bit pattern of a narrow format, ``values`` its decode_table)
    holds numpy's ``fn`` (entry by entry) of each non-NaN value wherever it sits in an
    array: the whole table at once, each value alone (``alone``: that many drawn values
    and the format's ends, for a slow fn; None: every value), at every offset of arrays of
    lengths around numpy's SIMD widths, and shuffled in one long array."""
    numbers = np.flatnonzero(~np.isnan(values))
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        assert_same_bits(table, fn(values), f"{name} table")
        single = numbers
        if alone is not None and alone < len(numbers):
            order = numbers[np.argsort(np.abs(values[numbers]), kind="stable")]
            single = np.union1d(rng.choice(numbers, alone, replace=False), order[:64])
            single = np.union1d(single, order[-64:])
        each = [fn(values[i : i + 1])[0] for i in single]
        assert_same_bits(table[single], np.array(each), f"{name} each value alone")
        codes = rng.permutation(numbers)
        for length in (1, 3, 7, 8, 9, 15, 16, 17, 31, 33, len(codes)):
            for start in range(0, min(len(codes), 4 * length), max(1, length // 3)):
                part = codes[start : start + length]
                assert_same_bits(
                    fn(values[part]), table[part], f"{name} length {length} at {start}"
                )


NARROW_NAMES = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]


@pytest.mark.parametrize("name", NARROW_NAMES)
def test_narrow_log_table_is_numpys_log_wherever_a_value_sits(name):
    """The metric pass reads ln p of a narrow format from a table of every bit pattern
    (metrics._log_table): the bits of numpy's log of each value wherever it sits in an
    array, from float32 (the kernels' widening) as _log_p's numpy branch computes it; 0
    and negative values give the log of float32's smallest subnormal (fmax), which the
    kernel never reads. NaN patterns are left out of the position checks: numpy's fmax of a
    signaling NaN depends on where it sits (SIMD lanes or the scalar tail), and the
    kernel never reads ln p at a NaN entry (the compiled and numpy metrics agree on
    outputs with NaN entries above)."""
    dtype = DTYPES[name]
    table = metrics._log_table(dtype)
    values = formats.decode_table(dtype, np.float32)
    tiny = np.finfo(np.float32).smallest_subnormal
    log = lambda v: np.log(np.fmax(v, tiny), dtype=np.float64)  # noqa: E731
    assert_table_wherever_a_value_sits(table, values, log, name, seed=29)
    numbers = np.flatnonzero(~np.isnan(values))
    p = values[numbers].astype(dtype)
    assert_same_bits(formats.lookup(table, p), table[numbers], f"{name} lookup")
    with pytest.raises(ValueError, match="a table of 10 entries"):
        formats.lookup(np.zeros(10), p)


#: The default config's methods but gumbel_softmax (its noise depends on the array's shape).
TABLE_SPECS = [
    (name, params)
    for name, params, _ in sl_config.method_specs(
        sl_config.validate(sl_config.load_config_file("config/config.yaml"))
    )
    if name != "gumbel_softmax"
]


@pytest.mark.parametrize("name", NARROW_NAMES)
def test_methods_on_kept_widenings_have_their_bits_and_their_tables_numpys(name, monkeypatch):
    """In the sweep's keeping_widenings block, the terms a method computes from the kept
    widening of narrow logits entry by entry (exp, power, softplus, sigmoid, taylor,
    stablemax, escort, spherical, iterated_exp's inner exps) are gathers from
    maps._value_table. Every default method gives the same p and overflow flags there as
    without the block, on every finite value of the format at many offsets (rows of
    K = 1, 3, 8, 17 and 100, shuffled), in float64 (the reference) and in both compute
    modes (float32, and native: the format's arithmetic); and every table made holds
    numpy's terms of each value wherever it sits in an array."""
    dtype = DTYPES[name]
    monkeypatch.setattr(maps, "_VALUE_TABLES", {})
    values = formats.decode_table(dtype, np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    rng = np.random.default_rng(32)
    for k in (1, 3, 8, 17, 100):
        codes = rng.permutation(np.resize(finite, -(-len(finite) // k) * k))
        x = values[codes].astype(dtype).reshape(-1, k)
        for method, params in TABLE_SPECS:
            what = f"{name} K={k} {method} {params}"
            with np.errstate(all="ignore"):
                reference = softmaxlab.normalize(formats.widen(x, np.float64), method, **params)
                with formats.keeping_widenings():
                    kept = formats.keep(x)
                    got = softmaxlab.normalize(formats.widen(kept, np.float64), method, **params)
                assert_same_bits(got, reference, f"{what} float64 reference")
                for mode in ("float32", "native"):
                    expected = softmaxlab.evaluate(x, method, compute=mode, **params)
                    with formats.keeping_widenings():
                        got = softmaxlab.evaluate(formats.keep(x), method, compute=mode, **params)
                    assert_same_bits(got[0], expected[0], f"{what} {mode} p")
                    assert np.array_equal(got[1], expected[1]), f"{what} {mode} overflow"
    made = maps._VALUE_TABLES
    for native, wide in ((False, np.float32), (False, np.float64), (True, np.float32)):
        keys = {
            key
            for (_, dtype, tabled_native, key) in made
            if (dtype, tabled_native) == (wide, native)
        }
        assert {("exp",), ("softplus",), ("sigmoid",), ("stablemax",), ("taylor", 4)} <= keys
        assert {("escort", 2.0), ("iterated_exp", 3)} <= keys
        assert any(key[0] == "power" for key in keys), (native, wide)
    for (fmt, wide, native, key), (table, terms) in made.items():
        values = formats.decode_table(fmt, wide)
        arithmetic = fmt if native else None
        fn = lambda v: np.array(terms(*maps._value_operands(v, arithmetic)))  # noqa: B023, E731
        alone = None if fmt.itemsize == 1 else 512
        what = f"{name} {wide} {'native ' if native else ''}{key}"
        assert_table_wherever_a_value_sits(table, values, fn, what, seed=30, alone=alone)
        assert not table.flags.writeable


def test_only_the_kept_widening_itself_is_gathered_from_the_tables(monkeypatch):
    """The tables serve the kept widening of narrow logits and nothing else: unstable
    softmax at e and at base 10 gather exp and power from them in float64 and float32;
    stable softmax's exp of x - max (a new array), the narrow array itself, an unkept
    copy's widening and the widening after its block has ended compute as before."""
    rng = np.random.default_rng(31)
    x = (rng.standard_normal((40, 17)) * 30).astype(DTYPES["float16"])
    calls = []
    table_lookup = maps._table_lookup
    monkeypatch.setattr(
        maps,
        "_table_lookup",
        lambda *args: calls.append((args[1].dtype, args[2])) or table_lookup(*args),
    )
    cases = [
        ("softmax", {"stable": False}, ("exp",)),
        ("softmax", {"base": 10, "stable": False}, ("power", 10.0)),
        ("softmax", {}, None),
    ]
    for wide in (np.dtype(np.float32), np.dtype(np.float64)):
        for name, params, key in cases:
            with np.errstate(all="ignore"):
                expected = softmaxlab.normalize(x.astype(wide), name, **params)
                with formats.keeping_widenings():
                    kept = formats.keep(x)
                    assert formats.kept_source(kept) is None
                    assert formats.kept_source(formats.widen(x.copy(), wide)) is None
                    widening = formats.widen(kept, wide)
                    assert formats.kept_source(widening) is kept
                    calls.clear()
                    got = softmaxlab.normalize(widening, name, **params)
                assert formats.kept_source(widening) is None  # the block has ended
            assert_same_bits(got, expected, f"{name} {params} {wide}")
            assert calls == ([] if key is None else [(wide, key)]), (name, params, wide)


def test_without_numba_vector_metrics_runs_the_numpy_reference(monkeypatch):
    """Where numba cannot be imported the kernels module says so (AVAILABLE False), its
    functions are plain Python (numpy's summation order still), and vector_metrics falls
    back to the numpy reference, with the same values."""
    x = np.array([[0.0, 1.0, 3.0, 3.0], [np.nan, 0.0, 1.0, 2.0]])
    p, overflow = softmaxlab.evaluate(x, "softmax")
    p_ref = softmaxlab.normalize(x.astype(np.longdouble), "softmax")
    expected = metrics.vector_metrics(x, p, overflow, p_ref)

    without = kernels_without_numba(monkeypatch, "metrics")
    assert not without.AVAILABLE
    assert not hasattr(without.row_sums, "py_func")  # plain Python
    rng = np.random.default_rng(25)
    for k in (0, 5, 8, 100, 128, 129, 1000, 2049):
        a = adversarial_rows(k, rng)
        with np.errstate(all="ignore"):
            assert_same_bits(without.row_sums(a), np.sum(a, axis=-1), f"plain Python K = {k}")
    metrics._metric_kernels.cache_clear()
    calls = []
    numpy_path = metrics._vector_metrics_numpy
    monkeypatch.setattr(
        metrics, "_vector_metrics_numpy", lambda *args: calls.append(1) or numpy_path(*args)
    )
    try:
        assert metrics._metric_kernels() is None
        got = metrics.vector_metrics(x, p, overflow, p_ref)
    finally:
        metrics._metric_kernels.cache_clear()
    assert calls == [1]
    for name in expected:
        assert_same_bits(got[name], expected[name], name)


@needs_numba
def test_compiled_kernels_load_from_the_disk_cache_in_a_new_process():
    """cache=True: a second process loads the compiled code instead of compiling, and
    runs it (numba's cache crashed on recursive functions, numba issue #6061: the pairwise
    sum walks its tree with a stack instead)."""
    script = (
        "import numpy as np, softmaxlab\n"
        "from softmaxlab import metrics\n"
        "x = np.random.default_rng(0).standard_normal((4, 300))\n"
        "for dtype in (np.float64, np.float32):\n"
        "    xd = x.astype(dtype)\n"
        "    p, o = softmaxlab.evaluate(xd, 'softmax')\n"
        "    r = softmaxlab.normalize(xd.astype(np.float64), 'softmax')\n"
        "    v = metrics.vector_metrics(xd, p, o, r)\n"
        "    assert metrics._metric_kernels() is not None\n"
        "print(float(v['entropy'][0]))\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout


#: A kernel and its helper in two files of the kernels package: {header} imports the
#: decorator {decorator}.
_PROBE_HELPER = "{header}\n{decorator}\ndef helper(x):\n    return x + {step}\n"
_PROBE_KERNEL = (
    "{header}\n"
    "from softmaxlab.kernels.probe_helper import helper\n"
    "{decorator}\n"
    "def kernel(x):\n"
    "    return helper(x)\n"
)
_COMPILERS = {
    "numba": ("import numba", "@numba.njit(cache=True)"),
    "softmaxlab": ("from softmaxlab.kernels.jit import jit", "@jit"),
}


def _probe_values(tmp_path, compiler: str) -> list[str]:
    """kernel(1.0), each time in a new process, before and after the helper in another
    file of the kernels package changes from x + 1 to x + 2, compiled by ``compiler`` (a
    key of _COMPILERS) with its disk cache, in a copy of the package."""
    header, decorator = _COMPILERS[compiler]
    lib = tmp_path / compiler
    shutil.copytree(
        provenance.package_dir(), lib / "softmaxlab", ignore=shutil.ignore_patterns("__pycache__")
    )
    kernels_dir = lib / "softmaxlab" / "kernels"
    (kernels_dir / "probe.py").write_text(_PROBE_KERNEL.format(header=header, decorator=decorator))
    env = {**os.environ, "PYTHONPATH": str(lib), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    values = []
    for step in (1.0, 2.0):
        (kernels_dir / "probe_helper.py").write_text(
            _PROBE_HELPER.format(header=header, decorator=decorator, step=step)
        )
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                "from softmaxlab.kernels.probe import kernel; print(kernel(1.0))",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=lib,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        values.append(run.stdout.strip())
    return values


@needs_numba
def test_a_kernel_recompiles_when_a_helper_in_another_file_changes(tmp_path):
    """numba keys its disk cache on a kernel's own file, so with plain njit(cache=True) a
    new process runs the old helper's machine code after the helper's file changed (the
    control: 2.0 twice); softmaxlab.kernels.jit's cache follows every file of the package
    and gives 3.0."""
    assert _probe_values(tmp_path, "numba") == ["2.0", "2.0"]  # the hazard is real
    assert _probe_values(tmp_path, "softmaxlab") == ["2.0", "3.0"]


@needs_numba
def test_kernel_cache_folder_follows_the_package_and_its_imports(tmp_path):
    """The cache folder's digest covers every file of the kernels package and the
    softmaxlab modules they import (softmaxlab.dtypes: formats compiles its constants in),
    and nothing else."""
    from softmaxlab.kernels import jit

    names = {path.name for path in jit.source_files()}
    assert {"formats.py", "metrics.py", "nll.py", "sparse.py", "summary.py", "jit.py"} <= names
    assert "dtypes.py" in names and "tables.py" not in names
    copy = tmp_path / "kernels"
    shutil.copytree(jit.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert jit.source_digest(copy) == jit.source_digest()
    (copy / "metrics.py").write_text((copy / "metrics.py").read_text() + "\n# an edit\n")
    assert jit.source_digest(copy) != jit.source_digest()
    assert jit.cache_dir().name == f"numba-{jit.source_digest()}"


@needs_numba
def test_sweep_summary_bytes_do_not_depend_on_the_engine(monkeypatch):
    """The summary CSV of a small sweep in every format (K = 2, 10 and 200: one, two and
    three pairwise levels) is the same bytes with the compiled metric pass and with the
    numpy reference."""
    config = sl_config.validate(
        {
            **SMALL,
            "k": [2, 10, 200],
            "dtypes": list(DTYPES),
            "vectors": {"elements": 2000, "min": 5, "max": 40},
        }
    )
    summaries = []
    for compiled in (True, False):
        monkeypatch.setattr(metrics, "USE_KERNELS", compiled)
        with np.errstate(all="ignore"):
            frame = sweep.run_cells(config, sweep.cells(config))
        summaries.append(frame.to_csv(index=False, lineterminator="\n"))
    assert summaries[0] == summaries[1]


@pytest.mark.parametrize(("x", "p", "p_ref"), test_metrics.EDGE_ROWS, ids=str)
def test_numpy_reference_matches_the_oracle_on_edge_rows(monkeypatch, x, p, p_ref):
    """The numpy path (what runs without numba) against the frozen per-metric formulas,
    as tests/test_metrics.py checks the default path: its edge rows, and its large K."""
    monkeypatch.setattr(metrics, "USE_KERNELS", False)
    test_metrics.test_vector_metrics_match_oracle_on_edge_rows(x, p, p_ref)


def test_numpy_reference_matches_the_oracle_on_large_k(monkeypatch):
    monkeypatch.setattr(metrics, "USE_KERNELS", False)
    test_metrics.test_vector_metrics_match_oracle_on_large_k_and_leading_shape()


@needs_numba
def test_mismatched_shapes_are_refused_before_the_kernels_run():
    """The compiled loops do not check bounds: a reference or logits of another shape is a
    ValueError naming the shapes, not a read past the end."""
    x = np.zeros((3, 4))
    p, overflow = softmaxlab.evaluate(x, "softmax")
    with pytest.raises(ValueError, match="same shape"):
        metrics.vector_metrics(x, p, overflow, np.full((2, 4), 0.25))
    with pytest.raises(ValueError, match="same shape"):
        metrics.vector_metrics(x[:2], p, overflow, None)


def test_stale_kernel_cache_folders_are_pruned(tmp_path):
    """The cache folders of other versions of the kernels unused for more than STALE_DAYS
    are deleted; the current one (however old), recent ones and folders of other names
    are kept."""
    from softmaxlab.kernels import jit

    now = 1_800_000_000.0
    day = 86400
    ages = {
        "numba-0123456789abcdef": 30 * day,  # the current version's
        "numba-00000000000000aa": jit.STALE_DAYS * day + 60,
        "numba-00000000000000bb": jit.STALE_DAYS * day - 60,
        "numba-not-a-digest": 30 * day,
        "other": 30 * day,
    }
    for name, age in ages.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "kernel.nbi").write_bytes(b"index")
        os.utime(tmp_path / name, (now - age, now - age))
    current = tmp_path / "numba-0123456789abcdef"
    assert jit.prune_stale(current, now=now) == [tmp_path / "numba-00000000000000aa"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        set(ages) - {"numba-00000000000000aa"}
    )
    assert jit.prune_stale(current, now=now + 2 * 60) == [tmp_path / "numba-00000000000000bb"]
