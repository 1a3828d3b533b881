"""Cost anomaly detection: plain functions over numpy arrays of daily cost, vectorised over
every series at once (50,000 series x 400 days are scored in seconds).

The contract the rest of Costbot relies on (the job in `jobs/anomalies.py`, the chart, the
benchmark in `bench/anomaly_bench.py`):

- `SeriesSet`: one row per series, one column per day, ending on the run's day. Costs in
  dollars (float64: statistics only; every amount shown comes from the store's exact sums).
- `detect(series, settings, ...)` -> the `Finding`s active on the last day: the series that are
  anomalous on it (or drifting), each with its kind and the first day of its event.
- `expected_band(row, first_day, settings, days)` -> what the chart draws for one series.

The detector sees only the columns it is given, so a run with `--date D` (the columns end on
D) finds exactly what a live run on D found.
"""

from __future__ import annotations

import json
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
        """The key as stored (anomaly_episodes.series, anomaly_mutes.series): JSON, so that a
        tag value with any character in it never makes two series one."""
        return json.dumps([self.team, self.service, self.account, self.currency])


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
    # The days `actual_per_day` and `expected_per_day` are the means of: the event's anomalous
    # days (not its quiet days between), a drift's recent days. The job sums the store's exact
    # cost over these.
    days: tuple[date, ...] = ()


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


# --- the detector -------------------------------------------------------------------------
#
# Every series is judged on log cost (days without cost are missing, not zero: log 0 has no
# meaning and a zero is a gap, not a fall). The expected log cost of day d is the level of the
# series plus its day-of-week effect, learnt from the `baseline_days` days before d (two
# passes: fit, drop the days far from the fit, fit again). The noise scale is the median
# absolute deviation of what is left, never under `noise_floor`. A day's score is how many
# noise scales it is above its expected cost, in relative terms: (actual / expected - 1) /
# scale, so that an increase of k times the noise scores about k.
#
# Most series are quiet on most days: one fit of the run's day over every series finds the
# few that are not (candidates); only those are replayed day by day over the last weeks
# (`_replay`), which knows what one day cannot: when an event began, and when a raised level has
# lasted `shift_days` days and become the normal one.

# A day further than this many noise scales from the first fit is left out of the second.
_OUTLIER_SCALES = 3.0
# A day is a candidate for the replay when it scores this much against the run's day fit (an
# ongoing event missed on one day is found again the next with the same start: the replay
# keeps no state between runs).
_CANDIDATE_SCORE = 3.0
# An event goes on while its days score at least this much (and it is above its expected).
_CONTINUE_SCORE = 2.0
# An event ends after this many days in a row under _CONTINUE_SCORE.
_GAP_DAYS = 2
# An event is a "shift" from its third day on.
_SHIFT_KIND_DAYS = 3
# A series with cost on fewer than this share of its days is sparse: a day is judged against
# the largest charge of its baseline, not its typical one.
_DENSE_SHARE = 0.7
_SPARSE_SCALES = 4.0  # a sparse series' noise is at least this many noise floors
# Drift: the median of the last _RECENT_DAYS days against the _BEFORE_DAYS days that ended
# _DRIFT_GAP days before them (a gap, so that a ramp of some weeks is seen whole).
_RECENT_DAYS = 14
_DRIFT_GAP = 14
_BEFORE_DAYS = 28
# A drift's days are looked back on this far (to know how long it has been alerted), and a
# drift goes on through this many quiet days (it is slow: a dip of a few days is noise).
_DRIFT_LOOKBACK = 21
_DRIFT_GAP_DAYS = 7
# A rise is a step, not a drift, when this share of it happened from one week to the next.
_STEP_SHARE = 0.6
# Month-start charges: the month starts of the last _MONTH_STARTS months are what day 1 is
# expected to be like.
_MONTH_STARTS = 3
_MAD_TO_SIGMA = 1.4826
# The standard deviation of a normal cut at 3 of them is 0.9866 of the whole.
_TRUNCATED_SD = 1 / 0.9866
_NEW_SCORE_CAP = 99.0
# The data must reach this many days before a day for the day to be judged at all.
_MIN_HISTORY_DAYS = 14


def _scan_days(settings: AnomalySettings) -> int:
    """How far back the replay starts: far enough that a shift adopted as normal is still
    known when the drift check's window sees it."""
    return _RECENT_DAYS + _DRIFT_GAP + _BEFORE_DAYS + settings.shift_days + 2


def _event_replay_days(settings: AnomalySettings) -> int:
    """How far back the replay of events starts: an event going on began at most shift_days
    (plus its quiet days) ago; the weeks before settle the level it is judged against."""
    return 4 * settings.shift_days + 10


def _masked_median(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the valid values along the last axis (nan where none), and their count."""
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], np.nan), np.zeros(values.shape[:-1], int)
    data = np.where(valid, values, np.nan)
    data.sort(axis=-1)  # nan sorts last
    count = valid.sum(axis=-1)
    low = np.maximum(count - 1, 0) // 2
    high = np.minimum(count // 2, values.shape[-1] - 1)
    a = np.take_along_axis(data, low[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(data, high[..., None], axis=-1)[..., 0]
    median = np.where(count > 0, (a + b) / 2, np.nan)
    return median, count


def _month_starts(first_day: date, days: int) -> np.ndarray:
    """For each column, True on the first day of a month."""
    first = np.datetime64(first_day, "D")
    stamps = first + np.arange(days)
    return stamps.astype("datetime64[M]").astype("datetime64[D]") == stamps


@dataclass
class _Fit:
    """The baseline of one day for a set of rows (logs; nan where it cannot be told)."""

    expected: np.ndarray  # log of the expected cost of the day
    scale: np.ndarray  # noise scale (relative)
    history: np.ndarray  # bool: the series had cost in its baseline window
    sparse: np.ndarray  # bool
    level: np.ndarray  # the level without the day's weekday effect (drift uses it)
    dow: np.ndarray  # (rows, 7) weekday effects, by column index mod 7


def _fit_window(
    y: np.ndarray,
    valid: np.ndarray,
    regime: np.ndarray,
    columns: np.ndarray,
    noise_floor: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-pass robust fit of the window `y` (rows x days, log cost) over `valid` days; days
    in `regime` (a suffix of each row's window) have a level of their own. Returns the level
    of the latest part, its count of days, the weekday effects (rows x 7), the noise scale,
    and the old part's level."""
    dows = columns % 7
    rows, width = y.shape
    weeks = width // 7
    any_regime, all_regime = regime.any(), regime.all()
    keep = valid
    nowhere = np.full(rows, np.nan), np.zeros(rows, int)
    for _ in range(2):
        old, _ = nowhere if all_regime else _masked_median(y, keep & ~regime)
        new, new_count = _masked_median(y, keep & regime) if any_regime else nowhere
        base = np.where(regime, new[:, None], old[:, None]) if any_regime else old[:, None]
        resid = y - base
        dow = np.zeros((rows, 7))
        if width == weeks * 7:  # whole weeks: every weekday's median in one sort
            med, count = _masked_median(
                resid.reshape(rows, weeks, 7).transpose(0, 2, 1),
                keep.reshape(rows, weeks, 7).transpose(0, 2, 1),
            )
            dow[:, dows[:7]] = np.where(count >= 2, med, 0.0)
        else:
            for k in range(7):
                cols = dows == k
                med, count = _masked_median(resid[:, cols], keep[:, cols])
                dow[:, k] = np.where(count >= 2, med, 0.0)
        resid = resid - dow[:, dows]
        # The noise: from the differences between the same weekday a week apart (level and
        # weekday effects cancel, nothing is fitted, so nothing is overfitted), and from the
        # residuals while there is less than two weeks of history.
        week_apart = keep[:, 7:] & keep[:, :-7]
        apart = np.abs(y[:, 7:] - y[:, :-7])
        weekly, pairs = _masked_median(apart, week_apart)
        # The median gives a first, rough scale; the root mean square of the differences
        # within 3 of those scales a steadier one (a median of 49 differences wavers by
        # about 17%, this by about 11%: fewer false alerts on quiet series).
        rough = weekly * _MAD_TO_SIGMA
        inside = week_apart & (apart <= 3 * rough[:, None])
        count = inside.sum(axis=1)
        squares = np.where(inside, apart, 0.0) ** 2
        rms = np.sqrt(squares.sum(axis=1) / np.maximum(count, 1)) * _TRUNCATED_SD
        noise = np.where(count >= 5, rms, rough) / np.sqrt(2)
        few = pairs < 5
        if few.any():
            mad, _ = _masked_median(np.abs(resid[few]), keep[few])
            noise[few] = mad * _MAD_TO_SIGMA
        scale = np.maximum(np.nan_to_num(noise, nan=noise_floor), noise_floor)
        with np.errstate(invalid="ignore"):
            keep = valid & ~(np.abs(resid) > _OUTLIER_SCALES * scale[:, None])
    latest = np.where(new_count > 0, new, old)
    return latest, new_count, dow, scale, old


def _fit_day(
    logs: np.ndarray,
    day: int,
    settings: AnomalySettings,
    month_start: np.ndarray,
    masked: np.ndarray | None = None,
    regime_start: np.ndarray | None = None,
    older: np.ndarray | None = None,
) -> _Fit:
    """The baseline of column `day` of `logs` (rows x columns, nan = no cost), from the
    `baseline_days` columns before it. `masked` (rows x columns): days left out (anomalous);
    `regime_start` (rows): the first day of the current normal level (a shift adopted);
    `older` (rows): log of the largest cost of a day before the window, nan if none."""
    rows = logs.shape[0]
    lo = max(day - settings.baseline_days, 0)
    columns = np.arange(lo, day)
    y = logs[:, lo:day]
    has_cost = ~np.isnan(y)
    valid = has_cost & ~month_start[lo:day]
    if masked is not None:
        valid &= ~masked[:, lo:day]
    if regime_start is None:
        regime = np.zeros_like(valid)
    else:
        regime = columns[None, :] >= regime_start[:, None]
    if y.shape[1] == 0:
        nan = np.full(rows, np.nan)
        none = np.zeros(rows, bool)
        return _Fit(nan, np.full(rows, settings.noise_floor), none, none, nan, np.zeros((rows, 7)))
    level, _, dow, scale, _ = _fit_window(y, valid, regime, columns, settings.noise_floor)
    history = valid.any(axis=1)
    # A regime starting today (an adoption on this very day): the day is its own level.
    if regime_start is not None:
        starts_today = regime_start == day
        level = np.where(starts_today, logs[:, day] - dow[:, day % 7], level)
        history |= starts_today
    # Sparse: cost on few of the days since the series began (in the window).
    first = np.where(has_cost.any(axis=1), has_cost.argmax(axis=1), y.shape[1])
    span = np.maximum(y.shape[1] - first, 1)
    share = has_cost.sum(axis=1) / span
    sparse = history & (share < _DENSE_SHARE)
    if older is not None:
        # No cost in the window but some before it: a very sparse series, not new spend.
        quiet = ~history & ~np.isnan(older)
        history |= quiet
        sparse |= quiet
        level = np.where(quiet, older, level)
    # A sparse series' charges vary more than its few days can tell.
    scale = np.where(sparse, np.maximum(scale, _SPARSE_SCALES * settings.noise_floor), scale)
    expected = level + dow[:, day % 7]
    if sparse.any():
        # Judged against the largest charge of the window: a sparse series is unusual only
        # when it charges more than it ever did lately.
        largest = np.nanmax(np.where(valid, y, -np.inf), axis=1)
        if older is not None:
            largest = np.where(np.isfinite(largest), largest, older)
        expected = np.where(sparse & np.isfinite(largest), largest, expected)
    # Month-start charges: day 1 is expected to be like the month starts before it, when they
    # were above the usual level.
    if month_start[day]:
        expected, scale, has_fee = _month_start_fee(logs, day, month_start, expected, scale)
        history |= has_fee
    return _Fit(expected, scale, history, sparse, level, dow)


def _month_start_fee(
    logs: np.ndarray,
    day: int,
    month_start: np.ndarray,
    expected: np.ndarray,
    scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Day 1 of a month: the fee each past month start added to the days before it (its
    cost over the median of the 3 days before), when those were fees, is added to the day's
    usual expected cost. Returns (expected, scale, has a fee)."""
    past = np.flatnonzero(month_start[:day])[-_MONTH_STARTS:]
    past = past[past >= max(day - 100, 3)]
    if past.size == 0:
        return expected, scale, np.zeros(logs.shape[0], bool)
    cost = np.nan_to_num(np.exp(logs), nan=0.0)
    before = np.stack([np.median(cost[:, p - 3 : p], axis=1) for p in past], axis=1)
    excess = cost[:, past] - before
    fee = np.median(excess, axis=1)
    usual = np.exp(expected)
    # A fee: the past month starts were well above their usual days (as far as an outlier
    # is), not noisy days that happened to fall on the 1st.
    has_fee = np.isfinite(usual) & (fee > usual * np.expm1(_OUTLIER_SCALES * scale))
    with np.errstate(divide="ignore", invalid="ignore"):
        total = usual + fee
        spread = (excess.max(axis=1) - excess.min(axis=1)) / total
        fee_expected = np.log(total)
    expected = np.where(has_fee, fee_expected, expected)
    scale = np.where(has_fee, np.maximum(scale, np.nan_to_num(spread, nan=0.0)), scale)
    return expected, scale, has_fee


def _gates(
    actual: np.ndarray,
    fit: _Fit,
    floor: np.ndarray,
    settings: AnomalySettings,
    day: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(score, unusual: the score alone passes, the day passes every gate, new spend: no
    history and above the floor). Nothing is unusual in the first _MIN_HISTORY_DAYS days of
    the data: everything would be new."""
    expected = np.exp(fit.expected)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = actual / expected
        score = np.log(ratio) / fit.scale
    score = np.where(np.isfinite(score), score, -np.inf)
    score = np.where(actual > 0, score, -np.inf)
    increase = actual - np.nan_to_num(expected, nan=0.0)
    unusual = fit.history & (score >= settings.min_score)
    alert = unusual & (increase >= floor) & ((ratio - 1.0) * 100.0 >= settings.min_increase_percent)
    new = ~fit.history & (actual >= floor)
    if day < _MIN_HISTORY_DAYS:
        nothing = np.zeros_like(new)
        return score, nothing, nothing, nothing
    return score, unusual, alert, new


def dollar_floors(series: SeriesSet, settings: AnomalySettings) -> np.ndarray:
    """The dollar floor of each row: the configured minimum, and a share of its team's daily
    spend (the median day of the team's roll-up over the baseline window)."""
    window = series.cost[:, -settings.baseline_days - 1 : -1]
    typical = np.median(window, axis=1) if window.shape[1] else np.zeros(len(series.keys))
    team = typical[series.team_row]
    return np.maximum(settings.min_increase_per_day_micros / 1e6, settings.team_floor_share * team)


@dataclass
class _Replay:
    """What the day-by-day replay of some rows knows on its last day."""

    rows: np.ndarray  # the SeriesSet rows replayed
    first: int  # the first column replayed
    expected: np.ndarray  # (rows, days) expected cost in dollars
    scale: np.ndarray  # (rows, days)
    score: np.ndarray  # (rows, days)
    anomalous: np.ndarray  # (rows, days) bool: part of an event
    event_start: np.ndarray  # column where the current event began, -1 when none
    event_new: np.ndarray  # bool: the event is new spend
    event_alertable: np.ndarray  # bool: the event passes the money gates
    regime_start: np.ndarray  # column of the current normal level (-1: the whole window)
    episode_start: np.ndarray  # the start the current event reports (a chain's first day)
    last_alerted: np.ndarray  # the start of the latest event worth an alert, -1 when none


def _replay(
    cost: np.ndarray,
    logs: np.ndarray,
    rows: np.ndarray,
    first: int,
    last: int,
    floors: np.ndarray,
    settings: AnomalySettings,
    month_start: np.ndarray,
    adopted: np.ndarray,
    older: np.ndarray,
    offset: int = 0,
) -> _Replay:
    """Judge columns first..last of `rows` in order, as live runs on those days would have
    (column + `offset`: the days since the data began):
    events (a run of anomalous days, allowing _GAP_DAYS quiet days), levels adopted as normal
    after `shift_days` days of an event (or a fall lasting as long), and adoptions by hand
    (`adopted`: per row the column of "Expected", -1 for none)."""
    m = rows.size
    days = last - first + 1
    c = cost[rows]
    lg = logs[rows]
    masked = np.zeros(lg.shape, bool)
    regime = np.where((adopted >= 0) & (adopted < first), adopted, -1)
    event_start = np.full(m, -1)
    event_new = np.zeros(m, bool)
    last_seen = np.full(m, -1)
    fall_start = np.full(m, -1)
    sum_actual = np.zeros(m)
    sum_expected = np.zeros(m)
    sum_days = np.zeros(m)
    alertable = np.zeros(m, bool)
    episode_start = np.full(m, -1)  # what the event reports as its start (chains included)
    chain_start = np.full(m, -1)
    chain_until = np.full(m, -1)
    last_alerted = np.full(m, -1)
    out_expected = np.zeros((m, days))
    out_scale = np.zeros((m, days))
    out_score = np.zeros((m, days))
    out_anomalous = np.zeros((m, days), bool)
    for i, day in enumerate(range(first, last + 1)):
        # An event that has lasted shift_days days (or a fall as long): from today on, its
        # level is the normal one.
        lasted = (event_start >= 0) & (day - event_start >= settings.shift_days)
        fell = (fall_start >= 0) & (day - fall_start >= settings.shift_days)
        adopt = lasted | fell
        if adopt.any():
            begin = np.where(lasted, event_start, fall_start)
            regime = np.where(adopt, begin, regime)
            for r in np.flatnonzero(adopt):  # few rows: the days of one adopted event
                masked[r, begin[r] : day] = False
            # A rise alerted and adopted: a new rise in the next shift_days days is the same
            # episode going on (a steep ramp climbs in steps), with the same start.
            chained = lasted & alertable
            chain_start = np.where(chained, episode_start, chain_start)
            chain_until = np.where(chained, day + settings.shift_days, chain_until)
            event_start = np.where(adopt, -1, event_start)
            fall_start = np.where(adopt, -1, fall_start)
        adopt_today = adopted == day
        if adopt_today.any():
            # "Expected" pressed for this level: the event ends, its days are the new normal.
            regime = np.where(adopt_today, day, regime)
            event_start = np.where(adopt_today, -1, event_start)
            masked[adopt_today, day:] = False
        fit = _fit_day(lg, day, settings, month_start, masked, regime, older)
        actual = c[:, day]
        # Events are statistical: a rise too small in money to alert is still an event (its
        # days kept out of the baseline, adopted as normal after shift_days), so that it
        # does not alert later on a day its noise lifts it over the floor.
        score, unusual, _, new = _gates(actual, fit, floors, settings, day + offset)
        expected = np.exp(fit.expected)
        expected = np.where(np.isfinite(expected), expected, 0.0)
        in_event = event_start >= 0
        going_on = in_event & (score >= _CONTINUE_SCORE) & (actual > expected)
        flagged = unusual | new | going_on
        starting = flagged & ~in_event
        event_start = np.where(starting, day, event_start)
        chain = starting & (chain_start >= 0) & (day <= chain_until)
        episode_start = np.where(starting, np.where(chain, chain_start, day), episode_start)
        event_new = np.where(starting, new & ~unusual, event_new)
        sum_actual = np.where(starting, 0.0, sum_actual) + np.where(flagged, actual, 0.0)
        sum_expected = np.where(starting, 0.0, sum_expected) + np.where(flagged, expected, 0.0)
        sum_days = np.where(starting, 0.0, sum_days) + flagged
        alertable = _passes_money_gates(
            sum_actual, sum_expected, floors, sum_days, settings, event_new
        )
        last_alerted = np.where(alertable & (event_start >= 0), episode_start, last_alerted)
        last_seen = np.where(flagged, day, last_seen)
        masked[:, day] = flagged
        # Quiet too long: the event is over.
        over = (event_start >= 0) & ~flagged & (day - last_seen >= _GAP_DAYS)
        event_start = np.where(over, -1, event_start)
        # A fall (cost well under expected) lasting shift_days is a new level too.
        falling = (score <= -_CONTINUE_SCORE) & (actual > 0) & ~flagged
        fall_start = np.where(falling, np.where(fall_start >= 0, fall_start, day), -1)
        out_expected[:, i] = expected
        out_scale[:, i] = fit.scale
        out_score[:, i] = np.where(np.isfinite(score), score, 0.0)
        out_anomalous[:, i] = flagged
    return _Replay(
        rows,
        first,
        out_expected,
        out_scale,
        out_score,
        out_anomalous,
        event_start,
        event_new,
        alertable & (event_start >= 0),
        regime,
        episode_start,
        last_alerted,
    )


def _passes_money_gates(
    sum_actual: np.ndarray,
    sum_expected: np.ndarray,
    floors: np.ndarray,
    days: np.ndarray,
    settings: AnomalySettings,
    new: np.ndarray,
) -> np.ndarray:
    """Whether an event's increase (sums over its days, as many days in each) is worth an
    alert in money: per day over the floor, and in percent (new spend: the floor alone)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sum_actual / sum_expected
        percent_ok = (ratio - 1.0) * 100.0 >= settings.min_increase_percent
    increase = (sum_actual - sum_expected) / np.maximum(days, 1)
    return (sum_actual > 0) & (new | percent_ok) & (increase >= floors)


def _drift(
    logs: np.ndarray,
    dow: np.ndarray,
    scale: np.ndarray,
    last: int,
    month_start: np.ndarray,
    regime_start: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow rises: the median of the last _RECENT_DAYS days (weekday effects removed) against
    the _BEFORE_DAYS days that ended _DRIFT_GAP days earlier (from `regime_start` on).
    Returns (score, recent level, before level) in logs; score nan where it cannot be told."""
    lo = last - _RECENT_DAYS - _DRIFT_GAP - _BEFORE_DAYS + 1
    if lo < 0:
        nan = np.full(logs.shape[0], np.nan)
        return nan, nan, nan
    columns = np.arange(lo, last + 1)
    y = logs[:, lo : last + 1] - dow[:, columns % 7]
    valid = ~np.isnan(y) & ~month_start[lo : last + 1]
    valid &= columns[None, :] >= regime_start[:, None]
    recent_cols = columns > last - _RECENT_DAYS
    before_cols = columns < lo + _BEFORE_DAYS
    recent, n_recent = _masked_median(y[:, recent_cols], valid[:, recent_cols])
    before, n_before = _masked_median(y[:, before_cols], valid[:, before_cols])
    # The difference of two medians: its standard error is about 1.25 scale sqrt(1/a + 1/b).
    with np.errstate(divide="ignore", invalid="ignore"):
        error = 1.2533 * scale * np.sqrt(1.0 / n_recent + 1.0 / n_before)
        score = np.expm1(recent - before) / (error * np.exp(0))
    enough = (n_recent >= _RECENT_DAYS // 2) & (n_before >= 7)
    score = np.where(enough, score, np.nan)
    return score, recent, before


def _drift_start(
    logs: np.ndarray,
    dow: np.ndarray,
    before: np.ndarray,
    scale: np.ndarray,
    last: int,
    month_start: np.ndarray,
) -> np.ndarray:
    """Where a drift began: the start of the last positive run of a CUSUM of the days
    (weekday effects removed) against the level before, over the drift's window."""
    lo = max(last - _RECENT_DAYS - _DRIFT_GAP - _BEFORE_DAYS + 1, 0)
    total = np.zeros(logs.shape[0])
    start = np.full(logs.shape[0], lo)
    for day in range(lo, last + 1):
        if month_start[day]:
            continue
        value = logs[:, day] - dow[:, day % 7]
        step = np.nan_to_num(value - before - scale / 2, nan=0.0)
        total = np.maximum(total + step, 0.0)
        start = np.where(total <= 0, day + 1, start)
    return np.minimum(start, last)


def detect(
    series: SeriesSet,
    settings: AnomalySettings,
    *,
    adopted_from: dict[int, date] | None = None,
) -> list[Finding]:
    """The findings active on the last day of `series`. `adopted_from`: rows whose level from
    that day on was marked "Expected" by someone: from then on that level is normal."""
    cost = np.asarray(series.cost, dtype=np.float64)
    n, days = cost.shape
    if n == 0 or days == 0:
        return []
    # The largest day before the baseline window: spend after a long quiet is not new.
    before_window = cost[:, : max(days - 1 - settings.baseline_days, 0)]
    largest = before_window.max(axis=1) if before_window.shape[1] else np.zeros(n)
    with np.errstate(divide="ignore"):
        older = np.where(largest > 0, np.log(np.maximum(largest, 1e-300)), np.nan)
    last = days - 1
    # Where the data begins (the first day any series has cost): the first days of the data
    # are judged by how long the data has run, not by the column (a run reads a fixed window,
    # mostly empty before the first ingested day).
    spent = np.flatnonzero((cost != 0).any(axis=0))
    data_start = int(spent[0]) if spent.size else 0
    first_col = max(last - settings.baseline_days - _scan_days(settings), 0)
    # Only the columns the replay and its baselines can see.
    cost = cost[:, first_col:]
    offset = first_col
    last -= offset
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(cost > 0, np.log(np.where(cost > 0, cost, 1.0)), np.nan)
    month_start = _month_starts(series.day_of(offset), cost.shape[1])
    floors = dollar_floors(series, settings)
    adopted = np.full(n, -1)
    for row, day in (adopted_from or {}).items():
        column = (day - series.first_day).days - offset
        if column <= last:
            adopted[row] = max(column, 0)

    # 1. The run's day over every series: the candidates.
    fit = _fit_day(logs, last, settings, month_start, older=older)
    actual = cost[:, last]
    score, _, alert, new = _gates(actual, fit, floors, settings, last + offset - data_start)
    drift_score, recent, before = _drift(
        logs, fit.dow, fit.scale, last, month_start, np.full(n, -1)
    )
    loose = (score >= _CANDIDATE_SCORE) | new | alert
    with np.errstate(invalid="ignore"):
        drifting = (
            (drift_score >= settings.min_score)
            & (np.expm1(recent - before) * 100 >= settings.min_increase_percent)
            & (np.exp(recent) - np.exp(before) >= floors)
        )
    candidates = np.flatnonzero(loose | drifting | (adopted >= 0))

    findings: list[Finding] = []
    if candidates.size == 0:
        return findings
    # 2. The candidates replayed day by day over the last few weeks: an event still going on
    # began at most shift_days (and its quiet days) ago, so these weeks tell its start.
    begin = max(last - _event_replay_days(settings) + 1, 0)
    replay = _replay(
        cost,
        logs,
        candidates,
        begin,
        last,
        floors[candidates],
        settings,
        month_start,
        adopted[candidates],
        older[candidates],
        offset - data_start,
    )
    today_anomalous = replay.anomalous[:, -1] & (replay.event_start >= 0)
    events = today_anomalous & replay.event_alertable
    for i in np.flatnonzero(events):
        row = int(candidates[i])
        start = int(replay.episode_start[i])
        span = slice(start - begin, None)
        days_in = last - start + 1
        on = replay.anomalous[i, span]  # the event's days (not its quiet days between)
        kind = "new" if replay.event_new[i] else "shift" if days_in >= _SHIFT_KIND_DAYS else "spike"
        act = float(cost[row, start:][on].mean())
        exp = float(replay.expected[i, span][on].mean())
        event_score = float(replay.score[i, span].max())
        if kind == "new":
            event_score = min(act / floors[row], _NEW_SCORE_CAP)
        measured = tuple(series.day_of(start + offset + int(j)) for j in np.flatnonzero(on))
        findings.append(
            Finding(row, kind, series.day_of(start + offset), exp, act, event_score, measured)
        )
    # 3. Drifts: the rows that look like one on the run's day and have no event to alert.
    maybe = candidates[~events & drifting[candidates]]
    if maybe.size:
        alerted = replay.last_alerted[~events & drifting[candidates]]
        findings += _drifts(
            series,
            cost,
            logs,
            maybe,
            last,
            offset,
            floors,
            settings,
            month_start,
            adopted,
            fit,
            alerted,
        )
    # What each series rose by today against its own expected level (new spend: all of it);
    # for the replayed ones, the level the replay expects (a shift adopted: its new level).
    expected_today = np.nan_to_num(np.exp(fit.expected), nan=0.0)
    expected_today[candidates] = replay.expected[:, -1]
    # The latest episode start of each team's series (their own alerts, recent or not).
    alerted_start = np.full(n, -1)
    members = np.array([not key.is_rollup for key in series.keys])[candidates]
    np.maximum.at(alerted_start, series.team_row[candidates[members]], replay.last_alerted[members])
    return _without_explained_rollups(
        series,
        findings,
        cost[:, last] - expected_today,
        {row: day + offset for row, day in enumerate(alerted_start) if day >= 0},
        settings,
    )


def _drifting_on(
    logs: np.ndarray,
    rows: np.ndarray,
    day: int,
    floors: np.ndarray,
    settings: AnomalySettings,
    month_start: np.ndarray,
    since: np.ndarray,
    fit: _Fit,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whether each of `rows` drifts on `day` (every gate, and not a step), with its drift
    (score, recent level, before level)."""
    dow, scale = fit.dow[rows], fit.scale[rows]
    score, recent, before = _drift(logs[rows], dow, scale, day, month_start, since)
    with np.errstate(invalid="ignore"):
        found = (
            ~fit.sparse[rows]
            & (score >= settings.min_score)
            & (np.expm1(recent - before) * 100 >= settings.min_increase_percent)
            & (np.exp(recent) - np.exp(before) >= floors[rows])
        )
    if found.any():
        found[found] = ~_is_step(
            logs[rows[found]], dow[found], recent[found] - before[found], day, month_start
        )
    return found, score, recent, before


def _drifts(
    series: SeriesSet,
    cost: np.ndarray,
    logs: np.ndarray,
    rows: np.ndarray,
    last: int,
    offset: int,
    floors: np.ndarray,
    settings: AnomalySettings,
    month_start: np.ndarray,
    adopted: np.ndarray,
    fit: _Fit,
    alerted: np.ndarray,
) -> list[Finding]:
    """The drifts among `rows` (their run's day `fit`): a rise over the drift window that is
    gradual. A step (most of the rise within a week) is a shift: alerted as one when it
    happened, then adopted as normal, so not a drift now. Sparse series do not drift.

    Like a shift, a drift is alerted for `shift_days` days, then is the normal level: the
    days before the run's day are judged too (a run of drifting days, _DRIFT_GAP_DAYS quiet
    days allowed), and the drift's start is the one found on the run's first day, so that it stays
    the same from one day to the next."""
    since = np.where(adopted[rows] >= 0, adopted[rows], -1)
    found, score, recent, before = _drifting_on(
        logs, rows, last, floors, settings, month_start, since, fit
    )
    if not found.any():
        return []
    rows, since, score, recent, before = (
        rows[found],
        since[found],
        score[found],
        recent[found],
        before[found],
    )
    first_day = last - _DRIFT_LOOKBACK
    run_start = np.full(rows.size, last)
    run_days = np.ones(rows.size, int)
    last_found = np.full(rows.size, last)
    going = np.ones(rows.size, bool)
    for day in range(last - 1, max(first_day, 0) - 1, -1):  # backwards from the run's day
        on_day, _, _, _ = _drifting_on(logs, rows, day, floors, settings, month_start, since, fit)
        going &= on_day | (last_found - day <= _DRIFT_GAP_DAYS)
        take = going & on_day
        run_start = np.where(take, day, run_start)
        run_days += take
        last_found = np.where(take, day, last_found)
    fresh = run_days <= settings.shift_days
    if not fresh.any():
        return []
    starts = np.zeros(rows.size, int)
    for day in np.unique(run_start[fresh]):
        pick = fresh & (run_start == day)
        _, _, _, then_before = _drifting_on(
            logs, rows[pick], int(day), floors, settings, month_start, since[pick], fit
        )
        starts[pick] = _drift_start(
            logs[rows[pick]],
            fit.dow[rows[pick]],
            then_before,
            fit.scale[rows[pick]],
            int(day),
            month_start,
        )
    # A drift of a series whose rise was alerted lately (a steep ramp's first steps) goes on
    # with that episode's start.
    alerted = alerted[found]
    starts = np.where(alerted >= 0, alerted, starts)
    findings = []
    for i in np.flatnonzero(fresh):
        row, start = int(rows[i]), int(starts[i])
        dow = fit.dow[row]
        # Amounts over the recent days (the rate it has drifted to), not since the start
        # (which would average the rise away).
        recent_days = np.arange(max(start, last - _RECENT_DAYS + 1), last + 1)
        exp = float(np.mean(np.exp(before[i] + dow[recent_days % 7])))
        act = float(cost[row, recent_days].mean())
        measured = tuple(series.day_of(int(day) + offset) for day in recent_days)
        findings.append(
            Finding(
                row, "drift", series.day_of(start + offset), exp, act, float(score[i]), measured
            )
        )
    return findings


def _is_step(
    logs: np.ndarray, dow: np.ndarray, rise: np.ndarray, last: int, month_start: np.ndarray
) -> np.ndarray:
    """Whether most (_STEP_SHARE) of a rise happened from one week to the next: the largest
    difference between the medians of two adjacent weeks over the drift window."""
    lo = max(last - _RECENT_DAYS - _DRIFT_GAP - _BEFORE_DAYS + 1, 0)
    columns = np.arange(lo, last + 1)
    y = logs[:, lo : last + 1] - dow[:, columns % 7]
    valid = ~np.isnan(y) & ~month_start[lo : last + 1]
    weeks = np.lib.stride_tricks.sliding_window_view(y, 7, axis=1)
    kept = np.lib.stride_tricks.sliding_window_view(valid, 7, axis=1)
    weekly, count = _masked_median(weeks, kept)
    weekly = np.where(count >= 4, weekly, np.nan)
    steps = weekly[:, 7:] - weekly[:, :-7]
    with np.errstate(invalid="ignore"):
        largest = np.nanmax(np.where(np.isnan(steps), -np.inf, steps), axis=1)
    return largest >= _STEP_SHARE * rise


def _without_explained_rollups(
    series: SeriesSet,
    findings: list[Finding],
    increase_today: np.ndarray,
    members_alerted: dict[int, int],
    settings: AnomalySettings,
) -> list[Finding]:
    """One alert per event. A team roll-up's finding is dropped when findings on the team's
    own series explain over half of its increase (they are alerted); when one of its series
    had an episode worth an alert starting at most 2 x shift_days before the roll-up's (that
    one was alerted: its team's total rising later on is the same event); and when its
    series' own increases today, each against its own expected level, do not make up half of
    it (a sparse series charging as it usually does, a month-start fee: normal for the series
    that has them, however large in the team's total)."""
    is_rollup = np.array([key.is_rollup for key in series.keys])
    members = ~is_rollup
    rises = np.zeros(len(series.keys))
    np.add.at(rises, series.team_row[members], increase_today[members])
    explained: dict[int, float] = {}
    for finding in findings:
        if not is_rollup[finding.row]:
            team = int(series.team_row[finding.row])
            increase = finding.actual_per_day - finding.expected_per_day
            explained[team] = explained.get(team, 0.0) + increase
    kept = []
    for finding in findings:
        if is_rollup[finding.row]:
            increase = finding.actual_per_day - finding.expected_per_day
            today = increase_today[finding.row]
            start = (finding.start - series.first_day).days
            member = members_alerted.get(finding.row, -1)
            if (
                explained.get(finding.row, 0.0) > 0.5 * increase
                or rises[finding.row] < 0.5 * today
                or (member >= 0 and member >= start - 2 * settings.shift_days)
            ):
                continue
        kept.append(finding)
    return kept


def expected_band(
    row: np.ndarray,
    first_day: date,
    settings: AnomalySettings,
    days: int = 60,
    floor: float | None = None,
) -> Band:
    """The expected level and band of one series over its last `days` days, each day judged
    as a live run on that day would have judged it (one replay over those days). The band's
    high edge is where the score reaches `min_score`, its low edge as far below."""
    cost = np.asarray(row, dtype=np.float64)[None, :]
    total = cost.shape[1]
    days = min(days, total)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(cost > 0, np.log(np.where(cost > 0, cost, 1.0)), np.nan)
    month_start = _month_starts(first_day, total)
    # The row's dollar floor (`dollar_floors`: its team's share) when the caller knows it.
    floor = np.array([floor if floor is not None else settings.min_increase_per_day_micros / 1e6])
    begin = max(total - days - settings.shift_days - _GAP_DAYS, 0)
    spent = np.flatnonzero(cost[0] != 0)
    replay = _replay(
        cost,
        logs,
        np.array([0]),
        begin,
        total - 1,
        floor,
        settings,
        month_start,
        np.array([-1]),
        np.array([np.nan]),
        -int(spent[0]) if spent.size else 0,
    )
    keep = slice(total - days - begin, None)
    expected = replay.expected[0, keep]
    scale = replay.scale[0, keep]
    high = np.maximum.reduce(
        [
            expected * np.exp(settings.min_score * scale),
            expected * (1 + settings.min_increase_percent / 100),
            expected + floor[0],
        ]
    )
    low = expected * np.exp(-settings.min_score * scale)
    return Band(
        first_day + timedelta(days=total - days),
        cost[0, -days:].copy(),
        expected,
        low,
        high,
        replay.anomalous[0, keep].copy(),
    )
