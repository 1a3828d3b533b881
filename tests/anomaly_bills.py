"""Bills for the anomaly tests, shaped like real ones: FOCUS files with AWS's usage types
(x_UsageType), two billing currencies, untagged spend, tag values in several spellings and
hostile ones, spend that starts late, and days after the run's day. The truth each test checks
against is summed here from the charges, with integers, never with Costbot's code."""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from focus_factory import ACCOUNTS, BILLING_ACCOUNTS, HEADER, SERVICES, month_bounds

from bot.config import parse_config

USD_PAYER, EUR_PAYER = "111111111111", "555555555555"
PROD, STAGING, EU = "222222222222", "333333333333", "444444444444"
EC2 = "Amazon Elastic Compute Cloud"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
# A tag value written to bite: mrkdwn, a mention, the series key's separator, spaces.
HOSTILE_TAG = "  <!channel> *Ops* | `rm -rf`  "
HOSTILE_TEAM = "<!channel> *ops* | `rm -rf`"  # as the config's rules name it
CONFIG = parse_config({"teams": [{"name": "payments", "aliases": ["pay"]}, {"name": "search"}]})


@dataclass(frozen=True)
class Charge:
    """One FOCUS row. Costs have at most 6 decimals, so the store's micros are exact."""

    day: date
    team_tag: str | None  # the Team tag as exported (None: untagged)
    service: str
    account: str
    effective_micros: int
    billed_micros: int
    usage_type: str | None = None
    region: str = "us-east-1"
    billing_account: str = USD_PAYER
    currency: str = "USD"

    @property
    def team(self) -> str | None:
        """The team the config's rules name (written independently of bot.config)."""
        if self.team_tag is None or not self.team_tag.strip():
            return None
        name = " ".join(self.team_tag.split()).lower()
        return {"pay": "payments"}.get(name, name)


def _text(micros: int) -> str:
    return str(Decimal(micros).scaleb(-6))


def write_bill(path: Path, charges: list[Charge]) -> Path:
    """The charges as one FOCUS 1.0 CSV with AWS's x_UsageType column."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*HEADER, "x_UsageType"])
        writer.writeheader()
        for number, charge in enumerate(charges):
            period_start, period_end = month_bounds(charge.day)
            tags = {"Team": charge.team_tag} if charge.team_tag is not None else {}
            writer.writerow(
                {
                    "BilledCost": _text(charge.billed_micros),
                    "EffectiveCost": _text(charge.effective_micros),
                    "ListCost": _text(charge.billed_micros),
                    "BillingAccountId": charge.billing_account,
                    "BillingAccountName": BILLING_ACCOUNTS[charge.billing_account],
                    "BillingCurrency": charge.currency,
                    "BillingPeriodStart": f"{period_start}T00:00:00Z",
                    "BillingPeriodEnd": f"{period_end}T00:00:00Z",
                    "ChargeCategory": "Usage",
                    "ChargeDescription": f"{charge.service} usage",
                    "ChargeFrequency": "Usage-Based",
                    "ChargePeriodStart": f"{charge.day}T00:00:00Z",
                    "ChargePeriodEnd": f"{charge.day + timedelta(days=1)}T00:00:00Z",
                    "ProviderName": "AWS",
                    "PublisherName": "Amazon Web Services, Inc.",
                    "InvoiceIssuerName": "Amazon Web Services, Inc.",
                    "RegionId": charge.region,
                    "ResourceId": f"arn:aws:ec2:{charge.region}:{charge.account}:i-{number:08x}",
                    "ServiceCategory": SERVICES[charge.service],
                    "ServiceName": charge.service,
                    "SkuId": f"SKU{number % 97:04d}",
                    "SubAccountId": charge.account,
                    "SubAccountName": ACCOUNTS[charge.account],
                    "Tags": json.dumps(tags) if tags else "",
                    "x_UsageType": charge.usage_type or "",
                }
            )
    return path


# (team tag, service, account, usage type, region, payer, currency, daily dollars, first day)
USE1 = ("us-east-1", USD_PAYER, "USD")
LINES = (
    ("Payments", EC2, PROD, "USE1-BoxUsage:m5.large", *USE1, 120, 0),
    ("pay", EC2, PROD, "USE1-EBS:VolumeUsage.gp3", *USE1, 15, 0),
    ("PAYMENTS ", RDS, PROD, "USE1-InstanceUsage:db.r6g.large", *USE1, 60, 0),
    ("search", EC2, STAGING, "USE1-BoxUsage:c6i.xlarge", *USE1, 80, 0),
    ("search", EC2, STAGING, "USW2-BoxUsage:c6i.xlarge", "us-west-2", USD_PAYER, "USD", 30, 0),
    (None, S3, STAGING, "USE1-TimedStorage-ByteHrs", *USE1, 40, 0),
    ("", S3, PROD, "USE1-Requests-Tier1", *USE1, 5, 0),
    (HOSTILE_TAG, EC2, PROD, "USE1-DataTransfer-Out-Bytes", *USE1, 9, 0),
    ("payments", EC2, EU, "EU-BoxUsage:m5.large", "eu-central-1", EUR_PAYER, "EUR", 70, 0),
    (None, S3, EU, "EU-TimedStorage-ByteHrs", "eu-central-1", EUR_PAYER, "EUR", 12, 0),
    # spend that starts 30 days in
    ("search", RDS, STAGING, "USE1-InstanceUsage:db.m6g.large", *USE1, 25, 30),
)


def bill(start: date, end: date, seed: int = 3, *, lines=LINES) -> list[Charge]:
    """Daily charges for `lines` from start to end: noise, weekly dips, several rows a day
    for one line (one per resource), amounts to the micro."""
    rng = random.Random(seed)
    charges = []
    day = start
    while day <= end:
        weekday_factor = 0.8 if day.weekday() >= 5 else 1.0
        for tag, service, account, usage, region, payer, currency, dollars, first in lines:
            if (day - start).days < first:
                continue
            for _resource in range(2 if service == EC2 else 1):
                base = dollars * weekday_factor * rng.uniform(0.9, 1.1) / 2
                effective = int(base * 1_000_000) + rng.randint(0, 999)
                charges.append(
                    Charge(
                        day,
                        tag,
                        service,
                        account,
                        effective,
                        int(effective * 1.07),
                        usage,
                        region,
                        payer,
                        currency,
                    )
                )
        day += timedelta(days=1)
    return charges


SeriesTruth = dict[tuple[str | None, str | None, str | None, str], dict[date, int]]


def truth(charges: list[Charge], first: date, last: date, metric: str = "effective"):
    """Per series (team, service, account, currency) and per roll-up (team, None, None,
    currency): the exact cost of each day in first..last that has charges."""
    sums: SeriesTruth = defaultdict(lambda: defaultdict(int))
    for charge in charges:
        if not first <= charge.day <= last:
            continue
        amount = charge.effective_micros if metric == "effective" else charge.billed_micros
        for key in (
            (charge.team, charge.service, charge.account, charge.currency),
            (charge.team, None, None, charge.currency),
        ):
            sums[key][charge.day] += amount
    return {key: dict(days) for key, days in sums.items()}
