"""Ingest at two shapes of FOCUS export, CSV and Parquet, against DuckDB doing the work the
store needs on its own: the daily and the resource-month aggregates, summed as exact
decimals, into DuckDB tables. Each run in a fresh process, for its peak memory.

    .venv/bin/python bench/ingest_shapes_bench.py [--rows 2000000,6000000] [--repeat N]

Shapes (`bench/focus_data.py`): service-level (2,000 resources: 2M rows collapse into
~120,000 daily rows and 4,000 resource-month rows) and resource-level (150,000 resources:
~800,000 resource-month rows, ~30,000 daily rows), as real exports are.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import GIB, OUT, ChildRun, Figure, Section, emit, format_ratio, log, mib, run_child
from focus_data import RESOURCE_LEVEL, SERVICE_LEVEL, SHAPES, Shape, focus_file
from ingest_bench import BASELINE_SQL, baseline_reader

GOAL_RATIO = 2.5
GOAL_PEAK_RSS = 1 * GIB
GOAL_GROWTH = 1.2  # peak memory of the largest file / of the smallest
FORMATS = ("csv", "parquet")
# (shape, rows): every shape at 2M rows; the resource-level one at 6M too, for memory growth.
RUNS = ((SERVICE_LEVEL, 2_000_000), (RESOURCE_LEVEL, 2_000_000), (RESOURCE_LEVEL, 6_000_000))
QUICK_RUNS = ((SERVICE_LEVEL, 100_000), (RESOURCE_LEVEL, 100_000), (RESOURCE_LEVEL, 300_000))

# What the store needs, by DuckDB alone: per day x dimensions x tag set, and per month x
# resource x tag set, each cost summed as DECIMAL(38, 12), into tables.
AGGREGATES_SQL = (
    """CREATE TABLE daily AS
       SELECT ChargePeriodStart::TIMESTAMP::DATE AS day, BillingPeriodStart, ProviderName,
              BillingAccountId, SubAccountId, ServiceName, ServiceCategory, RegionId,
              ChargeCategory, BillingCurrency, Tags,
              sum(EffectiveCost::DECIMAL(38, 12)) AS effective,
              sum(BilledCost::DECIMAL(38, 12)) AS billed,
              sum(ListCost::DECIMAL(38, 12)) AS list
       FROM {reader} GROUP BY ALL""",
    """CREATE TABLE resource_month AS
       SELECT date_trunc('month', ChargePeriodStart::TIMESTAMP) AS month, BillingPeriodStart,
              ProviderName, BillingAccountId, SubAccountId, ResourceId, ServiceName, RegionId,
              Tags, any_value(ResourceName) AS name, any_value(ResourceType) AS type,
              sum(EffectiveCost::DECIMAL(38, 12)) AS effective,
              sum(BilledCost::DECIMAL(38, 12)) AS billed,
              sum(ListCost::DECIMAL(38, 12)) AS list
       FROM {reader} WHERE ResourceId IS NOT NULL GROUP BY ALL""",
)


# --- children ------------------------------------------------------------------------------


def child_aggregates(path: Path) -> None:
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory(prefix="bench-duckdb-", dir=OUT) as scratch:
        con = duckdb.connect()
        con.execute("SET temp_directory = ?", [scratch])
        con.execute("SET enable_progress_bar = false")
        start = time.perf_counter()
        for sql in AGGREGATES_SQL:
            con.execute(sql.format(reader=baseline_reader(path)))
        seconds = time.perf_counter() - start
        daily = con.execute("SELECT count(*) FROM daily").fetchone()[0]
        resources = con.execute("SELECT count(*) FROM resource_month").fetchone()[0]
        con.close()
    emit({"seconds": seconds, "daily": daily, "resource_months": resources})


def child_group_by(path: Path) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    start = time.perf_counter()
    groups = con.execute(BASELINE_SQL.format(reader=baseline_reader(path))).fetchall()
    emit({"seconds": time.perf_counter() - start, "groups": len(groups)})


def child_ingest(path: Path, db_path: Path) -> None:
    from bot.config import Config
    from bot.sources.focus_ingest import ingest_focus

    db_path.unlink(missing_ok=True)
    start = time.perf_counter()
    report = ingest_focus([str(path)], Config(), db_path, show_progress=False)
    seconds = time.perf_counter() - start
    emit(
        {
            "seconds": seconds,
            "rows": report.charge_rows,
            "daily": sum(len(f.daily_rows) for f in report.files),
            "resource_months": sum(len(f.resource_rows) for f in report.files),
        }
    )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


# --- the parent ----------------------------------------------------------------------------


def _best(runs: list[ChildRun]) -> tuple[float, int]:
    return min(r.result["seconds"] for r in runs), max(r.peak_rss for r in runs)


def _label(shape: Shape, rows: int, fmt: str) -> str:
    kind = "service-level" if shape is SERVICE_LEVEL else "resource-level"
    return f"{kind}, {rows / 1e6:g}M rows, {fmt.upper()}"


def measure(
    repeat: int, formats: tuple[str, ...] = FORMATS, quick: bool = False, runs=None
) -> Section:
    runs = runs or (QUICK_RUNS if quick else RUNS)
    section = Section(
        key="ingest_shapes",
        title="4. Ingest at real resource counts (two shapes, CSV and Parquet)",
        setup=[
            "Files (`bench/focus_data.py`, FOCUS 1.0, 43 text columns): service-level "
            f"({SERVICE_LEVEL.description}) and resource-level ({RESOURCE_LEVEL.description}).",
            "Figure: `ingest_focus([file], Config(), fresh_db)`: read, checked, aggregated and "
            "written to SQLite in one transaction. Baseline: DuckDB alone doing the work the "
            "store needs, `CREATE TABLE daily AS ... GROUP BY ALL` (day x dimensions x tag "
            "set) and `CREATE TABLE resource_month AS ... GROUP BY ALL` (month x resource x "
            "tag set), every cost summed as `DECIMAL(38, 12)`. For continuity also DuckDB's "
            "bare `GROUP BY` of section 1 (day, service, account, tags; one sum, fetched).",
            f"Each run in a fresh process; wall time is the best of {repeat}, timed in the "
            "process around the call; peak memory is the highest `ru_maxrss` of the runs "
            "(from `wait4`). Ratio = ingest time / baseline time.",
        ],
    )
    script = str(Path(__file__).resolve())
    db_path = OUT / "ingest-shapes.db"
    peaks: dict[tuple[str, str, int], int] = {}
    for shape, rows in runs:
        for fmt in formats:
            label = _label(shape, rows, fmt)
            log(f"ingest shapes: preparing {label} (cached in {OUT})")
            path = focus_file(rows, fmt, OUT, shape)
            ingests, aggregates, group_bys = [], [], []
            for attempt in range(repeat):
                log(f"ingest shapes: {label} run {attempt + 1}/{repeat}")
                aggregates.append(run_child([script, "--child", "aggregates", str(path)]))
                group_bys.append(run_child([script, "--child", "group_by", str(path)]))
                ingests.append(run_child([script, "--child", "ingest", str(path), str(db_path)]))
            ingest_s, ingest_rss = _best(ingests)
            base_s, base_rss = _best(aggregates)
            bare_s, _ = _best(group_bys)
            assert all(r.result["rows"] == rows for r in ingests), "ingest lost rows"
            peaks[(shape.name, fmt, rows)] = ingest_rss
            ratio = ingest_s / base_s
            result = ingests[0].result
            section.figures += [
                Figure(
                    f"{label}: ingest ({result['daily']:,} daily, "
                    f"{result['resource_months']:,} resource-month rows)",
                    f"{ingest_s:.2f} s",
                    "DuckDB daily + resource-month aggregates",
                    f"{base_s:.2f} s",
                    ratio,
                    f"<= {GOAL_RATIO:g}x baseline",
                    ratio <= GOAL_RATIO,
                ),
                Figure(
                    f"{label}: ingest vs bare GROUP BY",
                    f"{ingest_s:.2f} s",
                    "DuckDB bare GROUP BY (section 1)",
                    f"{bare_s:.2f} s",
                    ingest_s / bare_s,
                ),
                Figure(
                    f"{label}: ingest peak memory",
                    mib(ingest_rss),
                    "DuckDB aggregates",
                    mib(base_rss),
                    ingest_rss / base_rss,
                    f"< {GOAL_PEAK_RSS / GIB:g} GiB",
                    ingest_rss < GOAL_PEAK_RSS,
                ),
            ]
    for fmt in formats:
        sizes = sorted(rows for name, f, rows in peaks if name == RESOURCE_LEVEL.name and f == fmt)
        if len(sizes) >= 2:
            small, large = (
                peaks[(RESOURCE_LEVEL.name, fmt, sizes[0])],
                peaks[(RESOURCE_LEVEL.name, fmt, sizes[-1])],
            )
            growth = large / small
            section.figures.append(
                Figure(
                    f"resource-level, {fmt.upper()}: peak memory at {sizes[-1] / 1e6:g}M rows",
                    mib(large),
                    f"the same at {sizes[0] / 1e6:g}M rows",
                    mib(small),
                    growth,
                    f"<= {GOAL_GROWTH:g}x",
                    growth <= GOAL_GROWTH,
                )
            )
    section.notes.append(
        "Ratios to read first: "
        + ", ".join(
            f"{f.name.split(':')[0]} {format_ratio(f.ratio)}"
            for f in section.figures
            if f.ratio is not None and f.baseline.startswith("DuckDB daily")
        )
        + "."
    )
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure (best is kept)")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--quick", action="store_true", help="small files")
    parser.add_argument(
        "--run",
        action="append",
        metavar="SHAPE:ROWS",
        help=f"only this shape ({', '.join(SHAPES)}) and size; repeatable",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *paths = args.child
        {"aggregates": child_aggregates, "group_by": child_group_by, "ingest": child_ingest}[kind](
            *map(Path, paths)
        )
        return
    runs = None
    if args.run:
        runs = tuple((SHAPES[shape], int(rows)) for shape, rows in (r.split(":") for r in args.run))
    measure(args.repeat, tuple(args.formats.split(",")), args.quick, runs).print()


if __name__ == "__main__":
    main()
