"""Registered model names: one detector per system profile."""

from __future__ import annotations

import pytest

from aiops.registry import detector_model_name


@pytest.mark.parametrize(
    ("profile", "name"),
    [
        ("production", "aiops-anomaly-lstm"),
        ("experimental", "aiops-anomaly-lstm-experimental"),
        ("development", "aiops-anomaly-lstm-development"),
    ],
)
def test_each_profile_registers_its_own_detector(profile: str, name: str) -> None:
    assert detector_model_name(profile) == name
