"""`costbot sync athena`'s own side: loading a large query result (100,000 daily rows, 100
pages of GetQueryResults) from moto's Athena behind the tests' AthenaFront (which pages as
Athena does), against paging the same result with boto3 alone (the floor: the API calls and
their JSON, which no loader can skip).

    .venv/bin/python bench/athena_bench.py [--quick]

What Athena itself costs is not measured here (moto runs no query): see the cost per TB in
README "Connect AWS"; the sync prints and records the bytes scanned of every real run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

from _common import REPO, Figure, Section, format_ratio, log, secs

sys.path.append(str(REPO / "tests"))  # the tests' AthenaFront and table definitions

from athena_front import AthenaFront
from athena_tables import CUR2_COLUMNS

from bot.config import parse_config
from bot.sources.aws.athena import sync_athena
from bot.sources.aws.athena_query import DIMENSION_COLUMNS

FULL_ROWS = 100_000
QUICK_ROWS = 10_000
GOAL_RATIO = 3.0  # the sync at most 3x the bare paging: parsing and storing stay cheap
TODAY = date(2026, 11, 20)
RESULT_COLUMNS = (
    *DIMENSION_COLUMNS,
    "billing_account_name",
    "account_name",
    "effective_cost",
    "billed_cost",
    "list_cost",
    "line_items",
)


def _result_rows(count: int) -> list[list[str | None]]:
    """`count` result rows over Oct 1 - Nov 19, 40 teams, 25 services: rows come in pairs
    that differ only in the case of the team tag value, so the team mapping folds every pair
    into one stored row."""
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(50)]
    rows = []
    for n in range(count):
        pair = n // 2
        day = days[pair % 50]
        team = f"team-{pair // 50 % 40:02d}"
        rows.append(
            [
                day.isoformat(),
                "AWS",
                "111111111111",
                "222222222222",
                team.upper() if n % 2 else team,
                "prod",
                None,
                None,
                f"Service {pair // 2000 % 25:02d}",
                None,
                "us-east-1",
                "Usage",
                "USD",
                day.strftime("%Y-%m"),
                "Acme",
                "acme-prod",
                f"{n % 997}.{n:012d}",
                f"{n % 991}.{n:012d}",
                f"{n % 983}.{n:012d}",
                "42",
            ]
        )
    return rows


def _queue(moto_url: str, rows: list[list[str | None]]) -> None:
    header = {"Data": [{"VarCharValue": name} for name in RESULT_COLUMNS]}
    data = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    body = {"results": [{"rows": [header, *data], "column_info": []}]}
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=120).close()


def _environment(moto_url: str, front_url: str, scratch: Path) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ENDPOINT_URL_ATHENA": front_url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(scratch / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "none"),
        }
    )


def measure(quick: bool) -> Section:
    import boto3
    from moto.server import ThreadedMotoServer

    count = QUICK_ROWS if quick else FULL_ROWS
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    rows = _result_rows(count)
    config = parse_config(
        {
            "teams": [{"name": f"team-{t:02d}"} for t in range(40)],
            "aws": {
                "backfill_months": 2,
                "athena": {"database": "cur", "table": "cur2", "output": "s3://results/"},
            },
        }
    )
    try:
        with AthenaFront(moto_url) as front, tempfile.TemporaryDirectory() as scratch:
            _environment(moto_url, front.url, Path(scratch))
            glue = boto3.client("glue")
            glue.create_database(DatabaseInput={"Name": "cur"})
            glue.create_table(
                DatabaseName="cur",
                TableInput={
                    "Name": "cur2",
                    "StorageDescriptor": {
                        "Columns": [{"Name": c, "Type": t} for c, t in CUR2_COLUMNS.items()]
                    },
                    "PartitionKeys": [{"Name": "billing_period", "Type": "string"}],
                },
            )
            log(f"athena: {count:,} result rows")
            # The floor: the same pages through boto3's paginator, nothing done with them.
            _queue(moto_url, rows)
            athena = boto3.client("athena")
            query_id = athena.start_query_execution(
                QueryString="SELECT 1", ResultConfiguration={"OutputLocation": "s3://results/"}
            )["QueryExecutionId"]
            athena.get_query_execution(QueryExecutionId=query_id)
            paginator = athena.get_paginator("get_query_results")
            start = time.perf_counter()
            paged = sum(
                len(page["ResultSet"]["Rows"])
                for page in paginator.paginate(
                    QueryExecutionId=query_id, PaginationConfig={"PageSize": 1000}
                )
            )
            baseline = time.perf_counter() - start
            assert paged == count + 1
            # The figure: the whole sync, from the Glue lookup to the rows in a fresh store.
            _queue(moto_url, rows)
            pages_before = len(front.pages)
            start = time.perf_counter()
            result = sync_athena(config, Path(scratch) / "costbot.db", TODAY, say=lambda _: None)
            elapsed = time.perf_counter() - start
            pages = len(front.pages) - pages_before
    finally:
        server.stop()
    ratio = elapsed / baseline
    return Section(
        key="athena",
        title=f"7. Athena sync: loading {count:,} result rows",
        setup=[
            f"A query result of {count:,} rows (50 days x 40 teams x 25 services, each row twice"
            " with the team tag in another case, costs with 12 decimals) queued in moto's Athena;"
            " the tests' AthenaFront pages it as Athena does (1,000 rows a page).",
            "Figure: `sync_athena(...)` into a fresh store: Glue lookup, start, poll, every"
            " page, teams mapped, rows summed as Decimal, one `write_source_rows`, the run"
            " recorded. Baseline: the same pages through boto3's `get_query_results`"
            " paginator, nothing done with them (the floor of any loader).",
            "One run each (the moto server's share of the time is in both).",
        ],
        figures=[
            Figure(
                "sync, end to end",
                secs(elapsed),
                "bare paging",
                secs(baseline),
                ratio,
                f"<= {GOAL_RATIO:g}x",
                ratio <= GOAL_RATIO,
            ),
        ],
        notes=[
            f"{pages} pages read, {result.rows:,} daily rows stored"
            f" ({count - result.rows:,} folded by the team mapping);"
            f" {count / elapsed:,.0f} result rows a second ({format_ratio(ratio)} the floor).",
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    measure(parser.parse_args().quick).print()


if __name__ == "__main__":
    main()
