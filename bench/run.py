"""Costbot's benchmarks, one command (`make bench`): ingest throughput, query latency, `/cost`
compute and chart render, ingest at two shapes of export (service- and resource-level, 2M and
6M rows), `/cost` while another process ingests, the paid requests of a Cost Explorer
sync, loading a large Athena result, the AWS resource inventory of 10,000 resources
against moto, the anomaly detector against labelled synthetic series, and weekly digests
with charts fanned out to 500 Slack channels. Prints every
figure with its baseline and writes bench/RESULTS.md.

    .venv/bin/python bench/run.py                  # everything at full size (~10 minutes)
    .venv/bin/python bench/run.py --quick          # smoke run (~30 s); results in bench/out/
    .venv/bin/python bench/run.py --only ingest    # one benchmark (ingest, query, cost,
                                                   # ingest_shapes, concurrent,
                                                   # cost_explorer, athena, inventory,
                                                   # anomalies, fanout)

Generated inputs are cached in bench/out/ (git-ignored) between runs: the 5M-row FOCUS CSV
(3.3 GiB) and Parquet file, the 4.7M-row store (1.5 GiB) and the weekly digests' store of 500
teams (250 MiB); the first full run spends about 3 more minutes generating them. Where an
ingest's time goes: `.venv/bin/python bench/ingest_bench.py --profile`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import anomaly_bench
import athena_bench
import concurrent_bench
import cost_bench
import cost_explorer_bench
import fanout_bench
import ingest_bench
import ingest_shapes_bench
import inventory_bench
import query_bench
from _common import OUT, RESULTS, SECTION_ORDER, log, write_results

BENCHMARKS = SECTION_ORDER


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small sizes ({ingest_bench.QUICK_ROWS:,} FOCUS rows, "
        f"{query_bench.QUICK_DAYS} days in the store); writes {OUT.name}/RESULTS.quick.md",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run this benchmark only (repeatable); the other sections of the results file "
        "are kept",
    )
    parser.add_argument("--rows", type=int, help="FOCUS rows for the ingest benchmark")
    parser.add_argument("--repeat", type=int, help="runs per ingest figure (best is kept)")
    parser.add_argument(
        "--formats", default="csv,parquet", help="ingest file formats (csv, parquet)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled ingest")
    parser.add_argument("--results", help="results file (default: bench/RESULTS.md)")
    args = parser.parse_args(argv)

    chosen = args.only or list(BENCHMARKS)
    if args.results:
        results = Path(args.results)
    else:
        results = OUT / "RESULTS.quick.md" if args.quick else RESULTS
    OUT.mkdir(parents=True, exist_ok=True)
    sections = []
    started = time.perf_counter()
    for name in BENCHMARKS:
        if name not in chosen:
            continue
        log(f"== {name}")
        if name == "ingest":
            rows = args.rows or (ingest_bench.QUICK_ROWS if args.quick else ingest_bench.FULL_ROWS)
            repeat = args.repeat or 3
            formats = tuple(args.formats.split(","))
            section = ingest_bench.measure(rows, repeat, formats, not args.no_profile)
        elif name == "ingest_shapes":
            section = ingest_shapes_bench.measure(args.repeat or 2, quick=args.quick)
        elif name == "concurrent":
            section = concurrent_bench.measure(args.quick)
        elif name == "athena":
            section = athena_bench.measure(args.quick)
        elif name == "cost_explorer":
            section = cost_explorer_bench.measure(args.quick)
        elif name == "inventory":
            section = inventory_bench.measure(args.quick)
        elif name == "anomalies":
            section = anomaly_bench.measure(args.quick)
        elif name == "fanout":
            section = fanout_bench.measure(args.quick)
        elif name == "query":
            section = query_bench.measure(args.quick)
        else:
            section = cost_bench.measure(args.quick)
        section.print()
        sections.append(section)
        # Written after each benchmark, so that a failure later keeps what was measured.
        write_results(results, sections, args.quick)
    log(f"== done in {time.perf_counter() - started:.0f} s; results in {results}")


if __name__ == "__main__":
    main()
