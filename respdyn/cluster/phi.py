"""Phi-accrual failure detection: how sure are we that a silent node is down?

Sources: Hayashibara, Défago, Yared, Katayama, "The φ Accrual Failure Detector" (SRDS 2004);
Cassandra's ``FailureDetector``/``ArrivalWindow`` (threshold ``phi_convict_threshold`` = 8, a
window of the last 1000 inter-arrival times, gaps beyond a maximum ignored); Akka's detector for
``min_std`` and ``acceptable_pause`` (a floor on the deviation so perfectly regular heartbeats do
not make the detector twitchy, and a pause budget for GC stalls and the like).

Instead of a yes/no timeout, phi is the suspicion level ``-log10(P(a heartbeat arrives later than
now))`` given the inter-arrival times seen so far: phi = 1 means a 10% chance that declaring the
node down is a mistake, phi = 8 about 1e-8. The threshold adapts to each link's own rhythm.

Two models of the inter-arrival time:
- ``"normal"`` (the paper, Akka; default): mean and standard deviation of the window, with the
  deviation floored at `min_std` and `acceptable_pause` added to the mean. With heartbeats every
  ``m`` s of deviation ``s``, phi crosses 8 after ``m + acceptable_pause + 5.612 * max(s,
  min_std)`` s of silence (5.612 is the normal quantile of 1 - 1e-8).
- ``"exponential"`` (Cassandra): ``phi = elapsed / mean * log10(e)``, crossing 8 after ``18.4 *
  mean`` s; more tolerant of bursty gossip, slower to convict.

Pure: the caller passes the time (seconds, from a monotonic clock) to every call; nothing here
reads a clock. One detector per watched node.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

_LOG10_E = math.log10(math.e)
_LN10 = math.log(10)


@dataclass(slots=True)
class PhiDetector:
    """Suspicion that one node is down, from the arrival times of its heartbeats."""

    threshold: float = 8.0  #: phi at or above which the node is considered down (Cassandra: 8)
    window: int = 1000  #: inter-arrival times kept (Cassandra: 1000)
    min_std: float = 0.1  #: s; floor on the deviation, so regular beats don't convict on jitter
    acceptable_pause: float = 0.0  #: s; silence tolerated on top of the mean (GC pauses)
    first_interval: float = 1.0  #: s; assumed interval before any is measured (gossip period)
    max_interval: float | None = None  #: s; longer gaps are not learned (a node back from a
    #: partition would otherwise make the detector blind for the next thousand beats)
    model: Literal["normal", "exponential"] = "normal"
    _intervals: deque[float] = field(init=False, repr=False)
    _sum: float = field(default=0.0, init=False, repr=False)
    _squares: float = field(default=0.0, init=False, repr=False)
    _last: float | None = field(default=None, init=False, repr=False)
    _seeded: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.window < 2 or self.min_std <= 0 or self.first_interval <= 0:
            raise ValueError("phi detector needs window >= 2, min_std > 0, first_interval > 0")
        if self.model not in ("normal", "exponential"):
            raise ValueError(f"unknown model {self.model!r}")
        self._intervals = deque()

    def heartbeat(self, now: float) -> None:
        """A heartbeat from the node arrived at `now`."""
        if self._last is None:
            # seed with first_interval +- a quarter (as Akka) so phi is usable at once; the
            # seed is dropped at the first measured interval, so it never biases the window
            self._learn(self.first_interval * 0.75)
            self._learn(self.first_interval * 1.25)
            self._seeded = True
        else:
            interval = now - self._last
            if interval < 0:
                raise ValueError("heartbeat time went backwards")
            if self.max_interval is None or interval <= self.max_interval:
                if self._seeded:  # the first measurement replaces the guess
                    self._intervals.clear()
                    self._sum = self._squares = 0.0
                    self._seeded = False
                self._learn(interval)
        self._last = now

    def _learn(self, interval: float) -> None:
        if len(self._intervals) == self.window:
            old = self._intervals.popleft()
            self._sum -= old
            self._squares -= old * old
        self._intervals.append(interval)
        self._sum += interval
        self._squares += interval * interval

    @property
    def mean(self) -> float:
        return self._sum / len(self._intervals) if self._intervals else self.first_interval

    @property
    def std(self) -> float:
        if not self._intervals:
            return self.min_std
        mean = self.mean
        variance = max(self._squares / len(self._intervals) - mean * mean, 0.0)
        return max(math.sqrt(variance), self.min_std)

    def phi(self, now: float) -> float:
        """Suspicion level at `now`; 0.0 before the first heartbeat (nothing to suspect yet)."""
        if self._last is None:
            return 0.0
        elapsed = max(now - self._last, 0.0)
        mean = self.mean + self.acceptable_pause
        if self.model == "exponential":
            return elapsed / mean * _LOG10_E
        return _normal_phi((elapsed - mean) / self.std)

    def available(self, now: float) -> bool:
        return self.phi(now) < self.threshold


def _normal_phi(z: float) -> float:
    """-log10 of the normal tail probability P(X > mean + z * std)."""
    tail = 0.5 * math.erfc(z / math.sqrt(2))
    if tail > 0:
        return -math.log10(tail)
    # far tail (z > ~38): ln P ~ -z^2/2 - ln(z * sqrt(2 pi)); keeps phi finite and increasing
    return (z * z / 2 + math.log(z * math.sqrt(2 * math.pi))) / _LN10
