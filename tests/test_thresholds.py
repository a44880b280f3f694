"""Tests for aiops.thresholds: quantile and POT cut-offs, dict round trips and
alarm post-processing."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from aiops.errors import ConfigError, DataError
from aiops.thresholds import (
    AlarmFilter,
    DynamicThreshold,
    POTThreshold,
    QuantileThreshold,
    SPOTThreshold,
    alarm_segments,
    anomaly_likelihood,
    onset_likelihood,
    postprocess_alarms,
    threshold_from_dict,
)
from aiops.thresholds.adaptive import dynamic_level

SEED = 20240601


def test_quantile_threshold_is_the_interpolated_quantile() -> None:
    scores = np.arange(1.0, 101.0)  # 1 .. 100
    threshold = QuantileThreshold(q=0.9).fit(scores)

    # position 0.9 * 99 = 89.1 between 90 and 91
    assert threshold.value_ == pytest.approx(90.1)
    alarms = threshold.predict(scores)
    assert alarms.dtype == np.int8
    assert alarms.sum() == 10
    assert alarms[90:].all() and not alarms[:90].any()


def test_pot_threshold_recovers_an_exponential_tail() -> None:
    rng = np.random.default_rng(SEED)
    scores = rng.exponential(scale=1.0, size=200_000)
    threshold = POTThreshold(risk=1e-3, init_quantile=0.98).fit(scores)

    # Exp(1) exceeds -ln(risk) with probability risk, and its excesses over any
    # level are exponential again: a GPD with shape 0 and scale 1.
    assert threshold.value_ == pytest.approx(-math.log(1e-3), rel=0.05)
    assert abs(threshold.shape_) < 0.05
    assert threshold.scale_ == pytest.approx(1.0, rel=0.1)
    assert threshold.n_peaks_ == 4000


def test_pot_falls_back_to_a_quantile_with_few_peaks() -> None:
    scores = np.arange(100.0)
    with pytest.warns(RuntimeWarning, match="instead of a tail fit"):
        threshold = POTThreshold(risk=1e-3, init_quantile=0.98).fit(scores)
    assert threshold.value_ == pytest.approx(np.quantile(scores, 1 - 1e-3))


@pytest.mark.parametrize(
    "threshold",
    [QuantileThreshold(q=0.97), POTThreshold(risk=5e-3, init_quantile=0.95)],
)
def test_fitted_threshold_survives_a_dict_round_trip(threshold: object) -> None:
    rng = np.random.default_rng(SEED)
    scores = rng.gamma(2.0, size=5000)
    fitted = threshold.fit(scores)  # type: ignore[attr-defined]
    spec = fitted.to_dict()
    rebuilt = threshold_from_dict(spec)

    assert rebuilt.to_dict() == spec
    assert rebuilt.value_ == fitted.value_
    np.testing.assert_array_equal(rebuilt.predict(scores), fitted.predict(scores))


def test_unfitted_spec_builds_an_unfitted_threshold() -> None:
    threshold = threshold_from_dict({"kind": "pot", "risk": 0.01})
    assert isinstance(threshold, POTThreshold)
    assert threshold.to_dict() == {
        "kind": "pot",
        "risk": 0.01,
        "init_quantile": 0.98,
        "min_peaks": 10,
    }
    with pytest.raises(DataError, match="not fitted"):
        threshold.predict(np.zeros(3))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "median"}, "threshold kind 'median' is not known"),
        ({"q": 0.9}, "threshold kind None is not known"),
        ({"kind": "quantile", "level": 0.9}, "bad parameters for a quantile"),
    ],
)
def test_bad_threshold_specs_are_refused(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        threshold_from_dict(spec)


@pytest.mark.parametrize(
    ("threshold", "scores", "error", "message"),
    [
        (QuantileThreshold(q=1.5), np.ones(5), ConfigError, r"q must lie in \(0, 1\)"),
        (POTThreshold(risk=0.5), np.ones(5), ConfigError, "POT risk must lie"),
        (QuantileThreshold(), np.array([]), DataError, "empty score array"),
        (
            QuantileThreshold(),
            np.array([1.0, np.nan, np.inf]),
            DataError,
            "2 NaN/inf values out of 3",
        ),
    ],
)
def test_bad_fits_are_refused(
    threshold: QuantileThreshold | POTThreshold,
    scores: np.ndarray,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        threshold.fit(scores)


ALARMS = np.array([1, 0, 1, 1, 0, 0, 0, 1, 0, 0])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, [1, 0, 1, 1, 0, 0, 0, 1, 0, 0]),
        ({"min_duration": 2}, [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
        ({"merge_gap": 1}, [1, 1, 1, 1, 0, 0, 0, 1, 0, 0]),
        ({"merge_gap": 3}, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
        ({"cooldown": 3}, [1, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        ({"cooldown": 7}, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ({"merge_gap": 1, "min_duration": 3}, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]),
        ({"min_duration": 2, "cooldown": 5}, [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
    ],
)
def test_postprocess_alarms_table(options: dict, expected: list[int]) -> None:
    cleaned = postprocess_alarms(ALARMS, **options)
    assert cleaned.dtype == np.int8
    assert cleaned.tolist() == expected
    assert ALARMS.tolist() == [1, 0, 1, 1, 0, 0, 0, 1, 0, 0]  # input untouched


@pytest.mark.parametrize(
    ("alarms", "options", "error", "message"),
    [
        (ALARMS, {"min_duration": -1}, ConfigError, "min_duration must be a whole"),
        (ALARMS, {"cooldown": 1.5}, ConfigError, "cooldown must be a whole"),
        (np.ones((2, 2)), {}, DataError, r"alarms must be 1-D; got shape \(2, 2\)"),
    ],
)
def test_postprocess_refuses_bad_input(
    alarms: np.ndarray, options: dict, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        postprocess_alarms(alarms, **options)


def test_alarm_segments_are_half_open_runs() -> None:
    assert alarm_segments(ALARMS) == [(0, 1), (2, 4), (7, 8)]
    assert alarm_segments(np.zeros(4)) == []
    assert alarm_segments(np.ones(3)) == [(0, 3)]


def test_thresholds_do_not_warn_on_plain_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        QuantileThreshold().fit(np.linspace(0, 1, 50))


def test_onset_likelihood_keeps_only_where_an_episode_begins() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(0.0, 1.0, 600)
    scores[400:420] += 12.0  # one long episode
    scores[430] += 100.0  # a far stronger step inside the quiet period
    onset = onset_likelihood(scores, long_window=300, quiet_steps=100)

    # the first step of the episode: z about 12 -> -log10(sf(12)) / 50
    z = (scores[400] - scores[100:400].mean()) / scores[100:400].std()
    expected = -stats.norm.logsf(z) / np.log(10) / 50
    assert onset[400] == pytest.approx(expected, rel=1e-9)
    assert 0.6 < onset[400] < 0.7
    # the rest of the episode is quiet; the stronger step still counts
    assert (onset[401:420] == 0.0).all() and onset[430] > onset[400]
    # the anomaly likelihood has long since rounded to 1 on both
    likelihood = anomaly_likelihood(scores, short_window=1, long_window=300)
    assert likelihood[400] == likelihood[430] == 1.0
    assert ((onset >= 0) & (onset <= 1)).all()


def test_onset_likelihood_without_quiet_period_keeps_every_step() -> None:
    scores = np.r_[np.zeros(50), np.linspace(0, 1, 50)]
    kept = onset_likelihood(scores, long_window=20, quiet_steps=0)
    assert (kept[60:] > 0).all()
    with pytest.raises(ConfigError, match="quiet_steps must be a whole number"):
        onset_likelihood(scores, quiet_steps=-1)
    with pytest.raises(ConfigError, match="decades must be > 0"):
        onset_likelihood(scores, decades=0)


@pytest.fixture
def exponential_stream() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return rng.exponential(1.0, 5000), rng.exponential(1.0, 200_000)


def test_spot_alarm_rate_follows_the_risk(exponential_stream) -> None:
    calibration, stream = exponential_stream
    learning = SPOTThreshold(risk=1e-3, learn_alarms=True).fit(calibration)
    # Exp(1) exceeds x with probability exp(-x): the 1e-3 level is ln(1000).
    assert learning.value_ == pytest.approx(math.log(1000), rel=0.15)
    assert 0.7e-3 < learning.predict(stream).mean() < 1.4e-3
    cutoffs = learning.streaming().cutoffs(stream)
    assert cutoffs[-1] == pytest.approx(math.log(1000), rel=0.05)

    # Alarms kept out of the tail (the paper's rule) censor it: the cut-off
    # settles lower and the rate ends a few times the risk, not more.
    censored = SPOTThreshold(risk=1e-3).fit(calibration)
    assert censored.streaming().cutoffs(stream)[-1] < 0.9 * cutoffs[-1]
    assert 2e-3 < censored.predict(stream).mean() < 5e-3

    # A long run of extreme scores is not learned as normal unless asked.
    burst = np.r_[stream[:10_000], np.full(2000, 20.0)]
    assert censored.predict(burst)[-1] == 1
    assert learning.streaming().cutoffs(burst)[-1] > 10.0


@pytest.mark.parametrize(
    "threshold",
    [
        SPOTThreshold(risk=1e-3, learn_alarms=True),
        DynamicThreshold(window=500, stride=50),
    ],
    ids=["spot", "dynamic"],
)
def test_adaptive_thresholds_stream_in_chunks_as_in_one_pass(
    threshold, exponential_stream
) -> None:
    calibration, stream = exponential_stream
    stream = np.r_[stream[:20_000], 3.0 * stream[20_000:40_000]]
    threshold.fit(calibration)
    whole = threshold.predict(stream)
    chunks = threshold.streaming()
    pieces = [chunks.predict(stream[i : i + 777]) for i in range(0, stream.size, 777)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    # the cut-off follows the scores up after they triple
    cutoffs = threshold.streaming().cutoffs(stream)
    assert cutoffs[-1] > 2.0 * cutoffs[19_999]
    # and survives a round trip through its dict
    rebuilt = threshold_from_dict(threshold.to_dict())
    np.testing.assert_array_equal(rebuilt.predict(stream), whole)


def test_dynamic_level_separates_a_burst_from_the_noise() -> None:
    window = np.r_[np.tile([0.0, 1.0], 100), [10.0] * 5]
    level = dynamic_level(window, (2.0, 3.0, 4.0, 6.0))
    assert 1.0 < level < 10.0
    # spread 0: nothing to separate, the level is the mean
    assert dynamic_level(np.full(50, 2.0), (2.0, 3.0)) == 2.0


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        (DynamicThreshold(window=1), "window must be a whole number >= 2"),
        (DynamicThreshold(stride=0.5), "stride must be a whole number >= 2"),
        (DynamicThreshold(z_values=()), "z_values must be positive numbers"),
        (SPOTThreshold(risk=0.5), "POT risk must lie in"),
    ],
)
def test_bad_adaptive_parameters_are_refused(threshold, message) -> None:
    with pytest.raises(ConfigError, match=message):
        threshold.fit(np.random.default_rng(0).exponential(1.0, 1000))


@pytest.mark.parametrize(
    ("raw", "settings", "expected"),
    [
        ([0, 1, 1, 1, 1, 0, 1, 0], {}, [0, 1, 1, 1, 1, 0, 1, 0]),
        # pages once three raw alarms in a row are seen, from the third on
        ([0, 1, 1, 1, 1, 0, 1, 0], {"min_duration": 3}, [0, 0, 0, 1, 1, 0, 0, 0]),
        # holds through a quiet gap of two, lets go after the third quiet step
        ([1, 0, 0, 1, 0, 0, 0, 0], {"merge_gap": 2}, [1, 1, 1, 1, 1, 1, 0, 0]),
        # a new page within three steps of the last one's end is suppressed
        ([1, 0, 1, 0, 0, 0, 1], {"cooldown": 3}, [1, 0, 0, 0, 0, 0, 1]),
    ],
)
def test_alarm_filter_cleans_a_stream_causally(raw, settings, expected) -> None:
    assert AlarmFilter(**settings).filter(np.array(raw)).tolist() == expected


def test_alarm_filter_in_chunks_equals_one_pass() -> None:
    raw = (np.random.default_rng(5).random(5000) > 0.9).astype(int)
    whole = AlarmFilter(min_duration=2, merge_gap=3, cooldown=10).filter(raw)
    chunked = AlarmFilter(min_duration=2, merge_gap=3, cooldown=10)
    pieces = [chunked.filter(raw[i : i + 333]) for i in range(0, raw.size, 333)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert 0 < whole.sum() < raw.sum() * 3
    with pytest.raises(ConfigError, match="cooldown must be a whole number >= 0"):
        AlarmFilter(cooldown=-1)
