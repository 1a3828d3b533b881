"""Savings Plans coverage and utilization, the spot share of EC2 compute and the current
month's forecast, as Cost Explorer reports them, for the monthly report. Each is read on its
own: one that fails (no permission, not subscribed) is a warning and the sync goes on; "no
data" (no Savings Plans, too little history) is not a failure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlite_utils
from botocore.exceptions import BotoCoreError, ClientError

from bot.config import Config
from bot.money import to_micros
from bot.sources.aws.cost_explorer_api import PaidRequests, amount, call, pages
from bot.sources.aws.plan import months_of, next_month, time_period
from bot.sources.aws.session import describe_aws_error, error_code
from bot.store import queries

SOURCE = "cost-explorer"
PROVIDER = "AWS"
# The configured cost metric, as the commitments and forecast calls name it.
GROUP_METRIC = {"effective": "AmortizedCost", "billed": "UnblendedCost", "list": "AmortizedCost"}
FORECAST_METRIC = {
    "effective": "AMORTIZED_COST",
    "billed": "UNBLENDED_COST",
    "list": "AMORTIZED_COST",
}
COMPUTE_SERVICE = "Amazon Elastic Compute Cloud - Compute"
SPOT_PURCHASE_TYPE = "Spot Instances"
FORECAST_INTERVAL = 80  # percent: the prediction interval kept with the forecast
# Answers that mean "nothing to report", not a failure: no Savings Plans, too little history.
NO_DATA_CODES = {"DataUnavailableException"}


def read_commitments(
    client,
    paid: PaidRequests,
    start: date,
    end: date,
    today: date,
    config: Config,
    warnings: list[str],
) -> dict[str, Any]:
    """Savings Plans coverage and utilization, spot share of compute (for each month of the
    days `start`..`end`, from the 1st of the first) and the current month's forecast, each
    call on its own: one that fails adds a line to `warnings`."""
    first = start.replace(day=1)
    period = time_period(first, end)
    metric = config.cost_metric
    figures: dict[str, Any] = {"months": {m: {} for m in months_of(start, end)}}

    def attempt(operation: str, read: Callable[[], None]) -> None:
        try:
            read()
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in NO_DATA_CODES:
                return
            warnings.append(f"{describe_aws_error(error, f'ce:{operation}')}; skipped")
        except (KeyError, TypeError, ValueError, InvalidOperation):
            warnings.append(f"ce:{operation}: unexpected answer; skipped")

    def coverage() -> None:
        token = None
        while True:
            extra = {"NextToken": token} if token else {}
            page = call(
                client,
                paid,
                "GetSavingsPlansCoverage",
                TimePeriod=period,
                Granularity="MONTHLY",
                **extra,
            )
            for entry in page.get("SavingsPlansCoverages", []):
                month = _month_of(entry, figures)
                if month:
                    covered = entry["Coverage"]
                    figures["months"][month] |= {
                        "sp_covered_micros": _micros(covered, "SpendCoveredBySavingsPlans"),
                        "sp_on_demand_micros": _micros(covered, "OnDemandCost"),
                    }
            token = page.get("NextToken")
            if not token:
                return

    def utilization() -> None:
        page = call(
            client,
            paid,
            "GetSavingsPlansUtilization",
            TimePeriod=period,
            Granularity="MONTHLY",
        )
        for entry in page.get("SavingsPlansUtilizationsByTime", []):
            month = _month_of(entry, figures)
            if month:
                figures["months"][month] |= {
                    "sp_commitment_micros": _micros(entry["Utilization"], "TotalCommitment"),
                    "sp_used_micros": _micros(entry["Utilization"], "UsedCommitment"),
                }

    def spot() -> None:
        request = {
            "TimePeriod": period,
            "Granularity": "MONTHLY",
            "Metrics": [GROUP_METRIC[metric]],
            "GroupBy": [{"Type": "DIMENSION", "Key": "PURCHASE_TYPE"}],
            "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [COMPUTE_SERVICE]}},
        }
        found: dict[str, dict[str, Decimal]] = {}
        for page in pages(client, paid, **request):
            for result in page.get("ResultsByTime", []):
                month = _month_of(result, figures)
                if not month:
                    continue
                split = found.setdefault(month, {"spot": Decimal(0), "compute": Decimal(0)})
                for group in result.get("Groups", []):
                    cost, _ = amount(group, GROUP_METRIC[metric])
                    split["compute"] += cost
                    if group["Keys"][0] == SPOT_PURCHASE_TYPE:
                        split["spot"] += cost
        for month, split in found.items():
            figures["months"][month] |= {
                "spot_micros": to_micros(split["spot"]),
                "compute_micros": to_micros(split["compute"]),
            }

    def forecast() -> None:
        answer = call(
            client,
            paid,
            "GetCostForecast",
            TimePeriod={"Start": today.isoformat(), "End": next_month(today).isoformat()},
            Metric=FORECAST_METRIC[metric],
            Granularity="MONTHLY",
            PredictionIntervalLevel=FORECAST_INTERVAL,
        )
        by_time = answer.get("ForecastResultsByTime") or []
        figures["forecast"] = {
            "rest": to_micros(Decimal(answer["Total"]["Amount"])),
            "low": sum(to_micros(Decimal(r["PredictionIntervalLowerBound"])) for r in by_time),
            "high": sum(to_micros(Decimal(r["PredictionIntervalUpperBound"])) for r in by_time),
            "currency": (answer["Total"].get("Unit") or "USD").upper(),
        }

    attempt("GetSavingsPlansCoverage", coverage)
    attempt("GetSavingsPlansUtilization", utilization)
    attempt("GetCostAndUsage", spot)
    attempt("GetCostForecast", forecast)
    return figures


def _month_of(entry: dict, figures: dict) -> str | None:
    month = entry["TimePeriod"]["Start"][:7]
    return month if month in figures["months"] else None


def _micros(figures: dict, name: str) -> int:
    return to_micros(Decimal(figures[name]))


def commitment_rows(
    db: sqlite_utils.Database, figures: dict, payer: str, today: date, config: Config
) -> list[dict]:
    """One row per month with figures; the current month's forecast is month to date (from
    the store, just written) plus the forecast of the rest of the month."""
    rows = {
        month: {
            "provider": PROVIDER,
            "billing_account_id": payer,
            "month": month,
            "source": SOURCE,
            "currency": "USD",
            **values,
        }
        for month, values in figures["months"].items()
        if values
    }
    forecast = figures.get("forecast")
    if forecast:
        month = today.strftime("%Y-%m")
        to_date = queries.source_month_to_date(
            db, SOURCE, payer, today, config.cost_metric, "team,service"
        )
        row = rows.setdefault(
            month,
            {"provider": PROVIDER, "billing_account_id": payer, "month": month, "source": SOURCE},
        )
        row |= {
            "currency": forecast["currency"],
            "forecast_micros": to_date + forecast["rest"],
            "forecast_low_micros": to_date + forecast["low"],
            "forecast_high_micros": to_date + forecast["high"],
        }
    return list(rows.values())
