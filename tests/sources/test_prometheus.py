"""Business metrics from Prometheus over its HTTP API (a fake server speaking query_range):
which sample is which day, gaps, what is read when, errors in one line with nothing stored."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from fake_prometheus import Canned, FakePrometheus
from paths import REPO_ROOT

from bot.cli import main
from bot.config import PrometheusQuery, parse_config
from bot.store.queries import metric_daily_values

TODAY = date(2026, 11, 20)
YESTERDAY = TODAY - timedelta(days=1)
REQUESTS = "sum(increase(http_requests_total[1d]))"
ORDERS = 'sum(increase(orders_total{shop="eu"}[1d]))'


def day(n: int) -> date:
    return date(2026, 11, n)


def midnight(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


@pytest.fixture
def prometheus() -> FakePrometheus:
    with FakePrometheus() as fake:
        yield fake


@pytest.fixture
def setup(prometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def configure(extra: str = "") -> Path:
        config = tmp_path / "costbot.yml"
        config.write_text(
            f"""\
teams:
  - name: payments
    aliases: [pay]
metrics:
  prometheus:
    url: {prometheus.url}/
    backfill_days: 5
    queries:
      api_requests: '{REQUESTS}'
      orders: {{query: '{ORDERS}', scope: Pay}}
{extra}""",
            encoding="utf-8",
        )
        monkeypatch.setenv("COSTBOT_CONFIG", str(config))
        monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
        return tmp_path / "costbot.db"

    return configure


def stored(db_path: Path, metric: str, scope: str | None) -> dict[date, Decimal]:
    db = sqlite_utils.Database(db_path)
    try:
        return metric_daily_values(db, metric, scope, day(1), day(30))
    finally:
        db.close()


def sync(*args: str) -> int:
    return main(["sync", "prometheus", "--today", TODAY.isoformat(), *args])


def test_the_sample_at_midnight_is_the_day_that_ended(prometheus, setup, capsys):
    db = setup()
    prometheus.series[REQUESTS] = {day(n): str(1000 * n) for n in range(10, 20)}
    prometheus.series[ORDERS] = {day(15): "12", day(16): "12.5", day(17): "NaN", day(19): "7"}
    assert sync() == 0

    # backfill_days: 5 -> Nov 15 to Nov 19 (yesterday), evaluated at Nov 16 ... Nov 20 00:00.
    assert stored(db, "api_requests", None) == {day(n): Decimal(1000 * n) for n in range(15, 20)}
    # NaN and a missing sample are gaps, never zeros; the scope is the team's canonical name.
    assert stored(db, "orders", "payments") == {
        day(15): Decimal(12),
        day(16): Decimal("12.5"),
        day(19): Decimal(7),
    }
    first = prometheus.requests[0]
    assert (first["method"], first["query"], first["step"]) == ("POST", REQUESTS, "86400")
    assert (int(first["start"]), int(first["end"])) == (midnight(day(16)), midnight(TODAY))
    assert capsys.readouterr().out.splitlines() == [
        "Prometheus: api_requests: 5 daily value(s) 2026-11-15 to 2026-11-19",
        "Prometheus: orders (payments): 3 daily value(s) 2026-11-15 to 2026-11-19;"
        " 2 day(s) without a value: 2026-11-17, 2026-11-18",
        f"Stored 8 business metric values from {prometheus.url}",
    ]


def test_the_next_run_reads_from_the_day_after_the_last_value(prometheus, setup, capsys):
    db = setup()
    prometheus.series[REQUESTS] = {day(n): "5" for n in range(1, 30)}
    prometheus.series[ORDERS] = {day(n): "1" for n in range(1, 30)}
    assert sync() == 0
    prometheus.requests.clear()
    capsys.readouterr()

    assert main(["sync", "prometheus", "--today", "2026-11-22"]) == 0
    assert [(int(r["start"]), int(r["end"])) for r in prometheus.requests] == [
        (midnight(day(21)), midnight(day(22)))
    ] * 2  # Nov 20 and 21, for both queries
    assert sorted(stored(db, "api_requests", None)) == [day(n) for n in range(15, 22)]

    prometheus.requests.clear()
    assert main(["sync", "prometheus", "--today", "2026-11-22"]) == 0
    assert prometheus.requests == []
    assert "Prometheus: api_requests: up to date (through 2026-11-21)" in capsys.readouterr().out


def test_days_re_reads_and_replaces(prometheus, setup):
    db = setup()
    prometheus.series[REQUESTS] = {day(n): "5" for n in range(1, 30)}
    prometheus.series[ORDERS] = {}
    assert sync() == 0
    prometheus.series[REQUESTS][day(19)] = "6.25"
    assert sync("--days", "2") == 0
    assert stored(db, "api_requests", None)[day(19)] == Decimal("6.25")
    assert sorted(stored(db, "api_requests", None)) == [day(n) for n in range(15, 20)]
    assert stored(db, "orders", "payments") == {}


def test_float_values_are_kept_to_six_decimal_places(prometheus, setup):
    db = setup()
    prometheus.series[REQUESTS] = {day(19): "1234.5678901234"}
    prometheus.series[ORDERS] = {day(19): "0.30000000000000004"}
    assert sync("--days", "1") == 0
    assert stored(db, "api_requests", None) == {day(19): Decimal("1234.567890")}
    assert stored(db, "orders", "payments") == {day(19): Decimal("0.3")}


def test_a_bearer_token_and_headers_are_sent(prometheus, setup, monkeypatch):
    setup("    bearer_token_env: PROM_TOKEN\n    headers: {X-Scope-OrgID: tenant-1}\n")
    prometheus.series[REQUESTS] = prometheus.series[ORDERS] = {}
    monkeypatch.setenv("PROM_TOKEN", "s3cret")
    assert sync("--days", "1") == 0
    headers = prometheus.requests[0]["headers"]
    # Header names are case-insensitive (urllib sends X-scope-orgid).
    assert (headers["authorization"], headers["x-scope-orgid"]) == ("Bearer s3cret", "tenant-1")

    monkeypatch.delenv("PROM_TOKEN")
    assert sync() == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("arrange", "problem"),
    [
        (
            lambda p: p.error(ORDERS, 400, "bad_data", 'parse error: unexpected "}"'),
            'HTTP 400 bad_data: parse error: unexpected "}" (query orders (payments))',
        ),
        (
            lambda p: p.error(ORDERS, 503, "unavailable", "too many queries"),
            "HTTP 503 unavailable: too many queries (query orders (payments))",
        ),
        (
            lambda p: p.canned.__setitem__(
                ORDERS, Canned(502, b"<html>Bad Gateway</html>", "text/html")
            ),
            "HTTP 502, not a Prometheus API answer: '<html>Bad Gateway</html>'",
        ),
        (
            lambda p: p.canned.__setitem__(
                ORDERS, Canned(200, b'{"status":"error","errorType":"timeout","error":"took"}')
            ),
            "HTTP 200 timeout: took (query orders (payments))",
        ),
        (
            lambda p: p.data(
                ORDERS, {"resultType": "vector", "result": [{"metric": {}, "value": [1, "2"]}]}
            ),
            "Prometheus query orders (payments): the answer is a vector, not a matrix",
        ),
        (
            lambda p: p.labels.__setitem__(ORDERS, [{"shop": "us"}]),
            "Prometheus query orders (payments): 2 series",
        ),
        (
            lambda p: p.series.__setitem__(ORDERS, {day(19): "-3"}),
            "the value for 2026-11-19: -3.000000 is negative",
        ),
        (
            lambda p: p.series.__setitem__(ORDERS, {day(19): "many"}),
            "Prometheus query orders (payments): 'many' for 2026-11-19 is not a number",
        ),
    ],
)
def test_an_unusable_answer_is_one_line_exit_1_and_nothing_stored(
    prometheus, setup, capsys, arrange, problem
):
    db = setup()
    prometheus.series[REQUESTS] = {day(n): "5" for n in range(1, 30)}
    prometheus.series[ORDERS] = {day(n): "1" for n in range(1, 30)}
    arrange(prometheus)
    assert sync() == 1
    err = capsys.readouterr().err
    assert problem in err and len(err.splitlines()) == 1, err
    assert err.startswith("costbot: ")
    # The first query was read, but a run stores all or nothing.
    assert stored(db, "api_requests", None) == {}


def test_a_server_that_is_not_there_is_one_line(setup, tmp_path, monkeypatch, capsys):
    setup()
    url = f"http://127.0.0.1:{_free_port()}"
    config = tmp_path / "costbot.yml"
    config.write_text(
        f"metrics:\n  prometheus:\n    url: {url}\n    queries: {{x: 'up'}}\n", encoding="utf-8"
    )
    assert sync() == 1
    err = capsys.readouterr().err
    assert err.startswith(f"costbot: Prometheus at {url}: cannot connect (")
    assert len(err.splitlines()) == 1


def test_without_prometheus_in_the_config_the_command_says_so(tmp_path, monkeypatch, capsys):
    config = tmp_path / "costbot.yml"
    config.write_text("teams: []\n", encoding="utf-8")
    monkeypatch.setenv("COSTBOT_CONFIG", str(config))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    assert sync() == 2
    assert capsys.readouterr().err == (
        f"costbot: {config}: no metrics.prometheus section: nothing to read\n"
    )


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("    url: prometheus:9090\n    queries: {x: up}\n", "metrics.prometheus.url"),
        ("    url: http://p:9090\n    queries: {}\n", "metrics.prometheus.queries"),
        ("    url: http://p:9090\n    queries: {'a b': up}\n", "metrics.prometheus.queries"),
        (
            "    url: http://p:9090\n    queries: {x: {query: up, team: a}}\n",
            "metrics.prometheus.queries.x",
        ),
        (
            "    url: http://p:9090\n    queries: {X: up, x: up}\n",
            "metrics.prometheus.queries.x: a second query for x (the organisation)",
        ),
    ],
)
def test_the_config_section_is_checked(tmp_path, monkeypatch, capsys, section, problem):
    config = tmp_path / "costbot.yml"
    config.write_text("metrics:\n  prometheus:\n" + section, encoding="utf-8")
    monkeypatch.setenv("COSTBOT_CONFIG", str(config))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    assert sync() == 2
    err = capsys.readouterr().err
    assert err.startswith(f"costbot: {config}: ") and problem in err, err


def test_the_documented_example_is_a_valid_config():
    lines = (REPO_ROOT / "costbot.example.yml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# metrics:")
    end = lines.index("", start)  # the commented block ends at the first blank line
    block = "\n".join(line.removeprefix("# ") for line in lines[start:end])
    settings = parse_config(yaml.safe_load(block)).metrics.prometheus
    assert settings is not None and settings.url == "http://prometheus:9090"
    assert settings.queries == (
        PrometheusQuery("api_requests", "sum(increase(http_requests_total[1d]))"),
        PrometheusQuery("orders", "sum(increase(orders_total[1d]))", "payments"),
    )
    assert settings.bearer_token_env == "PROMETHEUS_TOKEN"
    assert settings.headers == (("X-Scope-OrgID", "tenant-1"),)
