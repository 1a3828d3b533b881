"""Cost anomaly detection: plain functions over numpy arrays of daily cost, vectorised over
every series at once (50,000 series x 400 days are scored in seconds).

The contract the rest of Costbot relies on (the job in `jobs/anomalies.py`, the chart, the
benchmark in `bench/anomaly_bench.py`):

- `SeriesSet`: one row per series, one column per day, ending on the run's day. Costs in
  dollars (float64: statistics only; every amount shown comes from the store's exact sums).
- `detect(series, settings, ...)` -> the `Finding`s active on the last day: the series that are
  anomalous on it (or drifting), each with its kind and the first day of its event.
- `expected_band(row, settings, days)` -> what the chart draws for one series.

The detector sees only the columns it is given, so a run with `--date D` (the columns end on
D) finds exactly what a live run on D found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from bot.config import AnomalySettings
from bot.money import cents

KINDS = ("spike", "shift", "drift", "new")


@dataclass(frozen=True)
class SeriesKey:
    """What a series is about. A team roll-up has `service` and `account` None; untagged spend
    has `team` None."""

    team: str | None
    service: str | None
    account: str | None
    currency: str

    @property
    def is_rollup(self) -> bool:
        return self.service is None and self.account is None

    @property
    def text(self) -> str:
        """The key as stored (anomaly_episodes.series, anomaly_mutes.series)."""
        return "|".join(part or "" for part in (self.team, self.service, self.account)) + (
            f"|{self.currency}"
        )


@dataclass(frozen=True)
class SeriesSet:
    keys: list[SeriesKey]
    first_day: date  # the day of column 0; the last column is the run's day
    cost: np.ndarray  # float64, shape (len(keys), days): dollars per day, 0.0 where no cost
    # For each row, the row of its team's roll-up (a roll-up row points to itself): the dollar
    # floor of a series is a share of its team's daily spend.
    team_row: np.ndarray  # int64, shape (len(keys),)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.cost.shape[1] - 1)

    def day_of(self, column: int) -> date:
        return self.first_day + timedelta(days=int(column))


@dataclass(frozen=True)
class Finding:
    """A series anomalous on the run's day (spike, shift, new) or over recent weeks (drift)."""

    row: int  # the series' row in the SeriesSet
    kind: str  # one of KINDS
    start: date  # the first anomalous day of this event
    expected_per_day: float  # dollars: the baseline over the event's days
    actual_per_day: float  # dollars: the mean actual over the event's days
    score: float  # the robust score of the event (how many noise scales above the baseline)


@dataclass(frozen=True)
class Band:
    """The chart of one series: the last `days` days, what was expected each day (with its
    band) and which days were anomalous."""

    first_day: date
    actual: np.ndarray  # dollars per day
    expected: np.ndarray
    low: np.ndarray
    high: np.ndarray
    anomalous: np.ndarray  # bool


@dataclass(frozen=True)
class Cause:
    """One part of an anomaly's increase (`bot.analytics.root_cause`): where it is, and its
    share of the increase (0..1)."""

    service: str | None
    account: str | None
    region: str | None
    sku: str | None
    share: Decimal  # of the whole increase, rounded to 0.01
    increase_micros: int  # per day

    def as_json(self) -> dict[str, object]:
        return {
            "service": self.service,
            "account": self.account,
            "region": self.region,
            "sku": self.sku,
            "share": str(self.share),
        }


# "about $M a month if it persists": the increase per day times an average month.
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Alert:
    """One anomaly as posted (or, in a dry run, as it would be): what the job builds, the
    renderer shows and `--json` prints. Amounts are exact micro-amounts of `key.currency`
    per day: `actual_micros` is the mean of the store's sums over the anomalous days,
    `expected_micros` the detector's baseline rounded to the cent."""

    key: SeriesKey
    kind: str  # one of KINDS
    start: date  # the first anomalous day
    day: date  # the run's day: the data ends on it
    expected_micros: int
    actual_micros: int
    channel: str
    root_cause: tuple[Cause, ...] = ()
    episode_id: int | None = None  # None in a dry run: nothing is recorded
    follow_up: bool = False  # an earlier alert of the same episode grew a lot since
    account_name: str | None = None
    band: Band | None = None  # the chart's series, when it was computed

    @property
    def increase_micros(self) -> int:
        return self.actual_micros - self.expected_micros

    @property
    def increase_percent(self) -> Decimal | None:
        """+Z%, to a whole percent; None when nothing was expected (new spend)."""
        if self.expected_micros <= 0:
            return None
        ratio = Decimal(self.increase_micros * 100) / Decimal(self.expected_micros)
        return ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP)

    @property
    def monthly_micros(self) -> int:
        return self.increase_micros * DAYS_PER_MONTH

    def as_json(self) -> dict[str, object]:
        return {
            "team": self.key.team,
            "service": self.key.service,
            "account": self.key.account,
            "currency": self.key.currency,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "expected_per_day": str(cents(self.expected_micros)),
            "actual_per_day": str(cents(self.actual_micros)),
            "increase_per_day": str(cents(self.increase_micros)),
            "channel": self.channel,
            "follow_up": self.follow_up,
            "episode_id": self.episode_id,
            "root_cause": [cause.as_json() for cause in self.root_cause],
        }


def detect(
    series: SeriesSet,
    settings: AnomalySettings,
    *,
    adopted_from: dict[int, date] | None = None,
) -> list[Finding]:
    """The findings active on the last day of `series`. `adopted_from`: rows whose level from
    that day on was marked "Expected" by someone: from then on that level is normal."""
    raise NotImplementedError


def expected_band(
    row: np.ndarray, first_day: date, settings: AnomalySettings, days: int = 60
) -> Band:
    """The expected level and band of one series over its last `days` days, each day judged
    as a live run on that day would have judged it."""
    raise NotImplementedError
