"""From scores and alarms to what a person is paged for: alarm segments and
their clean-up, and causal likelihoods that put scores on one [0, 1] scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from aiops.errors import ConfigError, DataError
from aiops.thresholds.static import _as_finite_scores


def alarm_segments(alarms: np.ndarray) -> list[tuple[int, int]]:
    """Return ``(start, stop)`` index pairs (stop exclusive) of runs of ones."""
    flags = np.asarray(alarms).astype(bool).astype(np.int8)
    edges = np.diff(np.concatenate(([0], flags, [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def postprocess_alarms(
    alarms: np.ndarray, min_duration: int = 1, merge_gap: int = 0, cooldown: int = 0
) -> np.ndarray:
    """Clean a 0/1 alarm sequence; returns a new int8 array.

    Steps, in this order:

    1. segments separated by at most ``merge_gap`` quiet steps are merged (the
       gap is filled with ones);
    2. segments shorter than ``min_duration`` steps are dropped;
    3. a segment starting fewer than ``cooldown`` steps after the end of the
       previous kept segment is dropped (one page per incident).
    """
    for name, number in (
        ("min_duration", min_duration),
        ("merge_gap", merge_gap),
        ("cooldown", cooldown),
    ):
        if number < 0 or int(number) != number:
            raise ConfigError(f"{name} must be a whole number >= 0; got {number!r}")
    flags = np.asarray(alarms)
    if flags.ndim != 1:
        raise DataError(f"alarms must be 1-D; got shape {flags.shape}")

    segments = alarm_segments(flags)
    merged: list[list[int]] = []
    for start, stop in segments:
        if merged and start - merged[-1][1] <= merge_gap:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])

    kept: list[list[int]] = []
    for start, stop in merged:
        if stop - start < min_duration:
            continue
        if kept and start - kept[-1][1] < cooldown:
            continue
        kept.append([start, stop])

    cleaned = np.zeros(flags.shape[0], dtype=np.int8)
    for start, stop in kept:
        cleaned[start:stop] = 1
    return cleaned


class AlarmFilter:
    """:func:`postprocess_alarms` for a stream: each step decided on the steps
    before it, so chunks can be cleaned as they arrive.

    A raw alarm pages only once ``min_duration`` consecutive raw alarms have
    been seen (from that step on, so the page comes ``min_duration - 1``
    steps late); a page then holds through quiet gaps of up to ``merge_gap``
    steps (it cannot know in advance that the gap will close, so it holds
    rather than fills); and a new page within ``cooldown`` steps of the end
    of the last one is suppressed. With all three at 0 the alarms pass
    unchanged.
    """

    def __init__(self, min_duration: int = 1, merge_gap: int = 0, cooldown: int = 0):
        for name, number in (
            ("min_duration", min_duration),
            ("merge_gap", merge_gap),
            ("cooldown", cooldown),
        ):
            if number < 0 or int(number) != number:
                raise ConfigError(f"{name} must be a whole number >= 0; got {number!r}")
        self.min_duration = max(1, int(min_duration))
        self.merge_gap = int(merge_gap)
        self.cooldown = int(cooldown)
        self._run = 0  # consecutive raw alarms so far
        self._paging = False
        self._quiet = 0  # quiet steps since the page's last raw alarm
        self._since_page = 1 << 62  # steps since the last page ended

    def filter(self, alarms: np.ndarray) -> np.ndarray:
        raw = np.asarray(alarms).astype(bool)
        out = np.zeros(raw.size, dtype=np.int8)
        for position, alarm in enumerate(raw.tolist()):
            self._run = self._run + 1 if alarm else 0
            if self._paging:
                self._quiet = 0 if alarm else self._quiet + 1
                if self._quiet > self.merge_gap:
                    self._paging = False
                    self._since_page = self._quiet - self.merge_gap - 1
            if not self._paging:
                self._since_page += 1
                confirmed = self._run >= self.min_duration
                if confirmed and self._since_page > self.cooldown:
                    self._paging, self._quiet = True, 0
            out[position] = self._paging
        return out


def anomaly_likelihood(
    scores: np.ndarray, short_window: int = 10, long_window: int = 2000
) -> np.ndarray:
    """Causal tail probability of the recent scores against their own past.

    The mean of the last ``short_window`` scores is compared with the mean and
    spread of the ``long_window`` scores before it, ``Phi((short - mean) / std)``
    - the idea of Numenta's anomaly likelihood (Ahmad et al., Neurocomputing
    2017). It puts the scores of different series and detectors on one [0, 1]
    scale without labels, which a corpus-wide threshold (NAB) needs. Steps with
    fewer than ``short_window`` past scores get 0.5.
    """
    z, warm = _causal_z(scores, short_window, long_window)
    likelihood = stats.norm.cdf(z)
    likelihood[~warm] = 0.5
    return np.asarray(likelihood, dtype=float)


def onset_likelihood(
    scores: np.ndarray,
    short_window: int = 1,
    long_window: int = 2000,
    quiet_steps: int = 100,
    decades: float = 50.0,
) -> np.ndarray:
    """A [0, 1] score that marks where anomalies begin, for NAB-style scoring.

    Two changes to :func:`anomaly_likelihood`. The tail probability is read
    on a log scale, ``-log10(1 - Phi(z)) / decades``, since ``Phi`` rounds to
    exactly 1 from z of about 8 and a corpus-wide threshold then cannot tell
    a strong anomaly from a weak one. And a step keeps its value only when it
    exceeds every value of the ``quiet_steps`` before it (else 0): one alarm
    at the onset of an episode rather than a run of them, since NAB rewards
    the first detection in a window and charges for every one outside.
    """
    if int(quiet_steps) != quiet_steps or quiet_steps < 0:
        raise ConfigError(f"quiet_steps must be a whole number >= 0; got {quiet_steps}")
    if not decades > 0:
        raise ConfigError(f"decades must be > 0; got {decades!r}")
    z, warm = _causal_z(scores, short_window, long_window)
    level = np.clip(-stats.norm.logsf(z) / np.log(10.0) / decades, 0.0, 1.0)
    level[~warm] = 0.0
    if quiet_steps == 0:
        return np.asarray(level, dtype=float)
    before = (
        pd.Series(level)
        .shift(1)
        .rolling(int(quiet_steps), min_periods=1)
        .max()
        .fillna(-1.0)
        .to_numpy()
    )
    return np.where(level > before, level, 0.0)


def _causal_z(
    scores: np.ndarray, short_window: int, long_window: int
) -> tuple[np.ndarray, np.ndarray]:
    """z of the mean of the last ``short_window`` scores against the
    ``long_window`` before them, and whether that past was long enough."""
    values = _as_finite_scores(scores)
    for name, number in (("short_window", short_window), ("long_window", long_window)):
        if int(number) != number or number < 1:
            raise ConfigError(f"{name} must be a whole number >= 1; got {number!r}")
    cumulative = np.r_[0.0, np.cumsum(values)]
    squares = np.r_[0.0, np.cumsum(values**2)]
    index = np.arange(values.size)

    recent_first = np.maximum(index + 1 - short_window, 0)
    recent = (cumulative[index + 1] - cumulative[recent_first]) / (
        index + 1 - recent_first
    )
    # The long window ends where the short one starts, so a burst does not
    # hide itself by raising its own baseline.
    past_stop = recent_first
    past_first = np.maximum(past_stop - long_window, 0)
    count = np.maximum(past_stop - past_first, 1)
    mean = (cumulative[past_stop] - cumulative[past_first]) / count
    variance = (squares[past_stop] - squares[past_first]) / count - mean**2
    spread = np.sqrt(np.maximum(variance, 0.0))
    floor = 1e-6 * max(float(np.abs(values).max()), 1e-12)
    z = (recent - mean) / np.maximum(spread, floor)
    warm = past_stop - past_first >= short_window
    return z, warm
