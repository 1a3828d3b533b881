"""The weekly team digest (`costbot run weekly-digest`): what a team spent last week against
the week before, what changed most, its anomalies, untagged and idle resources, budget burn
and month-end forecast, and the daily spend of the 8 weeks for the chart. Plain values out;
the message is built in bot/render/digest.py.

A week is Monday to Sunday. The store's days are billing days, so a week's figures are the
same whatever the team's time zone (the zone only decides when the digest goes out).

Late data. A week is reported as far as the store holds it (`data_through`, the last day with
any cost up to the week's Sunday); when that is before Sunday, the week is compared with the
same days of the week before (Mon-Sat against Mon-Sat), never a short week against a whole
one, and the digest says so. Each billing currency is summed and compared on its own; the
budget is in the config currency and only set against costs billed in it.

The same definitions as the rest of Costbot: the rows that count and the account names of
`/cost top`, the budget and forecast of `/cost team` (`cost_report.Budget`, `Forecast`: month
to date plus the average of the last 7 days with data for each day left), the non-compliant
resources of `/untagged` (`tag_compliance.costed_resources`), the idle instances and run-rate
of the idle job (`idle.is_idle_candidate`, `savings.monthly_run_rate`), the anomaly episodes
the anomalies job records for the team's series.

For 500 teams the store is read in a handful of grouped queries for all teams at once
(`weekly_digests`), not per team.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import sqlite_utils

from bot.analytics.cost_report import FORECAST_WINDOW_DAYS, TOP_N, Budget, Forecast
from bot.analytics.idle import is_idle_candidate
from bot.analytics.names import account_labels
from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_compliance import costed_resources
from bot.config import Config
from bot.money import normalise_currency
from bot.periods import Period
from bot.store import queries
from bot.store.queries import CURRENCY_SQL, METRIC_COLUMNS, Change, rows_that_count

CHART_WEEKS = 8
# SQLite's limit on bound parameters is far above this; beyond it the teams are not filtered
# in SQL (every team's rows are read and the others dropped).
TEAMS_FILTERED_IN_SQL = 900


@dataclass(frozen=True)
class Week:
    start: date  # a Monday
    end: date  # the Sunday after it

    @classmethod
    def starting(cls, monday: date) -> Week:
        if monday.weekday() != 0:
            raise ValueError(f"a digest week starts on a Monday, not on {monday:%A %d %b %Y}")
        return cls(monday, monday + timedelta(days=6))

    @property
    def previous(self) -> Week:
        return Week(self.start - timedelta(days=7), self.start - timedelta(days=1))


def week_reported(day: date) -> Week:
    """The last complete Monday-Sunday week before `day`: on Monday 26 or Wednesday 28
    October 2026, Monday 19 to Sunday 25 October."""
    return Week.starting(day - timedelta(days=day.weekday() + 7))


@dataclass(frozen=True)
class CurrencySpend:
    """A team's spend billed in one currency: the days compared, the top changes."""

    currency: str
    this_week: int  # micro-units, over `compared` days of the week
    last_week: int  # the same weekdays of the week before
    services: tuple[Change, ...]  # the TOP_N largest changes, largest first
    more_services: int  # how many other services changed or had cost
    accounts: tuple[Change, ...]  # names as `name (id)` where known
    more_accounts: int

    @property
    def delta(self) -> int:
        return self.this_week - self.last_week


@dataclass(frozen=True)
class AnomalyNote:
    """One anomaly episode of the team's series."""

    kind: str  # spike | shift | drift | new
    service: str | None  # None: the team's total
    account: str | None  # `name (id)` where the name is known
    currency: str
    start: date  # the first anomalous day
    last_day: date | None
    detected_on: date | None
    status: str  # open | closed | expected
    expected_micros: int  # per day
    actual_micros: int  # per day, when alerted


@dataclass(frozen=True)
class ResourceFigure:
    """How many resources and what they cost (in the config currency, as billed)."""

    count: int
    cost_micros: int
    basis: str  # what the cost is: "in October 2026 to date", "a month at their run-rate"
    # (currency, micros) billed in other currencies: never in cost_micros, shown on its own
    other_costs: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class TeamDigest:
    team: str
    week: Week
    currency: str  # the config currency: budgets are in it
    data_from: date | None  # the first stored day
    data_through: date | None  # the last day with cost, up to the week's Sunday
    spend: tuple[CurrencySpend, ...]  # the config currency first, then by amount
    anomalies_opened: tuple[AnomalyNote, ...]  # first alerted during the week
    anomalies_resolved: tuple[AnomalyNote, ...]  # back to normal during the week
    anomalies_open: int  # still open at the end of the week
    untagged: ResourceFigure | None  # None: no inventory or resource-level cost loaded
    idle: ResourceFigure | None  # None: no inventory loaded
    budget: Budget | None  # month to date as of the week's end (or the last day with data)
    forecast: Forecast | None  # None when the week ends the month, or nothing in it yet
    chart_currency: str  # the currency of `daily` (one chart shows one currency)
    daily: tuple[tuple[date, int], ...]  # CHART_WEEKS weeks ending with the week's Sunday
    budget_daily: tuple[int, ...] | None  # the monthly budget spread over each day's month

    @property
    def compared_end(self) -> date | None:
        """The last day of the week compared: Sunday, or the last day with data before it
        (None: no day of the week has data)."""
        if not self.has_data:
            return None
        return min(self.week.end, self.data_through)  # type: ignore[type-var]

    @property
    def complete(self) -> bool:
        return self.data_through is not None and self.data_through >= self.week.end

    @property
    def has_data(self) -> bool:
        """Whether the store holds any day of the week at all."""
        return self.data_through is not None and self.data_through >= self.week.start

    @property
    def has_comparison(self) -> bool:
        """The week before is in the store (before the first stored day it is unknown)."""
        return self.data_from is not None and self.data_from <= self.week.previous.start

    @property
    def quiet(self) -> bool:
        """No spend in either week: a short digest."""
        return not self.spend


def weekly_digest(
    db: sqlite_utils.Database, config: Config, team: str, week_start: date
) -> TeamDigest:
    """One team's digest for the week starting Monday `week_start`."""
    return weekly_digests(db, config, week_start, [team])[0]


def weekly_digests(
    db: sqlite_utils.Database, config: Config, week_start: date, teams: Sequence[str]
) -> list[TeamDigest]:
    """The digests of `teams` (names, as the store and config spell them) for the week
    starting Monday `week_start`, in the order given, read in a few grouped queries."""
    week = Week.starting(week_start)
    teams = list(teams)
    reader = _Reader(db, config, week, teams)
    return [reader.digest(team) for team in teams]


class _Reader:
    """The grouped reads for one week and a set of teams."""

    def __init__(
        self, db: sqlite_utils.Database, config: Config, week: Week, teams: list[str]
    ) -> None:
        self.db, self.config, self.week = db, config, week
        self.currency = normalise_currency(config.currency)
        self.metric = METRIC_COLUMNS[config.cost_metric]
        self.teams = teams
        low, high = db.execute(
            "SELECT (SELECT min(date) FROM daily_cost),"
            " (SELECT max(date) FROM daily_cost WHERE date <= ?)",
            [week.end.isoformat()],
        ).fetchone()
        self.data_from = date.fromisoformat(low) if low else None
        self.data_through = date.fromisoformat(high) if high else None
        # The days compared: Monday to the last day with data, against the same weekdays.
        self.through = min(week.end, self.data_through) if self.data_through else None
        self.chart_start = week.end - timedelta(days=7 * CHART_WEEKS - 1)
        self.daily = self._daily()
        self.services = self._changes("service", "service", {"team", "service"})
        self.accounts = self._changes("account_id", "account", {"team", "account"})
        self.episodes = self._episodes()
        wanted = any(self.accounts.values()) or any(self.episodes.values())
        self.account_labels = account_labels(db) if wanted else {}
        self.untagged, self.untagged_basis = self._untagged()
        self.idle = self._idle()

    # ---- grouped queries

    def _team_filter(self) -> tuple[str, list[str]]:
        if len(self.teams) > TEAMS_FILTERED_IN_SQL:
            return "team IS NOT NULL", []
        marks = ", ".join("?" for _ in self.teams)
        return f"team IN ({marks})", list(self.teams)

    def _daily(self) -> dict[tuple[str, str], dict[date, int]]:
        """(team, currency) -> day -> cost, over the chart's weeks (which hold the month to
        date, the forecast's window and both weeks compared)."""
        first = min(self.chart_start, self.week.end.replace(day=1))
        teams, params = self._team_filter()
        sql = (
            f"SELECT team, {CURRENCY_SQL}, date, sum({self.metric}) FROM daily_cost"
            f" WHERE {rows_that_count({'team'})} AND {teams} AND date BETWEEN ? AND ?"
            " GROUP BY team, 2, date"
        )
        found: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
        for team, code, day, micros in self.db.execute(
            sql, [*params, first.isoformat(), self.week.end.isoformat()]
        ):
            found[team, code][date.fromisoformat(day)] = micros or 0
        return found

    def _changes(
        self, column: str, dimension: str, dimensions: set[str]
    ) -> dict[tuple[str, str], list[tuple[str | None, int, int]]]:
        """(team, currency) -> [(service or account, this week, the week before)]."""
        if self.through is None or self.through < self.week.start:
            return {}
        lag = (self.through - self.week.start).days
        previous_start = self.week.previous.start
        previous_end = previous_start + timedelta(days=lag)
        teams, params = self._team_filter()
        sql = (
            f"SELECT team, {CURRENCY_SQL}, {column},"
            f" sum(CASE WHEN date >= ? THEN {self.metric} ELSE 0 END),"
            f" sum(CASE WHEN date <= ? THEN {self.metric} ELSE 0 END)"
            f" FROM daily_cost WHERE {rows_that_count(dimensions)} AND {teams}"
            " AND (date BETWEEN ? AND ? OR date BETWEEN ? AND ?)"
            f" GROUP BY team, 2, {column}"
        )
        values = [
            self.week.start.isoformat(),
            previous_end.isoformat(),
            *params,
            self.week.start.isoformat(),
            self.through.isoformat(),
            previous_start.isoformat(),
            previous_end.isoformat(),
        ]
        found: dict[tuple[str, str], list[tuple[str | None, int, int]]] = defaultdict(list)
        for team, code, name, current, previous in self.db.execute(sql, values):
            if current or previous:
                found[team, code].append((name, current or 0, previous or 0))
        return found

    def _episodes(self) -> dict[str, list[dict]]:
        """The team's anomaly episodes alerted by the week's end that were open during it."""
        teams, params = self._team_filter()
        rows = self.db.query(
            f"SELECT * FROM anomaly_episodes WHERE {teams}"
            " AND coalesce(detected_on, start) <= ?"
            " AND (status != 'closed' OR coalesce(last_day, start) >= ?)",
            [*params, self.week.end.isoformat(), (self.week.start - timedelta(days=1)).isoformat()],
        )
        found: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            found[row["team"]].append(row)
        return found

    def _untagged(self) -> tuple[dict[str, tuple[int, int, dict[str, int]]], str | None]:
        """team -> (non-compliant resources, their cost in the month of the week's end, their
        cost billed in other currencies by currency): /untagged's figures (inventory resources
        and billed-only ones; the cost in the config currency only, as `costed_resources`
        counts it)."""
        month = self.week.end.strftime("%Y-%m")
        has_data = self.db.execute(
            "SELECT (SELECT 1 FROM resources LIMIT 1) OR"
            " (SELECT 1 FROM resource_cost WHERE month = ? LIMIT 1)",
            [month],
        ).fetchone()[0]
        if not has_data:
            return {}, None
        wanted = set(self.teams)
        found: dict[str, tuple[int, int, dict[str, int]]] = {}
        for resource in costed_resources(self.db, self.config, [month]):
            if resource.compliant or resource.team not in wanted:
                continue
            count, cost, others = found.get(resource.team, (0, 0, {}))
            for code, micros in resource.other_costs:
                others[code] = others.get(code, 0) + micros
            found[resource.team] = (count + 1, cost + resource.cost_micros, others)
        # Resource-level cost is kept by month, so the figure is the month's as loaded: say
        # through which day, which may be after the week's Sunday (a digest re-run later).
        month_end = self.week.end.replace(
            day=calendar.monthrange(self.week.end.year, self.week.end.month)[1]
        )
        coverage = queries.data_range(self.db)
        through = min(coverage[1], month_end) if coverage else self.week.end
        basis = f"in {self.week.end:%B %Y}" + (
            "" if through == month_end else f" through {through:%a} {through.day} {through:%b}"
        )
        return found, basis

    def _idle(self) -> dict[str, tuple[int, int]] | None:
        """team -> (idle running EC2 instances, their monthly run-rate): the idle job's."""
        if self.db.execute("SELECT (SELECT 1 FROM resources LIMIT 1)").fetchone()[0] is None:
            return None
        wanted = set(self.teams)
        day = self.week.end + timedelta(days=1)
        found: dict[str, tuple[int, int]] = {}
        for row in self.db.query("SELECT * FROM resources WHERE idle = 1 AND team IS NOT NULL"):
            if row["team"] not in wanted or not is_idle_candidate(row):
                continue
            rate = monthly_run_rate(
                self.db,
                self.config,
                arn=row["arn"],
                resource_id=row.get("resource_id") or row["arn"],
                account=row.get("account_id"),
                day=day,
            )
            count, cost = found.get(row["team"], (0, 0))
            found[row["team"]] = (count + 1, cost + rate.monthly_micros)
        return found

    # ---- one team

    def digest(self, team: str) -> TeamDigest:
        spend = self._spend(team)
        configured = self.config.team(team)
        budget_micros = configured.monthly_budget_micros if configured else None
        chart_currency = spend[0].currency if spend else self.currency
        in_currency = self.daily.get((team, self.currency), {})
        chart_days = [self.chart_start + timedelta(days=i) for i in range(7 * CHART_WEEKS)]
        chart_daily = self.daily.get((team, chart_currency), {})
        budget_daily = None
        if budget_micros is not None and chart_currency == self.currency:
            budget_daily = tuple(
                budget_micros // calendar.monthrange(day.year, day.month)[1] for day in chart_days
            )
        return TeamDigest(
            team=team,
            week=self.week,
            currency=self.currency,
            data_from=self.data_from,
            data_through=self.data_through,
            spend=spend,
            anomalies_opened=self._opened(team),
            anomalies_resolved=self._resolved(team),
            anomalies_open=sum(1 for e in self.episodes.get(team, []) if e["status"] == "open"),
            untagged=self._figure(self.untagged.get(team), self.untagged_basis),
            idle=(
                None
                if self.idle is None
                else ResourceFigure(*self.idle.get(team, (0, 0)), "a month at their run-rate")
            ),
            budget=self._budget(in_currency, budget_micros),
            forecast=self._forecast(in_currency),
            chart_currency=chart_currency,
            daily=tuple((day, chart_daily.get(day, 0)) for day in chart_days),
            budget_daily=budget_daily,
        )

    @staticmethod
    def _figure(found: tuple | None, basis: str | None) -> ResourceFigure | None:
        if basis is None:
            return None
        count, cost, *rest = found or (0, 0)
        others = rest[0] if rest else {}
        return ResourceFigure(
            count, cost, basis, tuple(sorted(others.items(), key=lambda i: (-i[1], i[0])))
        )

    def _spend(self, team: str) -> tuple[CurrencySpend, ...]:
        if self.through is None or self.through < self.week.start:
            return ()
        lag = timedelta(days=(self.through - self.week.start).days)
        previous = self.week.previous.start
        parts = []
        codes = {code for (name, code) in self.daily if name == team}
        for code in codes:
            days = self.daily[team, code]
            this_week = sum(m for d, m in days.items() if self.week.start <= d <= self.through)
            last_week = sum(m for d, m in days.items() if previous <= d <= previous + lag)
            if not this_week and not last_week:
                continue
            services, more_services = _top(self.services.get((team, code), []), "(none)")
            accounts, more_accounts = _top(
                self.accounts.get((team, code), []), "(none)", self.account_labels
            )
            parts.append(
                CurrencySpend(
                    currency=code,
                    this_week=this_week,
                    last_week=last_week,
                    services=services,
                    more_services=more_services,
                    accounts=accounts,
                    more_accounts=more_accounts,
                )
            )
        # The config currency first; without exchange rates "largest" only picks an order.
        parts.sort(key=lambda p: (p.currency != self.currency, -p.this_week, p.currency))
        return tuple(parts)

    def _notes(self, team: str) -> list[AnomalyNote]:
        return [_note(row, self.account_labels) for row in self.episodes.get(team, [])]

    def _opened(self, team: str) -> tuple[AnomalyNote, ...]:
        return tuple(
            note
            for note in self._notes(team)
            if self.week.start <= (note.detected_on or note.start) <= self.week.end
        )

    def _resolved(self, team: str) -> tuple[AnomalyNote, ...]:
        """Closed episodes whose first normal day (after `last_day`) falls in the week."""
        return tuple(
            note
            for note in self._notes(team)
            if note.status == "closed"
            and self.week.start <= (note.last_day or note.start) + timedelta(days=1)
            and (note.last_day or note.start) < self.week.end
        )

    def _budget(self, daily: dict[date, int], monthly_micros: int | None) -> Budget | None:
        """`/cost team`'s budget burn, as of the week's end (or the last day with data)."""
        if monthly_micros is None or self.through is None:
            return None
        month_start = self.week.end.replace(day=1)
        through = max(self.through, month_start - timedelta(days=1))
        return Budget(
            monthly_micros=monthly_micros,
            month_label=month_start.strftime("%B %Y"),
            spent_micros=sum(m for d, m in daily.items() if month_start <= d <= through),
            days_elapsed=(through - month_start).days + 1,
            days_in_month=calendar.monthrange(month_start.year, month_start.month)[1],
            currency=self.currency,
        )

    def _forecast(self, daily: dict[date, int]) -> Forecast | None:
        """`/cost team`'s month-end forecast (cost_report._forecast), as of the week's end:
        month to date plus the average of the last 7 days with data for each day left."""
        if self.through is None or self.data_from is None:
            return None
        month_start = self.week.end.replace(day=1)
        month_end = month_start.replace(
            day=calendar.monthrange(month_start.year, month_start.month)[1]
        )
        if self.through < month_start or self.through >= month_end:
            return None
        window_start = max(self.through - timedelta(days=FORECAST_WINDOW_DAYS - 1), self.data_from)
        window = Period(
            window_start, self.through, "rolling", f"{(self.through - window_start).days + 1}d"
        )
        return Forecast(
            month_end=month_end,
            month_to_date_micros=sum(
                m for d, m in daily.items() if month_start <= d <= self.through
            ),
            daily_average_micros=sum(
                m for d, m in daily.items() if window_start <= d <= self.through
            )
            // window.days,
            average_window=window,
            remaining_days=(month_end - self.through).days,
        )


def _top(
    rows: list[tuple[str | None, int, int]], none_label: str, labels: dict[str, str] | None = None
) -> tuple[tuple[Change, ...], int]:
    """The TOP_N largest changes (by absolute amount, then this week's cost, then name)."""
    changes = [
        Change((labels or {}).get(name, name) if name else none_label, current, previous)
        for name, current, previous in rows
    ]
    changes.sort(key=lambda c: (-abs(c.delta), -c.current, c.name))
    return tuple(changes[:TOP_N]), max(len(changes) - TOP_N, 0)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _note(row: dict, labels: dict[str, str]) -> AnomalyNote:
    account = row.get("account_id")
    return AnomalyNote(
        kind=row["kind"],
        service=row.get("service"),
        account=labels.get(account, account) if account else None,
        currency=normalise_currency(row.get("currency")),
        start=date.fromisoformat(row["start"]),
        last_day=_day(row.get("last_day")),
        detected_on=_day(row.get("detected_on")),
        status=row["status"],
        expected_micros=row.get("expected_micros") or 0,
        actual_micros=row.get("actual_micros") or 0,
    )
