"""Planting bad rows: each bad row gets exactly one defect, and every planted row is counted.

A Planter hands out distinct rows of one source so that two defects never land on the same row; the source
module then overwrites one field per chosen row. Counts go into planted.json.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

INVALID_EMAILS = ("geen", "a@b", "n.v.t.", "-", "@", "test@test", "info@@example.nl", "jan devries@gmail.com")
BAD_DATES = ("31-02-2026", "2025-02-30", "gisteren", "00-00-0000", "32-13-2025", "morgen")
BAD_TIMESTAMPS = ("gisteren", "31-02-2026 10:15", "2025-13-01T09:00:00", "vorige week", "2025-02-30 25:61:00")
BAD_AMOUNTS = ("n.v.t.", "12,34,5", "EUR 12,50", "gratis", "1.2.3", "--5")
BAD_SCORES = ("11", "-1", "12", "100")


@dataclass
class SourceResult:
    """What a source module hands to the writer and to the truth."""

    columns: dict[str, pa.Array]
    record_ids: pa.Array  # one entry per distinct record (person truth)
    record_person: np.ndarray  # person_id per record id, 0 = not a person (anonymous)
    defects: dict[str, int] = field(default_factory=dict)
    variants: dict[str, int] = field(default_factory=dict)  # valid rows worth counting (older versions, ...)
    facts: dict[str, int] = field(default_factory=dict)  # other counts (subscribers, visitors, ...)
    bom: bool = False
    truncate_last_row: bool = False
    rows_written: int = -1
    free_text: tuple[str, ...] = ("email",)  # columns whose values may need quoting
    text: Callable[[int, int], dict[str, pa.Array]] | None = None  # lazy columns, rows [a, b)
    n_rows: int = 0  # with text
    email_rows: tuple | None = None  # (distinct e-mail values, rows per value) when cheaper than the column
    known: dict = field(default_factory=dict)  # what a later part of the generator reads (not written anywhere)

    @property
    def rows(self) -> int:
        if self.rows_written >= 0:
            return self.rows_written
        return self.n_rows if self.text is not None else len(next(iter(self.columns.values())))


class Planter:
    def __init__(self, rng: np.random.Generator, n_rows: int, rate: float = 0.002) -> None:
        self.rng = rng
        self.n = n_rows
        self.rate = rate
        self.used = np.zeros(n_rows, dtype=bool)
        self.counts: dict[str, int] = {}

    def how_many(self, rate: float | None = None) -> int:
        if self.n == 0:
            return 0
        return max(1, int(round(self.n * (self.rate if rate is None else rate))))

    def pick(
        self, kind: str, eligible: np.ndarray | None = None, k: int | None = None, rate: float | None = None
    ) -> np.ndarray:
        """Choose k fresh rows (sorted) for one defect kind and count them."""
        k = self.how_many(rate) if k is None else k
        ok = ~self.used if eligible is None else (~self.used & eligible)
        pool = np.flatnonzero(ok)
        k = min(k, len(pool))
        rows = np.sort(self.rng.choice(pool, size=k, replace=False)) if k else np.zeros(0, np.int64)
        self.used[rows] = True
        self.counts[kind] = self.counts.get(kind, 0) + k
        return rows

    def reserve(self, rows: np.ndarray) -> None:
        """Keep rows out of reach (e.g. rows other checks rely on)."""
        self.used[rows] = True

    def values(self, choices: tuple[str, ...], k: int) -> list[str]:
        return [choices[i] for i in self.rng.integers(0, len(choices), k)]


class Overrides:
    """Planted values per column and row, applied to each chunk of a lazily built source."""

    def __init__(self) -> None:
        self._parts: dict[str, list[tuple[np.ndarray, pa.Array]]] = {}
        self._ready: dict[str, tuple[np.ndarray, pa.Array]] = {}

    def set(self, column: str, rows: np.ndarray, values) -> None:
        vals = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
        self._parts.setdefault(column, []).append((np.asarray(rows, np.int64), vals.cast(pa.string())))
        self._ready.pop(column, None)

    def _column(self, column: str) -> tuple[np.ndarray, pa.Array]:
        if column not in self._ready:
            parts = self._parts[column]
            rows = np.concatenate([r for r, _ in parts])
            vals = pa.concat_arrays([v for _, v in parts])
            order = np.argsort(rows, kind="stable")
            self._ready[column] = (rows[order], vals.take(pa.array(order)))
        return self._ready[column]

    def apply(self, cols: dict[str, pa.Array], a: int, b: int) -> dict[str, pa.Array]:
        from .fields import replace_at

        for column in self._parts:
            rows, vals = self._column(column)
            lo, hi = np.searchsorted(rows, [a, b])
            if hi > lo:
                cols[column] = replace_at(cols[column], rows[lo:hi] - a, vals.slice(lo, hi - lo))
        return cols
