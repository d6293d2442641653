"""Random streams: deterministic, independent of grouping, and the right distributions."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from softmaxlab import sampling


def test_stream_is_deterministic_and_named():
    a = sampling.stream(1, "logits", "normal", 10).random(5)
    b = sampling.stream(1, "logits", "normal", 10).random(5)
    c = sampling.stream(1, "logits", "normal", 11).random(5)
    d = sampling.stream(2, "logits", "normal", 10).random(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_sample_z_does_not_depend_on_other_cells():
    spec = {"family": "normal"}
    first = sampling.sample_z(7, "normal", spec, 10, 20)
    sampling.sample_z(7, "other", {"family": "uniform"}, 10, 50)  # draw from another stream
    np.testing.assert_array_equal(first, sampling.sample_z(7, "normal", spec, 10, 20))


@pytest.mark.parametrize(
    ("spec", "cdf"),
    [
        ({"family": "normal"}, scipy_stats.norm.cdf),
        ({"family": "uniform", "low": 0.0, "high": 1.0}, scipy_stats.uniform.cdf),
        ({"family": "gumbel"}, scipy_stats.gumbel_r.cdf),
        ({"family": "student_t", "df": 3}, scipy_stats.t(3).cdf),
    ],
)
def test_families_have_the_named_distribution(spec, cdf):
    z = sampling.sample_z(3, "d", spec, 1000, 20).ravel()
    assert scipy_stats.kstest(z, cdf).pvalue > 1e-4


def test_logits_round_after_scaling():
    z = np.array([[0.1, 1 / 3]])
    x = sampling.logits(z, 3.0, "float16")
    assert x.dtype == np.float16
    np.testing.assert_array_equal(x, (3.0 * z).astype(np.float16))


def test_vectors_per_cell_clips():
    assert sampling.vectors_per_cell(10, 4000, 8, 200) == 200
    assert sampling.vectors_per_cell(100, 4000, 8, 200) == 40
    assert sampling.vectors_per_cell(10000, 4000, 8, 200) == 8


def test_family_params_errors_name_the_problem():
    with pytest.raises(ValueError, match="valid families: normal"):
        sampling.family_params({"family": "cauchy"})
    with pytest.raises(ValueError, match="no parameter 'mu'.*valid parameters: loc, scale"):
        sampling.family_params({"family": "normal", "mu": 1})
    with pytest.raises(ValueError, match="low < high"):
        sampling.family_params({"family": "uniform", "low": 1, "high": 0})


def test_summary_round_trip_keeps_the_nan_metric_and_infinities(tmp_path):
    import pandas as pd

    from softmaxlab import sweep

    frame = pd.DataFrame(
        {"metric": ["nan", "overflow", "kl_to_argmax"], "mean": [0.25, np.nan, np.inf]}
    )
    path = tmp_path / "summary.csv"
    sweep.write_csv(frame, path)
    back = sweep.read_summary(path)
    assert list(back["metric"]) == ["nan", "overflow", "kl_to_argmax"]
    assert back["mean"][0] == 0.25 and np.isnan(back["mean"][1]) and back["mean"][2] == np.inf
    assert (path.stat().st_mode & 0o777) == (0o666 & ~_umask())


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("family", sorted(sampling.FAMILIES))
@pytest.mark.parametrize("block_rows", [1, 7, 64, 1000])
def test_blocks_concatenate_to_one_draw(family, block_rows):
    """Streaming the draws changes no value: the samplers consume the stream in order."""
    spec = {"family": family}
    whole = sampling.sample_z(9, "d", spec, 13, 150)
    blocks = list(sampling.sample_z_blocks(9, "d", spec, 13, 150, block_rows))
    assert [len(b) for b in blocks[:-1]] == [block_rows] * (len(blocks) - 1)
    np.testing.assert_array_equal(np.concatenate(blocks), whole)
