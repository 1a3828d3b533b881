"""Ingest throughput: `ingest_focus` of a generated FOCUS 1.0 file (CSV and Parquet) against
DuckDB's bare GROUP BY of the same file, each run in a fresh process for its peak memory.

    .venv/bin/python bench/ingest_bench.py [--rows N] [--repeat N] [--formats csv,parquet]
    .venv/bin/python bench/ingest_bench.py --profile --rows N   # where an ingest's time goes
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

from _common import (
    GIB,
    OUT,
    ChildRun,
    Figure,
    Section,
    emit,
    log,
    mib,
    run_child,
    secs,
)
from focus_data import focus_file

FULL_ROWS = 5_000_000
QUICK_ROWS = 200_000
FORMATS = ("csv", "parquet")
GOAL_RATIO = 2.0
GOAL_PEAK_RSS = 1 * GIB

# DuckDB alone, the same file and the same exact DECIMAL sum: the floor any ingest stands on.
BASELINE_SQL = """
    SELECT ChargePeriodStart::TIMESTAMP::DATE AS day, ServiceName, SubAccountId, Tags,
           sum(EffectiveCost::DECIMAL(38, 12)) AS effective
    FROM {reader} GROUP BY ALL
"""


def baseline_reader(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet('{path}')"
    return f"read_csv('{path}', header = true, all_varchar = true)"


# --- children: one measurement each, in a fresh process ------------------------------------


def child_ingest(path: Path, db_path: Path) -> None:
    from bot.config import Config
    from bot.sources.focus_ingest import ingest_focus

    db_path.unlink(missing_ok=True)
    start = time.perf_counter()
    report = ingest_focus([str(path)], Config(), db_path, show_progress=False)
    seconds = time.perf_counter() - start
    db_path.unlink(missing_ok=True)
    emit({"seconds": seconds, "rows": report.charge_rows})


def child_baseline(path: Path) -> None:
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    groups = con.execute(BASELINE_SQL.format(reader=baseline_reader(path))).fetchall()
    seconds = time.perf_counter() - start
    emit({"seconds": seconds, "groups": len(groups)})


_DAILY = "SELECT strftime(day, '%Y-%m-%d')"
# Names for the steps of an ingest, by function or by the start of a DuckDB statement.
STEP_NAMES = {
    "file_checksum": "XXH3-128 checksum of the file (on a thread, alongside the scan)",
    "write_focus_results": "SQLite write (one transaction, rows streamed from DuckDB)",
    "open_store": "SQLite open",
    "_map_tag_sets": "tag sets to teams (incl. its DuckDB statements)",
    "CREATE TABLE grouped": "DuckDB read + check + both aggregates of the file (GROUPING SETS)",
    _DAILY: "DuckDB daily rows for the store",
    "CREATE TABLE daily": "DuckDB daily rows for the store",
}


def _step_name(statement: str) -> str:
    text = " ".join(statement.split())
    found = next((name for prefix, name in STEP_NAMES.items() if text.startswith(prefix)), None)
    return found or f"DuckDB `{text[:40]}...`"


def child_profile(path: Path, db_path: Path) -> None:
    """One ingest with every DuckDB statement and the main steps timed, by wrapping them."""
    import bot.sources.focus_ingest as ingest
    from bot.config import Config

    spent: dict[str, float] = defaultdict(float)

    def timed(label: str, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        return wrapper

    class TimedConnection:
        """A DuckDB connection whose statements are timed with their fetch."""

        def __init__(self, con):
            self._con = con
            self._step = ""

        def execute(self, sql, *args):
            self._step = _step_name(str(sql))
            timed(self._step, self._con.execute)(sql, *args)
            return self

        def fetchall(self):
            return timed(self._step, self._con.fetchall)()

        def fetchone(self):
            return timed(self._step, self._con.fetchone)()

        def __getattr__(self, name):
            return getattr(self._con, name)

    connect = ingest._connect_duckdb
    ingest._connect_duckdb = lambda *args, **kwargs: TimedConnection(connect(*args, **kwargs))
    for name in ("file_checksum", "write_focus_results", "open_store", "_map_tag_sets"):
        if hasattr(ingest, name):
            setattr(ingest, name, timed(STEP_NAMES[name], getattr(ingest, name)))

    db_path.unlink(missing_ok=True)
    start = time.perf_counter()
    report = ingest.ingest_focus([str(path)], Config(), db_path, show_progress=False)
    total = time.perf_counter() - start
    db_path.unlink(missing_ok=True)
    emit(
        {
            "seconds": total,
            "phases": sorted(spent.items(), key=lambda item: -item[1]),
            "daily_rows": sum(len(f.daily_rows) for f in report.files),
            "resource_rows": sum(len(f.resource_rows) for f in report.files),
        }
    )


# --- the parent: runs, figures ------------------------------------------------------------


def _best(runs: list[ChildRun]) -> tuple[float, int]:
    """Best wall time and the highest peak memory over the runs."""
    return min(r.result["seconds"] for r in runs), max(r.peak_rss for r in runs)


def measure(
    rows: int, repeat: int, formats: tuple[str, ...] = FORMATS, with_profile: bool = True
) -> Section:
    section = Section(
        key="ingest",
        title=f"1. Ingest throughput ({rows:,} FOCUS rows)",
        setup=[
            f"Generated FOCUS 1.0 file: {rows:,} rows x 43 columns, all text, costs with 10 "
            "decimals; 2,000 resources, 20 services, 3 sub-accounts, 200 team tag values in "
            "JSON `Tags`, hourly charges over Sep-Oct 2024 (`bench/focus_data.py`).",
            "Figure: `ingest_focus([file], Config(), fresh_db)`, read, checked, aggregated "
            "and written to SQLite. Baseline: DuckDB's bare `SELECT day, ServiceName, "
            "SubAccountId, Tags, sum(EffectiveCost::DECIMAL(38,12)) ... GROUP BY ALL` over the "
            "same file (`read_csv(all_varchar)` / `read_parquet`), result fetched.",
            f"Each run in a fresh process; wall time is the best of {repeat} (timed in the "
            "process around the call, without interpreter start-up), peak memory is the "
            "highest `ru_maxrss` of the runs (from `wait4`). Ratio = ingest time / baseline.",
        ],
    )
    db_path = OUT / "ingest-bench.db"
    script = str(Path(__file__).resolve())
    for fmt in formats:
        log(f"ingest: preparing the {rows:,}-row {fmt} file (cached in {OUT})")
        path = focus_file(rows, fmt, OUT)
        size = path.stat().st_size
        ingests, baselines = [], []
        for attempt in range(repeat):
            log(f"ingest: {fmt} run {attempt + 1}/{repeat}: baseline, then ingest")
            baselines.append(run_child([script, "--child", "baseline", str(path)]))
            ingests.append(run_child([script, "--child", "ingest", str(path), str(db_path)]))
        ingest_s, ingest_rss = _best(ingests)
        base_s, base_rss = _best(baselines)
        assert all(r.result["rows"] == rows for r in ingests), "ingest lost rows"
        ratio = ingest_s / base_s
        label = f"{fmt.upper()} ({mib(size)})"
        section.figures += [
            Figure(
                f"{label}: ingest rows/s",
                f"{rows / ingest_s:,.0f} rows/s ({secs(ingest_s)})",
                "DuckDB GROUP BY",
                f"{rows / base_s:,.0f} rows/s ({secs(base_s)})",
                ratio,
                f"time <= {GOAL_RATIO:g}x baseline",
                ratio <= GOAL_RATIO,
            ),
            Figure(
                f"{label}: ingest peak memory",
                mib(ingest_rss),
                "DuckDB GROUP BY",
                mib(base_rss),
                ingest_rss / base_rss,
                f"< {GOAL_PEAK_RSS / GIB:g} GiB",
                ingest_rss < GOAL_PEAK_RSS,
            ),
        ]
        if with_profile:
            log(f"ingest: {fmt} profiled run")
            section.notes.append(_profile_note(fmt, profile(path), base_s))
    return section


def _profile_note(fmt: str, found: dict, baseline_seconds: float) -> str:
    phases = dict(found["phases"])
    store = phases.get(STEP_NAMES["write_focus_results"], 0)
    return (
        f"Where a {fmt.upper()} ingest's time goes (one more run, {secs(found['seconds'])}, "
        "each step and DuckDB statement timed with its fetch): "
        + "; ".join(f"{label} {secs(spent)}" for label, spent in found["phases"][:5])
        + f". Getting the {found['daily_rows']:,} daily rows out of DuckDB and into SQLite "
        f"(5 indexes) alone takes {secs(store)}, "
        f"{store / baseline_seconds:.1f}x the baseline's whole time."
    )


def profile(path: Path) -> dict:
    """One ingest in a fresh process: its wall time (`seconds`), the time of each step
    (`phases`, longest first) and the rows it wrote (`daily_rows`, `resource_rows`)."""
    script = str(Path(__file__).resolve())
    return run_child(
        [script, "--child", "profile", str(path), str(OUT / "ingest-profile.db")]
    ).result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--profile", action="store_true", help="time the steps of one ingest")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    formats = tuple(args.formats.split(","))
    if args.child:
        kind, *paths = args.child
        {"ingest": child_ingest, "baseline": child_baseline, "profile": child_profile}[kind](
            *map(Path, paths)
        )
    elif args.profile:
        for fmt in formats:
            path = focus_file(args.rows, fmt, OUT)
            found = profile(path)
            print(f"ingest of {path.name}: {secs(found['seconds'])}")
            for label, spent in found["phases"]:
                print(f"  {spent:7.2f} s  {label}")
    else:
        repeat = args.repeat or 3
        measure(args.rows, repeat, formats).print()


if __name__ == "__main__":
    main()
