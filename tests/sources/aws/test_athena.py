"""`costbot sync athena` against moto's Athena and Glue over HTTP, through AthenaFront (paging,
bytes scanned, failures, access denied: where moto does not behave like Athena).

The truth of each test is a list of CUR 2.0 line items. What Athena would answer for them is
computed here (`athena_answer`) and queued in moto as the query's result; what the store and
`/cost` then say is compared with sums of the line items made here with Decimal, by AWS's
documented amortization rule, never with Costbot's code.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import boto3
import pytest
import sqlite_utils
import yaml
from athena_front import AthenaFront
from athena_tables import CUR2_COLUMNS, FOCUS_COLUMNS
from focus_factory import dollars, money_text, to_cent
from stores import focus_store

from bot.cli import main
from bot.config import load_config
from bot.sources.aws.athena import QueryFailed, start_query, wait_for_query
from bot.sources.aws.session import make_client
from bot.store import open_store
from bot.store.schema import COMMITMENT_DIMENSIONS, daily_row
from bot.store.writers import SourceLoad, write_source_rows

PAYER = "111111111111"
PROD, STAGING = "222222222222", "333333333333"
TODAY = date(2026, 11, 20)  # the first sync back-fills 2026-10-01 .. 2026-11-19 (2 months)
RANGE = (date(2026, 10, 1), date(2026, 11, 19))
GB = 1 << 30
SCANNED = int(1.2 * GB)
# What Athena charges for SCANNED bytes: rounded up to the MB, $5 per TB (2^40 bytes).
SCANNED_COST_MICROS = round(Decimal(-(-SCANNED // (1 << 20)) * 5_000_000) / 1024**2)

# The columns of the query's result, in its order (the header row Athena sends first).
RESULT_COLUMNS = (
    "usage_date",
    "provider",
    "billing_account_id",
    "account_id",
    "team",
    "environment",
    "product",
    "cost_center",
    "service",
    "service_category",
    "region",
    "charge_category",
    "currency",
    "billing_period",
    "sku",
    "billing_account_name",
    "account_name",
    "effective_cost",
    "billed_cost",
    "list_cost",
    "line_items",
)
TEAMS_CONFIG = {
    "teams": [
        {"name": "payments", "aliases": ["pay"]},
        {"name": "search"},
    ],
    "aws": {
        "backfill_months": 2,
        "athena": {"database": "cur", "table": "cur2", "output": "s3://athena-results/costbot/"},
    },
}


@dataclass(frozen=True)
class Line:
    """One CUR 2.0 line item."""

    day: date
    account: str
    team: str | None  # the value of the user:Team tag (user_team in CUR 2.0)
    service: str
    line_type: str
    unblended: Decimal
    effective: Decimal | None = None  # SP / RI effective cost of covered usage
    public: Decimal | None = None
    payer: str = PAYER
    extra_tags: dict = field(default_factory=dict)
    usage_type: str | None = None  # line_item_usage_type


def amortized(line: Line) -> Decimal:
    """AWS's amortized cost of a line (the CUR query library's rule)."""
    if line.line_type in ("SavingsPlanCoveredUsage", "DiscountedUsage"):
        return line.effective
    if line.line_type in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return Decimal(0)
    return line.unblended


def canonical(team: str | None) -> str | None:
    if team is None:
        return None
    team = team.strip().lower()
    return "payments" if team == "pay" else team


BOX_USAGE = "USE1-BoxUsage:m5.xlarge"


def month_lines(start: date, end: date) -> list[Line]:
    """Every day: payments on EC2 under a Savings Plan (covered usage and its negation) and
    on demand, payments' RDS tagged with the alias in another case, search with a reservation, and
    untagged S3; a tax line on the 1st of each month."""
    lines, day, n = [], start, 0
    while day <= end:
        n += 1
        ec2 = Decimal(f"{40 + n % 7}.1234567891")
        lines += [
            Line(
                day,
                PROD,
                "Payments",
                "Amazon Elastic Compute Cloud",
                "SavingsPlanCoveredUsage",
                ec2,
                effective=(ec2 * Decimal("0.72")).quantize(Decimal("1e-10")),
                public=ec2,
                usage_type=BOX_USAGE,
            ),
            Line(
                day,
                PROD,
                "Payments",
                "Amazon Elastic Compute Cloud",
                "SavingsPlanNegation",
                -ec2,
                usage_type=BOX_USAGE,
            ),
            # The alias, spelled another way, on the same service and day as "Payments".
            Line(
                day,
                PROD,
                "pay ",
                "Amazon Elastic Compute Cloud",
                "Usage",
                Decimal("0.5"),
                usage_type=BOX_USAGE,
            ),
            Line(
                day,
                PROD,
                "PAY",
                "Amazon Relational Database Service",
                "Usage",
                Decimal(f"12.{n:02d}00000007"),
                public=Decimal(f"12.{n:02d}00000007"),
                usage_type="USE1-InstanceUsage:db.r6g.large",
            ),
            Line(
                day,
                STAGING,
                "search",
                "Amazon Elastic Compute Cloud",
                "DiscountedUsage",
                Decimal(0),
                effective=Decimal(f"7.7{n % 10}31415926"),
                public=Decimal("11"),
                usage_type="USE1-BoxUsage:c6i.large",
            ),
            Line(
                day,
                STAGING,
                None,
                "Amazon Simple Storage Service",
                "Usage",
                Decimal(f"0.0{n % 9}99999999"),
                public=Decimal(f"0.0{n % 9}99999999"),
                usage_type="USE1-TimedStorage-ByteHrs",
            ),
        ]
        if day.day == 1:
            lines.append(Line(day, PROD, None, "Tax", "Tax", Decimal("3.3333333333")))
        day += timedelta(days=1)
    return lines


def expected(lines: list[Line], start: date, end: date, team: str | None = ...) -> str:
    total = sum(
        (
            amortized(line)
            for line in lines
            if start <= line.day <= end and (team is ... or canonical(line.team) == team)
        ),
        Decimal(0),
    )
    return money_text(to_cent(total))


def athena_answer(lines: list[Line], start: date, end: date) -> list[list[str | None]]:
    """What the aggregation query answers for these line items over start..end: one row per
    day x dimensions (the raw tag value, not yet mapped to a team), sums as DECIMAL(38, 12)
    text."""
    groups: dict[tuple, list] = {}
    for line in lines:
        if not start <= line.day <= end:
            continue
        category = {"Tax": "Tax"}.get(line.line_type, "Usage")
        key = (
            line.day.isoformat(),
            "AWS",
            line.payer,
            line.account,
            line.team.strip() if line.team else None,
            None,
            None,
            None,
            line.service,
            None,
            None if line.service == "Tax" else "us-east-1",
            category,
            "USD",
            line.day.strftime("%Y-%m"),
            line.usage_type,
            "Acme Corp",
            {PROD: "acme-prod", STAGING: "acme-staging"}[line.account],
        )
        sums = groups.setdefault(key, [Decimal(0), Decimal(0), Decimal(0), 0])
        sums[0] += amortized(line)
        sums[1] += line.unblended
        sums[2] += line.public if line.public is not None else amortized(line)
        sums[3] += 1
    return [
        [*key, *(f"{value:.12f}" for value in sums[:3]), str(sums[3])]
        for key, sums in groups.items()
    ]


def queue_result(
    moto_url: str, rows: list[list[str | None]], columns: tuple[str, ...] = RESULT_COLUMNS
) -> None:
    """Queue the answer of the next query in moto (header row first, as Athena sends it)."""
    header = {"Data": [{"VarCharValue": name} for name in columns]}
    data = [
        {"Data": [{} if value is None else {"VarCharValue": value} for value in row]}
        for row in rows
    ]
    body = {
        "results": [
            {
                "rows": [header, *data],
                "column_info": [{"Name": n, "Type": "varchar"} for n in columns],
            }
        ]
    }
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def create_table(name: str, columns: dict[str, str], partitioned: bool = True) -> None:
    glue = boto3.client("glue")
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(DatabaseInput={"Name": "cur"})
    glue.create_table(
        DatabaseName="cur",
        TableInput={
            "Name": name,
            "StorageDescriptor": {
                "Columns": [{"Name": c, "Type": t} for c, t in columns.items()],
                "Location": f"s3://billing/{name}/data/",
            },
            "PartitionKeys": [{"Name": "billing_period", "Type": "string"}] if partitioned else [],
        },
    )


@pytest.fixture
def front(aws, monkeypatch):
    with AthenaFront(aws, bytes_scanned=SCANNED) as athena_front:
        # Only Athena goes through the front; Glue and S3 stay on moto (AWS_ENDPOINT_URL).
        monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", athena_front.url)
        yield athena_front


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A config file and a store path, in the environment as the CLI reads them."""
    config_path = tmp_path / "costbot.yml"
    config_path.write_text(yaml.safe_dump(TEAMS_CONFIG))
    monkeypatch.setenv("COSTBOT_CONFIG", str(config_path))
    monkeypatch.setenv("COSTBOT_DB", str(tmp_path / "costbot.db"))
    return tmp_path


def executed_queries() -> list[str]:
    """The query texts Athena (moto) received, as GetQueryExecution returns them."""
    athena = boto3.client("athena")
    ids = athena.list_query_executions()["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]


def ask(text: str, capsys) -> str:
    assert main(["ask", "--today", TODAY.isoformat(), text]) == 0
    return capsys.readouterr().out


def test_first_sync_backfills_cur2_and_answers_to_the_cent(front, site, capsys):
    create_table("cur2", CUR2_COLUMNS)
    lines = month_lines(date(2026, 9, 25), TODAY)
    start, end = date(2026, 10, 1), date(2026, 11, 19)
    queue_result(front.moto_url, athena_answer(lines, start, end))
    front.running_polls = 2  # QUEUED / RUNNING for two polls, as a real scan would be

    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Athena table cur.cur2: CUR 2.0 (detected from the table's columns)"
    assert out[1].startswith("Reading 2026-10-01 .. 2026-11-19 (50 days): first sync")
    assert out[-1] == "Athena: 1 query, 1.2 GB scanned ($0.01)"
    in_range = [line for line in lines if start <= line.day <= end]
    results = len(athena_answer(lines, start, end))
    assert out[2].endswith(
        f"{len(in_range):,} line items summed into {results - 50:,} daily rows (1 page of results)"
    )  # the alias rows ("pay ") fold into "Payments"' rows: one a day
    october = expected(lines, start, date(2026, 10, 31))
    assert f"  billing period 2026-10: {october} amortized," in "\n".join(out)
    assert front.operations().count("GetQueryExecution") == 3  # polled until SUCCEEDED

    (query,) = executed_queries()
    assert 'FROM "cur"."cur2"' in query
    assert "WHERE billing_period IN ('2026-10', '2026-11')" in query
    assert "line_item_usage_start_date >= TIMESTAMP '2026-10-01 00:00:00'" in query
    assert "line_item_usage_start_date < TIMESTAMP '2026-11-20 00:00:00'" in query
    assert "zip_with(map_keys(resource_tags), map_values(resource_tags)" in query
    assert "element_at(costbot_tags, 'team')" in query
    assert (
        "WHEN 'SavingsPlanCoveredUsage' THEN CAST(savings_plan_savings_plan_effective_cost" in query
    )
    assert "WHEN 'DiscountedUsage' THEN CAST(reservation_effective_cost" in query
    assert "WHEN 'SavingsPlanNegation' THEN 0" in query
    assert "sum(CAST(line_item_unblended_cost AS DECIMAL(38, 12))) AS billed_cost" in query
    assert query.rstrip().endswith("GROUP BY " + ", ".join(str(n) for n in range(1, 20)))
    assert "nullif(trim(CAST(line_item_usage_type AS VARCHAR)), ''), 1, 120) AS sku" in query

    db = sqlite_utils.Database(site / "costbot.db")
    (run,) = list(db["sync_runs"].rows)
    assert (run["source"], run["status"], run["bytes_scanned"]) == ("athena", "ok", SCANNED)
    assert run["cost_micros"] == SCANNED_COST_MICROS
    assert (run["period_start"], run["period_end"]) == ("2026-10-01", "2026-11-19")
    detail = json.loads(run["detail"])
    assert detail["query_execution_id"] and detail["format"] == "cur2"
    assert detail["line_items"] == sum(1 for line in lines if start <= line.day <= end)
    sources = {(r[0], r[1]) for r in db.execute("SELECT DISTINCT source, grain FROM daily_cost")}
    assert sources == {("athena", None)}
    # What was used is kept for root causes; the tax line has no usage type.
    skus = {r[0] for r in db.execute("SELECT DISTINCT sku FROM daily_cost")}
    assert skus == {
        BOX_USAGE,
        "USE1-InstanceUsage:db.r6g.large",
        "USE1-BoxUsage:c6i.large",
        "USE1-TimedStorage-ByteHrs",
        None,
    }
    # "Payments", "pay " and "PAY" are one team: one stored row per day and service.
    assert (
        db.execute(
            "SELECT count(*) FROM daily_cost WHERE team = 'payments' AND date = '2026-10-02'"
        ).fetchone()[0]
        == 2
    )

    for team in ("payments", "search"):
        for month, (first, last) in {
            "2026-10": (date(2026, 10, 1), date(2026, 10, 31)),
            "2026-11": (date(2026, 11, 1), date(2026, 11, 19)),
        }.items():
            answer = ask(f"/cost team {team} {month}", capsys)
            assert expected(lines, first, last, team) in answer, (team, month)
    assert expected(lines, date(2026, 10, 1), date(2026, 10, 31), None) in ask(
        "/cost top teams 2026-10", capsys
    )


def test_a_later_sync_rereads_only_what_can_change(front, site, capsys):
    create_table("cur2", CUR2_COLUMNS)
    lines = month_lines(date(2026, 10, 1), date(2026, 12, 10))
    queue_result(front.moto_url, athena_answer(lines, date(2026, 10, 1), date(2026, 11, 19)))
    assert main(["sync", "athena", "--today", "2026-11-20"]) == 0
    # Restated: November's last days change; the day-before sync re-reads them.
    restated = [
        Line(
            d.day,
            d.account,
            d.team,
            d.service,
            d.line_type,
            d.unblended * 2,
            d.effective and d.effective * 2,
            d.public,
        )
        if d.day >= date(2026, 11, 15)
        else d
        for d in lines
    ]
    # On Dec 3 (bill not final before the 5th) a sync re-reads November and December.
    queue_result(front.moto_url, athena_answer(restated, date(2026, 11, 1), date(2026, 12, 2)))
    assert main(["sync", "athena", "--today", "2026-12-03"]) == 0
    out = capsys.readouterr().out
    assert "Reading 2026-11-01 .. 2026-12-02 (32 days)" in out
    assert "2026-11 until its bill is final (day 5)" in out
    latest = executed_queries()[-1]
    assert "WHERE billing_period IN ('2026-11', '2026-12')" in latest
    assert "TIMESTAMP '2026-11-01 00:00:00'" in latest

    for team in ("payments", "search"):
        assert expected(restated, date(2026, 11, 1), date(2026, 11, 30), team) in ask(
            f"/cost team {team} 2026-11", capsys
        )
        # October was not re-read and is still there, once.
        assert expected(lines, date(2026, 10, 1), date(2026, 10, 31), team) in ask(
            f"/cost team {team} 2026-10", capsys
        )

    # Mid-month, a third sync re-reads the whole current month only (one partition).
    queue_result(front.moto_url, athena_answer(restated, date(2026, 12, 1), date(2026, 12, 9)))
    assert main(["sync", "athena", "--today", "2026-12-10"]) == 0
    assert "WHERE billing_period IN ('2026-12')" in executed_queries()[-1]

    assert main(["sync", "athena", "--today", "2026-12-10", "--days", "3"]) == 0
    assert "TIMESTAMP '2026-12-07 00:00:00'" in executed_queries()[-1]


def test_results_over_a_thousand_rows_are_paged(front, site, capsys):
    """A FOCUS table (format detected), 1,500 result rows: two pages of GetQueryResults."""
    create_table("focus", FOCUS_COLUMNS)
    config = yaml.safe_load((site / "costbot.yml").read_text())
    config["aws"]["athena"]["table"] = "focus"
    (site / "costbot.yml").write_text(yaml.safe_dump(config))
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(50)]
    services = [f"Service {n:02d}" for n in range(30)]
    rows, truth = [], Decimal(0)
    for day in days:
        for n, service in enumerate(services):
            cost = Decimal(f"{n}.{day.day:02d}0000000001")
            truth += cost
            rows.append(
                [
                    day.isoformat(),
                    "AWS",
                    PAYER,
                    PROD,
                    "search",
                    None,
                    None,
                    None,
                    service,
                    "Compute",
                    "eu-west-1",
                    "Usage",
                    "USD",
                    day.strftime("%Y-%m"),
                    f"{service} usage",
                    "Acme Corp",
                    "acme-prod",
                    f"{cost:.12f}",
                    f"{cost:.12f}",
                    f"{cost:.12f}",
                    "3",
                ]
            )
    queue_result(front.moto_url, rows)

    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "Athena table cur.focus: FOCUS (detected from the table's columns)" in out
    assert "Stored 1,500 rows of daily cost" in out
    assert [page["rows"] for page in front.pages] == [1000, 501]  # the header, then 1,500 rows
    assert [page["token"] for page in front.pages] == [None, "1000"]
    (query,) = executed_queries()
    assert "map_keys(tags)" in query and "sum(CAST(effectivecost AS DECIMAL(38, 12)))" in query
    assert "chargeperiodstart >= TIMESTAMP '2026-10-01 00:00:00'" in query

    db = sqlite_utils.Database(site / "costbot.db")
    assert db.execute("SELECT count(*) FROM daily_cost").fetchone()[0] == 1500
    stored = db.execute("SELECT sum(effective_micros) FROM daily_cost").fetchone()[0]
    assert Decimal(stored) / 10**6 == truth.quantize(Decimal("0.000001"))
    assert money_text(to_cent(truth)) in ask("/cost team search 90d", capsys)


def test_a_focus_table_keeps_pricing_and_commitment_columns(front, site, capsys):
    """The FOCUS columns the commitment summary reads come through Athena as through files,
    in FOCUS 1.0 spelling (1.0-preview's "Commitment-Based" is "Committed")."""
    create_table("focus", FOCUS_COLUMNS)
    config = yaml.safe_load((site / "costbot.yml").read_text())
    config["aws"]["athena"]["table"] = "focus"
    (site / "costbot.yml").write_text(yaml.safe_dump(config))
    columns = (*RESULT_COLUMNS, *COMMITMENT_DIMENSIONS)
    common = [PAYER, PROD, "search", None, None, None, "Amazon Elastic Compute Cloud"]
    rest = ["Compute", "us-east-1", "Usage", "USD", "2026-10", "USE1-BoxUsage:m5.large"]
    rest += ["Acme Corp", "acme-prod"]
    rows = [
        [
            "2026-10-05",
            "AWS",
            *common,
            *rest,
            "8.25",
            "8.25",
            "10.00",
            "4",
            "Commitment-Based",
            "Spend",
            "Savings Plan",
            "Used",
        ],
        [
            "2026-10-05",
            "AWS",
            *common,
            *rest,
            "1.50",
            "1.50",
            "1.50",
            "2",
            "Standard",
            None,
            None,
            None,
        ],
    ]
    queue_result(front.moto_url, rows, columns)

    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0

    (query,) = executed_queries()
    assert "nullif(trim(CAST(pricingcategory AS VARCHAR)), '') AS pricing_category" in query
    assert "coalesce(nullif(trim(CAST(x_usagetype AS VARCHAR)), '')" in query
    db = sqlite_utils.Database(site / "costbot.db")
    stored = db.execute(
        "SELECT pricing_category, commitment_discount_type, commitment_discount_status,"
        " effective_micros FROM daily_cost WHERE source = 'athena' ORDER BY effective_micros"
    ).fetchall()
    assert stored == [
        ("Standard", None, None, 1_500_000),
        ("Committed", "Savings Plan", "Used", 8_250_000),
    ]
    skus = db.execute("SELECT DISTINCT sku FROM daily_cost WHERE source = 'athena'").fetchall()
    assert skus == [("USE1-BoxUsage:m5.large",)]


def test_a_failed_query_writes_no_cost(front, site, capsys):
    create_table("cur2", CUR2_COLUMNS)
    lines = month_lines(date(2026, 10, 1), TODAY)
    queue_result(front.moto_url, athena_answer(lines, date(2026, 10, 1), date(2026, 11, 19)))
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0
    db = sqlite_utils.Database(site / "costbot.db")
    before = list(db.execute("SELECT * FROM daily_cost ORDER BY rowid"))
    ingests = db.execute("SELECT count(*) FROM ingests").fetchone()[0]
    capsys.readouterr()

    calls_before = len(front.calls)
    front.fail_reason = "HIVE_BAD_DATA: Error parsing field value '1,5' for field 9\nat line 2"
    queue_result(front.moto_url, athena_answer(lines, date(2026, 11, 1), date(2026, 11, 20)))
    assert main(["sync", "athena", "--today", "2026-11-21"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("costbot: Athena query ")
    assert err.rstrip().endswith(
        "failed: HIVE_BAD_DATA: Error parsing field value '1,5' for field 9"
    )
    assert "GetQueryResults" not in front.operations()[calls_before:]
    assert list(db.execute("SELECT * FROM daily_cost ORDER BY rowid")) == before
    assert db.execute("SELECT count(*) FROM ingests").fetchone()[0] == ingests
    failed = db.execute("SELECT status, rows, detail FROM sync_runs ORDER BY id").fetchall()[-1]
    assert failed[:2] == ("failed", 0) and "HIVE_BAD_DATA" in failed[2]


def test_access_denied_and_a_missing_table_are_one_line_and_store_nothing(front, site, capsys):
    create_table("cur2", CUR2_COLUMNS)
    front.deny = {"StartQueryExecution"}
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 1
    err = capsys.readouterr().err
    assert err == (
        "costbot: access denied: athena:StartQueryExecution"
        " (see the IAM policy in README 'Connect AWS')\n"
    )
    db = sqlite_utils.Database(site / "costbot.db")
    assert db.execute("SELECT count(*) FROM daily_cost").fetchone()[0] == 0

    config = yaml.safe_load((site / "costbot.yml").read_text())
    config["aws"]["athena"]["table"] = "no_such_table"
    (site / "costbot.yml").write_text(yaml.safe_dump(config))
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 2
    assert "aws.athena: no table cur.no_such_table in the Glue Data Catalog" in (
        capsys.readouterr().err
    )


def test_a_billing_period_partition_not_by_month_is_not_filtered_on(front, site, capsys):
    """Partition values like 2026-11-01 would match no 'YYYY-MM': filtering on them would
    read nothing and replace the days with nothing."""
    create_table("cur2", CUR2_COLUMNS)
    boto3.client("glue").create_partition(
        DatabaseName="cur",
        TableName="cur2",
        PartitionInput={
            "Values": ["2026-11-01"],
            "StorageDescriptor": {"Location": "s3://billing/cur2/data/billing_period=2026-11-01/"},
        },
    )
    lines = month_lines(date(2026, 10, 1), TODAY)
    queue_result(front.moto_url, athena_answer(lines, *RANGE))
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "warning: the billing_period partition holds values like '2026-11-01'" in out
    (query,) = executed_queries()
    assert "billing_period IN" not in query
    assert expected(lines, *RANGE, "search") in ask("/cost team search 90d", capsys)


def test_credentials_expiring_mid_sync_store_nothing(front, site, capsys):
    create_table("cur2", CUR2_COLUMNS)
    queue_result(front.moto_url, athena_answer(month_lines(date(2026, 10, 1), TODAY), *RANGE))
    front.expired = {"GetQueryResults"}
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 1
    assert capsys.readouterr().err == (
        "costbot: AWS credentials expired or invalid (ExpiredTokenException)"
        " calling athena:GetQueryResults: refresh them\n"
    )
    db = sqlite_utils.Database(site / "costbot.db")
    assert db.execute("SELECT count(*) FROM daily_cost").fetchone()[0] == 0
    assert db.execute("SELECT status FROM sync_runs").fetchall() == [("failed",)]


def test_without_aws_athena_in_the_config_the_command_says_what_to_add(site, capsys):
    (site / "costbot.yml").write_text(yaml.safe_dump({"aws": {"restate_days": 3}}))
    assert main(["sync", "athena"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no aws.athena section: add aws: {athena: {database: ..., table: ..." in err
    assert not (site / "costbot.db").exists()


def test_a_table_of_neither_format_is_refused(front, site, capsys):
    create_table("cur2", {"line_item_usage_start_date": "timestamp", "cost": "double"})
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 2
    assert "is neither a CUR 2.0 table" in capsys.readouterr().err
    assert front.calls == []


def test_a_query_past_the_timeout_is_stopped(front, site):
    front.running_polls = None  # never finishes
    athena = make_client(boto3.session.Session(), "athena")
    settings = load_config().aws.athena
    query_id = start_query(athena, "SELECT 1", settings)
    waited, now = [], [0.0]

    def sleep(seconds: float) -> None:  # the clock of this test: no real waiting
        waited.append(seconds)
        now[0] += seconds

    with pytest.raises(QueryFailed, match=f"Athena query {query_id} still running after 30 s"):
        wait_for_query(athena, query_id, 30, sleep=sleep, clock=lambda: now[0])
    assert ("StopQueryExecution", {"QueryExecutionId": query_id}) in front.calls
    assert waited[:4] == [0.25, 0.375, 0.5625, 0.84375] and max(waited) == 5.0
    assert sum(waited) == 30  # the last poll at the deadline, then the stop

    # Without permission to stop it, the message says so (the query may still be running).
    front.deny = {"StopQueryExecution"}
    query_id = start_query(athena, "SELECT 1", settings)
    with pytest.raises(QueryFailed, match="could not stop it \\(access denied: athena:Stop"):
        wait_for_query(athena, query_id, 30, sleep=sleep, clock=lambda: now[0])


def test_focus_files_win_over_athena_and_athena_over_cost_explorer(front, site, capsys):
    config = load_config()
    # FOCUS files hold October for the same billing account: Athena's October is superseded.
    focus = focus_store(site, config, date(2026, 10, 1), date(2026, 10, 31))
    # Cost Explorer rows for November (both groupings), loaded before the Athena sync.
    db = open_store(site / "costbot.db")
    try:
        ce_rows = []
        for day in range(1, 20):
            for grain, extra in (
                ("team,service", {"service": "Amazon Elastic Compute Cloud"}),
                ("team,account", {"account_id": PROD}),
            ):
                ce_rows.append(
                    (
                        *daily_row(
                            date=f"2026-11-{day:02d}",
                            provider="AWS",
                            billing_account_id=PAYER,
                            team="payments",
                            currency="USD",
                            billing_period="2026-11",
                            effective_micros=999_000_000,
                            billed_micros=999_000_000,
                            list_micros=999_000_000,
                            **extra,
                        ),
                        grain,
                    )
                )
        write_source_rows(
            db,
            SourceLoad(
                source="cost-explorer",
                description="test",
                start=date(2026, 11, 1),
                end=date(2026, 11, 19),
                rows=ce_rows,
                billing_account_id=PAYER,
            ),
        )
    finally:
        db.close()

    create_table("cur2", CUR2_COLUMNS)
    lines = month_lines(date(2026, 10, 1), TODAY)
    queue_result(front.moto_url, athena_answer(lines, date(2026, 10, 1), date(2026, 11, 19)))
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0
    capsys.readouterr()

    db = sqlite_utils.Database(site / "costbot.db")
    flags = dict(
        db.execute(
            "SELECT source || ' ' || substr(date, 1, 7), max(superseded) FROM daily_cost GROUP BY 1"
        ).fetchall()
    )
    assert flags == {
        "focus 2026-10": 0,
        "athena 2026-10": 1,  # FOCUS holds October
        "athena 2026-11": 0,
        "cost-explorer 2026-11": 1,  # Athena holds November
    }
    october = dollars(focus.charges, date(2026, 10, 1), date(2026, 10, 31), team="payments")
    assert october in ask("/cost team payments 2026-10", capsys)
    november = expected(lines, date(2026, 11, 1), date(2026, 11, 19), "payments")
    answer = ask("/cost team payments 2026-11", capsys)
    assert november in answer
    assert "$18,981.00" not in answer  # Cost Explorer's 19 x $999 is not counted


def test_a_configured_format_is_checked_against_the_table(front, site, capsys):
    create_table("cur2", CUR2_COLUMNS)
    config = yaml.safe_load((site / "costbot.yml").read_text())
    config["aws"]["athena"]["format"] = "focus"
    (site / "costbot.yml").write_text(yaml.safe_dump(config))
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 2
    assert "aws.athena.format is focus but cur.cur2 has no column chargeperiodstart" in (
        capsys.readouterr().err
    )

    config["aws"]["athena"]["format"] = "cur2"
    (site / "costbot.yml").write_text(yaml.safe_dump(config))
    queue_result(front.moto_url, athena_answer(month_lines(date(2026, 10, 1), TODAY), *RANGE))
    assert main(["sync", "athena", "--today", TODAY.isoformat()]) == 0
    assert "Athena table cur.cur2: CUR 2.0 (aws.athena.format)" in capsys.readouterr().out
