"""Small FOCUS 1.0 files written row by row for tests, with an independent Decimal sum of
their rows to compare answers against (no Costbot code involved)."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from bot.sources.demo_data import FOCUS_COLUMNS

HEADER = list(FOCUS_COLUMNS)  # the 43 FOCUS 1.0 columns, in export order

ACCOUNTS = {"222222222222": "acme-prod", "333333333333": "acme-staging", "444444444444": "acme-eu"}
BILLING_ACCOUNTS = {"111111111111": "Acme Corp", "555555555555": "Acme Europe GmbH"}
# (team, service, sub-account) of each daily charge that make_charges writes by default.
DEFAULT_LINES = (
    ("payments", "Amazon Elastic Compute Cloud", "222222222222"),
    ("payments", "Amazon Relational Database Service", "222222222222"),
    ("search", "Amazon Elastic Compute Cloud", "333333333333"),
    (None, "Amazon Simple Storage Service", "333333333333"),
)
SERVICES = {
    "Amazon Elastic Compute Cloud": "Compute",
    "Amazon Relational Database Service": "Databases",
    "Amazon Simple Storage Service": "Storage",
}


@dataclass(frozen=True)
class Charge:
    day: date
    team: str | None
    service: str
    account: str
    effective: Decimal
    billed: Decimal
    currency: str = "USD"
    billing_account: str = "111111111111"


def month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def make_charges(
    start: date,
    end: date,
    seed: int = 1,
    *,
    lines: tuple[tuple[str | None, str, str], ...] = DEFAULT_LINES,
    currency: str = "USD",
    billing_account: str = "111111111111",
) -> list[Charge]:
    """Daily charges for two teams and some untagged spend, amounts with 10 decimals (or one
    charge a day for each of `lines`), all billed in `currency` to `billing_account`."""
    rng = random.Random(seed)
    charges = []
    day = start
    while day <= end:
        for team, service, account in lines:
            billed = Decimal(rng.randint(1_000_000_000, 900_000_000_000)) / Decimal(10**10)
            effective = (billed * Decimal("0.93")).quantize(Decimal("0.0000000001"))
            charges.append(
                Charge(day, team, service, account, effective, billed, currency, billing_account)
            )
        day += timedelta(days=1)
    return charges


def write_focus_csv(path: Path, charges: list[Charge]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        for number, charge in enumerate(charges):
            period_start, period_end = month_bounds(charge.day)
            tags = {"Team": charge.team, "environment": "prod"} if charge.team else {}
            writer.writerow(
                {
                    "BilledCost": str(charge.billed),
                    "EffectiveCost": str(charge.effective),
                    "ListCost": str(charge.billed),
                    "BillingAccountId": charge.billing_account,
                    "BillingAccountName": BILLING_ACCOUNTS[charge.billing_account],
                    "BillingCurrency": charge.currency,
                    "BillingPeriodStart": f"{period_start}T00:00:00Z",
                    "BillingPeriodEnd": f"{period_end}T00:00:00Z",
                    "ChargeCategory": "Usage",
                    "ChargeFrequency": "Usage-Based",
                    "ChargePeriodStart": f"{charge.day}T00:00:00Z",
                    "ChargePeriodEnd": f"{charge.day + timedelta(days=1)}T00:00:00Z",
                    "ProviderName": "AWS",
                    "PublisherName": "Amazon Web Services, Inc.",
                    "InvoiceIssuerName": "Amazon Web Services, Inc.",
                    "RegionId": "us-east-1",
                    "RegionName": "US East (N. Virginia)",
                    "ResourceId": f"arn:aws:ec2:us-east-1:{charge.account}:instance/i-{number:08x}",
                    "ServiceCategory": SERVICES[charge.service],
                    "ServiceName": charge.service,
                    "SubAccountId": charge.account,
                    "SubAccountName": ACCOUNTS[charge.account],
                    "Tags": json.dumps(tags) if tags else "",
                }
            )
    return path


def to_cent(amount: Decimal) -> Decimal:
    """Rounded as an invoice rounds: half up, to the cent."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def amount(
    charges: list[Charge],
    start: date,
    end: date,
    *,
    team: str | bool | None = False,
    service: str | None = None,
    account: str | None = None,
    column: str = "effective",
    currency: str | None = None,
) -> Decimal:
    """The independent sum of the matching rows, rounded to the cent (half away from zero)."""
    total = sum(
        (
            getattr(c, column)
            for c in charges
            if start <= c.day <= end
            and (team is False or c.team == team)
            and (service is None or c.service == service)
            and (account is None or c.account == account)
            and (currency is None or c.currency == currency)
        ),
        Decimal(0),
    )
    return to_cent(total)


def money_text(value: Decimal, currency: str | None = "USD") -> str:
    """`$1,234.57` for USD, `EUR 1,234.57` for other currencies, written independently of
    bot.money."""
    prefix = "$" if currency in (None, "USD") else f"{currency} "
    return f"{'-' if value < 0 else ''}{prefix}{abs(value):,.2f}"


def dollars(charges: list[Charge], start: date, end: date, **match) -> str:
    """`$1,234.57` (or `EUR 1,234.57` with `currency="EUR"`): the independent sum of the
    matching rows, rounded to the cent."""
    return money_text(amount(charges, start, end, **match), match.get("currency"))
