"""LSTM anomaly detectors (PyTorch, CPU, deterministic).

Both detectors learn what normal multivariate telemetry looks like and score a
time step by how badly the network reproduces it, in standardised units:

* :class:`LSTMForecastDetector` predicts the next step from the past; the score
  is the squared forecast error summed over metrics.
* :class:`LSTMAutoencoderDetector` compresses a window into one hidden state and
  rebuilds it; the score is the squared reconstruction error summed over metrics.

Training draws random windows from the training part; scoring passes over the
series once (the forecaster runs the LSTM along the whole sequence carrying its
hidden state, the autoencoder tiles it with non-overlapping windows), so its cost
is linear in the length. Defaults live in ``models/lstm.yaml``; build a detector
from them with :meth:`LSTMForecastDetector.from_config`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from aiops.config import load_model_config
from aiops.detectors._torch import (
    gather_windows,
    torch_runtime,
    train_with_early_stopping,
    window_starts,
)
from aiops.detectors.base import BaseDetector, StreamingScorer
from aiops.errors import ConfigError

logger = logging.getLogger(__name__)

CONFIG_FAMILY = "lstm"


class _ForecastNetwork(nn.Module):
    def __init__(self, n_features: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_features)

    def forward(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        outputs, state = self.lstm(inputs, state)
        return self.head(outputs), state


class _AutoencoderNetwork(nn.Module):
    def __init__(self, n_features: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.encoder = nn.LSTM(n_features, hidden_size, num_layers, batch_first=True)
        self.decoder = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_features)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.encoder(windows)
        # The last layer's final state is the code; the decoder unrolls it.
        code = hidden[-1].unsqueeze(1).expand(-1, windows.shape[1], -1)
        outputs, _ = self.decoder(code)
        return self.head(outputs)


class _LSTMDetector(BaseDetector):
    """Parameters and training set-up shared by the two LSTM detectors.

    Parameters
    ----------
    window : int
        Steps of context (forecaster) or window length (autoencoder).
    hidden_size, num_layers : int
        LSTM size.
    learning_rate : float
        Adam step size.
    epochs : int
        Upper bound on passes; each pass draws ``windows_per_epoch`` windows.
    batch_size : int
    patience : int
        Epochs without a better validation loss before training stops; the
        weights of the best epoch are kept.
    validation_fraction : float
        Trailing share of the series held out for early stopping and threshold.
    seed : int
        Seeds weight initialisation and window sampling.
    windows_per_epoch : int
        Random training windows per epoch; caps cost on long series.
    threshold : dict or None
        Threshold spec for :func:`aiops.thresholds.threshold_from_dict`, e.g.
        ``{"kind": "pot", "risk": 1e-3}``; ``None`` means a quantile threshold.
    threshold_quantile : float
        Quantile of the validation scores used when ``threshold`` is None.
    require_regular : bool
        Refuse a ``DatetimeIndex`` that is not a regular grid. ``False`` treats
        the rows as an evenly spaced sequence whatever their stamps.
    """

    def __init__(
        self,
        window: int = 30,
        hidden_size: int = 32,
        num_layers: int = 1,
        learning_rate: float = 1e-3,
        epochs: int = 8,
        batch_size: int = 128,
        patience: int = 3,
        validation_fraction: float = 0.2,
        seed: int = 0,
        windows_per_epoch: int = 4096,
        threshold: dict[str, Any] | None = None,
        threshold_quantile: float = 0.995,
        require_regular: bool = True,
    ) -> None:
        self.window = window
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.windows_per_epoch = windows_per_epoch
        self.threshold = threshold
        self.threshold_quantile = threshold_quantile
        self.require_regular = require_regular

    @classmethod
    def from_config(cls, overrides: dict[str, Any] | None = None) -> Self:
        """Build from ``models/lstm.yaml`` with ``overrides`` applied on top."""
        config = load_model_config(CONFIG_FAMILY, overrides)
        unknown = sorted(set(config) - set(cls._get_param_names()))
        if unknown:
            raise ConfigError(
                f"models/{CONFIG_FAMILY}.yaml holds keys {unknown} that "
                f"{cls.__name__} does not take; remove them"
            )
        return cls(**config)

    def _check_params(self) -> None:
        for name in ("window", "hidden_size", "num_layers", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1; got {value!r}")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            raise ConfigError(f"learning_rate must be a number > 0; got {rate!r}")

    def _context_length(self) -> int:
        return int(self.window)

    def _errors(self, standardised: np.ndarray) -> np.ndarray:
        """Squared standardised error per step and metric, shape ``(n, F)``."""
        raise NotImplementedError

    def _score(self, standardised: np.ndarray) -> np.ndarray:
        return self._errors(standardised).sum(axis=1)

    def _attribute(self, standardised: np.ndarray) -> np.ndarray:
        return self._errors(standardised)

    def _train(
        self,
        standardised: np.ndarray,
        n_train: int,
        sequence_length: int,
        batch_loss: Any,
    ) -> None:
        train = standardised[:n_train].astype(np.float32)
        rng = np.random.default_rng(self.seed)

        def make_batches(
            generator: np.random.Generator,
        ) -> Iterator[tuple[np.ndarray, ...]]:
            starts = window_starts(
                generator, train.shape[0], sequence_length, self.windows_per_epoch
            )
            for first in range(0, starts.size, self.batch_size):
                chunk = starts[first : first + self.batch_size]
                yield (gather_windows(train, chunk, sequence_length),)

        def validation_loss() -> float:
            return float(self._errors(standardised)[n_train:].mean())

        started = time.perf_counter()
        losses, validation, best = train_with_early_stopping(
            self.network_,
            make_batches,
            batch_loss,
            validation_loss,
            epochs=self.epochs,
            patience=self.patience,
            learning_rate=self.learning_rate,
            rng=rng,
        )
        self.train_losses_ = losses
        self.validation_losses_ = validation
        self.best_epoch_ = best
        logger.info(
            "%s trained %d epochs in %.1f s, best validation loss %.4f (epoch %d)",
            type(self).__name__,
            len(losses),
            time.perf_counter() - started,
            validation[best],
            best,
        )


class LSTMForecastDetector(_LSTMDetector):
    """Next-step LSTM forecaster; score = summed squared forecast error.

    Training sequences hold ``2 * window`` steps; the loss covers the
    predictions made with at least ``window`` steps of context. Scoring runs the
    LSTM once along the series (in chunks of ``chunk_length`` steps that carry
    the hidden state), so every prediction uses the full history. The first
    ``window`` steps score 0 (the lowest possible score) and attribute 0, since
    they lack the context the model was trained with.
    """

    #: Steps per forward call when scoring; chunks carry the LSTM state.
    chunk_length = 4096

    def _min_train_length(self) -> int:
        return 2 * int(self.window) + 2

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        window = int(self.window)
        with torch_runtime(self.seed):
            self.network_ = _ForecastNetwork(
                standardised.shape[1], self.hidden_size, self.num_layers
            )

            def batch_loss(sequences: torch.Tensor) -> torch.Tensor:
                predictions, _ = self.network_(sequences[:, :-1], None)
                # Output i forecasts step i + 1; keep those with >= window context.
                errors = predictions[:, window - 1 :] - sequences[:, window:]
                return errors.pow(2).mean()

            self._train(standardised, n_train, 2 * window + 1, batch_loss)

    def _errors(self, standardised: np.ndarray) -> np.ndarray:
        stream = _ForecastStream(self)
        return stream.errors(standardised)

    def streaming_scorer(self) -> StreamingScorer:
        """Carries the LSTM state and the last row from chunk to chunk, so
        scoring a series in chunks gives the scores of one pass."""
        self._check_fitted()
        return _ForecastStream(self)


class _ForecastStream(StreamingScorer):
    """One pass of the forecaster over a series that arrives in pieces."""

    def __init__(self, detector: LSTMForecastDetector) -> None:
        self.detector = detector
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.previous: np.ndarray | None = None  # last row seen, float32
        self.rows_seen = 0

    def score_chunk(
        self, X: pd.DataFrame | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        errors = self.errors(self.detector._standardise(X, check_length=False))
        return errors.sum(axis=1), errors

    def errors(self, standardised: np.ndarray) -> np.ndarray:
        """Squared errors of the next ``len(standardised)`` rows, ``(n, F)``."""
        values = standardised.astype(np.float32)
        n_rows, n_features = values.shape
        errors = np.zeros((n_rows, n_features), dtype=np.float32)
        if n_rows == 0:
            return errors.astype(np.float64)
        # Row i is forecast from everything before it: the previous chunk's
        # last row opens this chunk's inputs.
        if self.previous is None:
            inputs, offset = values[:-1], 1
        else:
            inputs, offset = np.vstack([self.previous[None, :], values[:-1]]), 0
        network = self.detector.network_
        length = self.detector.chunk_length

        with torch_runtime(), torch.no_grad():
            for first in range(0, inputs.shape[0], length):
                piece = torch.from_numpy(inputs[first : first + length]).unsqueeze(0)
                predictions, self.state = network(piece, self.state)
                rows = slice(offset + first, offset + first + piece.shape[1])
                targets = torch.from_numpy(values[rows])
                errors[rows] = (predictions[0] - targets).pow(2).numpy()

        # Rows with less history than the training context score 0.
        warm_up = max(0, int(self.detector.window) - self.rows_seen)
        errors[:warm_up] = 0.0
        self.previous = values[-1].copy()
        self.rows_seen += n_rows
        return errors.astype(np.float64)


class LSTMAutoencoderDetector(_LSTMDetector):
    """LSTM encoder-decoder over windows; score = summed squared reconstruction
    error of each step.

    Scoring tiles the series with non-overlapping windows of ``window`` steps
    (the last one aligned to the end, so it may overlap its neighbour, whose
    errors it overwrites), reconstructing ``chunk_windows`` windows per call.
    Every step, the first ones included, gets a score.
    """

    #: Windows per forward call when scoring.
    chunk_windows = 1024

    def _fit(self, standardised: np.ndarray, n_train: int) -> None:
        with torch_runtime(self.seed):
            self.network_ = _AutoencoderNetwork(
                standardised.shape[1], self.hidden_size, self.num_layers
            )

            def batch_loss(windows: torch.Tensor) -> torch.Tensor:
                return (self.network_(windows) - windows).pow(2).mean()

            self._train(standardised, n_train, int(self.window), batch_loss)

    def _errors(self, standardised: np.ndarray) -> np.ndarray:
        window = int(self.window)
        n_rows = standardised.shape[0]
        starts = np.arange(0, n_rows - window + 1, window)
        if starts[-1] + window < n_rows:
            starts = np.append(starts, n_rows - window)
        values = standardised.astype(np.float32)
        errors = np.zeros(standardised.shape, dtype=np.float32)

        with torch_runtime(), torch.no_grad():
            for first in range(0, starts.size, self.chunk_windows):
                chunk = starts[first : first + self.chunk_windows]
                windows = torch.from_numpy(gather_windows(values, chunk, window))
                squared = (self.network_(windows) - windows).pow(2).numpy()
                for start, rows in zip(chunk, squared, strict=True):
                    errors[start : start + window] = rows
        return errors.astype(np.float64)
