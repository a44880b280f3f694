"""Figures of forecasts with their quantile bands, and of feature importance.

Built on matplotlib's object API (``Figure``), never pyplot: no global state,
safe in threads and on headless machines.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def forecast_figure(
    y: pd.Series,
    origins: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str,
    n_windows: int = 4,
) -> Figure:
    """The last ``n_windows`` forecasts drawn over the observed series.

    Shaded bands run from the lowest to the highest quantile and between the
    quantiles nearest the median; the line is the ``mean`` forecast.
    """
    horizon = forecasts["mean"].shape[1]
    chosen = range(max(0, len(origins) - n_windows), len(origins))
    first = int(origins[chosen[0]]) - 2 * horizon
    last = int(origins[chosen[-1]]) + horizon
    shown = y.iloc[max(0, first) : last + 1]

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    axes = figure.subplots()
    axes.plot(shown.index, shown.to_numpy(), color="black", lw=0.8, label="observed")
    quantiles = sorted(
        (float(name[1:]), name) for name in forecasts if name.startswith("q")
    )
    for k, i in enumerate(chosen):
        times = y.index[int(origins[i]) + 1 : int(origins[i]) + 1 + horizon]
        label = "forecast" if k == 0 else None
        if len(quantiles) >= 2:
            low, high = quantiles[0][1], quantiles[-1][1]
            axes.fill_between(
                times,
                forecasts[low][i],
                forecasts[high][i],
                color="tab:blue",
                alpha=0.15,
                lw=0,
                label=None if label is None else f"{low}-{high}",
            )
        inner = [name for alpha, name in quantiles if 0.1 <= alpha <= 0.9]
        if len(inner) >= 2:
            axes.fill_between(
                times,
                forecasts[inner[0]][i],
                forecasts[inner[-1]][i],
                color="tab:blue",
                alpha=0.3,
                lw=0,
                label=None if label is None else f"{inner[0]}-{inner[-1]}",
            )
        axes.plot(times, forecasts["mean"][i], color="tab:blue", lw=1.2, label=label)
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small")
    axes.grid(alpha=0.3)
    return figure


def importance_figure(importance: Mapping[str, float], title: str) -> Figure:
    """Horizontal bars of the largest feature importances (gain share)."""
    top = sorted(importance.items(), key=lambda item: item[1])[-15:]
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.barh([name for name, _ in top], [value for _, value in top])
    axes.set_xlabel("share of total gain")
    axes.set_title(title)
    return figure
