"""The monthly and quarterly messages: Slack's limits for any number of teams, names from
data escaped in every mrkdwn field and the fallback text, amounts to the cent, periods
spelled out, targets with their verdicts, and the chart each message carries."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from report_data import build, config

from bot.analytics.chargeback import Chargeback, ChargebackRow, month_period
from bot.analytics.commitments import Ratio
from bot.analytics.monthly_report import (
    Amount,
    CommitmentFigures,
    OrgMonth,
    TeamLine,
    monthly_report,
    previous_month,
    target_of,
)
from bot.analytics.opportunities import Opportunity
from bot.analytics.quarterly_report import quarterly_report
from bot.render import blocks
from bot.render.monthly_report import (
    monthly_cost_chart,
    org_chart_args,
    org_message,
    target_text,
    team_chart_args,
    team_message,
)
from bot.render.quarterly_report import chart_args, quarterly_message
from bot.store import open_reader

HOSTILE = "<!channel> & <@U123|boss> *bold*"


def _texts(message: dict) -> list[str]:
    """Every mrkdwn string Slack renders, the fallback included."""
    found = [message["text"]]
    for block in message["blocks"]:
        text = block.get("text")
        if isinstance(text, dict) and text.get("type") == "mrkdwn":
            found.append(text["text"])
        for element in block.get("elements", []):
            if element.get("type") == "mrkdwn":
                found.append(element["text"])
    return found


def _within_limits(message: dict) -> None:
    assert len(message["blocks"]) <= blocks.MESSAGE_BLOCKS_MAX
    for block in message["blocks"]:
        text = block.get("text")
        if isinstance(text, dict):
            assert len(text["text"]) <= blocks.SECTION_TEXT_MAX
    assert len(message["text"]) <= blocks.MESSAGE_TEXT_MAX


@pytest.fixture(scope="module")
def monthly(tmp_path_factory):
    db = open_reader(build(tmp_path_factory.mktemp("render")))
    try:
        yield monthly_report(db, config(), date(2026, 11, 1))
    finally:
        db.close()


def test_a_teams_message_to_the_cent_with_dates_and_targets(monthly):
    message = team_message(monthly.teams["payments"])
    _within_limits(message)
    text = "\n".join(_texts(message))
    assert "*$200.00* in October 2026 (Oct 1 – Oct 31, 2026)" in text
    assert "+$50.00 (+33.3%) vs September 2026 ($150.00)" in text
    assert "EUR 70.00" in text  # its own line: never added to the dollars
    assert "Budget $400.00: 50.0% used, $200.00 left ✅" in text
    assert "Savings Plans coverage: 47.4% (target 70–80%) ⚠️" in text
    assert "Spot share of compute: 20.0% (target 30–50%) ⚠️" in text
    assert "about *$100.00/month* ($1,200.00/year)" in text  # the idle instance
    assert "about *$12.04/month*" in text  # coverage at 70%, 28% discount
    assert "direct $200.00 + shared $21.43 = *$221.43*" in text
    assert "`costbot report chargeback --month 2026-10`" in text
    [image] = [b for b in message["blocks"] if b["type"] == "image"]
    assert image["alt_text"]


def test_the_organisation_message_names_each_teams_chargeback(monthly):
    message = org_message(monthly.organisation)
    _within_limits(message)
    text = "\n".join(_texts(message))
    assert "*$320.00* in October 2026 (Oct 1 – Oct 31, 2026)" in text
    assert "*EUR 70.00*" in text
    assert "1 of 3 teams with a budget went over it ⚠️: search" in text
    for row in monthly.organisation.chargeback.rows:
        if row.team in ("payments", "search"):
            assert f"chargeback ${row.total:,.2f}" in text
    assert "Savings Plans utilization (USD): 100.0% (target 95%+) ✅" in text
    assert "Savings Plans coverage (EUR): 0.0% (target 70–80%) ⚠️" in text


def test_target_text():
    target = target_of((0.7, 0.8))
    assert target_text(Ratio(724, 1000, target)) == "72.4% (target 70–80%) ✅"
    assert target_text(Ratio(1, 10, target)) == "10.0% (target 70–80%) ⚠️"
    assert target_text(Ratio(0, 0, target)).startswith("n/a")


def _big_org(count: int) -> OrgMonth:
    period = month_period("2026-10")
    lines = tuple(
        TeamLine(f"{HOSTILE} team {n}", 1_000_000 * (count - n), 0, 500_000_000, Decimal(count - n))
        for n in range(count)
    )
    rows = tuple(ChargebackRow(line.team, line.chargeback_total, Decimal(0)) for line in lines)
    target = target_of((0.7, 0.8))
    return OrgMonth(
        period=period,
        previous=previous_month(period),
        currency="USD",
        costs=(Amount("USD", 123_456_789, 100_000_000),),
        teams=lines,
        chargeback=Chargeback(
            "2026-10", period, "USD", Decimal("1.00"), Decimal(0), "proportional", "row", rows
        ),
        units=(),
        commitments=(CommitmentFigures("USD", Ratio(1, 2, target), Ratio(1, 3, target), None),),
        tagging=None,
        opportunities=tuple(
            Opportunity("idle", line.team, f"Stop {HOSTILE}", 5_000_000, "USD", HOSTILE)
            for line in lines[:5]
        ),
        opportunity_count=count,
        coverage_target=target,
        spot_target=target,
        trend=((period, 123_456_789),),
        budget_total_micros=500_000_000 * count,
    )


def test_five_hundred_teams_fit_and_every_name_is_escaped():
    report = _big_org(500)
    message = org_message(report)
    _within_limits(message)
    raw = json.dumps(message, ensure_ascii=False)
    assert "<!channel>" not in raw and "<@U123" not in raw
    assert "&lt;!channel&gt; &amp;" in raw
    assert "…and 475 more" in raw  # the teams' table, cut with the count left out
    assert "…and 495 more" in raw  # the opportunities


def test_a_hostile_team_name_is_escaped_in_its_own_report(monthly):
    from dataclasses import replace

    team = replace(monthly.teams["payments"], team=HOSTILE)
    message = team_message(team)
    for text in _texts(message):
        assert "<!channel>" not in text and "<@U123" not in text
    assert "&lt;!channel&gt;" in message["text"]


def test_charts_render_from_plain_arguments(monthly):
    chart = monthly_cost_chart(*team_chart_args(monthly.teams["payments"]))
    assert chart.png.startswith(b"\x89PNG") and "$200.00" in chart.alt_text
    assert "budget line at $400.00" in chart.alt_text
    org = monthly_cost_chart(*org_chart_args(monthly.organisation))
    assert org.png.startswith(b"\x89PNG") and "Oct 2026 $320.00" in org.alt_text


def test_the_quarterly_message(tmp_path):
    db = open_reader(build(tmp_path))
    try:
        report = quarterly_report(db, config(), date(2026, 10, 1))
    finally:
        db.close()
    message = quarterly_message(report)
    _within_limits(message)
    text = "\n".join(_texts(message))
    assert "Q3 2026 (Jul 1 – Sep 30, 2026)" in text
    assert (
        "July 2026 (Jul 1 – Jul 31, 2026): *$100.00*; revenue $2,000.00, cost 5.0% of revenue"
        in text
    )
    assert "August 2026 (Aug 1 – Aug 31, 2026): *$200.00*; revenue $1,000.00, cost 20.0%" in text
    assert "(SaaS companies: 15–25%) ✅" in text
    # July's 5.0% is under the usual range: good news, not a warning.
    assert "cost 5.0% of revenue (SaaS companies: 15–25%) ✅ below the usual range" in text
    assert "*Quarter: $470.00*, -$530.00 (-53.0%) vs the quarter before" in text
    assert "August 2026: Savings Plan, $500.00 billed" in text
    assert "*$133.45/month* ($1,601.40/year)" in text
    assert "July: actual $100.00; no forecast stored" in text
    assert (
        "September: forecast $180.00, actual $170.00, -5.6% (within the forecast's range)" in text
    )
    chart = monthly_cost_chart(*chart_args(report))
    assert chart.png.startswith(b"\x89PNG") and "revenue line" in chart.alt_text


def test_a_month_not_all_loaded_says_so(tmp_path):
    db = open_reader(build(tmp_path))
    try:
        report = monthly_report(db, config(), date(2026, 12, 1))  # November: only Nov 1 loaded
    finally:
        db.close()
    for message in (org_message(report.organisation), team_message(report.teams["payments"])):
        text = "\n".join(_texts(message))
        assert "Cost is loaded through Nov 1, 2026 only" in text
    complete = org_message(_big_org(3))
    assert "loaded through" not in json.dumps(complete)


def test_a_configured_revenue_metric_without_values_is_named(tmp_path):
    db = open_reader(build(tmp_path))
    try:
        cfg = config(reports={"revenue_metric": "net_revenue"})
        report = quarterly_report(db, cfg, date(2026, 10, 1))
    finally:
        db.close()
    assert report.revenue_metric is None
    assert (
        "No values of the revenue metric `net_revenue`"
        in quarterly_message(report)["blocks"][1]["text"]["text"]
    )
