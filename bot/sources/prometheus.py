"""Business metrics from Prometheus: a PromQL query per metric (`metrics.prometheus` in the
config), read a day at a time through the HTTP API's range query, `POST /api/v1/query_range`.

Which value is which day. A range query evaluates the expression at `start`, `start + step`,
... up to `end`, and each evaluation sees the data up to its own timestamp. With `step` one day
and every timestamp on a UTC midnight, the sample at midnight starting day D+1 (`D+1
00:00:00Z`) of a query like `sum(increase(orders_total[1d]))` is the increase over the window
(D 00:00, D+1 00:00]: day D's figure. So the days D1 ... Dn are read with `start` = D1 + 1 day
and `end` = Dn + 1 day, both at 00:00 UTC, and the sample at timestamp t is stored for the UTC
day before t. A query should therefore cover exactly one day ending at its evaluation time:
`increase(x[1d])` for a counter, `sum_over_time(x[1d])`, `max_over_time(active_users[1d])`.

What Prometheus gives is a float (and `increase` extrapolates to the window's edges): the value
is kept to 6 decimal places, as text, never summed as a float. A missing sample, `NaN` or an
infinity is a gap (no value for that day), never a zero. The query must return one series
(wrap it in `sum(...)`); a negative value stops the sync. Every query is read before anything
is written, and then all are written in one transaction: a run stores all or nothing.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from bot.config import Config, PrometheusQuery, PrometheusSettings
from bot.sources.business_metrics import FRACTION_STEP, MetricValue, parse_value
from bot.store import open_store
from bot.store.queries import metric_catalog
from bot.store.writers import MetricLoad, write_metric_loads

DAY_SECONDS = 86_400
API_PATH = "/api/v1/query_range"
# What an error line quotes of a server's answer at most.
QUOTE_CHARS = 200


class PrometheusProblem(Exception):
    """Prometheus could not be read, or answered something unusable: one line; nothing stored."""


@dataclass(frozen=True)
class SeriesRead:
    query: PrometheusQuery
    first_day: date
    last_day: date
    values: dict[date, Decimal]
    gaps: tuple[date, ...]  # days in the range without a usable value

    def line(self) -> str:
        span = f"{self.first_day} to {self.last_day}"
        gaps = f"; {len(self.gaps)} day(s) without a value: {_days_text(self.gaps)}"
        return (
            f"Prometheus: {_label(self.query)}: {len(self.values):,} daily value(s) {span}"
            f"{gaps if self.gaps else ''}"
        )


@dataclass
class PrometheusSync:
    url: str
    read: list[SeriesRead] = field(default_factory=list)
    up_to_date: list[tuple[PrometheusQuery, date]] = field(default_factory=list)
    replaced: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def values(self) -> int:
        return sum(len(s.values) for s in self.read)

    def lines(self) -> list[str]:
        lines = [s.line() for s in self.read]
        lines += [
            f"Prometheus: {_label(q)}: up to date (through {last})" for q, last in self.up_to_date
        ]
        lines += [f"Prometheus: warning: {w}" for w in self.warnings]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "values": self.values,
            "replaced": self.replaced,
            "series": [
                {
                    "metric": s.query.metric,
                    "scope": s.query.scope,
                    "start": s.first_day.isoformat(),
                    "end": s.last_day.isoformat(),
                    "values": len(s.values),
                    "gaps": [d.isoformat() for d in s.gaps],
                }
                for s in self.read
            ],
        }


def _label(query: PrometheusQuery) -> str:
    return f"{query.metric} ({query.scope})" if query.scope else query.metric


def _days_text(days: Sequence[date], limit: int = 5) -> str:
    shown = ", ".join(d.isoformat() for d in days[:limit])
    return shown + (f" and {len(days) - limit} more" if len(days) > limit else "")


def midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


class PrometheusClient:
    """The range-query call of Prometheus's HTTP API, over urllib (no extra dependency)."""

    def __init__(self, settings: PrometheusSettings, environ: dict[str, str] | None = None):
        self.settings = settings
        environ = os.environ if environ is None else environ
        self.headers = {"Accept": "application/json", **dict(settings.headers)}
        if settings.bearer_token_env:
            token = environ.get(settings.bearer_token_env)
            if not token:
                raise PrometheusProblem(
                    f"metrics.prometheus.bearer_token_env: {settings.bearer_token_env} is not set"
                )
            self.headers["Authorization"] = f"Bearer {token}"

    def query_range(self, query: str, start: datetime, end: datetime) -> dict[str, Any]:
        """The `data` of a successful answer; PrometheusProblem with one line otherwise."""
        url = self.settings.url + API_PATH
        form = {
            "query": query,
            "start": str(int(start.timestamp())),
            "end": str(int(end.timestamp())),
            "step": str(DAY_SECONDS),
        }
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(form).encode(),
            headers={**self.headers, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        where = f"Prometheus at {self.settings.url}"
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except TimeoutError:
            raise PrometheusProblem(
                f"{where}: no answer within {self.settings.timeout_seconds:g} s"
            ) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise PrometheusProblem(
                    f"{where}: no answer within {self.settings.timeout_seconds:g} s"
                ) from None
            reason = getattr(error.reason, "strerror", None) or str(error.reason)
            raise PrometheusProblem(f"{where}: cannot connect ({reason})") from None
        except OSError as error:
            raise PrometheusProblem(f"{where}: cannot connect ({error})") from None
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            text = body[:QUOTE_CHARS].decode("utf-8", "replace").strip().replace("\n", " ")
            raise PrometheusProblem(
                f"{where}: HTTP {status}, not a Prometheus API answer: {text!r}"
            ) from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            kind = payload.get("errorType", "error") if isinstance(payload, dict) else "error"
            detail = payload.get("error", "") if isinstance(payload, dict) else ""
            raise PrometheusProblem(
                f"{where}: HTTP {status} {kind}: {str(detail)[:QUOTE_CHARS] or 'no detail'}"
            )
        if status != 200:
            raise PrometheusProblem(f"{where}: HTTP {status}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise PrometheusProblem(f"{where}: the answer has no data")
        return {**data, "warnings": payload.get("warnings") or []}


def read_series(
    client: PrometheusClient, query: PrometheusQuery, first_day: date, last_day: date
) -> tuple[SeriesRead, list[str]]:
    """The daily values of one query from `first_day` to `last_day` (UTC days), and the
    server's warnings."""
    start, end = midnight_utc(first_day + timedelta(days=1)), midnight_utc(last_day + timedelta(1))
    try:
        data = client.query_range(query.query, start, end)
    except PrometheusProblem as problem:
        raise PrometheusProblem(f"{problem} (query {_label(query)})") from None
    where = f"Prometheus query {_label(query)}"
    if data.get("resultType") != "matrix":
        raise PrometheusProblem(
            f"{where}: the answer is a {data.get('resultType')}, not a matrix"
            f" (is {client.settings.url} the server's base URL?)"
        )
    result = data.get("result") or []
    if len(result) > 1:
        labels = ", ".join(json.dumps(r.get("metric", {}), sort_keys=True) for r in result[:3])
        raise PrometheusProblem(
            f"{where}: {len(result)} series ({labels[:QUOTE_CHARS]}); a metric needs one:"
            " wrap the query in sum(...)"
        )
    values: dict[date, Decimal] = {}
    for timestamp, text in result[0].get("values", []) if result else []:
        day = _day_of(where, timestamp, start, end)
        value = _value(where, day, text)
        if value is not None:
            values[day] = value
    days = [first_day + timedelta(n) for n in range((last_day - first_day).days + 1)]
    gaps = tuple(d for d in days if d not in values)
    warnings = [f"{_label(query)}: {w}" for w in data.get("warnings", [])]
    return SeriesRead(query, first_day, last_day, values, gaps), warnings


def _day_of(where: str, timestamp: object, start: datetime, end: datetime) -> date:
    try:
        seconds = Decimal(str(timestamp))
    except InvalidOperation:
        raise PrometheusProblem(f"{where}: {timestamp!r} is not a timestamp") from None
    if seconds % DAY_SECONDS or not start.timestamp() <= seconds <= end.timestamp():
        raise PrometheusProblem(
            f"{where}: a sample at {timestamp}, not at a UTC midnight from {start:%Y-%m-%d}"
            f" to {end:%Y-%m-%d}"
        )
    # The sample at midnight is the day that just ended.
    return (datetime.fromtimestamp(int(seconds), UTC) - timedelta(days=1)).date()


def _value(where: str, day: date, text: object) -> Decimal | None:
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        raise PrometheusProblem(f"{where}: {text!r} for {day} is not a number") from None
    if not number.is_finite():
        return None  # NaN (no data in the window), or an infinity (a division by zero)
    try:
        return parse_value(str(number.quantize(FRACTION_STEP, rounding=ROUND_HALF_EVEN)))
    except (ValueError, InvalidOperation) as problem:
        raise PrometheusProblem(f"{where}: the value for {day}: {problem}") from None


def plan_days(
    config: Config, db: Any, today: date, days: int | None
) -> dict[PrometheusQuery, tuple[date, date] | date]:
    """Per query, the days to read: (first, last); or, when nothing is due, the last day
    stored. The last day is always yesterday (today is not over); the first, with `days`,
    `days` days back, else the day after the last stored value, else `backfill_days` back."""
    settings = config.metrics.prometheus
    assert settings is not None
    yesterday = today - timedelta(days=1)
    stored = {(s.metric, s.scope): s.last_day for s in metric_catalog(db)}
    planned: dict[PrometheusQuery, tuple[date, date] | date] = {}
    for query in settings.queries:
        last = stored.get((query.metric, query.scope))
        if days is not None:
            first = yesterday - timedelta(days=days - 1)
        elif last is not None:
            first = last + timedelta(days=1)
        else:
            first = yesterday - timedelta(days=settings.backfill_days - 1)
        planned[query] = (first, yesterday) if first <= yesterday else yesterday
    return planned


def sync_prometheus(
    config: Config,
    db_path: str | os.PathLike,
    today: date,
    *,
    days: int | None = None,
    say: Callable[[str], None] | None = None,
    environ: dict[str, str] | None = None,
) -> PrometheusSync:
    """Read every configured query for the days due (see `plan_days`) and store the values,
    all or nothing: PrometheusProblem with one line, and nothing written, if any query fails."""
    settings = config.metrics.prometheus
    if settings is None:
        raise PrometheusProblem("no metrics.prometheus in the config")
    client = PrometheusClient(settings, environ)
    report = PrometheusSync(settings.url)
    db = open_store(db_path)
    try:
        for query, due in plan_days(config, db, today, days).items():
            if isinstance(due, date):
                report.up_to_date.append((query, due))
                continue
            series, warnings = read_series(client, query, *due)
            report.read.append(series)
            report.warnings += warnings
        loads = [
            MetricLoad(
                "prometheus",
                f"{settings.url} {_label(s.query)}",
                None,
                [
                    MetricValue(day, s.query.metric, s.query.scope, value).row()
                    for day, value in sorted(s.values.items())
                ],
            )
            for s in report.read
            if s.values
        ]
        report.replaced = write_metric_loads(db, loads)
    finally:
        db.close()
    for line in report.lines():
        (say or print)(line)
    return report
