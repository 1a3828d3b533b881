"""The daily sync reads the business metrics of `metrics.prometheus` after the cost data, and
says so in its output; a Prometheus that cannot be read is a line, the cost data is stored."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlite_utils
from fake_cost_explorer import CostRow, FakeCostExplorer
from fake_prometheus import FakePrometheus

from bot.cli import main
from bot.store.queries import metric_daily_values

TODAY = date(2026, 11, 20)
ACCOUNT = "111111111111"
QUERY = "sum(increase(http_requests_total[1d]))"


@pytest.fixture
def sync_setup(aws, monkeypatch, tmp_path):
    rows = [
        CostRow(TODAY - timedelta(days=n), ACCOUNT, "payments", "Amazon S3", "10.00", "10.00")
        for n in range(1, 40)
    ]
    with FakeCostExplorer(rows, page_size=500) as ce, FakePrometheus() as prometheus:
        monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", ce.url)
        config = tmp_path / "costbot.yml"
        config.write_text(
            f"metrics:\n  prometheus:\n    url: {prometheus.url}\n    backfill_days: 3\n"
            f"    queries:\n      api_requests: '{QUERY}'\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("COSTBOT_CONFIG", str(config))
        monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
        monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
        yield prometheus, tmp_path / "costbot.db"


def test_the_sync_job_reads_prometheus_and_says_so(sync_setup, capsys):
    prometheus, db_path = sync_setup
    prometheus.series[QUERY] = {TODAY - timedelta(days=n): f"{n}00.5" for n in range(1, 10)}
    assert main(["run", "sync", "--date", TODAY.isoformat(), "--json"]) == 0
    out, err = capsys.readouterr()
    assert "Prometheus: api_requests: 3 daily value(s) 2026-11-17 to 2026-11-19" in err
    assert json.loads(out)["prometheus"]["series"] == [
        {
            "metric": "api_requests",
            "scope": None,
            "start": "2026-11-17",
            "end": "2026-11-19",
            "values": 3,
            "gaps": [],
        }
    ]
    db = sqlite_utils.Database(db_path)
    assert metric_daily_values(db, "api_requests", None, date(2026, 11, 1), TODAY) == {
        date(2026, 11, 17): Decimal("300.5"),
        date(2026, 11, 18): Decimal("200.5"),
        date(2026, 11, 19): Decimal("100.5"),
    }


def test_a_prometheus_failure_is_a_line_and_the_cost_data_is_stored(sync_setup, capsys):
    prometheus, db_path = sync_setup
    prometheus.error(QUERY, 422, "execution", "query processing would load too many samples")
    assert main(["run", "sync", "--date", TODAY.isoformat(), "--json"]) == 0
    out, err = capsys.readouterr()
    assert (
        f"Prometheus: not read: Prometheus at {prometheus.url}: HTTP 422 execution: query"
        " processing would load too many samples (query api_requests)"
    ) in err.splitlines()
    assert json.loads(out)["prometheus"]["error"].startswith("Prometheus at")
    db = sqlite_utils.Database(db_path)
    assert db.execute("SELECT count(*) FROM daily_cost").fetchone()[0] > 0
    assert db["business_metrics"].count == 0
