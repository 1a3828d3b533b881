"""The weekly digest message and chart from TeamDigest values: the week spelled out, amounts
to the cent with ▲/▼, hostile names escaped everywhere, and Slack's limits held for any amount
of data (500 services, 500 anomalies, 30 teams in one channel)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from bot.analytics.cost_report import Budget
from bot.analytics.digest import (
    AnomalyNote,
    CurrencySpend,
    ResourceFigure,
    TeamDigest,
    Week,
)
from bot.render import blocks
from bot.render.cost import CHART_PLACEHOLDER
from bot.render.digest import (
    chart_args,
    digest_chart,
    digest_figure,
    digest_message,
    format_week,
)
from bot.store.queries import Change

WEEK = Week.starting(date(2026, 10, 19))
HOSTILE = "<!channel> *pay* & <@U1>"


def _digest(team="payments", spend=None, **changes) -> TeamDigest:
    days = [WEEK.end - timedelta(days=55 - i) for i in range(56)]
    spend = (
        (
            CurrencySpend(
                "USD",
                1_031_833_975,
                924_000_595,
                (Change("Amazon RDS", 277_500_000, 200_000_000),),
                0,
                (Change("acme-prod (222222222222)", 754_333_975, 724_000_595),),
                0,
            ),
        )
        if spend is None
        else spend
    )
    digest = TeamDigest(
        team=team,
        week=WEEK,
        currency="USD",
        data_from=date(2026, 1, 1),
        data_through=WEEK.end,
        spend=spend,
        anomalies_opened=(),
        anomalies_resolved=(),
        anomalies_open=0,
        untagged=ResourceFigure(3, 12_345_678, "in October 2026 to date"),
        idle=ResourceFigure(1, 99_990_000, "a month at their run-rate"),
        budget=Budget(5_000_000_000, "October 2026", 3_359_406_806, 25, 31, "USD"),
        forecast=None,
        chart_currency="USD",
        daily=tuple((d, 147_000_000) for d in days),
        budget_daily=tuple(5_000_000_000 // 31 for _ in days),
    )
    return replace(digest, **changes)


def _text(message) -> str:
    return json.dumps(message, ensure_ascii=False)


def _check_limits(message) -> None:
    assert len(message["blocks"]) <= blocks.MESSAGE_BLOCKS_MAX
    assert len(message["text"]) <= blocks.MESSAGE_TEXT_MAX
    for block in message["blocks"]:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= blocks.SECTION_TEXT_MAX
        for field in block.get("fields", []):
            assert len(field["text"]) <= blocks.FIELD_TEXT_MAX


def test_weeks_spelled_out():
    assert format_week(WEEK) == "Mon 19 – Sun 25 Oct 2026"
    assert format_week(Week.starting(date(2026, 10, 26))) == "Mon 26 Oct – Sun 1 Nov 2026"
    assert format_week(Week.starting(date(2026, 12, 28))) == "Mon 28 Dec 2026 – Sun 3 Jan 2027"


def test_the_message_with_amounts_changes_and_chart_placeholder():
    message = digest_message([_digest()])
    text = _text(message)
    assert message["blocks"][0]["text"]["text"] == "Weekly cost digest: payments"
    assert "*Mon 19 – Sun 25 Oct 2026*, compared with Mon 12 – Sun 18 Oct 2026" in text
    assert "*$1,031.83*, ▲ +$107.83 (+11.7%) vs $924.00 the week before" in text
    assert "*Amazon RDS*: $277.50 (was $200.00) ▲ +$77.50 (+38.8%)" in text
    assert "$3,359.41 of $5,000.00" in text
    assert "3 resources missing required tags, $12.35 in October 2026 to date" in text
    assert "1 idle EC2 instance, $99.99 a month" in text
    [image] = [b for b in message["blocks"] if b["type"] == "image"]
    assert image["slack_file"]["id"] == CHART_PLACEHOLDER
    assert "budget" in image["alt_text"] and "$161.29 a day" in image["alt_text"]
    assert message["text"].startswith("Weekly cost digest, Mon 19 – Sun 25 Oct 2026: payments:")
    _check_limits(message)


def test_a_fall_shows_a_down_arrow():
    spend = (CurrencySpend("USD", 900_000_000, 1_000_000_000, (), 0, (), 0),)
    assert "▼ -$100.00 (-10.0%)" in _text(digest_message([_digest(spend=spend)]))


def test_hostile_names_escaped_in_blocks_and_fallback():
    spend = (
        CurrencySpend(
            "USD", 5_000_000, 1_000_000, (Change(HOSTILE, 5_000_000, 1_000_000),), 0, (), 0
        ),
    )
    note = AnomalyNote("spike", HOSTILE, "<@U2>", "USD", WEEK.start, None, WEEK.start, "open", 1, 2)
    message = digest_message(
        [_digest(team=HOSTILE, spend=spend, anomalies_opened=(note,), anomalies_open=1)]
    )
    text = _text(message)
    for raw in ("<!channel>", "<@U1>", "<@U2>"):
        assert raw not in text
    assert "&lt;!channel&gt;" in message["text"]
    assert "‹!channel›" in message["blocks"][0]["text"]["text"]  # plain-text header


def test_500_services_and_anomalies_fit_slack_limits():
    changes = tuple(Change(f"service-{n} " + "x" * 70, n * 1_000_000, 0) for n in range(5))
    spend = (CurrencySpend("USD", 10**9, 10**8, changes, 495, changes, 495),)
    notes = tuple(
        AnomalyNote("spike", f"svc {n} " + "y" * 80, None, "USD", WEEK.start, None, WEEK.start,
                    "open", 1, 2)
        for n in range(500)
    )  # fmt: skip
    message = digest_message([_digest(spend=spend, anomalies_opened=notes, anomalies_open=500)])
    text = _text(message)
    assert "…and 495 more services" in text and "…and 495 more accounts" in text
    assert "…and 495 more" in text and "500 new" in text
    _check_limits(message)


def test_thirty_teams_sharing_a_channel_fit_50_blocks():
    digests = [_digest(team=f"team-{n}") for n in range(30)]
    message = digest_message(digests)
    _check_limits(message)
    assert "team-0" in message["text"] and "team-29" in message["text"]


def test_a_quiet_team_gets_a_short_digest_without_chart():
    message = digest_message([_digest(team="ml", spend=(), budget=None)])
    assert "No spend recorded for *ml* in either week" in _text(message)
    assert not any(b["type"] == "image" for b in message["blocks"])


def test_late_data_is_said():
    digest = _digest(data_through=WEEK.end - timedelta(days=1))
    text = _text(digest_message([digest]))
    assert "Data through Sat 24 Oct 2026: Sun 25 Oct 2026 is not in yet" in text
    assert "compares Mon 19 – Sat 24 Oct 2026 with Mon 12 – Sat 17 Oct 2026" in text


def test_other_currencies_on_their_own():
    eur = CurrencySpend("EUR", 49_875_000, 42_750_000, (), 0, (), 0)
    message = digest_message([_digest(spend=(_digest().spend[0], eur))])
    text = _text(message)
    assert "*Also billed in EUR*: *EUR 49.88*, ▲ +EUR 7.13 (+16.7%)" in text
    assert "EUR 49.88" in message["text"] and "$1,031.83" in message["text"]


def test_chart_has_the_budget_pace_and_alt_text():
    digest = _digest()
    args = chart_args([digest])
    figure = digest_figure(*args[:6])
    axes = figure.axes[0]
    [pace] = [line for line in axes.get_lines() if line.get_linestyle() != "None"]
    assert max(pace.get_ydata()) == (5_000_000_000 // 31) / 1_000_000
    chart = digest_chart(*args)
    assert chart.png.startswith(b"\x89PNG") and "8 weeks" in chart.alt_text
