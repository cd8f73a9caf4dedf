"""Phi-accrual detector on synthetic heartbeat sequences (time is passed in, in seconds)."""

from __future__ import annotations

import math
import random

import pytest

from respdyn.cluster.phi import PhiDetector

Z8 = 5.612  # normal quantile of 1 - 1e-8: where phi reaches 8


def beats(detector: PhiDetector, times: list[float]) -> PhiDetector:
    for t in times:
        detector.heartbeat(t)
    return detector


def regular(count: int, every: float = 1.0) -> list[float]:
    return [i * every for i in range(count)]


def crossing(detector: PhiDetector, start: float, step: float = 0.001) -> float:
    """Seconds of silence after `start` until the detector declares the node down."""
    t = start
    while detector.available(t):
        t += step
    return t - start


def test_no_heartbeat_yet_means_no_suspicion() -> None:
    detector = PhiDetector()
    assert detector.phi(1e6) == 0.0 and detector.available(1e6)


@pytest.mark.parametrize(
    ("elapsed", "low", "high"),
    [(0.0, 0.0, 0.01), (0.5, 0.0, 0.01), (1.0, 0.2, 0.4), (1.3, 2.5, 3.5), (1.5, 6.0, 7.5)],
)
def test_regular_arrivals_phi(elapsed: float, low: float, high: float) -> None:
    detector = beats(PhiDetector(), regular(100))
    assert low <= detector.phi(99 + elapsed) <= high


@pytest.mark.parametrize(
    ("kwargs", "predicted"),
    [
        ({}, 1.0 + Z8 * 0.1),  # regular beats: deviation is the min_std floor
        ({"min_std": 0.5}, 1.0 + Z8 * 0.5),
        ({"acceptable_pause": 3.0}, 4.0 + Z8 * 0.1),
    ],
)
def test_silence_crosses_threshold_when_predicted(kwargs: dict, predicted: float) -> None:
    detector = beats(PhiDetector(**kwargs), regular(200))
    assert crossing(detector, 199) == pytest.approx(predicted, abs=0.01)


def test_jittered_arrivals_use_measured_deviation() -> None:
    rng = random.Random(7)
    t, times = 0.0, []
    for _ in range(1000):
        t += max(0.05, rng.gauss(1.0, 0.2))
        times.append(t)
    detector = beats(PhiDetector(), times)
    assert detector.mean == pytest.approx(1.0, abs=0.03)
    assert detector.std == pytest.approx(0.2, abs=0.02)
    predicted = detector.mean + Z8 * detector.std
    assert crossing(detector, t) == pytest.approx(predicted, abs=0.01)


def test_exponential_model_matches_cassandra() -> None:
    detector = beats(PhiDetector(model="exponential"), regular(50, every=2.0))
    assert detector.phi(98 + 2.0) == pytest.approx(2.0 / 2.0 * math.log10(math.e), rel=0.01)
    assert crossing(detector, 98, step=0.01) == pytest.approx(8 * math.log(10) * 2.0, abs=0.05)


def test_window_forgets_old_intervals() -> None:
    detector = PhiDetector(window=100)
    beats(detector, regular(500, every=1.0))
    beats(detector, [499 + 3.0 * i for i in range(1, 101)])
    assert detector.mean == pytest.approx(3.0)


def test_long_gaps_are_not_learned() -> None:
    detector = beats(PhiDetector(max_interval=5.0), regular(10))
    detector.heartbeat(9 + 600.0)  # back after a partition
    detector.heartbeat(9 + 601.0)
    assert detector.mean == pytest.approx(1.0, abs=0.05)
    assert not detector.available(9 + 601.0 + 3.0)


def test_phi_increases_with_silence_and_stays_finite() -> None:
    detector = beats(PhiDetector(), regular(10))
    values = [detector.phi(9 + s) for s in (0.5, 1, 1.5, 2, 5, 50, 5000)]
    assert values == sorted(values)
    assert math.isfinite(values[-1]) and values[-1] > 1000


def test_recovery_after_heartbeat() -> None:
    detector = beats(PhiDetector(), regular(10))
    assert not detector.available(20.0)
    detector.heartbeat(20.0)
    assert detector.available(20.5)


@pytest.mark.parametrize(
    "kwargs",
    [{"window": 1}, {"min_std": 0}, {"first_interval": 0}, {"model": "poisson"}],
)
def test_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PhiDetector(**kwargs)


def test_time_going_backwards_is_refused() -> None:
    detector = beats(PhiDetector(), [10.0])
    with pytest.raises(ValueError):
        detector.heartbeat(9.0)


def test_first_interval_is_a_guess_until_measured() -> None:
    detector = beats(PhiDetector(first_interval=2.0), [0.0])
    assert detector.mean == pytest.approx(2.0)
    assert detector.available(3.0) and not detector.available(10.0)
    detector.heartbeat(0.5)
    assert detector.mean == pytest.approx(0.5) and detector.std == pytest.approx(0.1)
