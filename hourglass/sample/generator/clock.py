"""The calendar everything happens on: the history window before as_of, and the season's rhythm.

Times are naive local seconds since 1970-01-01; days are day numbers since 1970-01-01.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .fields import DAY, day_number

# A theatre season runs September to June: quiet in summer, busiest in December.
MONTH_FACTOR = np.array([0.0, 0.9, 1.0, 1.05, 1.0, 0.85, 0.55, 0.2, 0.3, 1.0, 1.1, 1.2, 1.55])
WEEKDAY_FACTOR = np.array([0.85, 0.9, 0.95, 1.0, 1.05, 1.25, 1.0])  # Monday ... Sunday


@dataclass(frozen=True)
class Clock:
    as_of: dt.date
    years: float = 3.0

    @property
    def end(self) -> int:
        """First day after the history (as_of itself: the export runs early that morning)."""
        return day_number(self.as_of)

    @property
    def start(self) -> int:
        return self.end - int(round(365.25 * self.years))

    def window(self, days: int) -> tuple[int, int]:
        return max(self.start, self.end - days), self.end

    @staticmethod
    def season_weights(lo: int, hi: int, growth: float = 0.15) -> np.ndarray:
        """Relative activity per day in [lo, hi): seasonality, weekday rhythm and slow growth."""
        days = np.arange(lo, hi)
        d64 = days.astype("datetime64[D]")
        month = (d64.astype("datetime64[M]").astype(np.int64) % 12) + 1
        weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
        trend = 1.0 + growth * (days - lo) / max(hi - lo, 1)
        w = MONTH_FACTOR[month] * WEEKDAY_FACTOR[weekday] * trend
        return w / w.sum()

    def seasonal_days(
        self, rng: np.random.Generator, n: int, lo: int | None = None, hi: int | None = None
    ) -> np.ndarray:
        lo = self.start if lo is None else lo
        hi = self.end if hi is None else hi
        return lo + rng.choice(hi - lo, size=n, p=self.season_weights(lo, hi))

    @staticmethod
    def times_of_day(rng: np.random.Generator, n: int, profile: str = "evening") -> np.ndarray:
        """Seconds into the day: 'evening' peaks after dinner, 'office' during working hours."""
        if profile == "office":
            hours = np.clip(rng.normal(13.0, 2.6, n), 7.5, 21.9)
        else:
            hours = np.where(rng.random(n) < 0.55, rng.normal(20.5, 1.6, n), rng.normal(12.5, 3.0, n))
            hours = np.clip(hours, 6.0, 23.99)
        return (hours * 3600).astype(np.int64) % DAY
