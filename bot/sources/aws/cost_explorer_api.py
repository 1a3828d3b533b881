"""Cost Explorer requests as Costbot makes them: each one counted once it has answered (AWS
bills $0.01 for every request page that answers; a throttled attempt that botocore retries is
not billed, and is invisible here), GetCostAndUsage followed to its last page (boto3 has no
paginator for it), amounts read as exact decimals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from bot.money import format_money
from bot.sources.aws.session import AwsProblem

PRICE_PER_REQUEST_MICROS = 10_000  # $0.01 per paid request (page)


@dataclass
class PaidRequests:
    """Successful Cost Explorer responses, per operation: what the run is billed for."""

    by_operation: Counter = field(default_factory=Counter)

    def count(self, operation: str) -> None:
        self.by_operation[operation] += 1

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    @property
    def cost_micros(self) -> int:
        return self.total * PRICE_PER_REQUEST_MICROS

    def cost_text(self) -> str:
        """`0.07`: the cost in dollars, for JSON."""
        return f"{Decimal(self.cost_micros) / 1_000_000:.2f}"

    def line(self) -> str:
        noun = "paid request" if self.total == 1 else "paid requests"
        return f"Cost Explorer: {self.total} {noun} ({format_money(self.cost_micros)})"


def call(client, paid: PaidRequests, operation: str, **kwargs) -> dict:
    """One Cost Explorer request; counted once it has answered (botocore's retries of a
    throttled attempt are not billed, and are invisible here)."""
    method = getattr(client, _snake(operation))
    response = method(**kwargs)
    paid.count(operation)
    return response


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def pages(client, paid: PaidRequests, **request) -> Iterator[dict]:
    """Every page of a GetCostAndUsage answer."""
    token = None
    while True:
        extra = {"NextPageToken": token} if token else {}
        page = call(client, paid, "GetCostAndUsage", **request, **extra)
        yield page
        token = page.get("NextPageToken")
        if not token:
            return


def amount(group: dict, metric: str) -> tuple[Decimal, str]:
    try:
        figure = group["Metrics"][metric]
        return Decimal(figure["Amount"]), (figure.get("Unit") or "USD").upper()
    except (KeyError, TypeError, InvalidOperation):
        raise AwsProblem(
            f"ce:GetCostAndUsage: group {group.get('Keys')} has no valid {metric} amount"
        ) from None
