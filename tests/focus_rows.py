"""FOCUS 1.0 files from a few hand-written rows, for tests that need particular names
(hostile tag values, accounts that share a name or an id) rather than many days of charges."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from focus_factory import HEADER, month_bounds


def focus_row(
    day: date,
    cost: str,
    *,
    service: str = "Amazon Elastic Compute Cloud",
    team: str | None = None,
    provider: str = "AWS",
    billing_account: tuple[str, str] = ("111111111111", "Acme Corp"),
    sub_account: tuple[str, str] = ("222222222222", "acme-prod"),
    resource: str = "i-0",
) -> dict[str, str]:
    """One daily usage row; `cost` is both the billed and the effective cost."""
    period_start, period_end = month_bounds(day)
    return {
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "BillingAccountId": billing_account[0],
        "BillingAccountName": billing_account[1],
        "BillingCurrency": "USD",
        "BillingPeriodStart": f"{period_start}T00:00:00Z",
        "BillingPeriodEnd": f"{period_end}T00:00:00Z",
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodStart": f"{day}T00:00:00Z",
        "ChargePeriodEnd": f"{day + timedelta(days=1)}T00:00:00Z",
        "ProviderName": provider,
        "PublisherName": provider,
        "InvoiceIssuerName": provider,
        "RegionId": "us-east-1",
        "RegionName": "US East (N. Virginia)",
        "ResourceId": resource,
        "ServiceCategory": "Compute",
        "ServiceName": service,
        "SubAccountId": sub_account[0],
        "SubAccountName": sub_account[1],
        "Tags": json.dumps({"Team": team}) if team is not None else "",
    }


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


def dollars_of(rows: list[dict[str, str]], **where: str) -> str:
    """`$1,234.56`: the independent sum of the rows' EffectiveCost whose columns match."""
    total = sum(
        (
            Decimal(r["EffectiveCost"])
            for r in rows
            if all(r[column] == value for column, value in where.items())
        ),
        Decimal(0),
    )
    return f"${total.quantize(Decimal('0.01')):,.2f}"
