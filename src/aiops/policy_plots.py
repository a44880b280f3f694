"""Figures of a policy comparison: replicas against load, cost against SLO."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

from aiops.closed_loop import PolicyOutcome


def replicas_figure(outcomes: list[PolicyOutcome], columns: int = 4) -> Figure:
    """One panel per scenario: each policy's replicas over the judged window,
    with the entry load behind them."""
    scenarios = list(dict.fromkeys(o.scenario for o in outcomes))
    rows = math.ceil(len(scenarios) / columns)
    figure = Figure(figsize=(4.2 * columns, 2.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for panel, scenario in zip(axes.flat, scenarios, strict=False):
        mine = [o for o in outcomes if o.scenario == scenario]
        load_axis: Any = panel.twinx()
        load = mine[0].load
        load_axis.fill_between(load.index, load.to_numpy(), color="0.9", step="mid")
        load_axis.set_yticks([])
        panel.set_zorder(load_axis.get_zorder() + 1)
        panel.patch.set_visible(False)
        for outcome in mine:
            panel.plot(
                outcome.replicas.index,
                outcome.replicas.to_numpy(),
                linewidth=0.9,
                label=outcome.policy,
            )
        panel.set_title(scenario, fontsize=9)
        panel.tick_params(labelsize=7)
        panel.tick_params(axis="x", labelrotation=30)
    for panel in list(axes.flat)[len(scenarios) :]:
        panel.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=9)
    figure.supylabel("replicas (load shaded)")
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    return figure


def cost_slo_figure(outcomes: list[PolicyOutcome]) -> Figure:
    """Each policy's suite total, cost against SLO-violation minutes, with
    its per-scenario points beside it."""
    figure = Figure(figsize=(11, 4.2))
    total_axis, scenario_axis = figure.subplots(1, 2)
    policies = list(dict.fromkeys(o.policy for o in outcomes))
    for policy in policies:
        mine = [o for o in outcomes if o.policy == policy]
        cost = sum(o.metrics["cost_usd"] for o in mine)
        slo = sum(o.metrics["slo_violation_minutes"] for o in mine)
        total_axis.scatter(cost, slo, s=60, label=policy)
        total_axis.annotate(
            policy, (cost, slo), fontsize=8, xytext=(4, 4), textcoords="offset points"
        )
        scenario_axis.scatter(
            [o.metrics["cost_usd"] for o in mine],
            [o.metrics["slo_violation_minutes"] for o in mine],
            s=14,
            alpha=0.7,
            label=policy,
        )
    total_axis.set(
        xlabel="cost over the suite, $",
        ylabel="SLO-violation minutes",
        title="suite totals",
    )
    scenario_axis.set(xlabel="cost per scenario, $", title="per scenario")
    scenario_axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
