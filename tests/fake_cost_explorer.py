"""A small Cost Explorer over HTTP (AWS JSON 1.1, `X-Amz-Target: AWSInsightsIndexService.*`)
that answers from its own table of known rows, by the request's GroupBy, Filter, TimePeriod
(End exclusive) and Granularity, with paging in groups, and counts what it answered.

moto's Cost Explorer returns whatever results were queued for it, whatever the request asks:
this one computes the answer, so a test can compare the store with an independent sum of the
same rows. Point boto3 at it with `AWS_ENDPOINT_URL_COST_EXPLORER` (botocore reads it).

Errors are sent the way AWS JSON services send them and botocore parses them: an HTTP status,
a JSON body `{"__type": "<code>", "message": "..."}`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TARGET_PREFIX = "AWSInsightsIndexService."
COMPUTE = "Amazon Elastic Compute Cloud - Compute"
ON_DEMAND = "On Demand Instances"
SPOT = "Spot Instances"
DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True)
class CostRow:
    """One day of cost of one (account, team tag value, service, purchase type): the truth."""

    day: date
    account: str
    team: str | None  # the Team tag's value as tagged; None: untagged
    service: str
    amortized: str  # Decimal strings, as Cost Explorer has them
    unblended: str
    purchase_type: str = ON_DEMAND


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _fmt(amount: Decimal) -> str:
    # Cost Explorer writes plain decimals ("0.0000012"), never exponents.
    text = format(amount, "f")
    return text if text not in ("-0", "") else "0"


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


class FakeCostExplorer:
    """Start with `with FakeCostExplorer(rows) as ce:`; `ce.url` is the endpoint.

    - `page_size`: groups per page of a grouped GetCostAndUsage answer.
    - `answered`: successful responses per operation (what AWS bills); `received`: all.
    - `fail_next(n, code)`: the next n requests fail (e.g. ThrottlingException, HTTP 400).
    - `fail_from(k, code)`: every request after the k-th successful one fails.
    - `deny(operation, code)`: that operation always fails (AccessDeniedException, ...).
    - `restate(day, ...)`: change the amounts of a day's rows (Cost Explorer restates).
    - `savings_plans`: month -> {"covered", "on_demand", "commitment", "used"} (strings).
    """

    def __init__(
        self,
        rows: list[CostRow],
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        tag_key: str = "Team",
        account_names: dict[str, str] | None = None,
    ):
        self.page_size = page_size
        self.tag_key = tag_key
        self.account_names = account_names or {}
        self.savings_plans: dict[str, dict[str, str]] = {}
        self.answered: Counter = Counter()
        self.received: Counter = Counter()
        self.requests: list[tuple[str, dict]] = []  # (operation, body) of answered requests
        self._lock = threading.Lock()
        self._failures: list[tuple[str, int]] = []
        self._fail_after: tuple[int, str, int] | None = None
        self._denied: dict[str, tuple[str, int]] = {}
        self._by_day: dict[date, list[CostRow]] = defaultdict(list)
        for row in rows:
            self._by_day[row.day].append(row)
        self._server: ThreadingHTTPServer | None = None
        # The grouped answer of a request (without its page token), computed once for all
        # its pages; forgotten when the rows change.
        self._answers: dict[str, list] = {}

    # --- control -------------------------------------------------------------------------

    @property
    def rows(self) -> list[CostRow]:
        return [row for day in sorted(self._by_day) for row in self._by_day[day]]

    @property
    def paid_requests(self) -> int:
        return sum(self.answered.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.answered.clear()
            self.received.clear()
            self.requests.clear()

    def fail_next(self, count: int, code: str = "ThrottlingException", status: int = 400) -> None:
        with self._lock:
            self._failures.extend([(code, status)] * count)

    def fail_from(self, successes: int, code: str = "InternalServerException", status=500):
        with self._lock:
            self._fail_after = (successes, code, status)

    def deny(self, operation: str, code: str = "AccessDeniedException", status: int = 400):
        with self._lock:
            self._denied[operation] = (code, status)

    def expire_credentials(self) -> None:
        for operation in (
            "GetCostAndUsage",
            "GetSavingsPlansCoverage",
            "GetSavingsPlansUtilization",
            "GetCostForecast",
        ):
            self.deny(operation, "ExpiredTokenException", 400)

    def retag(self, day: date, team: str | None, to_team: str | None) -> None:
        """Move `day`'s cost of `team` to `to_team`, as a back-filled cost allocation tag
        does: the day's total stays the same."""
        with self._lock:
            self._by_day[day] = [
                replace(row, team=to_team) if row.team == team else row
                for row in self._by_day.get(day, [])
            ]

    def restate(self, day: date, factor: str = "1.1", **match: str | None) -> None:
        """Multiply the amounts of `day`'s rows matching `match` (account, team, service)."""
        with self._lock:
            changed = []
            for row in self._by_day.get(day, []):
                if all(getattr(row, name) == value for name, value in match.items()):
                    row = replace(
                        row,
                        amortized=_fmt(Decimal(row.amortized) * Decimal(factor)),
                        unblended=_fmt(Decimal(row.unblended) * Decimal(factor)),
                    )
                changed.append(row)
            self._by_day[day] = changed
            self._answers.clear()

    def add(self, row: CostRow) -> None:
        with self._lock:
            self._by_day[row.day].append(row)
            self._answers.clear()

    # --- server --------------------------------------------------------------------------

    def __enter__(self) -> FakeCostExplorer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target", "")
                status, answer = fake._answer(target, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", hashlib.md5(body).hexdigest())
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _answer(self, target: str, body: bytes) -> tuple[int, dict]:
        operation = target.removeprefix(TARGET_PREFIX)
        with self._lock:
            self.received[operation] += 1
            failure = self._failure_for(operation)
        try:
            if failure:
                raise AwsError(failure[0], f"{failure[0]} (fake)", failure[1])
            if not target.startswith(TARGET_PREFIX):
                raise AwsError("UnknownOperationException", f"unknown target {target!r}")
            request = json.loads(body or b"{}")
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                raise AwsError("UnknownOperationException", f"unknown operation {operation}")
            with self._lock:
                answer = handler(request)
                self.answered[operation] += 1
                self.requests.append((operation, request))
            return 200, answer
        except AwsError as error:
            return error.status, {"__type": error.code, "message": error.message}

    def _failure_for(self, operation: str) -> tuple[str, int] | None:
        if self._failures:
            return self._failures.pop(0)
        if operation in self._denied:
            return self._denied[operation]
        if self._fail_after and sum(self.answered.values()) >= self._fail_after[0]:
            return self._fail_after[1:]
        return None

    # --- GetCostAndUsage -----------------------------------------------------------------

    def _periods(self, request: dict) -> list[tuple[date, date]]:
        try:
            start = date.fromisoformat(request["TimePeriod"]["Start"])
            end = date.fromisoformat(request["TimePeriod"]["End"])
        except (KeyError, ValueError):
            raise AwsError("ValidationException", "TimePeriod is invalid") from None
        if end <= start:
            raise AwsError("ValidationException", "Start date must be before End date")
        granularity = request.get("Granularity", "MONTHLY")
        periods, cursor = [], start
        while cursor < end:
            step = cursor + timedelta(days=1) if granularity == "DAILY" else _next_month(cursor)
            if granularity not in ("DAILY", "MONTHLY"):
                raise AwsError("ValidationException", f"Granularity {granularity} unsupported")
            periods.append((cursor, min(step, end)))
            cursor = min(step, end)
        return periods

    def _key_value(self, row: CostRow, group: dict) -> str:
        kind, key = group.get("Type"), group.get("Key")
        if kind == "TAG":
            value = row.team if key == self.tag_key else None
            return f"{key}${value or ''}"
        if kind == "DIMENSION":
            values = {
                "SERVICE": row.service,
                "LINKED_ACCOUNT": row.account,
                "PURCHASE_TYPE": row.purchase_type,
            }
            if key in values:
                return values[key]
        raise AwsError("ValidationException", f"Group Definition {kind} {key} is invalid")

    def _matches(self, row: CostRow, expression: dict | None) -> bool:
        if not expression:
            return True
        if "And" in expression:
            return all(self._matches(row, e) for e in expression["And"])
        if "Or" in expression:
            return any(self._matches(row, e) for e in expression["Or"])
        if "Not" in expression:
            return not self._matches(row, expression["Not"])
        if "Dimensions" in expression:
            spec = expression["Dimensions"]
            value = self._key_value(row, {"Type": "DIMENSION", "Key": spec.get("Key")})
            return value in spec.get("Values", [])
        if "Tags" in expression:
            spec = expression["Tags"]
            value = row.team if spec.get("Key") == self.tag_key else None
            if "ABSENT" in spec.get("MatchOptions", []):
                return value is None
            return value is not None and value in spec.get("Values", [])
        raise AwsError("ValidationException", "Expression is invalid")

    def _op_GetCostAndUsage(self, request: dict) -> dict:
        metrics = request.get("Metrics") or []
        if not metrics:
            raise AwsError("ValidationException", "Metrics are required")
        unknown = set(metrics) - {"AmortizedCost", "UnblendedCost"}
        if unknown:
            raise AwsError("ValidationException", f"unsupported metrics {sorted(unknown)}")
        groups = request.get("GroupBy") or []
        if len(groups) > 2:
            raise AwsError("ValidationException", "GroupBy supports at most two keys")
        periods = self._periods(request)
        fingerprint = self._fingerprint(request)
        if fingerprint in self._answers:
            return self._page(request, periods, fingerprint, self._answers[fingerprint])
        # (period index, group keys) -> {metric: Decimal}
        sums: dict[tuple[int, tuple[str, ...]], dict[str, Decimal]] = {}
        for index, (start, end) in enumerate(periods):
            day = start
            while day < end:
                for row in self._by_day.get(day, []):
                    if not self._matches(row, request.get("Filter")):
                        continue
                    keys = tuple(self._key_value(row, g) for g in groups)
                    total = sums.setdefault((index, keys), dict.fromkeys(metrics, Decimal(0)))
                    for metric in metrics:
                        amount = row.amortized if metric == "AmortizedCost" else row.unblended
                        total[metric] += Decimal(amount)
                day += timedelta(days=1)
        items = sorted(sums.items())
        if groups:
            self._answers[fingerprint] = items
        return self._page(request, periods, fingerprint, items)

    def _page(self, request: dict, periods: list, fingerprint: str, items: list) -> dict:
        metrics, groups = request["Metrics"], request.get("GroupBy") or []

        def figures(total: dict[str, Decimal]) -> dict:
            return {m: {"Amount": _fmt(total[m]), "Unit": "USD"} for m in metrics}

        def period_of(index: int) -> dict:
            start, end = periods[index]
            return {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}}

        if not groups:
            sums = dict(items)
            results = []
            for index in range(len(periods)):
                total = sums.get((index, ()), dict.fromkeys(metrics, Decimal(0)))
                results.append(
                    {**period_of(index), "Total": figures(total), "Groups": [], "Estimated": False}
                )
            return {"ResultsByTime": results, "GroupDefinitions": []}

        offset = self._offset(request, fingerprint)
        page = items[offset : offset + self.page_size]
        by_period: dict[int, list[dict]] = defaultdict(list)
        for (index, keys), total in page:
            by_period[index].append({"Keys": list(keys), "Metrics": figures(total)})
        last_page = offset + self.page_size >= len(items)
        if last_page:
            # Periods without any cost still appear, with no groups.
            for index in range(len(periods)):
                by_period.setdefault(index, [])
        answer: dict = {
            "GroupDefinitions": [{"Type": g["Type"], "Key": g["Key"]} for g in groups],
            "ResultsByTime": [
                {**period_of(index), "Total": {}, "Groups": by_period[index], "Estimated": False}
                for index in sorted(by_period)
            ],
            "DimensionValueAttributes": [],
        }
        if any(g.get("Key") == "LINKED_ACCOUNT" for g in groups):
            position = [g.get("Key") for g in groups].index("LINKED_ACCOUNT")
            seen = sorted({keys[position] for (_, keys), _ in page})
            answer["DimensionValueAttributes"] = [
                {"Value": a, "Attributes": {"description": self.account_names[a]}}
                for a in seen
                if a in self.account_names
            ]
        if not last_page:
            token = {"offset": offset + self.page_size, "request": fingerprint}
            answer["NextPageToken"] = base64.b64encode(json.dumps(token).encode()).decode()
        return answer

    @staticmethod
    def _fingerprint(request: dict) -> str:
        without_token = {k: v for k, v in request.items() if k != "NextPageToken"}
        return hashlib.sha256(json.dumps(without_token, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _offset(request: dict, fingerprint: str) -> int:
        token = request.get("NextPageToken")
        if not token:
            return 0
        try:
            decoded = json.loads(base64.b64decode(token))
        except ValueError:
            raise AwsError("ValidationException", "Invalid NextPageToken") from None
        if decoded.get("request") != fingerprint:
            raise AwsError("RequestChangedException", "The request changed between pages")
        return int(decoded["offset"])

    # --- commitments and forecast ----------------------------------------------------------

    def _months(self, request: dict) -> list[tuple[date, date]]:
        return self._periods({**request, "Granularity": "MONTHLY"})

    def _op_GetSavingsPlansCoverage(self, request: dict) -> dict:
        coverages = []
        for start, end in self._months(request):
            plan = self.savings_plans.get(start.strftime("%Y-%m"))
            if not plan:
                continue
            covered, on_demand = Decimal(plan["covered"]), Decimal(plan["on_demand"])
            total = covered + on_demand
            coverages.append(
                {
                    "Attributes": {},
                    "Coverage": {
                        "SpendCoveredBySavingsPlans": _fmt(covered),
                        "OnDemandCost": _fmt(on_demand),
                        "TotalCost": _fmt(total),
                        "CoveragePercentage": _fmt(covered * 100 / total) if total else "0",
                    },
                    "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                }
            )
        return {"SavingsPlansCoverages": coverages}

    def _op_GetSavingsPlansUtilization(self, request: dict) -> dict:
        found = []
        for start, end in self._months(request):
            plan = self.savings_plans.get(start.strftime("%Y-%m"))
            if plan:
                total, used = Decimal(plan["commitment"]), Decimal(plan["used"])
                found.append(
                    {
                        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                        "Utilization": {
                            "TotalCommitment": _fmt(total),
                            "UsedCommitment": _fmt(used),
                            "UnusedCommitment": _fmt(total - used),
                            "UtilizationPercentage": _fmt(used * 100 / total) if total else "0",
                        },
                        "Savings": {"NetSavings": "0", "OnDemandCostEquivalent": "0"},
                        "AmortizedCommitment": {
                            "AmortizedRecurringCommitment": _fmt(total),
                            "AmortizedUpfrontCommitment": "0",
                            "TotalAmortizedCommitment": _fmt(total),
                        },
                    }
                )
        if not found:
            # What AWS answers an account without Savings Plans.
            raise AwsError("DataUnavailableException", "No Savings Plans utilization data")
        return {"SavingsPlansUtilizationsByTime": found, "Total": {}}

    def _op_GetCostForecast(self, request: dict) -> dict:
        """The mean of the last 7 days before Start, for each day to End (exclusive);
        the prediction interval is +-10%."""
        start = date.fromisoformat(request["TimePeriod"]["Start"])
        end = date.fromisoformat(request["TimePeriod"]["End"])
        amortized = request.get("Metric") == "AMORTIZED_COST"
        history = [
            Decimal(r.amortized if amortized else r.unblended)
            for offset in range(1, 8)
            for r in self._by_day.get(start - timedelta(days=offset), [])
        ]
        if not history:
            raise AwsError("DataUnavailableException", "Insufficient amount of historical data")
        daily = sum(history, Decimal(0)) / 7
        mean = (daily * (end - start).days).quantize(Decimal("0.0000000001"))
        return {
            "Total": {"Amount": _fmt(mean), "Unit": "USD"},
            "ForecastResultsByTime": [
                {
                    "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
                    "MeanValue": _fmt(mean),
                    "PredictionIntervalLowerBound": _fmt(mean * Decimal("0.9")),
                    "PredictionIntervalUpperBound": _fmt(mean * Decimal("1.1")),
                }
            ],
        }


# --- organisations ----------------------------------------------------------------------


def organisation(
    start: date,
    end: date,
    *,
    accounts: int,
    teams: int,
    services: int,
    services_per_team: int = 8,
    accounts_per_team: int = 3,
    seed: int = 7,
) -> tuple[list[CostRow], dict[str, str]]:
    """Daily cost rows from `start` to `end` inclusive for an organisation: each team (and
    the untagged spend) uses a few services in a few accounts; amounts with Cost Explorer's
    long decimals, some spot compute. Also the account names."""
    rng = random.Random(seed)
    account_ids = [f"{100000000000 + 7919 * i:012d}" for i in range(accounts)]
    names = {a: f"acct-{i:02d}" for i, a in enumerate(account_ids)}
    service_names = [COMPUTE, "Amazon Simple Storage Service", "Amazon Relational Database Service"]
    service_names += [f"AWS Service {i:02d}" for i in range(services - len(service_names))]
    team_names: list[str | None] = [f"team-{i:02d}" for i in range(teams)] + [None]
    uses = []
    for team in team_names:
        for account in rng.sample(account_ids, min(accounts_per_team, accounts)):
            for service in rng.sample(service_names, min(services_per_team, services)):
                base = Decimal(rng.randint(100, 50_000)) / 100
                uses.append((account, team, service, base))
    rows = []
    day = start
    while day <= end:
        for account, team, service, base in uses:
            wobble = Decimal(rng.randint(800_000_000, 1_200_000_000)) / Decimal(10**9)
            amortized = (base * wobble).quantize(Decimal("0.0000000001"))
            unblended = (amortized * Decimal("1.05")).quantize(Decimal("0.0000000001"))
            purchase = SPOT if service == COMPUTE and rng.random() < 0.2 else ON_DEMAND
            rows.append(
                CostRow(day, account, team, service, _fmt(amortized), _fmt(unblended), purchase)
            )
        day += timedelta(days=1)
    return rows, names
