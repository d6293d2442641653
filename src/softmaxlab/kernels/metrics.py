"""The per-vector metric pass of ``softmaxlab.metrics.vector_metrics`` in one numba loop.

``metrics._vector_metrics_numpy`` is the reference: some fifteen numpy passes over each
(rows, K) block (row max, min and sum of p, the hardmax mask of x, |p - h| and its square,
p log p, counts, comparisons, the errors against the reference). Here one compiled loop
over the rows, :func:`row_metrics`, does the same work, every value bit for bit the same:
per row a pass over x (its maximum and how many entries reach it: the hardmax), one
branch-free pass over p that computes every term and count, the pairwise sums of the
terms, and against a float64 reference a pass for the errors (a long double reference
stays in numpy: numba has no long double). The row stays in L1 between the passes.

What stays in numpy, because the result must be numpy's to the last bit: ln p (numpy's
SIMD log and libm's log differ in the last bit: the caller passes ``np.log(p)`` in), the
hardmax's ln(1/m) (a table over m, :func:`log_hardmax_masses`), ln K, and the sign of a
zero row maximum (numpy's SIMD max returns either zero of a row of +-0 depending on lane
order; the caller recomputes the rows whose maximum is 0 with ``np.max``).

Sums are numpy's: ``np.sum(a, axis=-1)`` of a C-contiguous float64 (n, K) array starts from
add's identity +0.0 and adds the pairwise sum of the row, computed as numpy's
``DOUBLE_pairwise_sum`` (numpy/_core/src/umath/loops_utils.h.src) does:
:func:`pairwise_sum` (:func:`row_sums` is np.sum over the last axis). Its eight
accumulators are the lanes of one 8-wide vector (:func:`_sum_lanes`, LLVM IR: numba runs
LLVM's loop vectoriser, which may not reorder a float sum, but not its SLP vectoriser,
which would pack the eight). float32 inputs are read as float64, so every operation is in
float64, as in the reference. The other operations are single IEEE operations (+, -, x,
/, |.|, sqrt, comparisons), compiled without fastmath, so they round as numpy's do; NaN
payloads may differ (numpy and the metrics only ever test for NaN). ``error_model=
"numpy"``: a division by zero gives inf or NaN, as in numpy, instead of raising.

Row maxima are order-independent but for NaN (counted apart) and the sign of a zero
maximum (the caller's): they are integer maxima of order keys (:func:`_order_key`), which
the loop vectoriser does vectorise (a float maximum it may not: a NaN would make the
order show).

Compiled on first use and cached on disk (softmaxlab.kernels.jit): the sweep's jobs,
separate processes, load the compiled code instead of compiling again.
"""

from __future__ import annotations

import functools

import numpy as np

from softmaxlab.kernels.jit import jit

try:
    import numba
except ImportError:  # a platform without numba wheels: callers use the numpy reference
    numba = None

if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

#: numba is importable: the compiled kernels below can run.
AVAILABLE: bool = numba is not None

#: The rows of the array :func:`row_metrics` fills, one value per vector each (rates as
#: 0.0/1.0). normalized_entropy and overflow are not here: the caller derives them.
OUTPUTS: tuple[str, ...] = (
    "tv_to_argmax",
    "l2_to_argmax",
    "kl_to_argmax",
    "entropy",
    "max_prob",
    "argmax_agrees",
    "support_fraction",
    "nan_output",
    "invalid",
    "underflow",
    "max_abs_error",
    "max_rel_error",
)
(
    _TV,
    _L2,
    _KL,
    _ENTROPY,
    _MAX_PROB,
    _AGREES,
    _SUPPORT,
    _NAN,
    _INVALID,
    _UNDERFLOW,
    _ABS_ERR,
    _REL_ERR,
) = range(len(OUTPUTS))

#: numpy's PW_BLOCKSIZE: above it the pairwise sum splits the range in two.
PW_BLOCKSIZE = 128


# Helpers are not inlined by numba (LLVM still may): inlining every helper took
# compilation from 4 s to 9 s. jit(inline=True) marks the few whose calls cost:
# row_metrics' per-row helpers, whose calls (each array passed as its fields, the frame,
# the status check) cost a fifth of a row of K = 3 to 10; inlining the three costs 0.7 s
# of compilation.


if numba is not None:

    def _is_float64_vector(a):
        """a is typed as a C-contiguous 1-d float64 array."""
        return (
            isinstance(a, types.Array)
            and a.ndim == 1
            and a.layout == "C"
            and a.dtype == types.float64
        )

    def _lane_sums_ir(context, builder, array_type, array, starts, count):
        """LLVM IR of numpy's eight-accumulator sums of the float64 array's ranges
        [start, start + 8 count) for each start of ``starts``: a loop over the count blocks
        keeping one <8 x double> of lanes per range (lane l adds a[start + 8 b + l] for
        b = 0, 1, ... in order, from -0.0), the ranges' chains interleaved in the loop
        (independent: the CPU overlaps them); each range's lanes then combined as
        ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)). Each addition is the IEEE one
        (no fast-math flags: nothing reorders them). Returns the sums (LLVM doubles)."""
        double = ir.DoubleType()
        lanes_type = ir.VectorType(double, 8)
        data = context.make_array(array_type)(context, builder, array).data
        pointers = [
            builder.bitcast(builder.gep(data, [start]), lanes_type.as_pointer()) for start in starts
        ]
        accumulators = [
            cgutils.alloca_once_value(builder, ir.Constant(lanes_type, [-0.0] * 8)) for _ in starts
        ]
        with cgutils.for_range(builder, count) as loop:
            for pointer, lanes in zip(pointers, accumulators, strict=True):
                block = builder.load(builder.gep(pointer, [loop.index]), align=8)
                builder.store(builder.fadd(builder.load(lanes), block), lanes)
        sums = []
        for lanes in accumulators:
            total = builder.load(lanes)
            r = [builder.extract_element(total, ir.Constant(ir.IntType(32), i)) for i in range(8)]
            left = builder.fadd(builder.fadd(r[0], r[1]), builder.fadd(r[2], r[3]))
            right = builder.fadd(builder.fadd(r[4], r[5]), builder.fadd(r[6], r[7]))
            sums.append(builder.fadd(left, right))
        return sums

    @intrinsic
    def _sum_lanes(typingctx, a, start, blocks):
        """The sum of the float64 a[start:start + 8 blocks] as numpy's eight accumulators
        make it (:func:`_lane_sums_ir`): the lanes are one <8 x double> (an AVX-512
        register, or two or four narrower ones)."""
        if not _is_float64_vector(a):
            return None

        def codegen(context, builder, signature, args):
            array, first, count = args
            return _lane_sums_ir(context, builder, signature.args[0], array, [first], count)[0]

        return types.float64(a, types.intp, types.intp), codegen

    @intrinsic
    def _sum_lanes4(typingctx, a, start, stride, blocks):
        """:func:`_sum_lanes` of the four ranges from start + c stride, c = 0..3, in one
        loop, as a 4-tuple."""
        if not _is_float64_vector(a):
            return None
        result = types.UniTuple(types.float64, 4)

        def codegen(context, builder, signature, args):
            array, first, step, count = args
            starts = [first]
            for _ in range(3):
                starts.append(builder.add(starts[-1], step))
            sums = _lane_sums_ir(context, builder, signature.args[0], array, starts, count)
            return context.make_tuple(builder, signature.return_type, sums)

        return result(a, types.intp, types.intp, types.intp), codegen

    @intrinsic
    def _float_bits(typingctx, v):
        """The bits of the float64 v as an int64 (a bitcast: no arithmetic)."""
        if v != types.float64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))

        return types.int64(types.float64), codegen

    @intrinsic
    def _bits_float(typingctx, b):
        """The float64 whose bits are the int64 b (a bitcast: no arithmetic)."""
        if b != types.int64:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen

else:  # plain Python, the same values

    def _sum_lanes(a, start, blocks):
        """The sum of a[start:start + 8 blocks] in numpy's eight accumulators (above)."""
        r = [-0.0] * 8
        for b in range(blocks):
            for lane in range(8):
                r[lane] += np.float64(a[start + 8 * b + lane])
        return ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))

    def _sum_lanes4(a, start, stride, blocks):
        """:func:`_sum_lanes` of the four ranges from start + c stride, c = 0..3."""
        return tuple(_sum_lanes(a, start + c * stride, blocks) for c in range(4))

    def _float_bits(v):
        """The bits of the float64 v as an int."""
        return int(np.float64(v).view(np.int64))

    def _bits_float(b):
        """The float64 whose bits are the int64 b."""
        return float(np.int64(b).view(np.float64))


#: A float64's bits but its sign: XOR-ed into a negative float's bits, they turn the order
#: of the floats into the order of the bits as int64 (:func:`_order_key`).
_MAGNITUDE = 0x7FFFFFFFFFFFFFFF


@jit
def _order_key(v):
    """An int64 whose integer order is the order of the float64 v (with -0.0 below +0.0;
    NaN anywhere): its bits, the magnitude bits flipped where v is negative. Maxima of
    keys vectorise (integer maxima; float maxima do not, as NaN would show the order);
    the key of the maximum is the maximum of the keys."""
    b = _float_bits(v)
    return b ^ ((b >> 63) & _MAGNITUDE)


@jit
def _key_value(key):
    """The float64 whose :func:`_order_key` is key (flipping the bits is its own inverse:
    the sign bit, which selects the flip, is not flipped)."""
    return _bits_float(key ^ ((key >> 63) & _MAGNITUDE))


#: The key of -inf, the smallest: where a maximum starts.
_NEG_INF_KEY = int(np.float64(-np.inf).view(np.int64)) ^ _MAGNITUDE


@jit
def padded_stride(n: int) -> int:
    """The row stride (in float64 entries) at least n that puts the starts of up to 64
    rows in different L1 sets: 8 past a multiple of 64. (4 KiB, 512 entries, spans the 64
    sets of 64-byte lines; a stride of 64 m + 8 entries is 8 m + 1 lines, odd, so rows 0 to
    63 start in 64 different sets.) Rows of 2048 float64 (16 KiB apart) all start in one
    set: writing the 12 output rows of a block of 2048 vectors entry by entry then misses
    L1 at every write, which cost more than the rest of the metrics of a row of K = 3."""
    return n + (8 - n) % 64


def output_rows(n: int) -> np.ndarray:
    """The array :func:`row_metrics` fills: (len(OUTPUTS), n) float64, each row contiguous,
    the rows :func:`padded_stride` (n) apart."""
    return np.empty((len(OUTPUTS), padded_stride(n)))[:, :n]


#: Frames of :func:`pairwise_sum`'s walk: the recursion is at most about log2(n / 128) + 2
#: deep, so 64 frames hold any array numpy can allocate.
STACK_FRAMES = 64

#: How many ranges one walk of :func:`_pairwise_sums` sums at once, at most.
MAX_RANGES = 4


@jit
def pairwise_stack():
    """Scratch for :func:`pairwise_sum`'s walk, allocated once per kernel call: the frames'
    spans and phases (int64 (STACK_FRAMES, 3)) and their left halves' sums (float64,
    MAX_RANGES per frame)."""
    return np.empty((STACK_FRAMES, 3), dtype=np.int64), np.empty(STACK_FRAMES * MAX_RANGES)


@jit
def _block_sum(a, start, n):
    """numpy's pairwise sum of the float64 a[start:start + n] for n <= PW_BLOCKSIZE: below 8
    entries a sequential sum from -0.0; else eight accumulators, r_l = a[start + l] then
    + a[start + 8 b + l] block by block, combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) +
    (r6 + r7)), then the remainder one by one. Here the accumulators start at -0.0 and add
    every block (-0.0 + a = a exactly) in :func:`_sum_lanes`; with no block, -0.0 (what
    the empty lanes would combine to) then the entries one by one: both cases one path."""
    blocks = n // 8
    res = _sum_lanes(a, start, blocks) if blocks else -0.0
    for i in range(start + 8 * blocks, start + n):
        res += a[i]
    return res


@jit(inline=True)
def _block_sums(a, start, stride, n):
    """:func:`_block_sum` of the four ranges a[start + c stride:start + c stride + n],
    c = 0..3, the four in one loop (:func:`_sum_lanes4`), and the remainders in one loop:
    four independent chains of additions, which the CPU overlaps, where four calls would
    each wait for the last addition of the one before."""
    blocks = n // 8
    if blocks:
        s0, s1, s2, s3 = _sum_lanes4(a, start, stride, blocks)
    else:
        s0 = s1 = s2 = s3 = -0.0
    for i in range(start + 8 * blocks, start + n):
        s0 += a[i]
        s1 += a[i + stride]
        s2 += a[i + 2 * stride]
        s3 += a[i + 3 * stride]
    return s0, s1, s2, s3


@jit
def _leaf_sums(a, start, stride, ranges, n):
    """The block sums of one leaf of :func:`_pairwise_sums`' walk: of four ranges, or of
    the one range (then -0.0 thrice)."""
    if ranges == MAX_RANGES:
        return _block_sums(a, start, stride, n)
    return _block_sum(a, start, n), -0.0, -0.0, -0.0


@jit
def _split(n):
    """Where numpy's pairwise sum splits n > PW_BLOCKSIZE entries: n / 2 rounded down to a
    multiple of 8 (the unroll factor)."""
    half = n // 2
    return half - half % 8


@jit
def _pairwise_sums(a, start, stride, ranges, n, spans, partial):
    """numpy's pairwise sums (DOUBLE_pairwise_sum, numpy/_core/src/umath/loops_utils.h.src)
    of the float64 ranges a[start + c stride:start + c stride + n], c = 0..ranges - 1, as
    a 4-tuple (-0.0 past ranges); ranges is 1 or MAX_RANGES = 4. Up to PW_BLOCKSIZE = 128
    entries :func:`_block_sum` (:func:`_block_sums` for four); above, the sum of the two
    halves split at :func:`_split`, each summed the same way, added left + right. Equally
    long ranges split alike, so one walk sums them all.

    numpy recurses; numba's on-disk cache crashes on recursive functions (numba issue
    #6061), so this walks the same tree with an explicit stack (spans, partial: from
    :func:`pairwise_stack`): frame f is the span (start, n) spans[f, :2], in phase
    spans[f, 2] = 0 before its left half is summed and 1 after, those sums in
    partial[MAX_RANGES f:MAX_RANGES (f + 1)].
    """
    if n <= PW_BLOCKSIZE:
        return _leaf_sums(a, start, stride, ranges, n)
    top = 0
    spans[0, 0] = start
    spans[0, 1] = n
    spans[0, 2] = 0
    while True:
        s = spans[top, 0]
        m = spans[top, 1]
        if m > PW_BLOCKSIZE:  # descend into the left half
            top += 1
            spans[top, 0] = s
            spans[top, 1] = _split(m)
            spans[top, 2] = 0
            continue
        v0, v1, v2, v3 = _leaf_sums(a, s, stride, ranges, m)
        top -= 1
        while top >= 0 and spans[top, 2] == 1:  # right halves done: left + right
            f = MAX_RANGES * top
            v0 = partial[f] + v0
            v1 = partial[f + 1] + v1
            v2 = partial[f + 2] + v2
            v3 = partial[f + 3] + v3
            top -= 1
        if top < 0:
            return v0, v1, v2, v3
        f = MAX_RANGES * top  # a left half done: its right half next
        partial[f] = v0
        partial[f + 1] = v1
        partial[f + 2] = v2
        partial[f + 3] = v3
        spans[top, 2] = 1
        half = _split(spans[top, 1])
        s = spans[top, 0] + half
        m = spans[top, 1] - half
        top += 1
        spans[top, 0] = s
        spans[top, 1] = m
        spans[top, 2] = 0


@jit
def pairwise_sum(a, start, n, spans, partial):
    """numpy's pairwise summation of the float64 a[start:start + n] (DOUBLE_pairwise_sum:
    :func:`_pairwise_sums` of the one range); spans, partial: from :func:`pairwise_stack`."""
    if n <= PW_BLOCKSIZE:
        return _block_sum(a, start, n)
    return _pairwise_sums(a, start, 0, 1, n, spans, partial)[0]


@jit
def row_sums(a):
    """What ``np.sum(a, axis=-1)`` returns for the C-contiguous float64 (n, K) array a:
    per row add's identity +0.0 plus the pairwise sum of the whole row (numpy does not
    split a contiguous row into buffer-sized chunks: checked up to K = 10^6 by
    tests/test_kernels.py). So a row of -0.0 sums to +0.0."""
    n, k = a.shape
    flat = a.reshape(a.size)
    spans, partial = pairwise_stack()
    out = np.empty(n)
    for i in range(n):
        out[i] = 0.0 + pairwise_sum(flat, i * k, k, spans, partial)
    return out


@jit
def row_max(a, start, n):
    """The largest non-NaN value of a[start:start + n] (-inf if there is none), with
    eight independent running maxima (one comparison chain would serialise the loop);
    callers test for NaN themselves. The sign of a zero maximum is not numpy's (see the
    module docstring)."""
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = -np.inf
    end = start + n - n % 8
    for i in range(start, end, 8):
        r0 = a[i] if a[i] > r0 else r0
        r1 = a[i + 1] if a[i + 1] > r1 else r1
        r2 = a[i + 2] if a[i + 2] > r2 else r2
        r3 = a[i + 3] if a[i + 3] > r3 else r3
        r4 = a[i + 4] if a[i + 4] > r4 else r4
        r5 = a[i + 5] if a[i + 5] > r5 else r5
        r6 = a[i + 6] if a[i + 6] > r6 else r6
        r7 = a[i + 7] if a[i + 7] > r7 else r7
    for i in range(end, start + n):
        r0 = a[i] if a[i] > r0 else r0
    r0 = r1 if r1 > r0 else r0
    r2 = r3 if r3 > r2 else r2
    r4 = r5 if r5 > r4 else r4
    r6 = r7 if r7 > r6 else r6
    r0 = r2 if r2 > r0 else r0
    r4 = r6 if r6 > r4 else r4
    return r4 if r4 > r0 else r0


@functools.lru_cache(maxsize=8)
def log_hardmax_masses(k: int) -> np.ndarray:
    """numpy's ln(1/m) for m = 1..k (at index m - 1), read-only: the log of the hardmax's
    mass with m maximisers, 1/m rounded as metrics._hardmax_value rounds it (1.0 / m in
    float64), the logarithm numpy's, as in the reference (numpy's log gives an entry the
    same bits wherever it sits in an array). Cached per K: every block of a cell shares
    it."""
    masses = np.log(1.0 / np.arange(1, k + 1, dtype=np.int64))
    masses.setflags(write=False)
    return masses


@jit(inline=True)
def _hardmax(x, i):
    """(maximum, count) of the row x[i] of the (n, K) float32 or float64 x: its largest
    entry as float64 and how many entries equal it, the hardmax's m; (NaN, 0) where the
    row has a NaN (np.max propagates it, and no entry equals it). The sign of a zero
    maximum does not matter: -0.0 == +0.0."""
    k = x.shape[1]
    nans = 0
    key = _NEG_INF_KEY
    for j in range(k):
        v = np.float64(x[i, j])
        nans += v != v
        entry = _order_key(v)
        key = entry if entry > key else key
    if nans:
        return np.nan, 0
    top = _key_value(key)
    count = 0
    for j in range(k):
        count += x[i, j] == top
    return top, count


@jit(inline=True)
def _ln_p(v, log_v):
    """ln v as np.log gives it, from log_v, which row_metrics' caller computes only where
    v > 0 (:func:`row_metrics`): -inf where v is +-0, NaN where v < 0 or v is NaN."""
    if v > 0:
        return log_v
    return -np.inf if v == 0 else np.nan


@jit
def _tied_kl(x, p, log_p, i, top, h, log_h, scratch, spans, partial):
    """KL(h || p) of the row i with m > 1 maximisers (x[i] == top), h = 1/m and
    log_h = ln h: the row sum of the terms h (ln h - ln p_j) at the maximisers and +0.0
    elsewhere, as the reference sums them; the terms go to scratch (K)."""
    k = x.shape[1]
    for j in range(k):
        ln_p = _ln_p(np.float64(p[i, j]), log_p[i, j])
        scratch[j] = h * (log_h - ln_p) if x[i, j] == top else 0.0
    return 0.0 + pairwise_sum(scratch, np.int64(0), k, spans, partial)  # not a literal 0


@jit(inline=True)
def _errors(p, r, i):
    """metrics.errors of the row p[:K] (float64) against the row r[i] of the float64
    reference r (n, K): (underflow, max_abs_error, max_rel_error). underflow: some p_j = 0
    where r_j > 0; max_j |p_j - r_j|, NaN if a difference is NaN; max over r_j > 0 of
    |p_j - r_j| / r_j, NaN where no r_j > 0 or a difference or a ratio is NaN (np.max
    propagates it). Both maxima are of values >= +0.0 (the entries with r_j <= 0 count
    as +0.0, no larger than a ratio), whose bits order as int64s do."""
    underflow = 0
    ref_positive = 0
    bad = 0
    ratio_nan = 0
    abs_bits = 0  # the bits of +0.0
    rel_bits = 0
    for j in range(r.shape[1]):
        v = p[j]
        rv = r[i, j]
        a = abs(v - rv)
        bad += a != a
        ref_positive += rv > 0
        underflow += (v == 0) & (rv > 0)
        q = a / rv if rv > 0 else 0.0
        ratio_nan += q != q
        a_bits = _float_bits(a)
        q_bits = _float_bits(q)
        abs_bits = a_bits if a_bits > abs_bits else abs_bits
        rel_bits = q_bits if q_bits > rel_bits else rel_bits
    abs_err = np.nan if bad else _bits_float(abs_bits)
    no_ratio = bad or ratio_nan or not ref_positive
    rel_err = np.nan if no_ratio else _bits_float(rel_bits)
    return (1.0 if underflow else 0.0), abs_err, rel_err


@jit
def row_metrics(x, p, log_p, r, log_masses, tol, out):
    """Fill ``out`` (len(OUTPUTS), n), rows contiguous (:func:`output_rows`), with every
    metric of ``OUTPUTS`` per row.

    x: the (n, K) logits, float32 or float64; p: the output (n, K), float32 or float64,
    every operation on it in float64; log_p: np.log(p) in float64 where p > 0, anything
    elsewhere (the caller passes the log of max(p, the smallest subnormal): numpy's log
    takes a slow path, 4 to 9 ns an entry, on 0, negative and NaN p; their ln p is
    :func:`_ln_p`'s); r: the float64
    reference (n, K), or a (0, 0) array for none (error metrics NaN); all C-contiguous;
    log_masses: :func:`log_hardmax_masses` (K); tol: the invalid metric's sum tolerance.
    Each value is that of metrics._vector_metrics_numpy (its comments give the
    definitions' shortcuts, which are the same here): max_prob is the NaN-propagating
    row maximum, except that a zero maximum's sign is numpy's to set (the caller's job).

    Per row: :func:`_hardmax` of x; one branch-free loop over the entries, which LLVM
    vectorises: the counts, the maxima (as keys) of p at x's maximisers and off them,
    the first maximiser, and the terms of the four sums (p in float64, |p - h|, its
    square, the entropy terms) into a row-sized scratch, still in cache when the
    pairwise sums (one walk for the four) and :func:`_errors` read it.
    """
    n, k = p.shape
    has_ref = r.shape[0] > 0
    # The four sums' terms, a row each, summed in one walk. Their rows as views, each
    # indexed from 0 (a store to terms[c stride + j] is a scatter to LLVM, which then
    # leaves the loop scalar: the index might be negative and wrap).
    stride = padded_stride(k)
    terms = np.empty(MAX_RANGES * stride)
    p64 = terms[:k]  # p in float64
    dist = terms[stride : stride + k]  # |p - h|
    dist2 = terms[2 * stride : 2 * stride + k]  # |p - h|^2
    ent = terms[3 * stride : 3 * stride + k]  # the entropy terms
    spans, partial = pairwise_stack()
    for i in range(n):
        # Entries as a[i, j] with j from 0: LLVM then knows j is not negative (numba wraps
        # negative indices), so it loads a row contiguously rather than gathering; and
        # with no row views there is no reference count to update per row (NRT_incref
        # and NRT_decref calls, atomic: a fifth of a row's time at K = 3).
        xm, count = _hardmax(x, i)
        x_nan = count == 0
        hv = np.nan if x_nan else 1.0 / count  # the hardmax's mass, 1/m
        nans = 0
        positive = 0
        negative = 0
        key_at = _NEG_INF_KEY  # max of p over x's maximisers, as a key
        key_off = _NEG_INF_KEY  # and over the other entries
        first = k  # the first maximiser
        for j in range(k):
            v = np.float64(p[i, j])
            at = x[i, j] == xm
            nans += v != v
            positive += v > 0
            negative += v < 0
            # |p - h|: h_i = 0 off the maximisers, and p_i - 0 = p_i exactly.
            a = abs(v - (hv if at else 0.0))
            p64[j] = v
            dist[j] = a
            dist2[j] = a * a
            # -p ln p = -(p ln p) (rounding is symmetric), 0 where p = 0.
            ent[j] = 0.0 if v == 0 else -(v * (log_p[i, j] if v > 0 else np.nan))
            key = _order_key(v)
            key_at = key if at and key > key_at else key_at
            key_off = key if not at and key > key_off else key_off
            first = j if at and j < first else first
        if k <= PW_BLOCKSIZE:  # one block: skip the walk's setup
            s_p, s_d, s_d2, s_e = _block_sums(terms, 0, stride, k)
        else:
            # np.int64(0), not a literal 0: numba would compile the walk's leaves once more
            # for a Literal[int](0) start (as for the one in _tied_kl and kernels.nll)
            start = np.int64(0)
            s_p, s_d, s_d2, s_e = _pairwise_sums(
                terms, start, stride, MAX_RANGES, k, spans, partial
            )
        p_nan = nans > 0
        p_max = np.nan if p_nan else _key_value(max(key_at, key_off))
        if x_nan:  # h is NaN: so is every |p - h|
            tv = np.nan
            l2 = np.nan
        else:
            tv = 0.5 * (0.0 + s_d)
            l2 = np.sqrt(0.0 + s_d2)

        # KL(h || p): with one maximiser a the single term h (ln h - ln p_a) with h = 1;
        # with ties the row sum of the terms at the maximisers (+0.0 elsewhere).
        if p_nan or x_nan:
            kl = np.nan
        elif count == 1:
            kl = hv * (log_masses[0] - _ln_p(np.float64(p[i, first]), log_p[i, first]))
        else:
            log_h = log_masses[count - 1]
            kl = _tied_kl(x, p, log_p, i, xm, hv, log_h, dist, spans, partial)

        # Every maximiser of p is one of x: p's maximum is not reached off x's maximisers,
        # i.e. off them p stays below its maximum at them (a NaN x has no maximisers).
        outside = count < k and _key_value(key_off) >= _key_value(key_at)

        out[_TV, i] = tv
        out[_L2, i] = l2
        out[_KL, i] = kl
        out[_ENTROPY, i] = 0.0 + s_e
        out[_MAX_PROB, i] = p_max
        out[_AGREES, i] = 0.0 if p_nan or outside else 1.0
        # The share of p_i > 0: K / K = 1 exactly when all are.
        out[_SUPPORT, i] = np.nan if p_nan else positive / k
        out[_NAN, i] = 1.0 if p_nan else 0.0
        # A sum within tol of 1 is finite; valid needs no NaN and no p_i < 0.
        valid = not p_nan and negative == 0 and abs((0.0 + s_p) - 1.0) <= tol
        out[_INVALID, i] = 0.0 if valid else 1.0
        if has_ref:
            underflow, abs_err, rel_err = _errors(p64, r, i)
        else:
            underflow = abs_err = rel_err = np.nan
        out[_UNDERFLOW, i] = underflow
        out[_ABS_ERR, i] = abs_err
        out[_REL_ERR, i] = rel_err
