"""Resource-level cost in two billing currencies: /untagged, App Home, the weekly digest and
the monthly report show the dollar figures to the cent without the EUR amounts, and the EUR
amounts only as EUR, on their own."""

from __future__ import annotations

from datetime import date

import currency_store as cs
import pytest

from bot.analytics.digest import weekly_digests
from bot.analytics.monthly_report import monthly_report
from bot.analytics.opportunities import UNTAGGED_SPEND
from bot.answers.app_home import home_view
from bot.answers.untagged import answer_untagged
from bot.render.digest import digest_message
from bot.render.monthly_report import team_message
from bot.render.plaintext import payload_as_text
from bot.store import open_reader


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = open_reader(cs.build_store(tmp_path_factory.mktemp("currency")))
    yield db
    db.close()


def _no_added_amounts(text: str) -> None:
    for added in cs.ADDED:
        assert added not in text, added


def test_untagged_shows_the_dollars_and_the_euros_on_their_own(db) -> None:
    payload = answer_untagged("", db=db, config=cs.config(), today=cs.TODAY).payload
    text = payload_as_text(payload)
    noncompliant, total = cs.ORG_USD
    assert f"*Non-compliant cost*\n{noncompliant} of {total}" in text
    assert "*Non-compliant resources*\n3 of 5" in text
    assert (
        f"{cs.EUR_COST} of resource cost billed in EUR is not in these figures"
        f" ({cs.EUR_NONCOMPLIANT} of it lacks a required tag)"
    ) in text
    assert f"*Costliest non-compliant resources* (4, {noncompliant}; {cs.EUR_NONCOMPLIANT}" in text
    # Each resource in its own currency: the EUR ones never as dollars.
    assert "`i-us-partial` *$120.15*" in text
    assert "`i-us-bare` *$37.05*" in text
    assert "`i-eu-partial` *EUR 233.31*" in text
    assert "`nat-eu` *EUR 29.97*" in text
    _no_added_amounts(text)
    _no_added_amounts(payload["text"])
    assert (
        f"{noncompliant} non-compliant (and {cs.EUR_NONCOMPLIANT} billed in EUR)"
        in (payload["text"])
    )
    figures = payload["metadata"]["event_payload"]
    assert figures["currency"] == "USD"
    assert (figures["noncompliant_cost"], figures["cost"]) == ("157.2", "457.5")
    assert figures["other_currencies"] == [
        {"currency": "EUR", "cost": "413.28", "noncompliant_cost": "263.28"}
    ]
    eu = next(r for r in figures["costliest"] if r["resource_id"] == "i-eu-partial")
    assert (eu["cost"], eu["other_costs"]) == ("0", {"EUR": "233.31"})


def test_untagged_of_a_team(db) -> None:
    text = payload_as_text(
        answer_untagged("team payments", db=db, config=cs.config(), today=cs.TODAY).payload
    )
    noncompliant, total = cs.PAYMENTS_USD
    assert f"*Non-compliant cost*\n{noncompliant} of {total}" in text
    assert f"{cs.EUR_COST} of resource cost billed in EUR" in text
    _no_added_amounts(text)


def test_app_home_missing_tags_in_dollars_and_the_euros_apart(db) -> None:
    view = home_view(db, cs.config(), cs.ALICE, cs.TODAY)
    text = "\n".join(
        str(part.get("text"))
        for block in view["blocks"]
        for part in [block.get("text") or {}, *(block.get("fields") or [])]
    )
    noncompliant, total = cs.PAYMENTS_USD
    assert (
        f"*Missing required tags* (November 2026)\n2 of 4 inventory resources, "
        f"{noncompliant} of {total} resource cost (71.4% of cost compliant; "
        f"{cs.EUR_NONCOMPLIANT} of {cs.EUR_COST} billed in EUR, not counted above)"
    ) in text
    _no_added_amounts(text)


def test_the_digests_untagged_figure_is_in_dollars_with_the_euros_apart(db) -> None:
    (payments,) = weekly_digests(db, cs.config(), date(2026, 11, 9), ["payments"])
    figure = payments.untagged
    # i-us-partial in dollars; i-eu-partial and the EUR NAT gateway counted, not in dollars.
    assert (figure.count, figure.cost_micros) == (3, 120_150_000)
    assert figure.other_costs == (("EUR", 263_280_000),)
    text = payload_as_text(digest_message([payments], with_chart=False))
    assert (
        f"*Untagged*: 3 resources missing required tags, {cs.PAYMENTS_USD[0]} in November 2026"
        " through Thu 19 Nov"  # the month's resource cost as loaded: through the data's last day
        f" (and {cs.EUR_NONCOMPLIANT} billed in EUR)"
    ) in text
    _no_added_amounts(text)


def test_the_monthly_reports_untagged_figures_are_in_dollars(db) -> None:
    report = monthly_report(db, cs.config(), date(2026, 12, 1))  # November
    payments = report.teams["payments"]
    assert payments.tagging.noncompliant_cost_micros == 120_150_000
    assert payments.tagging.cost_micros == 420_450_000
    untagged = [o for o in payments.opportunities if o.kind == UNTAGGED_SPEND]
    assert [(o.monthly_micros, o.currency) for o in untagged] == [(120_150_000, "USD")]
    assert report.organisation.tagging.noncompliant_cost_micros == 157_200_000
    text = payload_as_text(team_message(payments))
    assert f"{cs.PAYMENTS_USD[0]} lacks a required tag" in text
    _no_added_amounts(text)
