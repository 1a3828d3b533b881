"""The chargeback report as files for people and programs: CSV for spreadsheets, JSON for
tools. Amounts are plain decimal strings to the cent (`1234.50`: no currency sign, no
thousands separator) so that spreadsheets read them as numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from bot.analytics.chargeback import Chargeback

CSV_HEADER = ("team", "direct", "shared", "total")
CSV_TOTAL_LABEL = "(total)"


def chargeback_json(report: Chargeback) -> dict:
    """`{"month", "currency", "total", "rows": [{"team", "direct", "shared", "total"}]}`."""
    return {
        "month": report.month,
        "currency": report.currency,
        "total": str(report.total),
        "rows": [
            {
                "team": row.team,
                "direct": str(row.direct),
                "shared": str(row.shared),
                "total": str(row.total),
            }
            for row in report.rows
        ],
    }


def chargeback_csv(report: Chargeback) -> str:
    """A header, one line per row, and a last `(total)` line with the column sums (the
    total column's sum is the month's total)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in report.rows:
        writer.writerow((row.team, row.direct, row.shared, row.total))
    direct = sum((row.direct for row in report.rows), start=Decimal("0.00"))
    shared = sum((row.shared for row in report.rows), start=Decimal("0.00"))
    writer.writerow((CSV_TOTAL_LABEL, direct, shared, report.total))
    return out.getvalue()
