"""Tests for the detector contract (aiops.detectors.base) and the baselines."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from aiops.detectors import (
    BaseDetector,
    IsolationForestDetector,
    RandomDetector,
    RollingZScoreDetector,
)
from aiops.errors import ConfigError, DataError
from aiops.thresholds import POTThreshold, QuantileThreshold

SEED = 7


@pytest.fixture
def frame() -> pd.DataFrame:
    """Two noisy daily-ish waves on a 1-minute grid, 600 rows."""
    rng = np.random.default_rng(SEED)
    steps = np.arange(600)
    index = pd.date_range("2024-03-01", periods=600, freq="1min")
    return pd.DataFrame(
        {
            "cpu": np.sin(2 * np.pi * steps / 60) + 0.1 * rng.standard_normal(600),
            "latency_seconds": 0.2 + 0.01 * rng.standard_normal(600),
        },
        index=index,
    )


def _with_nan(frame: pd.DataFrame) -> pd.DataFrame:
    broken = frame.copy()
    broken.iloc[[3, 10, 20], 0] = np.nan
    broken.iloc[5, 1] = np.inf
    return broken


def _shuffled_index(frame: pd.DataFrame) -> pd.DataFrame:
    broken = frame.copy()
    broken.index = frame.index.delete(100).append(pd.DatetimeIndex(["2030-01-01"]))
    return broken


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda f: f["cpu"].to_numpy(), "expected a 2-D array .* got 1-D"),
        (lambda f: f["cpu"], "got a pandas Series; pass series.to_frame"),
        (lambda f: f.assign(host="web-1"), r"non-numeric: \['host'\]"),
        (lambda f: f.assign(up=True), r"non-numeric: \['up'\]"),
        (_with_nan, "NaN/inf values found in column.s. cpu: 3, latency_seconds: 1"),
        (_shuffled_index, "not a regular grid: 2 of 599 steps .* require_regular"),
        (lambda f: f.iloc[:12], "needs at least 12 training rows .* got 10 of 12"),
        (lambda f: f.iloc[:, :0], "at least one metric column"),
    ],
)
def test_fit_refuses_bad_input(make_input: object, message: str, frame) -> None:
    detector = RollingZScoreDetector(window=10)
    with pytest.raises(DataError, match=message):
        detector.fit(make_input(frame))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (
            lambda f: f.rename(columns={"cpu": "cpu_percent"}),
            r"expected \['cpu', 'latency_seconds'\], found "
            r"\['cpu_percent', 'latency_seconds'\]",
        ),
        (lambda f: f[["cpu"]].to_numpy(), r"expected 2 columns .* found 1"),
        (lambda f: f.iloc[:10], "needs more than 10 rows .* got 10"),
        (lambda f: f.iloc[::5], "fitted on a 60 s grid but got a 300 s grid"),
        (_with_nan, "cpu: 3"),
    ],
)
def test_scoring_refuses_input_unlike_the_training_data(
    make_input: object, message: str, frame
) -> None:
    detector = RollingZScoreDetector(window=10).fit(frame)
    with pytest.raises(DataError, match=message):
        detector.score_samples(make_input(frame))  # type: ignore[operator]


def test_unfitted_detector_says_so(frame) -> None:
    with pytest.raises(DataError, match="not fitted yet; call fit"):
        IsolationForestDetector().score_samples(frame)


@pytest.mark.parametrize(
    ("detector", "error", "message"),
    [
        (RollingZScoreDetector(window=1), ConfigError, "window must be a whole"),
        (RandomDetector(validation_fraction=1.0), ConfigError, "validation_fraction"),
        (RandomDetector(threshold={"kind": "max"}), ConfigError, "kind 'max'"),
        (RandomDetector(threshold=0.99), ConfigError, "threshold must be a dict"),  # type: ignore[arg-type]
    ],
)
def test_bad_parameters_are_refused_at_fit(
    detector: BaseDetector, error: type[Exception], message: str, frame
) -> None:
    with pytest.raises(error, match=message):
        detector.fit(frame)


def test_irregular_index_is_accepted_when_asked(frame) -> None:
    irregular = _shuffled_index(frame)
    detector = RollingZScoreDetector(window=10, require_regular=False).fit(irregular)
    assert detector.step_s_ is None
    np.testing.assert_array_equal(
        detector.score_samples(irregular), detector.score_samples(frame.to_numpy())
    )


def test_columns_are_matched_by_name(frame) -> None:
    detector = IsolationForestDetector(n_estimators=20).fit(frame)
    assert detector.feature_names_in_ == ["cpu", "latency_seconds"]
    assert detector.n_features_in_ == 2
    assert detector.step_s_ == 60.0
    np.testing.assert_array_equal(
        detector.score_samples(frame[["latency_seconds", "cpu"]]),
        detector.score_samples(frame),
    )


def test_arrays_get_generated_feature_names(frame) -> None:
    detector = RandomDetector().fit(frame.to_numpy())
    assert detector.feature_names_in_ == ["x0", "x1"]
    assert detector.step_s_ is None


def test_constant_column_is_scaled_by_one(frame) -> None:
    flat = frame.assign(replicas=3.0)
    detector = RollingZScoreDetector(window=10).fit(flat)
    assert detector.scale_[2] == 1.0
    assert detector.mean_[2] == 3.0
    assert np.isfinite(detector.score_samples(flat)).all()


def test_rolling_zscore_matches_a_hand_computed_value(frame) -> None:
    detector = RollingZScoreDetector(window=3).fit(frame[["cpu"]])
    series = pd.DataFrame({"cpu": [1.0, 2.0, 3.0, 10.0, 2.0]})
    scores = detector.score_samples(series)

    # z is unchanged by standardisation: |10 - 2| / std_pop(1, 2, 3)
    assert scores[:3].tolist() == [0.0, 0.0, 0.0]
    assert scores[3] == pytest.approx(8.0 / np.sqrt(2.0 / 3.0))
    # window (2, 3, 10): mean 5, population std sqrt(38/3)
    assert scores[4] == pytest.approx(3.0 / np.sqrt(38.0 / 3.0))


@pytest.mark.parametrize(
    "detector",
    [
        RollingZScoreDetector(window=20),
        IsolationForestDetector(n_estimators=50),
        RandomDetector(seed=3),
    ],
    ids=type,
)
def test_baseline_api(detector: BaseDetector, frame) -> None:
    spiked = frame.copy()
    # far out on both metrics, further on cpu (about 8 sd against 5 sd)
    spiked.iloc[500] += [6.0, 0.05]
    detector.fit(frame.iloc[:400])
    scores = detector.score_samples(spiked)
    attribution = detector.attribute(spiked)

    assert scores.shape == (600,) and np.isfinite(scores).all()
    assert attribution.shape == (600, 2)
    np.testing.assert_allclose(attribution.sum(axis=1), scores, atol=1e-12)
    np.testing.assert_array_equal(
        detector.predict(spiked), (scores > detector.threshold_.value_).astype(int)
    )
    if not isinstance(detector, RandomDetector):
        assert scores[500] > np.quantile(scores[:500], 0.95)
        # the spiked metric carries most of the score
        assert attribution[500, 0] > attribution[500, 1]


def test_random_detector_is_uniform_and_repeatable(frame) -> None:
    detector = RandomDetector(seed=5).fit(frame)
    scores = detector.score_samples(frame)
    assert ((scores >= 0.0) & (scores < 1.0)).all()
    np.testing.assert_array_equal(scores, detector.score_samples(frame))
    other = RandomDetector(seed=6).fit(frame).score_samples(frame)
    assert not np.array_equal(scores, other)


def test_threshold_is_fitted_on_the_validation_scores(frame) -> None:
    detector = RandomDetector(seed=1, validation_fraction=0.25).fit(frame)
    validation_scores = detector.score_samples(frame)[450:]
    assert isinstance(detector.threshold_, QuantileThreshold)
    assert detector.threshold_.value_ == np.quantile(validation_scores, 0.995)

    detector.set_params(threshold_quantile=0.9).fit(frame)
    assert detector.threshold_.value_ == np.quantile(validation_scores, 0.9)

    detector.set_params(threshold={"kind": "pot", "risk": 0.005, "init_quantile": 0.9})
    detector.fit(frame)
    assert isinstance(detector.threshold_, POTThreshold)
    assert detector.threshold_.risk == 0.005


def test_sklearn_contract(frame) -> None:
    detector = IsolationForestDetector(n_estimators=10, seed=4)
    assert detector.get_params() == {
        "max_samples": "auto",
        "n_estimators": 10,
        "require_regular": True,
        "seed": 4,
        "threshold": None,
        "threshold_quantile": 0.995,
        "validation_fraction": 0.2,
    }
    assert vars(detector) == detector.get_params()  # __init__ only stores
    detector.fit(frame)
    copy = clone(detector).set_params(seed=9)
    assert copy.seed == 9 and not hasattr(copy, "threshold_")


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
@pytest.mark.parametrize(
    "detector",
    [RollingZScoreDetector(window=15), IsolationForestDetector(n_estimators=20)],
    ids=type,
)
def test_pickle_round_trip_scores_identically(
    detector: BaseDetector, dumps: object, frame
) -> None:
    detector.fit(frame)
    restored = pickle.loads(dumps(detector))  # type: ignore[operator]
    np.testing.assert_array_equal(
        restored.score_samples(frame), detector.score_samples(frame)
    )
    assert restored.threshold_.to_dict() == detector.threshold_.to_dict()
