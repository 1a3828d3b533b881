"""Resource-level figures count only the cost billed in the config currency: a EUR billing
account's resources count in the resource figures, their cost is kept apart per currency,
and a stop of a EUR resource measures no dollar run-rate."""

from __future__ import annotations

from datetime import date

import currency_store as cs
import pytest

from bot.analytics.savings import monthly_run_rate
from bot.analytics.tag_compliance import (
    OtherCurrencyCost,
    compliance,
    costed_resources,
    costliest_noncompliant,
)
from bot.config import parse_config
from bot.store import open_reader


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = open_reader(cs.build_store(tmp_path_factory.mktemp("currency")))
    yield db
    db.close()


def test_compliance_counts_usd_cost_only_and_keeps_eur_apart(db) -> None:
    report = compliance(db, cs.config(), date(2026, 11, 20))
    org, payments = report.organisation, report.scope("team", "payments")
    assert (org.noncompliant_cost_micros, org.cost_micros) == (157_200_000, 457_500_000)
    assert (payments.noncompliant_cost_micros, payments.cost_micros) == (120_150_000, 420_450_000)
    # Resources billed in EUR still count by count: 5 in the inventory, 3 lacking a tag.
    assert (org.resources, org.noncompliant_resources) == (5, 3)
    assert (payments.resources, payments.noncompliant_resources) == (4, 2)
    eur = OtherCurrencyCost("EUR", 413_280_000, 263_280_000)
    assert org.other_costs == payments.other_costs == (eur,)
    assert payments.unlisted_cost_micros == 0  # the EUR NAT gateway is not in the dollars
    # The share of cost compliant is of the dollars: 300.30 / 420.45.
    assert payments.compliant_cost_micros == 300_300_000


def test_each_resource_carries_its_own_currency(db) -> None:
    found = {r.resource_id: r for r in costed_resources(db, cs.config(), ["2026-11"])}
    assert (found["i-us-partial"].cost_micros, found["i-us-partial"].other_costs) == (
        120_150_000,
        (),
    )
    assert (found["i-eu-partial"].cost_micros, found["i-eu-partial"].other_costs) == (
        0,
        (("EUR", 233_310_000),),
    )
    assert found["nat-eu"].other_costs == (("EUR", 29_970_000),)


def test_costliest_noncompliant_lists_eur_after_usd_and_sums_them_apart(db) -> None:
    listed = costliest_noncompliant(db, cs.config(), date(2026, 11, 1), date(2026, 11, 20))
    assert [r.resource_id for r in listed.resources] == [
        "i-us-partial",
        "i-us-bare",
        "i-eu-partial",
        "nat-eu",
    ]
    assert listed.cost_micros == 157_200_000
    assert listed.other_costs == (("EUR", 263_280_000),)


def test_a_eur_config_counts_the_eur_account_and_keeps_the_dollars_apart(db) -> None:
    cfg = parse_config({**cs.CONFIG_DATA, "currency": "EUR"})
    org = compliance(db, cfg, date(2026, 11, 20)).organisation
    assert (org.noncompliant_cost_micros, org.cost_micros) == (263_280_000, 413_280_000)
    assert org.other_costs == (OtherCurrencyCost("USD", 457_500_000, 157_200_000),)


def test_the_run_rate_of_a_eur_resource_is_not_a_dollar_figure(db) -> None:
    cfg = cs.config()
    usd = monthly_run_rate(
        db,
        cfg,
        arn=cs.arn_of("i-us-partial"),
        resource_id="i-us-partial",
        account=cs.US[0],
        day=cs.TODAY,
    )
    assert (usd.monthly_micros, usd.basis) == (200_000_000, "its cost in October 2026")
    eur = monthly_run_rate(
        db,
        cfg,
        arn=cs.arn_of("i-eu-partial"),
        resource_id="i-eu-partial",
        account=cs.EU[0],
        day=cs.TODAY,
    )
    assert eur.monthly_micros == 0
    assert eur.basis == (
        "billed in EUR, not in USD: EUR 300.00 in October 2026, no run-rate counted"
    )
    # Measured on the month to date when October has nothing: still no dollars.
    eur_full = monthly_run_rate(
        db,
        cfg,
        arn=cs.arn_of("i-eu-full"),
        resource_id="i-eu-full",
        account=cs.EU[0],
        day=cs.TODAY,
    )
    assert eur_full.monthly_micros == 0
    assert "EUR 150.00 in November 2026 to date" in eur_full.basis
