"""`/cost` while another process ingests: p99 of the `/cost team <name> mtd` compute, each
answer on its own read-only connection as a Slack request opens one, while a 5-million-row
FOCUS file is ingested into the same store by another process; against the same p99 with no
ingest running.

    .venv/bin/python bench/concurrent_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from _common import OUT, REPO, Figure, Section, log, ms, percentile
from cost_bench import TODAY, _config
from focus_data import SERVICE_LEVEL, TEAMS, focus_file
from query_bench import QUICK_DAYS
from store_data import DAYS, ROWS_PER_DAY, cost_store

from bot.answers.cost import answer_cost
from bot.store import migrate_store, open_reader

GOAL_P99 = 0.500
FULL_ROWS = 5_000_000
QUICK_ROWS = 200_000
BASELINE_ANSWERS = 300
QUICK_BASELINE_ANSWERS = 50

# The ingest in its own process; it reports when its SQLite write transaction ran.
INGEST_CHILD = """
import json, sys, time
import bot.sources.focus_ingest as ingest
from bot.config import Config

window = {}
write = ingest.write_focus_results

def timed_write(db, results):
    window["write_start"] = time.time()
    try:
        write(db, results)
    finally:
        window["write_end"] = time.time()

ingest.write_focus_results = timed_write
start = time.time()
report = ingest.ingest_focus([sys.argv[1]], Config(), sys.argv[2], show_progress=False)
print(json.dumps({"start": start, "end": time.time(), "rows": report.charge_rows, **window}))
"""


def _answer(db_path: Path, team: str, config) -> float:
    """One answer as a Slack request gets it: a fresh read-only connection, every query."""
    start = time.perf_counter()
    db = open_reader(db_path)
    try:
        reply = answer_cost(f"team {team} mtd", db=db, config=config, today=TODAY, with_chart=False)
    finally:
        db.close()
    seconds = time.perf_counter() - start
    assert "Type `/cost help`" not in reply.text, reply.text
    return seconds


def measure(quick: bool) -> Section:
    days = QUICK_DAYS if quick else DAYS
    rows = QUICK_ROWS if quick else FULL_ROWS
    log(f"concurrent: preparing the store ({days * ROWS_PER_DAY:,} daily rows) and a copy")
    store = OUT / "concurrent-store.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(cost_store(OUT, days), store)
    migrate_store(store)  # WAL, schema up to date: what `costbot serve` does at start
    log(f"concurrent: preparing the {rows:,}-row FOCUS Parquet file")
    source = focus_file(rows, "parquet", OUT, SERVICE_LEVEL)

    config = _config()
    rng = random.Random(20261129)
    samples = QUICK_BASELINE_ANSWERS if quick else BASELINE_ANSWERS
    log(f"concurrent: {samples} answers with no ingest running")
    _answer(store, TEAMS[0], config)  # warm the page cache
    quiet = [_answer(store, rng.choice(TEAMS), config) for _ in range(samples)]

    log("concurrent: answers while another process ingests")
    child = subprocess.Popen(
        [sys.executable, "-c", INGEST_CHILD, str(source), str(store)],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    busy: list[tuple[float, float]] = []  # (wall-clock start, seconds)
    locked = other_errors = 0
    while child.poll() is None:
        began = time.time()
        try:
            busy.append((began, _answer(store, rng.choice(TEAMS), config)))
        except sqlite3.OperationalError as error:
            if "locked" in str(error) or "busy" in str(error):
                locked += 1
            else:
                other_errors += 1
    output = child.stdout.read() if child.stdout else b""
    if child.returncode != 0:
        raise RuntimeError(f"the ingest child failed with exit code {child.returncode}")
    window = json.loads(output.decode().strip().splitlines()[-1])
    assert window["rows"] == rows
    in_write = [s for began, s in busy if window["write_start"] <= began <= window["write_end"]]

    base_p99, busy_p99 = percentile(quiet, 99), percentile([s for _, s in busy], 99)
    section = Section(
        key="concurrent",
        title="5. `/cost` while another process ingests",
        setup=[
            f"Store: a copy of section 2's ({days * ROWS_PER_DAY:,} daily rows), migrated "
            "(WAL) as `costbot serve` does at start; config and today as section 3.",
            "Figure: `/cost team <name> mtd` compute (`answer_cost`, no chart), each answer "
            "on a fresh read-only connection (`open_reader`, as `AppContext.open_db` gives "
            "every Slack request), random teams, answered back to back for as long as "
            f"another process runs `ingest_focus` of a {rows:,}-row FOCUS Parquet file "
            "(service-level shape, 2 billing periods) into the same store.",
            f"Baseline: the same answers with no ingest running ({samples} answers). "
            "Ratio = p99 / baseline p99.",
        ],
    )
    write_p99 = percentile(in_write, 99) if in_write else float("nan")
    section.figures += [
        Figure(
            "`/cost` p99 during the ingest",
            ms(busy_p99),
            "p99 with no ingest",
            ms(base_p99),
            busy_p99 / base_p99,
            f"< {ms(GOAL_P99)}",
            busy_p99 < GOAL_P99,
        ),
        Figure(
            "`/cost` p99 during the ingest's SQLite write transaction",
            ms(write_p99) if in_write else "no answer fell in it",
            "p99 with no ingest",
            ms(base_p99),
            write_p99 / base_p99 if in_write else None,
            f"< {ms(GOAL_P99)}",
            bool(in_write) and write_p99 < GOAL_P99,
        ),
        Figure(
            '"database is locked" errors',
            f"{locked} of {len(busy) + locked} answers",
            goal="0",
            passed=locked == 0 and other_errors == 0,
        ),
    ]
    section.notes.append(
        f"{len(busy):,} answers during the ingest ({window['end'] - window['start']:.1f} s), "
        f"{len(in_write):,} of them during its write transaction "
        f"({window['write_end'] - window['write_start']:.1f} s); p50 during the ingest "
        f"{ms(percentile([s for _, s in busy], 50))}, with no ingest {ms(percentile(quiet, 50))}; "
        f"other errors: {other_errors}."
    )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small store and file")
    measure(parser.parse_args().quick).print()


if __name__ == "__main__":
    main()
