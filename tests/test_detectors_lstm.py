"""Tests for the LSTM detectors: determinism, detection, linear scoring,
pickling and configuration."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import torch

from aiops.config import load_model_config
from aiops.detectors import LSTMAutoencoderDetector, LSTMForecastDetector
from aiops.detectors.lstm import _LSTMDetector
from aiops.errors import ConfigError, DataError
from aiops.evaluation import auc_pr

SEED = 11
SMALL = {"window": 20, "hidden_size": 16, "epochs": 4, "windows_per_epoch": 1024}
SPIKE = slice(2500, 2510)


@pytest.fixture(scope="module")
def series() -> tuple[pd.DataFrame, np.ndarray]:
    """Three sine metrics on a 1-minute grid, a spike on one in rows 2500-2509."""
    rng = np.random.default_rng(SEED)
    steps = np.arange(3000)
    values = np.column_stack(
        [
            np.sin(2 * np.pi * steps / 50),
            np.cos(2 * np.pi * steps / 80),
            0.5 * np.sin(2 * np.pi * steps / 30),
        ]
    ) + 0.05 * rng.standard_normal((3000, 3))
    values[SPIKE, 0] += 1.5
    labels = np.zeros(3000, dtype=np.int8)
    labels[SPIKE] = 1
    index = pd.date_range("2024-05-01", periods=3000, freq="1min")
    frame = pd.DataFrame(values, index=index, columns=["cpu", "memory", "rps"])
    return frame, labels


@pytest.fixture(scope="module")
def fitted(
    series: tuple[pd.DataFrame, np.ndarray],
) -> dict[type, _LSTMDetector]:
    frame, _ = series
    return {
        cls: cls(seed=SEED, **SMALL).fit(frame.iloc[:2000])
        for cls in (LSTMForecastDetector, LSTMAutoencoderDetector)
    }


DETECTORS = [LSTMForecastDetector, LSTMAutoencoderDetector]


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda cls: cls.__name__)
def test_spike_scores_far_above_normal(cls: type, series, fitted) -> None:
    frame, labels = series
    detector = fitted[cls]
    scores = detector.score_samples(frame)

    assert scores.shape == (3000,) and np.isfinite(scores).all()
    assert auc_pr(labels, scores) > 0.5  # base rate is 10 / 3000
    # training improved on the first epoch and kept the best weights
    assert min(detector.validation_losses_) < detector.validation_losses_[0]
    best = detector.validation_losses_[detector.best_epoch_]
    assert best == min(detector.validation_losses_)


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda cls: cls.__name__)
def test_attribution_sums_to_score_and_points_at_the_metric(
    cls: type, series, fitted
) -> None:
    frame, _ = series
    detector = fitted[cls]
    attribution = detector.attribute(frame)

    assert attribution.shape == (3000, 3) and (attribution >= 0).all()
    np.testing.assert_allclose(
        attribution.sum(axis=1), detector.score_samples(frame), rtol=1e-6
    )
    spike_share = attribution[SPIKE].sum(axis=0)
    assert spike_share.argmax() == 0  # the spiked metric is "cpu"


def test_forecaster_warm_up_steps_score_zero(series, fitted) -> None:
    frame, _ = series
    scores = fitted[LSTMForecastDetector].score_samples(frame)
    assert (scores[:20] == 0.0).all()
    assert (scores[20:] > 0.0).all()


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda cls: cls.__name__)
def test_same_seed_same_scores(cls: type, series, fitted) -> None:
    frame, _ = series
    again = cls(seed=SEED, **SMALL).fit(frame.iloc[:2000])
    np.testing.assert_array_equal(
        again.score_samples(frame), fitted[cls].score_samples(frame)
    )
    assert again.threshold_.value_ == fitted[cls].threshold_.value_

    other = cls(seed=SEED + 1, **SMALL).fit(frame.iloc[:2000])
    assert not np.array_equal(other.score_samples(frame), again.score_samples(frame))


@pytest.mark.parametrize(
    ("cls", "attribute", "value"),
    [
        (LSTMForecastDetector, "chunk_length", 97),
        (LSTMAutoencoderDetector, "chunk_windows", 7),
    ],
    ids=["forecast", "autoencoder"],
)
def test_chunked_scoring_equals_one_pass(
    cls: type, attribute: str, value: int, series, fitted
) -> None:
    frame, _ = series
    detector = fitted[cls]
    whole = detector.score_samples(frame)
    chunked = pickle.loads(pickle.dumps(detector))
    setattr(chunked, attribute, value)
    np.testing.assert_array_equal(chunked.score_samples(frame), whole)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
@pytest.mark.parametrize("cls", DETECTORS, ids=lambda cls: cls.__name__)
def test_pickle_round_trip_scores_identically(
    cls: type, dumps: object, series, fitted
) -> None:
    frame, _ = series
    restored = pickle.loads(dumps(fitted[cls]))  # type: ignore[operator]
    np.testing.assert_array_equal(
        restored.score_samples(frame), fitted[cls].score_samples(frame)
    )
    np.testing.assert_array_equal(restored.predict(frame), fitted[cls].predict(frame))


def test_torch_settings_are_restored(series) -> None:
    frame, _ = series
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    LSTMForecastDetector(seed=SEED, **{**SMALL, "epochs": 1}).fit(frame.iloc[:500])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_constructor_defaults_match_models_yaml() -> None:
    config = load_model_config("lstm")
    defaults = LSTMForecastDetector().get_params()
    assert config == {
        key: value for key, value in defaults.items() if key != "threshold"
    }
    assert config["threshold_quantile"] == 0.995


def test_from_config_applies_overrides() -> None:
    detector = LSTMAutoencoderDetector.from_config({"window": 12, "epochs": 2})
    assert (detector.window, detector.epochs) == (12, 2)
    assert detector.threshold is None and detector.threshold_quantile == 0.995
    with pytest.raises(ConfigError, match="unknown lstm parameter 'windw'"):
        LSTMForecastDetector.from_config({"windw": 12})


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"window": 0}, ConfigError, "window must be a whole number >= 1; got 0"),
        ({"hidden_size": 2.5}, ConfigError, "hidden_size must be a whole"),
        ({"learning_rate": 0.0}, ConfigError, "learning_rate must be a number > 0"),
        ({"window": 200}, DataError, "needs at least 402 training rows"),
    ],
)
def test_bad_parameters_are_refused(
    params: dict, error: type, message: str, series
) -> None:
    frame, _ = series
    with pytest.raises(error, match=message):
        LSTMForecastDetector(**{**SMALL, **params}).fit(frame.iloc[:400])
