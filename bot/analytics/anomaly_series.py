"""The daily cost series the anomaly detector scores, read from the store.

One series per team x service x account x currency (untagged spend is a team of its own,
`team` None), and one roll-up per team x currency (service and account None) whose row is the
sum of the team's series of that currency. Each row holds the `days` days ending on the run's
day, inclusive; nothing dated after it is read, so a run with `--date D` sees exactly what a
live run on D saw.

Which rows count follows the store's precedence (`queries.SERIES_ROWS`): FOCUS over Athena over
Cost Explorer per billing account and month, and of Cost Explorer's two groupings only the
team x service one, so its series are team x service (account None) and a dollar is never
counted twice. Sums are exact integers from SQL; the detector gets float dollars, and every
amount shown is summed again exactly (`MicroSeries.total`, `MicroSeries.total_on`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import sqlite_utils

from bot.analytics.anomalies import SeriesKey, SeriesSet
from bot.config import Config
from bot.store import queries

MICROS_PER_UNIT = 1_000_000


@dataclass(frozen=True)
class MicroSeries:
    """The series as exact integer micro-amounts (of each key's currency), rows and columns
    as in the `SeriesSet` made from it."""

    keys: list[SeriesKey]
    first_day: date
    micros: np.ndarray  # int64, shape (len(keys), days)
    team_row: np.ndarray  # int64: each row's roll-up row (a roll-up points to itself)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.micros.shape[1] - 1)

    def row_of(self, key: SeriesKey) -> int | None:
        return self._rows.get(key)

    @cached_property
    def _rows(self) -> dict[SeriesKey, int]:
        return {key: index for index, key in enumerate(self.keys)}

    def total(self, row: int, start: date, end: date) -> int:
        """The exact cost of a row over start..end (clipped to the loaded days)."""
        first = max((start - self.first_day).days, 0)
        last = min((end - self.first_day).days, self.micros.shape[1] - 1)
        if last < first:
            return 0
        return int(self.micros[row, first : last + 1].sum())

    def total_on(self, row: int, days: Sequence[date]) -> int:
        """The exact cost of a row over the given days (each within the loaded days)."""
        columns = [(day - self.first_day).days for day in days]
        return int(self.micros[row, columns].sum())

    def series_set(self) -> SeriesSet:
        """Float dollars for the detector (statistics only)."""
        return SeriesSet(
            keys=self.keys,
            first_day=self.first_day,
            cost=self.micros / MICROS_PER_UNIT,
            team_row=self.team_row,
        )


def load_series(db: sqlite_utils.Database, config: Config, until: date, days: int) -> SeriesSet:
    """The daily cost of every series over the `days` days ending on `until` (inclusive), in
    float dollars, for `bot.analytics.anomalies.detect`."""
    return load_series_micros(db, config, until, days).series_set()


def load_series_micros(
    db: sqlite_utils.Database, config: Config, until: date, days: int
) -> MicroSeries:
    """The same series as `load_series`, as exact integer micros.

    Rows are grouped per team x currency: the roll-up first, then the team's series in the
    store's order (untagged spend, team None, first)."""
    if days < 1:
        raise ValueError("a series needs at least one day")
    first = until - timedelta(days=days - 1)
    found = queries.series_day_micros(db, first, until, config.cost_metric)

    # One roll-up per team x currency, placed before that team's series.
    groups: dict[tuple[str | None, str], list[int]] = {}
    for index, (team, _service, _account, currency, *_cells) in enumerate(found):
        groups.setdefault((team, currency), []).append(index)
    ordered = sorted(groups, key=lambda g: (g[0] is not None, g[0] or "", g[1]))
    keys: list[SeriesKey] = []
    team_row: list[int] = []
    rollups: list[int] = []
    row_of_found = np.zeros(len(found), dtype=np.int64)  # where each series of the store goes
    for team, currency in ordered:
        rollup = len(keys)
        rollups.append(rollup)
        keys.append(SeriesKey(team, None, None, currency))
        team_row.append(rollup)
        for index in groups[team, currency]:
            _team, service, account, *_cells = found[index]
            row_of_found[index] = len(keys)
            keys.append(SeriesKey(team, service, account, currency))
            team_row.append(rollup)

    micros = np.zeros((len(keys), days), dtype=np.int64)
    if found:
        # Every series' day numbers and sums, parsed in one pass each, scattered to their rows.
        counts = np.array([text.count(",") + 1 for *_key, text, _ in found], dtype=np.int64)
        day_numbers = _integers(",".join(text for *_key, text, _ in found))
        day_sums = _integers(",".join(text for *_key, text in found))
        micros[np.repeat(row_of_found, counts), day_numbers] = day_sums
        # Each roll-up is the exact sum of its team's rows (integers: no rounding). A team's
        # rows follow its roll-up, whose row is still zero: one reduceat sums every group.
        micros[rollups] = np.add.reduceat(micros, rollups, axis=0)
    return MicroSeries(
        keys=keys, first_day=first, micros=micros, team_row=np.array(team_row, dtype=np.int64)
    )


def _integers(text: str) -> np.ndarray:
    """Comma-separated integers (as SQLite's group_concat writes them) as an int64 array."""
    return np.array(text.split(","), dtype=np.int64)
