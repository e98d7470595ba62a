"""The metrics groundwork: histogram buckets, percentiles within 10%, merge, windows.

"Exact" percentile here is the nearest rank: the ``k``-th smallest of ``n`` samples,
``k = max(1, ceil(q * n))`` with ``q`` read as the decimal it prints as (numpy's
``method="inverted_cdf"``, Hyndman and Fan's type 1). ``Histogram.quantile`` promises
to be within ``MAX_RELATIVE_ERROR`` (6.9%, under the 10% target) of exactly that, for
exact values from 100 µs to 7.3 days; within 50 µs below; within (7.3 d, max] above.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from fractions import Fraction
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regiq_tasks.errors import InvalidParameter
from regiq_tasks.metrics.histogram import (
    BOUNDS,
    FIRST_BOUND,
    LAST_BOUND,
    MAX_RELATIVE_ERROR,
    OVERFLOW,
    PROMETHEUS_LE,
    UNDERFLOW,
    UNDERFLOW_ABSOLUTE_ERROR,
    Histogram,
    HistogramKind,
    bucket_bounds,
    bucket_index,
    counts_from_fields,
    field_name,
    merge,
    nearest_rank,
    parse_field_name,
)
from regiq_tasks.metrics.windows import (
    DEFAULT_RETENTION_DAYS,
    HOUR_S,
    MAX_SERIES_POINTS,
    MINUTE_S,
    bucket_step,
    parse_window,
    series_step,
)

QUANTILES = (0.5, 0.9, 0.95, 0.99)
R20 = (1.00, 1.12, 1.25, 1.40, 1.60, 1.80, 2.00, 2.24, 2.50, 2.80,
       3.15, 3.55, 4.00, 4.50, 5.00, 5.60, 6.30, 7.10, 8.00, 9.00)


def exact_quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values`` (numpy's ``inverted_cdf``)."""
    ordered = sorted(values)
    k = max(1, math.ceil(Fraction(str(q)) * len(ordered)))
    return ordered[k - 1]


def assert_close_to_exact(values: Sequence[float], q: float) -> None:
    """The histogram's ``q`` quantile of ``values`` keeps the documented error bound."""
    exact = exact_quantile(values, q)
    got = Histogram.of(values).quantile(q)
    assert got is not None
    assert min(values) <= got <= max(values)
    if exact <= FIRST_BOUND:
        assert abs(got - exact) <= UNDERFLOW_ABSOLUTE_ERROR, (q, exact, got)
    elif exact > LAST_BOUND:
        assert LAST_BOUND < got <= max(values), (q, exact, got)
    else:
        assert abs(got - exact) <= MAX_RELATIVE_ERROR * exact * (1 + 1e-12), (q, exact, got)


# -- sample strategies ----------------------------------------------------------------
@st.composite
def lognormal_mixes(draw: st.DrawFn) -> list[float]:
    """Samples of a mix of one to four log-normal job types (medians 1 ms .. 1 day)."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    parts = draw(st.lists(st.tuples(st.floats(-3, 5), st.floats(0.05, 2.5),
                                     st.integers(1, 400)), min_size=1, max_size=4))
    return [rng.lognormvariate(log10_median * math.log(10), sigma)
            for log10_median, sigma, n in parts for _ in range(n)]


edge_values = st.lists(st.sampled_from(BOUNDS).flatmap(
    lambda b: st.sampled_from((b, math.nextafter(b, 0), math.nextafter(b, math.inf)))),
    min_size=1, max_size=300)
in_range = st.floats(FIRST_BOUND, LAST_BOUND)
tiny = st.floats(0, FIRST_BOUND)
huge = st.floats(LAST_BOUND, 1e10)
any_duration = st.floats(0, 1e10)
samples = st.one_of(
    lognormal_mixes(),
    edge_values,
    st.lists(in_range, min_size=1, max_size=300),
    st.lists(st.one_of(tiny, in_range, huge), min_size=1, max_size=300),
    st.tuples(any_duration, st.integers(1, 500)).map(lambda vn: [vn[0]] * vn[1]),
)
quantiles = st.one_of(st.sampled_from(QUANTILES), st.floats(0, 1))


# -- bounds and bucket index ----------------------------------------------------------
def test_the_bounds_are_the_r20_numbers_from_100_us_to_7_3_days_and_are_pinned() -> None:
    expected = [float(f"{m:.2f}e{e}") for e in range(-4, 6) for m in R20]
    assert BOUNDS == tuple(b for b in expected if b <= 630_000)
    assert (len(BOUNDS), UNDERFLOW, OVERFLOW) == (197, 0, 197)
    assert (BOUNDS[0], BOUNDS[20], BOUNDS[80], BOUNDS[-1]) == (1e-4, 1e-3, 1.0, 630_000.0)
    assert LAST_BOUND >= 7 * 86400


def test_the_error_bound_is_under_ten_percent() -> None:
    assert MAX_RELATIVE_ERROR == pytest.approx(math.sqrt(1.6 / 1.4) - 1)
    assert MAX_RELATIVE_ERROR <= 0.10


def test_every_prometheus_boundary_is_one_of_the_bounds() -> None:
    assert set(PROMETHEUS_LE) <= set(BOUNDS)
    assert PROMETHEUS_LE == tuple(sorted(PROMETHEUS_LE))
    assert (PROMETHEUS_LE[0], PROMETHEUS_LE[-1]) == (0.005, 10_000.0)


def test_a_bound_belongs_to_the_bucket_below_it_and_the_next_double_to_the_one_above() -> None:
    for i, bound in enumerate(BOUNDS):
        assert bucket_index(bound) == i
        assert bucket_index(math.nextafter(bound, 0)) == i
        assert bucket_index(math.nextafter(bound, math.inf)) == i + 1


def test_out_of_range_values_go_to_the_underflow_and_overflow_buckets() -> None:
    assert bucket_index(0.0) == bucket_index(FIRST_BOUND) == UNDERFLOW
    assert bucket_index(LAST_BOUND * 1.0001) == bucket_index(math.inf) == OVERFLOW
    assert bucket_bounds(UNDERFLOW) == (0.0, FIRST_BOUND)
    assert bucket_bounds(OVERFLOW) == (LAST_BOUND, math.inf)


@pytest.mark.parametrize("bad", [-1e-9, -5.0, math.nan])
def test_a_negative_or_nan_duration_has_no_bucket(bad: float) -> None:
    with pytest.raises(ValueError):
        bucket_index(bad)


@given(st.floats(0, 1e12))
def test_every_value_lies_within_the_bounds_of_its_bucket(value: float) -> None:
    lo, hi = bucket_bounds(bucket_index(value))
    assert (lo < value or value == lo == 0.0) and value <= hi


# -- field names ----------------------------------------------------------------------
def test_a_bucket_field_name_is_kind_colon_index_and_reads_back() -> None:
    assert field_name(HistogramKind.DURATION, 12) == "d:12"
    assert field_name(HistogramKind.WAIT, OVERFLOW) == "w:197"
    for kind in HistogramKind:
        for i in (0, 1, 80, OVERFLOW):
            assert parse_field_name(field_name(kind, i)) == (kind, i)
    assert parse_field_name(b"w:3") == (HistogramKind.WAIT, 3)


@pytest.mark.parametrize("name", ["d:", "d", "x:1", "d:07", "d:198", "d:-1", "d:1.0",
                                  "d: 1", "d:\u0661", "sum", "d:sum", "D:1"])
def test_other_hash_fields_are_no_buckets(name: str) -> None:
    assert parse_field_name(name) is None


def test_counts_are_read_from_a_redis_hash_of_one_kind_only() -> None:
    fields = {b"d:3": b"2", b"d:80": b"5", b"w:3": b"7", b"count": b"9"}
    assert counts_from_fields(fields, HistogramKind.DURATION) == {3: 2, 80: 5}
    assert counts_from_fields(fields, HistogramKind.WAIT) == {3: 7}
    with pytest.raises(ValueError):
        field_name(HistogramKind.DURATION, OVERFLOW + 1)


# -- percentiles ----------------------------------------------------------------------
def test_nearest_rank_reads_q_as_the_decimal_it_prints_as() -> None:
    assert nearest_rank(0.95, 100) == 95
    assert nearest_rank(0.1, 10) == 1
    assert nearest_rank(0.99, 1) == 1
    assert (nearest_rank(0, 7), nearest_rank(1, 7)) == (1, 7)
    with pytest.raises(ValueError):
        nearest_rank(1.01, 7)


@settings(max_examples=300, deadline=None)
@given(samples, quantiles)
def test_every_percentile_is_within_the_bound_of_the_exact_nearest_rank(
        values: list[float], q: float) -> None:
    assert_close_to_exact(values, q)


@settings(deadline=None)
@given(samples)
def test_the_usual_percentiles_of_any_sample_are_within_ten_percent(values: list[float]) -> None:
    for q in QUANTILES:
        assert_close_to_exact(values, q)


@given(any_duration)
def test_every_percentile_of_one_value_is_that_value(value: float) -> None:
    h = Histogram.of([value])
    assert [h.quantile(q) for q in (0, *QUANTILES, 1)] == [value] * 6
    assert (h.count, h.mean, h.maximum) == (1, value, value)


@given(any_duration, st.integers(2, 1000))
def test_every_percentile_of_constant_values_is_that_value(value: float, n: int) -> None:
    h = Histogram.of([value] * n)
    assert {h.quantile(q) for q in (0, *QUANTILES, 1)} == {value}


@given(st.lists(any_duration, min_size=1, max_size=200))
def test_the_first_and_last_rank_are_the_exact_minimum_and_maximum(values: list[float]) -> None:
    h = Histogram.of(values)
    assert (h.quantile(0), h.quantile(1)) == (min(values), max(values))
    assert h.mean == pytest.approx(math.fsum(values) / len(values))


def test_an_empty_histogram_has_no_percentiles_and_no_mean() -> None:
    h = Histogram()
    assert (h.count, h.mean, h.quantile(0.5)) == (0, None, None)
    assert h.prometheus_buckets()[-1] == (math.inf, 0)


def test_without_the_exact_extremes_a_percentile_is_its_bucket_midpoint() -> None:
    h = Histogram({bucket_index(1.0): 3})
    assert h.quantile(0.5) == pytest.approx(math.sqrt(0.9 * 1.0))
    assert Histogram({OVERFLOW: 1}).quantile(0.5) == LAST_BOUND


def test_a_histogram_keeps_non_empty_buckets_only_and_refuses_bad_ones() -> None:
    assert dict(Histogram({5: 0, 3: 2}).counts) == {3: 2}
    assert Histogram({5: 0, 3: 2}) == Histogram({3: 2})
    with pytest.raises(ValueError):
        Histogram({3: -1})
    with pytest.raises(ValueError):
        Histogram({OVERFLOW + 1: 1})


# -- merge ----------------------------------------------------------------------------
def assert_same(a: Histogram, b: Histogram) -> None:
    """Equal counts and extremes; sums equal up to float rounding."""
    assert (a.counts, a.minimum, a.maximum) == (b.counts, b.minimum, b.maximum)
    assert a.total == pytest.approx(b.total, rel=1e-12)


@given(st.lists(st.lists(any_duration, max_size=50), min_size=1, max_size=4))
def test_a_merge_is_the_histogram_of_all_the_samples(parts: list[list[float]]) -> None:
    merged = merge(Histogram.of(p) for p in parts)
    assert_same(merged, Histogram.of([v for p in parts for v in p]))


@given(st.lists(any_duration, max_size=50), st.lists(any_duration, max_size=50),
       st.lists(any_duration, max_size=50))
def test_merge_is_commutative_and_associative(a: list[float], b: list[float],
                                              c: list[float]) -> None:
    ha, hb, hc = Histogram.of(a), Histogram.of(b), Histogram.of(c)
    left = merge([merge([ha, hb]), hc])
    right = merge([ha, merge([hb, hc])])
    assert_same(left, right)
    for order in permutations([ha, hb, hc]):
        assert_same(merge(order), left)
    assert merge([]) == Histogram()


# -- Prometheus -----------------------------------------------------------------------
@given(st.lists(st.one_of(any_duration, st.sampled_from(PROMETHEUS_LE)), max_size=200))
def test_prometheus_buckets_count_the_values_at_or_below_each_le(values: list[float]) -> None:
    buckets = Histogram.of(values).prometheus_buckets()
    assert [le for le, _ in buckets] == [*PROMETHEUS_LE, math.inf]
    assert [n for _, n in buckets] == [sum(v <= le for v in values) for le, _ in buckets]


# -- windows --------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds", "step"), [
    ("5m", 300, 60), ("90m", 5400, 60), ("1h", 3600, 60), ("48h", 172_800, 60),
    ("49h", 176_400, 3600), ("3d", 259_200, 3600), ("7d", 604_800, 3600),
    ("840h", 3_024_000, 3600), ("35d", 3_024_000, 3600)])
def test_a_window_is_minutes_hours_or_days_up_to_the_retention(text: str, seconds: int,
                                                                step: int) -> None:
    window = parse_window(text)
    assert (window.text, window.seconds, window.step_s) == (text, seconds, step)


@pytest.mark.parametrize("text", [
    "", "m", "4m", "0m", "0h", "05m", "1.5h", "-1h", "+1h", "1 h", " 1h", "1h ", "1w", "1H",
    "1s", "36d", "841h", "50401m", "1000000m", "1e3m", "\u0661h", "1h\n", "h1"])
def test_anything_else_is_refused_as_an_invalid_window(text: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        parse_window(text)
    assert refused.value.parameter == "window"


def test_the_longest_window_follows_the_retention() -> None:
    assert DEFAULT_RETENTION_DAYS == 35
    assert parse_window("40d", retention_days=40).seconds == 40 * 86400
    with pytest.raises(InvalidParameter):
        parse_window("3d", retention_days=2)


def test_minute_buckets_serve_windows_up_to_48_hours_and_hour_buckets_beyond() -> None:
    assert bucket_step(48 * HOUR_S) == MINUTE_S
    assert bucket_step(48 * HOUR_S + MINUTE_S) == HOUR_S


windows = st.one_of(st.integers(5, 50_400).map("{}m".format),
                    st.integers(1, 840).map("{}h".format), st.integers(1, 35).map("{}d".format))


@given(windows, st.floats(1e6, 4e9))
def test_the_buckets_of_a_window_cover_it_exactly_once(text: str, now: float) -> None:
    window = parse_window(text)
    starts, step = window.bucket_starts(now), window.step_s
    assert all(s % step == 0 for s in starts)
    assert all(b - a == step for a, b in zip(starts, starts[1:]))
    assert starts[0] <= now - window.seconds < starts[0] + step
    assert starts[-1] <= now < starts[-1] + step


@given(windows, st.floats(1e6, 4e9))
def test_a_series_has_at_most_120_points_on_whole_buckets(text: str, now: float) -> None:
    window = parse_window(text)
    assert window.series_step_s % window.step_s == 0
    assert series_step(window.seconds) == window.series_step_s
    points = window.series_starts(now)
    assert 2 <= len(points) <= MAX_SERIES_POINTS
    assert points[0] <= now - window.seconds and now < points[-1] + window.series_step_s
