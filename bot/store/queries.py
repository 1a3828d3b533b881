"""Read-only questions to the store that handlers and jobs ask: totals, the same for the
previous equal period, top-N breakdowns and daily series, for a team, service, account or
everything. Plain values in, plain values out; every amount is integer micro-units of one
currency: pass `Scope(currency=...)` (see `currencies`) so that no sum adds EUR to USD."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlite_utils

from bot.money import normalise_currency
from bot.periods import Period
from bot.store.schema import ORGANISATION_METRIC_SCOPE

UNTAGGED = "(untagged)"
# FOCUS requires BillingCurrency; a row without one is taken as USD, codes compared upper-case.
CURRENCY_SQL = "upper(coalesce(currency, 'USD'))"
METRIC_COLUMNS = {"effective": "effective_micros", "billed": "billed_micros", "list": "list_micros"}
DIMENSIONS = {
    "team": "team",
    "service": "service",
    "account": "account_id",
    "provider": "provider",
    "region": "region",
    "category": "service_category",
    "environment": "environment",
    "product": "product",
    # FOCUS's pricing model (Standard, Committed, Dynamic, Other) and commitment discount type
    # ("Savings Plan", "Reserved Instance", ...): NULL, shown as "(none)", where the source
    # does not say (Cost Explorer) or the charge has none.
    "pricing": "pricing_category",
    "commitment": "commitment_discount_type",
}


@dataclass(frozen=True)
class Scope:
    """What a question is about: everything, or one team / service / account (or several
    of these at once). A team of `UNTAGGED` means cost with no team tag. `currency` limits
    it to amounts billed in one currency (ISO code)."""

    team: str | None = None
    service: str | None = None
    account: str | None = None
    billing_account: str | None = None
    currency: str | None = None

    def where(self, by: str | None = None) -> tuple[str, list[str]]:
        """The SQL condition (and its parameters) for this scope's rows, broken down `by` a
        dimension or not: it also picks which rows count (see `rows_that_count`)."""
        clauses, params = [rows_that_count(self.dimensions() | ({by} if by else set()))], []
        if self.team == UNTAGGED:
            clauses.append("team IS NULL")
        elif self.team is not None:
            clauses.append("team = ?")
            params.append(self.team)
        if self.service is not None:
            clauses.append("service = ?")
            params.append(self.service)
        if self.account is not None:
            clauses.append("account_id = ?")
            params.append(self.account)
        if self.billing_account is not None:
            clauses.append("billing_account_id = ?")
            params.append(self.billing_account)
        if self.currency is not None:
            clauses.append(f"{CURRENCY_SQL} = ?")
            params.append(normalise_currency(self.currency))
        return " AND ".join(clauses), params

    def dimensions(self) -> set[str]:
        named = {"team": self.team, "service": self.service, "account": self.account}
        return {name for name, value in named.items() if value is not None}


EVERYTHING = Scope()


def rows_that_count(dimensions: set[str]) -> str:
    """Which daily_cost rows answer a question about `dimensions` (team, service, account,
    ...) without counting a dollar twice:

    - never a row `superseded` by a source of higher precedence for its billing account and
      month (FOCUS over Athena over Cost Explorer);
    - full-grain rows (FOCUS, Athena) always; of Cost Explorer's grouped rows, the one
      grouping that is exact for the question: team x account when an account is named,
      team x service otherwise. A question about service and account together has no exact
      Cost Explorer grouping: only full-grain rows answer it.
    """
    if {"service", "account"} <= dimensions:
        return "superseded = 0 AND grain IS NULL"
    grain = "team,account" if "account" in dimensions else "team,service"
    return f"superseded = 0 AND (grain IS NULL OR grain = '{grain}')"


@dataclass(frozen=True)
class Share:
    name: str
    micros: int


@dataclass(frozen=True)
class Change:
    name: str
    current: int
    previous: int

    @property
    def delta(self) -> int:
        return self.current - self.previous


def _metric(metric: str) -> str:
    try:
        return METRIC_COLUMNS[metric]
    except KeyError:
        raise ValueError(f"unknown cost metric {metric!r}") from None


def _dimension(by: str) -> str:
    try:
        return DIMENSIONS[by]
    except KeyError:
        raise ValueError(f"cannot break down by {by!r}") from None


def currencies(
    db: sqlite_utils.Database, period: Period, scope: Scope = EVERYTHING, metric: str = "effective"
) -> dict[str, int]:
    """The total in each billing currency of the scope's rows in the period, largest first
    (by amount, then code: without exchange rates "largest" is only a way to pick an order)."""
    where, params = scope.where()
    sql = (
        f"SELECT {CURRENCY_SQL} AS code, coalesce(sum({_metric(metric)}), 0) AS micros"
        f" FROM daily_cost WHERE {where} AND date BETWEEN ? AND ?"
        " GROUP BY code ORDER BY micros DESC, code"
    )
    rows = db.execute(sql, [*params, period.start.isoformat(), period.end.isoformat()])
    return {code: micros for code, micros in rows}


def total(
    db: sqlite_utils.Database, period: Period, scope: Scope = EVERYTHING, metric: str = "effective"
) -> int:
    """The scope's cost in the period. Amounts in several currencies are only meaningful with
    `scope.currency` set; `currencies` gives one total per currency."""
    where, params = scope.where()
    sql = (
        f"SELECT coalesce(sum({_metric(metric)}), 0) FROM daily_cost"
        f" WHERE {where} AND date BETWEEN ? AND ?"
    )
    return db.execute(sql, [*params, period.start.isoformat(), period.end.isoformat()]).fetchone()[
        0
    ]


def breakdown(
    db: sqlite_utils.Database,
    period: Period,
    by: str,
    scope: Scope = EVERYTHING,
    metric: str = "effective",
    limit: int | None = None,
) -> list[Share]:
    """Cost per team / service / account ..., largest first; every row, or the top `limit`."""
    column = _dimension(by)
    where, params = scope.where(by)
    sql = (
        f"SELECT {column}, sum({_metric(metric)}) AS micros FROM daily_cost"
        f" WHERE {where} AND date BETWEEN ? AND ? GROUP BY {column}"
        f" ORDER BY micros DESC, {column}"
    )
    rows = db.execute(sql, [*params, period.start.isoformat(), period.end.isoformat()]).fetchall()
    shares = [Share(_label(by, name), micros) for name, micros in rows]
    return shares[:limit] if limit is not None else shares


def compare(
    db: sqlite_utils.Database,
    period: Period,
    by: str,
    scope: Scope = EVERYTHING,
    metric: str = "effective",
    with_previous: bool = True,
) -> list[Change]:
    """Each team / service / account in this period and the previous equal period, largest
    current spend first (names present in only one period included). Without a previous
    period (`with_previous=False`: it lies before the stored data) every previous amount is 0
    and the caller must not show a change."""
    current = {s.name: s.micros for s in breakdown(db, period, by, scope, metric)}
    previous = (
        {s.name: s.micros for s in breakdown(db, period.previous(), by, scope, metric)}
        if with_previous
        else {}
    )
    names = sorted(set(current) | set(previous), key=lambda n: (-current.get(n, 0), n))
    return [Change(n, current.get(n, 0), previous.get(n, 0)) for n in names]


def daily_series(
    db: sqlite_utils.Database, period: Period, scope: Scope = EVERYTHING, metric: str = "effective"
) -> list[tuple[date, int]]:
    """Cost per day over the whole period, days without cost as zero."""
    where, params = scope.where()
    sql = (
        f"SELECT date, sum({_metric(metric)}) FROM daily_cost"
        f" WHERE {where} AND date BETWEEN ? AND ? GROUP BY date"
    )
    found = dict(db.execute(sql, [*params, period.start.isoformat(), period.end.isoformat()]))
    return [(day, found.get(day.isoformat(), 0)) for day in period.dates()]


# Columns that lead an index: their distinct values can be walked through the index.
_INDEX_LED_COLUMNS = ("team", "service", "account_id")


def known_values(db: sqlite_utils.Database, by: str) -> list[str]:
    column = _dimension(by)
    if column in _INDEX_LED_COLUMNS:
        # A skip-scan: jump from one value to the next through the index instead of reading
        # every row (SELECT DISTINCT scans the whole index: ~200 ms on 5M rows, this ~0.3 ms).
        sql = f"""
            WITH RECURSIVE walk(value) AS (
                SELECT min({column}) FROM daily_cost
                UNION ALL
                SELECT (SELECT min({column}) FROM daily_cost WHERE {column} > walk.value)
                FROM walk WHERE walk.value IS NOT NULL
            )
            SELECT value FROM walk WHERE value IS NOT NULL"""
    else:
        sql = f"SELECT DISTINCT {column} FROM daily_cost WHERE {column} IS NOT NULL ORDER BY 1"
    return [r[0] for r in db.execute(sql)]


def data_range(db: sqlite_utils.Database) -> tuple[date, date] | None:
    # Two subqueries so that SQLite answers each from one end of the date index.
    low, high = db.execute(
        "SELECT (SELECT min(date) FROM daily_cost), (SELECT max(date) FROM daily_cost)"
    ).fetchone()
    if low is None:
        return None
    return date.fromisoformat(low), date.fromisoformat(high)


def trailing_daily_average(
    db: sqlite_utils.Database, end: date, days: int, scope: Scope, metric: str = "effective"
) -> int:
    """Average cost per day over the `days` days ending at `end` (integer micro-dollars)."""
    start = end - timedelta(days=days - 1)
    period = Period(start, end, "rolling", f"{days}d")
    return total(db, period, scope, metric) // days


def _label(by: str, value: str | None) -> str:
    if value is None:
        return UNTAGGED if by == "team" else "(none)"
    return value


def delivery(db: sqlite_utils.Database, key: str) -> dict | None:
    """The recorded delivery with this key (a row of `deliveries`), or None."""
    rows = list(db.query("SELECT * FROM deliveries WHERE key = ?", [key]))
    return rows[0] if rows else None


# ---- Savings Plans, spot and forecast figures for a month (bot.analytics.commitments)

# The charges each figure sums, as SQL over daily_cost; bot/analytics/commitments.py says why.
_USAGE = "charge_category = 'Usage'"
_SAVINGS_PLAN = "lower(commitment_discount_type) LIKE '%savings plan%'"
_COMPUTE = "service_category = 'Compute'"
COMMITMENT_FIGURES_SQL = {
    # on-demand equivalent (list) of the usage a Savings Plan covered
    "sp_covered_micros": (
        f"{_USAGE} AND {_SAVINGS_PLAN} AND commitment_discount_status = 'Used'",
        "list_micros",
    ),
    # eligible compute paid at the standard (on-demand) rate
    "sp_on_demand_micros": (
        f"{_USAGE} AND {_COMPUTE} AND pricing_category = 'Standard'",
        "list_micros",
    ),
    # the commitment's amortized cost, consumed and not consumed
    "sp_used_micros": (
        f"{_USAGE} AND {_SAVINGS_PLAN} AND commitment_discount_status = 'Used'",
        "effective_micros",
    ),
    "sp_unused_micros": (
        f"{_USAGE} AND {_SAVINGS_PLAN} AND commitment_discount_status = 'Unused'",
        "effective_micros",
    ),
    "spot_micros": (
        f"{_USAGE} AND {_COMPUTE} AND pricing_category = 'Dynamic'",
        "effective_micros",
    ),
    "compute_micros": (
        f"{_USAGE} AND {_COMPUTE} AND coalesce(commitment_discount_status, '') != 'Unused'",
        "effective_micros",
    ),
}


def _month_days(month: str) -> list[str]:
    return [f"{month}-01", f"{month}-31"]  # ISO dates compare as text: every day of the month


def commitment_figures_from_rows(
    db: sqlite_utils.Database, month: str, billing_account: str | None = None
) -> list[dict]:
    """Per billing account and currency, the month's COMMITMENT_FIGURES_SQL summed over the
    daily rows that count at full grain (FOCUS, Athena: never Cost Explorer's grouped rows or
    superseded ones), and `priced_rows`: how many of those rows say their pricing category (0:
    the rows were loaded without it, and say nothing about commitments or spot), and `source`:
    the rows' source (focus or athena; precedence leaves one per billing account and month)."""
    sums = ", ".join(
        f"coalesce(sum(CASE WHEN {where} THEN {column} END), 0) AS {name}"
        for name, (where, column) in COMMITMENT_FIGURES_SQL.items()
    )
    owner = "" if billing_account is None else " AND billing_account_id = ?"
    sql = (
        f"SELECT coalesce(billing_account_id, '') AS billing_account_id,"
        f" {CURRENCY_SQL} AS currency, {sums}, count(pricing_category) AS priced_rows,"
        " min(source) AS source"
        " FROM daily_cost WHERE date BETWEEN ? AND ? AND superseded = 0 AND grain IS NULL"
        f"{owner} GROUP BY 1, 2 ORDER BY 1, 2"
    )
    params = _month_days(month) + ([] if billing_account is None else [billing_account])
    return list(db.query(sql, params))


def commitment_rows(
    db: sqlite_utils.Database, month: str, billing_account: str | None = None
) -> list[dict]:
    """The month's rows of the `commitments` table (as the Cost Explorer sync wrote them)."""
    owner = "" if billing_account is None else " AND billing_account_id = ?"
    sql = (
        "SELECT provider, billing_account_id, month, source, upper(coalesce(currency, 'USD'))"
        " AS currency, sp_covered_micros, sp_on_demand_micros, sp_commitment_micros,"
        " sp_used_micros, spot_micros, compute_micros, forecast_micros, forecast_low_micros,"
        f" forecast_high_micros FROM commitments WHERE month = ?{owner}"
        " ORDER BY billing_account_id, source"
    )
    return list(db.query(sql, [month] + ([] if billing_account is None else [billing_account])))


def last_sync_end(
    db: sqlite_utils.Database, source: str, billing_account_id: str | None = None
) -> date | None:
    """The last day read by a successful sync of `source` (a run with warnings still wrote
    its days): for one billing account (Cost Explorer syncs one payer), or for the source as
    a whole (an Athena query reads every billing account of its table). None if none."""
    owner = (
        ""
        if billing_account_id is None
        else " AND json_extract(detail, '$.billing_account_id') = ?"
    )
    end = db.execute(
        "SELECT max(period_end) FROM sync_runs WHERE source = ? AND status IN ('ok', 'partial')"
        + owner,
        [source] + ([] if billing_account_id is None else [billing_account_id]),
    ).fetchone()[0]
    return date.fromisoformat(end) if end else None


def first_sync_start(
    db: sqlite_utils.Database, source: str, billing_account_id: str | None = None
) -> date | None:
    """The earliest day read by a successful sync of `source` (for one billing account, or
    the source as a whole), or None if none."""
    owner = (
        ""
        if billing_account_id is None
        else " AND json_extract(detail, '$.billing_account_id') = ?"
    )
    start = db.execute(
        "SELECT min(period_start) FROM sync_runs WHERE source = ? AND status IN ('ok', 'partial')"
        + owner,
        [source] + ([] if billing_account_id is None else [billing_account_id]),
    ).fetchone()[0]
    return date.fromisoformat(start) if start else None


def source_month_to_date(
    db: sqlite_utils.Database,
    source: str,
    billing_account_id: str,
    today: date,
    metric: str = "effective",
    grain: str | None = None,
) -> int:
    """What one source holds for a billing account from the 1st of today's month through
    yesterday, superseded or not (a source's own forecast adds to its own month to date).
    `grain`: the one grouping of a grouped source to sum, so each dollar counts once."""
    start = today.replace(day=1)
    end = today - timedelta(days=1)
    return db.execute(
        f"SELECT coalesce(sum({_metric(metric)}), 0) FROM daily_cost WHERE source = ?"
        " AND billing_account_id = ? AND grain IS ? AND date BETWEEN ? AND ?",
        [source, billing_account_id, grain, start.isoformat(), end.isoformat()],
    ).fetchone()[0]


def source_team_daily_totals(
    db: sqlite_utils.Database,
    source: str,
    billing_account_id: str,
    first: date,
    last: date,
    grain: str | None = None,
) -> dict[tuple[date, str | None], tuple[int, int, int]]:
    """Per (day, team), what one source holds for a billing account (superseded or not):
    effective and billed micro-dollars and the number of rows summed (each rounded to the
    micro-dollar on its own). `grain`: the one grouping of a grouped source, so each dollar
    counts once."""
    grain_clause = "grain IS NULL" if grain is None else "grain = ?"
    rows = db.execute(
        "SELECT date, team, coalesce(sum(effective_micros), 0), coalesce(sum(billed_micros), 0),"
        " count(*) FROM daily_cost WHERE source = ? AND billing_account_id = ?"
        f" AND date BETWEEN ? AND ? AND {grain_clause} GROUP BY date, team",
        [source, billing_account_id, first.isoformat(), last.isoformat()]
        + ([] if grain is None else [grain]),
    )
    return {(date.fromisoformat(day), team): (e, b, n) for day, team, e, b, n in rows}


# ---- resource inventory: what /untagged, the tag policy and the digests read


@dataclass(frozen=True)
class ResourceCount:
    name: str  # the team (UNTAGGED for none), account id or resource type
    resources: int
    untagged: int
    idle: int


_RESOURCE_GROUPS = {"team": "team", "account": "account_id", "type": "resource_type"}


def _resource_filter(
    team: str | None, account: str | None, resource_type: str | None
) -> tuple[str, list[str]]:
    clauses, params = ["1 = 1"], []
    if team == UNTAGGED:
        clauses.append("team IS NULL")
    elif team is not None:
        clauses.append("team = ?")
        params.append(team)
    if account is not None:
        clauses.append("account_id = ?")
        params.append(account)
    if resource_type is not None:
        clauses.append("resource_type = ?")
        params.append(resource_type)
    return " AND ".join(clauses), params


def resources(
    db: sqlite_utils.Database,
    team: str | None = None,
    account: str | None = None,
    resource_type: str | None = None,
    idle_only: bool = False,
    limit: int | None = None,
) -> list[dict]:
    """Live resources of the last inventory (rows of `resources`, tags and cpu_daily as JSON
    text), for a team (UNTAGGED: those with no team), an account and / or a type; ordered by
    account, type and id."""
    where, params = _resource_filter(team, account, resource_type)
    if idle_only:
        where += " AND idle = 1"
    sql = f"SELECT * FROM resources WHERE {where} ORDER BY account_id, resource_type, resource_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return list(db.query(sql, params))


def idle_resources(
    db: sqlite_utils.Database, team: str | None = None, account: str | None = None
) -> list[dict]:
    """Running EC2 instances whose CPU stayed under the idle threshold every day of the
    window (see `aws.idle_cpu_percent`, `aws.idle_days`)."""
    return resources(db, team=team, account=account, idle_only=True)


def resource_counts(
    db: sqlite_utils.Database,
    by: str,
    team: str | None = None,
    account: str | None = None,
    resource_type: str | None = None,
) -> list[ResourceCount]:
    """Resources per team / account / type, with how many are untagged and idle; most
    resources first."""
    try:
        column = _RESOURCE_GROUPS[by]
    except KeyError:
        raise ValueError(f"cannot count resources by {by!r}") from None
    where, params = _resource_filter(team, account, resource_type)
    sql = (
        f"SELECT {column}, count(*) AS n, sum(team IS NULL), sum(idle) FROM resources"
        f" WHERE {where} GROUP BY {column} ORDER BY n DESC, {column}"
    )
    return [
        ResourceCount(_label(by, name), n, untagged, idle)
        for name, n, untagged, idle in db.execute(sql, params)
    ]


def inventory_seen_at(db: sqlite_utils.Database) -> str | None:
    """When the inventory last saw a resource (ISO 8601 UTC): how fresh it is."""
    return db.execute("SELECT max(last_seen) FROM resources").fetchone()[0]


# ---- anomaly episodes (jobs/anomalies.py, handlers/actions)


def anomaly_episode(db: sqlite_utils.Database, episode_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM anomaly_episodes WHERE id = ?", [episode_id]))
    return rows[0] if rows else None


def anomaly_episodes_since(db: sqlite_utils.Database, day: date) -> list[dict]:
    """Episodes still open or marked expected, and those whose last anomalous day is `day` or
    later: what a run must continue rather than alert again. Oldest first."""
    return list(
        db.query(
            "SELECT * FROM anomaly_episodes WHERE status IN ('open', 'expected') OR last_day >= ?"
            " ORDER BY start, id",
            [day.isoformat()],
        )
    )


def anomaly_episode_starting(db: sqlite_utils.Database, series: str, start: date) -> dict | None:
    """The episode of `series` that started on `start`, whatever became of it."""
    rows = list(
        db.query(
            "SELECT * FROM anomaly_episodes WHERE series = ? AND start = ?",
            [series, start.isoformat()],
        )
    )
    return rows[0] if rows else None


def anomaly_mutes(db: sqlite_utils.Database, day: date) -> dict[str, str]:
    """series -> the last muted day, for the mutes still running on `day`."""
    return {
        row["series"]: row["until"]
        for row in db.query(
            "SELECT series, until FROM anomaly_mutes WHERE until >= ?", [day.isoformat()]
        )
    }


def anomaly_actions(db: sqlite_utils.Database, episode_id: int) -> list[dict]:
    return list(
        db.query("SELECT * FROM anomaly_actions WHERE episode_id = ? ORDER BY id", [episode_id])
    )


def account_name(db: sqlite_utils.Database, account_id: str) -> str | None:
    """The name ingest recorded for an account id (a sub-account's own name first)."""
    row = db.execute(
        "SELECT name FROM accounts WHERE account_id = ? AND name IS NOT NULL"
        " ORDER BY kind = 'sub' DESC LIMIT 1",
        [account_id],
    ).fetchone()
    return row[0] if row else None


# ---- anomaly series and root causes (bot.analytics.anomaly_series, bot.analytics.root_cause)

# The rows a cost series reads: team x service (x account where the source knows it), so of
# Cost Explorer's two groupings the team x service one, never both: each dollar counts once.
SERIES_ROWS = rows_that_count({"team", "service"})


def series_day_micros(
    db: sqlite_utils.Database, first: date, last: date, metric: str = "effective"
) -> list[tuple[str | None, str | None, str | None, str, str, str]]:
    """The exact cost of every series with rows in first..last, one row per series in the
    order of its key: (team, service, account_id, currency, days, micros), where `days` (day
    numbers from 0 at `first`) and `micros` (that day's sum) are comma-separated integers in
    the same order. Nothing dated after `last` is read.

    One row per series rather than per series-day: handing Python a string per series is
    much cheaper than a tuple per cell, and numpy parses the numbers at C speed."""
    # A window of most of the store's days is read in one scan of the table: walking an index
    # (of dates, or the team index SQLite picks for the grouping) costs a lookup per row, 25%
    # slower on 2M rows. A short window of a long history walks the date index.
    held = data_range(db)
    whole = held is not None and (last - first) * 2 >= held[1] - held[0]
    sql = (
        "SELECT team, service, account, code, group_concat(day), group_concat(micros)"
        f" FROM (SELECT team, service, account_id AS account, {CURRENCY_SQL} AS code,"
        " CAST(julianday(date) - julianday(?) AS INTEGER) AS day,"
        f" coalesce(sum({_metric(metric)}), 0) AS micros"
        f" FROM daily_cost{' NOT INDEXED' if whole else ''}"
        f" WHERE {SERIES_ROWS} AND date BETWEEN ? AND ? GROUP BY 1, 2, 3, 4, 5)"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    return db.execute(sql, [first.isoformat(), first.isoformat(), last.isoformat()]).fetchall()


def _series_filter(
    team: str | None, service: str | None, account: str | None, currency: str, rollup: bool
) -> tuple[str, list[object]]:
    """The rows of one series (`IS`: untagged spend and Cost Explorer's rows without an
    account are NULL); a roll-up is every series of the team in that currency."""
    clauses = [SERIES_ROWS, "team IS ?", f"{CURRENCY_SQL} = ?"]
    params: list[object] = [team, normalise_currency(currency)]
    if not rollup:
        clauses += ["service IS ?", "account_id IS ?"]
        params += [service, account]
    return " AND ".join(clauses), params


def series_cause_totals(
    db: sqlite_utils.Database,
    team: str | None,
    service: str | None,
    account: str | None,
    currency: str,
    event: tuple[date, date],
    baseline: tuple[date, date] | None,
    *,
    rollup: bool = False,
    metric: str = "effective",
) -> list[tuple[str | None, str | None, str | None, str | None, int, int]]:
    """Per (service, account_id, region, sku) of a series (or a team's roll-up): the exact
    cost over the event's days and over the baseline's days (None: no baseline days), as
    (service, account_id, region, sku, event micros, baseline micros). Cost Explorer rows
    have no region or sku (NULL), nor an account in the team x service grouping read here."""
    where, params = _series_filter(team, service, account, currency, rollup)
    column = _metric(metric)
    low = baseline[0] if baseline else event[0]
    base_first, base_last = baseline or (event[0], event[0] - timedelta(days=1))
    sql = (
        "SELECT service, account_id, region, sku,"
        f" coalesce(sum(CASE WHEN date >= ? THEN {column} END), 0),"
        f" coalesce(sum(CASE WHEN date BETWEEN ? AND ? THEN {column} END), 0)"
        f" FROM daily_cost WHERE {where} AND date BETWEEN ? AND ?"
        " GROUP BY 1, 2, 3, 4"
    )
    return db.execute(
        sql,
        [
            event[0].isoformat(),
            base_first.isoformat(),
            base_last.isoformat(),
            *params,
            low.isoformat(),
            event[1].isoformat(),
        ],
    ).fetchall()


# ---- tagging compliance over time (bot.analytics.tag_compliance, stored daily)


def compliance_trend(db: sqlite_utils.Database, kind: str, value: str, since: date) -> list[dict]:
    """The stored compliance of one scope (kind org | team | account; value 'all', a team
    or an account id) for each day from `since` on, oldest first; `missing` parsed
    ({key: {"resources": n, "cost_micros": m}})."""
    rows = db.query(
        "SELECT * FROM tag_compliance WHERE kind = ? AND value = ? AND day >= ? ORDER BY day",
        [kind, value, since.isoformat()],
    )
    return [row | {"missing": json.loads(row["missing"] or "{}")} for row in rows]


# ---- the tag enforcement ladder (jobs/tag_policy.py, handlers/actions)


def enforcement_state(db: sqlite_utils.Database, arn: str) -> dict | None:
    """Where a resource is on the ladder (a tag_enforcement row; `tag_ladder.LadderState.from_row`
    reads it), or None: never reported."""
    rows = list(db.query("SELECT * FROM tag_enforcement WHERE arn = ?", [arn]))
    return rows[0] if rows else None


def enforcement_audit(db: sqlite_utils.Database, arn: str) -> list[dict]:
    """Every step recorded for a resource, real or dry, and its approvals; oldest first."""
    return list(db.query("SELECT * FROM enforcement_audit WHERE arn = ? ORDER BY id", [arn]))


def enforcement_audit_of_run(db: sqlite_utils.Database, run_date: date) -> list[dict]:
    """What the run of one day did (and was approved that day), in order."""
    return list(
        db.query(
            "SELECT * FROM enforcement_audit WHERE run_date = ? ORDER BY id",
            [run_date.isoformat()],
        )
    )


def awaiting_approval(db: sqlite_utils.Database) -> list[dict]:
    """Resources whose termination waits for an approver's click; oldest request first."""
    return list(
        db.query(
            "SELECT * FROM tag_enforcement WHERE last_step = 'await-approval'"
            " AND approved_by IS NULL AND terminated_at IS NULL ORDER BY last_step_at, arn"
        )
    )


# ---- verified savings (the enforcement ladder, the idle flow; read by the champions)


def verified_savings(db: sqlite_utils.Database, start: date, end: date) -> list[dict]:
    """Resources stopped or terminated through Costbot from `start` to `end` (inclusive), with
    the monthly run-rate each saves; oldest first."""
    return list(
        db.query(
            "SELECT * FROM verified_savings WHERE day BETWEEN ? AND ? ORDER BY at, id",
            [start.isoformat(), end.isoformat()],
        )
    )


# ---- business metrics (unit costs). The organisation's scope is None here; the store
# spells it ORGANISATION_METRIC_SCOPE (m014), and values are exact decimal text.

ORGANISATION_SCOPE = ORGANISATION_METRIC_SCOPE


@dataclass(frozen=True)
class MetricSeries:
    metric: str
    scope: str | None  # None: the whole organisation; else a team name
    first_day: date
    last_day: date
    days: int  # days with a value


def _stored_scope(scope: str | None) -> str:
    return ORGANISATION_SCOPE if scope is None else scope


def metric_catalog(db: sqlite_utils.Database) -> list[MetricSeries]:
    """Every (metric, scope) with values, by metric then scope (the organisation first)."""
    rows = db.execute(
        "SELECT metric, scope, min(date), max(date), count(*) FROM business_metrics"
        " GROUP BY metric, scope ORDER BY metric, scope != ?, scope",
        [ORGANISATION_SCOPE],
    ).fetchall()
    return [
        MetricSeries(
            metric,
            None if scope == ORGANISATION_SCOPE else scope,
            date.fromisoformat(first),
            date.fromisoformat(last),
            days,
        )
        for metric, scope, first, last, days in rows
    ]


def metric_daily_values(
    db: sqlite_utils.Database, metric: str, scope: str | None, start: date, end: date
) -> dict[date, Decimal]:
    """The metric's value per day from `start` to `end` (inclusive), exactly as loaded; days
    without a value are absent (a gap, never a zero)."""
    rows = db.execute(
        "SELECT date, value FROM business_metrics WHERE metric = ? AND scope = ?"
        " AND date BETWEEN ? AND ? ORDER BY date",
        [metric, _stored_scope(scope), start.isoformat(), end.isoformat()],
    ).fetchall()
    return {date.fromisoformat(day): Decimal(value) for day, value in rows}


def cost_by_day(
    db: sqlite_utils.Database,
    start: date,
    end: date,
    scope: Scope,
    metric: str = "effective",
    product: str | None = None,
) -> dict[date, int]:
    """The scope's cost on each day from `start` to `end` that has cost rows for it (a day
    without rows is absent, not $0: unit costs report it as a gap). `product` narrows it to
    the `product` tag (Cost Explorer's grouped rows carry no product: full-grain rows only)."""
    where, params = scope.where()
    if product is not None:
        where += " AND product = ?"
        params = [*params, product]
    sql = (
        f"SELECT date, coalesce(sum({_metric(metric)}), 0) FROM daily_cost"
        f" WHERE {where} AND date BETWEEN ? AND ? GROUP BY date"
    )
    rows = db.execute(sql, [*params, start.isoformat(), end.isoformat()]).fetchall()
    return {date.fromisoformat(day): micros for day, micros in rows}


# ---- idle EC2 instances: their notices (jobs/idle.py, handlers/actions/idle.py)


def idle_notice(db: sqlite_utils.Database, arn: str) -> dict | None:
    """The idle notice of one instance (any status), or None if it was never reported."""
    rows = list(db.query("SELECT * FROM idle_notices WHERE arn = ?", [arn]))
    return rows[0] if rows else None


def idle_notices(db: sqlite_utils.Database, status: str | None = None) -> list[dict]:
    """Every idle notice, or those with one status; by ARN."""
    if status is None:
        return list(db.query("SELECT * FROM idle_notices ORDER BY arn"))
    return list(db.query("SELECT * FROM idle_notices WHERE status = ? ORDER BY arn", [status]))


# ---- the enforcement ladder's notices (jobs/tag_policy.py)

# The steps the ladder's messages tell (enforcement_audit.step).
TOLD_STEPS = ("notify", "stop", "terminate", "await-approval")


def untold_ladder_steps(db: sqlite_utils.Database, since: date) -> list[dict]:
    """Steps the scheduled job recorded from `since` on (done, or failed to act) that no
    message told yet: never handed to a message, or handed to one Slack did not take (its
    delivery is missing or failed). A delivery still pending counts as told: the ledger never
    posts a key twice, so neither does the ladder. Oldest first."""
    steps = ", ".join("?" for _ in TOLD_STEPS)
    return list(
        db.query(
            "SELECT a.* FROM enforcement_audit a"
            " LEFT JOIN tag_policy_notices n ON n.audit_id = a.id"
            " LEFT JOIN deliveries d ON d.key = n.delivery_key"
            " WHERE a.actor = 'costbot' AND a.outcome IN ('done', 'failed')"
            f" AND a.step IN ({steps})"
            " AND a.run_date >= ? AND (n.audit_id IS NULL OR d.key IS NULL OR d.status = 'failed')"
            " ORDER BY a.id",
            [*TOLD_STEPS, since.isoformat()],
        )
    )


def dominant_teams_by_account(db: sqlite_utils.Database) -> dict[str, tuple[str, int, int]]:
    """account id -> (the team owning most of its tagged resources, how many it owns, how many
    tagged resources the account has): a guess at who owns its untagged ones."""
    found: dict[str, tuple[str, int, int]] = {}
    rows = db.execute(
        "SELECT account_id, team, count(*) AS n FROM resources WHERE team IS NOT NULL"
        " GROUP BY account_id, team ORDER BY account_id, n DESC, team"
    ).fetchall()
    totals: dict[str, int] = {}
    for account, _, count in rows:
        totals[account] = totals.get(account, 0) + count
    for account, team, count in rows:
        if account not in found:
            found[account] = (team, count, totals[account])
    return found


# ---- /untagged and the Claim modal


def inventory_teams(db: sqlite_utils.Database) -> list[str]:
    """Teams of the inventory and of the resource-level cost (those can differ from the
    daily cost's when only resources were loaded)."""
    rows = db.execute(
        "SELECT team FROM resources WHERE team IS NOT NULL"
        " UNION SELECT team FROM resource_cost WHERE team IS NOT NULL"
    )
    return sorted(row[0] for row in rows)


def inventory_accounts(db: sqlite_utils.Database) -> list[str]:
    """Account ids of the inventory and of the resource-level cost."""
    rows = db.execute(
        "SELECT account_id FROM resources WHERE account_id IS NOT NULL"
        " UNION SELECT account_id FROM resource_cost WHERE account_id IS NOT NULL"
    )
    return sorted(row[0] for row in rows)


def inventory_resource(db: sqlite_utils.Database, arn: str) -> dict | None:
    """One inventory row by ARN, `tags` parsed ({} when none or unreadable)."""
    rows = list(db.query("SELECT * FROM resources WHERE arn = ?", [arn]))
    if not rows:
        return None
    try:
        tags = json.loads(rows[0]["tags"] or "{}")
    except ValueError:
        tags = {}
    return rows[0] | {"tags": tags if isinstance(tags, dict) else {}}


def inventory_tag_values(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """Every tag key of the inventory -> {value: how many resources carry it}, keys as
    spelled on the resources (the caller matches them with `bot.config.tag_key`)."""
    found: dict[str, dict[str, int]] = {}
    for (text,) in db.execute("SELECT tags FROM resources WHERE tags IS NOT NULL"):
        try:
            tags = json.loads(text)
        except ValueError:
            continue
        if not isinstance(tags, dict):
            continue
        for key, value in tags.items():
            if isinstance(value, str) and value.strip():
                counts = found.setdefault(str(key), {})
                counts[value.strip()] = counts.get(value.strip(), 0) + 1
    return found


def channel_id(db: sqlite_utils.Database, name: str) -> str | None:
    """The id Slack answered for a channel name, if Costbot has posted there before."""
    rows = list(
        db.query("SELECT id FROM slack_channels WHERE name = ?", [name.lstrip("#").lower()])
    )
    return rows[0]["id"] if rows else None


def latest_delivery(
    db: sqlite_utils.Database, job: str, channel: str, *, sent_only: bool = True
) -> dict | None:
    """The newest delivery of `job` to `channel` (a row of `deliveries`), or None."""
    status = "AND status = 'sent'" if sent_only else ""
    rows = list(
        db.query(
            f"SELECT * FROM deliveries WHERE job = ? AND channel = ? {status}"
            " ORDER BY period DESC, created_at DESC LIMIT 1",
            [job, channel],
        )
    )
    return rows[0] if rows else None


# ---- App Home (bot/answers/app_home.py)


def open_anomaly_episodes(db: sqlite_utils.Database) -> list[dict]:
    """Every anomaly episode still open (alerted, not closed or marked expected), the largest
    increase per day first; rows of `anomaly_episodes`."""
    return list(
        db.query(
            "SELECT * FROM anomaly_episodes WHERE status = 'open'"
            " ORDER BY coalesce(actual_micros, 0) - coalesce(expected_micros, 0) DESC, id"
        )
    )


# ---- wins: kudos (issue 12)


def kudos_wins(db: sqlite_utils.Database, win_ids: list[int]) -> list[dict]:
    """The kudos wins with these ids, in the order given (unknown ids left out)."""
    if not win_ids:
        return []
    marks = ", ".join("?" for _ in win_ids)
    rows = {
        row["id"]: row
        for row in db.query(
            f"SELECT * FROM wins WHERE source = 'kudos' AND id IN ({marks})", list(win_ids)
        )
    }
    return [rows[i] for i in win_ids if i in rows]


def win_reporters(db: sqlite_utils.Database, win_ids: list[int]) -> dict[int, list[str]]:
    """Who reported each win, first reporter first (each once)."""
    found: dict[int, list[str]] = {i: [] for i in win_ids}
    if not win_ids:
        return found
    marks = ", ".join("?" for _ in win_ids)
    for row in db.query(
        f"SELECT win_id, user_id FROM win_reporters WHERE win_id IN ({marks}) ORDER BY at, rowid",
        list(win_ids),
    ):
        found.setdefault(row["win_id"], []).append(row["user_id"])
    return found


# ---- cost champions (bot/analytics/champions.py): wins, and what measured wins come from


def quickly_closed_anomalies(db: sqlite_utils.Database, start: date, end: date) -> list[dict]:
    """Closed anomaly episodes whose last anomalous day is from `start` to `end` (inclusive),
    oldest first, each with `actions`: who pressed what on it (anomaly_actions rows)."""
    episodes = list(
        db.query(
            "SELECT * FROM anomaly_episodes WHERE status = 'closed'"
            " AND coalesce(last_day, start) BETWEEN ? AND ? ORDER BY start, id",
            [start.isoformat(), end.isoformat()],
        )
    )
    for episode in episodes:
        episode["actions"] = list(
            db.query(
                "SELECT * FROM anomaly_actions WHERE episode_id = ? ORDER BY at, id",
                [episode["id"]],
            )
        )
    return episodes


def wins_of_month(db: sqlite_utils.Database, month: str) -> list[dict]:
    """Every `wins` row of a month (YYYY-MM), whatever its source and status, oldest first;
    `detail` parsed."""
    rows = db.query("SELECT * FROM wins WHERE month = ? ORDER BY id", [month])
    return [row | {"detail": json.loads(row["detail"] or "{}")} for row in rows]


def compliance_teams(db: sqlite_utils.Database, start: date, end: date) -> list[str]:
    """The teams with a stored daily tagging compliance from `start` to `end` (not the
    resources without a team tag: nobody's to celebrate)."""
    return [
        value
        for (value,) in db.execute(
            "SELECT DISTINCT value FROM tag_compliance WHERE kind = 'team'"
            " AND day BETWEEN ? AND ? AND value != ? ORDER BY value",
            [start.isoformat(), end.isoformat(), UNTAGGED],
        ).fetchall()
    ]


def last_compliance_on_or_before(
    db: sqlite_utils.Database, kind: str, value: str, start: date, end: date
) -> dict | None:
    """The latest stored compliance of one scope from `start` to `end`, or None."""
    rows = list(
        db.query(
            "SELECT * FROM tag_compliance WHERE kind = ? AND value = ? AND day BETWEEN ? AND ?"
            " ORDER BY day DESC LIMIT 1",
            [kind, value, start.isoformat(), end.isoformat()],
        )
    )
    return rows[0] if rows else None


# ---- scheduler (jobs/scheduler.py): the runs recorded in `job_runs` ----


def job_runs_since(db: sqlite_utils.Database, slot: str) -> list[dict]:
    """The recorded runs due at or after `slot` (ISO UTC), oldest first."""
    return list(
        db.query("SELECT * FROM job_runs WHERE slot >= ? ORDER BY slot, job, scope", [slot])
    )


def last_job_slots(db: sqlite_utils.Database) -> dict[tuple[str, str], str]:
    """(job, scope) -> the latest slot recorded for it, whatever its outcome: where a
    scheduler left off."""
    return {
        (row["job"], row["scope"]): row["slot"]
        for row in db.query("SELECT job, scope, MAX(slot) AS slot FROM job_runs GROUP BY 1, 2")
    }


def job_runs_to_retry(db: sqlite_utils.Database, now: str, max_attempts: int) -> list[dict]:
    """Failed runs with attempts left whose next attempt is due at `now` (ISO UTC), and runs
    still marked running (the claim decides whether their owner is gone), oldest first."""
    return list(
        db.query(
            "SELECT * FROM job_runs WHERE (status = 'failed' AND attempts < ?"
            " AND next_attempt_at <= ?) OR status = 'running' ORDER BY slot, job, scope",
            [max_attempts, now],
        )
    )


# ---- the monthly and quarterly reports (bot.analytics.monthly_report, quarterly_report)


def commitment_figures_by_team(db: sqlite_utils.Database, month: str) -> list[dict]:
    """Per team (None: untagged) and currency, the month's COMMITMENT_FIGURES_SQL over the
    full-grain rows that say their pricing category (FOCUS, Athena): a team's own Savings
    Plans coverage and spot share. Cost Explorer's figures are per billing account only, so
    they have no part here."""
    sums = ", ".join(
        f"coalesce(sum(CASE WHEN {where} THEN {column} END), 0) AS {name}"
        for name, (where, column) in COMMITMENT_FIGURES_SQL.items()
    )
    sql = (
        f"SELECT team, {CURRENCY_SQL} AS currency, {sums} FROM daily_cost"
        " WHERE date BETWEEN ? AND ? AND superseded = 0 AND grain IS NULL"
        " AND pricing_category IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return list(db.query(sql, _month_days(month)))


def tag_compliance_of_month(
    db: sqlite_utils.Database, month: str, kinds: tuple[str, ...] = ("org", "team")
) -> list[dict]:
    """The stored compliance rows (of `kinds`) of the last day computed for `month` (whose
    cost is that month's): the month's final figures. Empty when none was stored."""
    day = db.execute(
        "SELECT max(day) FROM tag_compliance WHERE month = ? AND day <= ?",
        [month, f"{month}-31"],
    ).fetchone()[0]
    if day is None:
        return []
    marks = ", ".join("?" for _ in kinds)
    rows = db.query(
        f"SELECT * FROM tag_compliance WHERE day = ? AND kind IN ({marks}) ORDER BY kind, value",
        [day, *kinds],
    )
    return [row | {"missing": json.loads(row["missing"] or "{}")} for row in rows]


def commitment_purchases(db: sqlite_utils.Database, start: date, end: date) -> list[dict]:
    """Purchases of commitments (FOCUS ChargeCategory 'Purchase' with a commitment discount:
    Savings Plans and reservation fees, upfront or recurring) from `start` to `end`, per month,
    commitment type and currency: billed cost (what was paid; their amortized cost is spread
    over the usage they cover) and how many daily rows. Full-grain rows only: Cost Explorer's
    grouped rows do not say what a charge was for."""
    return list(
        db.query(
            "SELECT substr(date, 1, 7) AS month, commitment_discount_type AS type,"
            f" commitment_discount_category AS category, {CURRENCY_SQL} AS currency,"
            " coalesce(sum(billed_micros), 0) AS billed_micros, count(*) AS rows"
            " FROM daily_cost WHERE date BETWEEN ? AND ? AND superseded = 0 AND grain IS NULL"
            " AND charge_category = 'Purchase'"
            " AND coalesce(commitment_discount_type, commitment_discount_category) IS NOT NULL"
            " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            [start.isoformat(), end.isoformat()],
        )
    )
