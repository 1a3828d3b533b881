"""`costbot demo`: the demo organisation goes through the real ingest (totals to the cent
against the generated FOCUS files), its files load again with `costbot ingest`, an up-to-date
store is reused rather than rebuilt, and its preview opens in a browser with every chart."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
import shutil
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import unescape

import pytest
import sqlite_utils
import time_machine
from browser import images_loaded
from focus_factory import to_cent

from bot.cli import main
from bot.config import load_config
from bot.demo import build_demo_store
from bot.sources.demo_data import demo_anomalies

TODAY = date(2026, 11, 27)
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`costbot demo --out DIR` exactly as a user runs it, with the clock moved to TODAY: the
    command takes no date, so its data must end the day before the clock's day."""
    out = tmp_path_factory.mktemp("demo-out")
    printed = io.StringIO()
    clock = time_machine.travel(datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    with clock, contextlib.redirect_stdout(printed):
        assert main(["demo", "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def focus_rows(demo) -> list[dict[str, str]]:
    out, _ = demo
    rows: list[dict[str, str]] = []
    for path in sorted((out / "data").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def effective_by_provider_and_month(db_path) -> dict[tuple[str, str], Decimal]:
    db = sqlite_utils.Database(db_path)
    try:
        return {
            (provider, month): to_cent(Decimal(micros) / 1_000_000)
            for provider, month, micros in db.execute(
                "SELECT provider, substr(date, 1, 7), sum(effective_micros)"
                " FROM daily_cost GROUP BY 1, 2"
            )
        }
    finally:
        db.close()


def preview_article(page: str, title: str) -> str:
    """The HTML of one message of the preview, found by its heading."""
    for article in re.findall(r"<article id=\"msg-\d+\">.*?</article>", page, flags=re.S):
        heading = re.search(r"<h2>(.*?)</h2>", article, flags=re.S)
        if heading and unescape(heading.group(1)) == title:
            return article
    raise AssertionError(f"no message titled {title!r} in the preview")


def test_demo_store_matches_its_focus_files_to_the_cent(demo, focus_rows):
    out, _ = demo
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in focus_rows:
        expected[row["ProviderName"], row["ChargePeriodStart"][:7]] += Decimal(row["EffectiveCost"])
    assert len(expected) == 3 * 13  # three clouds, thirteen months
    stored = effective_by_provider_and_month(out / "costbot-demo.db")
    assert stored == {key: to_cent(total) for key, total in expected.items()}
    db = sqlite_utils.Database(out / "costbot-demo.db")
    assert db.execute("SELECT max(date) FROM daily_cost").fetchone()[0] == YESTERDAY.isoformat()
    with (out / "metrics" / "business_metrics.csv").open(encoding="utf-8") as handle:
        metric_values = sum(1 for _ in handle) - 1  # less the header
    assert db["business_metrics"].count == metric_values > 0


def test_demo_files_load_with_the_ingest_commands(demo, tmp_path, monkeypatch, capsys):
    """What the README suggests after `make demo`: load the demo's folders into a store of
    your own. The FOCUS folder holds only FOCUS files; the business metrics sit beside it."""
    out, _ = demo
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "mine.db"))
    monkeypatch.setenv("COSTBOT_CONFIG", str(out / "costbot.yml"))

    assert main(["ingest", "focus", f"{out / 'data'}/"]) == 0, capsys.readouterr().err
    assert main(["ingest", "metrics", str(out / "metrics" / "business_metrics.csv")]) == 0

    mine = effective_by_provider_and_month(tmp_path / "mine.db")
    assert mine == effective_by_provider_and_month(out / "costbot-demo.db")
    metric_counts = [
        sqlite_utils.Database(path)["business_metrics"].count
        for path in (tmp_path / "mine.db", out / "costbot-demo.db")
    ]
    assert metric_counts[0] == metric_counts[1] > 0


def test_an_up_to_date_demo_store_is_reused_not_rebuilt(demo, caplog):
    """`costbot serve --demo` builds the demo store at start; on the same day, with the same
    seed, the store the last build left is served as it is."""
    out, _ = demo
    db_path = out / "costbot-demo.db"
    before = db_path.stat()
    ingests_before = list(sqlite_utils.Database(db_path)["ingests"].rows)

    with caplog.at_level(logging.INFO, logger="bot.demo"):
        store = build_demo_store(out, today=TODAY)

    assert store.reused and store.db_path == db_path
    after = db_path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert list(sqlite_utils.Database(db_path)["ingests"].rows) == ingests_before
    assert f"reusing the demo store {db_path}" in caplog.text


def test_a_demo_store_from_an_earlier_day_is_rebuilt(demo, tmp_path, caplog):
    """The next day the demo's data must end a day later: the old store is stale."""
    out, _ = demo
    copy = tmp_path / "demo-out"
    shutil.copytree(out, copy)
    tomorrow = TODAY + timedelta(days=1)

    with caplog.at_level(logging.INFO, logger="bot.demo"):
        store = build_demo_store(copy, today=tomorrow)

    assert not store.reused
    db = sqlite_utils.Database(store.db_path)
    assert db.execute("SELECT max(date) FROM daily_cost").fetchone()[0] == TODAY.isoformat()
    assert f"its data ends {YESTERDAY}, not {TODAY}" in caplog.text


def test_demo_summary_names_the_preview_and_the_data_range(demo):
    out, summary = demo
    assert f"Preview: {out / 'index.html'}" in summary
    assert "Nov 1, 2025 – Nov 26, 2026" in summary


def test_preview_shows_each_answer_to_the_cent(demo, focus_rows):
    """The preview shows what Slack would: the EC2 answer over 30 days carries the total of
    the FOCUS rows of those 30 days, summed here with Decimal, and bare /cost in #team-payments
    answers for payments with its forecast."""
    out, _ = demo
    page = (out / "index.html").read_text(encoding="utf-8")
    service = "Amazon Elastic Compute Cloud"
    first_day = YESTERDAY - timedelta(days=29)
    ec2 = sum(
        (
            Decimal(row["EffectiveCost"])
            for row in focus_rows
            if row["ServiceName"] == service
            and first_day.isoformat() <= row["ChargePeriodStart"][:10] <= YESTERDAY.isoformat()
        ),
        Decimal(0),
    )
    answer = unescape(preview_article(page, f"/cost service {service} 30d"))
    assert f"${to_cent(ec2):,.2f}" in answer

    bare = unescape(preview_article(page, "/cost"))
    assert "payments" in bare and "Forecast for Nov 30, 2026" in bare
    for shown in ("/cost team payments", "/cost top services", "/cost help"):
        preview_article(page, shown)
    assert "Did you mean" in preview_article(page, "/cost team paymnts")


@pytest.mark.slow
def test_demo_preview_charts_load_in_a_browser(demo, tmp_path):
    out, _ = demo
    loaded, total = images_loaded(out / "index.html", tmp_path / "profile")
    assert total >= 7  # one chart per answer that has one
    assert loaded == total


def test_preview_shows_the_injected_anomaly_as_an_alert_with_buttons(demo, focus_rows):
    """The demo's retry storm (payments' DynamoDB at 4x on its last two days) is what the
    anomaly job would post on the demo's day, in the team's channel, with the buttons; the
    amount got per day is the mean of those two days' FOCUS rows, to the cent."""
    out, summary = demo
    assert "Anomalies: 1 alert message(s) for Nov 26, 2026, in the preview" in summary
    page = (out / "index.html").read_text(encoding="utf-8")
    alert = unescape(preview_article(page, "Anomaly alert in #team-payments"))
    assert "Amazon DynamoDB" in alert
    storm = [anomaly for anomaly in demo_anomalies(YESTERDAY) if anomaly.team == "payments"]
    [anomaly] = storm
    days = {anomaly.first_day.isoformat(), (anomaly.last_day or YESTERDAY).isoformat()}
    config = load_config(out / "costbot.yml")

    def team_of(tags: str) -> str | None:
        """The first of the config's tag keys present (case, `-` / `_` / space ignored)."""
        found = {re.sub(r"[-_ ]", "", k.lower()): v for k, v in json.loads(tags or "{}").items()}
        for key in config.tag_keys:
            if (value := found.get(re.sub(r"[-_ ]", "", key.lower()))) is not None:
                return config.canonical_team(value)
        return None

    got = sum(
        (
            Decimal(row["EffectiveCost"])
            for row in focus_rows
            if row["ServiceName"] == "Amazon DynamoDB"
            and row["SubAccountId"] == "222222222222"
            and row["ChargePeriodStart"][:10] in days
            and team_of(row["Tags"]) == "payments"
        ),
        Decimal(0),
    )
    assert f"got ${to_cent(got / len(days)):,.2f}/day" in alert
    for button in ("Acknowledge", "Expected (adopt as normal)", "Mute 7 days", "Assign to"):
        assert button in alert


def test_preview_celebrates_last_months_stops_at_their_run_rate(demo, focus_rows):
    """The demo's champions: idle instances stopped through the real Stop flow in the middle
    of October, each at its September cost (its run-rate), summed here from the FOCUS rows."""
    out, _ = demo
    page = (out / "index.html").read_text(encoding="utf-8")
    celebration = unescape(preview_article(page, "Cost champions of October 2026 in #finops"))
    preview_article(page, "/champions last-month")
    stops = re.findall(
        r"stopped idle ec2:instance (i-[0-9a-f]+) by .*?: \$([\d,.]+)/month", celebration
    )
    assert len(stops) == 3
    for instance, shown in stops:
        september = sum(
            (
                Decimal(row["EffectiveCost"])
                for row in focus_rows
                if row["ResourceId"].endswith(f"/{instance}")
                and row["ChargePeriodStart"].startswith("2026-09")
            ),
            Decimal(0),
        )
        assert f"{to_cent(september):,.2f}" == shown
    assert "a year:" in celebration and "Top people" in celebration
